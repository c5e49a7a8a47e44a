"""Nothing of LangChain is imported until a LangChain object is passed in."""

from __future__ import annotations

import subprocess
import sys


def _langchain_modules_after(code: str) -> str:
    code += "\nprint(sorted(m for m in sys.modules if m.startswith('langchain')))\n"
    out = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_importing_interlock_and_its_agent_layer_imports_no_langchain() -> None:
    code = (
        "import interlock, interlock.agent.react, interlock.agent.models, interlock.messages\n"
        "import interlock.agent.langchain\n"
        "from interlock.agent.langchain import as_tool, is_langchain_tool\n"
    )
    assert _langchain_modules_after(code) == "[]"


def test_an_agent_of_interlock_objects_runs_without_langchain() -> None:
    code = (
        "from interlock import AIMessage, ScriptedChatModel, create_agent, tool, add_messages\n"
        "def shout(text: str) -> str:\n"
        "    '''Shout.'''\n"
        "    return text.upper()\n"
        "model = ScriptedChatModel([\n"
        "    AIMessage('', tool_calls=[{'name': 'shout', 'args': {'text': 'a'}, 'id': 'c1'}]),\n"
        "    'done'])\n"
        "agent = create_agent(model, [shout, tool(shout, name='loud')])\n"
        "out = agent.invoke({'messages': [('user', 'hello')]})\n"
        "assert out['messages'][-2].content == 'A', out\n"
        "assert add_messages([], [('user', 'x')])[0].content == 'x'\n"
    )
    assert _langchain_modules_after(code) == "[]"


def test_passing_a_langchain_object_is_what_imports_it() -> None:
    code = (
        "import interlock.agent.react\n"
        "assert not any(m.startswith('langchain') for m in sys.modules)\n"
        "from langchain_core.language_models import GenericFakeChatModel\n"
        "from interlock import create_agent\n"
        "print(create_agent(GenericFakeChatModel(messages=iter(['hi'])), [])"
        ".invoke({'messages': [('user', 'x')]})['messages'][-1].content)\n"
    )
    out = _langchain_modules_after(code)
    assert out.startswith("hi\n[") and "'langchain_core'" in out
