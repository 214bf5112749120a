"""Keyword search in Qdrant: a sparse vector per point, BM25 with Qdrant's IDF modifier.

Each point carries, next to its dense vector, the sparse vector :data:`KEYWORDS` of its text
(``payload["data"]``, as the engine's in-process index reads it), in a collection whose sparse
vector has ``modifier: idf``:

- the words are mem7's own tokeniser's (:func:`mem7_core.providers.keywords.tokenize`), so the store
  and the engine's :class:`~mem7_core.providers.keywords.BM25Index` see the same terms;
- a term's index is a stable 32-bit hash of the word (:func:`term_id`: the first 4 bytes of its
  BLAKE2b digest, ``0`` reserved). Two words with the same hash are one term to Qdrant (their
  counts add up, their document frequencies merge): with ``V`` distinct words in a collection
  about ``V² / 2³³`` pairs collide (≈ 1 at 100k words, ≈ 0.01 at 10k), each making two rare
  words a little less rare to each other's queries; nothing else changes;
- a term's value is its BM25 term-frequency weight::

      w(t, d) = tf · (k1 + 1) / (tf + k1 · (1 − b + b · |d| / avgdl))

  ``|d|`` is the number of words (function words left out unless ``keyword_stopwords: false``),
  ``avgdl`` a **fixed reference length** (``keyword_avgdl``): the weight is written with the point
  and cannot follow an average that moves with every write, so every writer uses the collection's
  value (kept in the collection's metadata) and every replica reads the same weights. The engine's
  index uses the scope's live average instead: the scores differ by that, slightly (measured in
  ``bench/results/locomo.md``). A document of length ``avgdl`` holding a term once weighs exactly 1;
- the reserved index ``0`` holds ``1.0`` in every point, so a point with no word still has the
  vector and counts in ``N`` (the engine's index counts empty memories too);
- the query is the sparse vector of its distinct terms, each ``1.0``; Qdrant multiplies each by
  ``idf(t) = ln((N − df(t) + 0.5) / (df(t) + 0.5) + 1)`` (the same Lucene idf as the engine's) over
  the corpus the search names: the caller's scope (``search_params.idf.corpus``), so ``N`` and
  ``df`` are the scope's, as in the engine's index. The dot product is then BM25 exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from qdrant_client.http import models

from mem7_core.providers.keywords import tokenize

KEYWORDS = "mem7_keywords"
"""Name of the sparse vector (and of its parameters' key in the collection metadata)."""
PRESENT = 0
"""Reserved index, set to 1.0 in every point: every mem7 point has the sparse vector."""
HASH = "blake2b-32"


def term_id(word: str) -> int:
    """A stable 32-bit id of ``word`` (never :data:`PRESENT`)."""
    h = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest(), "big")
    return h or 1


def text_of(payload: Mapping[str, Any]) -> str:
    """The text keyword search sees: ``payload["data"]``, as the engine's index reads it."""
    return str(payload.get("data") or "")


@dataclass(frozen=True, slots=True)
class KeywordParams:
    """How the sparse vectors of one collection are written (the same for every writer)."""

    k1: float = 1.2
    b: float = 0.75
    avgdl: float = 10.0
    stopwords: bool = True

    def to_metadata(self) -> dict[str, Any]:
        return {"k1": self.k1, "b": self.b, "avgdl": self.avgdl, "stopwords": self.stopwords, "hash": HASH}

    @classmethod
    def from_metadata(cls, raw: Any) -> KeywordParams | None:
        """The parameters a collection's metadata records (``None``: absent or unreadable)."""
        if not isinstance(raw, Mapping) or raw.get("hash", HASH) != HASH:
            return None
        try:
            return cls(
                k1=float(raw["k1"]), b=float(raw["b"]), avgdl=float(raw["avgdl"]), stopwords=bool(raw["stopwords"])
            )
        except (KeyError, TypeError, ValueError):
            return None

    def document(self, text: str) -> models.SparseVector:
        """The sparse vector of one memory's text."""
        words = tokenize(text, stopwords=self.stopwords)
        tf: dict[int, int] = {}
        for w in words:
            i = term_id(w)
            tf[i] = tf.get(i, 0) + 1
        k1, b = self.k1, self.b
        norm = k1 * (1.0 - b + b * len(words) / self.avgdl)
        indices = [PRESENT, *sorted(tf)]
        values = [1.0, *(f * (k1 + 1.0) / (f + norm) for f in (tf[i] for i in indices[1:]))]
        return models.SparseVector(indices=indices, values=values)

    def query_ids(self, query: str) -> list[int]:
        """The distinct term ids of ``query``, in first-seen order (function words dropped when
        the documents drop them)."""
        return list(dict.fromkeys(term_id(w) for w in tokenize(query, stopwords=self.stopwords)))


def query_vector(ids: Iterable[int]) -> models.SparseVector:
    ids = sorted(set(ids))
    return models.SparseVector(indices=ids, values=[1.0] * len(ids))


__all__ = ["HASH", "KEYWORDS", "PRESENT", "KeywordParams", "query_vector", "term_id", "text_of"]
