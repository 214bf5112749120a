"""The emulator itself: the documented request/response shapes (raw HTTP), the unmodified SDK
client working against it, and its filter parser. If these drift from the docs, the plugin's
other tests prove nothing."""

from __future__ import annotations

import math

import httpx
import pytest
from upstash_emulator import TOKEN, FilterSyntaxError, UpstashEmulator, glob_match, matches, parse_filter
from upstash_vector import AsyncIndex

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def post(server: UpstashEmulator, path: str, body: object = None, *, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, headers=AUTH if headers is None else headers, timeout=5)


def unit(*xs: float) -> list[float]:
    v = list(xs) + [0.0] * (8 - len(xs))
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


# ---------------------------------------------------------------------------------- REST shapes
def test_envelopes_auth_and_errors(upstash_server: UpstashEmulator) -> None:
    r = post(upstash_server, "/upsert", {"id": "a", "vector": unit(1), "metadata": {"k": "v"}})
    assert r.status_code == 200 and r.json() == {"result": "Success"}
    r = post(upstash_server, "/info", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json() == {"error": "Unauthorized: Invalid auth token", "status": 401}
    assert post(upstash_server, "/info", headers={}).status_code == 401
    r = post(upstash_server, "/upsert", {"id": "b", "vector": [1.0, 2.0]})
    assert r.status_code == 422 and r.json() == {"error": "Invalid vector dimension: 2, expected: 8", "status": 422}
    r = post(upstash_server, "/nope")
    assert r.status_code == 404 and r.json()["status"] == 404
    r = post(upstash_server, "/query", {"vector": unit(1), "filter": "k = 'v"})
    assert r.status_code == 400 and "unterminated" in r.json()["error"]
    r = post(upstash_server, "/query", {"vector": unit(1), "topK": 1001})
    assert r.status_code == 400
    r = post(upstash_server, "/upsert-data", {"id": "c", "data": "text"})
    assert r.status_code == 400 and "Embedding" in r.json()["error"]
    r = httpx.request("PATCH", f"{upstash_server.url}/info", headers=AUTH)
    assert r.status_code == 405


def test_query_shapes_and_normalised_scores(upstash_server: UpstashEmulator) -> None:
    post(upstash_server, "/upsert", [
        {"id": "x", "vector": unit(1), "metadata": {"n": 1}},
        {"id": "y", "vector": unit(0, 1)},
        {"id": "z", "vector": unit(-1), "metadata": {"n": 3}},
    ])
    r = post(upstash_server, "/query", {"vector": unit(1), "topK": 3, "includeMetadata": True}).json()["result"]
    assert [h["id"] for h in r] == ["x", "y", "z"]
    assert [h["score"] for h in r] == pytest.approx([1.0, 0.5, 0.0])  # (1 + cos) / 2
    assert r[0]["metadata"] == {"n": 1} and "metadata" not in r[1] and "vector" not in r[0]
    r = post(upstash_server, "/query", {"vector": unit(1), "topK": 3, "includeVectors": True, "filter": "n >= 2"}).json()
    assert [h["id"] for h in r["result"]] == ["z"] and len(r["result"][0]["vector"]) == 8
    batch = post(upstash_server, "/query", [{"vector": unit(1), "topK": 1}, {"vector": unit(0, 1), "topK": 1}]).json()
    assert [[h["id"] for h in q] for q in batch["result"]] == [["x"], ["y"]]


@pytest.mark.parametrize(("similarity", "expect"), [("EUCLIDEAN", [1.0, 1 / 3, 0.2]), ("DOT_PRODUCT", [1.0, 0.5, 0.0])])
def test_other_similarity_functions(similarity: str, expect: list[float]) -> None:
    with UpstashEmulator(token=TOKEN, dimension=8, similarity=similarity) as srv:
        post(srv, "/upsert", [{"id": "x", "vector": unit(1)}, {"id": "y", "vector": unit(0, 1)}, {"id": "z", "vector": unit(-1)}])
        r = post(srv, "/query", {"vector": unit(1), "topK": 3}).json()["result"]
        assert [h["score"] for h in r] == pytest.approx(expect, rel=1e-6)
        assert post(srv, "/info").json()["result"]["similarityFunction"] == similarity


def test_namespaces_fetch_range_delete_update_reset_info(upstash_server: UpstashEmulator) -> None:
    post(upstash_server, "/upsert/ns1", [{"id": f"id-{i}", "vector": unit(1, i), "metadata": {"i": i}} for i in range(5)])
    post(upstash_server, "/upsert", {"id": "default", "vector": unit(1)})
    r = post(upstash_server, "/fetch/ns1", {"ids": ["id-1", "missing", "default"], "includeMetadata": True}).json()
    assert r["result"] == [{"id": "id-1", "metadata": {"i": 1}}, None, None]
    seen, cursor = [], ""
    while True:
        page = post(upstash_server, "/range/ns1", {"cursor": cursor, "limit": 2, "includeMetadata": True}).json()["result"]
        seen += [v["id"] for v in page["vectors"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"id-{i}" for i in range(5)]
    assert post(upstash_server, "/delete/ns1", {"ids": ["id-0", "nope"]}).json() == {"result": {"deleted": 1}}
    assert post(upstash_server, "/delete/ns1", {"filter": "i >= 3"}).json() == {"result": {"deleted": 2}}
    assert post(upstash_server, "/update/ns1", {"id": "id-1", "metadata": {"j": 1}}).json() == {"result": {"updated": 1}}
    assert post(upstash_server, "/update/ns1", {"id": "gone", "metadata": {"j": 1}}).json() == {"result": {"updated": 0}}
    post(upstash_server, "/update/ns1", {"id": "id-1", "metadata": {"k": 2, "j": None}, "metadataUpdateMode": "PATCH"})
    assert upstash_server.vectors("ns1")["id-1"][1] == {"k": 2}
    info = post(upstash_server, "/info").json()["result"]
    assert info["vectorCount"] == 3 and info["dimension"] == 8 and info["similarityFunction"] == "COSINE"
    assert info["namespaces"] == {"": {"vectorCount": 1, "pendingVectorCount": 0}, "ns1": {"vectorCount": 2, "pendingVectorCount": 0}}
    assert post(upstash_server, "/reset/ns1").json() == {"result": "Success"}
    assert upstash_server.vectors("ns1") == {} and "default" in upstash_server.vectors("")
    post(upstash_server, "/reset?all")
    assert post(upstash_server, "/info").json()["result"]["vectorCount"] == 0


async def test_unmodified_sdk_client_speaks_to_it(upstash_server: UpstashEmulator) -> None:
    """The stock ``AsyncIndex`` (its own httpx transport) against the emulator."""
    index = AsyncIndex(url=upstash_server.url, token=TOKEN, retries=0, allow_telemetry=False)
    try:
        await index.upsert(vectors=[("a", unit(1), {"tag": "x"}), ("b", unit(0, 1), {"tag": "y"})], namespace="sdk")
        hits = await index.query(vector=unit(1), top_k=2, include_metadata=True, filter="tag = 'x'", namespace="sdk")
        assert [(h.id, h.metadata) for h in hits] == [("a", {"tag": "x"})] and hits[0].score == pytest.approx(1.0)
        fetched = await index.fetch(ids=["b", "zz"], include_vectors=True, namespace="sdk")
        assert fetched[0] is not None and fetched[0].id == "b" and fetched[1] is None
        page = await index.range(cursor="", limit=10, include_metadata=True, namespace="sdk")
        assert sorted(v.id for v in page.vectors) == ["a", "b"] and page.next_cursor == ""
        assert await index.update("a", metadata={"tag": "z"}, namespace="sdk") is True
        assert (await index.delete(ids=["a", "b", "c"], namespace="sdk")).deleted == 2
        info = await index.info()
        assert info.dimension == 8 and info.namespaces["sdk"].vector_count == 0
        assert await index.reset(namespace="sdk") == "Success"
    finally:
        await index._client.aclose()


# ---------------------------------------------------------------------------------- filter grammar
DOC = {
    "city": "Istanbul",
    "country": "Turkey",
    "is_capital": False,
    "population": 15460000,
    "geography": {"continent": "Asia", "coordinates": {"latitude": 41.0082, "longitude": 28.9784}},
    "economy": {"currency": "TRY", "major_industries": ["Tourism", "Textiles", "Finance"]},
}


@pytest.mark.parametrize(
    ("flt", "want"),
    [  # the examples of Upstash's filtering page, on its sample metadata
        ("country = 'Turkey' AND population = 15460000 AND is_capital = false", True),
        ("country != 'Germany' AND population != 12500000 AND is_capital != true", True),
        ("population < 20000000 OR geography.coordinates.longitude < 30.0", True),
        ("population >= 1000000 AND geography.continent = \"Asia\"", True),
        ("city GLOB '?[sz]*[^m-z]'", True),
        ("city NOT GLOB 'A*'", True),
        ("country IN ('Germany', 'Turkey', 'France')", True),
        ("economy.currency NOT IN ('USD', 'EUR')", True),
        ("economy.major_industries CONTAINS 'Tourism'", True),
        ("economy.major_industries NOT CONTAINS 'Steel Production'", True),
        ("country = 'Turkey' AND (population > 10000000 OR is_capital = false)", True),
        ("economy.major_industries[0] = 'Tourism'", True),
        ("economy.major_industries[#-1] = 'Finance'", True),
        ("HAS FIELD geography.coordinates AND HAS NOT FIELD lake", True),
        # precedence: AND binds tighter than OR
        ("country = 'Turkey' AND population > 99999999 OR is_capital = false", True),
        ("country = 'Turkey' AND (population > 99999999 OR is_capital = true)", False),
        ("city glob 'ist*' or COUNTRY = 'Turkey'", False),  # case-sensitive GLOB and keys
        ("city GLOB 'Ist*' and country in ('Turkey')", True),  # keywords are not
        ("is_capital = 0", True),  # 1/0 are boolean literals too
        ("population != 'x'", False),  # another type: false, negated or not
        ("lake != 'x'", False),  # missing key: false, negated or not
        ("city CONTAINS 'Ist'", False),  # CONTAINS is for arrays
    ],
)
def test_documented_filter_examples(flt: str, want: bool) -> None:
    assert matches(flt, DOC) is want


@pytest.mark.parametrize(
    "bad",
    [
        "k = 'it\\'s'",  # no documented escape sequences
        "k = 1e-10",  # no exponents
        "k = .5",
        "k == 1",
        "k = 'open",
        "(k = 1",
        "k = 1 AND",
        "k IN ()",
        "k GLOB 1",
        "k GLOB '[abc'",
        "AND = 1",
        ".invalid = 1",
        "industries[ = 1",
        "industries[] = 1",
        "HAS FIELD",
        "k LIKE 'x'",
    ],
)
def test_malformed_filters_are_rejected(bad: str) -> None:
    with pytest.raises(FilterSyntaxError):
        parse_filter(bad)


def test_glob() -> None:
    assert glob_match("a*c", "abbbc") and glob_match("a?c", "abc") and not glob_match("a?c", "ac")
    assert glob_match("[a-c]x", "bx") and not glob_match("[^a-c]x", "bx")
    assert glob_match("[*]", "*") and not glob_match("[*]", "x")
    assert glob_match("*", "new\nline") and glob_match("a\\b", "a\\b")
