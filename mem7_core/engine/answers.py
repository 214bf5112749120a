"""What the engine checks of a provider's answers, before it uses them.

The conformance suites (:mod:`mem7_core.testing`) hold a provider to its contract; a provider that
skipped them still meets these checks, on the path every call takes once: the LLMs' and the
embedder's calls in the usage meter's proxy (``engine/metering.py``), the reranker's in the read
pipeline (``engine/read.py``). An answer of the wrong shape is a :class:`ProviderError` naming the
provider (``embedder:name``), what it returned and what the contract wants, raised before anything
of the operation is stored; the read pipeline treats a reranker's as it treats any reranker failure
(it keeps the retrieval order, and logs why).

The checks are cheap beside a model call: a vector batch costs a length per vector and one C-level
``sum`` per vector (NaN and infinity survive a sum; only a sum that is not finite is looked at
number by number, to name what is wrong), or one ``numpy.isfinite`` for a 2-D array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..errors import ProviderError
from ..models import LLMResponse, RerankResult
from ..providers.reranker import ranked_results


def _label(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def check_vectors(vectors: Any, texts: int, dims: int, name: str) -> None:
    """``vectors``, an embedder's answer for ``texts`` texts: one vector per text, each of ``dims``
    finite numbers (a list of lists, or a 2-D numpy array, as ``Embedder.embed`` may return).

    :raises ProviderError: naming ``embedder:<name>`` and what is wrong.
    """

    def wrong(what: str) -> ProviderError:
        return ProviderError(_label("embedder", name), f"embedder {name!r} returned {what}; Embedder.embed "
                             f"must return one vector of `dims` ({dims}) finite numbers per text, in order")

    shape = getattr(vectors, "shape", None)
    if isinstance(shape, tuple):  # a numpy array: its shape, then one vectorised finite check
        if shape == (0,) and not texts:
            return
        if len(shape) != 2:
            raise wrong(f"a {len(shape)}-D array for {texts} texts")
        if shape[0] != texts:
            raise wrong(f"{shape[0]} vectors for {texts} texts")
        if shape[1] != dims and texts:
            raise wrong(f"vectors of {shape[1]} dimensions, its dims is {dims}")
        import numpy as np  # installed: the provider answered with one of its arrays

        try:
            finite = bool(np.isfinite(vectors).all())
        except TypeError:
            raise wrong(f"an array of {getattr(vectors, 'dtype', '?')}, not of numbers") from None
        if not finite:
            rows, _ = np.nonzero(~np.isfinite(vectors))
            raise wrong(f"a vector holding {_non_finite(vectors[int(rows[0])])} (vector {int(rows[0])} of {texts})")
        return
    if not isinstance(vectors, Sequence) or isinstance(vectors, (str, bytes)):
        raise wrong(f"a {type(vectors).__name__}, not a list of vectors")
    if len(vectors) != texts:
        raise wrong(f"{len(vectors)} vectors for {texts} texts")
    for i, row in enumerate(vectors):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
            raise wrong(f"a {type(row).__name__} as vector {i} of {texts}, not a list of numbers")
        if len(row) != dims:
            raise wrong(f"a vector of {len(row)} dimensions (vector {i} of {texts}), its dims is {dims}")
    try:
        total: Any = sum(map(sum, vectors))  # NaN and inf carry through a sum
    except TypeError:
        total = math.nan  # something in a vector is not a number: found below
    if isinstance(total, (int, float)) and math.isfinite(total):
        return
    for i, row in enumerate(vectors):
        bad = _non_finite(row)
        if bad:
            raise wrong(f"a vector holding {bad} (vector {i} of {texts})")
    # finite numbers whose sum overflowed: nothing wrong


def _non_finite(row: Any) -> str:
    """What in ``row`` is not a finite number ("a NaN", "an inf", "a str"), or ``""``."""
    for x in row:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            try:
                x = float(x)  # a numpy scalar, a Decimal
            except (TypeError, ValueError):
                return f"a {type(x).__name__}, not a number"
        if math.isnan(x):
            return "a NaN"
        if math.isinf(x):
            return "an inf"
    return ""


def check_llm_response(response: Any, name: str) -> None:
    """``response``, an LLM's answer: an :class:`LLMResponse` whose ``content`` is a ``str`` and
    whose ``tool_calls`` is a list.

    :raises ProviderError: naming ``llm:<name>`` and what it returned.
    """
    if isinstance(response, LLMResponse):
        if isinstance(response.content, str) and isinstance(response.tool_calls, list):
            return
        field = "content" if not isinstance(response.content, str) else "tool_calls"
        what = f"an LLMResponse whose {field} is a {type(getattr(response, field)).__name__}"
    else:
        what = f"a {type(response).__name__}, not an LLMResponse"
    raise ProviderError(
        _label("llm", name),
        f"llm {name!r} returned {what}; LLM.generate must return "
        "mem7_core.models.LLMResponse(content=<str>, tool_calls=<list>, usage=<dict>)",
    )


def checked_ranking(ranked: Any, documents: int, name: str) -> list[RerankResult]:
    """``ranked``, a reranker's answer for ``documents`` documents, best first.

    :raises ProviderError: naming ``reranker:<name>`` when it is not a list of
        :class:`RerankResult` with new indexes into the documents and finite scores.
    """
    who = f"reranker {name!r}"
    wants = ("Reranker.rerank must return a list of mem7_core.models.RerankResult(index, score), "
             "each index into the documents at most once, each score a finite number")
    if not isinstance(ranked, (list, tuple)):
        raise ProviderError(_label("reranker", name), f"{who} returned a {type(ranked).__name__}; {wants}")
    for r in ranked:
        if not isinstance(r, RerankResult):
            raise ProviderError(_label("reranker", name),
                                f"{who} returned a {type(r).__name__} among its results, not a RerankResult; {wants}")
    try:
        return ranked_results(((r.index, r.score) for r in ranked), documents)
    except ValueError as exc:
        raise ProviderError(_label("reranker", name), f"{who} returned a wrong ranking: {exc}; {wants}") from None


__all__ = ["check_llm_response", "check_vectors", "checked_ranking"]
