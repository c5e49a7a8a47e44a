"""`load_dotenv()`: read `KEY=value` lines from a `.env` file into `os.environ`."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["load_dotenv", "read_dotenv"]


def read_dotenv(path: str | os.PathLike[str] = ".env") -> dict[str, str]:
    """Parse a `.env` file: `KEY=value`, optional `export `, quotes, `#` comments."""
    file = Path(path)
    if not file.is_file():
        return {}
    values: dict[str, str] = {}
    for raw in file.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


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
