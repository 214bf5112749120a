"""The embedder conformance suite every ``Embedder`` plugin should pass.

Subclass it in the provider's tests and supply one async fixture, ``embedder``, that yields a
ready embedder (and closes it afterwards)::

    import pytest
    from mem7_core.testing import EmbedderConformance

    class TestMyEmbedder(EmbedderConformance):
        semantic = True                # False for lexical embedders (skips the paraphrase test)

        @pytest.fixture
        async def embedder(self):
            emb = MyEmbedder(MyEmbedder.Config(model="..."))
            yield emb
            await emb.aclose()

Tests are ``async def``, run by pytest-asyncio; the core's pytest plugin
(:mod:`mem7_core.testing.pytest_plugin`) runs them with no configuration of the provider's own.

Knobs a subclass may override:

- ``semantic``: set False when the embedder only sees shared words (feature hashing, BM25-ish);
  the paraphrase test, which shares almost no words, is then skipped. The lexical-similarity
  test always runs.
- ``normalized``: set False when vectors are not L2-normalised (the unit-norm test is skipped).
- ``tolerance``: minimum cosine between two vectors that must be "the same" (determinism, batch vs
  one by one, concurrent vs sequential). Default 0.999.
- ``batch_size``: size of the big-batch test (default 64).
- ``long_text_chars``: length of the very long text (default 10 000).
- ``reports_tokens``: ``True`` when the embedder reports token counts
  (:func:`mem7_core.providers.usage.report_embedding_tokens`; then every call must), ``False``
  when it never does (a local model), ``None`` (default) to check only that what it reports is
  its own call's.

``embed`` may return a list of lists or a 2-D numpy array; the suite accepts both.

This module does not import pytest at import time (only a skipping test does, lazily), so
exporting it from :mod:`mem7_core.testing` keeps ``import mem7_core`` free of test dependencies.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence
from typing import Any, ClassVar

from ..providers import usage
from ..providers.embedder import Embedder
from ..providers.vectors import cosine
from .registration import assert_registers

_WORDS = [
    "memory", "agent", "user", "likes", "hiking", "mountains", "quarterly", "tax", "report",
    "coffee", "tea", "python", "code", "bug", "fix", "deploy", "server", "morning", "evening",
    "travel", "berlin", "paris", "music", "guitar", "dinner", "family", "project", "deadline",
]

UNICODE_TEXTS = [
    "Ünïcödé àccénts: crème brûlée, naïve façade, Straße",
    "日本語のテキストです。東京に住んでいます。",
    "Emoji 🚀🔥 and symbols ∑ ∫ √ ≠ ≤",
    "Русский текст и العربية и עברית",
    "tab\tand\nnewline\r\nand \x00 nul",
]


def _rows(result: Any) -> list[list[float]]:
    """``embed``'s answer (list of lists or 2-D array) as plain float lists."""
    return [[float(x) for x in row] for row in result]


def _norm(v: Sequence[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def _texts(n: int, seed: int = 7) -> list[str]:
    """``n`` distinct texts of varied length (1 to ~60 words), so batches need padding."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 60))]
        out.append(f"{i} " + " ".join(words))
    return out


class EmbedderConformance:
    """Behaviour every :class:`~mem7_core.providers.Embedder` must show. Subclass and add ``embedder``."""

    semantic: ClassVar[bool] = True
    normalized: ClassVar[bool] = True
    tolerance: ClassVar[float] = 0.999
    batch_size: ClassVar[int] = 64
    long_text_chars: ClassVar[int] = 10_000
    reports_tokens: ClassVar[bool | None] = None

    # ------------------------------------------------------------------ helpers
    async def _embed(self, embedder: Embedder, texts: Sequence[str], **kw: Any) -> list[list[float]]:
        rows = _rows(await embedder.embed(texts, **kw))
        assert len(rows) == len(texts), f"{len(texts)} texts gave {len(rows)} vectors"
        for row in rows:
            assert len(row) == embedder.dims, f"vector of length {len(row)}, dims says {embedder.dims}"
            assert all(math.isfinite(x) for x in row), "vector has NaN or inf"
        return rows

    def _same(self, a: Sequence[float], b: Sequence[float], what: str) -> None:
        c = cosine(a, b)
        assert c > self.tolerance, f"{what}: cosine {c:.6f} <= {self.tolerance}"

    # ------------------------------------------------------------------ shape
    async def test_the_class_registers_as_a_plugin(self, embedder: Embedder) -> None:
        """What the registry checks when the plugin loads (a name configs can select, methods the
        engine can call, a ``ProviderConfig``), checked here on the class the fixture built."""
        assert_registers(embedder)

    async def test_dims_is_positive_int(self, embedder: Embedder) -> None:
        assert isinstance(embedder.dims, int) and embedder.dims > 0

    async def test_one_vector_per_text_in_order(self, embedder: Embedder) -> None:
        texts = ["The cat sat on the mat", "Quarterly revenue grew by ten percent", "I like green tea"]
        batch = await self._embed(embedder, texts)
        for text, vec in zip(texts, batch, strict=True):
            [alone] = await self._embed(embedder, [text])
            self._same(vec, alone, f"vector for {text!r} in a batch vs alone (order kept?)")
        # the three texts are different, so the vectors are too
        assert cosine(batch[0], batch[1]) < self.tolerance
        assert cosine(batch[1], batch[2]) < self.tolerance

    async def test_empty_list_gives_empty_list(self, embedder: Embedder) -> None:
        assert list(await embedder.embed([])) == []

    async def test_accepts_any_sequence(self, embedder: Embedder) -> None:
        texts = ("a tuple of texts", "second one")
        rows = await self._embed(embedder, texts)
        assert len(rows) == 2

    async def test_does_not_mutate_input(self, embedder: Embedder) -> None:
        texts = ["keep me", "and me"]
        await embedder.embed(texts)
        assert texts == ["keep me", "and me"]

    async def test_vectors_are_unit_length(self, embedder: Embedder) -> None:
        if not self.normalized:
            import pytest

            pytest.skip("embedder does not L2-normalise (normalized = False)")
        for vec in await self._embed(embedder, ["unit length please", "another one", ""]):
            assert abs(_norm(vec) - 1.0) < 1e-3, f"norm {_norm(vec)}"

    # ------------------------------------------------------------------ determinism
    async def test_deterministic(self, embedder: Embedder) -> None:
        text = "Deterministic embeddings make deduplication work"
        [a] = await self._embed(embedder, [text])
        [b] = await self._embed(embedder, [text])
        self._same(a, b, "same text embedded twice")

    async def test_duplicate_texts_in_one_batch(self, embedder: Embedder) -> None:
        a, _, c = await self._embed(embedder, ["twice", "something else", "twice"])
        self._same(a, c, "the same text twice in one batch")

    async def test_batch_equals_one_by_one(self, embedder: Embedder) -> None:
        texts = _texts(self.batch_size)
        batch = await self._embed(embedder, texts)
        for i, text in enumerate(texts):
            [alone] = await self._embed(embedder, [text])
            self._same(batch[i], alone, f"text {i} in a batch of {len(texts)} vs alone")

    # ------------------------------------------------------------------ similarity
    async def test_shared_words_are_closer(self, embedder: Embedder) -> None:
        """Texts sharing most words are nearer than unrelated ones (every embedder, lexical too)."""
        a, b, c = await self._embed(
            embedder,
            [
                "I love hiking in the mountains",
                "I love hiking in the Alps mountains",
                "The quarterly tax report is due",
            ],
        )
        assert cosine(a, b) > cosine(a, c), (cosine(a, b), cosine(a, c))
        assert cosine(a, b) > cosine(b, c), (cosine(a, b), cosine(b, c))

    async def test_paraphrase_is_closer_than_unrelated(self, embedder: Embedder) -> None:
        """A paraphrase with few shared words is nearer than an unrelated text (semantic only)."""
        if not self.semantic:
            import pytest

            pytest.skip("lexical embedder (semantic = False)")
        a, b, c = await self._embed(
            embedder,
            [
                "I love hiking in the mountains",
                "Hiking in the Alps is my favourite hobby",
                "The quarterly tax report is due",
            ],
        )
        assert cosine(a, b) > cosine(a, c), (cosine(a, b), cosine(a, c))
        assert cosine(a, b) > cosine(b, c), (cosine(a, b), cosine(b, c))
        d, e, f = await self._embed(
            embedder,
            ["My favourite drink is coffee", "I prefer espresso over tea", "The server crashed during deploy"],
        )
        assert cosine(d, e) > cosine(d, f), (cosine(d, e), cosine(d, f))

    # ------------------------------------------------------------------ awkward input
    async def test_unicode(self, embedder: Embedder) -> None:
        rows = await self._embed(embedder, UNICODE_TEXTS)
        for text, vec in zip(UNICODE_TEXTS, rows, strict=True):
            [alone] = await self._embed(embedder, [text])
            self._same(vec, alone, f"unicode text {text!r}")

    async def test_empty_and_blank_strings(self, embedder: Embedder) -> None:
        rows = await self._embed(embedder, ["", "   ", "not empty"])
        assert len(rows) == 3

    async def test_very_long_text(self, embedder: Embedder) -> None:
        words = _texts(1, seed=3)[0].split() or ["word"]
        long = ""
        i = 0
        while len(long) < self.long_text_chars:
            long += words[i % len(words)] + " "
            i += 1
        long = long[: self.long_text_chars]
        rows = await self._embed(embedder, [long, "short text next to a long one"])
        assert _norm(rows[0]) > 0.0
        [short_alone] = await self._embed(embedder, ["short text next to a long one"])
        self._same(rows[1], short_alone, "short text batched with a very long one")

    # ------------------------------------------------------------------ purpose, concurrency
    async def test_purposes_accepted(self, embedder: Embedder) -> None:
        for purpose in ("add", "search", "update"):
            rows = await self._embed(embedder, ["what do I like to drink?", "coffee"], purpose=purpose)
            assert len(rows) == 2
        [q1] = await self._embed(embedder, ["same query"], purpose="search")
        [q2] = await self._embed(embedder, ["same query"], purpose="search")
        self._same(q1, q2, "search-purpose embedding twice")

    async def test_token_reports_belong_to_their_call(self, embedder: Embedder) -> None:
        """Tokens reported inside ``embed`` count for that call only: concurrent calls' reports do
        not mix (an embedder keeping a "last usage" on itself would mix them)."""

        async def reported(texts: list[str]) -> list[int]:
            with usage.embedding_call() as counts:
                await self._embed(embedder, texts)
            return counts

        small, big = await asyncio.gather(reported(["tea"]), reported(_texts(12)))
        if self.reports_tokens is False:
            assert not small and not big, "reports_tokens = False, but the embedder reported tokens"
            return
        if self.reports_tokens:
            assert small and big, "reports_tokens = True, but a call reported no tokens"
        if small and big:
            assert 0 < sum(small) < sum(big), f"1 short text: {sum(small)} tokens, 12 long ones: {sum(big)}"

    async def test_concurrent_calls(self, embedder: Embedder) -> None:
        groups = [_texts(5, seed=s) for s in range(8)]
        sequential = [await self._embed(embedder, g) for g in groups]
        gathered = await asyncio.gather(*(embedder.embed(g) for g in groups))
        for g, seq, got in zip(groups, sequential, gathered, strict=True):
            rows = _rows(got)
            assert len(rows) == len(g)
            for a, b in zip(seq, rows, strict=True):
                self._same(a, b, "concurrent vs sequential call")
