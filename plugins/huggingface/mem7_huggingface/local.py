"""A sentence-transformers model loaded from a local directory: never a download.

Only when torch and sentence-transformers are installed (they are not requirements of this
package: ``pip install "mem7-huggingface[local]"``); without them the config fails with the command
that installs them. The directory is what ``SentenceTransformer.save()`` writes (``modules.json``
and the modules' folders) or a plain Transformers model folder (``config.json``); it is opened with
``local_files_only=True``, so nothing is fetched from the Hugging Face Hub even when the directory
names a hub model for one of its parts (that fails instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mem7_core.errors import ConfigError

INSTALL_HINT = 'pip install torch sentence-transformers (or: pip install "mem7-huggingface[local]")'


def model_dir(path: str, field: str) -> Path:
    """``path`` as an existing model directory, or a ``ConfigError`` naming ``field``."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"huggingface: {field} {path!r} is not a directory. It must be a local model folder "
                          "(what SentenceTransformer.save() writes); mem7 never downloads a model")
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise ConfigError(f"huggingface: {field} {path!r} has neither modules.json nor config.json: not a "
                          "sentence-transformers or Transformers model folder")
    return folder


def load(folder: Path, *, device: str | None, field: str) -> Any:
    """The ``SentenceTransformer`` in ``folder``; a ``ConfigError`` with the install command when
    torch or sentence-transformers is missing."""
    for module in ("torch", "sentence_transformers"):
        try:
            __import__(module)
        except ImportError as exc:
            raise ConfigError(f"huggingface: {field} needs torch and sentence-transformers ({module} is not "
                              f"installed): {INSTALL_HINT}") from exc
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(folder), device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"huggingface: cannot load the model in {field} {str(folder)!r}: {exc}") from exc


def dimension(model: Any) -> int:
    """The model's vector length (the method's name changed across sentence-transformers versions)."""
    for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        method = getattr(model, name, None)
        if callable(method):
            dims = method()
            if isinstance(dims, int) and dims > 0:
                return dims
    raise ConfigError("huggingface: the local model does not say its embedding size: set embedder.config."
                      "embedding_dims")


def encode(model: Any, texts: list[str], *, prompt_name: str | None, normalize: bool,
           batch_size: int) -> list[list[float]]:
    """``model.encode`` of ``texts`` as plain float lists (runs on the caller's thread: blocking)."""
    kwargs: dict[str, Any] = {"batch_size": batch_size, "normalize_embeddings": normalize,
                              "convert_to_numpy": True, "show_progress_bar": False}
    if prompt_name:
        kwargs["prompt_name"] = prompt_name
    array = model.encode(texts, **kwargs)
    return [[float(x) for x in row] for row in array.tolist()]
