"""`make load`: the running local stack driven over HTTP by locust (headless) for a bounded time;
per route: requests, throughput, p50/p99 and error rate, with 429s (the plan's throttle) counted
apart from errors. Exits 1 when any request failed with anything but a 429.

    python -m bench.load [--duration 60] [--users 8] [--burst 15] [--url URL --read-key K --write-key K] [--out JSON]

Without --url it starts a fresh local stack itself (local/spawn.py, the demo tenant on the growth
plan: 50 requests/s, burst 100). Phase 1 is the storefront mix (bench/locustfile.py) at `--users`
concurrent clients; phase 2 (`--burst` seconds, 0 to skip) sends the same mix from 4x as many clients
without pause, to go past the plan's rate and show that what exceeds it is answered 429. The local
stack is one Python process and serves 15-25 requests/s, under the growth plan's 50: so before
phase 2 the demo tenant is moved to the starter plan (10 requests/s, burst 20) with the admin CLI,
a rate the local stack can exceed. With --url, both phases use the keys given, on their own plan. locust runs from
its own virtualenv (.venv-load, bench/load-requirements.txt): its pins conflict with aws-sam-cli's."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCUST = ROOT / ".venv-load" / "bin" / "locust"


def summarise(stats_csv: str, failures_csv: str) -> list[dict]:
    """One row per route from locust's CSV output: errors are failures other than 429."""
    throttled: dict[str, int] = {}
    errors: dict[str, int] = {}
    kinds: dict[str, list[str]] = {}
    for row in csv.DictReader(io.StringIO(failures_csv)):
        status = re.search(r"\d{3}", row["Error"])  # the failure's message starts with the status
        bucket = throttled if status and status.group() == "429" else errors
        bucket[row["Name"]] = bucket.get(row["Name"], 0) + int(row["Occurrences"])
        if bucket is errors:
            kinds.setdefault(row["Name"], []).append(f"{row['Error']} x{row['Occurrences']}")
    rows = []
    for row in csv.DictReader(io.StringIO(stats_csv)):
        name = row["Name"]
        requests = int(row["Request Count"])
        err = errors.get(name, 0) if name != "Aggregated" else sum(errors.values())
        thr = throttled.get(name, 0) if name != "Aggregated" else sum(throttled.values())
        rows.append({"route": name, "requests": requests, "throughput_rps": round(float(row["Requests/s"]), 2),
                     "p50_ms": _number(row["50%"]), "p99_ms": _number(row["99%"]), "errors": err,
                     "error_rate": round(err / requests, 4) if requests else 0.0, "throttled_429": thr,
                     "error_kinds": kinds.get(name, [])})
    return rows


def _number(value: str) -> float | None:
    return None if value in ("", "N/A") else float(value)


def table(rows: list[dict]) -> str:
    lines = ["| route | requests | req/s | p50 ms | p99 ms | errors (not 429) | error rate | 429s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['route']} | {r['requests']} | {r['throughput_rps']:.1f} | {r['p50_ms']} | {r['p99_ms']} "
                     f"| {r['errors']} | {r['error_rate']:.2%} | {r['throttled_429']} |")
    return "\n".join(lines)


def run_locust(url: str, read_key: str, write_key: str, users: int, seconds: int, pause_s: float,
               demo_users: int, demo_items: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="load-") as tmp:
        prefix = str(Path(tmp) / "run")
        env = {**os.environ, "LOAD_READ_KEY": read_key, "LOAD_WRITE_KEY": write_key, "LOAD_PAUSE_S": str(pause_s),
               "LOAD_DEMO_USERS": str(demo_users), "LOAD_DEMO_ITEMS": str(demo_items)}
        subprocess.run([str(LOCUST), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "--only-summary",
                        "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", url, "--csv", prefix,
                        "--stop-timeout", "10", "--exit-code-on-error", "0"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return summarise(Path(f"{prefix}_stats.csv").read_text(), Path(f"{prefix}_failures.csv").read_text())


def to_starter_plan() -> None:
    """Moves the running local stack's demo tenant to the starter plan (10 requests/s, burst 20), with
    the admin CLI as an operator would: its data and model stay, its keys move to that usage plan, and
    the gateway picks the change up at once."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'engine'}{os.pathsep}{ROOT}"}

    def admin(*words: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "tools.admin", *words, "--local", "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    (tenant,) = admin("tenant", "list")["tenants"]
    admin("plan", "change", "--tenant", tenant["tenant_id"], "--plan", "starter")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of the storefront mix")
    parser.add_argument("--users", type=int, default=8, help="concurrent locust clients")
    parser.add_argument("--burst", type=int, default=15, help="seconds past the plan's rate (0: skip)")
    parser.add_argument("--url")
    parser.add_argument("--read-key")
    parser.add_argument("--write-key")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not LOCUST.exists():
        parser.error(f"{LOCUST} not found: run `make load` (it installs bench/load-requirements.txt there)")

    def phases(url: str, read_key: str, write_key: str, demo_users: int, demo_items: int,
               before_burst=lambda: None) -> dict:
        out = {"mix": run_locust(url, read_key, write_key, args.users, args.duration, 0.05, demo_users, demo_items)}
        if args.burst:
            before_burst()
            out["burst"] = run_locust(url, read_key, write_key, args.users * 4, args.burst, 0.0, demo_users,
                                      demo_items)
        return out

    if args.url:
        result = phases(args.url, args.read_key, args.write_key, 80, 120)
    else:
        sys.path.insert(0, str(ROOT))
        from local.spawn import running_stack

        with running_stack(drain=True) as stack:
            result = phases(stack.base_url, stack.read_key, stack.write_key, 80, 120, to_starter_plan)
    print(f"Phase 1: storefront mix, {args.users} clients, {args.duration} s")
    print(table(result["mix"]))
    if "burst" in result:
        plan = "the given keys' plan" if args.url else "the starter plan's 10 requests/s"
        print(f"\nPhase 2: {args.users * 4} clients without pause for {args.burst} s (past {plan})")
        print(table(result["burst"]))
        total = next(r for r in result["burst"] if r["route"] == "Aggregated")
        if not total["throttled_429"]:
            print(f"(no 429: the local stack served {total['throughput_rps']:.1f} requests/s, under the plan's rate)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    for phase in result.values():
        for r in phase:
            if r["error_kinds"]:
                print(f"{r['route']}: {', '.join(r['error_kinds'])}")
    errors = sum(r["errors"] for phase in result.values() for r in phase if r["route"] == "Aggregated")
    print(f"\nerrors other than 429: {errors} -> {'PASS' if not errors else 'FAIL'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
