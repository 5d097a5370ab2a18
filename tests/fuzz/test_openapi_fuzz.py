"""schemathesis over the committed docs/openapi.json against the local stack (issue #12): every operation,
a fixed seed, a bounded number of examples; no 5xx, every answer as documented, every request the
document calls valid accepted. `make fuzz` runs the longer campaign (bench/fuzz.py)."""

from __future__ import annotations

import json

import pytest

from bench.fuzz import CHECKS, CI_PHASES, DOCUMENT, SEED, format_report, run
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
    report = run(stack.base_url, stack.admin_key, seed=SEED, max_examples=CI_EXAMPLES, phases=CI_PHASES)
    print(format_report(report))
    document = json.loads(DOCUMENT.read_text())
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    assert set(report.per_operation) == operations  # every operation was called, none skipped
    assert CHECKS == ("not_a_server_error", "response_schema_conformance", "positive_data_acceptance")
    assert not report.errors, format_report(report)
    assert not report.failures, format_report(report)
