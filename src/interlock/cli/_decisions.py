"""Building a request's answer from what a person chose, and checking it against the
request's own JSON schema (`response_schema`: for an agent, allowed decision types and the
tool's argument schema) before anything is sent — a refused answer changes nothing."""

from __future__ import annotations

import json
from typing import Any

from interlock.cli._backend import CliError

__all__ = ["actions_of", "decisions", "parse_json", "schema_problems"]


def actions_of(approval: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tool calls under review, or None for a request that is not an agent's."""
    value = approval.get("value")
    requests = value.get("action_requests") if isinstance(value, dict) else None
    return [a for a in requests if isinstance(a, dict)] if isinstance(requests, list) else None


def decisions(approval: dict[str, Any], each: list[dict[str, Any]]) -> dict[str, Any]:
    """`{"decisions": each}`, one per tool call, in the request's order."""
    return {"decisions": each}


def one_for_all(approval: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    """The same decision for every tool call of an agent's request."""
    actions = actions_of(approval)
    if actions is None:
        raise CliError(
            f"request {approval['id']} is not an agent's tool call: answer it with --value JSON"
        )
    return decisions(approval, [dict(decision) for _ in actions])


def edits(approval: dict[str, Any], new_args: Any) -> dict[str, Any]:
    """Edit decisions: `new_args` is the arguments object of a single tool call, or a list
    of them (one per call)."""
    actions = actions_of(approval)
    if actions is None:
        raise CliError(
            f"request {approval['id']} is not an agent's tool call: answer it with --value JSON"
        )
    per_call = new_args if isinstance(new_args, list) else [new_args]
    if len(per_call) != len(actions):
        raise CliError(
            f"request {approval['id']} reviews {len(actions)} tool calls: give --edit a JSON "
            f"list of {len(actions)} argument objects"
        )
    return decisions(
        approval,
        [
            {"type": "edit", "edited_action": {"name": a.get("name"), "args": args}}
            for a, args in zip(actions, per_call, strict=True)
        ],
    )


def parse_json(text: str, what: str) -> Any:
    """`text` as JSON, or a one-line error naming `what`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{what} is not valid JSON: {exc}") from None


def schema_problems(approval: dict[str, Any], value: Any) -> list[str]:
    """Why `value` does not answer the request (empty: it does), by its `response_schema`."""
    schema = approval.get("response_schema")
    if not isinstance(schema, dict):
        return []
    from interlock.graph._jsonschema import schema_errors

    return list(schema_errors(value, schema))
