"""``Mem7Session``: an OpenAI Agents SDK ``Session`` that keeps the conversation and feeds mem7.

The SDK calls ``add_items`` once per step of a run: the user's input, then each model response
with its tool calls and outputs. The session stores every item in its history (another
``Session``, by default the SDK's in-memory ``SQLiteSession``) and collects the text of user and
assistant messages; when an assistant message arrives, the exchange so far is handed to mem7's
``add`` in one call (one fact extraction per exchange, not one per step). Tool calls, tool
outputs and reasoning items stay in the history only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents import SessionSettings, SQLiteSession
from agents.items import TResponseInputItem
from agents.memory import Session

from mem7_core import AddResponse
from mem7_core.frameworks import MemoryLike, ScopedMemory

__all__ = ["Mem7Session"]


def _message_text(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(role, text)`` of a user or assistant message item, else ``None`` (tool calls, reasoning...)."""
    role = item.get("role")
    if role not in ("user", "assistant") or item.get("type", "message") != "message":
        return None
    content = item.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):  # input_text / output_text parts; images, files, refusals are skipped
        text = "\n".join(
            p["text"] for p in content
            if isinstance(p, Mapping) and p.get("type") in ("input_text", "output_text", "text")
            and isinstance(p.get("text"), str)
        )
    else:
        return None
    text = text.strip()
    return (role, text) if text else None


class Mem7Session:
    """A ``Session`` for ``Runner.run(..., session=...)`` that also remembers in mem7.

    :param session_id: the conversation's id (also stored as ``session_id`` metadata on the
        memories it creates).
    :param memory: a mem7 ``AsyncMemory`` or ``Memory``.
    :param user_id: the scope the memories are stored in (at least one of the three ids).
    :param history: where the conversation items are kept; default: the SDK's
        ``SQLiteSession(session_id)`` in memory. Pass e.g. ``SQLiteSession(id, "chats.db")`` to keep
        them on disk.
    :param infer: as mem7's ``add``: ``True`` extracts and reconciles facts with the engine's LLM,
        ``False`` stores each message verbatim.
    :param metadata: stored with every memory the session creates.
    :param session_settings: the SDK's settings (its ``limit`` applies to ``get_items``).

    Memories are long-term: ``pop_item`` and ``clear_session`` change the conversation, not what
    was already remembered (use the engine's ``delete`` / ``delete_all`` for that). If mem7's
    ``add`` fails, ``add_items`` raises after the items are stored in the history, and the
    messages are kept to be added with the next exchange (or by :meth:`flush`).
    """

    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        memory: MemoryLike,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        history: Session | None = None,
        infer: bool = True,
        metadata: Mapping[str, Any] | None = None,
        session_settings: SessionSettings | None = None,
    ) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise ValueError(f"Mem7Session: session_id must be a non-empty string, got {session_id!r}")
        if not isinstance(infer, bool):
            raise TypeError(f"Mem7Session: infer must be True or False, got {infer!r}")
        if history is not None and not isinstance(history, Session):
            raise TypeError(
                "Mem7Session: history must be an Agents SDK Session (get_items, add_items, pop_item, "
                f"clear_session), got {type(history).__name__}; or leave it unset for an in-memory one"
            )
        meta = {"session_id": session_id, **(metadata or {})}
        self._bound = ScopedMemory.of("Mem7Session", memory, user_id, agent_id, run_id, meta)
        self.session_id = session_id
        self.session_settings = session_settings
        self.history: Session = history if history is not None else SQLiteSession(session_id)
        self.infer = infer
        self._pending: list[dict[str, str]] = []
        self.last_added: AddResponse | None = None
        """What mem7's ``add`` returned for the last exchange handed to it (``None`` before the first)."""

    # ---------------------------------------------------------------------- the Session protocol
    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The conversation (the latest ``limit`` items, in order; all when ``None``)."""
        if limit is None and self.session_settings is not None:
            limit = self.session_settings.limit
        return await self.history.get_items(limit)

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Store ``items``; when an assistant message is among them, add the exchange to mem7."""
        await self.history.add_items(items)
        answered = False
        for item in items:
            msg = _message_text(item) if isinstance(item, Mapping) else None
            if msg is not None:
                self._pending.append({"role": msg[0], "content": msg[1]})
                answered = answered or msg[0] == "assistant"
        if answered:
            await self.flush()

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the latest item of the conversation (a message not yet handed to
        mem7 is not added; one already added stays remembered)."""
        item = await self.history.pop_item()
        msg = _message_text(item) if isinstance(item, Mapping) else None
        if msg is not None and self._pending and self._pending[-1] == {"role": msg[0], "content": msg[1]}:
            self._pending.pop()
        return item

    async def clear_session(self) -> None:
        """Forget the conversation (and messages not yet handed to mem7); memories stay."""
        await self.history.clear_session()
        self._pending.clear()

    # ---------------------------------------------------------------------- mem7
    @property
    def pending(self) -> list[dict[str, str]]:
        """User and assistant messages not yet handed to mem7 (a copy)."""
        return [dict(m) for m in self._pending]

    async def flush(self) -> AddResponse | None:
        """Hand the pending messages to mem7's ``add`` now (``None`` when there are none).

        On failure the messages stay pending and the error propagates.
        """
        if not self._pending:
            return None
        batch = list(self._pending)
        result = await self._bound.add(batch, infer=self.infer)
        del self._pending[: len(batch)]
        self.last_added = result
        return result
