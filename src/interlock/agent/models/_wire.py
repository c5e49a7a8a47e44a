"""`WireChatModel`: the HTTP plumbing every provider shares. A provider supplies its request
settings, a request codec and decoders; invoke/stream, sync and async, are written once."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from interlock.agent.messages import AIMessage, AIMessageChunk, BaseMessage
from interlock.agent.models._http import (
    HttpSettings,
    apost_json,
    astream_sse,
    post_json,
    stream_sse,
)
from interlock.agent.models._providers import canonical_provider, resolve_connection
from interlock.agent.models.base import BaseChatModel
from interlock.agent.models.errors import ModelResponseError

__all__ = ["END_OF_STREAM", "WireChatModel"]

END_OF_STREAM: Any = object()
"""Returned by a stream decoder when the provider signals the end."""

StreamDecoder = Callable[[str, str], Any]
"""`(event, data) -> AIMessageChunk | None | END_OF_STREAM`."""


class WireChatModel(BaseChatModel, ABC):
    """Base of the HTTP providers: connection settings shared by all of them.

    The API key and base URL are resolved at construction (argument, else
    `<PROVIDER>_API_KEY` / `<PROVIDER>_BASE_URL` in the environment, else `.env`), so a
    missing key raises `MissingAPIKey` before any request.
    """

    provider: str = "openai"
    """Provider family (`openai`, `deepseek`, `anthropic`, ...): picks defaults and env names."""

    def __init__(
        self,
        model: str,
        *,
        provider: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
        model_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.provider = canonical_provider(provider or type(self).provider)
        self.api_key, self.base_url = resolve_connection(
            self.provider, api_key=api_key, base_url=base_url
        )
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.model_kwargs = dict(model_kwargs or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, provider={self.provider!r})"

    def _http(self, url: str, headers: Mapping[str, str]) -> HttpSettings:
        """Request settings for `url` with this model's timeout and retry policy."""
        return HttpSettings(
            url=url,
            headers=headers,
            timeout=self.timeout,
            max_retries=self.max_retries,
            backoff=self.retry_backoff,
        )

    @abstractmethod
    def _settings(self) -> HttpSettings:
        """URL, headers, timeout and retries of a request."""
        ...

    @abstractmethod
    def _body(self, messages: list[BaseMessage], *, stream: bool) -> dict[str, Any]:
        """The JSON body of a request."""
        ...

    @abstractmethod
    def _decode(self, body: dict[str, Any]) -> AIMessage:
        """The answer of a plain request."""
        ...

    @abstractmethod
    def _stream_decoder(self) -> StreamDecoder:
        """A fresh decoder for one streamed answer."""
        ...

    def _decode_event(self, decode: StreamDecoder, event: str, data: str) -> Any:
        try:
            return decode(event, data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelResponseError(f"unreadable streamed event {data[:200]!r}: {exc}") from exc

    def _generate(self, messages: list[BaseMessage]) -> AIMessage:
        return self._decode(post_json(self._settings(), self._body(messages, stream=False)))

    async def _agenerate(self, messages: list[BaseMessage]) -> AIMessage:
        body = self._body(messages, stream=False)
        return self._decode(await apost_json(self._settings(), body))

    def _stream(self, messages: list[BaseMessage]) -> Iterator[AIMessageChunk]:
        decode = self._stream_decoder()
        for event, data in stream_sse(self._settings(), self._body(messages, stream=True)):
            chunk = self._decode_event(decode, event, data)
            if chunk is END_OF_STREAM:
                return
            if chunk is not None:
                yield chunk

    async def _astream(self, messages: list[BaseMessage]) -> AsyncIterator[AIMessageChunk]:
        decode = self._stream_decoder()
        async for event, data in astream_sse(self._settings(), self._body(messages, stream=True)):
            chunk = self._decode_event(decode, event, data)
            if chunk is END_OF_STREAM:
                return
            if chunk is not None:
                yield chunk
