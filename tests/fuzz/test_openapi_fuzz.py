"""schemathesis over the committed docs/openapi.json against the local stack (issue #12): every operation,
a fixed seed, a bounded number of examples; no 5xx, every answer as documented, every request the
document calls valid accepted. `make fuzz` runs the longer campaign (bench/fuzz.py)."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from bench.fuzz import CHECKS, CI_PHASES, DOCUMENT, SEED, format_report, portal_token, run
from local.spawn import StackNotReady, running_stack

pytestmark = pytest.mark.slow
# Per operation and phase (examples, fuzzing): at most ~450 requests, about 2 minutes with the stack on two busy cores.
CI_EXAMPLES = 15


@pytest.fixture(scope="module")
def stack():
    try:
        with running_stack(drain=True) as running:
            yield running
    except StackNotReady as err:
        pytest.fail(str(err))


def test_the_server_answers_every_operation_as_the_openapi_document_says(stack):
    tenant = re.search(r"^\s*tenant\s*:\s*(\S+)", stack.output, re.MULTILINE).group(1)  # the ready banner's
    report = run(stack.base_url, stack.admin_key, seed=SEED, max_examples=CI_EXAMPLES, phases=CI_PHASES,
                 portal_token=portal_token(stack.base_url, stack.output), tenant_id=tenant)
    print(format_report(report))
    document = json.loads(DOCUMENT.read_text())
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    assert set(report.per_operation) == operations  # every operation was called, none skipped
    assert CHECKS == ("not_a_server_error", "response_schema_conformance", "positive_data_acceptance")
    assert not report.errors, format_report(report)
    assert not report.failures, format_report(report)


def _call(stack, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(stack.base_url + path, method=method, data=json.dumps(body).encode()
                                     if body is not None else None,
                                     headers={"x-api-key": stack.admin_key, "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_after_the_fuzzing_the_tenant_still_lists_its_catalogue_and_trains(stack):
    """The issue's poisoned tenant: whatever the fuzzer stored, every page of `GET /v1/items` answers
    200 and a training of that tenant runs to success (runs after the fuzzing test, on its stack)."""
    cursor, pages = None, 0
    while True:
        status, page = _call(stack, "GET", "/v1/items?limit=100" + (f"&cursor={urllib.parse.quote(cursor)}"
                                                                     if cursor else ""))
        assert status == 200, page
        pages += 1
        cursor = page.get("next_cursor")
        if not cursor:
            break
    status, job = _call(stack, "POST", "/v1/models/train", {})
    assert status in (202, 409), job  # 409: the fuzzer's own training is still queued or running
    url = job["status_url"]
    deadline = time.monotonic() + 240
    while job.get("status", job.get("job_status")) in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(2)
        status, job = _call(stack, "GET", url)
        assert status == 200, job
    assert job["status"] == "succeeded", job
