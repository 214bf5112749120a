"""pytest fixtures and hooks shipped with mem7-core (loaded through the ``pytest11`` entry point).

pytest loads this module in every run, so it imports nothing heavy: the loopback server module is
imported only when a test asks for one of its fixtures.

- ``openai_server``: a fresh loopback OpenAI-compatible server per test
  (:class:`mem7_core.testing.openai_server.OpenAIServer`; ``.url`` is the ``base_url``).
- ``openai_server_session``: one server for the whole session (cheaper; scripts, faults and
  counters are shared, so call ``openai_server_session.reset()`` where that matters).

The conformance suites (``mem7_core.testing.*Conformance``) are ``async def`` tests run by
pytest-asyncio, and a provider supplies the store as an ``async def`` fixture decorated with plain
``@pytest.fixture``. In pytest-asyncio's ``auto`` mode that just works. In its default ``strict``
mode it would not (the tests are not marked, the fixture not declared with
``pytest_asyncio.fixture``), so a provider package with no pytest configuration of its own would
fail its own conformance tests. The hooks below make the suites need no configuration: in strict
mode, and only inside a class that subclasses a conformance suite,

- every ``async def`` test gets the ``asyncio`` marker (as auto mode would add it; the loop scope
  is pytest-asyncio's default, ``asyncio_default_test_loop_scope``), and
- every ``async def`` fixture defined in the class (or a base) is handled as if declared with
  ``pytest_asyncio.fixture``.

Nothing changes in auto mode, outside conformance subclasses, or without pytest-asyncio; a test
or class that already carries an ``asyncio`` marker keeps it. The provider's other async tests
(outside a suite subclass) follow its own configuration: ``@pytest.mark.asyncio`` in strict mode.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .openai_server import OpenAIServer


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A loopback OpenAI-compatible server, started for this test and stopped after it."""
    from .openai_server import OpenAIServer

    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def openai_server_session() -> Iterator[OpenAIServer]:
    """One loopback OpenAI-compatible server shared by the whole test session."""
    from .openai_server import OpenAIServer

    with OpenAIServer() as server:
        yield server


# ------------------------------------------------------------------------------------------------
# The conformance suites under pytest-asyncio's strict mode.
# ------------------------------------------------------------------------------------------------
_SUITE_PACKAGE = "mem7_core.testing."


def _is_suite_subclass(cls: object) -> bool:
    """True for a class deriving from one of the core's ``*Conformance`` suites (or a suite itself).

    Decided from the MRO's module and class names, so this module imports no suite.
    """
    if not isinstance(cls, type):
        return False
    return any(
        c.__module__.startswith(_SUITE_PACKAGE) and c.__name__.endswith("Conformance") for c in cls.__mro__
    )


def _strict_asyncio(config: pytest.Config) -> bool:
    """pytest-asyncio is active and in strict mode (its default when nothing sets ``asyncio_mode``)."""
    if not config.pluginmanager.hasplugin("asyncio"):
        return False
    mode = config.getoption("asyncio_mode", None) or config.getini("asyncio_mode")
    return str(mode) == "strict"


def _is_async_test(obj: object) -> bool:
    """An ``async def`` test, also behind hypothesis's ``@given`` (which wraps it in a sync function)."""
    if inspect.iscoroutinefunction(obj):
        return True
    inner = getattr(getattr(obj, "hypothesis", None), "inner_test", None)
    return getattr(obj, "is_hypothesis_test", False) and inspect.iscoroutinefunction(inner)


# trylast: the innermost wrapper, so this runs on the collected items before pytest-asyncio's own
# pytest_pycollect_makeitem wrapper, which turns an item with an ``asyncio`` marker into a coroutine
# item. The marker goes on each async item, not on the class: a sync test a provider adds to its
# subclass must not be marked (pytest-asyncio warns about that).
@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Generator[None, Any, None]:
    outcome = yield
    if not isinstance(collector, pytest.Class) or not _is_suite_subclass(collector.obj):
        return
    if not _strict_asyncio(collector.config):
        return
    try:
        result: Any = outcome.get_result()
    except BaseException:  # noqa: BLE001 - collection errors are reported by pytest itself
        return
    items = result if isinstance(result, list) else [result]
    for item in items:
        if (
            isinstance(item, pytest.Function)
            and item.get_closest_marker("asyncio") is None
            and _is_async_test(item.obj)
        ):
            item.add_marker(pytest.mark.asyncio)


# A fixture must be declared to pytest-asyncio before it looks at it: at collection in
# pytest-asyncio < 1.1 (on the first item collected after the class's fixtures are parsed), at
# fixture setup since. pytest_collectstart for the class runs before both.
def pytest_collectstart(collector: pytest.Collector) -> None:
    if not isinstance(collector, pytest.Class) or not _is_suite_subclass(collector.obj):
        return
    if not _strict_asyncio(collector.config):
        return
    # The helper pytest itself tells fixtures with (pytest 8.0 to 9: a function or a definition).
    from _pytest.fixtures import getfixturemarker

    for klass in collector.obj.__mro__:
        for value in vars(klass).values():
            raw = getattr(value, "__wrapped__", None)  # what @pytest.fixture wrapped
            if (
                raw is not None
                and (inspect.iscoroutinefunction(raw) or inspect.isasyncgenfunction(raw))
                and getfixturemarker(value) is not None
            ):
                _declare_asyncio_fixture(raw)


def _declare_asyncio_fixture(raw: Any) -> None:
    """Declare ``raw`` as ``pytest_asyncio.fixture`` does: that decorator marks the function it is
    given, then wraps it with ``pytest.fixture`` (a wrapper not needed here: pytest already has the
    class's own). A fixture already declared keeps its declaration (and its ``loop_scope``); the
    others get pytest-asyncio's default loop scope (``asyncio_default_fixture_loop_scope``, else
    the fixture's own scope)."""
    import pytest_asyncio

    if not getattr(raw, "_force_asyncio_fixture", False):
        pytest_asyncio.fixture(raw)
