"""A reranker that asks an LLM to score every candidate in one call.

One ``generate()`` per ``rerank()`` whatever the number of candidates: the prompt lists the query
and the documents by index, and the model answers ``{"scores": [{"index": 0, "score": 0.9}, ...]}``.
The answer is read tolerantly (code fences, prose around the JSON, trailing commas, truncated
output, missing or out-of-range indexes, scores as strings or on a 0-10 / 0-100 scale), and what
cannot be read at all is a :class:`~mem7_core.errors.ProviderError`, after which the engine keeps
the vector order (the :class:`~mem7_core.providers.Reranker` contract). No second call is made.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, model_validator

from mem7_core.errors import ConfigError, ProviderError, ProviderNotFoundError
from mem7_core.models import RerankResult
from mem7_core.plugins import PluginRegistry, get_registry
from mem7_core.providers import LLM, Message, ProviderConfig, ProviderSpec, Reranker
from mem7_core.providers.llm_json import parse_json_object

log = logging.getLogger("mem7.llm_rerank")

PROVIDER = "llm_rerank"
"""The name every ``ProviderError`` of this plugin carries (and the provider's registered name)."""

RERANK_MARKER = "You rank documents by their relevance to a search query."
"""First line of the system prompt (``ScriptedLLM.calls_for(RERANK_MARKER)`` finds these calls)."""

DEFAULT_CRITERIA = (
    "Score every document from 0.0 (unrelated to the query) to 1.0 (directly answers it or is exactly "
    "what it asks about). Judge each document on its own content; documents are facts remembered "
    "about a user or an agent."
)

OUTPUT_FORMAT = (
    "Reply with a JSON object only, no prose, with one entry per document, using the document's index:\n"
    '{"scores": [{"index": 0, "score": 0.9}, {"index": 1, "score": 0.1}]}'
)

_SCORE_LIST_KEYS = ("scores", "results", "rankings", "ranking", "documents", "items")
_INDEX_KEYS = ("index", "idx", "id", "doc", "document", "document_index", "i")
_SCORE_KEYS = ("score", "relevance_score", "relevance", "value", "s")
_OBJECT = re.compile(r"\{[^{}]*\}")
_INDEX_TEXT = re.compile(r"^\s*\[?\s*(?:doc(?:ument)?\s*)?#?\s*(\d+)\s*\]?\s*$", re.I)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


class ScoringLLMSpec(ProviderSpec):
    """``reranker.config.llm``: which LLM provider scores, and its own config section (extra keys
    folded into ``config``, as in the engine's own ``llm`` section)."""

    provider: str = "openai"


class LLMRerankerConfig(ProviderConfig):
    """``reranker.config`` of the ``llm_rerank`` provider (aliases ``llm``, ``llm-rerank``, ``llm_reranker``)."""

    llm: ScoringLLMSpec | None = Field(
        None,
        description='The scoring LLM, built through the plugin registry: {"provider": "openai", "config": {...}}. '
        "Default: the openai provider with its defaults (OPENAI_API_KEY). Ignored when an LLM is given directly.",
    )
    top_n: int | None = Field(
        None, ge=1,
        description="Default cap on results when the caller gives none (None: every candidate comes back).",
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(
        None, ge=16, description="Answer budget; default 40 + 20 per document (enough for one entry each)."
    )
    max_document_chars: int = Field(1000, ge=20, description="Each document is cut to this many characters.")
    custom_prompt: str | None = Field(
        None,
        description="Scoring instructions replacing the default criteria; the JSON answer format is always appended.",
    )

    @model_validator(mode="before")
    @classmethod
    def _mem0_keys(cls, data: Any) -> Any:
        """mem0's llm_reranker keys: ``provider`` / ``model`` / ``api_key`` build ``llm``; ``top_k`` is ``top_n``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "top_k" in data:
            value = data.pop("top_k")
            if data.get("top_n") is None:
                data["top_n"] = value
        flat = {k: data.pop(k) for k in ("provider", "model", "api_key") if k in data}
        if flat and data.get("llm") is None:
            provider = flat.pop("provider", None) or "openai"
            data["llm"] = {"provider": provider, "config": {k: v for k, v in flat.items() if v is not None}}
        return data


def build_llm(spec: ScoringLLMSpec | None, registry: PluginRegistry | None = None) -> LLM:
    """The scoring LLM from its config section, through the plugin registry.

    :param registry: the registry that built the reranker (the engine's, given to ``from_config``);
        the process-wide one only when the reranker is built by hand without one.
    :raises ConfigError: naming ``reranker.config.llm`` (unknown provider, bad field, missing key).
    """
    spec = spec if spec is not None else ScoringLLMSpec()
    registry = registry or get_registry()
    where = "reranker.config.llm"
    try:
        llm = registry.create("llm", spec.provider, dict(spec.config))
    except ValidationError as exc:
        problems = "; ".join(
            f"{where}.config.{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        raise ConfigError(
            f"Invalid config for the {spec.provider!r} LLM of the llm_rerank reranker: {problems}"
        ) from exc
    except ProviderNotFoundError:
        raise
    except ConfigError as exc:
        raise ConfigError(f"{where} ({spec.provider}): {exc}") from exc
    if not isinstance(llm, LLM):
        raise ConfigError(f"{where}: provider {spec.provider!r} did not build an LLM")
    return llm


# ------------------------------------------------------------------------------------ parsing
def _as_index(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = _INDEX_TEXT.match(value)
        return int(m.group(1)) if m else None
    return None


def _as_score(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        score = float(value)
    elif isinstance(value, str):
        try:
            score = float(value.strip().rstrip("%"))
        except ValueError:
            return None
    else:
        return None
    return score if math.isfinite(score) else None


def _first(item: dict[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in item:
            return item[key]
    return None


def _entries_of(raw: Any) -> list[tuple[Any, Any]]:
    """(index, score) pairs from a list of objects, a list of numbers, a list of pairs, or a mapping."""
    if isinstance(raw, dict):
        return list(raw.items())
    if not isinstance(raw, list):
        return []
    out: list[tuple[Any, Any]] = []
    for pos, item in enumerate(raw):
        if isinstance(item, dict):
            out.append((_first(item, _INDEX_KEYS), _first(item, _SCORE_KEYS)))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            out.append((item[0], item[1]))
        else:  # a bare score: its position is its index
            out.append((pos, item))
    return out


def _salvage(text: str) -> list[tuple[Any, Any]]:
    """Complete ``{...}`` entries of a truncated or otherwise unreadable answer."""
    out: list[tuple[Any, Any]] = []
    for m in _OBJECT.finditer(text):
        for attempt in (m.group(0), _TRAILING_COMMA.sub(r"\1", m.group(0))):
            try:
                item = json.loads(attempt)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append((_first(item, _INDEX_KEYS), _first(item, _SCORE_KEYS)))
            break
    return out


def parse_scores(text: str | None, count: int) -> dict[int, float]:
    """Scores by document index, read tolerantly from an LLM answer; unusable entries are skipped.

    Indexes outside ``0..count-1``, repeated indexes (the first wins) and non-numeric scores are
    dropped. Scores on a larger scale (0-10, 0-100) are brought to 0-1; the rest is clamped to 0-1.
    """
    entries: list[tuple[Any, Any]] = []
    try:
        obj = parse_json_object(text)
    except ValueError:
        obj = None
    if obj is not None:
        raw = next((obj[k] for k in _SCORE_LIST_KEYS if k in obj), None)
        if raw is None and obj and all(_as_index(k) is not None for k in obj):
            raw = obj  # {"0": 0.9, "1": 0.2}
        entries = _entries_of(raw)
    if not entries and text:
        entries = _salvage(str(text))
    scores: dict[int, float] = {}
    for raw_index, raw_score in entries:
        index, score = _as_index(raw_index), _as_score(raw_score)
        if index is None or score is None or not 0 <= index < count or index in scores:
            continue
        scores[index] = score
    if scores:
        top = max(scores.values())
        scale = 1.0 if top <= 1.0 else 10.0 if top <= 10.0 else 100.0 if top <= 100.0 else top
        scores = {i: min(1.0, max(0.0, s / scale)) for i, s in scores.items()}
    return scores


# ----------------------------------------------------------------------------------- reranker
class LLMReranker(Reranker):
    """Scores all candidates with one LLM call.

    :param config: validated ``reranker.config``.
    :param llm: the scoring LLM, used as given (the caller closes it); otherwise one is built from
        ``config.llm`` through the registry, and :meth:`aclose` closes it.
    :param registry: where ``config.llm`` is looked up: the engine's registry when the engine
        builds the reranker (through :meth:`from_config`); default: the process-wide registry.
    """

    name = "llm_rerank"
    aliases: ClassVar[tuple[str, ...]] = ("llm", "llm-rerank", "llm_reranker")
    Config = LLMRerankerConfig
    config: LLMRerankerConfig

    def __init__(
        self,
        config: LLMRerankerConfig | None = None,
        *,
        llm: LLM | None = None,
        registry: PluginRegistry | None = None,
    ) -> None:
        super().__init__(config)
        self._owns_llm = llm is None
        self.llm: LLM = llm if llm is not None else build_llm(self.config.llm, registry)
        self._closed = False

    @classmethod
    def from_config(
        cls,
        section: dict[str, Any] | ProviderConfig | None = None,
        *,
        selected_as: str | None = None,
        registry: PluginRegistry | None = None,
    ) -> LLMReranker:
        """Build from ``reranker.config``; the scoring LLM comes from ``registry`` (the engine's)."""
        if isinstance(section, LLMRerankerConfig):
            config = section
        elif isinstance(section, ProviderConfig):
            config = LLMRerankerConfig.model_validate(section.model_dump(exclude_unset=True))
        else:
            config = LLMRerankerConfig.model_validate(section or {})
        return cls(config, registry=registry)

    # ------------------------------------------------------------------------------- prompt
    def messages(self, query: str, documents: Sequence[str]) -> list[Message]:
        """The chat sent to the LLM: instructions, then the query and the numbered documents."""
        cfg = self.config
        criteria = cfg.custom_prompt.strip() if cfg.custom_prompt else DEFAULT_CRITERIA
        system = f"{RERANK_MARKER}\n{criteria}\n{OUTPUT_FORMAT}"
        n = len(documents)
        lines = [f"Query: {json.dumps(query, ensure_ascii=False)}", "",
                 f"Documents ({n}, indexes 0 to {n - 1}):"]
        for i, doc in enumerate(documents):
            text = doc if len(doc) <= cfg.max_document_chars else doc[: cfg.max_document_chars] + "…"
            lines.append(f"[{i}] {json.dumps(text, ensure_ascii=False)}")
        lines += ["", f"Return the JSON object with a score for each of the {n} documents."]
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]

    def max_tokens_for(self, count: int) -> int:
        return self.config.max_tokens if self.config.max_tokens is not None else 40 + 20 * count

    # -------------------------------------------------------------------------------- calls
    async def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None) -> list[RerankResult]:
        """Best first, at most ``top_n``; documents the model left unscored come last with score 0.

        :raises ProviderError: the LLM failed, or its answer held no usable score (the engine then
            keeps the original order). Exactly one LLM call either way; none for no documents.
        """
        if self._closed:
            raise ProviderError(PROVIDER, "reranker: rerank() called after aclose()")
        docs = [d if isinstance(d, str) else str(d) for d in documents]
        limit = top_n if top_n is not None else self.config.top_n
        if not docs or (limit is not None and limit <= 0):
            return []
        response_format: Literal["text", "json"] = "json" if self.llm.capabilities.json_mode else "text"
        try:
            response = await self.llm.generate(
                self.messages(query, docs),
                response_format=response_format,
                temperature=self.config.temperature,
                max_tokens=self.max_tokens_for(len(docs)),
            )
        except ProviderError as exc:
            raise ProviderError(PROVIDER, f"reranker: the scoring LLM failed: {exc}",
                                retryable=exc.retryable) from exc
        except Exception as exc:
            raise ProviderError(PROVIDER, f"reranker: the scoring LLM failed: {type(exc).__name__}: {exc}") from exc
        content = response.content if isinstance(response.content, str) else str(response.content or "")
        scores = parse_scores(content, len(docs))
        if not scores:
            snippet = content if len(content) <= 200 else content[:200] + "…"
            raise ProviderError(PROVIDER, f"reranker: no usable scores in the LLM answer: {snippet!r}")
        if len(scores) < len(docs):
            log.debug("llm_rerank: the LLM scored %d of %d documents; the rest rank last", len(scores), len(docs))
        order = sorted(range(len(docs)), key=lambda i: (-scores.get(i, 0.0), i not in scores, i))
        results = [RerankResult(index=i, score=scores.get(i, 0.0)) for i in order]
        return results[:limit] if limit is not None else results

    async def aclose(self) -> None:
        """Close the LLM this reranker built (not one given to it). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_llm:
            await self.llm.aclose()

    def __repr__(self) -> str:
        return f"<LLMReranker llm={self.llm!r}>"
