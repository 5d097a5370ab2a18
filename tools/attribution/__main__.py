"""python -m tools.attribution COMMAND

  validate --schema exposure.v1|outcome.v1|assignment.v1 --input FILE
                                                          check a JSONL log against its JSON Schema
  report --exposures FILE --outcomes FILE [--assignments FILE] [--min-sample N] [--json]
                                                          join rate, CTR, list CTR and conversion
                                                          per (model, surface); with assignments,
                                                          per experiment variant with p-values
  export --tenant ID --exposures FILE --outcomes FILE [--assignments FILE] [--local]
                                                          a tenant's logs from DynamoDB as JSONL

validate prints `OK n records`, or one `FILE:LINE: message` per problem and exits 1. report validates
both inputs first (skip with --no-validate on large, already checked logs) and exits 1 on any problem.
Schemas are read from <repo>/schemas or $ATTRIBUTION_SCHEMA_DIR."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recengine.attribution.records import ASSIGNMENT_SCHEMA, EXPOSURE_SCHEMA, OUTCOME_SCHEMA, SCHEMAS

from .report import JsonlError, count_records, read_jsonl, render, report, validate
from .variants import MIN_SAMPLE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.attribution", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check a JSONL log against its JSON Schema",
                                description="Check every line of a JSONL log against its JSON Schema.")
    check.add_argument("--schema", required=True, choices=list(SCHEMAS))
    check.add_argument("--input", required=True, type=Path, help="JSONL file, one record per line")
    figures = commands.add_parser("report", help="join rate, CTR and conversion per model and surface",
                                  description="Join outcomes to exposures on (tenant_id, request_id).")
    figures.add_argument("--exposures", required=True, type=Path, help="exposure.v1 JSONL file")
    figures.add_argument("--outcomes", required=True, type=Path, help="outcome.v1 JSONL file")
    figures.add_argument("--assignments", type=Path, help="assignment.v1 JSONL file: per-variant figures")
    figures.add_argument("--min-sample", type=int, default=MIN_SAMPLE,
                         help=f"impressions per variant below which a warning is given (default {MIN_SAMPLE})")
    figures.add_argument("--json", action="store_true", help="print the report as JSON")
    figures.add_argument("--no-validate", action="store_true", help="skip the schema check of the inputs")
    dump = commands.add_parser("export", help="write a tenant's exposures and outcomes as JSONL",
                               description="Read the exposure log and the interactions that name a request id "
                               "from DynamoDB (the running local stack with --local, else the tables named by "
                               "EXPOSURES_TABLE / INTERACTIONS_TABLE / SESSIONS_TABLE and the pseudonym key's secret "
                               "PSEUDONYM_SECRET_ID, read from Secrets Manager) and "
                               "write JSONL.")
    dump.add_argument("--tenant", required=True)
    dump.add_argument("--exposures", required=True, type=Path, help="exposure.v1 JSONL output")
    dump.add_argument("--outcomes", required=True, type=Path, help="outcome.v1 JSONL output")
    dump.add_argument("--assignments", type=Path, help="assignment.v1 JSONL output (experiments)")
    dump.add_argument("--local", action="store_true", help="the stack `make run` started")
    dump.add_argument("--since", type=float, default=0.0, help="exposures from this epoch second on")
    return parser


def _export(args: argparse.Namespace) -> int:
    import os

    from recengine.attribution.records import to_jsonl
    from recengine.attribution.secret import SecretStore
    from recengine.attribution.service import Pseudonyms, export_exposures, export_outcomes
    from recengine.attribution.store import ExposureStore
    from recengine.decisioning.service import export_assignments
    from recengine.decisioning.store import AssignmentStore
    from recengine.events.store import InteractionStore

    env = dict(os.environ)
    if args.local:
        from tools.admin.target import default_state_file

        state = json.loads(default_state_file().read_text())
        env.update(state["env"])
        os.environ.setdefault("AWS_ENDPOINT_URL", state["endpoint_url"])
        os.environ.setdefault("AWS_REGION", state["region"])
        os.environ.setdefault("AWS_DEFAULT_REGION", state["region"])
        for fake in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(fake, "testing")
    needed = ("EXPOSURES_TABLE", "INTERACTIONS_TABLE", "SESSIONS_TABLE", "PSEUDONYM_SECRET_ID")
    missing = [v for v in needed if not env.get(v)]
    if missing:
        print(f"error: set {', '.join(missing)} or use --local", file=sys.stderr)
        return 2
    pseudonyms = Pseudonyms(SecretStore().pseudonym_key(env["PSEUDONYM_SECRET_ID"]))
    counts = []
    events = InteractionStore(env["INTERACTIONS_TABLE"], env["SESSIONS_TABLE"]).tenant_events(args.tenant)
    exposures = ExposureStore(env["EXPOSURES_TABLE"])
    outputs = [(args.exposures, export_exposures(exposures, args.tenant, args.since)),
               (args.outcomes, export_outcomes(pseudonyms, args.tenant, events, exposures.tenant_outcomes(args.tenant)))]
    if args.assignments:
        outputs.append((args.assignments, export_assignments(AssignmentStore(env["EXPOSURES_TABLE"]), args.tenant)))
    for path, records in outputs:
        n = 0
        with open(path, "w", encoding="utf-8") as out:
            for record in records:
                out.write(to_jsonl(record) + "\n")
                n += 1
        counts.append(n)
    print(f"wrote {counts[0]} exposures to {args.exposures} and {counts[1]} outcomes to {args.outcomes}"
          + (f" and {counts[2]} assignments to {args.assignments}" if args.assignments else ""))
    return 0


def _problems(path: Path, schema: str) -> int:
    """Print each problem as FILE:LINE: message; the count decides the exit code."""
    issues = validate(path, schema)
    for issue in issues:
        print(f"{path}:{issue.line}: {issue.message}")
    return len(issues)


def _records(path: Path) -> list[dict]:
    return [record for _, record in read_jsonl(path)]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "export":
        return _export(args)
    try:
        if args.command == "validate":
            if _problems(args.input, args.schema):
                return 1
            print(f"OK {count_records(args.input)} records")
            return 0
        if not args.no_validate:
            bad = _problems(args.exposures, EXPOSURE_SCHEMA) + _problems(args.outcomes, OUTCOME_SCHEMA)
            if args.assignments:
                bad += _problems(args.assignments, ASSIGNMENT_SCHEMA)
            if bad:
                print(f"error: {bad} problem(s) in the inputs; no report", file=sys.stderr)
                return 1
        try:
            assignments = _records(args.assignments) if args.assignments else None
            result = report(_records(args.exposures), _records(args.outcomes), assignments, args.min_sample)
        except (KeyError, TypeError) as exc:  # only reachable with --no-validate
            print(f"error: a record lacks a field or has the wrong type ({exc!r}); run validate", file=sys.stderr)
            return 1
    except JsonlError as exc:
        print(exc)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
