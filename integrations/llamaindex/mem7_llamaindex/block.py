"""``Mem7MemoryBlock``: a memory block for ``llama_index.core.memory.Memory`` backed by mem7.

LlamaIndex's ``Memory`` keeps the recent conversation (its short-term FIFO queue, in a SQL chat
store) and, when the queue outgrows its token limit, flushes the oldest messages to its memory
blocks (``aput``); each time the agent reads the memory (``aget``), every block is asked for text
to put in front of the conversation (in the system message, or the latest user message).

This block hands the flushed user and assistant messages to mem7's ``add`` (one call per flush:
with ``infer=True`` mem7's LLM extracts the facts worth keeping and reconciles them with what is
stored), and answers ``aget`` with the scope's memories most relevant to the latest messages,
found with mem7's ``search``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.memory import BaseMemoryBlock

from mem7_core import AddResponse
from mem7_core.frameworks import (
    MemoryLike,
    ScopedMemory,
    check_memory,
    check_options,
    check_scope,
    memory_lines,
    scope_ids,
)

__all__ = ["MAX_QUERY_CHARS", "Mem7MemoryBlock"]

MAX_QUERY_CHARS = 4_000
"""The search query is the text of the latest messages, cut to its last this-many characters."""

_ROLES = (MessageRole.USER, MessageRole.ASSISTANT)


def _text(message: ChatMessage) -> str:
    """The text of a user or assistant message (its text blocks), else ``""`` (tool results,
    system prompts, a tool-call-only assistant message, images)."""
    if message.role not in _ROLES:
        return ""
    return (message.content or "").strip()


class Mem7MemoryBlock(BaseMemoryBlock[str]):
    """Long-term memory from mem7, for ``Memory.from_defaults(memory_blocks=[...])``.

    :param memory: a mem7 ``AsyncMemory`` (awaited on the agent's loop) or ``Memory`` (run in a
        worker thread).
    :param user_id: the scope memories are stored in and searched (at least one of the three ids).
    :param infer: as mem7's ``add``: ``True`` extracts and reconciles facts with the engine's
        LLM, ``False`` stores each message verbatim.
    :param limit: at most this many memories are put in the prompt.
    :param threshold: leave out memories scoring below it (see mem7's ``search``).
    :param query_messages: how many of the latest user / assistant messages make the search query.
    :param metadata: stored with every memory the block creates (with the LlamaIndex
        ``session_id`` when the ``Memory`` gives one).
    :param name: the block's name: the tag its text is wrapped in inside the prompt.
    :param priority: LlamaIndex's block priority (``0``, the default, is never truncated when the
        memory is over its token limit).
    :param accept_short_term_memory: ``False`` ignores the messages flushed from the short-term
        queue (the block then only reads).

    If mem7's ``add`` fails, the error propagates (the agent's step fails) and the messages are
    kept: they are added with the next flush, or by :meth:`flush`. ``last_added`` is what the last
    ``add`` returned.
    """

    name: str = Field(default="mem7_memories", description="The name of the memory block.")
    memory: MemoryLike = Field(exclude=True, description="The mem7 engine (Memory or AsyncMemory).")
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    infer: bool = True
    limit: int = 5
    threshold: float | None = None
    query_messages: int = 3
    metadata: dict[str, Any] = Field(default_factory=dict)

    _pending: list[dict[str, str]] = PrivateAttr(default_factory=list)
    _pending_meta: dict[str, Any] = PrivateAttr(default_factory=dict)
    _last_added: AddResponse | None = PrivateAttr(default=None)

    def __init__(
        self,
        memory: MemoryLike,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        infer: bool = True,
        limit: int = 5,
        threshold: float | None = None,
        query_messages: int = 3,
        metadata: Mapping[str, Any] | None = None,
        name: str = "mem7_memories",
        description: str | None = None,
        priority: int = 0,
        accept_short_term_memory: bool = True,
    ) -> None:
        where = "Mem7MemoryBlock"
        check_memory(where, memory)
        check_scope(where, user_id, agent_id, run_id)
        meta = check_options(where, infer=infer, limit=limit, metadata=metadata)
        if isinstance(query_messages, bool) or not isinstance(query_messages, int) or query_messages < 1:
            raise ValueError(f"{where}: query_messages must be a positive int, got {query_messages!r}")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
            raise TypeError(f"{where}: threshold must be a number or None, got {threshold!r}")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(
                f"{where}: name must be a word (letters, digits, underscores: it becomes the prompt's "
                f"<{name}> tag), got {name!r}"
            )
        super().__init__(
            memory=memory, user_id=user_id, agent_id=agent_id, run_id=run_id, infer=infer, limit=limit,
            threshold=threshold, query_messages=query_messages, metadata=meta, name=name,
            description=description, priority=priority, accept_short_term_memory=accept_short_term_memory,
        )

    @property
    def scope(self) -> dict[str, str]:
        """The mem7 scope (``user_id`` / ``agent_id`` / ``run_id``) the block reads and writes."""
        return scope_ids(self.user_id, self.agent_id, self.run_id)

    def _scoped(self) -> ScopedMemory:
        return ScopedMemory(self.memory, self.scope)

    @property
    def pending(self) -> list[dict[str, str]]:
        """Messages handed to the block but not yet stored in mem7 (after a failed ``add``; a copy)."""
        return [dict(m) for m in self._pending]

    @property
    def last_added(self) -> AddResponse | None:
        """What mem7's ``add`` returned for the last batch (``None`` before the first)."""
        return self._last_added

    # ------------------------------------------------------------------ the memory block protocol
    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        """The scope's memories most relevant to the latest messages, one ``- memory`` line each
        (``""`` when there is nothing to search with, or nothing matched)."""
        texts = [t for t in (_text(m) for m in messages or []) if t]
        query = "\n".join(texts[-self.query_messages:])[-MAX_QUERY_CHARS:].strip()
        if not query:
            return ""
        found = await self._scoped().search(query, limit=self.limit, threshold=self.threshold)
        return memory_lines(found["results"])

    async def _aput(self, messages: list[ChatMessage]) -> None:
        """Add the user and assistant messages among ``messages`` to mem7, in one ``add``."""
        for message in messages:
            text = _text(message)
            if text:
                self._pending.append({"role": message.role.value, "content": text})
            session_id = message.additional_kwargs.get("session_id")
            if isinstance(session_id, str) and session_id:
                self._pending_meta["session_id"] = session_id
        await self.flush()

    async def flush(self) -> AddResponse | None:
        """Hand the pending messages to mem7's ``add`` now (``None`` when there are none).

        On failure the messages stay pending and the error propagates.
        """
        if not self._pending:
            return None
        batch = list(self._pending)
        meta = {**self._pending_meta, **self.metadata}
        result = await self._scoped().add(batch, infer=self.infer, metadata=meta)
        del self._pending[: len(batch)]
        self._last_added = result
        return result
