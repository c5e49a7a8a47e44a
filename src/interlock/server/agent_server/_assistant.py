"""Which assistant a request names, and the rules of an assistant's configuration.

An assistant is either a registered graph's **default** assistant (read-only, derived from
the graph: its id is the graph's name or `uuid5(NAMESPACE_URL, name)`) or one **created**
over the API and kept in the store (`checkpoint/_assistants`), which names a registered
graph and carries a `config`, a `context` and `metadata`. A run with a created assistant
runs its graph with the assistant's `config` and `context` under the run's own (`_plan`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from interlock.checkpoint.base import BaseSaver, StoredAssistant
from interlock.graph import CompiledStateGraph
from interlock.graph._run import EXPECTED_HEAD, EXPECTED_PENDING, PASSABLE
from interlock.graph._unsaved import HOLD
from interlock.server._errors import ApiError
from interlock.server._operations import check_shape
from interlock.server.agent_server._wire import assistant_id_of

__all__ = [
    "CONFIG_KEYS",
    "RESERVED",
    "Resolved",
    "check_config",
    "default_of",
    "default_record",
    "new_assistant_id",
    "read_only",
    "record_of",
    "resolve",
    "stored_of",
    "synced",
    "unknown_graph",
]

RESERVED = frozenset(
    {
        "thread_id",
        "checkpoint_ns",
        "checkpoint_id",
        "user_id",
        "requested_by",
        "authorize_decision",
        "run_id",
        "run_after",
        HOLD,
        PASSABLE,
        EXPECTED_HEAD,
        EXPECTED_PENDING,
    }
)
"""Configurable keys a client (or an assistant) may not set: they carry the service's own
facts (`_plan` drops them from a run's configuration)."""

CONFIG_KEYS = frozenset({"configurable", "recursion_limit", "tags", "metadata", "run_name"})
"""The `config` keys a run or an assistant takes: `configurable` and `recursion_limit` reach
the graph; `tags`, `metadata` and `run_name` only label traces (interlock keeps none), so
they are accepted and unused. Others (`callbacks`, `max_concurrency`, ...) are refused."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    """The assistant a request names, with the graph it runs."""

    assistant_id: str
    name: str
    """The registered name of its graph (`graph_id`)."""
    graph: CompiledStateGraph
    stored: StoredAssistant | None = None
    """A created assistant as stored; None for a graph's default assistant."""

    @property
    def config(self) -> Mapping[str, Any]:
        """Its `config` (empty for a default assistant)."""
        return self.stored.config if self.stored is not None else {}

    @property
    def context(self) -> Mapping[str, Any]:
        """Its `context` (empty for a default assistant)."""
        return self.stored.context if self.stored is not None else {}


def default_record(name: str, graph: CompiledStateGraph) -> StoredAssistant:
    """A registered graph's default assistant, as a record (version 1, made at the epoch)."""
    return StoredAssistant(
        assistant_id=assistant_id_of(name),
        graph_id=name,
        name=name,
        metadata={"created_by": "system", "interlock_graph": graph.name},
        created_at=_EPOCH,
        updated_at=_EPOCH,
    )


def unknown_graph(graph_id: str, registry: Mapping[str, CompiledStateGraph]) -> ApiError:
    """404 for a graph this server does not serve (as LangGraph answers it)."""
    return ApiError(
        404,
        "not_found",
        f"graph {graph_id!r} not found: this server serves {sorted(registry)}",
    )


def read_only(assistant_id: str) -> ApiError:
    """409 for a change of a graph's default assistant."""
    return ApiError(
        409,
        "read_only_assistant",
        f"assistant {assistant_id!r} is a registered graph's default assistant, which is "
        "read-only: create an assistant of the graph (POST /assistants) to configure it",
    )


def default_of(
    registry: Mapping[str, CompiledStateGraph], assistant_id: str
) -> tuple[str, CompiledStateGraph] | None:
    """The graph whose default assistant `assistant_id` names (its id or the graph's name)."""
    if assistant_id in registry:
        return assistant_id, registry[assistant_id]
    canonical = _canonical(assistant_id)
    for name, graph in registry.items():
        if assistant_id_of(name) == canonical:
            return name, graph
    return None


def resolve(
    saver: BaseSaver, registry: Mapping[str, CompiledStateGraph], assistant_id: str
) -> Resolved:
    """The assistant `assistant_id` names; 404 for none, or for a created assistant whose
    graph this server does not serve."""
    found = default_of(registry, assistant_id)
    if found is not None:
        return Resolved(assistant_id=assistant_id_of(found[0]), name=found[0], graph=found[1])
    canonical = _canonical(assistant_id)
    stored = saver.get_assistant(canonical) if canonical is not None else None
    if stored is None:
        raise ApiError(404, "not_found", f"assistant {assistant_id!r} not found")
    graph = registry.get(stored.graph_id)
    if graph is None:
        raise ApiError(
            404,
            "not_found",
            f"assistant {assistant_id!r} runs the graph {stored.graph_id!r}, which this "
            f"server does not serve (it serves {sorted(registry)})",
        )
    return Resolved(
        assistant_id=stored.assistant_id, name=stored.graph_id, graph=graph, stored=stored
    )


def record_of(
    saver: BaseSaver, registry: Mapping[str, CompiledStateGraph], assistant_id: str
) -> StoredAssistant:
    """The assistant `assistant_id` names as a record (a default one made from its graph),
    whether this server serves its graph or not; 404 for none."""
    found = default_of(registry, assistant_id)
    if found is not None:
        return default_record(*found)
    return stored_of(saver, registry, assistant_id)


def stored_of(
    saver: BaseSaver, registry: Mapping[str, CompiledStateGraph], assistant_id: str
) -> StoredAssistant:
    """A created assistant, to change it: 409 for a graph's default assistant (read-only),
    404 for none."""
    if default_of(registry, assistant_id) is not None:
        raise read_only(assistant_id)
    canonical = _canonical(assistant_id)
    stored = saver.get_assistant(canonical) if canonical is not None else None
    if stored is None:
        raise ApiError(404, "not_found", f"assistant {assistant_id!r} not found")
    return stored


def _canonical(value: str) -> str | None:
    """`value` as a stored assistant's id is spelled (a UUID in lowercase), or None."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def new_assistant_id(given: str | None) -> str:
    """The id of an assistant to create: `given` as a canonical UUID (422 otherwise, as
    LangGraph requires), or a new one."""
    if given is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(given))
    except ValueError:
        raise ApiError(422, "invalid_request", f"assistant_id {given!r}: must be a UUID") from None


def check_config(config: Mapping[str, Any], where: str = "config") -> None:
    """422 unless `config` is a config interlock runs with (`CONFIG_KEYS`, each of its
    type)."""
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise ApiError(
            422,
            "not_supported",
            f"{where} keys {unknown}: not supported by interlock (it takes {sorted(CONFIG_KEYS)})",
        )
    kinds: dict[str, tuple[type, ...]] = {
        "configurable": (dict,),
        "metadata": (dict,),
        "tags": (list,),
        "run_name": (str,),
    }
    for key, kind in kinds.items():
        if key in config and not isinstance(config[key], kind):
            raise ApiError(422, "invalid_request", f"{where}.{key} must be a {kind[0].__name__}")
    if "tags" in config and not all(isinstance(t, str) for t in config["tags"]):
        raise ApiError(422, "invalid_request", f"{where}.tags must be a list of strings")
    limit = config.get("recursion_limit")
    if limit is not None and (
        not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10_000
    ):
        raise ApiError(422, "invalid_request", f"{where}.recursion_limit: 1 to 10000")
    check_shape(dict(config), where)


def synced(
    config: Mapping[str, Any] | None, context: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """An assistant's `config` and `context` kept in step as LangGraph keeps them: its
    `config.configurable` is also its context, and a context alone is also its
    `configurable`; both given is 400. Returns `(config, context)` (`context` None when
    neither was given)."""
    out = dict(config or {})
    configurable = out.get("configurable")
    if configurable and context:
        raise ApiError(
            400,
            "invalid_request",
            "send `context` or `config.configurable`, not both (they are one: LangGraph "
            "0.6's context replaces configurable)",
        )
    if configurable:
        return out, dict(configurable)
    if context:
        out["configurable"] = dict(context)
    return out, None if context is None else dict(context)
