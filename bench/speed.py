"""Engine speed, training and model-load figures on synthetic data, against the issue's targets.

    python -m bench.speed [--out JSON] [--quick]

Every measurement runs in a fresh subprocess: serving with one BLAS thread (OPENBLAS/OMP/MKL
_NUM_THREADS=1, set before numpy is imported), training with two; peak memory is that process's
peak RSS. Models are trained or built by one worker, saved, and loaded by the serving workers
through `load_model` (engine/artefact.py), as the recommend Lambda does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
SERVING_THREADS = 1
# ALS gains nothing from a second BLAS thread (0.41 vs 0.45 s per iteration at 1M events, idle) and
# loses 5-10x when another process holds a core (OpenBLAS threads wait on each other); EASE's dense
# Gram matrix and inverse do use both cores.
TRAINING_THREADS = {"als": 1, "hybrid": 2, "content": 2, "random": 2}

# name: (limit, "max" | "min", unit)
TARGETS = {
    "recommend_10k_p50_ms": (1.0, "max", "ms"),
    "recommend_10k_p99_ms": (5.0, "max", "ms"),
    "recommend_10k_hybrid_p50_ms": (1.0, "max", "ms"),
    "recommend_10k_hybrid_p99_ms": (5.0, "max", "ms"),
    # The default algorithm when the tenant's catalogue has metadata: the hybrid plus content scores.
    "recommend_10k_hybrid_content_p50_ms": (1.0, "max", "ms"),
    "recommend_10k_hybrid_content_p99_ms": (5.0, "max", "ms"),
    "recommend_1m_p50_ms": (3.0, "max", "ms"),
    "similar_100k_p50_ms": (1.0, "max", "ms"),
    "ann_recall_at_100_recommend": (0.98, "min", ""),
    "ann_recall_at_100_similar": (0.98, "min", ""),
    "train_1m_s": (60.0, "max", "s"),
    "train_1m_peak_mb": (2048.0, "max", "MB"),
    "train_1m_als_s": (60.0, "max", "s"),
    "train_1m_als_peak_mb": (2048.0, "max", "MB"),
    "load_100k_ms": (300.0, "max", "ms"),
}

FULL = {
    "calls": 3000, "warmup": 300, "histories": 500, "history_len": 200, "n": 10,
    "catalogue_10k": {"n_interactions": 300_000, "n_items": 10_000},
    "catalogue_1m_items": 1_000_000,
    "recall_queries": 500,
    "training": [("0_1m", 100_000), ("1m", 1_000_000), ("5m", 5_000_000)],
    "training_items": 100_000,
    "served_size": "1m",  # the trained model used for similar, recall and load
    "hybrid_timeout_s": 1800,
}
QUICK = {
    "calls": 400, "warmup": 50, "histories": 100, "history_len": 200, "n": 10,
    "catalogue_10k": {"n_interactions": 60_000, "n_items": 2_000},
    "catalogue_1m_items": 50_000,
    "recall_queries": 200,
    "training": [("0_1m", 100_000)],
    "training_items": 20_000,
    "served_size": "0_1m",
    "hybrid_timeout_s": 120,
}


# ---------------------------------------------------------------------------- workers (subprocesses)
def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).iterdir()) / 2**20


def _save_histories(path: Path, histories: list) -> None:
    path.write_text(json.dumps(histories))


def _params(kind: str):
    from recengine.engine.als import ALSParams
    from recengine.engine.ease import EaseParams
    from recengine.engine.params import TrainParams

    if kind == "als":  # ALS only, ALSParams() defaults
        return ALSParams()
    if kind == "hybrid":  # TrainParams defaults: ALS + pruned EASE (on <= 8k most popular items), w_ease 0.7
        return TrainParams(als=ALSParams(), ease=EaseParams(), w_ease=0.7)
    raise ValueError(kind)


def worker_train(cfg: dict) -> dict:
    """Generates the events, trains with `cfg['params']`, then saves (annoy builds included)."""
    import tracemalloc

    from bench.synthetic import SyntheticSpec, catalogue, generate, sample_histories
    from recengine.engine.artefact import save_model
    from recengine.engine.training import train_model

    started = time.perf_counter()
    syn = generate(SyntheticSpec(cfg["n_interactions"], cfg["n_items"], seed=cfg.get("seed", 0)))
    data = syn.training_data()
    extra = {"catalogue": catalogue(syn)} if cfg.get("catalogue") else {}
    gen_s = time.perf_counter() - started
    rss_before = _peak_rss_mb()
    if cfg.get("tracemalloc"):
        tracemalloc.start()
    started = time.perf_counter()
    model = train_model(data, f"model_bench-{cfg['params']}", _params(cfg["params"]), **extra)
    train_s = time.perf_counter() - started
    out = {"generate_s": gen_s, "train_s": train_s, "peak_rss_mb": _peak_rss_mb(), "rss_before_train_mb": rss_before,
           "users": model.meta["users"], "items": model.n_items, "interactions": len(data), "nnz": model.meta["nnz"],
           "algorithm": model.meta["algorithm"], "ease_nnz": int(model.ease.nnz),
           "blend": {k: float(v) for k, v in vars(model.blend).items()}}
    if cfg.get("tracemalloc"):
        out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if cfg.get("save_to"):
        directory = Path(cfg["save_to"])
        started = time.perf_counter()
        save_model(model, directory)
        out["save_s"] = time.perf_counter() - started
        out["artefact_mb"] = _dir_mb(directory)
        out["peak_rss_with_save_mb"] = _peak_rss_mb()
        _save_histories(directory.with_suffix(".histories.json"),
                        sample_histories(syn, cfg["histories"], cfg["history_len"]))
    return out


def worker_random_model(cfg: dict) -> dict:
    """A large catalogue with random ALS-shaped factors (training 1M items here would take too long)."""
    import numpy as np

    from bench.synthetic import random_model
    from recengine.engine.artefact import save_model

    started = time.perf_counter()
    model, clusters = random_model(cfg["n_items"], seed=cfg.get("seed", 0))
    build_s = time.perf_counter() - started
    directory = Path(cfg["save_to"])
    started = time.perf_counter()
    save_model(model, directory)
    save_s = time.perf_counter() - started
    # Histories: 200 events from one taste cluster each, by popularity within it.
    rng = np.random.default_rng(1)
    order = np.argsort(clusters, kind="stable")
    bounds = np.searchsorted(clusters[order], np.arange(clusters.max() + 2))
    histories = []
    for _ in range(cfg["histories"]):
        c = rng.integers(0, clusters.max() + 1)
        members = order[bounds[c]:bounds[c + 1]]
        p = model.popularity[members].astype(np.float64)
        picks = members[rng.choice(members.size, cfg["history_len"], p=p / p.sum())]
        histories.append(([model.item_ids[i] for i in picks], rng.choice([1.0, 2.0, 4.0, 6.0, 8.0], picks.size).tolist()))
    _save_histories(directory.with_suffix(".histories.json"), histories)
    return {"build_s": build_s, "save_s": save_s, "artefact_mb": _dir_mb(directory), "items": model.n_items,
            "peak_rss_mb": _peak_rss_mb()}


def _latencies(fn, args: list, calls: int, warmup: int) -> dict:
    import gc

    import numpy as np

    for i in range(warmup):
        fn(*args[i % len(args)])
    gc.collect()
    times = np.empty(calls)
    clock = time.perf_counter_ns
    for i in range(calls):
        a = args[i % len(args)]
        t0 = clock()
        fn(*a)
        times[i] = clock() - t0
    times /= 1e6
    return {"p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90)),
            "p99_ms": float(np.percentile(times, 99)), "mean_ms": float(times.mean()), "calls": calls}


def worker_serve(cfg: dict) -> dict:
    """Loads a saved model and times recommend (and similar) calls, one thread."""
    import numpy as np

    from recengine.engine.artefact import load_model

    directory = Path(cfg["model"])
    kwargs = {} if cfg.get("exact_limit") is None else {"exact_limit": cfg["exact_limit"]}
    model = load_model(directory, **kwargs)
    histories = json.loads(directory.with_suffix(".histories.json").read_text())
    n = cfg["n"]
    out = {"items": model.n_items, "exact": bool(model.index.exact), "algorithm": model.meta.get("algorithm"),
           "history_len": len(histories[0][0]), "n": n}
    if cfg.get("recommend", True):
        rec = _latencies(model.recommend, [(h, w, n) for h, w in histories], cfg["calls"], cfg["warmup"])
        ranked = model.recommend(histories[0][0], histories[0][1], n)
        out.update({f"recommend_{k}": v for k, v in rec.items()})
        out["recommend_source"] = ranked.source
        out["recommend_returned"] = len(ranked.items)
    if cfg.get("similar", False):
        rng = np.random.default_rng(2)
        items = [(model.item_ids[i], n) for i in rng.integers(0, model.n_items, 1000)]
        sim = _latencies(model.similar, items, cfg["calls"], cfg["warmup"])
        out.update({f"similar_{k}": v for k, v in sim.items()})
    return out


def worker_recall(cfg: dict) -> dict:
    """Annoy top-100 against exact top-100 on trained vectors: users folded in from sampled histories
    (inner product, recommend) and random items (cosine, similar)."""
    import numpy as np

    from recengine.engine.artefact import load_model
    from recengine.engine.index import top_k

    directory = Path(cfg["model"])
    model = load_model(directory, exact_limit=0)
    assert not model.index.exact
    histories = json.loads(directory.with_suffix(".histories.json").read_text())
    k = 100
    index = model.index
    vectors = np.asarray(model.item_factors)
    rec, rec_ms = [], []
    for h, w in histories[: cfg["queries"]]:
        query, _ = model.user_vector(h, w)
        exact = top_k(vectors @ query, k)
        t0 = time.perf_counter()
        approx, _ = index.search(query, k)
        rec_ms.append((time.perf_counter() - t0) * 1e3)
        rec.append(len(set(exact.tolist()) & set(approx.tolist())) / k)
    rng = np.random.default_rng(3)
    sim, sim_ms = [], []
    for item in rng.choice(model.n_items, cfg["queries"], replace=False):
        sims = index.unit_vectors @ index.unit_vectors[item]
        sims[item] = -np.inf
        exact = top_k(sims, k)
        t0 = time.perf_counter()
        approx, _ = index.neighbours(int(item), k)
        sim_ms.append((time.perf_counter() - t0) * 1e3)
        sim.append(len(set(exact.tolist()) & set(approx.tolist())) / k)
    return {"recall_recommend": float(np.mean(rec)), "recall_similar": float(np.mean(sim)),
            "recall_recommend_min": float(np.min(rec)), "recall_similar_min": float(np.min(sim)),
            "annoy_search_100_p50_ms": float(np.median(rec_ms)), "annoy_neighbours_100_p50_ms": float(np.median(sim_ms)),
            "queries": len(rec), "items": model.n_items}


def worker_load(cfg: dict) -> dict:
    """A fresh process: load() from local disk, then the first recommend and similar (pages come in)."""
    started = time.perf_counter()
    from recengine.engine.artefact import load_model

    import_s = time.perf_counter() - started
    directory = Path(cfg["model"])
    histories = json.loads(directory.with_suffix(".histories.json").read_text())
    started = time.perf_counter()
    model = load_model(directory)
    load_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    model.recommend(histories[0][0], histories[0][1], cfg["n"])
    first_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    model.similar(model.item_ids[0], cfg["n"])
    first_sim_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    model.recommend(histories[1][0], histories[1][1], cfg["n"])
    second_ms = (time.perf_counter() - started) * 1e3
    return {"load_ms": load_ms, "first_recommend_ms": first_ms, "first_similar_ms": first_sim_ms,
            "second_recommend_ms": second_ms, "import_engine_ms": import_s * 1e3, "items": model.n_items,
            "exact": bool(model.index.exact), "artefact_mb": _dir_mb(directory)}


WORKERS = {"train": worker_train, "random_model": worker_random_model, "serve": worker_serve,
           "recall": worker_recall, "load": worker_load}


# ---------------------------------------------------------------------------- orchestration
class Runner:
    def __init__(self, log=print):
        self.log = log

    def run(self, worker: str, cfg: dict, threads: int, timeout: float | None = None) -> dict | None:
        env = {**os.environ, **{v: str(threads) for v in THREAD_VARS}}
        root = Path(__file__).resolve().parent.parent
        env["PYTHONPATH"] = os.pathsep.join([str(root / "layers" / "engine"), str(root), env.get("PYTHONPATH", "")])
        label = f"{worker} {cfg.get('label', '')}".strip()
        self.log(f"  .. {label} ({threads} thread{'s' if threads > 1 else ''})")
        started, load_before = time.perf_counter(), os.getloadavg()[0]
        try:
            proc = subprocess.run([sys.executable, "-m", "bench.speed", "--worker", worker, "--config", json.dumps(cfg)],
                                  env=env, cwd=root, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.log(f"     timed out after {timeout:.0f} s")
            return {"error": f"timeout after {timeout:.0f} s"}
        if proc.returncode != 0:
            self.log(f"     failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:] }")
            return {"error": proc.stderr.strip()[-2000:]}
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["threads"] = threads
        result["loadavg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        self.log(f"     {time.perf_counter() - started:.1f} s (load average {load_before:.2f} -> {os.getloadavg()[0]:.2f})")
        return result


def _round(v):
    return round(v, 4) if isinstance(v, float) else v


def measure(cfg: dict, workdir: Path, log=print) -> dict:
    run = Runner(log).run
    fig: dict = {}
    detail: dict = {}
    common = {"histories": cfg["histories"], "history_len": cfg["history_len"]}

    # --- recommend at 10k items, trained on synthetic data: ALS only, the ALS + EASE hybrid, and that
    # hybrid trained with item metadata (the default "hybrid" algorithm then blends content scores too)
    cat = cfg["catalogue_10k"]
    for kind in ("als", "hybrid", "content"):
        path = workdir / f"m10k_{kind}"
        built = run("train", {**cat, **common, "params": "als" if kind == "als" else "hybrid",
                              "catalogue": kind == "content", "save_to": str(path), "label": f"10k {kind}"},
                    TRAINING_THREADS[kind])
        served = run("serve", {"model": str(path), "n": cfg["n"], "calls": cfg["calls"], "warmup": cfg["warmup"],
                               "label": f"10k {kind}"}, SERVING_THREADS)
        detail[f"model_10k_{kind}"] = {"train": built, "serve": served}
        suffix = {"als": "", "hybrid": "_hybrid", "content": "_hybrid_content"}[kind]
        if served and "error" not in served:
            fig[f"recommend_10k{suffix}_p50_ms"] = served["recommend_p50_ms"]
            fig[f"recommend_10k{suffix}_p99_ms"] = served["recommend_p99_ms"]

    # --- the 100k-item trained models: training figures, similar, recall, load
    items = cfg["training_items"]
    model_100k: dict[str, Path] = {}
    for size, n_events in cfg["training"]:
        for kind in ("als", "hybrid"):
            path = workdir / f"m{size}_{kind}"
            timeout = cfg["hybrid_timeout_s"] if kind == "hybrid" else None
            res = run("train", {"n_interactions": n_events, "n_items": items, "params": kind, **common,
                                "save_to": str(path), "label": f"{size} {kind}"}, TRAINING_THREADS[kind], timeout)
            detail[f"train_{size}_{kind}"] = res
            key = f"train_{size}" + ("_als" if kind == "als" else "")
            if res and "error" not in res:
                fig[f"{key}_s"] = res["train_s"]
                fig[f"{key}_peak_mb"] = res["peak_rss_mb"]
                fig[f"{key}_artefact_mb"] = res["artefact_mb"]
                fig[f"{key}_save_s"] = res["save_s"]
                if size == cfg["served_size"]:
                    model_100k[kind] = path
            else:
                fig[f"{key}_s"] = None
            if kind == "als" and size == "1m":  # secondary: the Python-heap/numpy peak of train_model alone
                tm = run("train", {"n_interactions": n_events, "n_items": items, "params": kind, "tracemalloc": True,
                                   "label": f"{size} {kind} tracemalloc"}, TRAINING_THREADS[kind])
                detail[f"train_{size}_{kind}_tracemalloc"] = tm
                if tm and "error" not in tm:
                    fig[f"{key}_tracemalloc_peak_mb"] = tm["tracemalloc_peak_mb"]
        if size != cfg["served_size"]:
            for kind in ("als", "hybrid"):
                shutil.rmtree(workdir / f"m{size}_{kind}", ignore_errors=True)

    if "als" in model_100k:
        # The served 100k model is the production default (hybrid) when it trained, else ALS only.
        path = model_100k.get("hybrid") or model_100k["als"]
        served = run("serve", {"model": str(path), "n": cfg["n"], "calls": cfg["calls"], "warmup": cfg["warmup"],
                               "similar": True, "label": "100k"}, SERVING_THREADS)
        detail["serve_100k"] = served
        if served and "error" not in served:
            fig["similar_100k_p50_ms"] = served["similar_p50_ms"]
            fig["similar_100k_p99_ms"] = served["similar_p99_ms"]
            fig["recommend_100k_p50_ms"] = served["recommend_p50_ms"]
            fig["recommend_100k_p99_ms"] = served["recommend_p99_ms"]
        rec = run("recall", {"model": str(model_100k["als"]), "queries": cfg["recall_queries"], "label": "100k"},
                  SERVING_THREADS)
        detail["recall_100k"] = rec
        if rec and "error" not in rec:
            fig["ann_recall_at_100_recommend"] = rec["recall_recommend"]
            fig["ann_recall_at_100_similar"] = rec["recall_similar"]
        loads = [run("load", {"model": str(path), "n": cfg["n"], "label": f"100k #{i + 1}"}, SERVING_THREADS)
                 for i in range(3)]
        loads = [r for r in loads if r and "error" not in r]
        detail["load_100k"] = loads
        if loads:
            fig["load_100k_ms"] = sorted(r["load_ms"] for r in loads)[len(loads) // 2]
            fig["load_100k_first_recommend_ms"] = sorted(r["first_recommend_ms"] for r in loads)[len(loads) // 2]

    # --- recommend at 1M items: random ALS-shaped factors, annoy path
    path = workdir / "m1m_random"
    built = run("random_model", {"n_items": cfg["catalogue_1m_items"], **common, "save_to": str(path),
                                 "label": f"{cfg['catalogue_1m_items']} items"}, TRAINING_THREADS["random"])
    served = run("serve", {"model": str(path), "n": cfg["n"], "calls": cfg["calls"], "warmup": cfg["warmup"],
                           "similar": True, "label": "1m"}, SERVING_THREADS)
    detail["model_1m_random"] = {"build": built, "serve": served}
    if served and "error" not in served:
        fig["recommend_1m_p50_ms"] = served["recommend_p50_ms"]
        fig["recommend_1m_p99_ms"] = served["recommend_p99_ms"]
        fig["similar_1m_p50_ms"] = served["similar_p50_ms"]
    return {"figures": {k: _round(v) for k, v in fig.items()}, "detail": detail}


def verdict(name: str, value) -> str:
    if name not in TARGETS:
        return ""
    if value is None:
        return "MISS"
    limit, kind, _ = TARGETS[name]
    ok = value <= limit if kind == "max" else value >= limit
    return "PASS" if ok else "MISS"


def table(figures: dict) -> str:
    lines = [f"{'figure':38s} {'value':>12s}  {'target':>10s}  result", "-" * 72]
    for name, value in figures.items():
        target = ""
        if name in TARGETS:
            limit, kind, unit = TARGETS[name]
            target = f"{'<=' if kind == 'max' else '>='} {limit:g}{(' ' + unit) if unit else ''}"
        shown = "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"{name:38s} {shown:>12s}  {target:>10s}  {verdict(name, value)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--quick", action="store_true", help="a reduced run (smoke test, < 60 s)")
    parser.add_argument("--keep", type=Path, help="keep the saved models in this directory")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](json.loads(args.config))))
        return 0

    cfg = QUICK if args.quick else FULL
    started = time.perf_counter()
    load_before = os.getloadavg()
    print(f"recengine bench ({'quick' if args.quick else 'full'}): serving {SERVING_THREADS} thread, "
          f"training threads {TRAINING_THREADS}; load average {load_before[0]:.2f} on {os.cpu_count()} cores")
    if args.quick:
        print("quick: reduced catalogues and call counts (a smoke test); the figures are not the targets' sizes")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="recengine-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        result = measure(cfg, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    figures = result["figures"]
    print()
    print(table(figures))
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()
    print(f"\n{sum(verdict(k, v) == 'PASS' for k, v in figures.items())}/"
          f"{sum(k in TARGETS for k in figures)} targets met; {elapsed:.0f} s; "
          f"load average {load_before[0]:.2f} -> {load_after[0]:.2f} (1 min)")
    if args.out:
        report = {**figures,
                  "targets": {k: {"limit": v[0], "kind": v[1], "unit": v[2], "result": verdict(k, figures.get(k))}
                              for k, v in TARGETS.items()},
                  "meta": {"quick": args.quick, "serving_threads": SERVING_THREADS,
                           "training_threads": TRAINING_THREADS, "elapsed_s": round(elapsed, 1),
                           "loadavg_before": load_before, "loadavg_after": load_after, "cpus": os.cpu_count(),
                           "python": platform.python_version(), "config": cfg,
                           "notes": {
                               "recommend_10k": "ALS only (ALSParams()), trained on synthetic data, 200-event histories, n=10",
                               "recommend_10k_hybrid": "TrainParams(ALSParams(), EaseParams(), w_ease=0.7)",
                               "recommend_10k_hybrid_content": "the same hybrid trained with synthetic item "
                                                               "metadata: the default algorithm adds content scores",
                               "recommend_1m": "random ALS-shaped factors (clustered, log-normal norms), annoy path",
                               "train_<size>": "TrainParams() default: ALS + EASE on the <= 8k most popular items",
                               "train_<size>_als": "ALSParams() only",
                               "peak_mb": "peak RSS of a fresh process, including the generated events as numpy str arrays",
                               "similar_100k": "the 1M-interaction 100k-item model (hybrid if it trained), default exact_limit",
                               "ann_recall": "100k-item ALS model loaded with exact_limit=0",
                               "load_100k_ms": "median of 3 fresh processes; artefacts in the page cache"}},
                  "detail": result["detail"]}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
