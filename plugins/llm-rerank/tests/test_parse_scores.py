"""parse_scores: what an LLM may answer, and what is made of it."""

from __future__ import annotations

import pytest

from mem7_llm_rerank import parse_scores


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"scores": [{"index": 0, "score": 0.2}, {"index": 1, "score": 0.9}]}', {0: 0.2, 1: 0.9}),
        ('```json\n{"scores": [{"index": 1, "score": 0.7}]}\n```', {1: 0.7}),                       # code fence
        ('Sure! Here you go: {"scores": [{"index": 0, "score": 0.5}]} Hope it helps.', {0: 0.5}),   # prose
        ('{"scores": [{"index": 0, "score": 0.5},]}', {0: 0.5}),                                     # trailing comma
        ('{"scores": [{"index": 0, "score": 0.3}, {"index": 1, "sc', {0: 0.3}),                     # truncated
        ('{"scores": [{"index": 0, "score": 0.3}, {"index": 2, "score": 0.6}', {0: 0.3, 2: 0.6}),   # unclosed
        ('{"scores": [{"index": 0, "score": 0.4}, {"index": 9, "score": 1.0}, {"index": -1, "score": 1}]}',
         {0: 0.4}),                                                                                   # out of range
        ('{"scores": [{"index": 0, "score": "high"}, {"index": 1, "score": "0.8"}, {"index": 2, "score": null}]}',
         {1: 0.8}),                                                                                   # non-numeric
        ('{"scores": [{"index": 0, "score": true}, {"index": 1, "score": NaN}]}', {}),              # bool, NaN
        ('{"scores": [{"index": 1, "score": 0.1}, {"index": 1, "score": 0.9}]}', {1: 0.1}),         # duplicate
        ('{"scores": [0.1, 0.9, 0.5]}', {0: 0.1, 1: 0.9, 2: 0.5}),                                   # positional
        ('{"scores": {"0": 0.2, "2": 0.8}}', {0: 0.2, 2: 0.8}),                                      # mapping
        ('{"0": 0.2, "1": 0.8}', {0: 0.2, 1: 0.8}),                                                  # bare mapping
        ('{"scores": [[0, 0.3], [1, 0.6]]}', {0: 0.3, 1: 0.6}),                                      # pairs
        ('{"results": [{"id": "[1]", "relevance_score": 0.6}, {"document": "doc 0", "relevance": 0.2}]}',
         {1: 0.6, 0: 0.2}),                                                                           # other keys
        ('{"scores": [{"index": 0, "score": 8}, {"index": 1, "score": 3}]}', {0: 0.8, 1: 0.3}),     # 0-10 scale
        ('{"scores": [{"index": 0, "score": 85}, {"index": 1, "score": 20}]}', {0: 0.85, 1: 0.2}),  # 0-100 scale
        ('{"scores": [{"index": 0, "score": -0.5}, {"index": 1, "score": 0.5}]}', {0: 0.0, 1: 0.5}),  # clamped
        ('{"scores": [{"index": 1.0, "score": 0.5}]}', {1: 0.5}),                                    # float index
        ("I cannot rank these documents.", {}),
        ("", {}),
        (None, {}),
        ('{"scores": []}', {}),
        ('{"answer": "the second one"}', {}),
        ("[0.1, 0.2]", {}),                                                                           # not an object
    ],
)
def test_parse_scores(text: str | None, expected: dict[int, float]) -> None:
    got = parse_scores(text, 3)
    assert got.keys() == expected.keys()
    for i, score in expected.items():
        assert got[i] == pytest.approx(score)
