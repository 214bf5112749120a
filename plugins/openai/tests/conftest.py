"""Shared fixtures: the real ``openai`` client against the loopback server (``openai_server``)."""

from __future__ import annotations

import pytest

ENV_VARS = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "GROQ_API_KEY", "TOGETHER_API_KEY",
    "XAI_API_KEY", "DEEPSEEK_API_KEY", "OLLAMA_API_KEY", "VLLM_API_KEY", "LMSTUDIO_API_KEY",
    "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real keys or endpoints."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


# ----------------------------------------------------------------------------------- transports
# Every test that talks to a server runs on the three ways a call can travel: ``aiohttp`` (the
# default: the direct transport through aiohttp), ``httpx`` (the direct transport through the
# client's httpx2 client) and ``sdk`` (the client's public API). A provider whose config names its
# transport or backend keeps it.
TRANSPORTS = ("sdk", "httpx", "aiohttp")
_WIRE_EXEMPT = ("test_loopback_server",)  # tests of the server itself, not of the plugin
_OWN_DEFAULT = ("test_the_default_transport_is_the_direct_path",)  # asserts the real default


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    wire = "openai_server" in metafunc.fixturenames or "unreachable" in metafunc.function.__name__
    if wire and module not in _WIRE_EXEMPT and metafunc.function.__name__ not in _OWN_DEFAULT \
            and "openai_transport" not in metafunc.fixturenames:
        metafunc.fixturenames.append("openai_transport")
        metafunc.parametrize("openai_transport", TRANSPORTS)


@pytest.fixture(autouse=True)
def _default_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Providers built without ``transport`` / ``http_backend`` in their config get the test's
    ``openai_transport``."""
    callspec = getattr(request.node, "callspec", None)
    transport = callspec.params.get("openai_transport") if callspec is not None else None
    if transport is None:
        return
    from mem7_openai._client import LazyClient

    init = LazyClient.__init__

    def patched(self: LazyClient, conn: object, config: object) -> None:
        init(self, conn, config)  # type: ignore[arg-type]
        fields = getattr(config, "model_fields_set", ())
        if "transport" not in fields:
            self.direct = transport != "sdk"
        if "http_backend" not in fields:
            self.aiohttp = transport != "httpx"

    monkeypatch.setattr(LazyClient, "__init__", patched)
