"""Assignment logs (assignment.v1): built records validate, the CLI validates them, and the report
gives per-variant CTR and conversion with two-proportion p-values and a minimum-sample warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from recengine.attribution import records as rec
from recengine.decisioning.experiments import two_proportion_p_value
from tools.attribution import report as reports
from tools.attribution.__main__ import main
from tools.attribution.report import report

KEY = "unit-test-pseudonym-key-0123456789"
T0 = 1_800_000_000.0


@pytest.fixture(autouse=True)
def _default_schema_dir(monkeypatch):
    monkeypatch.delenv(reports.SCHEMA_DIR_ENV, raising=False)


def user(n: int) -> str:
    return rec.pseudonymous_id(KEY, "acme", f"user:{n}")


def assignment(n: int, variant: str, ts: float = T0, request_id: str | None = None, experiment: str = "exp_1") -> dict:
    return rec.assignment_record(tenant_id="acme", experiment_id=experiment, variant=variant, user_key=user(n),
                                 request_id=request_id, ts=ts)


def exposure(n: int, request_id: str, items: list[str], ts: float = T0 + 10) -> dict:
    return rec.exposure_record(request_id=request_id, tenant_id="acme", user_key=user(n), session_key=None,
                               surface="email", placement=None, model_id=None, algorithm="hybrid",
                               items=[{"id": i, "score": 1.0} for i in items], ts=ts)


def outcome(n: int, request_id: str, item: str, kind: str, event: str) -> dict:
    return rec.outcome_record(request_id=request_id, tenant_id="acme", user_key=user(n), item_id=item, type=kind,
                              value=None, ts=T0 + 20, event_id=event)


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(rec.to_jsonl(r) + "\n" for r in records))
    return path


def test_assignment_records_validate_and_refuse_raw_ids():
    validator = Draft202012Validator(json.loads(reports.schema_path("assignment.v1").read_text()))
    assert not list(validator.iter_errors(assignment(1, "control", request_id="req-1")))
    assert not list(validator.iter_errors(assignment(1, "nba")))
    assert list(validator.iter_errors({**assignment(1, "nba"), "extra": 1}))
    with pytest.raises(ValueError):
        rec.assignment_record(tenant_id="acme", experiment_id="e", variant="v", user_key="raw-user", request_id=None,
                              ts=T0)


def test_cli_validates_assignment_logs(tmp_path, capsys):
    good = write(tmp_path / "a.jsonl", [assignment(1, "control"), assignment(2, "nba", request_id="r")])
    assert main(["validate", "--schema", "assignment.v1", "--input", str(good)]) == 0
    assert "OK 2 records" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**assignment(1, "control"), "user_key": "u-1"}) + "\n")
    assert main(["validate", "--schema", "assignment.v1", "--input", str(bad)]) == 1
    assert "bad.jsonl:1: $.user_key" in capsys.readouterr().out


def scenario() -> tuple[list[dict], list[dict], list[dict]]:
    """Control: 4 customers, 2 items each (8 impressions), 1 click, 0 purchases. Treatment: 4 customers,
    8 impressions, 4 clicks, 2 purchases. One control exposure predates its customer's assignment."""
    assignments, exposures, outcomes = [], [], []
    for n in range(8):
        variant = "control" if n < 4 else "nba"
        assignments.append(assignment(n, variant))
        exposures.append(exposure(n, f"req-{n}", ["a", "b"]))
    exposures.append(exposure(0, "req-early", ["a", "b"], ts=T0 - 100))  # before the experiment: not counted
    outcomes.append(outcome(0, "req-0", "a", "click", "e0"))
    for n in range(4, 8):
        outcomes.append(outcome(n, f"req-{n}", "a", "click", f"c{n}"))
    outcomes += [outcome(4, "req-4", "b", "purchase", "p4"), outcome(5, "req-5", "b", "purchase", "p5")]
    return assignments, exposures, outcomes


def test_report_gives_per_variant_ctr_conversion_and_p_values():
    assignments, exposures, outcomes = scenario()
    result = report(exposures, outcomes, assignments, min_sample=5)
    (experiment,) = result["experiments"]
    assert experiment["control"] == "control"
    control, nba = experiment["variants"]
    assert (control["customers"], control["impressions"], control["clicks"], control["purchases"]) == (4, 8, 1, 0)
    assert (nba["impressions"], nba["clicks"], nba["purchases"]) == (8, 4, 2)
    assert nba["ctr"] == 0.5 and nba["conversion"] == 0.25 and control["p_value_ctr"] is None
    assert nba["p_value_ctr"] == pytest.approx(two_proportion_p_value(4, 8, 1, 8))
    assert nba["p_value_conversion"] == pytest.approx(two_proportion_p_value(2, 8, 0, 8))
    assert result["warnings"] == []
    assert "experiments" not in report(exposures, outcomes)  # unchanged without assignments


def test_report_warns_below_the_minimum_sample_and_the_cli_prints_it(tmp_path, capsys):
    assignments, exposures, outcomes = scenario()
    result = report(exposures, outcomes, assignments, min_sample=100)
    assert len(result["warnings"]) == 2 and "below the minimum sample of 100" in result["warnings"][0]
    args = ["report", "--exposures", str(write(tmp_path / "e.jsonl", exposures)),
            "--outcomes", str(write(tmp_path / "o.jsonl", outcomes)),
            "--assignments", str(write(tmp_path / "a.jsonl", assignments)), "--min-sample", "100"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "experiment exp_1 (control: control)" in out and "warning: experiment exp_1 variant nba" in out
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["experiments"][0]["variants"][1]["clicks"] == 4


def test_an_assignment_naming_a_request_credits_that_list():
    exposures = [exposure(1, "req-x", ["a"], ts=T0 - 50)]  # before the user's first assignment by ts...
    result = report(exposures, [], [assignment(1, "nba", ts=T0, request_id="req-x")], min_sample=0)
    assert result["experiments"][0]["variants"][0]["lists"] == 1  # ...but named by its request id
