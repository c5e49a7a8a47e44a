"""Anthropic's Messages API: a codec of pure functions plus a thin model class."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from interlock.agent.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
    ToolMessage,
    tool_call,
)
from interlock.agent.models._http import HttpSettings
from interlock.agent.models._wire import WireChatModel
from interlock.agent.models.errors import ModelResponseError

__all__ = ["ChatAnthropic", "StreamDecoder", "decode_response", "encode_request"]

API_VERSION = "2023-06-01"


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [b if isinstance(b, dict) else {"type": "text", "text": str(b)} for b in content]


def encode_messages(messages: list[BaseMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """`(system, messages)` in the Messages API shape; tool results become user turns."""
    system_parts: list[str] = []
    out: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for m in messages:
        if isinstance(m, SystemMessage):
            system_parts.append(m.text)
        elif isinstance(m, ToolMessage):
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": m.tool_call_id,
                "content": m.text,
            }
            if m.status == "error":
                block["is_error"] = True
            add("user", [block])
        elif isinstance(m, AIMessage):
            blocks = _blocks(m.content)
            blocks += [
                {
                    "type": "tool_use",
                    "id": c.get("id"),
                    "name": c["name"],
                    "input": c.get("args") or {},
                }
                for c in m.tool_calls
            ]
            add("assistant", blocks)
        else:
            add("user", _blocks(m.content))
    return ("\n\n".join(system_parts) or None), out


def encode_request(model: Any, messages: list[BaseMessage], *, stream: bool) -> dict[str, Any]:
    """The JSON body of one request."""
    system, wire = encode_messages(messages)
    body: dict[str, Any] = {
        "model": model.model,
        "messages": wire,
        "max_tokens": model.max_tokens or 4096,
    }
    if system:
        body["system"] = system
    if model.temperature is not None:
        body["temperature"] = model.temperature
    if model.tools:
        body["tools"] = [
            {
                "name": t["name"],
                "description": t.get("description", ""),
                "input_schema": t.get("parameters") or {"type": "object"},
            }
            for t in model.tools
        ]
        choice: Any = model.tool_choice
        if isinstance(choice, str):
            choice = {"required": "any"}.get(choice, choice)
            if choice in ("auto", "any", "none"):
                choice = {"type": choice}
            else:
                choice = {"type": "tool", "name": choice}
        if model.parallel_tool_calls is False:
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None:
            body["tool_choice"] = choice
    if stream:
        body["stream"] = True
    body.update(model.model_kwargs)
    return body


def _usage(raw: Mapping[str, Any] | None) -> dict[str, int] | None:
    if not raw:
        return None
    inp = int(raw.get("input_tokens") or 0)
    out = int(raw.get("output_tokens") or 0)
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}


def decode_response(body: Mapping[str, Any]) -> AIMessage:
    """An `AIMessage` from a (non-streamed) Messages API answer."""
    if not isinstance(body.get("content"), list):
        raise ModelResponseError(f"unexpected answer shape: {str(body)[:300]}")
    text = "".join(b.get("text", "") for b in body["content"] if b.get("type") == "text")
    calls = [
        tool_call(name=b["name"], args=b.get("input") or {}, id=b.get("id"))
        for b in body["content"]
        if b.get("type") == "tool_use"
    ]
    return AIMessage(
        content=text,
        id=body.get("id"),
        tool_calls=calls,
        usage_metadata=_usage(body.get("usage")),
        response_metadata={"model_name": body.get("model"), "stop_reason": body.get("stop_reason")},
    )


class StreamDecoder:
    """Turns streamed events into `AIMessageChunk`s (tool input arrives as JSON fragments)."""

    def __init__(self) -> None:
        self.message_id: str | None = None
        self.input_tokens = 0

    def feed(self, event: str, data: Mapping[str, Any]) -> AIMessageChunk | None:
        kind = data.get("type", event)
        if kind == "message_start":
            msg = data.get("message") or {}
            self.message_id = msg.get("id")
            self.input_tokens = int((msg.get("usage") or {}).get("input_tokens") or 0)
            return None
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                return AIMessageChunk(
                    content="",
                    id=self.message_id,
                    tool_call_chunks=[
                        {
                            "index": data.get("index", 0),
                            "id": block.get("id"),
                            "name": block.get("name"),
                            "args": "",
                        }
                    ],
                )
            return None
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                return AIMessageChunk(content=delta.get("text", ""), id=self.message_id)
            if delta.get("type") == "input_json_delta":
                return AIMessageChunk(
                    content="",
                    id=self.message_id,
                    tool_call_chunks=[
                        {"index": data.get("index", 0), "args": delta.get("partial_json", "")}
                    ],
                )
            return None
        if kind == "message_delta":
            out = int((data.get("usage") or {}).get("output_tokens") or 0)
            return AIMessageChunk(
                content="",
                id=self.message_id,
                usage_metadata={
                    "input_tokens": self.input_tokens,
                    "output_tokens": out,
                    "total_tokens": self.input_tokens + out,
                },
                response_metadata={"stop_reason": (data.get("delta") or {}).get("stop_reason")},
            )
        if kind == "error":
            raise ModelResponseError(f"provider error in stream: {data.get('error')}")
        return None


class ChatAnthropic(WireChatModel):
    """An Anthropic model over the Messages API.

    Example:
        >>> ChatAnthropic(model="claude-3-5-haiku-latest", api_key="k").base_url
        'https://api.anthropic.com'
    """

    provider = "anthropic"

    def _settings(self) -> HttpSettings:
        base = self.base_url if self.base_url.endswith("/v1") else f"{self.base_url}/v1"
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return self._http(f"{base}/messages", headers)

    def _body(self, messages: list[BaseMessage], *, stream: bool) -> dict[str, Any]:
        return encode_request(self, messages, stream=stream)

    def _decode(self, body: dict[str, Any]) -> AIMessage:
        return decode_response(body)

    def _stream_decoder(self) -> Any:
        decoder = StreamDecoder()
        return lambda event, data: decoder.feed(event, json.loads(data))
