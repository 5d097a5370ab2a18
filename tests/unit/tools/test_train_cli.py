"""The training CLI: given a tenant with interactions on a (moto) stack, when an operator runs
`python -m tools.admin train`, then the tenant is trained as the train function trains it and
progress is drawn on stderr (a redrawn line on a terminal, plain lines elsewhere)."""

from __future__ import annotations

import io
import json

import pytest

from tools.admin import cli, training
from tools.admin.cli import main
from tools.admin.training import ProgressDisplay, describe_progress
from recengine.runtime import runtime
from tests.conftest import local_state_file
from tests.integration.conftest import seed_tenant


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def state(aws, tmp_path):
    """A local-stack state file naming the moto tables and bucket (as `make run` writes it)."""
    return local_state_file(aws, tmp_path)


@pytest.fixture
def seeded(aws, call, state):
    caller = aws.tenant("shop")
    seed_tenant(call, caller, users=30, items=40, events=8)
    return caller, state


def train_cli(capsys, state, *args: str) -> tuple[int, dict, list[str]]:
    stderr = io.StringIO()
    code = main(["--state-file", str(state), "--json", "train", *args], progress=ProgressDisplay(stderr))
    out = capsys.readouterr().out
    return code, (json.loads(out) if code == 0 else {}), stderr.getvalue().splitlines()


# ------------------------------------------------------------------ rendering
def test_a_record_shows_elapsed_stage_epoch_counts_and_loss():
    info = {"stage": "als", "fit": "full", "iteration": 3, "of": 12, "elapsed_s": 4.25, "users": 1234,
            "loss": 0.0123}
    line = describe_progress(info)
    assert f"{info['elapsed_s']:.1f}s" in line and "als (full fit)" in line
    assert f"epoch {info['iteration']}/{info['of']}" in line and f"{info['users']:,} users" in line
    assert f"loss {info['loss']:.5g}" in line
    bar = line[line.index("["):line.index("]") + 1]
    assert bar.count("#") == round(info["iteration"] / info["of"] * (len(bar) - 2))


def test_evaluated_and_done_records_show_metrics_and_the_outcome():
    metrics = {"stage": "evaluated", "recall@20": 0.25, "ndcg@10": 0.125, "eval_users": 40, "elapsed_s": 1.0}
    line = describe_progress(metrics)
    assert f"recall@20 {metrics['recall@20']:.4f}" in line and f"{metrics['eval_users']:,} eval users" in line
    done = {"stage": "done", "model_id": "model_hybrid-v2_x", "status": "candidate", "reason": "ndcg@10 lower",
            "elapsed_s": 2.0}
    assert f"{done['model_id']} is {done['status']}: {done['reason']}" in describe_progress(done)


def test_without_a_terminal_each_record_is_one_plain_line():
    stream = io.StringIO()
    display = ProgressDisplay(stream)
    records = [{"stage": "read", "events": 50_000, "elapsed_s": 0.5},
               {"stage": "als", "iteration": 1, "of": 2, "elapsed_s": 1.0},
               {"stage": "done", "model_id": "m", "status": "live", "elapsed_s": 2.0}]
    for record in records:
        display(record)
    display.close()
    assert "\r" not in stream.getvalue()
    assert stream.getvalue().splitlines() == [describe_progress(r) for r in records]


def test_on_a_terminal_the_line_is_redrawn_and_finished_phases_stay():
    stream = Tty()
    display = ProgressDisplay(stream)
    display({"stage": "als", "iteration": 1, "of": 2, "elapsed_s": 1.0})
    display({"stage": "als", "iteration": 2, "of": 2, "elapsed_s": 2.0})
    display({"stage": "evaluated", "recall@20": 0.5, "elapsed_s": 3.0})
    display({"stage": "upload", "elapsed_s": 4.0})
    display.close()
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n")
    lines = text.split("\n")
    assert len(lines) == 3 and lines[-1] == ""  # the evaluated line, then the last line closed by close()
    assert lines[0].rsplit("\r", 1)[-1].startswith(describe_progress({"stage": "evaluated", "recall@20": 0.5,
                                                                       "elapsed_s": 3.0}))


# ------------------------------------------------------------------ the command
def test_train_trains_the_tenant_and_draws_progress(seeded, capsys):
    caller, state = seeded
    code, result, lines = train_cli(capsys, state, "--tenant", caller.tenant_id)
    assert code == 0 and result["trained"] is True and result["status"] == "live"
    registry = runtime().registry
    assert registry.live_model_id(caller.tenant_id) == result["model_id"]
    stored = registry.get_version(caller.tenant_id, result["model_id"])
    assert result["metrics"] == stored["metrics"]
    stages = [line.split()[1] for line in lines[1:]]
    for stage in ("loaded", "evaluate", "matrix", "als", "evaluated", "upload", "done"):
        assert stage in stages, stage
    assert any("(holdout fit)" in line for line in lines) and any("(full fit)" in line for line in lines)
    assert f"{stored['interactions']:,} events" in next(line for line in lines if " loaded " in line)
    assert result["model_id"] in lines[-1]


def test_train_without_new_events_is_skipped_unless_forced(seeded, capsys):
    caller, state = seeded
    first = train_cli(capsys, state, "--tenant", caller.tenant_id)[1]
    code, again, _ = train_cli(capsys, state, "--tenant", caller.tenant_id)
    assert code == 0 and again["trained"] is False and "--force" in again["detail"]
    code, forced, _ = train_cli(capsys, state, "--tenant", caller.tenant_id, "--force")
    assert code == 0 and forced["trained"] is True and forced["model_id"] != first["model_id"]
    assert len(runtime().registry.versions(caller.tenant_id)) == 2


def test_train_renders_a_summary_without_json(seeded, capsys):
    caller, state = seeded
    stderr = io.StringIO()
    assert main(["--state-file", str(state), "train", "--tenant", caller.tenant_id],
                progress=ProgressDisplay(stderr)) == 0
    out = capsys.readouterr().out
    model_id = runtime().registry.live_model_id(caller.tenant_id)
    assert f"model    {model_id} (live)" in out and "recall@20" in out


def test_an_unknown_tenant_is_an_error(state, capsys):
    display = ProgressDisplay(io.StringIO())
    assert main(["--state-file", str(state), "train", "--tenant", "nobody"], progress=display) == 1
    assert "nobody" in capsys.readouterr().err


def test_a_failing_progress_display_does_not_fail_the_training(seeded, capsys):
    caller, state = seeded

    class Broken(ProgressDisplay):
        def __call__(self, info):
            raise OSError("terminal went away")

    assert main(["--state-file", str(state), "--json", "train", "--tenant", caller.tenant_id],
                progress=Broken(io.StringIO())) == 0
    assert json.loads(capsys.readouterr().out)["trained"] is True


def test_the_environment_and_a_stack_name_their_tables(aws, monkeypatch):
    for var, value in aws.env.items():
        monkeypatch.setenv(var, value)
    args = cli.build_parser().parse_args(["train", "--tenant", "t"])
    target = training.resolve_training_target(args)
    assert target.source == "env" and target.names == {v: aws.env[v] for v in training.TRAINING_VARS}

    outputs = {output: f"physical-{output}" for output in training.TRAINING_VARS.values()}
    monkeypatch.setattr(training, "stack_outputs", lambda name, region=None: outputs)
    args = cli.build_parser().parse_args(["train", "--stack-name", "prod", "--region", "eu-west-1", "--tenant", "t"])
    target = training.resolve_training_target(args)
    assert target.region == "eu-west-1" and target.names == {v: outputs[o] for v, o in training.TRAINING_VARS.items()}

    monkeypatch.setattr(training, "stack_outputs", lambda name, region=None: {})
    with pytest.raises(ValueError, match="MODELS_TABLE"):
        training.resolve_training_target(args)
