"""Where CrewAI is not installed — the dev venv, whose pins it cannot share — pytest leaves this
integration's tests out; scripts/test.sh runs them with .venv-crewai's pytest (made by
scripts/setup.sh), where ``crewai`` is installed."""

from __future__ import annotations

import importlib.util

collect_ignore = [] if importlib.util.find_spec("crewai") else ["tests"]
