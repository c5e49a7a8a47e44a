"""The inbox's decision forms, apart from HTTP: one typed field per argument from a tool's
JSON schema (text, number, checkbox, enum select, textarea for long text, raw JSON only for
nested values), and the decision value a posted form describes (ValueError, with a message
for the person, when it describes none)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from interlock.checkpoint.base import InterruptRecord
from interlock.server._inbox_view import actions_of, arg_order, tool_schema
from interlock.server._plain import plain

__all__ = [
    "answer_schema",
    "bulk_value",
    "decision_from",
    "defaults",
    "fields",
    "tool_schema",
    "typed_values",
]

LONG_TEXT = 80
"""A string argument longer than this (or with a line break) gets a textarea."""


def _simple(prop: Mapping[str, Any]) -> Mapping[str, Any]:
    """`Optional[X]` (`anyOf: [X, {"type": "null"}]`) as X; anything else unchanged."""
    options = prop.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]
        if len(rest) == 1 and len(rest) < len(options):
            return {**rest[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    return prop


def _kind(prop: Mapping[str, Any], value: Any) -> str:
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        return "select"
    kind = prop.get("type")
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return kind
    if kind == "string":
        text = value if isinstance(value, str) else ""
        long = len(text) > LONG_TEXT or "\n" in text or (prop.get("maxLength") or 0) > 200
        return "textarea" if long or prop.get("format") == "textarea" else "text"
    return "json"  # objects, arrays, references, unions: raw JSON


def fields(schema: Mapping[str, Any], args: Any, prefix: str) -> list[dict[str, Any]]:
    """One form field per property of `schema` (in its order, then any extra argument as
    JSON), filled with `args`. Field names are `{prefix}{property}`."""
    props = schema.get("properties")
    props = props if isinstance(props, Mapping) else {}
    required = schema.get("required")
    required = set(required) if isinstance(required, list) else set()
    args = args if isinstance(args, Mapping) else {}
    out = []
    names = arg_order(schema) + [k for k in args if k not in props]
    for n, name in enumerate(names):
        found = props.get(name)
        prop = _simple(found if isinstance(found, Mapping) else {})
        present = name in args
        value = plain(args.get(name))
        kind = _kind(prop, value)
        field: dict[str, Any] = {
            "name": f"{prefix}{name}",
            "id": f"{prefix}{n}",
            "label": str(prop.get("title") or name),
            "arg": name,
            "kind": kind,
            "description": prop.get("description"),
            "required": name in required,
            "present": present,
            "checked": value is True,
            "original": json.dumps(value) if present else "",
        }
        if kind == "select":
            field["options"] = [
                (json.dumps(o), o if isinstance(o, str) else json.dumps(o)) for o in prop["enum"]
            ]
            field["value"] = json.dumps(value) if present else ""
        elif kind == "json":
            field["value"] = json.dumps(value, indent=2) if present else ""
        elif kind in ("integer", "number"):
            field["value"] = "" if value is None else str(value)
            field["min"], field["max"] = prop.get("minimum"), prop.get("maximum")
        else:
            field["value"] = (
                "" if value is None else str(value) if not isinstance(value, str) else value
            )
            field["minlength"], field["maxlength"] = prop.get("minLength"), prop.get("maxLength")
            field["pattern"] = prop.get("pattern")
        out.append(field)
    return out


def answer_schema(record: InterruptRecord) -> dict[str, Any] | None:
    """The schema of a (non-review) request's answer when it is an object with properties:
    then the answer is a form of typed fields too."""
    schema = record.metadata.get("response_schema")
    if actions_of(record.value) is not None or not isinstance(schema, Mapping):
        return None
    props = schema.get("properties")
    if schema.get("type") != "object" or not isinstance(props, Mapping) or not props:
        return None
    return dict(schema)


def defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The `default` of each property that has one (an answer form starts from them)."""
    props = schema.get("properties")
    props = props if isinstance(props, Mapping) else {}
    return {k: p["default"] for k, p in props.items() if isinstance(p, Mapping) and "default" in p}


def typed_values(
    form: Any, schema: Mapping[str, Any], original: Any, prefix: str, owner: str
) -> Any:
    """The object the typed fields under `prefix` describe (ValueError naming the field)."""
    out: dict[str, Any] = {}
    action = {"name": owner}
    for field in fields(schema, original, prefix):
        raw = form.get(field["name"])
        label, kind = field["label"], field["kind"]
        if kind == "checkbox":
            if raw is not None or field["present"] or field["required"]:
                out[field["arg"]] = raw is not None
            continue
        text = "" if raw is None else str(raw)
        blank = not text.strip()
        if (blank and kind != "text" and kind != "textarea") or (blank and not field["present"]):
            if field["required"]:
                raise ValueError(f"{label} of {action['name']} is required")
            continue
        if kind == "integer":
            try:
                out[field["arg"]] = int(text)
            except ValueError:
                raise ValueError(f"{label} of {action['name']} must be a whole number") from None
        elif kind == "number":
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"{label} of {action['name']} must be a number") from None
            out[field["arg"]] = int(number) if number.is_integer() and "." not in text else number
        elif kind in ("select", "json"):
            try:
                out[field["arg"]] = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{label} of {action['name']} is not JSON: {exc}") from None
        else:
            out[field["arg"]] = text
    return out


def decision_from(form: Any, record: InterruptRecord) -> Any:
    """The decision value the posted `form` describes; ValueError with a message for the
    person. A review posts `decision_{i}` per call, `message_{i}` for a reject or respond,
    and for an edit either typed fields `a{i}.{argument}` or the raw JSON `args_{i}`."""
    actions = actions_of(record.value)
    if form.get("form") == "actions" and actions is not None:
        decisions = []
        for i, action in enumerate(actions):
            kind = str(form.get(f"decision_{i}", ""))
            if kind not in action["allowed"]:
                raise ValueError(f"choose one of {action['allowed']} for {action['name']}")
            message = str(form.get(f"message_{i}", "")).strip()
            if kind == "edit":
                if form.get(f"args_{i}") is not None:
                    try:
                        args = json.loads(str(form.get(f"args_{i}")))
                    except json.JSONDecodeError as exc:
                        name = action["name"]
                        raise ValueError(f"the arguments of {name} are not JSON: {exc}") from exc
                else:
                    schema = tool_schema(record, i) or {"properties": {}}
                    args = typed_values(form, schema, action.get("args"), f"a{i}.", action["name"])
                decisions.append(
                    {"type": "edit", "edited_action": {"name": action["name"], "args": args}}
                )
            elif kind in ("reject", "respond"):
                decisions.append({"type": kind, "message": message or f"{kind}ed in the inbox"})
            else:
                decisions.append({"type": kind})
        return {"decisions": decisions}
    if form.get("form") == "actions":
        raise ValueError("this request is not a review of tool calls; answer it as JSON")
    if form.get("form") == "fields":
        wanted = answer_schema(record)
        if wanted is None:
            raise ValueError("this request has no form of fields; answer it as JSON")
        return typed_values(form, wanted, defaults(wanted), "f.", "the answer")
    try:
        return json.loads(str(form.get("answer", "")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not JSON: {exc}") from exc


def bulk_value(record: InterruptRecord, decision: str, message: str) -> dict[str, Any]:
    """The value that approves (or rejects, with `message`) every call of a review at once;
    ValueError when the request is not a review or a call does not allow that decision."""
    actions = actions_of(record.value)
    if actions is None:
        raise ValueError("not a review of tool calls: answer it on its page")
    refused = [a["name"] for a in actions if decision not in a["allowed"]]
    if refused:
        raise ValueError(f"{', '.join(refused)} may not be {decision}d")
    if decision == "reject":
        return {"decisions": [{"type": "reject", "message": message} for _ in actions]}
    return {"decisions": [{"type": "approve"} for _ in actions]}
