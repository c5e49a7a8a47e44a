"""The thread-centric protocol's events (`client.threads.stream`, `useStream`), read from the
run event log: which channels a subscription asks for, and how a thread's logged run events
become protocol events. Pure: no I/O.

A logged event numbered `seq` in the thread's log becomes at most `SUB` protocol events,
numbered `seq * SUB + i` (`i` = 0, 1, ...), so a protocol event's number says where in the
log it came from and a subscription `since` a number resumes exactly after it:

    metadata                  lifecycle {event: "started"}
    values                    values (the state, without `__interrupt__`)
    updates {node: delta}     updates {node, values} per node; tools `tool-started` /
                              `tool-finished` for each tool message in them
    messages [chunk, meta]    messages `message-start`, `content-block-start`,
                              `content-block-delta` ...; the message is finished
                              (`content-block-finish`, `message-finish`) at the next other
                              event of its namespace, or of the run
    custom                    custom {payload}
    tasks, checkpoints        tasks, checkpoints: the chunk (made whole: `_chunks`)
    interrupts [{value, id}]  input.requested {interrupt_id, payload, value[, quorum]} per
                              request not already asked with that value in this stream,
                              at the request's `namespace`
    end                       lifecycle completed, or interrupted (after `input.requested`
                              for requests not logged in `interrupts`: older logs)
    error                     lifecycle failed {error}

A subgraph's chunk (`<mode>|<namespace>` in the log) makes its events at that namespace
(`["review:<task id>"]`); the run's own events (`lifecycle`) and the root graph's are at
`[]`. Events a run logs after its end (a second end: `_lost`) make none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interlock.checkpoint.base import TERMINAL_EVENTS, RunEvent
from interlock.server.agent_server._chunks import Restorer, split_event

__all__ = ["CHANNELS", "SUB", "Subscription", "Translator", "protocol_seq"]

SUB = 1000
"""Protocol events per logged event at most (their numbers are `seq * SUB + i`)."""
CHANNELS = frozenset(
    {"values", "updates", "messages", "tools", "lifecycle", "input", "checkpoints", "tasks"}
    | {"custom"}
)
"""The channels a subscription may name (and `custom:<name>`)."""
_CHANNEL = {"input.requested": "input"}


def protocol_seq(seq: int, index: int) -> int:
    """The number of the `index`-th protocol event made from logged event `seq`."""
    return seq * SUB + index


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """What a client subscribed to (`channels`, `namespaces`, `depth`, `since`)."""

    channels: frozenset[str]
    namespaces: tuple[tuple[str, ...], ...] | None = None
    depth: int | None = None
    since: int | None = None

    @classmethod
    def parse(cls, body: Any) -> Subscription:
        """A subscription from the request body; `ValueError` saying what is wrong."""
        if not isinstance(body, Mapping):
            raise ValueError("send a JSON object with `channels`")
        channels = body.get("channels")
        if not isinstance(channels, list) or not channels:
            raise ValueError("`channels` must be a non-empty list")
        for channel in channels:
            if not isinstance(channel, str) or not (
                channel in CHANNELS or (channel.startswith("custom:") and len(channel) > 7)
            ):
                raise ValueError(f"unknown channel {channel!r}; channels: {sorted(CHANNELS)}")
        namespaces = body.get("namespaces")
        if namespaces is not None and not (
            isinstance(namespaces, list)
            and all(isinstance(n, list) and all(isinstance(p, str) for p in n) for n in namespaces)
        ):
            raise ValueError("`namespaces` must be a list of lists of strings")
        depth, since = body.get("depth"), body.get("since")
        for name, value in (("depth", depth), ("since", since)):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53
            ):
                raise ValueError(f"`{name}` must be a whole number from 0")
        return cls(
            channels=frozenset(channels),
            namespaces=None if namespaces is None else tuple(tuple(n) for n in namespaces),
            depth=depth,
            since=since,
        )

    def wants(self, event: Mapping[str, Any]) -> bool:
        """Whether the protocol event is one this subscription asked for."""
        method = str(event.get("method"))
        channel = _CHANNEL.get(method, method)
        if channel not in self.channels:
            data = (event.get("params") or {}).get("data")
            name = data.get("name") if isinstance(data, Mapping) else None
            if not (channel == "custom" and name and f"custom:{name}" in self.channels):
                return False
        if not self.namespaces:
            return True
        namespace = tuple((event.get("params") or {}).get("namespace") or ())
        return any(
            _prefix_of(prefix, namespace)
            and (self.depth is None or len(namespace) - len(prefix) <= self.depth)
            for prefix in self.namespaces
        )


def _prefix_of(prefix: tuple[str, ...], namespace: tuple[str, ...]) -> bool:
    """Whether `namespace` starts with `prefix`; a segment of `prefix` without `:` names
    a subgraph node whatever its task (`review` matches `review:<task id>`)."""
    if len(prefix) > len(namespace):
        return False
    return all(
        seg == got or (":" not in seg and got.split(":", 1)[0] == seg)
        for seg, got in zip(prefix, namespace, strict=False)
    )


Namespace = tuple[str, ...]
Made = tuple[str, Any, Namespace]
"""A protocol event before it is numbered: `(method, data, namespace)`."""


@dataclass(slots=True)
class _Message:
    """A message being streamed (its chunks so far)."""

    id: str
    namespace: Namespace = ()
    text: str = ""
    tool_chunks: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class _Run:
    """What the translation of one run remembers."""

    open: dict[str, _Message] = field(default_factory=dict)
    interrupts: dict[str, Any] = field(default_factory=dict)
    """Requests seen in `__interrupt__` chunks (id -> value), for logs without `interrupts`."""
    asked: bool = False
    """Whether the run's `interrupts` event was translated."""
    restore: Restorer = field(default_factory=Restorer)
    """Puts back what slim chunks leave out (`_chunks`)."""


class Translator:
    """Turns a thread's logged run events, fed in order, into protocol events. Runs are
    translated independently; feed a run from its first event (the messages it streams are
    followed across events)."""

    def __init__(self, graph_name: str | None = None) -> None:
        self.graph_name = graph_name
        self._runs: dict[str, _Run] = {}
        self._ended: set[str] = set()
        """Runs whose terminal event was translated (a second one is not: `_lost`)."""
        self._tool_calls: dict[str, dict[str, Any]] = {}
        """Tool calls seen (by id): a tool's `input` (a reviewed call runs in a later run)."""
        self._asked: dict[str, Any] = {}
        """Requests sent as `input.requested` (id -> value): one asked again unchanged (a
        vote that did not complete a quorum re-asks it) is not sent again."""

    def open_runs(self) -> list[str]:
        """The runs fed whose stream has not ended."""
        return list(self._runs)

    def feed(self, event: RunEvent) -> list[dict[str, Any]]:
        """The protocol events `event` makes (numbered)."""
        if event.run_id in self._ended:
            return []
        run = self._runs.setdefault(event.run_id, _Run())
        mode, namespace = split_event(event.event)
        made: list[Made] = []
        if not namespace and mode in _RUN_EVENTS:
            made.extend(_close_messages(run, None))
        elif mode != "messages":
            made.extend(_close_messages(run, namespace))
        made.extend(self._translate(run, mode, namespace, event.data))
        if event.event in TERMINAL_EVENTS:
            self._runs.pop(event.run_id, None)
            self._ended.add(event.run_id)
            data = event.data or {}
            if (
                event.event == "error"
                or data.get("status") != "interrupted"
                or data.get("cancelled")
            ):
                self._asked.clear()  # the exchange is over: its requests too
        stamp = int(event.at.timestamp() * 1000)
        out = []
        for i, (method, data, ns) in enumerate(made[:SUB]):
            seq = protocol_seq(event.seq, i)
            out.append(
                {
                    "type": "event",
                    "event_id": str(seq),
                    "seq": seq,
                    "method": method,
                    "params": {"namespace": list(ns), "timestamp": stamp, "data": data},
                }
            )
        return out

    def _translate(self, run: _Run, mode: str, ns: Namespace, data: Any) -> list[Made]:
        if mode in ("values", "updates", "tasks", "checkpoints"):
            data = run.restore(mode, ns, data)
        if mode == "metadata":
            started: dict[str, Any] = {"event": "started"}
            if self.graph_name:
                started["graph_name"] = self.graph_name
            return [("lifecycle", started, ())]
        if mode == "values":
            if not isinstance(data, dict):  # a functional entrypoint's value
                return [("values", data, ns)]
            if not ns:
                _remember_interrupts(run, data.get("__interrupt__"))
            return [("values", {k: v for k, v in data.items() if k != "__interrupt__"}, ns)]
        if mode == "updates" and isinstance(data, dict):
            return _updates(run, data, ns, self._tool_calls)
        if mode == "messages" and isinstance(data, list) and len(data) == 2:
            return _message_chunk(run, data[0], data[1], ns)
        if mode == "custom":
            return [("custom", {"payload": data}, ns)]
        if mode in ("tasks", "checkpoints"):
            return [(mode, data, ns)]
        if mode == "interrupts" and isinstance(data, list):
            run.asked = True
            return self._ask(i for i in data if isinstance(i, dict))
        if mode == "end":
            status = (data or {}).get("status") if isinstance(data, dict) else None
            if status == "interrupted" and not (data or {}).get("cancelled"):
                asked = (
                    []
                    if run.asked
                    else self._ask({"id": k, "value": v} for k, v in run.interrupts.items())
                )
                return [*asked, ("lifecycle", {"event": "interrupted"}, ())]
            return [("lifecycle", {"event": "completed"}, ())]
        if mode == "error":
            message = data.get("message") if isinstance(data, dict) else data
            return [("lifecycle", {"event": "failed", "error": str(message)}, ())]
        return []  # `run`, thread metadata, modes the protocol has no channel for

    def _ask(self, requests: Iterable[Mapping[str, Any]]) -> list[Made]:
        """`input.requested` for each request not already asked with the same value."""
        made: list[Made] = []
        for request in requests:
            interrupt_id, value = request.get("id"), request.get("value")
            if not isinstance(interrupt_id, str):
                continue
            if interrupt_id in self._asked and self._asked[interrupt_id] == value:
                continue
            self._asked[interrupt_id] = value
            # `payload` is the protocol's field; langgraph-sdk 0.4 reads `value`
            data = {"interrupt_id": interrupt_id, "payload": value, "value": value}
            if request.get("quorum") is not None:
                data["quorum"] = request["quorum"]
            made.append(("input.requested", data, tuple(request.get("namespace") or ())))
        return made


_RUN_EVENTS = frozenset({"metadata", "interrupts", *TERMINAL_EVENTS})
"""Events of the run itself (not of a namespace): every message still open is finished."""


def _remember_interrupts(run: _Run, pause: Any) -> None:
    for item in pause if isinstance(pause, list) else ():
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            run.interrupts[item["id"]] = item.get("value")


def _updates(
    run: _Run, chunk: dict[str, Any], ns: Namespace, tool_calls: dict[str, dict[str, Any]]
) -> list[Made]:
    made: list[Made] = []
    for node, delta in chunk.items():
        if node == "__interrupt__":
            if not ns:
                _remember_interrupts(run, delta)
            continue
        if node == "__metadata__":  # `{"cached": True}`: about the chunk, not a node
            continue
        made.append(("updates", {"node": node, "values": delta}, ns))
        messages = delta.get("messages") if isinstance(delta, dict) else None
        for message in messages if isinstance(messages, list) else ():
            if not isinstance(message, dict):
                continue
            for call in message.get("tool_calls") or ():
                if isinstance(call, dict) and isinstance(call.get("id"), str):
                    tool_calls[call["id"]] = call
            if message.get("type") == "tool" and isinstance(message.get("tool_call_id"), str):
                call = tool_calls.pop(message["tool_call_id"], {})
                made.extend((m, d, ns) for m, d in _tool_events(call, message))
    return made


def _tool_events(call: dict[str, Any], message: dict[str, Any]) -> list[tuple[str, Any]]:
    call_id = message["tool_call_id"]
    started = {
        "event": "tool-started",
        "tool_call_id": call_id,
        "tool_name": str(message.get("name") or call.get("name") or ""),
        "input": call.get("args"),
    }
    if message.get("status") == "error":
        end = {"event": "tool-error", "tool_call_id": call_id, "message": _text(message)}
    else:
        end = {"event": "tool-finished", "tool_call_id": call_id, "output": message.get("content")}
    return [("tools", started), ("tools", end)]


def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text") or "") if isinstance(b, dict) else str(b) for b in content)
    return ""


_ROLES = {"ai": "ai", "AIMessageChunk": "ai", "human": "human", "HumanMessageChunk": "human"}
_ROLES |= {"system": "system", "SystemMessageChunk": "system"}


def _message_chunk(run: _Run, message: Any, meta: Any, ns: Namespace) -> list[Made]:
    if not isinstance(message, dict):
        return []
    role = _ROLES.get(str(message.get("type")))
    if role is None:  # tool results reach the `tools` channel from the run's updates
        return []
    message_id = str(message.get("id") or "")
    made: list[Made] = []
    current = run.open.get(message_id)
    if current is None:
        current = run.open[message_id] = _Message(id=message_id, namespace=ns)
        start: dict[str, Any] = {"event": "message-start", "role": role, "id": message_id}
        node = meta.get("langgraph_node") if isinstance(meta, dict) else None
        if isinstance(node, str):
            start["metadata"] = {"langgraph_node": node}
        made.append(("messages", start, ns))
        block = {"type": "text", "text": ""}
        made.append(("messages", _block("content-block-start", message_id, 0, content=block), ns))
    text = _text(message)
    if text:
        current.text += text
        delta = {"type": "text-delta", "text": text}
        made.append(
            (
                "messages",
                _block("content-block-delta", message_id, 0, delta=delta),
                current.namespace,
            )
        )
    for chunk in message.get("tool_call_chunks") or ():
        if isinstance(chunk, dict):
            index = int(chunk.get("index") or 0)
            seen = current.tool_chunks.setdefault(index, {"id": None, "name": None, "args": ""})
            seen["id"] = chunk.get("id") or seen["id"]
            seen["name"] = chunk.get("name") or seen["name"]
            seen["args"] += str(chunk.get("args") or "")
    if not str(message.get("type")).endswith("Chunk"):  # a whole message: finished now
        made.extend(_finish(run.open.pop(message_id)))
    return made


def _close_messages(run: _Run, ns: Namespace | None) -> list[Made]:
    """Finish the messages still open in namespace `ns` (None: in every namespace)."""
    made: list[Made] = []
    for message_id, message in list(run.open.items()):
        if ns is None or message.namespace == ns:
            made.extend(_finish(run.open.pop(message_id)))
    return made


def _finish(message: _Message) -> list[Made]:
    ns = message.namespace
    text = {"type": "text", "text": message.text}
    made: list[Made] = [
        ("messages", _block("content-block-finish", message.id, 0, content=text), ns)
    ]
    for n, (_, chunk) in enumerate(sorted(message.tool_chunks.items()), start=1):
        try:
            args = json.loads(chunk["args"]) if chunk["args"] else {}
        except ValueError:
            args = {}
        call = {"type": "tool_call", "id": chunk["id"], "name": chunk["name"] or "", "args": args}
        made.append(("messages", _block("content-block-finish", message.id, n, content=call), ns))
    made.append(("messages", {"event": "message-finish", "message_id": message.id}, ns))
    return made


def _block(event: str, message_id: str, index: int, **fields: Any) -> dict[str, Any]:
    # `message_id` (beyond the protocol's fields) routes the event to its message in the
    # SDK when several messages stream at once
    return {"event": event, "message_id": message_id, "index": index, **fields}
