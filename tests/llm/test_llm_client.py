"""LLMClient over the real openai SDK and HTTP: retries, budget, concurrency, accounting, keys."""

from __future__ import annotations

import asyncio

import pytest

from recdenoise.errors import ConfigError, LLMError
from recdenoise.llm.client import BudgetExhausted, LLMClient, LLMConfig, TransportError, redact_url, resolve_api_key
from recdenoise.llm.mock_server import MockOpenAIServer


def _config(server, **kw) -> LLMConfig:
    base = dict(
        base_url=server.base_url, model="mock-llm", timeout=2.0, backoff_base=0.001, backoff_max=0.01, structured="off"
    )
    return LLMConfig(**(base | kw))


def _msgs(i: int) -> list[dict]:
    return [{"role": "user", "content": f"question {i}"}]


async def _ask(client: LLMClient, n: int, offset: int = 0) -> list:
    async with client:
        return await asyncio.gather(
            *(client.chat(client.chat_body(_msgs(offset + i))) for i in range(n)), return_exceptions=True
        )


def test_retries_then_gives_up_with_a_reason():
    with MockOpenAIServer(fault_rate=1.0, faults=["rate_limit"]) as server:
        client = LLMClient(_config(server, retries=2))
        (result,) = asyncio.run(_ask(client, 1))
        assert isinstance(result, TransportError) and result.reason == "rate_limited"
        assert client.usage.requests_sent == 3 and client.usage.retries == 2
        assert list(server.stats()["by_body"].values()) == [3]


def test_timeouts_are_retried_and_counted():
    with MockOpenAIServer(fault_rate=1.0, faults=["timeout"], timeout_sleep=0.6) as server:
        client = LLMClient(_config(server, retries=1, timeout=0.2))
        (result,) = asyncio.run(_ask(client, 1))
        assert isinstance(result, TransportError) and result.reason == "timeout"
        assert client.usage.errors["timeout"] == 2


def test_transient_faults_recover_and_accounting_matches_server():
    with MockOpenAIServer(fault_rate=0.3, faults=["rate_limit", "server_error"], seed=3) as server:
        client = LLMClient(_config(server, retries=8, price_per_1k_prompt=1.0, price_per_1k_completion=2.0))
        results = asyncio.run(_ask(client, 40))
        stats = server.stats()
    assert all(not isinstance(r, Exception) for r in results)
    assert client.usage.retries == sum(stats["faults"].values()) > 0
    assert client.usage.requests_sent == stats["requests"] == 40 + client.usage.retries
    assert client.usage.prompt_tokens == sum(r.prompt_tokens for r in results) > 0
    assert client.usage.completion_tokens == sum(r.completion_tokens for r in results) > 0
    cfg = client.config
    assert cfg.cost(1000, 500) == pytest.approx(2.0)


def test_budget_stops_cleanly():
    with MockOpenAIServer() as server:
        client = LLMClient(_config(server, max_requests=3, concurrency=1))
        results = asyncio.run(_ask(client, 5))
        assert sum(isinstance(r, BudgetExhausted) for r in results) == 2
        assert server.stats()["requests"] == 3 and client.budget_exhausted


def test_concurrency_is_bounded():
    with MockOpenAIServer(latency=0.05) as server:
        asyncio.run(_ask(LLMClient(_config(server, concurrency=3)), 12))
        assert server.stats()["max_in_flight"] == 3


def test_backoff_jitter_is_seeded(monkeypatch):
    delays: list[list[float]] = [[], []]
    real_sleep = asyncio.sleep

    for run in range(2):

        async def fake_sleep(d, *a, _run=run, **k):
            delays[_run].append(d)
            await real_sleep(0)

        monkeypatch.setattr("recdenoise.llm.client.asyncio.sleep", fake_sleep)
        with MockOpenAIServer(fault_rate=1.0, faults=["server_error"]) as server:
            asyncio.run(_ask(LLMClient(_config(server, retries=4, backoff_base=1.0, backoff_max=4.0, seed=7)), 1))
    assert delays[0] == delays[1] and len(delays[0]) == 4
    for r, d in enumerate(delays[0]):
        cap = min(4.0, 2.0**r)
        assert 0.5 * cap <= d <= cap


def test_bad_key_is_fatal_and_never_echoed():
    secret = "sk-test-WRONG-0123456789"
    with MockOpenAIServer(require_api_key="sk-right") as server:
        client = LLMClient(_config(server), api_key=secret)
        (result,) = asyncio.run(_ask(client, 1))
    assert isinstance(result, LLMError) and not isinstance(result, TransportError)
    assert "credentials" in str(result) and secret not in str(result) and secret not in repr(client)


def test_resolve_api_key_sends_openai_key_only_to_openai(monkeypatch):
    for name in ("RECDENOISE_LLM_API_KEY", "OPENAI_API_KEY", "MY_KEY"):
        monkeypatch.delenv(name, raising=False)
    openai_url, other, local = "https://api.openai.com/v1", "https://api.example.com/v1", "http://127.0.0.1:8000/v1"
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        resolve_api_key(None, openai_url)
    placeholder = resolve_api_key(None, local)
    assert resolve_api_key(None, other) == placeholder  # no key needed, none found: nothing secret is sent
    monkeypatch.setenv("OPENAI_API_KEY", "k-openai")
    assert resolve_api_key(None, openai_url) == "k-openai"
    assert resolve_api_key(None, other) == placeholder and resolve_api_key(None, local) == placeholder
    monkeypatch.setenv("RECDENOISE_LLM_API_KEY", "k-ours")
    assert resolve_api_key(None, other) == "k-ours" and resolve_api_key(None, openai_url) == "k-ours"
    with pytest.raises(ConfigError, match="MY_KEY"):
        resolve_api_key(None, other, "MY_KEY")  # named but unset: an error, not a silent fallback
    monkeypatch.setenv("MY_KEY", "k-mine")
    assert resolve_api_key(None, other, "MY_KEY") == "k-mine"
    assert resolve_api_key("explicit", other, "MY_KEY") == "explicit"


def test_openai_key_never_reaches_another_host(monkeypatch):
    monkeypatch.delenv("RECDENOISE_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-openai")
    # The server would accept exactly that key: a 401 proves it was not sent.
    with MockOpenAIServer(require_api_key="sk-secret-openai") as server:
        client_cfg = _config(server, retries=0)

        async def main():
            async with LLMClient(client_cfg) as client:
                return await asyncio.gather(client.chat(client.chat_body(_msgs(0))), return_exceptions=True)

        (result,) = asyncio.run(main())
    assert isinstance(result, LLMError) and "credentials" in str(result)


def test_redact_url_and_config_validation():
    assert redact_url("https://user:pw@llm.example.com:8443/v1?key=abc#x") == "https://llm.example.com:8443/v1"
    assert LLMConfig(base_url="https://u:p@h/v1").to_record()["base_url"] == "https://h/v1"
    with pytest.raises(ConfigError, match="concurrency"):
        LLMConfig(concurrency=0)
    with pytest.raises(ConfigError, match="base_url"):
        LLMConfig(base_url="ftp://x")


# (settings, the culprit the message must show, what it must never show)
BAD_SETTINGS = [
    ({"concurrency": 0}, "concurrency=0 is invalid: it needs >= 1", None),
    ({"timeout": 0.0}, "timeout=0.0 is invalid: it needs > 0 seconds", None),
    ({"model": ""}, "model='' is invalid", None),
    ({"model": "  "}, "model='  ' is invalid", None),
    ({"embedding_model": ""}, "embedding_model='' is invalid", None),
    ({"base_url": "notaurl"}, "base_url='notaurl'", None),
    ({"base_url": "user:s3cret@host:8000/v1"}, "base_url='host:8000/v1'", "s3cret"),
    ({"base_url": "https://u:s3cret@/v1?key=k"}, "base_url=", "s3cret"),
]  # fmt: skip


@pytest.mark.parametrize("settings, culprit, secret", BAD_SETTINGS, ids=[repr(c[0]) for c in BAD_SETTINGS])
def test_bad_settings_name_the_value_and_what_it_needs(settings, culprit, secret):
    with pytest.raises(ConfigError) as info:
        LLMConfig(**settings)
    assert culprit in str(info.value)
    assert secret is None or secret not in str(info.value)
