"""End to end: start the local stack (the `make run` entry point) on a free port and call it over HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def request(method: str, url: str, key: str | None = None, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if key:
        req.add_header("x-api-key", key)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}")


@pytest.fixture(scope="module")
def stack():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = f"{ROOT / 'layers' / 'engine'}{os.pathsep}{ROOT}"
    proc = subprocess.Popen([sys.executable, "-m", "local.stack", "--port", "0", "--users", "80", "--items", "120",
                             "--events-per-user", "15"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines, ready = [], None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        ready = re.search(r"READY base_url=(\S+) api_key=(\S+)", line)
        if ready:
            break
    if not ready:
        proc.kill()
        pytest.fail("local stack did not become ready:\n" + "".join(lines[-40:]))
    output = "".join(lines)
    yield ready.group(1), ready.group(2), output, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_the_stack_prints_ready_to_paste_curl_commands(stack):
    base, key, output, _ = stack
    assert f"curl -s {base}/health" in output
    assert f"x-api-key: {key}" in output and "/v1/recommend" in output


def test_health_needs_no_key_and_everything_else_does(stack):
    base, _, _, _ = stack
    assert request("GET", f"{base}/health")[0] == 200
    status, headers, body = request("POST", f"{base}/v1/recommend", body={"user_id": "user-0001"})
    assert status == 401 and headers["Content-Type"] == "application/problem+json"


def test_personalised_recommendations_over_http(stack):
    base, key, _, _ = stack
    status, headers, body = request("POST", f"{base}/v1/recommend", key, {"user_id": "user-0003", "limit": 5})
    assert status == 200 and len(body["items"]) == 5 and body["warnings"] == []
    assert body["model_id"].startswith("model_hybrid-v1_") and headers["X-Request-Id"] == body["rec_id"]


def test_interaction_then_recommendation_changes_over_http(stack):
    base, key, _, _ = stack
    _, _, before = request("POST", f"{base}/v1/recommend", key, {"user_id": "e2e-user", "limit": 5})
    status, _, _ = request("POST", f"{base}/v1/interactions", key,
                           {"interactions": [{"user_id": "e2e-user", "item_id": f"item-{i:05d}", "type": "purchase",
                                              "event_id": f"e2e-{i}"} for i in (3, 11, 19)]})
    assert status == 201
    _, _, after = request("POST", f"{base}/v1/recommend", key, {"user_id": "e2e-user", "limit": 5})
    assert before["warnings"][0]["code"] == "unknown_user" and after["warnings"] == []
    assert [i["id"] for i in after["items"]] != [i["id"] for i in before["items"]]


def test_similar_items_and_catalogue_over_http(stack):
    base, key, _, _ = stack
    status, _, body = request("POST", f"{base}/v1/similar", key, {"item_id": "item-00001", "limit": 3})
    assert status == 200 and len(body["items"]) == 3
    status, _, body = request("GET", f"{base}/v1/items?limit=2&search=books", key)
    assert status == 200 and len(body["items"]) == 2 and body["items"][0]["metadata"]["category"] == "books"


def test_errors_over_http(stack):
    base, key, _, _ = stack
    assert request("POST", f"{base}/v1/recommend", key, {"limit": 1000})[0] == 422
    assert request("GET", f"{base}/v1/nothing-here", key)[0] == 404
    req = urllib.request.Request(f"{base}/v1/recommend", data=b"{oops", method="POST",
                                 headers={"x-api-key": key, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400


def test_ctrl_c_stops_the_stack_cleanly(stack):
    _, _, _, proc = stack
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert "stopped" in proc.stdout.read()
