"""Schemathesis against the REST server's own OpenAPI document, over real HTTP on loopback.

Every operation gets generated requests, valid (positive) and invalid (negative); every response
must be a non-5xx with a documented status code, the documented content type, and a body that
matches its schema. Bounded in time: a fixed number of examples per operation and mode,
derandomised, no per-example deadline (loopback latency varies on a busy machine).

Schemathesis' pytest integration (``from_fixture``) is not used: the schema is only known once the
module's server is up, and its lazy loader breaks on recent pytest; the operations are driven
through schemathesis' own strategies with Hypothesis instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from _serve import ADMIN, ServeProcess

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev group (scripts/setup.sh)")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 8}
HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def _operations(url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_conforms_to_its_own_openapi(rest_server: ServeProcess) -> None:
    operations = _operations(rest_server.url)
    assert len(operations) >= 10, [op.label for op in operations]
    failures: list[str] = []
    for operation in operations:
        for mode, examples in EXAMPLES.items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:
                case.call_and_validate(headers=HEADERS, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:  # an operation without inputs (GET /health) has no invalid request
                assert mode is GenerationMode.NEGATIVE, operation.label
            except BaseException as exc:  # noqa: BLE001 - collect every operation's failure (a FailureGroup)
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append(f"{operation.label} [{mode}]: {exc}")
    assert not failures, "\n\n".join(failures)
