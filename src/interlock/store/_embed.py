"""A store's semantic search settings (`index=`): what embeds texts, how many numbers a vector
has, which fields of an item are embedded.

`embed` is what LangGraph accepts: a LangChain `Embeddings` object (anything with
`embed_documents` / `embed_query`, and their async twins if it has them: langchain-core is
never imported here), a function `list[str] -> list[list[float]]` (sync or async), or a
`"provider:model"` string resolved by `langchain.embeddings.init_embeddings`. Every vector
it returns is checked (as many as texts, `dims` finite numbers each) before anything is
written, so a failing or misconfigured model leaves the store unchanged (`EmbeddingError`,
its cause chained).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import numbers
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence, Sized
from typing import Any

from interlock.checkpoint._async import to_thread
from interlock.errors import EmbeddingError, InterlockError, StoreFeatureUnsupported
from interlock.store._fields import field_texts

__all__ = ["Index"]

_KEYS = {"dims", "embed", "fields", "distance_type", "ann_index_config"}


def _is_async(func: Any) -> bool:
    call = getattr(func, "__call__", None)  # noqa: B004 - an object with an async __call__
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(call)


def _resolve(embed: Any) -> Any:
    """A provider string as an `Embeddings` object (through LangChain); others as given."""
    if not isinstance(embed, str):
        return embed
    try:
        from langchain.embeddings import init_embeddings  # type: ignore[import-not-found]
    except ImportError as exc:
        raise StoreFeatureUnsupported(
            f"index embed={embed!r}: a 'provider:model' string is resolved by LangChain's "
            "init_embeddings; install it with `pip install langchain` and the provider's "
            "package (e.g. `pip install langchain-openai`), or give an Embeddings object or a "
            "function list[str] -> list[list[float]]"
        ) from exc
    return init_embeddings(embed)


def _rows(value: Any) -> list[Any] | None:
    """The elements of a sized iterable (a list, a tuple, a numpy array), or None for
    anything else (a string, a mapping, a generator, None)."""
    if isinstance(value, str | bytes | Mapping) or not (
        isinstance(value, Sized) and isinstance(value, Iterable)
    ):
        return None
    try:
        return list(value)
    except TypeError:
        return None


def _numbers(vector: Any) -> list[float] | None:
    """A vector's numbers as floats, or None unless each is a real number (numpy's
    floats included; not a `bool`, a `str`, None)."""
    rows = _rows(vector)
    if rows is None:
        return None
    out = []
    for x in rows:
        if isinstance(x, bool | str | bytes) or not isinstance(x, numbers.Real):
            return None
        out.append(float(x))
    return out


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Index:
    """A checked `IndexConfig`: `dims`, `fields` (default `["$"]`: the whole value) and the
    embedder, with the texts and vectors of items and queries."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        if not isinstance(config, Mapping):
            raise TypeError(f"index is a dict (dims, embed, fields), not {type(config).__name__}")
        unknown = sorted(set(config) - _KEYS)
        if unknown:
            raise ValueError(f"index: unknown settings {unknown}; use {sorted(_KEYS)}")
        dims = config.get("dims")
        if not isinstance(dims, int) or isinstance(dims, bool) or dims <= 0:
            raise ValueError(f"index dims must be a whole number > 0, not {dims!r}")
        if config.get("distance_type", "cosine") != "cosine":
            raise StoreFeatureUnsupported(
                f"index distance_type={config['distance_type']!r}: interlock's stores rank by "
                "cosine similarity only; leave distance_type unset"
            )
        fields = config.get("fields") or ["$"]
        fields = [fields] if isinstance(fields, str) else fields
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ValueError(f"index fields must be a list of paths, not {fields!r}")
        if config.get("embed") is None:
            raise ValueError("index needs embed: an Embeddings object, a function or a string")
        self.dims: int = dims
        self.fields: list[str] = list(fields)
        self.embeddings: Any = _resolve(config["embed"])
        documents = getattr(self.embeddings, "embed_documents", None)
        if callable(documents):
            self._sync: Callable[[list[str]], Any] | None = documents
            self._async: Callable[[list[str]], Awaitable[Any]] | None = getattr(
                self.embeddings, "aembed_documents", None
            )
            self._query: Callable[[str], Any] | None = self.embeddings.embed_query
            self._aquery: Callable[[str], Awaitable[Any]] | None = getattr(
                self.embeddings, "aembed_query", None
            )
        elif callable(self.embeddings):
            is_async = _is_async(self.embeddings)
            self._sync = None if is_async else self.embeddings
            self._async = self.embeddings if is_async else None
            self._query = self._aquery = None
        else:
            raise TypeError(
                f"index embed must be an Embeddings object, a function list[str] -> "
                f"list[list[float]] or a 'provider:model' string, not {type(config['embed'])}"
            )

    def texts(self, value: Mapping[str, Any], index: Any) -> list[tuple[str, str]]:
        """`(field, text)` to embed for a put of `value` with `index` (None: the index's
        fields; False: none; a list: those paths)."""
        if index is False:
            return []
        return field_texts(value, self.fields if index is None else index)

    def _checked(self, vectors: Any, count: int) -> list[list[float]]:
        """`vectors` as lists of floats: as many as texts, `dims` finite numbers each. Any
        sized iterable will do (a list, a numpy array, ...), not a string or a mapping; an
        element must be a real number (not a `str`, nor a `bool`)."""
        rows = _rows(vectors)
        if rows is None or len(rows) != count:
            got = type(vectors).__name__ if rows is None else len(rows)
            raise EmbeddingError(
                f"the index's embed returned {got} vectors for {count} texts; nothing was written"
            )
        out = []
        for vector in rows:
            floats = _numbers(vector)
            if floats is None:
                raise EmbeddingError(
                    f"the index's embed returned a vector that is not a list of numbers "
                    f"({_show(vector)}); nothing was written"
                )
            if len(floats) != self.dims:
                raise EmbeddingError(
                    f"the index's embed returned a vector of {len(floats)} numbers, but the "
                    f"index has dims={self.dims}: set dims to the model's size; nothing was "
                    "written"
                )
            if not all(math.isfinite(x) for x in floats):
                raise EmbeddingError(
                    "the index's embed returned a vector holding NaN or infinity; nothing was "
                    "written"
                )
            out.append(floats)
        return out

    @staticmethod
    def _failed(exc: Exception) -> EmbeddingError:
        return EmbeddingError(
            f"the index's embed failed ({type(exc).__name__}: {exc}); nothing was written"
        )

    def _call(self, fn: Callable[..., Any], arg: Any) -> Any:
        try:
            return fn(arg)
        except InterlockError:
            raise
        except Exception as exc:
            raise self._failed(exc) from exc

    async def _acall(self, fn: Callable[..., Awaitable[Any]], arg: Any) -> Any:
        try:
            return await fn(arg)
        except InterlockError:
            raise
        except Exception as exc:
            raise self._failed(exc) from exc

    def embed(self, texts: list[str]) -> list[list[float]]:
        """The vectors of `texts` (checked)."""
        if not texts:
            return []
        if self._sync is None:
            raise StoreFeatureUnsupported(
                "the index's embed function is async: use the store's async methods (aput, "
                "asearch, abatch), or give a sync function too"
            )
        return self._checked(self._call(self._sync, texts), len(texts))

    async def aembed(self, texts: list[str]) -> list[list[float]]:
        """Async twin of `embed` (a sync embedder runs in a worker thread)."""
        if not texts:
            return []
        if self._async is not None:
            return self._checked(await self._acall(self._async, texts), len(texts))
        return await to_thread(self.embed, texts)

    def embed_query(self, text: str) -> list[float]:
        """The vector of a search's query (`embed_query` when the embedder has one)."""
        if self._query is None:
            return self.embed([text])[0]
        return self._checked([self._call(self._query, text)], 1)[0]

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of `embed_query`."""
        if self._aquery is not None:
            return self._checked([await self._acall(self._aquery, text)], 1)[0]
        if self._query is not None:
            return await to_thread(self.embed_query, text)
        return (await self.aembed([text]))[0]

    async def aembed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        """The vectors of several queries, embedded concurrently."""
        return list(await asyncio.gather(*(self.aembed_query(t) for t in texts)))
