"""The engine configuration every loopback benchmark measures: mem7-openai as LLM and 384-d embedder
against the loopback server, mem7-flat vectors, SQLite history."""

from __future__ import annotations

from typing import Any


def engine_config(url: str, api_key: str, history_path: str, *, vectors_path: str | None = None) -> dict[str, Any]:
    """``vectors_path`` None keeps the flat store in memory; a path persists it there."""
    # The direct transport (mem7-openai's default since issue #19; the SDK's public API costs ~0.5 ms
    # more CPU per embedding call and ~0.8 ms per chat call: bench/results/openai_direct.md), named
    # so these benchmarks measure the same path on checkouts from before the default changed.
    # Spelled `request_path` (the field's older name, still accepted as `transport`) so the benches
    # that also run older checkouts side by side (--old-code) build the same config on both.
    conn = {"base_url": url, "api_key": api_key, "request_path": "direct"}
    flat: dict[str, Any] = {"dims": 384} if vectors_path is None else {"path": vectors_path, "dims": 384}
    return {
        "llm": {"provider": "openai", "config": {**conn, "model": "gpt-4.1-nano"}},
        "embedder": {"provider": "openai", "config": {**conn, "model": "text-embedding-3-small", "embedding_dims": 384}},
        "vector_store": {"provider": "flat", "config": flat},
        "history_store": {"provider": "sqlite", "config": {"path": history_path}},
    }
