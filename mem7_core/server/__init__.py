"""Network front ends for the engine: the REST server (``mem7 serve``) and the MCP server (``mem7 mcp``).

Both are optional extras (``mem7-core[server]``, ``mem7-core[mcp]``). Nothing here is imported by
``mem7_core`` itself, and this package imports neither FastAPI nor the MCP SDK at import time, so a
core install without the extras is unaffected. Modules:

- :mod:`.auth`: bearer tokens, each optionally pinned to a scope (no web framework needed).
- :mod:`.schemas`: the request bodies of the REST API (pydantic).
- :mod:`.rest`: the FastAPI application and the uvicorn runner.
- :mod:`.dashboard`: the web dashboard at ``/ui`` (static pages in ``ui/``) and its JSON routes.
- :mod:`.mcp`: the MCP tools over stdio.
"""

from __future__ import annotations

SERVER_EXTRA_HINT = "mem7 serve needs the server extra: pip install 'mem7-core[server]'"
MCP_EXTRA_HINT = "mem7 mcp needs the mcp extra: pip install 'mem7-core[mcp]'"

__all__ = ["MCP_EXTRA_HINT", "SERVER_EXTRA_HINT"]
