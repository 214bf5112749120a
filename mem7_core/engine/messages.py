"""Normalising what callers pass as ``messages`` into a list of ``{role, content}`` dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ROLES = ("system", "user", "assistant", "tool")


def normalise_messages(messages: Any) -> list[dict[str, Any]]:
    """Accept a string, a dict, or a list of dicts / ``(role, content)`` pairs / strings.

    :raises ValueError: naming the bad element and the accepted shapes.
    """
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if isinstance(messages, Mapping):
        messages = [messages]
    if not isinstance(messages, Sequence) or isinstance(messages, (bytes, bytearray)):
        raise ValueError(
            f"messages must be a string, a dict {{role, content}} or a list of them, got {type(messages).__name__}"
        )
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        if isinstance(m, str):
            out.append({"role": "user", "content": m})
            continue
        if isinstance(m, (tuple, list)) and len(m) == 2 and isinstance(m[0], str):
            m = {"role": m[0], "content": m[1]}
        if not isinstance(m, Mapping):
            raise ValueError(
                f"messages[{i}] must be a dict, a (role, content) pair or a string, got {type(m).__name__}"
            )
        role = str(m.get("role", "user")).lower()
        if role not in ROLES:
            raise ValueError(f"messages[{i}].role must be one of {ROLES}, got {role!r}")
        content = m.get("content")
        if content is None:
            content = ""
        if isinstance(content, Mapping) and "type" in content:  # one part, as mem0 writes an image turn
            content = [dict(content)]
        if not isinstance(content, (str, list)):
            raise ValueError(f"messages[{i}].content must be a string or a list of parts, got {type(content).__name__}")
        msg: dict[str, Any] = {"role": role, "content": content}
        if m.get("name"):
            msg["name"] = str(m["name"])
        out.append(msg)
    return out


def text_of(content: str | list[Any]) -> str:
    """The text of a message's content (text parts joined; image parts left out)."""
    if isinstance(content, str):
        return content
    parts = []
    for p in content:
        if isinstance(p, str):
            parts.append(p)
        elif isinstance(p, Mapping) and p.get("type") == "text":
            parts.append(str(p.get("text", "")))
    return "\n".join(s for s in parts if s)


def image_parts(content: str | list[Any]) -> list[dict[str, Any]]:
    """The image parts (``{"type": "image_url", ...}``) of a message's content."""
    if isinstance(content, str):
        return []
    return [dict(p) for p in content if isinstance(p, Mapping) and p.get("type") == "image_url"]
