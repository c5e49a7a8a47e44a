"""Chat messages in LangChain's vocabulary, and the `add_messages` reducer.

Messages are plain mutable dataclasses: the checkpoint serde stores them by class path and
they round-trip equal.

Message objects of other libraries that follow LangChain's message shape (a `type` such as
`"human"` or `"ai"`, `content`, `id` and the same-named fields — langchain-core's messages
are such) are accepted as they are: `add_messages` keeps them, unchanged and of their own
type, and `as_message` reads one as the interlock message with the same fields. Nothing
here imports the other library.
"""

from __future__ import annotations

import copy
import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, fields
from typing import Annotated, Any, ClassVar, Literal, TypedDict

__all__ = [
    "REMOVE_ALL_MESSAGES",
    "AIMessage",
    "AIMessageChunk",
    "AnyMessage",
    "BaseMessage",
    "HumanMessage",
    "MessagesState",
    "RemoveMessage",
    "SystemMessage",
    "ToolCall",
    "ToolMessage",
    "add_messages",
    "as_message",
    "as_messages",
    "convert_to_messages",
    "messages_from_dicts",
    "messages_to_dicts",
    "tool_call",
]

REMOVE_ALL_MESSAGES = "__remove_all__"


class ToolCall(TypedDict, total=False):
    """A model's request to call a tool."""

    name: str
    args: dict[str, Any]
    id: str | None
    type: Literal["tool_call"]


def tool_call(*, name: str, args: dict[str, Any], id: str | None) -> ToolCall:
    """Build a `ToolCall` dict."""
    return {"name": name, "args": args, "id": id, "type": "tool_call"}


@dataclass(eq=True)
class BaseMessage:
    """A message of a conversation.

    Example:
        >>> HumanMessage("hi").text
        'hi'
    """

    content: str | list[Any] = ""
    _: KW_ONLY
    id: str | None = None
    name: str | None = None
    additional_kwargs: dict[str, Any] = field(default_factory=dict)
    response_metadata: dict[str, Any] = field(default_factory=dict)

    type: ClassVar[str] = "base"

    @property
    def text(self) -> str:
        """The text content (text blocks joined when content is a list)."""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for block in self.content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "".join(parts)

    def pretty_repr(self) -> str:
        """A readable multi-line rendering."""
        title = f" {self.type.capitalize()} Message "
        return f"{title:=^80}\n\n{self.text}"

    def pretty_print(self) -> None:
        """Print `pretty_repr()`."""
        print(self.pretty_repr())


@dataclass(eq=True)
class SystemMessage(BaseMessage):
    """Instructions for the model."""

    type: ClassVar[str] = "system"


@dataclass(eq=True)
class HumanMessage(BaseMessage):
    """What the user said."""

    type: ClassVar[str] = "human"


@dataclass(eq=True)
class AIMessage(BaseMessage):
    """What the model answered, possibly with tool calls."""

    _: KW_ONLY
    tool_calls: list[ToolCall] = field(default_factory=list)
    invalid_tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage_metadata: dict[str, Any] | None = None

    type: ClassVar[str] = "ai"

    def pretty_repr(self) -> str:
        """A readable rendering including tool calls."""
        out = super().pretty_repr()
        for call in self.tool_calls:
            out += f"\nTool call: {call.get('name')} ({call.get('id')})\n  args: {call.get('args')}"
        return out


@dataclass(eq=True)
class ToolMessage(BaseMessage):
    """The result of a tool call, sent back to the model."""

    _: KW_ONLY
    tool_call_id: str = ""
    status: Literal["success", "error"] = "success"
    artifact: Any = None

    type: ClassVar[str] = "tool"


@dataclass(eq=True)
class RemoveMessage(BaseMessage):
    """Tells `add_messages` to delete the message with this id (or all of them)."""

    type: ClassVar[str] = "remove"

    def __init__(self, id: str, content: str | list[Any] = "", **kwargs: Any) -> None:
        super().__init__(content, id=id, **kwargs)


@dataclass(eq=True)
class AIMessageChunk(AIMessage):
    """A piece of a streamed model answer; chunks add up with `+`."""

    _: KW_ONLY
    tool_call_chunks: list[dict[str, Any]] = field(default_factory=list)
    """Pieces of tool calls: `{index, id, name, args}` with `args` a JSON text fragment."""

    type: ClassVar[str] = "AIMessageChunk"

    def __add__(self, other: AIMessageChunk) -> AIMessageChunk:
        if not isinstance(other, AIMessageChunk):
            return NotImplemented
        content: str | list[Any]
        if isinstance(self.content, str) and isinstance(other.content, str):
            content = self.content + other.content
        else:
            content = _merge_blocks(_as_blocks(self.content), _as_blocks(other.content))
        chunks = [dict(c) for c in self.tool_call_chunks]
        for piece in other.tool_call_chunks:
            target = next((c for c in chunks if c.get("index") == piece.get("index")), None)
            if target is None:
                chunks.append(dict(piece))
                continue
            for key in ("id", "name"):
                if piece.get(key) and not target.get(key):
                    target[key] = piece[key]
            target["args"] = (target.get("args") or "") + (piece.get("args") or "")
        usage = _add_usage(self.usage_metadata, other.usage_metadata)
        return AIMessageChunk(
            content=content,
            id=self.id or other.id,
            name=self.name or other.name,
            additional_kwargs=_merge_kwargs(self.additional_kwargs, other.additional_kwargs),
            response_metadata={**self.response_metadata, **other.response_metadata},
            tool_call_chunks=chunks,
            usage_metadata=usage,
            tool_calls=_parse_chunks(chunks)[0]
            if chunks
            else list(self.tool_calls + other.tool_calls),
        )

    def to_message(self) -> AIMessage:
        """The complete `AIMessage` these chunks add up to."""
        calls, invalid = list(self.tool_calls), list(self.invalid_tool_calls)
        if self.tool_call_chunks:
            calls, broken = _parse_chunks(self.tool_call_chunks)
            invalid += broken
        return AIMessage(
            content=self.content,
            id=self.id,
            name=self.name,
            additional_kwargs=dict(self.additional_kwargs),
            response_metadata=dict(self.response_metadata),
            tool_calls=calls,
            invalid_tool_calls=invalid,
            usage_metadata=self.usage_metadata,
        )


def _as_blocks(content: str | list[Any]) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)


def _add_usage(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """Token counts of two chunks added up (nested details such as LangChain's
    `input_token_details` too)."""
    if a is None or b is None:
        return a or b
    out: dict[str, Any] = {}
    for k in (*a, *(k for k in b if k not in a)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, Mapping) or isinstance(y, Mapping):
            out[k] = _add_usage(dict(x or {}), dict(y or {}))
        else:
            out[k] = (x or 0) + (y or 0)
    return out


def _merge_blocks(a: list[Any], b: list[Any]) -> list[Any]:
    """Content blocks of two chunks: a block carrying the `index` of an earlier one
    continues it (as providers stream a block in pieces); others are appended."""
    out = list(a)
    for block in b:
        at = None
        if isinstance(block, Mapping) and "index" in block:
            at = next(
                (
                    i
                    for i, x in enumerate(out)
                    if isinstance(x, Mapping) and x.get("index") == block["index"]
                ),
                None,
            )
        if at is None:
            out.append(block)
        else:
            out[at] = _merge_kwargs(out[at], block)
    return out


_KEEP = frozenset({"type", "index", "id"})
"""Fields a continuing piece repeats rather than extends."""


def _merge_kwargs(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `additional_kwargs` (or one content block) of two chunks: streamed text fields
    concatenate, nested objects merge, a repeated identifying field is kept once."""
    out = dict(a)
    for key, value in b.items():
        old = out.get(key)
        if isinstance(value, str) and isinstance(old, str):
            out[key] = old if key in _KEEP and old == value else old + value
        elif isinstance(value, Mapping) and isinstance(old, Mapping):
            out[key] = _merge_kwargs(old, value)
        elif value is not None or key not in out:
            out[key] = value
    return out


def _parse_chunks(
    chunks: Sequence[Mapping[str, Any]],
) -> tuple[list[ToolCall], list[dict[str, Any]]]:
    """`(complete tool calls, the ones whose arguments are not (yet) a JSON object)`."""
    calls: list[ToolCall] = []
    invalid: list[dict[str, Any]] = []
    for c in sorted(chunks, key=lambda c: c.get("index") or 0):
        raw = c.get("args") or ""
        try:
            args = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            error: str | None = f"arguments are not valid JSON: {exc}"
        else:
            error = None if isinstance(args, dict) else "arguments are not a JSON object"
        if error is None and c.get("name"):
            calls.append(tool_call(name=c["name"], args=args, id=c.get("id")))
        else:
            invalid.append(
                {
                    "name": c.get("name"),
                    "args": raw,
                    "id": c.get("id"),
                    "error": error or "no tool name",
                    "type": "invalid_tool_call",
                }
            )
    return calls, invalid


AnyMessage = SystemMessage | HumanMessage | AIMessage | ToolMessage | RemoveMessage

_ROLES: dict[str, type[BaseMessage]] = {
    "user": HumanMessage,
    "human": HumanMessage,
    "ai": AIMessage,
    "assistant": AIMessage,
    "system": SystemMessage,
    "developer": SystemMessage,
    "tool": ToolMessage,
    "remove": RemoveMessage,
}


def _from_dict(d: Mapping[str, Any]) -> BaseMessage:
    role = d.get("role") or d.get("type")
    cls = _ROLES.get(str(role))
    if cls is None:
        raise ValueError(f"cannot make a message from {dict(d)!r}: unknown role {role!r}")
    if cls is RemoveMessage:
        return RemoveMessage(id=d["id"])
    kwargs: dict[str, Any] = {"id": d.get("id"), "name": d.get("name")}
    if cls is AIMessage:
        calls = []
        for c in d.get("tool_calls") or []:
            if "function" in c:  # OpenAI wire shape
                fn = c["function"]
                args = fn.get("arguments") or "{}"
                calls.append(
                    tool_call(
                        name=fn["name"],
                        id=c.get("id"),
                        args=json.loads(args) if isinstance(args, str) else args,
                    )
                )
            else:
                calls.append(tool_call(name=c["name"], args=c.get("args") or {}, id=c.get("id")))
        kwargs["tool_calls"] = calls
    if cls is ToolMessage:
        kwargs["tool_call_id"] = d.get("tool_call_id", "")
        kwargs["status"] = d.get("status") or "success"
    return cls(d.get("content") or "", **kwargs)


_TYPES: dict[str, type[BaseMessage]] = {
    cls.type: cls
    for cls in (SystemMessage, HumanMessage, AIMessage, ToolMessage, RemoveMessage, AIMessageChunk)
}


_FIELDS: dict[type[BaseMessage], tuple[str, ...]] = {}


def is_message_like(obj: Any) -> bool:
    """Whether `obj` is a message of another library in LangChain's shape (not ours): an
    object (not a dict) with a string `type`, a `content` and an `id`."""
    return (
        not isinstance(obj, (BaseMessage, str, Mapping, tuple, list))
        and isinstance(getattr(obj, "type", None), str)
        and hasattr(obj, "content")
        and hasattr(obj, "id")
    )


def as_message(obj: Any) -> BaseMessage:
    """`obj` as an interlock message: ours as it is; a message of another library in
    LangChain's shape (e.g. langchain-core's `AIMessage`) as the interlock message of the
    same `type` with the same field values (copied, so changing one leaves the other).

    Example:
        >>> as_message(HumanMessage("hi")).content
        'hi'
    """
    if isinstance(obj, BaseMessage):
        return obj
    kind = getattr(obj, "type", None)
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None or not is_message_like(obj):
        raise ValueError(
            f"cannot read {type(obj).__module__}.{type(obj).__qualname__} as a message: "
            f"interlock knows the types {sorted(_TYPES)} (got type={kind!r})"
        )
    if cls is RemoveMessage:
        return RemoveMessage(id=obj.id)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls) if f.init)
    return cls(**{n: copy.deepcopy(getattr(obj, n)) for n in names if hasattr(obj, n)})


def as_messages(items: Sequence[Any]) -> list[BaseMessage]:
    """`as_message` of each item; the same list (not a copy) when all are ours already."""
    if all(isinstance(m, BaseMessage) for m in items):
        return items if isinstance(items, list) else list(items)
    return [as_message(m) for m in items]


def messages_to_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Plain dicts (`{"type": "human", "content": ..., "id": ...}`), e.g. for a JSON API;
    `messages_from_dicts` turns them back into equal messages.

    Example:
        >>> messages_to_dicts([HumanMessage("hi", id="1")])[0]["type"]
        'human'
    """
    return [
        {"type": m.type, **{f.name: copy.deepcopy(getattr(m, f.name)) for f in fields(m)}}
        for m in as_messages(messages)
    ]


def messages_from_dicts(items: Sequence[Mapping[str, Any]]) -> list[BaseMessage]:
    """The inverse of `messages_to_dicts`; OpenAI-style role dicts are accepted too.

    Example:
        >>> msgs = [AIMessage("hi", id="a")]
        >>> messages_from_dicts(messages_to_dicts(msgs)) == msgs
        True
    """
    out: list[BaseMessage] = []
    for d in items:
        cls = _TYPES.get(str(d.get("type")))
        if cls is None or "role" in d:
            out.append(_from_dict(d))
        elif cls is RemoveMessage:
            out.append(RemoveMessage(id=d["id"]))
        else:
            names = {f.name for f in fields(cls)}
            out.append(cls(**{k: copy.deepcopy(v) for k, v in d.items() if k in names}))
    return out


def convert_to_messages(items: Any) -> list[Any]:
    """Coerce a message, a string, `(role, content)` tuples or role dicts to messages.
    Messages of another library in LangChain's shape are kept as they are (`as_messages`
    reads them as ours)."""
    if (
        isinstance(items, (BaseMessage, str, Mapping))
        or is_message_like(items)
        or (isinstance(items, tuple) and len(items) == 2 and isinstance(items[0], str))
    ):
        items = [items]
    out: list[Any] = []
    for item in items:
        if isinstance(item, BaseMessage) or is_message_like(item):
            out.append(item)
        elif isinstance(item, str):
            out.append(HumanMessage(item))
        elif isinstance(item, tuple) and len(item) == 2:
            role, content = item
            out.append(_from_dict({"role": role, "content": content}))
        elif isinstance(item, Mapping):
            out.append(_from_dict(item))
        else:
            raise ValueError(f"cannot make a message from {item!r}")
    return out


def add_messages(left: Any, right: Any, *, missing_ok: bool = False) -> list[Any]:
    """Merge `right` into `left`: append new ids, replace existing ids, remove on
    `RemoveMessage`. `left` is not mutated. Messages of another library in LangChain's
    shape (langchain-core's, with its `RemoveMessage`) are merged the same way and kept as
    they are.

    A message without an id gets one derived from the message before it and its own type
    and content, so folding the same stored writes again, in any process, gives the same
    ids (the engine gives a write's messages their ids once, when the write is made:
    `add_messages.prepare`; this covers a reducer that wraps this one, and messages stored
    without ids by older releases). Removing an id no message has raises `ValueError`,
    unless `missing_ok` (the engine replaying stored writes: a thread stays readable).

    Example:
        >>> a = HumanMessage("hi", id="1")
        >>> [m.content for m in add_messages([a], [HumanMessage("yo", id="1")])]
        ['yo']
    """
    left_list = convert_to_messages(left) if left else []
    right_list = convert_to_messages(right) if right is not None else []
    prev: str | None = None
    for m in left_list:
        if m.id is None:
            m.id = _stable_id(prev, m)
        prev = m.id
    merged = list(left_list)
    index = {m.id: i for i, m in enumerate(merged)}
    removed: set[int] = set()
    for m in right_list:
        if isinstance(m, RemoveMessage) or (m.type == "remove" and is_message_like(m)):
            if m.id == REMOVE_ALL_MESSAGES:
                merged, index, removed, prev = [], {}, set(), None
                continue
            pos = index.get(m.id)
            if pos is None or pos in removed:
                if missing_ok:
                    continue
                raise ValueError(f"cannot remove message {m.id!r}: no message has that id")
            removed.add(pos)
            if m.id == prev:
                live = [x for i, x in enumerate(merged) if i not in removed]
                prev = live[-1].id if live else None
            continue
        if m.id is None:
            m.id = _stable_id(prev, m)
        pos = index.get(m.id)
        if pos is not None and pos not in removed:
            merged[pos] = m
        else:
            index[m.id] = len(merged)
            merged.append(m)
            prev = m.id
    if removed:
        merged = [m for i, m in enumerate(merged) if i not in removed]
    return merged


_IDS = uuid.UUID("6f1d2c8e-5b7a-4e0f-9c3d-2a1b0e9f8d7c")
"""The namespace of the ids `add_messages` derives (uuid5)."""


def _stable_id(prev: str | None, message: Any) -> str:
    """An id for `message` from the id of the message before it and what it says."""
    said = [
        prev,
        getattr(message, "type", None),
        getattr(message, "content", None),
        getattr(message, "name", None),
        getattr(message, "tool_call_id", None),
    ]
    return str(uuid.uuid5(_IDS, json.dumps(said, sort_keys=True, default=repr)))


add_messages.batchable = True  # type: ignore[attr-defined]
"""Folding `add_messages(add_messages(a, b), c)` equals `add_messages(a, b + c)`."""


def _prepare_messages(update: Any) -> list[Any]:
    """An update as the engine stores it: messages with ids (dicts, tuples and strings made
    messages), so that every later fold of the stored write gives them the same ids."""
    out = convert_to_messages(update) if update is not None else []
    for m in out:
        if m.id is None:
            m.id = str(uuid.uuid4())
    return out


add_messages.prepare = _prepare_messages  # type: ignore[attr-defined]
add_messages.replay = functools.partial(add_messages, missing_ok=True)  # type: ignore[attr-defined]
"""What the engine folds stored writes with: a removal of an id no message has is skipped."""


class MessagesState(TypedDict, total=False):
    """A state with one key, `messages`, merged by `add_messages`."""

    messages: Annotated[list[AnyMessage], add_messages]


def _register_token_streaming() -> None:
    """A LangChain chat model a node calls streams its tokens to `stream_mode="messages"`
    (`agent/langchain/_node_tokens`; LangChain is not imported by this)."""
    from interlock.agent.langchain._node_tokens import stream_model_tokens
    from interlock.graph._task_hooks import add_task_hook

    add_task_hook(stream_model_tokens)


_register_token_streaming()
