"""mem7 as a drop-in for the original mem7 (0.3) and for mem0.

Their documented Python runs here as written — only the server URL differs (the loopback
OpenAI-compatible server stands in for Ollama / OpenAI) and, for mem0, the import line
(``from mem0 import Memory`` → ``from mem7 import Memory``). Every result goes through ``json.dumps``.
Also: config errors name the field in both shapes, mem0's keyword arguments and errors, and
``Memory()`` with no config persisting vectors and history together in the embedded default's
data directory.
"""

# ruff: noqa: I001  (the snippets' imports stay as their docs write them)
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from mem7_core.config import MemoryConfig as CoreConfig
from mem7_core.config import load_config
from mem7_core.errors import ConfigError, MemoryNotFoundError
from mem7_core.testing.openai_server import OpenAIServer

ENV_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "MEM7_CONFIG", "MEM7_DATA_DIR")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in __import__("os").environ if v.startswith("MEM7_")]:
        monkeypatch.delenv(var, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # nothing may land in the working directory (the old ./mem7_history.db)


@pytest.fixture
def ollama_like() -> Any:
    """A loopback server answering like Ollama with mxbai-embed-large: 1024-dim vectors."""
    with OpenAIServer(embedding_dims=1024) as srv:
        yield srv


def dumps(result: Any) -> str:
    return json.dumps(result)


def _no_files_in_cwd() -> None:
    assert list(Path.cwd().iterdir()) == []


# ------------------------------------------------------------------ the original mem7's README
def test_original_quick_start_sync(ollama_like: OpenAIServer) -> None:
    url = ollama_like.url  # the README has "http://localhost:11434/v1"
    from mem7 import Memory
    from mem7.config import MemoryConfig, LlmConfig, EmbeddingConfig

    config = MemoryConfig(
        llm=LlmConfig(
            base_url=url,
            api_key="ollama",
            model="qwen2.5:7b",
        ),
        embedding=EmbeddingConfig(
            base_url=url,
            api_key="ollama",
            model="mxbai-embed-large",
            dims=1024,
        ),
    )

    m = Memory(config=config)
    added = m.add("I love playing tennis and my coach is Sarah.", user_id="alice")
    results = m.search("What sports does Alice play?", user_id="alice")

    dumps(added)
    dumps(results)
    assert {a["event"] for a in added["results"]} == {"ADD"}
    assert any("tennis" in r["memory"] for r in results["results"])
    listed = m.get_all(user_id="alice")
    dumps(listed)
    assert sorted(i["memory"] for i in listed["results"]) == sorted(a["memory"] for a in added["results"])
    # the original never sent `dimensions` (most OpenAI-compatible servers refuse it for such models)
    emb = ollama_like.last_request("embeddings")
    assert "dimensions" not in emb.body and emb.body["model"] == "mxbai-embed-large"
    assert ollama_like.last_request("chat").body["model"] == "qwen2.5:7b"
    assert ollama_like.last_request("chat").headers["authorization"] == "Bearer ollama"
    assert ollama_like.errors == []
    m.close()
    _no_files_in_cwd()  # flat in memory, as in the original, and its history with it


async def test_original_quick_start_async(ollama_like: OpenAIServer) -> None:
    url = ollama_like.url
    from mem7 import AsyncMemory
    from mem7.config import MemoryConfig, LlmConfig, EmbeddingConfig

    async def main():
        config = MemoryConfig(
            llm=LlmConfig(
                base_url=url,
                api_key="ollama",
                model="qwen2.5:7b",
            ),
            embedding=EmbeddingConfig(
                base_url=url,
                api_key="ollama",
                model="mxbai-embed-large",
                dims=1024,
            ),
        )

        m = await AsyncMemory.create(config=config)
        await m.add("I love playing tennis and my coach is Sarah.", user_id="alice")
        results = await m.search("What sports does Alice play?", user_id="alice")
        await m.aclose()
        return results

    results = await main()
    dumps(results)
    assert any("tennis" in r["memory"] for r in results["results"])


def test_original_graph_snippet(ollama_like: OpenAIServer) -> None:
    url = ollama_like.url
    from mem7 import Memory
    from mem7.config import MemoryConfig, LlmConfig, EmbeddingConfig, GraphConfig

    config = MemoryConfig(
        llm=LlmConfig(base_url=url, api_key="ollama", model="qwen2.5:7b"),
        embedding=EmbeddingConfig(base_url=url, api_key="ollama", model="mxbai-embed-large", dims=1024),
        graph=GraphConfig(provider="flat"),
    )

    m = Memory(config=config)
    added = m.add("I love playing tennis and my coach is Sarah.", user_id="alice")

    results = m.search("What sports does Alice play?", user_id="alice")
    dumps(added)
    dumps(results)
    assert results["memories"] == results["results"]
    assert isinstance(results["relations"], list)
    m.close()


def test_original_decay_snippet(ollama_like: OpenAIServer) -> None:
    url = ollama_like.url
    from mem7 import Memory
    from mem7.config import MemoryConfig, DecayConfig, LlmConfig, EmbeddingConfig

    config = MemoryConfig(
        llm=LlmConfig(base_url=url, api_key="ollama", model="qwen2.5:7b"),
        embedding=EmbeddingConfig(base_url=url, api_key="ollama", model="mxbai-embed-large", dims=1024),
        decay=DecayConfig(enabled=True),
    )
    m = Memory(config=config)
    assert m.engine.config.decay.enabled is True
    dumps(m.add("I love playing tennis and my coach is Sarah.", user_id="alice"))
    results = m.search("What sports does Alice play?", user_id="alice")
    dumps(results)
    assert results["results"] and all(r["score"] > 0 for r in results["results"])
    m.close()


def test_original_context_snippets(ollama_like: OpenAIServer) -> None:
    url = ollama_like.url
    from mem7 import Memory
    from mem7.config import MemoryConfig, ContextConfig, LlmConfig, EmbeddingConfig

    config = MemoryConfig(
        llm=LlmConfig(base_url=url, api_key="ollama", model="qwen2.5:7b"),
        embedding=EmbeddingConfig(base_url=url, api_key="ollama", model="mxbai-embed-large", dims=1024),
        context=ContextConfig(enabled=True),
    )
    m = Memory(config=config)
    assert m.engine.config.context.enabled is True
    dumps(m.add("I always investigate the root cause first. The Chrome CDP timeout is 30 seconds.", user_id="alice"))
    chats = ollama_like.count("chat")
    results = m.search("fix Chrome CDP timeout", user_id="alice", task_type="troubleshooting")
    dumps(results)
    assert results["results"]
    assert ollama_like.count("chat") == chats  # a given task_type skips the classification call
    m.close()

    weighted = ContextConfig(
        enabled=True,
        weights={
            "preference": {"troubleshooting": 0.1, "design": 1.0},
        },
    )
    cfg = load_config(MemoryConfig(context=weighted), environ={})
    assert cfg.context.matrix()["preference"]["troubleshooting"] == 0.1
    assert cfg.context.matrix()["factual"]["troubleshooting"] == 1.0  # other cells keep the defaults
    assert ContextConfig(enabled=True, weights=None).weights == {}


def test_original_vector_and_graph_backends_map() -> None:
    from mem7.config import EmbeddingConfig, GraphConfig, LlmConfig, MemoryConfig, VectorConfig

    flat = VectorConfig(provider="flat", dims=1024)
    upstash = VectorConfig(
        provider="upstash",
        collection_name="my-namespace",
        dims=1024,
        upstash_url="https://your-index.upstash.io",
        upstash_token="your-token",
    )
    neo4j = GraphConfig(
        provider="neo4j",
        neo4j_url="bolt://localhost:7687",
        neo4j_username="neo4j",
        neo4j_password="password",
    )
    kuzu = GraphConfig(provider="kuzu", kuzu_db_path="./my_graph.kuzu")
    graph_llm = GraphConfig(
        provider="flat",
        llm=LlmConfig(base_url="http://localhost:11434/v1", api_key="ollama", model="qwen2.5:3b"),
    )
    fastembed = EmbeddingConfig(provider="fastembed", model="AllMiniLML6V2", dims=384)

    cfg = load_config(MemoryConfig(vector=flat, graph=neo4j, embedding=fastembed), environ={})
    assert (cfg.vector_store.provider, cfg.vector_store.config) == ("flat", {"path": None})
    assert (cfg.graph_store.provider, cfg.graph_store.config) == (
        "neo4j", {"url": "bolt://localhost:7687", "username": "neo4j", "password": "password"}
    )
    assert (cfg.embedder.provider, cfg.embedder.config) == (
        "fastembed", {"model": "sentence-transformers/all-MiniLM-L6-v2", "embedding_dims": 384}
    )
    cfg = load_config(MemoryConfig(vector=upstash, graph=kuzu), environ={})
    assert (cfg.vector_store.provider, cfg.vector_store.config) == (
        "upstash", {"collection_name": "my-namespace", "url": "https://your-index.upstash.io", "token": "your-token", "dims": 1024}
    )
    assert (cfg.graph_store.provider, cfg.graph_store.config) == ("kuzu", {"path": "./my_graph.kuzu"})
    cfg = load_config(MemoryConfig(graph=graph_llm), environ={})
    assert cfg.graph_store.llm is not None and cfg.graph_store.llm.config["model"] == "qwen2.5:3b"
    assert MemoryConfig().to_json()  # the original's method


def test_original_fastembed_snippet_runs_offline(ollama_like: OpenAIServer) -> None:
    url = ollama_like.url
    from mem7 import Memory
    from mem7.config import MemoryConfig, LlmConfig, EmbeddingConfig

    config = MemoryConfig(
        llm=LlmConfig(base_url=url, api_key="ollama", model="qwen2.5:7b"),
        embedding=EmbeddingConfig(
            provider="fastembed",
            model="AllMiniLML6V2",  # or "BGEBaseENV15", "NomicEmbedTextV15", etc.
            dims=384,
        ),
    )
    m = Memory(config=config)
    dumps(m.add("I love playing tennis and my coach is Sarah.", user_id="alice"))
    hits = m.search("What sports does Alice play?", user_id="alice")
    assert "tennis" in hits["results"][0]["memory"]
    assert m.engine.embedder.name == "fastembed" and m.engine.embedder.dims == 384
    assert ollama_like.count("embeddings") == 0  # embedded locally
    m.close()


def test_original_shape_as_dict_and_file(ollama_like: OpenAIServer, tmp_path: Path) -> None:
    from mem7 import Memory

    url = ollama_like.url
    as_dict = {
        "llm": {"base_url": url, "api_key": "ollama", "model": "qwen2.5:7b"},
        "embedding": {"base_url": url, "api_key": "ollama", "model": "mxbai-embed-large", "dims": 1024},
        "history": {"db_path": str(tmp_path / "h.db")},
        "decay": {"enabled": True},
    }
    m = Memory.from_config(as_dict)
    dumps(m.add("I love playing tennis.", user_id="alice"))
    assert m.engine.history_store.name == "sqlite"
    m.close()
    assert (tmp_path / "h.db").exists()

    path = tmp_path / "mem7.json"
    path.write_text(json.dumps(as_dict))
    cfg = load_config(path, environ={})
    assert cfg.embedder.config["embedding_dims"] == 1024
    assert (cfg.history_store.provider, cfg.history_store.config) == ("sqlite", {"path": str(tmp_path / "h.db")})
    # the original's shape over the embedded default (the CLI's layering): flat stays in memory
    cfg = load_config(path, environ={}, base=CoreConfig.embedded(tmp_path / "data"))
    assert cfg.embedder.provider == "openai" and cfg.vector_store.config["path"] is None


def test_original_defaults_keep_vectors_and_history_together(tmp_path: Path) -> None:
    from mem7 import Memory
    from mem7.config import EmbeddingConfig, MemoryConfig, VectorConfig

    fast = EmbeddingConfig(provider="fastembed")
    m = Memory(config=MemoryConfig(llm=None, embedding=fast))
    assert m.engine.history_store.path == ":memory:"  # in memory like the flat store
    m.close()
    _no_files_in_cwd()
    # ours: persist the flat store; the history lands in the same database
    m = Memory(config=MemoryConfig(llm=None, embedding=fast, vector=VectorConfig(path=str(tmp_path / "v"))))
    mid = m.add("I love tennis", user_id="alice")["results"][0]["id"]
    m.close()
    m = Memory(config=MemoryConfig(llm=None, embedding=fast, vector=VectorConfig(path=str(tmp_path / "v"))))
    assert [i["id"] for i in m.get_all(user_id="alice")["results"]] == [mid]
    assert [e["event"] for e in m.history(mid)] == ["ADD"]
    m.close()


# ------------------------------------------------------------------------------ mem0's docs
def test_mem0_quick_start(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    monkeypatch.setenv("MEM7_DATA_DIR", str(tmp_path / "data"))

    from mem7 import Memory  # mem0: from mem0 import Memory

    m = Memory()

    messages = [
        {"role": "user", "content": "I'm planning to watch a movie tonight. Any recommendations?"},
        {"role": "assistant", "content": "How about thriller movies? They can be quite engaging."},
        {"role": "user", "content": "I'm not a big fan of thriller movies but I love sci-fi movies."},
        {"role": "assistant", "content": "Got it! I'll avoid thriller recommendations and suggest sci-fi movies in the future."},
    ]
    result = m.add(messages, user_id="alice", metadata={"category": "movies"})
    dumps(result)
    assert result["results"] and all(r["event"] == "ADD" for r in result["results"])

    all_memories = m.get_all(user_id="alice")
    dumps(all_memories)
    memory_id = all_memories["results"][0]["id"]

    specific_memory = m.get(memory_id)
    dumps(specific_memory)
    assert specific_memory["metadata"] == {"category": "movies"}

    related_memories = m.search(query="What do you know about me?", user_id="alice")
    dumps(related_memories)

    result = m.update(memory_id=memory_id, data="I love India, it is my favorite country.")
    dumps(result)
    assert m.get(memory_id)["memory"] == "I love India, it is my favorite country."

    history = m.history(memory_id=memory_id)
    dumps(history)
    assert [h["event"] for h in history] == ["ADD", "UPDATE"]

    dumps(m.delete(memory_id=memory_id))
    dumps(m.delete_all(user_id="alice"))
    assert m.get_all(user_id="alice")["results"] == []
    m.reset()
    assert openai_server.errors == []
    m.close()
    _no_files_in_cwd()


def _mem0_config(url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "llm": {"provider": "openai", "config": {"model": "gpt-4.1-nano", "temperature": 0.2, "max_tokens": 2000,
                                                 "openai_base_url": url, "api_key": "sk-test"}},
        "embedder": {"provider": "openai", "config": {"model": "text-embedding-3-small", "embedding_dims": 1536,
                                                      "openai_base_url": url, "api_key": "sk-test"}},
        "vector_store": {"provider": "flat", "config": {"collection_name": "test", "embedding_model_dims": 1536}},
        "history_db_path": str(tmp_path / "history.db"),
    }


def test_mem0_from_config_dict_and_common_calls(openai_server: OpenAIServer, tmp_path: Path) -> None:
    from mem7 import Memory

    config = _mem0_config(openai_server.url, tmp_path)
    m = Memory.from_config(config_dict=config)
    result = m.add("I'm vegetarian and allergic to nuts.", user_id="alice", enable_graph=False)
    dumps(result)
    raw = m.add([{"role": "user", "content": "Likes cricket"}], user_id="alice", infer=False)
    dumps(raw)
    assert raw["results"][0]["event"] == "ADD"
    related = m.search("what can alice eat?", user_id="alice", limit=3)
    dumps(related)
    for entry in related["results"]:
        assert isinstance(entry["memory"], str)
    with pytest.raises(ValueError):  # mem0 raises ValueError for an unknown id
        m.update(memory_id="00000000-0000-7000-8000-000000000000", data="x")
    with pytest.raises(KeyError):  # and mem7's own callers keep catching KeyError
        m.delete(memory_id="00000000-0000-7000-8000-000000000000")
    m.close()
    Memory.from_config(config=config).close()
    with pytest.raises(TypeError, match="config"):
        Memory.from_config()


async def test_mem0_async_from_config_dict(openai_server: OpenAIServer, tmp_path: Path) -> None:
    from mem7 import AsyncMemory

    m = AsyncMemory.from_config(config_dict=_mem0_config(openai_server.url, tmp_path))
    dumps(await m.add("I'm vegetarian.", user_id="alice", enable_graph=False))
    dumps(await m.get_all(user_id="alice"))
    await m.aclose()


def test_enable_graph(openai_server: OpenAIServer, tmp_path: Path) -> None:
    from mem7 import Memory

    config = {**_mem0_config(openai_server.url, tmp_path), "graph_store": {"provider": "flat", "config": {"threshold": 0.7}}}
    m = Memory.from_config(config_dict=config)
    assert m.engine.config.graph_store.threshold == 0.7
    chats = openai_server.count("chat")
    skipped = m.add("Alice's coach is Sarah.", user_id="alice", enable_graph=False)
    dumps(skipped)
    assert skipped.get("relations", []) == []
    vector_only = openai_server.count("chat") - chats
    chats = openai_server.count("chat")
    with_graph = m.add("Bob's coach is Tom.", user_id="bob", enable_graph=True)
    dumps(with_graph)
    assert openai_server.count("chat") - chats > vector_only  # the graph path ran this time
    m.close()

    m = Memory.from_config(config_dict=_mem0_config(openai_server.url, tmp_path))
    with pytest.raises(ConfigError, match=r"enable_graph=True\) needs a graph store"):
        m.add("x y", user_id="alice", enable_graph=True)
    dumps(m.add("Alice's coach is Sarah.", user_id="alice", enable_graph=False))
    m.close()


def test_graph_threshold_in_config() -> None:
    cfg = load_config({"graph_store": {"provider": "flat", "config": {"threshold": 0.8}}}, environ={})
    assert cfg.graph_store.threshold == 0.8 and "threshold" not in cfg.graph_store.config
    cfg = load_config({"graph_store": {"provider": "flat", "threshold": 0.6}}, environ={})
    assert cfg.graph_store.threshold == 0.6
    with pytest.raises(ConfigError, match=r"graph_store.config.threshold"):
        load_config({"graph_store": {"provider": "flat", "threshold": 0.6, "config": {"threshold": 0.8}}}, environ={})
    with pytest.raises(ConfigError, match="threshold"):
        load_config({"graph_store": {"provider": "flat", "config": {"threshold": 7}}}, environ={})


def test_not_found_error_is_key_and_value_error() -> None:
    exc = MemoryNotFoundError("abc")
    assert isinstance(exc, KeyError) and isinstance(exc, ValueError)
    assert str(exc) == "Memory 'abc' not found"  # not KeyError's quoted repr


# --------------------------------------------------------------------------- errors name fields
@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"embedding": {"dims": "many"}}, "embedding.dims"),
        ({"embedding": {"model": "m", "dimz": 3}}, "embedding.dimz"),
        ({"llm": {"temperature": 9}, "embedding": {}}, "llm.temperature"),
        ({"vector": {"provider": "chroma"}}, "Unsupported vector provider 'chroma'"),
        ({"vector": {"provider": "flat", "upstash_ur": "x"}}, "upstash_ur"),
        ({"graph": {"provider": "memgraph"}}, "Unsupported graph provider 'memgraph'"),
        ({"embedding": {"provider": "gemini"}}, "Unsupported embedding provider 'gemini'"),
        ({"reranker": {"provider": "llm"}, "vector": {}}, "reranker.base_url is required"),
        ({"history": {"db_path": 3}}, "history.db_path"),
        ({"decay": {"enabled": True, "decay_shape": 3}, "vector": {}}, "decay.decay_shape"),
        ({"embedding": {}, "embedder": {"provider": "openai"}}, "'embedding' (the original mem7's name) and 'embedder'"),
        ({"history": {}, "history_db_path": "x.db"}, "'history'"),
    ],
)
def test_original_shape_errors_name_the_field(config: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config, environ={})
    assert named in str(info.value)
    assert isinstance(info.value, ValueError)


def test_original_classes_validate_on_construction() -> None:
    from pydantic import ValidationError

    from mem7.config import EmbeddingConfig, LlmConfig, VectorConfig

    with pytest.raises(ValidationError, match="dims"):
        EmbeddingConfig(dims=-1)
    with pytest.raises(ValidationError, match="Unsupported LLM provider 'anthropic'"):
        LlmConfig(provider="anthropic")
    assert LlmConfig(provider="LM Studio").provider == "lmstudio"
    assert LlmConfig(provider="openai-compatible").provider == "openai"
    assert VectorConfig(provider="in-memory").provider == "flat"
    assert "api_key" not in repr(LlmConfig(api_key="secret"))


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"llm": None, "embedder": {"provider": "fastembed"}, "vector_store": {"provider": "flat", "config": {"pathh": "x"}}},
         "vector_store.config.pathh"),
        ({"llm": {"provider": "openai", "config": {"temperature": "hot", "api_key": "k"}},
          "embedder": {"provider": "fastembed"}}, "temperature"),
        ({"vectorstore": {"provider": "flat"}}, "vectorstore"),
        ({"graph_store": {"provider": "flat", "threshold": 3}}, "graph_store.threshold"),
    ],
)
def test_mem0_shape_errors_name_the_field(config: dict[str, Any], named: str) -> None:
    from mem7 import Memory

    with pytest.raises(ValueError) as info:
        Memory.from_config(config_dict=config).close()
    assert named in str(info.value)


# ------------------------------------------------------------------ Memory() with no config
def test_memory_with_no_config_is_the_embedded_default_and_persists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("MEM7_DATA_DIR", str(data))
    from mem7 import Memory

    with caplog.at_level(logging.INFO, logger="mem7.engine"):
        m = Memory()
    lines = [r.getMessage() for r in caplog.records if "no config given" in r.getMessage()]
    assert len(lines) == 1 and str(data) in lines[0] and "vectors and history" in lines[0]
    # the same config the CLI, `mem7 serve` and `mem7 mcp` open with no config
    assert m.engine.config == CoreConfig.embedded(data)
    assert m.engine.embedder.name == "fastembed" and m.engine.llm is None
    added = m.add("I prefer dark mode in every editor", user_id="bob")
    mid = added["results"][0]["id"]
    m.close()

    m = Memory()  # a restart: the memory and its history are both there
    assert [i["memory"] for i in m.get_all(user_id="bob")["results"]] == ["I prefer dark mode in every editor"]
    assert [e["event"] for e in m.history(mid)] == ["ADD"]
    assert m.search("editor settings", user_id="bob")["results"][0]["id"] == mid
    m.close()
    _no_files_in_cwd()
    assert data.is_dir()


def test_memory_with_no_config_shares_the_cli_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mem7_core import cli
    from mem7 import Memory

    data = tmp_path / "data"
    monkeypatch.setenv("MEM7_DATA_DIR", str(data))
    assert cli.main(["add", "I go surfing every weekend", "--user", "alice"]) in (0, None)
    m = Memory()
    assert [i["memory"] for i in m.get_all(user_id="alice")["results"]] == ["I go surfing every weekend"]
    m.close()
