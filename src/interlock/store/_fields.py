"""Which texts of an item are embedded: LangGraph's field paths.

A path names parts of an item's value: `$` (or `""`) the whole value as JSON text, `a.b` a
nested field, `a[0]` / `a[-1]` one element of a list, `a[*]` each element, `*` each value of
an object (or element of a list), `{a,b.c}` several fields of an object. A scalar reached is
embedded as `str(value)` (so `True`, `7`, `1.0`), a list or object as its JSON text (keys
sorted); null and missing parts give nothing. When a path reaches several texts, each is
its own vector, its field named `path.0`, `path.1`, ... (`path` alone for one text). A
field name reached twice (a path given twice) keeps one text, the last, as LangGraph's
stores keep one vector a field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["field_texts", "tokenize"]


def tokenize(path: str) -> list[str]:
    """The parts of `path`: names, `[index]` and `{a,b}` groups (empty names dropped).

    Example:
        >>> tokenize("messages[*].content")
        ['messages', '[*]', 'content']
    """
    tokens: list[str] = []
    name: list[str] = []
    i = 0
    while i < len(path):
        char = path[i]
        if char in "[{":
            if name:
                tokens.append("".join(name))
                name = []
            close = "]" if char == "[" else "}"
            depth, j = 1, i + 1
            while j < len(path) and depth:
                depth += (path[j] == char) - (path[j] == close)
                j += 1
            tokens.append(path[i:j])
            i = j
            continue
        if char == ".":
            if name:
                tokens.append("".join(name))
                name = []
        else:
            name.append(char)
        i += 1
    if name:
        tokens.append("".join(name))
    return tokens


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _leaf(value: Any) -> list[str]:
    if isinstance(value, str | int | float):  # bool is an int
        return [str(value)]
    if isinstance(value, list | dict):
        return [_json(value)]
    return []


def _pick(value: Any, names: str) -> list[str]:
    """A `{a,b.c}` group: each named field of an object (dots walk into objects)."""
    if not isinstance(value, dict):
        return []
    out: list[str] = []
    for name in names[1:-1].split(","):
        current: Any = value
        for part in tokenize(name.strip()):
            if not isinstance(current, dict) or part not in current:
                current = None
                break
            current = current[part]
        if current is not None:
            out += _leaf(current)
    return out


def _texts(value: Any, tokens: Sequence[str], pos: int) -> list[str]:
    if pos >= len(tokens):
        return _leaf(value)
    token = tokens[pos]
    out: list[str] = []
    if token.startswith("[") and token.endswith("]"):
        if not isinstance(value, list):
            return []
        inner = token[1:-1]
        if inner == "*":
            for element in value:
                out += _texts(element, tokens, pos + 1)
            return out
        try:
            index = int(inner)
        except ValueError:
            return []
        index = index + len(value) if index < 0 else index
        return _texts(value[index], tokens, pos + 1) if 0 <= index < len(value) else []
    if token.startswith("{") and token.endswith("}"):
        return _pick(value, token)
    if token == "*":
        elements = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            for element in elements:
                out += _texts(element, tokens, pos + 1)
        return out
    if isinstance(value, dict) and token in value:
        return _texts(value[token], tokens, pos + 1)
    return []


def field_texts(value: Mapping[str, Any], paths: Sequence[str]) -> list[tuple[str, str]]:
    """`(field, text)` for each text that `paths` reach in `value` (see the module
    docstring), in path order.

    Example:
        >>> field_texts({"text": "tea", "tags": ["a", "b"]}, ["text", "tags[*]", "gone"])
        [('text', 'tea'), ('tags[*].0', 'a'), ('tags[*].1', 'b')]
    """
    whole = dict(value)
    out: dict[str, str] = {}  # one text a field name: a path given twice is embedded once
    for path in dict.fromkeys(paths):
        texts = [_json(whole)] if path in ("$", "") else _texts(whole, tokenize(path), 0)
        if len(texts) == 1:
            out[path] = texts[0]
        else:
            out.update((f"{path}.{i}", text) for i, text in enumerate(texts))
    return list(out.items())
