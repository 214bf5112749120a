"""REST carries each operation's ``usage`` (issue #21): a real ``mem7 serve`` over loopback, its LLM
the loopback OpenAI server, its embedder the core's ``hash`` (which reports no tokens)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _serve import ADMIN, ServeProcess, clean_env


@pytest.fixture
def served(tmp_path: Path, openai_server: Any) -> Iterator[ServeProcess]:
    env = clean_env(tmp_path, {"OPENAI_BASE_URL": openai_server.url, "OPENAI_API_KEY": "sk-test",
                               "MEM7_LLM__CONFIG__MAX_RETRIES": "0"})
    with ServeProcess(env) as server:
        yield server


def test_rest_results_carry_usage_and_openapi_declares_it(served: ServeProcess, openai_server: Any) -> None:
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30) as http:
        r = http.post("/memories", json={"messages": "I am allergic to peanuts. I love hiking.", "user_id": "dan"})
        assert r.status_code == 200, r.text
        usage = r.json()["usage"]
        (chat,) = openai_server.requests("chat")
        llm, emb = usage["models"]
        assert (llm["kind"], llm["provider"], llm["calls"]) == ("llm", "openai", 1)
        assert (llm["prompt_tokens"], llm["completion_tokens"]) == (chat.usage["prompt_tokens"],
                                                                    chat.usage["completion_tokens"])
        assert (emb["kind"], emb["provider"], emb["calls"], emb["texts"]) == ("embedder", "hash", 1, 2)
        assert "embedding_tokens" not in emb  # the hash embedder reports none (None is left out of REST bodies)
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

        found = http.post("/memories/search", json={"query": "what is dan allergic to", "user_id": "dan"})
        assert found.json()["usage"]["calls"] == 1
        memory_id = found.json()["results"][0]["id"]
        changed = http.put(f"/memories/{memory_id}", json={"text": "I am allergic to cashews"})
        assert changed.status_code == 200 and changed.json()["usage"]["models"][0]["texts"] == 1
        assert "usage" not in http.delete(f"/memories/{memory_id}").json()

        schemas = http.get("/openapi.json").json()["components"]["schemas"]
        assert {"UsageReport", "ModelUsage"} <= set(schemas)
        for result in ("AddResult", "SearchResult", "UpdateResult"):
            assert "usage" in schemas[result]["properties"], result
