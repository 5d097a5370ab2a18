"""One observability module: given the Powertools Logger, Tracer and Metrics it makes, when a
function runs, then its metrics are EMF records with the right namespace and dimensions, a metric
never fails a request, and the X-Ray SDK is not imported before the first invocation."""

from __future__ import annotations

import json
import subprocess
import sys

from recengine import observability
from tests.conftest import ROOT, api_event, invoke


def emf_records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def test_a_counted_metric_is_one_emf_record_with_its_dimensions(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    observability.count("Warnings", code="limit_clipped")
    (record,) = emf_records(capsys.readouterr().out)
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "recengine-test" and record["Warnings"] in (1.0, [1.0])
    assert record["code"] == "limit_clipped" and record["service"] == "recengine-test"
    assert sorted(directive["Dimensions"][0]) == ["code", "service"]


def test_disabled_metrics_print_nothing(capsys):
    observability.count("Warnings", code="x")  # tests run with POWERTOOLS_METRICS_DISABLED=true
    assert emf_records(capsys.readouterr().out) == []


def test_a_metric_that_cannot_be_emitted_never_fails_the_caller(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    observability.count("", value=float("nan"))  # an invalid name: logged at debug level, not raised


def test_every_route_reports_its_latency(aws, monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    status, _, _ = invoke("GET", "/health", api_event("GET", "/health"))
    latency = [r for r in emf_records(capsys.readouterr().out) if "Latency" in r]
    assert status == 200 and latency and latency[-1]["route"] == "GET /health"
    assert latency[-1]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] == "Milliseconds"


def test_importing_a_handler_does_not_import_the_xray_sdk():
    code = ("import importlib.util, sys; "
            "spec = importlib.util.spec_from_file_location('app', 'functions/recommend/app.py'); "
            "spec.loader.exec_module(importlib.util.module_from_spec(spec)); "
            "sys.exit('aws_xray_sdk' in sys.modules)")
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'engine'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env).returncode == 0


def test_the_correlation_id_is_the_api_request_id_of_each_invocation():
    from aws_lambda_powertools.logging import correlation_paths

    class Context:
        function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "f", 128, "arn:f", "r"

    @observability.lambda_handler(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    def handler(event, context):
        return observability.logger.get_correlation_id()

    assert handler({"requestContext": {"requestId": "req-1"}}, Context()) == "req-1"
    assert handler({"requestContext": {"requestId": "req-2"}}, Context()) == "req-2"
    assert handler({"requestContext": {}}, Context()) is None
