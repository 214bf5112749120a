"""Task markers: the first line of every prompt mem7 sends to an LLM (``# mem7:<task>``).

Part of the provider contract, so logs, test doubles (the scripted LLM, the loopback OpenAI server)
and third-party providers can tell the tasks apart without importing the engine. A custom prompt a
user configures keeps its task's marker (the engine prepends it).
"""

from __future__ import annotations

FACT_EXTRACTION_MARKER = "# mem7:fact-extraction"
AGENT_FACT_EXTRACTION_MARKER = "# mem7:agent-fact-extraction"
UPDATE_MEMORY_MARKER = "# mem7:update-memory"
CLASSIFY_QUERY_MARKER = "# mem7:classify-query"
DESCRIBE_IMAGE_MARKER = "# mem7:describe-image"
GRAPH_EXTRACTION_MARKER = "# mem7:graph-extraction"
GRAPH_CONFLICT_MARKER = "# mem7:graph-conflict"
GRAPH_QUERY_MARKER = "# mem7:graph-query-entities"
EXTRACT_AND_UPDATE_MARKER = "# mem7:extract-and-update"
AGENT_EXTRACT_AND_UPDATE_MARKER = "# mem7:agent-extract-and-update"

TASK_MARKERS: tuple[str, ...] = (
    FACT_EXTRACTION_MARKER,
    AGENT_FACT_EXTRACTION_MARKER,
    UPDATE_MEMORY_MARKER,
    CLASSIFY_QUERY_MARKER,
    DESCRIBE_IMAGE_MARKER,
    GRAPH_EXTRACTION_MARKER,
    GRAPH_CONFLICT_MARKER,
    GRAPH_QUERY_MARKER,
    EXTRACT_AND_UPDATE_MARKER,
    AGENT_EXTRACT_AND_UPDATE_MARKER,
)
"""Every task marker, for a double that routes by task."""
