"""A loopback emulator of Pinecone's REST API: the data plane of one dense index, and the one
control-plane request the SDK makes to reach it by name.

Written from Pinecone's documentation (API version sent by the SDK: ``X-Pinecone-Api-Version``),
independently of the plugin: requests need ``Api-Key: <key>``; vectors are stored as float32, as
the service keeps them; metadata follows the documented types (string, number, boolean, list of
strings; no null, no nested object; at most 40 KB per record as JSON). Its filter language is
evaluated here as documented (:func:`matches`), MongoDB-like:

    {"genre": "drama"}                          $eq shorthand; top-level keys are ANDed
    {"year": {"$gt": 2019, "$lte": 2024}}       several operators on one field are ANDed
    $eq $ne         number, string, boolean     (on a list of strings: it holds / it does not hold the value)
    $gt $gte $lt $lte   number only
    $in $nin        list of strings or numbers  (on a list field: any element in / no element in)
    $exists         boolean
    $and $or        lists of filters

A record without the field fails ``$eq``, ``$in``, ranges and ``$exists: true``, and passes
``$ne``, ``$nin`` and ``$exists: false`` (MongoDB's semantics). Types never coerce: ``true`` is not
``1``, ``"1"`` is not ``1``. An operator on a value of the wrong type, an unknown operator or an
empty ``$and``/``$or`` is a 400.

Routes (data plane on the emulator's own URL, which is also the index's ``host``):

    POST /vectors/upsert               {vectors: [{id, values, metadata?}], namespace?} -> {upsertedCount}
    GET  /vectors/fetch?ids=..&namespace=..                 -> {vectors: {id: {id, values, metadata}}, namespace, usage}
    POST /vectors/fetch_by_metadata    {filter, namespace?, limit?, paginationToken?} -> {vectors, namespace, usage,
                                                                                          pagination?: {next}}
    POST /query                        {vector, topK, namespace?, filter?, includeValues?, includeMetadata?}
                                       -> {matches: [{id, score, values?, metadata?}], namespace, usage}
    POST /vectors/update               {id, values?, setMetadata?, namespace?} -> {}
    POST /vectors/delete               {ids? | deleteAll? | filter?, namespace?} -> {}   (deleteAll on a namespace
                                                                                      never written: 404)
    GET  /vectors/list?namespace&prefix&limit&paginationToken  -> {vectors: [{id}], pagination?, namespace, usage}
    POST /describe_index_stats         {} -> {namespaces: {ns: {vectorCount}}, dimension, indexFullness,
                                              totalVectorCount, metric, vectorType}
    GET  /indexes/<name>               (control plane) -> the index's description, its ``host`` this URL

Errors are ``{"code": <grpc code>, "message": "...", "details": []}`` on the data plane and
``{"error": {"code": "...", "message": "..."}, "status": n}`` on the control plane. Scores are
cosine similarities (the metric is ``cosine``), best first, ties by id.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import threading
from typing import Any
from urllib.parse import parse_qs

from mem7_core.testing.emulator import LoopbackEmulator, Recorded, Reply

API_KEY = "pc-test"
MAX_METADATA_BYTES = 40 * 1024
MAX_ID_BYTES = 512
MAX_UPSERT = 1000
MAX_TOP_K = 10_000
MAX_TOP_K_WITH_DATA = 1000
DATA_PATHS = ("/vectors/upsert", "/vectors/fetch", "/vectors/fetch_by_metadata", "/query", "/vectors/update",
              "/vectors/delete", "/vectors/list", "/describe_index_stats")


class BadRequest(Exception):
    """A request the service would answer 400."""


def _f32(values: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    """Equality without coercion between booleans, numbers and strings."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    return isinstance(a, str) and isinstance(b, str) and a == b


_MISSING = object()


def _field(md: dict[str, Any], field: str, op: str, operand: Any) -> bool:
    value = md.get(field, _MISSING)
    if op in ("$eq", "$ne"):
        if not (isinstance(operand, (str, bool)) or _is_number(operand)):
            raise BadRequest(f"{op} on {field!r} takes a number, string or boolean")
        if value is _MISSING:
            return op == "$ne"
        hit = any(_same(v, operand) for v in value) if isinstance(value, list) else _same(value, operand)
        return hit if op == "$eq" else not hit
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not _is_number(operand):
            raise BadRequest(f"{op} on {field!r} takes a number")
        if not _is_number(value):
            return False
        a, b = float(value), float(operand)
        return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]
    if op in ("$in", "$nin"):
        if not isinstance(operand, list) or not all(isinstance(v, str) or _is_number(v) for v in operand):
            raise BadRequest(f"{op} on {field!r} takes a list of strings or numbers")
        if value is _MISSING:
            return op == "$nin"
        items = value if isinstance(value, list) else [value]
        hit = any(_same(v, w) for v in items for w in operand)
        return hit if op == "$in" else not hit
    if op == "$exists":
        if not isinstance(operand, bool):
            raise BadRequest(f"$exists on {field!r} takes a boolean")
        return (value is not _MISSING) == operand
    raise BadRequest(f"unknown operator {op!r} on {field!r}")


def matches(flt: Any, md: dict[str, Any]) -> bool:
    """Whether metadata ``md`` passes Pinecone filter ``flt`` (see the module docstring)."""
    if not isinstance(flt, dict):
        raise BadRequest("a filter is a JSON object")
    for key, cond in flt.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list) or not cond:
                raise BadRequest(f"{key} takes a non-empty list of filters")
            results = [matches(c, md) for c in cond]
            if not (all(results) if key == "$and" else any(results)):
                return False
        elif key.startswith("$"):
            raise BadRequest(f"unknown operator {key!r}")
        elif isinstance(cond, dict):
            if not cond:
                raise BadRequest(f"empty condition on {key!r}")
            if not all(_field(md, key, op, operand) for op, operand in cond.items()):
                return False
        elif not _field(md, key, "$eq", cond):
            return False
    return True


def _check_metadata(md: Any) -> dict[str, Any]:
    if md is None:
        return {}
    if not isinstance(md, dict):
        raise BadRequest("metadata must be a JSON object")
    for key, value in md.items():
        if key.startswith("$"):
            raise BadRequest(f"metadata key {key!r} must not start with '$'")
        ok = isinstance(value, (str, bool)) or (_is_number(value) and math.isfinite(value)) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value))
        if not ok:
            raise BadRequest(f"Metadata value for field {key!r} must be a string, number, boolean or list of strings; "
                             f"got {type(value).__name__}")
    if len(json.dumps(md).encode()) > MAX_METADATA_BYTES:
        raise BadRequest(f"Metadata size exceeds the limit of {MAX_METADATA_BYTES} bytes per vector")
    return md


class PineconeEmulator(LoopbackEmulator):
    """One dense cosine index: ``url`` is its host (and the control plane's URL)."""

    name = "pinecone"
    fault_paths = DATA_PATHS
    malformed_body = b'{"matches": [{"id": "x", "sco'

    def __init__(self, *, dimension: int = 8, metric: str = "cosine", index_name: str = "mem7-test",
                 api_key: str = API_KEY) -> None:
        super().__init__()
        self.dimension = dimension
        self.metric = metric
        self.index_name = index_name
        self.api_key = api_key
        self.namespaces: dict[str, dict[str, tuple[list[float], dict[str, Any]]]] = {}
        self._data = threading.Lock()

    def error_body(self, status: int, message: str) -> Any:
        return {"code": {429: 8, 400: 3, 404: 5}.get(status, 13), "message": message, "details": []}

    def reject(self, rec: Recorded) -> Reply | None:
        if rec.headers.get("api-key") != self.api_key:
            if rec.path.startswith("/indexes"):
                return 401, {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, "status": 401}, {}
            return 401, {"code": 16, "message": "Invalid API Key", "details": []}, {}
        if rec.path.startswith("/indexes/") and rec.method == "GET":
            return None
        if rec.path not in DATA_PATHS:
            return self.not_found(rec)
        return None

    # ------------------------------------------------------------------ dispatch
    def answer(self, rec: Recorded) -> Reply:
        try:
            with self._data:
                return self._answer(rec)
        except BadRequest as exc:
            return 400, self.error_body(400, str(exc)), {}

    def _answer(self, rec: Recorded) -> Reply:
        if rec.path.startswith("/indexes/"):
            return self._describe_index(rec.path.removeprefix("/indexes/"))
        query = parse_qs(rec.query)
        body = rec.body if isinstance(rec.body, dict) else {}
        if rec.method == "POST" and not isinstance(rec.body, dict) and rec.path != "/describe_index_stats":
            raise BadRequest("the body must be a JSON object")
        route = (rec.method, rec.path)
        if route == ("POST", "/vectors/upsert"):
            return self._upsert(body)
        if route == ("GET", "/vectors/fetch"):
            return self._fetch(query)
        if route == ("POST", "/vectors/fetch_by_metadata"):
            return self._fetch_by_metadata(body)
        if route == ("POST", "/query"):
            return self._query(body)
        if route == ("POST", "/vectors/update"):
            return self._update(body)
        if route == ("POST", "/vectors/delete"):
            return self._delete(body)
        if route == ("GET", "/vectors/list"):
            return self._list(query)
        if route == ("POST", "/describe_index_stats"):
            return self._stats()
        return self.not_found(rec)

    def _ns(self, body: dict[str, Any]) -> str:
        ns = body.get("namespace", "")
        if not isinstance(ns, str):
            raise BadRequest("namespace must be a string")
        return ns

    def _values(self, values: Any, where: str) -> list[float]:
        if not isinstance(values, list) or not all(_is_number(v) and math.isfinite(v) for v in values):
            raise BadRequest(f"{where}: values must be a list of finite numbers")
        if len(values) != self.dimension:
            raise BadRequest(f"Vector dimension {len(values)} does not match the dimension of the index "
                             f"{self.dimension}")
        if self.metric == "cosine" and not any(values):
            raise BadRequest(f"{where}: dense vectors must contain at least one non-zero value")
        return _f32([float(v) for v in values])

    @staticmethod
    def _check_id(vid: Any) -> str:
        if not isinstance(vid, str) or not vid or not vid.isascii() or "\x00" in vid or len(vid) > MAX_ID_BYTES:
            raise BadRequest(f"invalid vector id {vid!r}: ASCII, 1 to {MAX_ID_BYTES} characters")
        return vid

    def _vector(self, vid: str, values: list[float], md: dict[str, Any], *, with_values: bool = True,
                with_metadata: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": vid}
        if with_values:
            out["values"] = values
        if with_metadata and md:
            out["metadata"] = md
        return out

    # ------------------------------------------------------------------ routes
    def _describe_index(self, name: str) -> Reply:
        if name != self.index_name:
            return 404, {"error": {"code": "NOT_FOUND", "message": f"Resource {name} not found"}, "status": 404}, {}
        return 200, {
            "name": self.index_name,
            "status": {"ready": True, "state": "Ready"},
            "schema": {"fields": {"values": {"type": "dense_vector", "dimension": self.dimension,
                                             "metric": self.metric}}},
            "deployment": {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
            "deletion_protection": "disabled",
            "host": self.url,
        }, {}

    def _upsert(self, body: dict[str, Any]) -> Reply:
        vectors = body.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise BadRequest("vectors must be a non-empty list")
        if len(vectors) > MAX_UPSERT:
            raise BadRequest(f"at most {MAX_UPSERT} vectors per upsert request")
        rows = []
        for i, v in enumerate(vectors):
            if not isinstance(v, dict):
                raise BadRequest(f"vectors[{i}] must be an object")
            rows.append((self._check_id(v.get("id")), self._values(v.get("values"), f"vectors[{i}]"),
                         _check_metadata(v.get("metadata"))))
        space = self.namespaces.setdefault(self._ns(body), {})
        for vid, values, md in rows:
            space[vid] = (values, dict(md))
        return 200, {"upsertedCount": len(rows)}, {}

    def _fetch(self, query: dict[str, list[str]]) -> Reply:
        ids = query.get("ids", [])
        if not ids:
            raise BadRequest("ids must be a non-empty list")
        ns = (query.get("namespace") or [""])[0]
        space = self.namespaces.get(ns, {})
        vectors = {vid: self._vector(vid, *space[vid]) for vid in ids if vid in space}
        return 200, {"vectors": vectors, "namespace": ns, "usage": {"readUnits": 1}}, {}

    def _fetch_by_metadata(self, body: dict[str, Any]) -> Reply:
        flt, limit, token = body.get("filter"), body.get("limit", 100), body.get("paginationToken")
        if not isinstance(flt, dict) or not flt:
            raise BadRequest("filter must be a non-empty object")
        if not _is_number(limit) or not 1 <= limit <= 10_000:
            raise BadRequest("limit must be between 1 and 10000")
        ns = self._ns(body)
        # an order of its own (by a hash of the id), so no client can rely on insertion or id order
        order = sorted(self.namespaces.get(ns, {}).items(), key=lambda kv: hashlib.sha1(kv[0].encode()).hexdigest())
        hits = [(vid, row) for vid, row in order if matches(flt, row[1])]
        start = int(token) if isinstance(token, str) and token.isdigit() else 0
        page = hits[start:start + int(limit)]
        out: dict[str, Any] = {"vectors": {vid: self._vector(vid, *row) for vid, row in page}, "namespace": ns,
                               "usage": {"readUnits": 1}}
        if start + int(limit) < len(hits):
            out["pagination"] = {"next": str(start + int(limit))}
        return 200, out, {}

    def _query(self, body: dict[str, Any]) -> Reply:
        top_k, flt = body.get("topK"), body.get("filter")
        with_values, with_md = bool(body.get("includeValues")), bool(body.get("includeMetadata"))
        cap = MAX_TOP_K_WITH_DATA if (with_values or with_md) else MAX_TOP_K
        if not _is_number(top_k) or not 1 <= top_k <= cap:
            raise BadRequest(f"topK must be between 1 and {cap}")
        query = self._values(body.get("vector"), "vector")
        ns = self._ns(body)
        qn = math.sqrt(sum(x * x for x in query))
        scored = []
        for vid, (values, md) in self.namespaces.get(ns, {}).items():
            if flt is not None and not matches(flt, md):
                continue
            vn = math.sqrt(sum(x * x for x in values))
            scored.append((sum(a * b for a, b in zip(query, values)) / (qn * vn), vid, values, md))
        scored.sort(key=lambda s: (-s[0], s[1]))
        hits = [{**self._vector(vid, values, md, with_values=with_values, with_metadata=with_md), "score": score}
                for score, vid, values, md in scored[:int(top_k)]]
        return 200, {"matches": hits, "namespace": ns, "usage": {"readUnits": 5}}, {}

    def _update(self, body: dict[str, Any]) -> Reply:
        vid, ns = self._check_id(body.get("id")), self._ns(body)
        space = self.namespaces.get(ns, {})
        if vid not in space:
            return 200, {"matchedRecords": 0}, {}
        values, md = space[vid]
        if body.get("values") is not None:
            values = self._values(body["values"], "values")
        if body.get("setMetadata") is not None:
            md = _check_metadata({**md, **_check_metadata(body["setMetadata"])})
        space[vid] = (values, md)
        return 200, {"matchedRecords": 1}, {}

    def _delete(self, body: dict[str, Any]) -> Reply:
        ns = self._ns(body)
        selectors = [k for k in ("ids", "deleteAll", "filter") if body.get(k)]
        if len(selectors) != 1:
            raise BadRequest("give exactly one of ids, deleteAll and filter")
        if body.get("deleteAll"):
            if ns not in self.namespaces:
                return 404, {"code": 5, "message": "Namespace not found", "details": []}, {}
            del self.namespaces[ns]
            return 200, {}, {}
        space = self.namespaces.get(ns, {})
        if body.get("ids"):
            ids = body["ids"]
            if not isinstance(ids, list) or len(ids) > 1000:
                raise BadRequest("ids must be a list of at most 1000 ids")
            for vid in ids:
                space.pop(self._check_id(vid), None)
        else:
            for vid in [v for v, (_, md) in space.items() if matches(body["filter"], md)]:
                del space[vid]
        return 200, {}, {}

    def _list(self, query: dict[str, list[str]]) -> Reply:
        ns = (query.get("namespace") or [""])[0]
        prefix = (query.get("prefix") or [""])[0]
        limit = int((query.get("limit") or ["100"])[0])
        start = int((query.get("paginationToken") or ["0"])[0])
        ids = sorted(v for v in self.namespaces.get(ns, {}) if v.startswith(prefix))
        out: dict[str, Any] = {"vectors": [{"id": v} for v in ids[start:start + limit]], "namespace": ns,
                               "usage": {"readUnits": 1}}
        if start + limit < len(ids):
            out["pagination"] = {"next": str(start + limit)}
        return 200, out, {}

    def _stats(self) -> Reply:
        spaces = {ns or "__default__": {"vectorCount": len(rows)} for ns, rows in self.namespaces.items() if rows}
        return 200, {"namespaces": spaces, "dimension": self.dimension, "indexFullness": 0.0,
                     "totalVectorCount": sum(s["vectorCount"] for s in spaces.values()), "metric": self.metric,
                     "vectorType": "dense"}, {}
