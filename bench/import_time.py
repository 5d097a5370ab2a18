"""Cold import time of the function handlers: each handler module imported in a fresh interpreter,
`--runs` times, median and spread reported (what a Lambda execution environment pays for importing
the handler before its first request). `--root` measures another checkout (e.g. an older commit
checked out with `git worktree add`), so that both are measured in one run, alternately.

    python -m bench.import_time [--functions recommend,similar] [--runs 15] [--root DIR ...] [--venv]
                                [--python PATH ...] [--floor] [--out JSON]

The packages are a deployed function's (bench/lambda_env.py: the layer's pins and the runtime's boto3,
with no site-packages), unless `--venv` asks for the development virtualenv, whose extra packages
botocore picks up (awscrt, pyOpenSSL); the environment names stand-in tables, as a deployed
function's does. `--python` (repeatable) measures under other interpreters too, e.g. the python3.12
and python3.13 runtimes, each with the same pinned packages, alternately with the others. `--floor`
also times, each alone, the packages the recommend path needs and the two botocore clients a first
request builds: what any first answer pays before our own code."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {"AWS_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "recengine", "POWERTOOLS_METRICS_NAMESPACE": "recengine",
       "ITEMS_TABLE": "t", "INTERACTIONS_TABLE": "t", "SESSIONS_TABLE": "t", "EXPOSURES_TABLE": "t", "MODELS_TABLE": "t",
       "TENANTS_TABLE": "t", "USAGE_TABLE": "t", "MODEL_BUCKET": "b", "MODEL_CACHE_DIR": "/tmp/models",
       "PSEUDONYM_SECRET_ID": "s", "PATH": "/usr/bin:/bin"}
PROBE = """
import importlib.util, sys, time
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print((time.perf_counter() - started) * 1000)
"""
# What a cold start pays before any of our code: the packages the recommend path needs and the two
# botocore clients a first request builds, in this order in one fresh interpreter, each step timed
# (a step's figure excludes what an earlier step already imported).
FLOOR = {
    "numpy": "import numpy",
    "pydantic": "import pydantic; from pydantic import BaseModel",
    "powertools (logger, metrics, event handler)": "import aws_lambda_powertools.logging, aws_lambda_powertools.metrics, "
                                                  "aws_lambda_powertools.event_handler",
    "botocore + dynamodb and s3 clients": "import botocore.session; s = botocore.session.get_session(); "
                                          "s.create_client('dynamodb', region_name='us-east-1'); "
                                          "s.create_client('s3', region_name='us-east-1')",
}
FLOOR_PROBE = """
import json, sys, time
out = []
for statement in json.loads(sys.argv[1]):
    started = time.perf_counter()
    exec(statement)
    out.append((time.perf_counter() - started) * 1000)
print(json.dumps(out))
"""


def interpreter(root: Path, venv: bool = False, python: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The command prefix and environment a probe of `root` runs with (see the module docstring)."""
    if venv:
        return [sys.executable], {**ENV, "PYTHONPATH": f"{root / 'layers' / 'engine'}:{root}"}
    from bench.lambda_env import command

    prefix, path = command(root, python)
    return prefix, {**ENV, **path}


def import_ms(root: Path, function: str, venv: bool = False, python: str | None = None) -> float:
    prefix, env = interpreter(root, venv, python)
    out = subprocess.run([*prefix, "-c", PROBE, str(root / "functions" / function / "app.py")], env=env,
                         cwd="/tmp", capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def floor_ms(root: Path, python: str | None = None) -> list[float]:
    prefix, env = interpreter(root, python=python)
    env = {**env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    out = subprocess.run([*prefix, "-c", FLOOR_PROBE, json.dumps(list(FLOOR.values()))], env=env, cwd="/tmp",
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--functions", default="recommend,similar,interactions,health")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--root", type=Path, action="append", help="a checkout to measure (repeatable; default: this one)")
    parser.add_argument("--venv", action="store_true", help="import from the development virtualenv instead")
    parser.add_argument("--python", action="append", help="an interpreter to measure with (repeatable; default: this one)")
    parser.add_argument("--floor", action="store_true",
                        help="also time the third-party imports and client builds a first request needs, each alone")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    roots = args.root or [ROOT]
    pythons = args.python or [None]
    functions = args.functions.split(",")
    variants = [(root, python) for root in roots for python in pythons]

    def name(root: Path, python: str | None) -> str:
        return str(root) if python is None else f"{root} [{python}]"

    samples: dict[str, dict[str, list[float]]] = {name(*v): {f: [] for f in functions} for v in variants}
    for _ in range(args.runs):  # interleaved, so that load on the machine hits every variant alike
        for root, python in variants:
            for function in functions:
                samples[name(root, python)][function].append(import_ms(root, function, args.venv, python))
    result = {}
    for root, by_function in samples.items():
        result[root] = {}
        for function, times in by_function.items():
            times.sort()
            result[root][function] = {"median_ms": round(statistics.median(times), 1), "min_ms": round(times[0], 1),
                                      "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1), "runs": len(times)}
            print(f"{root:<40} {function:<14} median {result[root][function]['median_ms']:7.1f} ms   "
                  f"min {result[root][function]['min_ms']:7.1f}   p90 {result[root][function]['p90_ms']:7.1f}")
    if args.floor:
        steps = [floor_ms(roots[0], pythons[0]) for _ in range(args.runs)]
        result["floor"] = {name: round(statistics.median(run[i] for run in steps), 1) for i, name in enumerate(FLOOR)}
        for name, median in result["floor"].items():
            print(f"{'floor: ' + name:<60} median {median:7.1f} ms")
        print(f"{'floor: in all':<60} median {statistics.median(sum(run) for run in steps):7.1f} ms "
              "(what a first answer pays before our own code)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
