"""Embedding vectors of items, and their cosine similarity to a query: what the items room's
halves share for semantic search.

A vector is kept as little-endian float32 bytes (4 bytes a number, as pgvector and
sqlite-vec keep them) with its Euclidean norm, so that a search computes one dot product per
stored vector, in Python (no new dependency): about 15 ms per thousand 256-number vectors
(bench/RESULTS.md). An item may have several vectors (one per embedded field); its score is
the best of them (LangGraph's max pooling).
"""

from __future__ import annotations

import math
import operator
import sys
from array import array
from collections.abc import Iterable, Sequence
from typing import TypeVar

from interlock.errors import EmbeddingError

__all__ = ["Packed", "norm", "pack", "rank", "unpack"]

K = TypeVar("K")

Packed = tuple[bytes, float]
"""A vector as stored: its float32 bytes and its norm."""

_SWAP = sys.byteorder != "little"


def norm(vector: Sequence[float]) -> float:
    """The Euclidean length of `vector`."""
    return math.sqrt(sum(x * x for x in vector))


def pack(vector: Sequence[float]) -> Packed:
    """`vector` as stored: float32 bytes (little-endian) and the norm of those floats."""
    numbers = array("f", vector)
    length = norm(numbers)
    if _SWAP:
        numbers.byteswap()
    return numbers.tobytes(), length


def unpack(blob: bytes) -> array[float]:
    """The numbers of a stored vector."""
    numbers = array("f")
    numbers.frombytes(bytes(blob))
    if _SWAP:
        numbers.byteswap()
    return numbers


def rank(query: Sequence[float], rows: Iterable[tuple[K, bytes, float]]) -> list[tuple[K, float]]:
    """Each candidate's best cosine similarity to `query` (over its vectors: rows of
    `(candidate, blob, norm)`), best first, ties in candidate order. A zero vector (or
    query) scores 0, as in LangGraph. `EmbeddingError` when a stored vector's length
    differs from the query's (the store's index changed its `dims`)."""
    q = list(query)
    q_norm = norm(q)
    dims = len(q)
    mul = operator.mul
    best: dict[K, float] = {}
    for candidate, blob, length in rows:
        numbers = unpack(blob)
        if len(numbers) != dims:
            raise EmbeddingError(
                f"a stored vector has {len(numbers)} numbers, the query {dims}: the index's "
                "dims changed since the items were written; write them again to re-embed them"
            )
        score = sum(map(mul, q, numbers)) / (q_norm * length) if q_norm and length else 0.0
        old = best.get(candidate)
        if old is None or score > old:
            best[candidate] = score
    ordered = sorted(best.items(), key=operator.itemgetter(0))  # type: ignore[type-var]
    ordered.sort(key=lambda pair: pair[1], reverse=True)
    return ordered
