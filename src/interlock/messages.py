"""Porting alias of LangChain's `langchain.messages`: `from interlock.messages import ...`."""

from interlock.agent import messages as _messages
from interlock.agent.messages import *  # noqa: F403 - the alias re-exports exactly that API

__all__ = list(_messages.__all__)
