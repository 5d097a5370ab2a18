"""The model artefact: a directory of plain files (npy, annoy, json), written once and loaded with mmap."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .content import DIM as CONTENT_DIM
from .context import ContextModel
from .errors import ArtefactError
from .index import EXACT_LIMIT, VectorIndex, build_annoy, load_annoy, unit_rows
from .recommender import Blend, RecommenderModel
from .sparse import CSR

FORMAT_VERSION = 3
READABLE_FORMATS = (2, 3)  # 2: before context (no context files; the blend without context weights)
MANIFEST = "manifest.json"
CONTEXT_FILES = ("context_features.json", "context_indptr.npy", "context_indices.npy", "context_data.npy")
ARTEFACT_FILES = (MANIFEST, "item_ids.json", "item_factors.npy", "gram.npy", "popularity.npy", "trending.npy",
                  "content.npy", "content_idf.npy", "content_map.npy",
                  "ease_indptr.npy", "ease_indices.npy", "ease_data.npy", "items_dot.ann", "items_angular.ann",
                  *CONTEXT_FILES)
# Files that a readable older format lacks: a download of such an artefact must not require them.
OPTIONAL_ARTEFACT_FILES = CONTEXT_FILES
ANNOY_FILES = ("items_dot.ann", "items_angular.ann")


def save_model(model: RecommenderModel, directory: Path, n_trees: int = 32) -> list[Path]:
    """Writes the artefact of `model` into `directory`; returns every file of it (for the upload)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "item_factors.npy", np.ascontiguousarray(model.item_factors, dtype=np.float32))
    np.save(directory / "gram.npy", model.gram.astype(np.float64))
    np.save(directory / "popularity.npy", model.popularity.astype(np.float32))
    np.save(directory / "trending.npy", model.trending.astype(np.float32))
    np.save(directory / "content.npy", model.content.astype(np.float32))
    np.save(directory / "content_idf.npy", model.content_idf.astype(np.float32))
    np.save(directory / "content_map.npy", model.content_map.astype(np.float32))
    np.save(directory / "ease_indptr.npy", model.ease.indptr.astype(np.int64))
    np.save(directory / "ease_indices.npy", model.ease.indices.astype(np.int32))
    np.save(directory / "ease_data.npy", model.ease.data.astype(np.float32))
    (directory / "item_ids.json").write_text(json.dumps(model.item_ids))
    context = (model.context_model or ContextModel.empty(model.n_items)).to_arrays()
    (directory / "context_features.json").write_text(json.dumps(context["features"]))
    for name in ("indptr", "indices", "data"):
        np.save(directory / f"context_{name}.npy", context[name])
    build_annoy(model.item_factors, "dot", directory / "items_dot.ann", n_trees)
    build_annoy(model.index.unit_vectors, "angular", directory / "items_angular.ann", n_trees)
    manifest = {"format_version": FORMAT_VERSION, "model_id": model.model_id, "alpha": model.alpha,
                "n_items": model.n_items, "factors": int(model.item_factors.shape[1]), "meta": model.meta,
                "blend": asdict(model.blend)}
    # The manifest goes last: its presence means the directory is complete.
    (directory / MANIFEST).write_text(json.dumps(manifest, sort_keys=True))
    return [directory / name for name in ARTEFACT_FILES]


def load_model(directory: Path, exact_limit: int = EXACT_LIMIT) -> RecommenderModel:
    """The model of an artefact directory; above `exact_limit` items it searches the annoy forests.
    Raises ArtefactError for a missing, corrupt or unknown-format artefact."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        version = manifest.get("format_version")
        if version not in READABLE_FORMATS:
            raise ArtefactError(f"unsupported artefact format {manifest.get('format_version')!r}")
        item_ids = json.loads((directory / "item_ids.json").read_text())
        factors = np.load(directory / "item_factors.npy", mmap_mode="r")
        gram = np.load(directory / "gram.npy")
        popularity = np.load(directory / "popularity.npy", mmap_mode="r")
        n, k = manifest["n_items"], manifest["factors"]
        ease = CSR(np.load(directory / "ease_indptr.npy"), np.load(directory / "ease_indices.npy", mmap_mode="r"),
                   np.load(directory / "ease_data.npy", mmap_mode="r"), (n, n))
        if factors.shape != (n, k) or len(item_ids) != n or popularity.shape != (n,) or gram.shape != (k, k):
            raise ArtefactError("artefact arrays disagree with the manifest")
        if ease.indptr.shape != (n + 1,) or ease.indices.shape != ease.data.shape or ease.indptr[-1] != ease.nnz:
            raise ArtefactError("item-item weights disagree with the manifest")
        blend = Blend(**manifest["blend"])
        trending = np.load(directory / "trending.npy", mmap_mode="r")
        content = np.load(directory / "content.npy", mmap_mode="r")
        content_idf = np.load(directory / "content_idf.npy")
        content_map = np.load(directory / "content_map.npy")
        if trending.shape != (n,) or content.shape != (n, CONTENT_DIM) or content_map.shape != (CONTENT_DIM, k):
            raise ArtefactError("content arrays disagree with the manifest")
        context_model = None
        if version >= 3:
            context_model = ContextModel.from_arrays(
                json.loads((directory / "context_features.json").read_text()),
                # Small (features x top_k), and read row by row per request: in memory, not mmap.
                np.load(directory / "context_indptr.npy"), np.load(directory / "context_indices.npy"),
                np.load(directory / "context_data.npy"), n)
            if not context_model.features:
                context_model = None
        unit = unit_rows(np.asarray(factors))
        dot_index = angular_index = None
        if n > exact_limit:
            dot_index = load_annoy(directory / "items_dot.ann", k, "dot")
            angular_index = load_annoy(directory / "items_angular.ann", k, "angular")
            if dot_index.get_n_items() != n or angular_index.get_n_items() != n:
                raise ArtefactError("annoy index size disagrees with the manifest")
    except ArtefactError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtefactError(f"cannot load model artefact: {exc}") from exc
    index = VectorIndex(factors, unit, dot_index, angular_index, exact_limit)
    return RecommenderModel(manifest["model_id"], item_ids, factors, gram, popularity, float(manifest["alpha"]),
                            manifest.get("meta", {}), index, ease, blend, trending, content, content_idf,
                            content_map, context_model)



def resident_bytes(model: RecommenderModel, directory: Path) -> int:
    """Memory a loaded model holds: every array it reaches (mmap'd ones included: their pages sit in
    the page cache, which is the function's memory), the annoy forests it mapped, and its item ids
    and their index. What the serving cache charges to its memory budget."""
    seen: set[int] = set()
    buffers: dict[tuple[int, int], int] = {}
    pending: list[object] = [model]
    while pending:
        obj = pending.pop()
        if isinstance(obj, np.ndarray):
            # Views of one buffer (trending is popularity when absent) count once.
            buffers[(obj.__array_interface__["data"][0], obj.nbytes)] = obj.nbytes
        elif id(obj) not in seen and hasattr(obj, "__dict__") and type(obj).__module__.startswith(__package__):
            seen.add(id(obj))
            pending.extend(vars(obj).values())
    total = sum(buffers.values())
    if model.index is not None and model.index.dot_index is not None:
        total += sum((Path(directory) / name).stat().st_size for name in ANNOY_FILES)
    total += sys.getsizeof(model.item_ids) + sum(sys.getsizeof(item) for item in model.item_ids)
    total += sys.getsizeof(model.item_index) + sum(sys.getsizeof(i) for i in model.item_index.values())
    return total
