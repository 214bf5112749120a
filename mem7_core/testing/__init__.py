"""Testing kit shipped with the core (``pip install mem7-core[testing]``).

- Conformance suites a provider's tests subclass, supplying one fixture.
- Fakes: :class:`HashEmbedder`, :class:`ScriptedLLM`.
- A loopback OpenAI-compatible HTTP server (pytest fixture ``openai_server``).
"""
