"""mem7-fastembed: local ONNX sentence embeddings for mem7 via fastembed, offline by default."""

from __future__ import annotations

from ._resolve import DEFAULT_DIMS, DEFAULT_MODEL
from .embedder import FastEmbedEmbedder

__all__ = ["DEFAULT_DIMS", "DEFAULT_MODEL", "FastEmbedEmbedder"]
__version__ = "0.1.0"
