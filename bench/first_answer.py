"""Cold start from S3 to the first answer (issue #13): for each catalogue size, a model trained on
synthetic data (bench/synthetic.py, with item metadata so that content is stored) is saved and
uploaded to an in-process moto S3 server; then a FRESH Python process, as a new Lambda execution
environment would, imports the recommend handler and the artefact path, lists and downloads the
artefact, loads it and answers one recommend. Also checks that the loaded model ranks as the trained
one did (serving accuracy unchanged by the artefact format).

    PYTHONPATH=layers/engine:. python -m bench.first_answer [--sizes 10000,100000] [--runs 3] [--files]
                                                             [--python PATH] [--out JSON]

The download is the serving cache's: the version's pack in one GET (`--files` also times the
file-by-file download of a version without one); `--python` runs the fresh processes under another
interpreter (the python3.12 / python3.13 runtimes), with the same pinned packages.

Targets: artefact <= 60 MB at 100k items; first answer <= 0.3 s at 10k and <= 1.0 s at 100k. The
figures are this machine's local disk and loopback: an S3 GET in a region adds its own latency and
throughput (the download figure is the part that changes)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUCKET, TENANT = "bench-models", "tenant_bench"
TARGETS = {10_000: {"first_answer_s": 0.3}, 100_000: {"first_answer_s": 1.0, "artefact_mb": 60.0}}
EVENTS_PER_ITEM = 10

CHILD = r"""
import json, sys, time
started = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
handler_s = time.perf_counter() - started
import botocore.session  # the functions' clients are botocore's (recengine/aws/clients.py)
from recengine.engine.artefact import ARTEFACT_FILES, OPTIONAL_ARTEFACT_FILES, load_model
from recengine.models.artefacts import ArtefactStore
cfg = json.loads(sys.argv[2])
s3 = botocore.session.get_session().create_client("s3", endpoint_url=cfg["endpoint"], region_name="us-east-1")
imported = time.perf_counter()
store = ArtefactStore(cfg["bucket"], s3)
directory, sizes = __import__("pathlib").Path(cfg["directory"]), []
# as the serving cache fetches a version: its pack in one GET, else a listing and a GET per file
if cfg["pack"] and store.download_pack(cfg["tenant"], cfg["model_id"], directory, ARTEFACT_FILES, sizes.append):
    files = {"artefact.tar": sizes[0]}
else:
    files = store.present(cfg["tenant"], cfg["model_id"], ARTEFACT_FILES, OPTIONAL_ARTEFACT_FILES)
    store.download(cfg["tenant"], cfg["model_id"], list(files), directory)
downloaded = time.perf_counter()
model = load_model(cfg["directory"])
loaded = time.perf_counter()
history, weights = cfg["history"]
ranked = model.recommend(history, weights, 10)
answered = time.perf_counter()
print(json.dumps({"import_handler_s": handler_s, "import_s": imported - started, "download_s": downloaded - imported,
                  "load_s": loaded - downloaded, "first_recommend_s": answered - loaded,
                  "first_answer_s": answered - started, "downloaded_mb": sum(files.values()) / 1e6,
                  "objects": len(files), "items": [i for i, _ in ranked.items]}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build(n_items: int, directory: Path, seed: int = 0) -> dict:
    """Trains ALS on synthetic events with item metadata and saves the artefact; the trained model's
    answers for a few fresh histories are kept, to compare with what the loaded artefact answers."""
    from bench.synthetic import SyntheticSpec, catalogue, generate, sample_histories
    from recengine.engine.als import ALSParams
    from recengine.engine.artefact import save_model
    from recengine.engine.training import train_model

    syn = generate(SyntheticSpec(n_items * EVENTS_PER_ITEM, n_items, seed=seed))
    started = time.perf_counter()
    model = train_model(syn.training_data(), f"model_first-answer-{n_items}", ALSParams(), catalogue=catalogue(syn))
    train_s = time.perf_counter() - started
    files = save_model(model, directory)
    histories = sample_histories(syn, 20, 20)
    answers = {algorithm: [[i for i, _ in model.recommend(h, w, 10, algorithm=algorithm).items] for h, w in histories]
               for algorithm in ("hybrid", "collaborative", "content-based")}
    return {"model_id": model.model_id, "files": files, "histories": histories, "answers": answers,
            "train_s": train_s, "artefact_mb": sum(p.stat().st_size for p in files) / 1e6,
            "by_file_mb": {p.name: round(p.stat().st_size / 1e6, 3) for p in files}}


def agreement(directory: Path, built: dict) -> dict:
    """Share of the trained model's top 10 that the loaded artefact returns, per algorithm."""
    from recengine.engine.artefact import load_model

    model = load_model(directory)
    out = {}
    for algorithm, want in built["answers"].items():
        got = [[i for i, _ in model.recommend(h, w, 10, algorithm=algorithm).items] for h, w in built["histories"]]
        out[algorithm] = statistics.mean(len(set(g) & set(w)) / max(len(w), 1) for g, w in zip(got, want))
    return out


def first_answer(cfg: dict, runs: int, python: str | None = None) -> dict:
    """Median over `runs` fresh processes, each with an empty local cache directory."""
    from bench.import_time import interpreter

    prefix, env = interpreter(ROOT, python=python)  # a deployed function's packages (bench/lambda_env.py)
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    samples = []
    for run in range(-1, runs):  # run -1 is not counted: it compiles the environment's bytecode, once
        directory = Path(cfg["workdir"]) / f"cache-{run}-{cfg['pack']}-{Path(python or 'default').name}"
        child = {**cfg, "directory": str(directory)}
        out = subprocess.run([*prefix, "-c", CHILD, str(ROOT / "functions" / "recommend" / "app.py"),
                              json.dumps(child)], env=env, cwd="/tmp", capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        if run >= 0:
            samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = [k for k, v in samples[0].items() if isinstance(v, float)]
    result = {k: round(statistics.median(s[k] for s in samples), 4) for k in keys}
    result["runs"], result["objects"] = runs, samples[0]["objects"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per size (median reported)")
    parser.add_argument("--python", help="the interpreter of the fresh processes (default: this one), e.g. a python3.12")
    parser.add_argument("--files", action="store_true",
                        help="also time the file-by-file download (a version without a pack), for comparison")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    import boto3
    from moto.server import ThreadedMotoServer

    from recengine.models.artefacts import ArtefactStore

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per GET otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    results: dict = {}
    try:
        s3 = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        store = ArtefactStore(BUCKET, s3)
        with tempfile.TemporaryDirectory(prefix="first-answer-") as tmp:
            for n_items in (int(s) for s in args.sizes.split(",")):
                directory = Path(tmp) / f"artefact-{n_items}"
                built = build(n_items, directory)
                store.upload(TENANT, built["model_id"], built["files"])
                h, w = built["histories"][0]
                cfg = {"endpoint": endpoint, "bucket": BUCKET, "tenant": TENANT, "model_id": built["model_id"],
                       "workdir": str(Path(tmp) / f"runs-{n_items}"), "history": [h, w], "pack": True}
                timing = first_answer(cfg, args.runs, args.python)
                if args.files:
                    by_file = first_answer({**cfg, "pack": False}, args.runs, args.python)
                    timing["file_by_file"] = {k: by_file[k] for k in ("first_answer_s", "download_s", "objects")}
                row = {"items": n_items, "artefact_mb": round(built["artefact_mb"], 2), "by_file_mb": built["by_file_mb"],
                       "train_s": round(built["train_s"], 1), **timing,
                       "top10_agreement_with_trained_model": agreement(directory, built)}
                verdicts = {}
                for key, target in TARGETS.get(n_items, {}).items():
                    verdicts[key] = {"value": row[key], "target": target, "verdict": "PASS" if row[key] <= target else "MISS"}
                row["verdicts"] = verdicts
                results[str(n_items)] = row
                print(f"{n_items:>7} items: artefact {row['artefact_mb']:7.2f} MB, first answer {row['first_answer_s']:.3f} s "
                      f"(handler import {row['import_handler_s']:.3f}, download {row['download_s']:.3f}, "
                      f"load {row['load_s']:.3f}, first recommend {row['first_recommend_s']:.3f})", flush=True)
                if "file_by_file" in row:
                    print(f"         file by file (no pack): first answer {row['file_by_file']['first_answer_s']:.3f} s, "
                          f"download {row['file_by_file']['download_s']:.3f} s ({row['file_by_file']['objects']} objects)",
                          flush=True)
                for key, v in verdicts.items():
                    print(f"         {key:<16} {v['value']:>8} vs <= {v['target']:<6} {v['verdict']}", flush=True)
                print(f"         top-10 agreement loaded vs trained: {row['top10_agreement_with_trained_model']}",
                      flush=True)
    finally:
        server.stop()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
