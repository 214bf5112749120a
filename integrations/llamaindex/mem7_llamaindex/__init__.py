"""mem7 for LlamaIndex (``llama-index-core``).

- :class:`Mem7MemoryBlock`: a memory block for ``llama_index.core.memory.Memory``: the messages the
  memory flushes from its short-term queue go to mem7's ``add``; each read of the memory puts the
  scope's memories most relevant to the latest messages in the prompt.
- :func:`memory_tools` (and :func:`save_memory_tool` / :func:`search_memory_tool`): ``FunctionTool``s
  an agent calls to save and search long-term memories, bound to a mem7 engine and a scope.

Both take a mem7 ``AsyncMemory`` or ``Memory``; results are mem7's plain dicts.
"""

from __future__ import annotations

from .block import MAX_QUERY_CHARS, Mem7MemoryBlock
from .tools import memory_tools, save_memory_tool, search_memory_tool

__all__ = ["MAX_QUERY_CHARS", "Mem7MemoryBlock", "memory_tools", "save_memory_tool", "search_memory_tool"]
