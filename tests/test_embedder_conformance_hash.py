"""The embedder conformance suite run against the core's own ``hash`` embedder."""

from __future__ import annotations

import pytest

from mem7_core.testing import EmbedderConformance
from mem7_core.testing.fakes import HashEmbedder


class TestHashEmbedderConformance(EmbedderConformance):
    semantic = False  # feature hashing only sees shared words and trigrams
    reports_tokens = False

    @pytest.fixture
    async def embedder(self):
        emb = HashEmbedder()
        yield emb
        await emb.aclose()


class TestHashEmbedderSmallDims(EmbedderConformance):
    semantic = False

    @pytest.fixture
    async def embedder(self):
        emb = HashEmbedder(HashEmbedder.Config(dims=64))
        yield emb
        await emb.aclose()


def test_suite_import_does_not_need_pytest() -> None:
    """The core imports mem7_core.testing (for the hash embedder); the suite must not drag pytest in."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "from mem7_core.testing import EmbedderConformance\n"
        "from mem7_core.testing.fakes import HashEmbedder\n"
        "print(EmbedderConformance.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "EmbedderConformance"
