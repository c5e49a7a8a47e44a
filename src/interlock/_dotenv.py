"""`load_dotenv()`: read `KEY=value` lines from a `.env` file into `os.environ`.

The lines python-dotenv reads: `export ` prefixes, `#` comments (also after a value),
single quotes (taken as written), double quotes (`\\n`, `\\t`, `\\"`, `\\\\` escapes, and a
value that goes on over several lines), and `${NAME}` / `${NAME:-default}` in unquoted and
double-quoted values (a name set earlier in the file, else in the environment). A line that
is not `KEY=value` is skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["load_dotenv", "parse_dotenv", "read_dotenv"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def read_dotenv(path: str | os.PathLike[str] = ".env") -> dict[str, str]:
    """Parse a `.env` file (see the module docstring); `{}` when there is none."""
    file = Path(path)
    if not file.is_file():
        return {}
    return parse_dotenv(file.read_text(encoding="utf-8"))


def parse_dotenv(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a `.env` file's text sets, in order (see the module docstring).

    >>> parse_dotenv('A=1 # one\\nB="x\\\\ny"\\nC=${A}2\\nD=\\'${A}\\'')
    {'A': '1', 'B': 'x\\ny', 'C': '12', 'D': '${A}'}
    """
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    lines = text.splitlines()
    at = 0
    while at < len(lines):
        line = lines[at].strip()
        at += 1
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, rest = line.partition("=")
        key, rest = key.strip(), rest.lstrip()
        if not sep or not _NAME.fullmatch(key):
            continue  # blank, a comment, or not KEY=value
        if rest[:1] in ("'", '"'):
            quote, body = rest[0], rest[1:]
            end = _closing(body, quote)
            while end < 0 and at < len(lines):  # a quoted value may go on over lines
                body += "\n" + lines[at]
                at += 1
                end = _closing(body, quote)
            if end < 0:
                continue  # never closed: not a value
            value = body[:end]
            if quote == '"':
                value = _expand(_unescape(value), values, env)
        else:
            value = re.split(r"\s#", rest, maxsplit=1)[0].strip()
            value = _expand(value, values, env)
        values[key] = value
    return values


def _closing(body: str, quote: str) -> int:
    """Where `quote` closes `body` (-1: it does not); a backslash escapes a double quote."""
    at = 0
    while at < len(body):
        char = body[at]
        if char == "\\" and quote == '"':
            at += 2
            continue
        if char == quote:
            return at
        at += 1
    return -1


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), value)


def _expand(value: str, values: Mapping[str, str], env: Mapping[str, str]) -> str:
    def lookup(match: re.Match[str]) -> str:
        name = match[1]
        found = values.get(name, env.get(name))
        return found if found else (match[2] or "")

    return _VARIABLE.sub(lookup, value)


def load_dotenv(path: str | os.PathLike[str] = ".env", *, override: bool = False) -> bool:
    """Load a `.env` file into the environment (existing variables win unless `override`).

    Returns whether the file existed. Same role as python-dotenv's `load_dotenv`.

    Example:
        >>> load_dotenv("/nonexistent/.env")
        False
    """
    values = read_dotenv(path)
    for key, value in values.items():
        if override or key not in os.environ:
            os.environ[key] = value
    return bool(values) or Path(path).is_file()
