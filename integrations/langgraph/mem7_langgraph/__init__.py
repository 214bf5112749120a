"""mem7 for LangGraph and LangChain.

- :class:`Mem7Store`: a LangGraph ``BaseStore`` whose items are mem7 memories (namespaces map to
  mem7 scopes: ``("users", "alice")`` is ``user_id="alice"``).
- :func:`memory_tools`: ``save_memory`` and ``search_memory`` as LangChain tools.
"""

from __future__ import annotations

from .store import SCOPE_KINDS, Mem7Store, NamespaceScopeError, namespace_scope
from .tools import memory_tools

__all__ = ["SCOPE_KINDS", "Mem7Store", "NamespaceScopeError", "memory_tools", "namespace_scope"]
