"""The core's keyword retrieval pieces, without an engine: tokeniser, BM25 index, fusion functions.

BM25 values are pinned on a three-document corpus, computed by hand from
idf(t) = ln((N − df + 0.5) / (df + 0.5) + 1) and tf·(k1 + 1) / (tf + k1·(1 − b + b·|d|/avgdl)),
k1 = 1.2, b = 0.75.
"""

from __future__ import annotations

import math
import random

import pytest

from mem7_core.providers.keywords import stem_words, stemmer_languages
from mem7_core.retrieval import STOPWORDS, BM25Index, calibrate_bm25, cosine, cosines, expand, rrf, tokenize, weighted

CORPUS = {
    "d1": "apple banana apple",  # 3 tokens
    "d2": "banana cherry",  # 2 tokens
    "d3": "cherry date elder fig",  # 4 tokens; avgdl = 3
}


def corpus_index(**kw) -> BM25Index:
    idx = BM25Index(**kw)
    for doc_id, text in CORPUS.items():
        idx.add(doc_id, text)
    return idx


# ------------------------------------------------------------------------------------ tokeniser
def test_tokenize_lowercases_splits_on_non_alphanumerics_and_drops_function_words():
    assert tokenize("Alice's NASA book-club, in 2023!") == ["alice", "nasa", "book", "club", "2023"]
    assert tokenize("snake_case and CamelCase") == ["snake", "case", "camelcase"]
    assert tokenize("Où est la café? Zürich") == ["où", "est", "la", "café", "zürich"]  # Unicode letters kept
    assert tokenize("What did you do with the dog") == ["dog"]
    assert tokenize("What did you do with the dog", stopwords=False) == ["what", "did", "you", "do", "with", "the", "dog"]
    assert tokenize("") == [] and tokenize("?!-") == []


def test_stopwords_are_lowercase_function_words():
    assert {"the", "a", "and", "is", "you", "what", "when"} <= STOPWORDS
    assert all(w == w.lower() and w.isalpha() for w in STOPWORDS)
    assert not {"paris", "dog", "painting", "2023", "never", "may"} & STOPWORDS  # "may": the month too


# ------------------------------------------------------------------------------------ scoring
def test_idf_values():
    idx = corpus_index()
    assert len(idx) == 3 and idx.avgdl == pytest.approx(3.0)
    assert idx.df("apple") == 1 and idx.df("banana") == 2 and idx.df("zebra") == 0
    assert idx.idf("apple") == pytest.approx(0.9808292530117263)  # ln(2.5 / 1.5 + 1)
    assert idx.idf("banana") == pytest.approx(0.47000362924573563)  # ln(1.5 / 2.5 + 1)
    assert idx.idf("zebra") == pytest.approx(math.log(3.5 / 0.5 + 1))


def test_bm25_reference_values():
    idx = corpus_index()
    # d1: apple tf=2, |d|=avgdl → 0.98083 · 2 · 2.2 / (2 + 1.2) = 1.34864
    assert idx.score("apple") == pytest.approx({"d1": 1.3486402228911236})
    # d2 holds both terms once with |d| = 2: 2 · 0.47000 · 2.2 / (1 + 1.2 · 0.75) = 1.08843
    # d1 holds banana once at average length: exactly its idf; d3 holds cherry once, |d| = 4
    assert idx.score("banana cherry") == pytest.approx(
        {"d1": 0.47000362924573563, "d2": 1.088429457200651, "d3": 0.41360319373624743}
    )
    assert idx.score("zebra") == {} and idx.score("the of and") == {}


def test_query_terms_count_once_and_are_tokenised_like_documents():
    idx = corpus_index()
    assert idx.score("APPLE apple, Apple?") == pytest.approx(idx.score("apple"))
    assert idx.terms("The Banana and the banana cherry") == ["banana", "cherry"]


def test_k1_and_b_parameters():
    idx = corpus_index(k1=2.0, b=0.0)  # no length normalisation
    tf = lambda f: f * 3.0 / (f + 2.0)  # noqa: E731
    assert idx.score("cherry") == pytest.approx({"d2": idx.idf("cherry") * tf(1), "d3": idx.idf("cherry") * tf(1)})
    assert idx.score("apple")["d1"] == pytest.approx(idx.idf("apple") * tf(2))


def test_idf_mass_and_calibration():
    idx = corpus_index()
    terms = idx.terms("apple zebra banana")
    assert idx.idf_mass(terms) == pytest.approx(idx.idf("apple") + idx.idf("banana"))  # unknown terms add nothing
    # a document of average length holding each query term once scores exactly the idf mass
    assert calibrate_bm25(idx.score("banana")["d1"], idx.idf_mass(["banana"])) == pytest.approx(1.0)
    assert calibrate_bm25(5.0, 2.0) == 1.0  # capped
    assert calibrate_bm25(1.0, 4.0) == 0.25
    assert calibrate_bm25(1.0, 0.0) == 0.0 and calibrate_bm25(0.0, 3.0) == 0.0


def test_top_orders_by_score_then_id():
    idx = BM25Index()
    for doc_id in ("c", "a", "b"):
        idx.add(doc_id, "same words here")
    idx.add("z", "same words here twice twice")
    assert [d for d, _ in idx.top("same words", 10)] == ["a", "b", "c", "z"]  # z is longer: lower
    assert len(idx.top("same", 2)) == 2


# ------------------------------------------------------------------------------------ incremental
def _state(idx: BM25Index) -> tuple:
    return (sorted(idx._docs), {t: dict(p) for t, p in idx._postings.items()}, idx._total_len)


def test_incremental_updates_equal_a_rebuild():
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    live: dict[str, str] = {}
    idx = BM25Index()
    for _step in range(400):
        doc_id = f"m{rng.randrange(60)}"
        if rng.random() < 0.3 and doc_id in live:
            assert idx.remove(doc_id)
            del live[doc_id]
        else:
            text = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 8)))
            idx.add(doc_id, text)  # an upsert when the id exists
            live[doc_id] = text
    rebuilt = BM25Index()
    for doc_id, text in live.items():
        rebuilt.add(doc_id, text)
    assert _state(idx) == _state(rebuilt)
    for q in ("alpha", "beta gamma", "kappa theta iota"):
        assert idx.score(q) == pytest.approx(rebuilt.score(q))
    assert not idx.remove("never-added")


def test_update_replaces_the_old_text_and_remove_forgets():
    idx = corpus_index()
    idx.add("d1", "kiwi")
    assert idx.score("apple") == {}
    assert set(idx.score("kiwi")) == {"d1"}
    assert idx.avgdl == pytest.approx((1 + 2 + 4) / 3)
    idx.remove("d3")
    assert len(idx) == 2 and "d3" not in idx
    assert idx.idf("cherry") == pytest.approx(math.log(1.5 / 1.5 + 1))  # N = 2, df = 1
    idx.clear()
    assert len(idx) == 0 and idx.score("kiwi") == {} and idx.avgdl == 0.0


# ------------------------------------------------------------------------------------ neighbours
def test_neighbours_follow_creation_order_within_a_group():
    idx = BM25Index(group_by="session")
    rows = [  # (id, created_at, session) — inserted out of order on purpose
        ("t3", "2024-01-01T00:00:03", "s1"),
        ("t1", "2024-01-01T00:00:01", "s1"),
        ("t2", "2024-01-01T00:00:02", "s1"),
        ("t4", "2024-01-01T00:00:04", "s1"),
        ("u1", "2024-01-01T00:00:02", "s2"),
        ("x", "2024-01-01T00:00:02", None),
    ]
    for doc_id, created, session in rows:
        payload = {"created_at": created} | ({"session": session} if session else {})
        idx.add(doc_id, "text", payload)
    assert idx.neighbours("t2", 1) == ["t1", "t3"]
    assert idx.neighbours("t1", 1) == ["t2"]
    assert idx.neighbours("t2", 2) == ["t1", "t3", "t4"]  # nearest first
    assert idx.neighbours("u1", 3) == []  # alone in its group
    assert idx.neighbours("x", 1) == []  # no group value
    assert idx.neighbours("missing", 1) == []
    idx.remove("t3")
    assert idx.neighbours("t2", 1) == ["t1", "t4"]
    idx.add("t25", "text", {"created_at": "2024-01-01T00:00:02.5", "session": "s1"})
    assert idx.neighbours("t2", 1) == ["t1", "t25"]
    assert idx.neighbours("t4", 1) == ["t25"]
    # same created_at: the id breaks the tie (UUIDv7 ids sort in creation order)
    idx.add("t26", "text", {"created_at": "2024-01-01T00:00:02.5", "session": "s1"})
    assert idx.neighbours("t25", 1) == ["t2", "t26"]


def test_no_grouping_without_group_key():
    idx = BM25Index()
    idx.add("a", "x", {"created_at": "1", "run_id": "r"})
    idx.add("b", "x", {"created_at": "2", "run_id": "r"})
    assert idx.neighbours("a", 1) == []


def test_grouping_by_time_follows_creation_order_and_stops_at_pauses():
    idx = BM25Index(group_by="session", max_gap_secs=60)  # by time: the key is ignored
    rows = [  # (id, created_at) — inserted out of order on purpose; no session key anywhere
        ("a2", "2024-05-01T10:00:20+00:00"),
        ("a0", "2024-05-01T10:00:00+00:00"),
        ("a1", "2024-05-01T10:00:10+00:00"),
        ("b0", "2024-05-01T10:03:20+00:00"),  # 180 s after a2: a pause
        ("b1", "2024-05-01T12:04:20+02:00"),  # another offset, 60 s after b0: still a neighbour
        ("x", ""),  # no readable time: no neighbours
    ]
    for doc_id, created in rows:
        idx.add(doc_id, "text", {"created_at": created} if created else {})
    assert idx.neighbours("a1", 2) == ["a0", "a2"]
    assert idx.neighbours("a2", 2) == ["a1", "a0"]  # nothing after it across the pause
    assert idx.neighbours("b0", 2) == ["b1"]  # nothing before it across the pause
    assert idx.neighbours("b1", 2) == ["b0"]
    assert idx.neighbours("x", 2) == []
    idx.remove("a1")  # the gap a0 → a2 is 20 s: still one run
    assert idx.neighbours("a0", 1) == ["a2"]
    # the same instant (one add call): every memory of the call, in insertion (id) order
    same = BM25Index(max_gap_secs=0)
    for doc_id in ("m1", "m2", "m3"):
        same.add(doc_id, "text", {"created_at": "2024-05-01T10:00:00+00:00"})
    same.add("m4", "text", {"created_at": "2024-05-01T10:00:01+00:00"})
    assert same.neighbours("m2", 1) == ["m1", "m3"]
    assert same.neighbours("m3", 1) == ["m2"]
    with pytest.raises(ValueError, match="max_gap_secs"):
        BM25Index(max_gap_secs=-1)


def test_stemming_matches_word_forms():
    assert tokenize("She painted paintings, volunteering") == ["painted", "paintings", "volunteering"]
    assert tokenize("She painted paintings, volunteering", stemmer="english") == ["paint", "paint", "volunt"]
    assert stem_words(["running", "runs"], "english") == ["run", "run"]
    plain, stemmed = BM25Index(), BM25Index(stemmer="english")
    for idx in (plain, stemmed):
        idx.add("d1", "Melanie painted a sunset last week")
        idx.add("d2", "the ferry leaves at noon")
    assert plain.score("paintings") == {}
    assert set(stemmed.score("paintings")) == {"d1"}
    assert stemmed.terms("Paintings of sunsets") == ["paint", "sunset"]
    assert "german" in stemmer_languages() and "english" in stemmer_languages()
    with pytest.raises(ValueError, match=r"klingon.*english"):
        BM25Index(stemmer="klingon")


# ------------------------------------------------------------------------------------ fusion
def test_rrf():
    fused = rrf([["a", "b", "c"], ["c", "d"]], k=60)
    assert fused == pytest.approx({"a": 1 / 61, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 62})
    assert rrf([], k=60) == {}
    assert rrf([["a"], ["a"]], k=1) == pytest.approx({"a": 1.0})
    # a document ranked well by both beats one ranked first by only one
    fused = rrf([["x", "both"], ["y", "both"]], k=60)
    assert max(fused, key=fused.get) == "both"


def test_weighted_and_cosine():
    # cosine + (1 − w) / w · keyword: the weighted sum on the cosine's scale, never below the cosine
    assert weighted(0.8, 0.4, 0.5) == pytest.approx(1.2)
    assert weighted(0.8, 0.0, 0.5) == pytest.approx(0.8)
    assert weighted(0.8, 0.4, 0.8) == pytest.approx(0.9)
    assert weighted(0.8, 0.4, 1.0) == pytest.approx(0.8)
    assert weighted(0.8, 0.4, 0.0) == pytest.approx(0.4)  # w = 0: the keyword score alone
    assert cosine([1.0, 0.0], [2.0, 0.0]) == pytest.approx(1.0)
    assert cosine([1.0, 0.0], [0.0, 3.0]) == pytest.approx(0.0)
    assert cosine([0.0, 0.0], [1.0, 1.0]) == 0.0
    vs = [[1.0, 1.0], [0.0, 2.0], [0.0, 0.0], [-1.0, 0.0]]
    assert cosines([1.0, 0.0], vs) == pytest.approx([cosine([1.0, 0.0], v) for v in vs])
    assert cosines([1.0, 0.0], []) == []


def test_expand_adds_weighted_positive_neighbour_scores():
    own = {"a": 1.0, "b": 0.5, "c": -0.2, "d": 0.0}
    links = {"a": ["b"], "b": ["a", "c"], "c": ["b", "d"], "d": ["c", "zz"]}
    out = expand(own, lambda i: links[i], weight=0.2)
    assert out == pytest.approx({"a": 1.1, "b": 0.7, "c": -0.1, "d": 0.0})  # negatives and unknowns lend nothing
