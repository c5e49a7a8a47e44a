"""Provider families by name, and where their API key and base URL come from.

Both `init_chat_model` and direct construction (`ChatOpenAI(...)`, `ChatAnthropic(...)`)
resolve settings here: the argument, else `<PROVIDER>_API_KEY` / `<PROVIDER>_BASE_URL` in the
environment, else the same names in a `.env` file in the working directory (read, never
loaded into `os.environ`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from interlock._dotenv import read_dotenv
from interlock.agent.models.errors import MissingAPIKey, ModelError

__all__ = ["PROVIDERS", "Provider", "canonical_provider", "infer_provider", "resolve_connection"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    """How to reach one provider family."""

    name: str
    """Name used in `"provider:model"` strings."""
    wire: str
    """`"openai"` (chat completions) or `"anthropic"` (Messages API)."""
    base_url: str | None
    """Default base URL; `None` means the caller must give one."""
    needs_key: bool = True
    """Whether a request without an API key is pointless (local servers need none)."""

    @property
    def key_var(self) -> str:
        """The environment variable holding the API key, e.g. `DEEPSEEK_API_KEY`."""
        return f"{self.name.upper().replace('-', '_')}_API_KEY"

    @property
    def url_var(self) -> str:
        """The environment variable overriding the base URL, e.g. `OPENAI_BASE_URL`."""
        return f"{self.name.upper().replace('-', '_')}_BASE_URL"


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(name="openai", wire="openai", base_url="https://api.openai.com/v1"),
        Provider(name="deepseek", wire="openai", base_url="https://api.deepseek.com"),
        Provider(name="openrouter", wire="openai", base_url="https://openrouter.ai/api/v1"),
        Provider(
            name="ollama", wire="openai", base_url="http://localhost:11434/v1", needs_key=False
        ),
        Provider(name="openai-compatible", wire="openai", base_url=None, needs_key=False),
        Provider(name="anthropic", wire="anthropic", base_url="https://api.anthropic.com"),
    )
}

_ALIASES = {
    "vllm": "openai-compatible",
    "llamacpp": "openai-compatible",
    "llama.cpp": "openai-compatible",
    "lmstudio": "openai-compatible",
    "compatible": "openai-compatible",
    "openai_compatible": "openai-compatible",
}


def canonical_provider(name: str) -> str:
    """The registered name of a provider (aliases such as `vllm` map to `openai-compatible`)."""
    lowered = name.strip().lower()
    return _ALIASES.get(lowered, lowered)


def infer_provider(model: str) -> str | None:
    """The provider a bare model name implies, or `None`.

    Example:
        >>> infer_provider("gpt-4o-mini"), infer_provider("claude-sonnet-4"), infer_provider("x")
        ('openai', 'anthropic', None)
    """
    name = model.lower()
    if name.startswith(("gpt-", "o1", "o3", "o4", "chatgpt")):
        return "openai"
    if name.startswith("claude"):
        return "anthropic"
    if name.startswith("deepseek"):
        return "deepseek"
    return None


def _lookup(var: str, dotenv: Mapping[str, str]) -> str | None:
    return os.environ.get(var) or dotenv.get(var) or None


def resolve_connection(
    provider: str, *, api_key: str | None, base_url: str | None
) -> tuple[str | None, str]:
    """`(api_key, base_url)` for `provider`, from the arguments, the environment or `.env`.

    Raises `MissingAPIKey` (naming the variable) when the provider needs a key and none is
    found, and `ModelError` when no base URL is known. No request is ever sent here.

    Example:
        >>> resolve_connection("ollama", api_key=None, base_url=None)
        (None, 'http://localhost:11434/v1')
    """
    spec = PROVIDERS.get(canonical_provider(provider))
    if spec is None:  # a custom name for some chat-completions server
        spec = Provider(name=provider, wire="openai", base_url=None, needs_key=False)
    dotenv = read_dotenv(".env") if (api_key is None or base_url is None) else {}
    key = api_key if api_key is not None else _lookup(spec.key_var, dotenv)
    url = base_url or _lookup(spec.url_var, dotenv) or spec.base_url
    if spec.name == "openai-compatible" and url is None:
        url = _lookup("OPENAI_BASE_URL", dotenv)
        key = key or _lookup("OPENAI_API_KEY", dotenv)
    if url is None:
        raise ModelError(
            f"provider {spec.name!r} has no default address: pass base_url= "
            f"(or set {spec.url_var}), e.g. base_url='http://localhost:8000/v1'"
        )
    if spec.needs_key and not key:
        raise MissingAPIKey(
            f"no API key for {spec.name}: set {spec.key_var} in the environment or in .env, "
            f"or pass api_key="
        )
    return key, url.rstrip("/")
