"""mem7 for the OpenAI Agents SDK (``openai-agents``, module ``agents``).

- :func:`memory_tools` (and :func:`save_memory_tool` / :func:`search_memory_tool`): function tools
  an agent calls to save and search long-term memories, bound to a mem7 engine and a scope.
- :class:`Mem7Session`: a ``Session`` for ``Runner.run(..., session=...)`` that keeps the
  conversation and adds each exchange to mem7.

Both take a mem7 ``AsyncMemory`` or ``Memory``; results are mem7's plain dicts.
"""

from __future__ import annotations

from .session import Mem7Session
from .tools import memory_tools, save_memory_tool, search_memory_tool

__all__ = ["Mem7Session", "memory_tools", "save_memory_tool", "search_memory_tool"]
