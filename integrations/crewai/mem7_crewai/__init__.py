"""mem7 for CrewAI (``crewai`` 1.x).

:class:`Mem7Memory` is a ``crewai.memory.Memory`` backed by a mem7 ``Memory`` and one scope: pass it
as ``Crew(memory=...)`` or ``Agent(memory=...)``. What agents save after each task goes through
mem7's ``add`` (fact extraction and reconciliation), what they recall before a task and through
CrewAI's memory tools comes from mem7's ``search``.
"""

from __future__ import annotations

from .memory import Mem7Memory

__all__ = ["Mem7Memory"]
