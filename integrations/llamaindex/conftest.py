"""Where llama-index-llms-openai is not installed — the dev venv, whose openai 3.x it cannot share
(it pins ``openai<3``) — pytest leaves this integration's tests out; scripts/test.sh runs them with
.venv-llamaindex's pytest (made by scripts/setup.sh), where it is installed."""

from __future__ import annotations

import importlib.util


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package (llama_index, llama_index.llms) is missing
        return False


collect_ignore = [] if _installed("llama_index.llms.openai") else ["tests"]
