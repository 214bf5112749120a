"""Configuration (spec §2): shapes, files, MEM7_* variables, precedence, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from mem7_core.config import (
    ContextConfig,
    DecayConfig,
    EmbedderConfig,
    GraphStoreConfig,
    LlmConfig,
    MemoryConfig,
    config_from_env,
    load_config,
    read_config_file,
)
from mem7_core.errors import ConfigError

MEM0_STYLE = {
    "llm": {"provider": "openai", "config": {"model": "gpt-4.1-mini", "temperature": 0.1}},
    "embedder": {"provider": "openai", "config": {"model": "text-embedding-3-small", "embedding_dims": 1536}},
    "vector_store": {"provider": "flat", "config": {"collection_name": "c"}},
    "graph_store": {"provider": "kuzu", "config": {"db": "g.kuzu"}},
    "history_db_path": "/tmp/mem7-test/history.db",
    "custom_fact_extraction_prompt": "extract!",
    "custom_update_memory_prompt": "update!",
}


# ------------------------------------------------------------------------------------ shapes
def test_defaults():
    cfg = MemoryConfig()
    assert cfg.llm is not None and cfg.llm.provider == "openai"
    assert cfg.embedder.provider == "openai"
    assert cfg.vector_store.provider == "flat"
    assert cfg.history_store.provider == "sqlite"
    assert cfg.graph_store is None and cfg.reranker is None
    assert cfg.decay == DecayConfig() and cfg.decay.enabled is False
    assert cfg.context == ContextConfig() and cfg.context.enabled is False
    assert cfg.telemetry.enabled is False
    assert cfg.telemetry.otlp_endpoint == "http://localhost:4317"
    assert cfg.telemetry.service_name == "mem7"


def test_mem0_style_dict():
    cfg = load_config(MEM0_STYLE, environ={})
    assert cfg.llm is not None
    assert (cfg.llm.provider, cfg.llm.config) == ("openai", {"model": "gpt-4.1-mini", "temperature": 0.1})
    assert cfg.embedder.config["embedding_dims"] == 1536
    assert cfg.vector_store.config == {"collection_name": "c"}
    assert cfg.graph_store is not None and cfg.graph_store.provider == "kuzu"
    assert cfg.graph_store.threshold == 0.5
    assert cfg.custom_fact_extraction_prompt == "extract!"
    assert cfg.custom_update_memory_prompt == "update!"
    assert cfg == MemoryConfig.model_validate(MEM0_STYLE)


def test_history_db_path_feeds_sqlite_path():
    cfg = MemoryConfig.model_validate({"history_db_path": "/data/h.db"})
    assert cfg.history_store.provider == "sqlite"
    assert cfg.history_store.config == {"path": "/data/h.db"}
    # an explicit path wins
    cfg = MemoryConfig.model_validate(
        {"history_db_path": "/data/h.db", "history_store": {"provider": "sqlite", "config": {"path": "/x.db"}}}
    )
    assert cfg.history_store.config["path"] == "/x.db"
    # another history provider is left alone
    cfg = MemoryConfig.model_validate({"history_db_path": "/data/h.db", "history_store": {"provider": "postgres"}})
    assert "path" not in cfg.history_store.config


def test_typed_flat_extras_fold_into_config():
    llm = LlmConfig(provider="openai", model="gpt-4.1-nano", temperature=0.0)
    assert llm.config == {"model": "gpt-4.1-nano", "temperature": 0.0}
    assert llm.model_extra == {}
    # an explicit config entry wins over the same flat key
    llm = LlmConfig(model="flat", config={"model": "nested", "max_tokens": 10})
    assert llm.config == {"model": "nested", "max_tokens": 10}
    emb = EmbedderConfig.model_validate({"provider": "ollama", "model": "nomic", "config": {"dims": 768}})
    assert emb.config == {"model": "nomic", "dims": 768}
    cfg = MemoryConfig(llm=LlmConfig(provider="groq", model="llama"))
    assert cfg.llm is not None and cfg.llm.config == {"model": "llama"}


def test_typed_config_survives_env_layer():
    typed = MemoryConfig(llm=LlmConfig(model="kept"), decay=DecayConfig(enabled=True))
    cfg = load_config(typed, environ={"MEM7_CONTEXT__ENABLED": "true"})
    assert cfg.llm is not None and cfg.llm.config == {"model": "kept"}
    assert cfg.decay.enabled is True
    assert cfg.context.enabled is True


def test_typed_config_without_env_is_returned_as_is():
    typed = MemoryConfig(llm=LlmConfig(model="x"))
    assert load_config(typed, environ={}) is typed


def test_provider_names_normalised_and_required():
    assert LlmConfig(provider="  OpenAI ").provider == "openai"
    with pytest.raises(ValidationError, match="provider"):
        LlmConfig(provider="  ")


def test_graph_store_nested_llm():
    g = GraphStoreConfig.model_validate({"provider": "neo4j", "llm": {"provider": "openai", "model": "m"},
                                         "url": "bolt://x"})
    assert g.llm is not None and g.llm.config == {"model": "m"}
    assert g.config == {"url": "bolt://x"}


def test_llm_may_be_none():
    assert load_config({"llm": None}, environ={}).llm is None


# ------------------------------------------------------------------------------------ files
def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_file(tmp_path):
    p = _write(tmp_path / "mem7.yaml", "llm:\n  provider: ollama\n  config:\n    model: llama3\ndecay:\n  enabled: true\n")
    cfg = load_config(p, environ={})
    assert cfg.llm is not None and (cfg.llm.provider, cfg.llm.config) == ("ollama", {"model": "llama3"})
    assert cfg.decay.enabled is True
    assert read_config_file(tmp_path / "mem7.yaml")["decay"] == {"enabled": True}
    _write(tmp_path / "empty.yml", "")
    assert load_config(str(tmp_path / "empty.yml"), environ={}) == MemoryConfig()


def test_toml_file_top_level(tmp_path):
    p = _write(tmp_path / "mem7.toml", '[llm]\nprovider = "openai"\nmodel = "gpt-4.1-mini"\n\n[context]\nenabled = true\n')
    cfg = load_config(p, environ={})
    assert cfg.llm is not None and cfg.llm.config == {"model": "gpt-4.1-mini"}
    assert cfg.context.enabled is True


def test_toml_tool_mem7_table(tmp_path):
    p = _write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "app"\n\n[tool.mem7]\nhistory_db_path = "h.db"\n\n[tool.mem7.decay]\nenabled = true\n',
    )
    cfg = load_config(p, environ={})
    assert cfg.decay.enabled is True
    assert cfg.history_store.config["path"] == "h.db"


def test_toml_mem7_table(tmp_path):
    p = _write(tmp_path / "conf.toml", "[mem7.telemetry]\nenabled = true\n")
    assert load_config(p, environ={}).telemetry.enabled is True


def test_json_file(tmp_path):
    p = _write(tmp_path / "mem7.json", json.dumps(MEM0_STYLE))
    assert load_config(p, environ={}) == MemoryConfig.model_validate(MEM0_STYLE)


@pytest.mark.parametrize(
    "name, text, fragment",
    [
        ("bad.yaml", "llm: [unclosed", "not valid YAML"),
        ("bad.toml", "llm = = 1", "not valid TOML"),
        ("bad.json", "{nope}", "not valid JSON"),
        ("list.json", "[1, 2]", "mapping at top level"),
        ("conf.ini", "[llm]", ".yaml, .yml, .toml or .json"),
    ],
)
def test_bad_files(tmp_path, name, text, fragment):
    p = _write(tmp_path / name, text)
    with pytest.raises(ConfigError) as info:
        load_config(p, environ={})
    assert fragment in str(info.value)
    assert name in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_mem7_config_env_names_the_file(tmp_path):
    p = _write(tmp_path / "c.yaml", "decay:\n  enabled: true\n")
    cfg = load_config(None, environ={"MEM7_CONFIG": str(p)})
    assert cfg.decay.enabled is True
    cfg = load_config({"context": {"enabled": True}}, environ={"MEM7_CONFIG": str(p)})
    assert cfg.decay.enabled is True and cfg.context.enabled is True


def test_explicit_path_beats_mem7_config(tmp_path):
    a = _write(tmp_path / "a.yaml", "decay:\n  enabled: true\n")
    b = _write(tmp_path / "b.yaml", "context:\n  enabled: true\n")
    cfg = load_config(b, environ={"MEM7_CONFIG": str(a)})
    assert cfg.context.enabled is True and cfg.decay.enabled is False


def test_reads_os_environ_by_default(tmp_path, monkeypatch):
    p = _write(tmp_path / "c.json", '{"telemetry": {"service_name": "from-file"}}')
    monkeypatch.setenv("MEM7_CONFIG", str(p))
    monkeypatch.setenv("MEM7_DECAY__ENABLED", "true")
    cfg = load_config()
    assert cfg.telemetry.service_name == "from-file"
    assert cfg.decay.enabled is True


# ------------------------------------------------------------------------------------ environment
def test_env_nesting_and_json_values():
    env = {
        "MEM7_LLM__PROVIDER": "ollama",
        "MEM7_LLM__CONFIG__MODEL": "llama3.1",
        "MEM7_LLM__CONFIG__TEMPERATURE": "0.2",
        "MEM7_DECAY__ENABLED": "true",
        "MEM7_DECAY__BASE_HALF_LIFE_SECS": "3600",
        "MEM7_CONTEXT__WEIGHTS": '{"factual": {"design": 0.9}}',
        "MEM7_CANDIDATES_PER_FACT": "7",
        "MEM7_GRAPH_STORE": '{"provider": "kuzu"}',
        "OTHER_VAR": "ignored",
    }
    assert config_from_env(env) == {
        "llm": {"provider": "ollama", "config": {"model": "llama3.1", "temperature": 0.2}},
        "decay": {"enabled": True, "base_half_life_secs": 3600},
        "context": {"weights": {"factual": {"design": 0.9}}},
        "candidates_per_fact": 7,
        "graph_store": {"provider": "kuzu"},
    }
    cfg = load_config(None, environ=env)
    assert cfg.llm is not None and cfg.llm.config == {"model": "llama3.1", "temperature": 0.2}
    assert cfg.decay.base_half_life_secs == 3600
    assert cfg.context.matrix()["factual"]["design"] == 0.9
    assert cfg.candidates_per_fact == 7
    assert cfg.graph_store is not None and cfg.graph_store.provider == "kuzu"


def test_env_ignores_non_config_variables():
    env = {
        "MEM7_CONFIG": "/nonexistent-but-not-read-here.yaml",
        "MEM7_DISABLE_PLUGINS": "x",
        "MEM7_DATA_DIR": "/d",
        "MEM7_LOG_LEVEL": "DEBUG",
        "MEM7_": "x",
    }
    assert config_from_env(env) == {}


@pytest.mark.parametrize(
    "env",
    [
        {"MEM7_LLM": "openai", "MEM7_LLM__PROVIDER": "ollama"},
        {"MEM7_LLM__PROVIDER": "ollama", "MEM7_LLM": "openai"},
    ],
)
def test_env_conflict_is_an_error_in_any_order(env):
    with pytest.raises(ConfigError, match="conflicts"):
        config_from_env(env)


@pytest.mark.parametrize(
    "env",
    [
        {"MEM7_LLM": '{"provider": "openai", "config": {"model": "a"}}', "MEM7_LLM__CONFIG__MODEL": "b"},
        {"MEM7_LLM__CONFIG__MODEL": "b", "MEM7_LLM": '{"provider": "openai", "config": {"model": "a"}}'},
    ],
)
def test_env_json_section_and_specific_variable_merge_in_any_order(env):
    assert config_from_env(env) == {"llm": {"provider": "openai", "config": {"model": "b"}}}


# ------------------------------------------------------------------------------------ precedence
def test_precedence_defaults_file_env_explicit(tmp_path):
    p = _write(
        tmp_path / "c.yaml",
        "llm:\n  provider: ollama\n  config:\n    model: from-file\n    temperature: 0.5\n"
        "decay:\n  base_half_life_secs: 100\n  min_retention: 0.3\n"
        "telemetry:\n  service_name: file-svc\n",
    )
    env = {
        "MEM7_CONFIG": str(p),
        "MEM7_LLM__CONFIG__MODEL": "from-env",
        "MEM7_DECAY__BASE_HALF_LIFE_SECS": "200",
        "MEM7_TELEMETRY__SERVICE_NAME": "env-svc",
    }
    explicit = {"llm": {"config": {"model": "explicit"}}, "telemetry": {"service_name": "code-svc"}}
    cfg = load_config(explicit, environ=env)
    assert cfg.llm is not None
    assert cfg.llm.provider == "ollama"  # file only
    assert cfg.llm.config == {"model": "explicit", "temperature": 0.5}  # explicit > env > file
    assert cfg.decay.base_half_life_secs == 200  # env > file
    assert cfg.decay.min_retention == 0.3  # file > defaults
    assert cfg.decay.decay_shape == 0.8  # defaults
    assert cfg.telemetry.service_name == "code-svc"


def test_typed_explicit_beats_env():
    typed = MemoryConfig(decay=DecayConfig(enabled=False, base_half_life_secs=10))
    cfg = load_config(typed, environ={"MEM7_DECAY__BASE_HALF_LIFE_SECS": "99", "MEM7_DECAY__MIN_RETENTION": "0.2"})
    assert cfg.decay.base_half_life_secs == 10
    assert cfg.decay.min_retention == 0.2


def test_base_is_lowest_layer():
    base = {"decay": {"enabled": True, "min_retention": 0.2}}
    cfg = load_config({"decay": {"min_retention": 0.3}}, environ={}, base=base)
    assert cfg.decay.enabled is True and cfg.decay.min_retention == 0.3
    cfg = load_config(None, environ={"MEM7_DECAY__ENABLED": "false"}, base=MemoryConfig(decay=DecayConfig(enabled=True)))
    assert cfg.decay.enabled is False


# ------------------------------------------------------------------------------------ errors
def test_unknown_top_level_key_named():
    with pytest.raises(ConfigError) as info:
        load_config({"llm": {"provider": "openai"}, "vectorstore": {}}, environ={})
    assert "vectorstore" in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ConfigError, match="bogus"):
        load_config(None, environ={"MEM7_BOGUS": "1"})
    with pytest.raises(ValidationError, match="vectorstore"):
        MemoryConfig.model_validate({"vectorstore": {}})


def test_an_unknown_top_level_key_gets_the_fix():
    """A near-miss names the field meant; another engine's key says what mem7 does instead."""
    with pytest.raises(ConfigError) as info:
        load_config({"vectorstore": {"provider": "flat"}}, environ={})
    assert "(vectorstore: did you mean vector_store?)" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config({"enable_graph": True}, environ={})
    assert "enable_graph: mem0's switch" in str(info.value) and "graph_store: {provider: flat}" in str(info.value)
    with pytest.raises(ConfigError) as info:  # nothing close: the field is still named, no guess
        load_config({"zzqx": 1}, environ={})
    assert "zzqx" in str(info.value) and "did you mean" not in str(info.value)


@pytest.mark.parametrize(
    "data, field",
    [
        ({"decay": {"decay_shape": 0}}, "decay_shape"),
        ({"decay": {"decay_shape": 1.5}}, "decay_shape"),
        ({"decay": {"halflife": 3}}, "halflife"),
        ({"reranker": {"provider": "cohere", "top_k_multiplier": 0}}, "top_k_multiplier"),
        ({"candidates_per_fact": 0}, "candidates_per_fact"),
        ({"context": {"weights": {"factual": {"nope": 1}}}}, "nope"),
        ({"telemetry": {"endpoint": "x"}}, "endpoint"),
    ],
)
def test_bad_fields_named(data, field):
    with pytest.raises(ConfigError, match=field):
        load_config(data, environ={})


def test_bad_source_type():
    with pytest.raises(ConfigError, match="MemoryConfig, a dict or a file path"):
        load_config(42, environ={})  # type: ignore[arg-type]


def test_embedded_default(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    cfg = MemoryConfig.embedded(tmp_path)
    assert cfg.llm is None
    assert cfg.embedder.provider == "fastembed"
    assert cfg.history_store.config["path"] == str(tmp_path / "history.db")
    assert cfg.vector_store.config["path"] == str(tmp_path / "vectors")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert MemoryConfig.embedded(tmp_path).llm is not None


def test_a_layer_switching_provider_drops_the_lower_layers_provider_config(tmp_path):
    """The embedded default's flat ``path`` must not follow a switch to another vector store."""
    from mem7_core.config import load_config

    base = {"vector_store": {"provider": "flat", "config": {"path": str(tmp_path)}}}
    cfg = load_config(None, environ={"MEM7_VECTOR_STORE__PROVIDER": "qdrant",
                                     "MEM7_VECTOR_STORE__CONFIG__LOCATION": ":memory:"}, base=base)
    assert cfg.vector_store.provider == "qdrant"
    assert dict(cfg.vector_store.config) == {"location": ":memory:"}
    same = load_config(None, environ={"MEM7_VECTOR_STORE__CONFIG__FSYNC": "false"}, base=base)
    assert dict(same.vector_store.config) == {"path": str(tmp_path), "fsync": False}


def test_server_settings_in_the_environment_are_not_engine_config():
    from mem7_core.config import config_from_env

    assert config_from_env({"MEM7_SERVER_TOKENS": "t1", "MEM7_DECAY__ENABLED": "true"}) == {"decay": {"enabled": True}}
