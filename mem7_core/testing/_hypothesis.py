"""Hypothesis for the conformance suites' property tests, optional: without it the suites define
skipping stand-ins for those tests (``HAVE_HYPOTHESIS`` False, the other names None).

``property_settings`` is the one setting every suite's property tests use: few examples (each
runs against a real store), no deadline (stores over the network are slow and uneven), no example
database (no ``.hypothesis`` folder in a provider's checkout), and the health checks that a
function-scoped store fixture, a slow backend or a suite subclassed by several providers trips
turned off.
"""

from __future__ import annotations

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
    property_settings = settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
except ImportError:  # pragma: no cover - exercised only where hypothesis is absent
    HAVE_HYPOTHESIS = False
    given = st = property_settings = None  # type: ignore[assignment]

__all__ = ["HAVE_HYPOTHESIS", "given", "property_settings", "st"]
