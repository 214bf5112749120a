"""The prompts the engine sends. Their intent is normative (spec §3, §5); wording is ours.

Each prompt starts with a fixed marker line (``# mem7:<task>``) so logs, the scripted test LLM and
the loopback server can tell the tasks apart without guessing.
"""

from __future__ import annotations

from ..providers import tasks  # the markers are contract: test doubles and logs tell the tasks apart by them

_CATEGORIES = """Give each fact a category:
- factual: a stable fact about the person or the world (name, job, where they live, relationships)
- preference: a like, dislike, taste or wish
- procedural: how something is done, a workflow, a step, a rule the person follows
- episodic: a one-off event with a time ("went to Paris last week")"""

USER_FACT_EXTRACTION_PROMPT = f"""{tasks.FACT_EXTRACTION_MARKER}
You are a memory organiser. From the conversation, extract the facts worth remembering about the
USER: personal details, preferences, plans, relationships, activities, health, work, and anything
they ask to be remembered. Use only what the user says; ignore what the assistant or system says.
Write each fact as a short, self-contained sentence in the language the user wrote in. Do not
invent facts; return an empty list when there is nothing worth remembering (greetings, small talk).

{_CATEGORIES}

Today's date is {{today}}.
Answer with JSON only, of this shape:
{{{{"facts": [{{{{"text": "Likes hiking in the Alps", "category": "preference"}}}}]}}}}"""

AGENT_FACT_EXTRACTION_PROMPT = f"""{tasks.AGENT_FACT_EXTRACTION_MARKER}
You are a memory organiser for an AI assistant. From the conversation, extract the facts worth
remembering about the ASSISTANT itself: its stated identity, abilities, preferences, rules and
commitments. Use only what the assistant says; ignore the user's messages.
Write each fact as a short, self-contained sentence. Return an empty list when there is nothing.

{_CATEGORIES}

Today's date is {{today}}.
Answer with JSON only, of this shape:
{{{{"facts": [{{{{"text": "Answers in French when asked", "category": "procedural"}}}}]}}}}"""

UPDATE_MEMORY_PROMPT = f"""{tasks.UPDATE_MEMORY_MARKER}
You manage a memory store. Compare the new facts with the existing memories and decide, for each,
one event:
- ADD: a new fact that no existing memory covers. Give it a new id (the next unused number).
- UPDATE: an existing memory on the same topic that the new fact makes richer or changes. Keep the
  existing id, give the merged text in "text" and the previous text in "old_memory".
- DELETE: an existing memory that a new fact contradicts and that should no longer be believed.
  Keep its id and text.
- NONE: the fact is already known; nothing changes. Keep the existing id and text.
Every existing memory and every new fact must be accounted for. Use only the ids shown.

Answer with JSON only, of this shape:
{{"memory": [{{"id": "0", "text": "...", "event": "ADD|UPDATE|DELETE|NONE", "old_memory": "..."}}]}}"""

UPDATE_MEMORY_USER = """Existing memories (id: text):
{existing}

New facts:
{facts}"""

DESCRIBE_IMAGE_PROMPT = f"""{tasks.DESCRIBE_IMAGE_MARKER}
Describe this image in one or two sentences, naming what matters for remembering it later."""

# ---------------------------------------------------------------------------------- graph (spec §8)

GRAPH_ENTITY_TYPES: tuple[str, ...] = (
    "Person", "Organization", "Location", "Activity", "Concept", "Product", "Event", "Date", "Other",
)

GRAPH_EXTRACTION_PROMPT = f"""{tasks.GRAPH_EXTRACTION_MARKER}
You build a knowledge graph from a conversation. In one answer, extract the entities it mentions
and the relations between them.
- Entities: a name and exactly one type: {", ".join(GRAPH_ENTITY_TYPES)}.
- Self-references (I, me, my, myself) mean the speaker, whose id is "{{speaker}}": use that id as
  the entity name, with type Person.
- Relations: source, relationship, destination. Source and destination are entity names; the
  relationship is a short, timeless snake_case verb phrase (lives_in, works_at, likes, sister_of).
- Only what is stated; no guesses. Empty lists when there is nothing.{{custom}}
Answer with JSON only, of this shape:
{{{{"entities": [{{{{"name": "alice", "type": "Person"}}}}],
 "relations": [{{{{"source": "alice", "relationship": "lives_in", "destination": "lisbon"}}}}]}}}}"""

GRAPH_CONFLICT_PROMPT = f"""{tasks.GRAPH_CONFLICT_MARKER}
You maintain a knowledge graph. Given the existing relations (numbered) and the new relations,
list the existing relations that the new ones make outdated or contradict (for example
"alice lives_in paris" when a new relation says "alice lives_in berlin"). Relations that stay true
alongside the new ones are not listed. Use only the numbers shown.
Answer with JSON only, of this shape: {{"outdated": ["0", "3"]}}"""

GRAPH_CONFLICT_USER = """Existing relations (id: source -- relationship -- destination):
{existing}

New relations:
{new}"""

GRAPH_QUERY_PROMPT = f"""{tasks.GRAPH_QUERY_MARKER}
List the entities (people, places, organisations, things, activities, dates...) the query is
about, as short names. Self-references (I, me, my, myself) mean the speaker, whose id is
"{{speaker}}": use that id.
Answer with JSON only, of this shape: {{{{"entities": ["alice", "lisbon"]}}}}"""

# ------------------------------------------------------------------ one-call add mode (add_mode="one_call")

_ONE_CALL_DECISIONS = """Then compare each fact with the existing memories and decide one event per fact:
- ADD: no existing memory covers it. Give it a new id (the next unused number).
- UPDATE: an existing memory on the same topic that the fact makes richer or changes. Keep the
  existing id, give the merged text in "text" and the previous text in "old_memory".
- DELETE: an existing memory the fact contradicts and that should no longer be believed. Keep its id
  and text; the contradicting fact itself still needs its own ADD (or an UPDATE of another memory).
- NONE: the fact is already known; nothing changes. Give the id and text of the memory that holds it.
Use only the ids shown. Every fact must appear in "memory" (as ADD, UPDATE or NONE)."""

USER_EXTRACT_AND_UPDATE_PROMPT = f"""{tasks.EXTRACT_AND_UPDATE_MARKER}
You are a memory organiser. First, from the conversation, extract the facts worth remembering about
the USER: personal details, preferences, plans, relationships, activities, health, work, and anything
they ask to be remembered. Use only what the user says; ignore what the assistant or system says.
Write each fact as a short, self-contained sentence in the language the user wrote in. Do not
invent facts; return empty lists when there is nothing worth remembering (greetings, small talk).

{_CATEGORIES}

{_ONE_CALL_DECISIONS}

Today's date is {{today}}.
Answer with JSON only, of this shape:
{{{{"facts": [{{{{"text": "Likes hiking in the Alps", "category": "preference"}}}}],
  "memory": [{{{{"id": "0", "text": "...", "event": "ADD|UPDATE|DELETE|NONE", "old_memory": "..."}}}}]}}}}"""

AGENT_EXTRACT_AND_UPDATE_PROMPT = f"""{tasks.AGENT_EXTRACT_AND_UPDATE_MARKER}
You are a memory organiser for an AI assistant. First, from the conversation, extract the facts
worth remembering about the ASSISTANT itself: its stated identity, abilities, preferences, rules and
commitments. Use only what the assistant says; ignore the user's messages.
Write each fact as a short, self-contained sentence. Return empty lists when there is nothing.

{_CATEGORIES}

{_ONE_CALL_DECISIONS}

Today's date is {{today}}.
Answer with JSON only, of this shape:
{{{{"facts": [{{{{"text": "Answers in French when asked", "category": "procedural"}}}}],
  "memory": [{{{{"id": "0", "text": "...", "event": "ADD|UPDATE|DELETE|NONE", "old_memory": "..."}}}}]}}}}"""

EXTRACT_AND_UPDATE_USER = """Existing memories (id: text):
{existing}

Conversation:
{conversation}"""

NO_EXISTING_MEMORIES = "(none)"
