"""In-process provider servers for tests: real HTTP on 127.0.0.1, scripted replies.

Use them as context managers (or wrap them in a fixture in your own test file):

    with OpenAIServer() as server:
        server.text("hello")
        model = init_chat_model("openai-compatible:m", base_url=server.url)
        assert model.invoke("hi").content == "hello"
        assert server.bodies[0]["messages"] == [{"role": "user", "content": "hi"}]
"""

from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.openai_server import OpenAIServer

__all__ = ["AnthropicServer", "OpenAIServer"]
