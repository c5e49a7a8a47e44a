"""Namespaces as index keys, and value filters: what the items room's halves share.

A namespace (a tuple of labels) is stored as text in which a namespace prefix is a range:
each label is written as the hex digits of its UTF-8 bytes followed by `.`. Labels may then
hold any character (`.`, `/`, `%`, `_`, unicode) without escaping rules, the text order of
encoded namespaces is the order of the tuples (code point by code point, shorter first), and
the namespaces under a prefix `p` are exactly the texts from `encode(p)` (inclusive) to
`encode(p)` with its last `.` turned into `/` (exclusive): `/` is the character after `.`,
and every character after an encoded prefix is `.` or a hex digit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from interlock.errors import InvalidNamespaceError

__all__ = [
    "OPERATORS",
    "check_filter",
    "check_labels",
    "check_namespace",
    "decode",
    "encode",
    "matches",
    "namespace_matches",
    "prefix_range",
]

OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})
"""The comparison operators a filter may use (LangGraph's)."""


def check_labels(labels: Iterable[Any], what: str = "namespace") -> tuple[str, ...]:
    """The labels as a tuple, or `InvalidNamespaceError`: each a non-empty string without
    NUL (which PostgreSQL cannot store). Unlike LangGraph, a label may contain `.`."""
    if isinstance(labels, str):
        raise InvalidNamespaceError(
            f"a {what} is a tuple of labels, not the string {labels!r}: write ({labels!r},)"
        )
    out = tuple(labels)
    for label in out:
        if not isinstance(label, str):
            raise InvalidNamespaceError(
                f"{what} labels must be strings, got {type(label).__name__} {label!r} in {out}"
            )
        if not label:
            raise InvalidNamespaceError(f"{what} labels cannot be empty strings: {out}")
        if "\x00" in label:
            raise InvalidNamespaceError(f"{what} labels cannot contain NUL ('\\x00'): {out}")
    return out


def check_namespace(namespace: Iterable[Any]) -> tuple[str, ...]:
    """The namespace of an item that is written: at least one label, not under `langgraph`
    (LangGraph reserves that root)."""
    out = check_labels(namespace)
    if not out:
        raise InvalidNamespaceError("a namespace cannot be empty: give at least one label")
    if out[0] == "langgraph":
        raise InvalidNamespaceError(f'a namespace cannot start with "langgraph": {out}')
    return out


def encode(namespace: Sequence[str]) -> str:
    """The index text of a namespace (see the module docstring)."""
    return "".join(label.encode().hex() + "." for label in namespace)


def decode(text: str) -> tuple[str, ...]:
    """The namespace of an index text."""
    return tuple(bytes.fromhex(part).decode() for part in text.split(".")[:-1])


def prefix_range(prefix: Sequence[str]) -> tuple[str, str] | None:
    """`(low, high)`: the index texts of the namespaces under `prefix` are `low <= t <
    high`; None for the empty prefix (every namespace)."""
    if not prefix:
        return None
    low = encode(prefix)
    return low, low[:-1] + "/"


def namespace_matches(namespace: tuple[str, ...], path: Sequence[str], suffix: bool) -> bool:
    """Whether `namespace` starts (ends) with `path`, where a `*` label matches any label."""
    if len(namespace) < len(path):
        return False
    part = namespace[len(namespace) - len(path) :] if suffix else namespace[: len(path)]
    return all(p == "*" or p == n for p, n in zip(path, part, strict=True))


def check_filter(filter: Mapping[str, Any] | None) -> None:
    """`ValueError` for a filter that is not a mapping or uses an unknown `$` operator."""
    if filter is None:
        return
    if not isinstance(filter, Mapping):
        raise ValueError(f"a filter is a dict of value fields, not {type(filter).__name__}")
    for value in filter.values():
        _check_condition(value)


def _check_condition(condition: Any) -> None:
    if isinstance(condition, Mapping):
        unknown = sorted(k for k in condition if isinstance(k, str) and k.startswith("$"))
        unknown = [k for k in unknown if k not in OPERATORS]
        if unknown:
            raise ValueError(
                f"unsupported filter operator {unknown[0]!r}: use one of {sorted(OPERATORS)}"
            )
        if not any(isinstance(k, str) and k.startswith("$") for k in condition):
            for inner in condition.values():
                _check_condition(inner)
    elif isinstance(condition, list | tuple):
        for inner in condition:
            _check_condition(inner)


def matches(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether an item's value passes `filter`, as LangGraph's `InMemoryStore` decides:
    each field equal to the filter's value (nested dicts field by field, lists element by
    element), or passing every operator given (`{"$gte": 3, "$lt": 9}`). `$gt`, `$gte`,
    `$lt`, `$lte` compare as numbers (a numeric string counts as its number); a value that
    is missing or not a number fails them (LangGraph's `InMemoryStore` raises `TypeError`
    there)."""
    if not filter:
        return True
    return all(_compare(value.get(k), v) for k, v in filter.items())


def _compare(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, Mapping):
        if any(isinstance(k, str) and k.startswith("$") for k in wanted):
            return all(_operator(actual, op, arg) for op, arg in wanted.items())
        if not isinstance(actual, Mapping):
            return False
        return all(_compare(actual.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(actual) == len(wanted)
            and all(_compare(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    return bool(actual == wanted)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return float(value) if isinstance(value, bool) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _operator(actual: Any, op: str, arg: Any) -> bool:
    if op == "$eq":
        return bool(actual == arg)
    if op == "$ne":
        return bool(actual != arg)
    left, right = _number(actual), _number(arg)
    if left is None or right is None:
        return False
    if op == "$gt":
        return left > right
    if op == "$gte":
        return left >= right
    if op == "$lt":
        return left < right
    if op == "$lte":
        return left <= right
    raise ValueError(f"unsupported filter operator {op!r}: use one of {sorted(OPERATORS)}")
