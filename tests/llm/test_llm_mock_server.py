"""The loopback mock: routes, OpenAI-shaped answers, seeded order-independent faults."""

from __future__ import annotations

import base64
import json
import struct
import urllib.error
import urllib.request

from recdenoise.llm.mock_server import MockOpenAIServer


def _call(server: MockOpenAIServer, path: str, body: dict | None = None) -> tuple[int, dict]:
    url = server.base_url.removesuffix("/v1") + path
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_routes_and_shapes():
    with MockOpenAIServer(embedding_dim=4) as server:
        assert _call(server, "/v1/models")[1]["data"][0]["id"] == "mock-llm"
        status, chat = _call(
            server, "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert status == 200 and chat["object"] == "chat.completion" and chat["usage"]["total_tokens"] > 0
        status, emb = _call(server, "/v1/embeddings", {"model": "e", "input": ["a", "b"], "encoding_format": "base64"})
        vec = struct.unpack("<4f", base64.b64decode(emb["data"][1]["embedding"]))
        assert status == 200 and len(vec) == 4 and abs(sum(v * v for v in vec) - 1) < 1e-5
        assert _call(server, "/v1/nothing", {})[0] == 404
        stats = _call(server, "/_stats")[1]
        assert stats["requests"] == 2 and stats["by_path"]["/v1/embeddings"] == 1


def test_faults_do_not_depend_on_arrival_order():
    failing = []
    for order in (list(range(30)), list(reversed(range(30)))):
        with MockOpenAIServer(fault_rate=0.5, faults=["server_error"], seed=11) as server:
            body = lambda i: {"model": "m", "messages": [{"role": "user", "content": str(i)}]}  # noqa: E731
            codes = {i: _call(server, "/v1/chat/completions", body(i))[0] for i in order}
            assert server.stats()["faults"] == {"server_error": sum(c == 500 for c in codes.values())}
        failing.append(sorted(i for i, c in codes.items() if c == 500))
    assert failing[0] == failing[1] and 0 < len(failing[0]) < 30
