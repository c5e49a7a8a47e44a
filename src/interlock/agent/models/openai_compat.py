"""OpenAI chat completions — and every server that speaks it (DeepSeek, Ollama, OpenRouter,
vLLM, llama.cpp server): a codec of pure functions plus a thin model class."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from interlock.agent.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    tool_call,
)
from interlock.agent.models._http import HttpSettings
from interlock.agent.models._wire import END_OF_STREAM, WireChatModel
from interlock.agent.models.errors import ModelResponseError

__all__ = [
    "ChatDeepSeek",
    "ChatOpenAI",
    "decode_chunk",
    "decode_response",
    "encode_messages",
    "encode_request",
]


# ---- codec ---------------------------------------------------------------------------------


def _content(message: BaseMessage) -> Any:
    return message.content if isinstance(message.content, str) else list(message.content)


def encode_messages(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """Messages in the chat-completions wire shape."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            out.append({"role": "system", "content": _content(m)})
        elif isinstance(m, HumanMessage):
            item: dict[str, Any] = {"role": "user", "content": _content(m)}
            if m.name:
                item["name"] = m.name
            out.append(item)
        elif isinstance(m, AIMessage):
            item = {"role": "assistant", "content": _content(m) or None}
            reasoning = m.additional_kwargs.get("reasoning_content")
            if m.tool_calls and isinstance(reasoning, str):
                # DeepSeek's thinking mode answers 400 unless the reasoning of a tool-calling
                # turn is sent back; without tool calls it is ignored, so only send it then.
                item["reasoning_content"] = reasoning
            if m.tool_calls:
                item["tool_calls"] = [
                    {
                        "id": c.get("id"),
                        "type": "function",
                        "function": {
                            "name": c["name"],
                            "arguments": json.dumps(c.get("args") or {}),
                        },
                    }
                    for c in m.tool_calls
                ]
            out.append(item)
        elif isinstance(m, ToolMessage):
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.text})
    return out


def encode_request(model: Any, messages: list[BaseMessage], *, stream: bool) -> dict[str, Any]:
    """The JSON body of one request."""
    body: dict[str, Any] = {"model": model.model, "messages": encode_messages(messages)}
    if model.temperature is not None:
        body["temperature"] = model.temperature
    if model.max_tokens is not None:
        body["max_tokens"] = model.max_tokens
    if model.tools:
        body["tools"] = [{"type": "function", "function": dict(t)} for t in model.tools]
        if model.tool_choice is not None:
            choice = model.tool_choice
            if isinstance(choice, str) and choice not in ("auto", "none", "required"):
                choice = {"type": "function", "function": {"name": choice}}
            body["tool_choice"] = choice
        if model.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = model.parallel_tool_calls
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(model.model_kwargs)
    return body


def _usage(raw: Mapping[str, Any] | None) -> dict[str, int] | None:
    if not raw:
        return None
    inp = int(raw.get("prompt_tokens") or 0)
    out = int(raw.get("completion_tokens") or 0)
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "total_tokens": int(raw.get("total_tokens") or inp + out),
    }


def decode_response(body: Mapping[str, Any]) -> AIMessage:
    """An `AIMessage` from a (non-streamed) chat-completions answer."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ModelResponseError(f"unexpected answer shape: {str(body)[:300]}") from exc
    calls, invalid = [], []
    for c in message.get("tool_calls") or []:
        fn = c.get("function") or {}
        try:
            args = json.loads(fn.get("arguments") or "{}")
            calls.append(tool_call(name=fn.get("name", ""), args=args, id=c.get("id")))
        except json.JSONDecodeError as exc:
            invalid.append(
                {
                    "name": fn.get("name"),
                    "args": fn.get("arguments"),
                    "id": c.get("id"),
                    "error": str(exc),
                }
            )
    extra = {}
    if isinstance(message.get("reasoning_content"), str):
        extra["reasoning_content"] = message["reasoning_content"]
    return AIMessage(
        content=message.get("content") or "",
        id=body.get("id"),
        additional_kwargs=extra,
        tool_calls=calls,
        invalid_tool_calls=invalid,
        usage_metadata=_usage(body.get("usage")),
        response_metadata={
            "model_name": body.get("model"),
            "finish_reason": choice.get("finish_reason"),
        },
    )


def decode_chunk(data: Mapping[str, Any]) -> AIMessageChunk:
    """An `AIMessageChunk` from one streamed event."""
    chunk = AIMessageChunk(content="", id=data.get("id"), usage_metadata=_usage(data.get("usage")))
    for choice in data.get("choices") or []:
        delta = choice.get("delta") or {}
        chunk.content = delta.get("content") or ""
        if isinstance(delta.get("reasoning_content"), str):
            chunk.additional_kwargs = {"reasoning_content": delta["reasoning_content"]}
        chunk.tool_call_chunks = [
            {
                "index": c.get("index", 0),
                "id": c.get("id"),
                "name": (c.get("function") or {}).get("name"),
                "args": (c.get("function") or {}).get("arguments") or "",
            }
            for c in delta.get("tool_calls") or []
        ]
        if choice.get("finish_reason"):
            chunk.response_metadata = {"finish_reason": choice["finish_reason"]}
    return chunk


# ---- the model -----------------------------------------------------------------------------


class ChatOpenAI(WireChatModel):
    """A chat-completions model: OpenAI by default, or any `provider=` speaking the protocol
    (`deepseek`, `openrouter`, `ollama`, `openai-compatible` with `base_url=`).

    Example:
        >>> ChatOpenAI(model="gpt-4o-mini", api_key="sk-test").base_url
        'https://api.openai.com/v1'
        >>> ChatOpenAI(model="deepseek-v4-flash", provider="deepseek", api_key="k").base_url
        'https://api.deepseek.com'
    """

    provider = "openai"

    def __init__(
        self,
        model: str,
        *,
        default_headers: Mapping[str, str] | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(model, **settings)
        self.default_headers = dict(default_headers or {})

    def _settings(self) -> HttpSettings:
        headers = {"content-type": "application/json", **self.default_headers}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return self._http(f"{self.base_url}/chat/completions", headers)

    def _body(self, messages: list[BaseMessage], *, stream: bool) -> dict[str, Any]:
        return encode_request(self, messages, stream=stream)

    def _decode(self, body: dict[str, Any]) -> AIMessage:
        return decode_response(body)

    def _stream_decoder(self) -> Any:
        def decode(_event: str, data: str) -> Any:
            if data.strip() == "[DONE]":
                return END_OF_STREAM
            return decode_chunk(json.loads(data))

        return decode


class ChatDeepSeek(ChatOpenAI):
    """DeepSeek's chat completions (`DEEPSEEK_API_KEY`, `https://api.deepseek.com`); the
    porting name of `langchain_deepseek.ChatDeepSeek`.

    Example:
        >>> ChatDeepSeek(model="deepseek-v4-flash", api_key="k").provider
        'deepseek'
    """

    provider = "deepseek"
