"""Exposure / outcome attribution logs: the records match their JSON Schemas, user keys are
pseudonymous, validate points at the right lines, and the report's figures agree with a plain
recount of generated data."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from recengine.attribution import records as rec
from tools.attribution import report as reports
from tools.attribution.__main__ import main
from tools.attribution.report import read_jsonl, report, validate

TENANTS = ("acme", "globex")
MODELS = ("model_a", "model_b", None)
SURFACES = ("home", "pdp", None)
T0 = 1_700_000_000.0
KEY = "unit-test-pseudonym-key-0123456789"


@pytest.fixture(autouse=True)
def _default_schema_dir(monkeypatch):
    monkeypatch.delenv(reports.SCHEMA_DIR_ENV, raising=False)


def pid(tenant_id: str, raw: str) -> str:
    return rec.pseudonymous_id(KEY, tenant_id, raw)


def schema(name: str) -> dict:
    return json.loads(reports.schema_path(name).read_text())


def write_jsonl(path: Path, records: Iterable[dict]) -> Path:
    path.write_text("".join(rec.to_jsonl(r) + "\n" for r in records))
    return path


def generate(seed: int = 7, n_exposures: int = 80, n_outcomes: int = 400) -> tuple[list[dict], list[dict]]:
    """Exposures over two tenants (some request ids reused across tenants), and outcomes mixing on-list,
    off-list, unknown-request and other-tenant ones, plus replays of earlier event ids."""
    rng = random.Random(seed)
    exposures = []
    for i in range(n_exposures):
        tenant = TENANTS[i % 2]
        n_items = rng.randint(0, 12)
        items = [{"id": f"item-{j}", "score": rng.random()} for j in rng.sample(range(40), n_items)]
        exposures.append(rec.exposure_record(
            request_id=f"req-{i // 2 if i % 5 == 0 else i}", tenant_id=tenant,
            user_key=pid(tenant, f"user-{rng.randrange(20)}@example.com"),
            session_key=rng.choice([None, pid(tenant, f"sess-{rng.randrange(50)}")]),
            surface=rng.choice(SURFACES), placement=rng.choice([None, "carousel", "grid"]),
            model_id=rng.choice(MODELS), algorithm=rng.choice(["hybrid", "popular"]), items=items,
            ts=T0 + i))
    outcomes: list[dict] = []
    for k in range(n_outcomes):
        if outcomes and rng.random() < 0.1:
            outcomes.append(dict(rng.choice(outcomes)))  # a retried delivery: same event id
            continue
        exposure = rng.choice(exposures)
        tenant, request_id = exposure["tenant_id"], exposure["request_id"]
        roll = rng.random()
        if roll < 0.1:
            request_id = f"req-unknown-{k}"
        elif roll < 0.15:
            tenant = TENANTS[1 - TENANTS.index(tenant)]  # the same request id may not exist there
        if exposure["items"] and rng.random() < 0.8:
            item = rng.choice(exposure["items"])["id"]
        else:
            item = f"item-{rng.randrange(60)}"  # may or may not be on the list
        outcomes.append(rec.outcome_record(
            request_id=request_id, tenant_id=tenant, user_key=exposure["user_key"], item_id=item,
            type=rng.choice(rec.OUTCOME_TYPES), value=rng.choice([None, round(rng.uniform(0, 100), 2)]),
            ts=exposure["ts"] + rng.uniform(1, 600), event_id=f"evt-{k}"))
    return exposures, outcomes


def recount(exposures: list[dict], outcomes: list[dict]) -> dict:
    """The figures by a plain loop over the raw records, independent of report()'s bookkeeping."""
    first_exposures: dict[tuple, dict] = {}
    for e in exposures:
        first_exposures.setdefault((e["tenant_id"], e["request_id"]), e)
    unique: dict[tuple, dict] = {}
    for o in outcomes:
        unique.setdefault((o["tenant_id"], o["event_id"]), o)
    joined = [o for o in unique.values() if (o["tenant_id"], o["request_id"]) in first_exposures]

    groups: dict[tuple, dict] = {}
    with_outcome = off_list = 0
    for key, e in first_exposures.items():
        shown = {item["id"] for item in e["items"]}
        mine = [o for o in joined if (o["tenant_id"], o["request_id"]) == key]
        clicked = {o["item_id"] for o in mine if o["type"] == "click" and o["item_id"] in shown}
        bought = {o["item_id"] for o in mine if o["type"] == "purchase" and o["item_id"] in shown}
        off = sum(1 for o in mine if o["item_id"] not in shown)
        g = groups.setdefault((e["model_id"], e["surface"]),
                              {"lists": 0, "impressions": 0, "clicks": 0, "purchases": 0, "clicked_lists": 0,
                               "off_list": 0})
        g["lists"] += 1
        g["impressions"] += len(shown)
        g["clicks"] += len(clicked)
        g["purchases"] += len(bought)
        g["clicked_lists"] += 1 if clicked else 0
        g["off_list"] += off
        with_outcome += 1 if mine else 0
        off_list += off
    return {"join_rate": len(joined) / len(unique), "exposures_with_outcome": with_outcome / len(first_exposures),
            "off_list": off_list, "duplicates": len(outcomes) - len(unique), "groups": groups}


# ---------------------------------------------------------------------------- schemas and records
@pytest.mark.parametrize("name", rec.SCHEMAS)
def test_schemas_are_valid_draft_2020_12_and_closed(name):
    doc = schema(name)
    Draft202012Validator.check_schema(doc)
    assert doc["$id"] == name and doc["additionalProperties"] is False
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_built_records_validate_against_the_schemas():
    exposures, outcomes = generate()
    exposure_v, outcome_v = Draft202012Validator(schema("exposure.v1")), Draft202012Validator(schema("outcome.v1"))
    for e in exposures:
        assert not list(exposure_v.iter_errors(e))
        assert [i["position"] for i in e["items"]] == list(range(1, len(e["items"]) + 1))
    for o in outcomes:
        assert not list(outcome_v.iter_errors(o))
    assert any(not e["items"] for e in exposures) and any(e["session_key"] is None for e in exposures)


def test_schemas_reject_raw_ids_extra_fields_and_bad_positions():
    exposures, outcomes = generate(n_exposures=4, n_outcomes=4)
    exposure_v, outcome_v = Draft202012Validator(schema("exposure.v1")), Draft202012Validator(schema("outcome.v1"))
    e = next(e for e in exposures if e["items"])
    for broken in ({**e, "user_key": "user-1@example.com"}, {**e, "user_id": "user-1"},
                   {**e, "items": [{**e["items"][0], "position": 0}]}, {**e, "surface": "home\n"},
                   {**e, "user_key": e["user_key"] + "\n"}, {**e, "items": e["items"] * 101}):
        assert list(exposure_v.iter_errors(broken))
    for broken in ({**outcomes[0], "type": "hover"}, {**outcomes[0], "value": -1},
                   {k: v for k, v in outcomes[0].items() if k != "event_id"}):
        assert list(outcome_v.iter_errors(broken))


def test_builders_refuse_raw_user_ids_unknown_types_and_non_finite_numbers():
    key = pid("acme", "u1")
    common = dict(request_id="r", tenant_id="acme", session_key=None, surface=None, placement=None,
                  model_id=None, algorithm="hybrid", ts=T0)
    with pytest.raises(ValueError):
        rec.exposure_record(user_key="u1", items=[], **common)
    with pytest.raises(ValueError):
        rec.exposure_record(user_key=key, items=[{"id": "a", "score": float("nan")}], **common)
    with pytest.raises(ValueError):
        rec.exposure_record(user_key=key, items=[{"id": str(i), "score": 0.0} for i in range(101)], **common)
    with pytest.raises(ValueError):
        rec.outcome_record(request_id="r", tenant_id="acme", user_key=key, item_id="a", type="hover", value=None,
                           ts=T0, event_id="e")


def test_pseudonymous_id_is_stable_tenant_scoped_and_hides_the_raw_id():
    raw = "Alice.Smith+42@example.com"
    key = pid("acme", raw)
    assert rec.PSEUDONYM.fullmatch(key) and raw not in key and raw.lower() not in key
    assert pid("acme", raw) == key
    assert pid("globex", raw) != key
    assert pid("acme", raw + "x") != key
    assert pid("acm", "e\x00" + raw) != pid("acme", raw + "\x00")

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(rec.__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    code = ("import sys; from recengine.attribution.records import pseudonymous_id; "
            "print(pseudonymous_id(*sys.argv[1:]))")
    other = subprocess.run([sys.executable, "-c", code, KEY, "acme", raw], env=env, capture_output=True, text=True,
                           check=True).stdout.strip()
    assert other == key  # the same key gives the same pseudonym in every process

    assert rec.pseudonymous_id("a-deployment-secret", "acme", raw) != key


def test_there_is_no_default_pseudonym_key():
    from recengine.settings import Settings, SettingsError
    from tests.conftest import settings_env

    with pytest.raises(TypeError):
        rec.pseudonymous_id("acme", "u1")  # type: ignore[call-arg]
    env = {k: v for k, v in settings_env().items() if k != "PSEUDONYM_SECRET_ID"}
    with pytest.raises(SettingsError, match="PSEUDONYM_SECRET_ID"):
        Settings.from_env(env).require("pseudonym_secret_id", "pseudonymising callers")


def test_schema_dir_defaults_to_the_repo_and_honours_the_override(tmp_path, monkeypatch):
    assert reports.schema_dir() == reports.SCHEMA_DIR and (reports.SCHEMA_DIR / "exposure.v1.json").is_file()
    exposures, _ = generate(n_exposures=3, n_outcomes=1)
    data = write_jsonl(tmp_path / "e.jsonl", exposures)
    monkeypatch.setenv(reports.SCHEMA_DIR_ENV, str(tmp_path / "empty"))
    assert reports.schema_dir() == tmp_path / "empty"
    with pytest.raises(FileNotFoundError):
        validate(data, "exposure.v1")
    shutil.copytree(reports.SCHEMA_DIR, tmp_path / "copy")
    monkeypatch.setenv(reports.SCHEMA_DIR_ENV, str(tmp_path / "copy"))
    assert validate(data, "exposure.v1") == []
    with pytest.raises(ValueError):
        reports.schema_path("exposure.v2")


# ---------------------------------------------------------------------------- validate
def test_validate_reports_bad_records_and_malformed_json_at_their_lines(tmp_path):
    exposures, _ = generate(n_exposures=6, n_outcomes=1)
    good = [rec.to_jsonl(e) for e in exposures]
    bad_record = {**exposures[1], "items": [{"id": "x", "position": 0, "score": 1.0}]}
    lines = [good[0], "", rec.to_jsonl(bad_record), good[2], '{"schema": "exposure.v1", ', good[3],
             '{"schema": "exposure.v1", "ts": NaN}', good[4]]
    path = tmp_path / "exposures.jsonl"
    path.write_text("\n".join(lines) + "\n")
    expected_lines = [lines.index(rec.to_jsonl(bad_record)) + 1, lines.index('{"schema": "exposure.v1", ') + 1,
                      lines.index('{"schema": "exposure.v1", "ts": NaN}') + 1]

    issues = validate(path, "exposure.v1")
    assert [i.line for i in issues] == expected_lines
    assert "position" in issues[0].message and "minimum" in issues[0].message
    assert issues[1].message.startswith("invalid JSON") and issues[2].message.startswith("invalid JSON")

    kept = [text for text in lines if text in good or not text]  # the bad lines dropped, the blank one kept
    path.write_text("\n".join(kept) + "\n")
    assert validate(path, "exposure.v1") == []
    assert [n for n, _ in read_jsonl(path)] == [n for n, text in enumerate(kept, start=1) if text]


def test_validate_names_the_wrong_schema_once_per_line(tmp_path):
    exposures, _ = generate(n_exposures=3, n_outcomes=1)
    issues = validate(write_jsonl(tmp_path / "e.jsonl", exposures), "outcome.v1")
    assert [i.line for i in issues] == list(range(1, len(exposures) + 1))
    assert all("expected 'outcome.v1'" in i.message for i in issues)


# ---------------------------------------------------------------------------- report
def test_report_figures_match_an_independent_recount():
    exposures, outcomes = generate()
    expected = recount(exposures, outcomes)
    result = report(exposures, outcomes)
    # the generated data exercises every case the figures depend on
    assert expected["duplicates"] > 0 and expected["off_list"] > 0 and 0 < expected["join_rate"] < 1
    assert any(g["clicks"] for g in expected["groups"].values())
    assert any(g["purchases"] for g in expected["groups"].values())

    assert result["join_rate"] == pytest.approx(expected["join_rate"])
    assert result["exposures_with_outcome"] == pytest.approx(expected["exposures_with_outcome"])
    assert result["off_list"] == expected["off_list"]
    assert result["duplicate_outcomes"] == expected["duplicates"]
    got = {(g["model_id"], g["surface"]): g for g in result["groups"]}
    assert set(got) == set(expected["groups"])
    for key, want in expected["groups"].items():
        g = got[key]
        assert {k: g[k] for k in want} == want
        assert g["ctr"] == pytest.approx(want["clicks"] / want["impressions"])
        assert g["list_ctr"] == pytest.approx(want["clicked_lists"] / want["lists"])
        assert g["conversion"] == pytest.approx(want["purchases"] / want["impressions"])
    total_impressions = sum(w["impressions"] for w in expected["groups"].values())
    assert result["overall"]["ctr"] == pytest.approx(
        sum(w["clicks"] for w in expected["groups"].values()) / total_impressions)


def _one_list(rng: random.Random) -> tuple[dict, str]:
    user = pid("acme", "someone")
    exposure = rec.exposure_record(request_id="req-1", tenant_id="acme", user_key=user, session_key=None,
                                   surface="home", placement=None, model_id="model_a", algorithm="hybrid",
                                   items=[{"id": f"item-{j}", "score": rng.random()} for j in range(5)], ts=T0)
    return exposure, user


def test_duplicate_event_ids_count_once():
    exposure, user = _one_list(random.Random(1))
    click = rec.outcome_record(request_id="req-1", tenant_id="acme", user_key=user, item_id="item-2", type="click",
                               value=None, ts=T0 + 5, event_id="evt-1")
    once = report([exposure], [click])
    replayed = report([exposure], [click, dict(click), dict(click)])
    assert replayed["duplicate_outcomes"] == 2 and once["duplicate_outcomes"] == 0
    assert {k: v for k, v in replayed.items() if k != "duplicate_outcomes"} == \
           {k: v for k, v in once.items() if k != "duplicate_outcomes"}
    # the same event id in another tenant is another event
    other_tenant = {**click, "tenant_id": "globex"}
    assert report([exposure], [click, other_tenant])["outcomes"] == 2


def test_off_list_outcomes_join_but_are_not_clicks():
    exposure, user = _one_list(random.Random(2))
    shown = {i["id"] for i in exposure["items"]}
    off_item = next(f"item-{j}" for j in range(100) if f"item-{j}" not in shown)
    on = rec.outcome_record(request_id="req-1", tenant_id="acme", user_key=user, item_id=exposure["items"][0]["id"],
                            type="click", value=None, ts=T0 + 1, event_id="evt-1")
    off = {**on, "item_id": off_item, "event_id": "evt-2"}
    base, with_off = report([exposure], [on]), report([exposure], [on, off])
    assert with_off["off_list"] == base["off_list"] + 1
    assert with_off["join_rate"] == base["join_rate"] and with_off["joined_outcomes"] == base["joined_outcomes"] + 1
    assert with_off["groups"][0]["ctr"] == base["groups"][0]["ctr"]
    unjoined = {**on, "request_id": "req-elsewhere", "event_id": "evt-3"}
    assert report([exposure], [on, unjoined])["join_rate"] == pytest.approx(1 / 2)


def test_report_of_nothing_has_no_rates():
    result = report([], [])
    assert result["join_rate"] is None and result["overall"]["ctr"] is None and result["groups"] == []


# ---------------------------------------------------------------------------- CLI
def test_cli_validate_exit_codes(tmp_path, capsys):
    exposures, outcomes = generate(n_exposures=10, n_outcomes=20)
    good = write_jsonl(tmp_path / "exposures.jsonl", exposures)
    assert main(["validate", "--schema", "exposure.v1", "--input", str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"OK {len(exposures)} records"

    bad = tmp_path / "outcomes.jsonl"
    bad.write_text("".join(rec.to_jsonl(o) + "\n" for o in outcomes[:3]) + "not json\n")
    assert main(["validate", "--schema", "outcome.v1", "--input", str(bad)]) == 1
    assert capsys.readouterr().out.splitlines() == [f"{bad}:4: invalid JSON: Expecting value (column 1)"]
    assert main(["validate", "--schema", "outcome.v1", "--input", str(tmp_path / "missing.jsonl")]) == 1


def test_cli_report_json_table_and_failures(tmp_path, capsys):
    exposures, outcomes = generate(seed=11)
    e_path = write_jsonl(tmp_path / "exposures.jsonl", exposures)
    o_path = write_jsonl(tmp_path / "outcomes.jsonl", outcomes)
    args = ["report", "--exposures", str(e_path), "--outcomes", str(o_path)]

    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(report(exposures, outcomes)))
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "join rate" in table and "CTR" in table and "model_a" in table

    swapped = ["report", "--exposures", str(o_path), "--outcomes", str(e_path)]
    assert main(swapped) == 1
    assert capsys.readouterr().out.startswith(f"{o_path}:1: $.schema: expected 'exposure.v1'")
    o_path.write_text(o_path.read_text() + "{broken\n")
    assert main([*args, "--no-validate"]) == 1
    assert capsys.readouterr().out.startswith(f"{o_path}:{len(outcomes) + 1}: invalid JSON")
