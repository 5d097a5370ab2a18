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
from .sparse import CSR, SparseRows

FORMAT_VERSION = 4
# 2: before context (no context files; the blend without context weights). 3: dense content.npy and
# two annoy forests (dot and angular) at every size. 4: sparse content (absent without item metadata),
# and the angular forest only above EXACT_LIMIT items: nothing is stored that serving does not read.
READABLE_FORMATS = (2, 3, 4)
MANIFEST = "manifest.json"
CONTEXT_FILES = ("context_features.json", "context_indptr.npy", "context_indices.npy", "context_data.npy")
CONTENT_FILES = ("content_indptr.npy", "content_indices.npy", "content_data.npy")
DENSE_CONTENT = "content.npy"  # formats 2 and 3
ANGULAR_FILE = "items_angular.ann"
# Every file serving may read, in any readable format (format 3's items_dot.ann is never read: not fetched).
ARTEFACT_FILES = (MANIFEST, "item_ids.json", "item_factors.npy", "gram.npy", "popularity.npy", "trending.npy",
                  "content_idf.npy", "content_map.npy", "ease_indptr.npy", "ease_indices.npy", "ease_data.npy",
                  *CONTENT_FILES, DENSE_CONTENT, ANGULAR_FILE, *CONTEXT_FILES)
# Files that a readable format, or a model without metadata or under EXACT_LIMIT items, lacks: a
# download of such an artefact must not require them (a v4 manifest lists the files it has).
OPTIONAL_ARTEFACT_FILES = (*CONTEXT_FILES, *CONTENT_FILES, DENSE_CONTENT, ANGULAR_FILE)
ANNOY_FILES = (ANGULAR_FILE,)


def save_model(model: RecommenderModel, directory: Path, n_trees: int = 32,
               annoy_above: int = EXACT_LIMIT) -> list[Path]:
    """Writes the artefact of `model` into `directory`; returns every file of it (for the upload).
    The cosine forest is built only for more than `annoy_above` items (below, search is exact)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = ["item_ids.json", "item_factors.npy", "gram.npy", "popularity.npy", "trending.npy", "content_idf.npy",
               "content_map.npy", "ease_indptr.npy", "ease_indices.npy", "ease_data.npy", *CONTEXT_FILES]
    np.save(directory / "item_factors.npy", np.ascontiguousarray(model.item_factors, dtype=np.float32))
    np.save(directory / "gram.npy", model.gram.astype(np.float64))
    np.save(directory / "popularity.npy", model.popularity.astype(np.float32))
    np.save(directory / "trending.npy", model.trending.astype(np.float32))
    content = model.content if isinstance(model.content, SparseRows) else SparseRows.from_dense(model.content)
    if content.nnz:  # hashed metadata sets a few of 256 dimensions: CSR is ~1/10 of the dense bytes
        np.save(directory / "content_indptr.npy", content.indptr.astype(np.int64))
        np.save(directory / "content_indices.npy", content.indices.astype(np.uint8))
        np.save(directory / "content_data.npy", content.data.astype(np.float32))
        written.extend(CONTENT_FILES)
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
    if model.n_items > annoy_above:
        build_annoy(model.index.unit_vectors, "angular", directory / ANGULAR_FILE, n_trees)
        written.append(ANGULAR_FILE)
    manifest = {"format_version": FORMAT_VERSION, "model_id": model.model_id, "alpha": model.alpha,
                "n_items": model.n_items, "factors": int(model.item_factors.shape[1]), "meta": model.meta,
                "blend": asdict(model.blend), "files": sorted(written)}
    # The manifest goes last: its presence means the directory is complete.
    (directory / MANIFEST).write_text(json.dumps(manifest, sort_keys=True))
    return [directory / name for name in (MANIFEST, *written)]


def _load_content(directory: Path, version: int, files: set[str], n: int) -> np.ndarray | SparseRows | None:
    """The content matrix: sparse (format 4), dense and mmap'd (2, 3), None when the model has none."""
    if version >= 4:
        if not set(CONTENT_FILES) <= files:
            return None
        content = SparseRows(np.load(directory / "content_indptr.npy"), np.load(directory / "content_indices.npy"),
                             np.load(directory / "content_data.npy"), CONTENT_DIM)
        if (content.indptr.shape != (n + 1,) or content.indices.shape != content.data.shape
                or content.indptr[-1] != content.nnz):
            raise ArtefactError("content arrays disagree with the manifest")
        return content
    if not (directory / DENSE_CONTENT).exists():
        return None
    content = np.load(directory / DENSE_CONTENT, mmap_mode="r")
    if content.shape != (n, CONTENT_DIM):
        raise ArtefactError("content arrays disagree with the manifest")
    return content


def load_model(directory: Path, exact_limit: int = EXACT_LIMIT) -> RecommenderModel:
    """The model of an artefact directory; above `exact_limit` items it searches the annoy forest
    (when the artefact has one). Raises ArtefactError for a missing, corrupt or unknown-format artefact."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        version = manifest.get("format_version")
        if version not in READABLE_FORMATS:
            raise ArtefactError(f"unsupported artefact format {manifest.get('format_version')!r}")
        files = set(manifest.get("files", ()))
        if version >= 4 and not all((directory / name).exists() for name in files):
            raise ArtefactError("artefact is missing files its manifest lists")
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
        content = _load_content(directory, version, files, n)
        content_idf = np.load(directory / "content_idf.npy")
        content_map = np.load(directory / "content_map.npy")
        if trending.shape != (n,) or content_map.shape != (CONTENT_DIM, k):
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
        angular_index = None
        has_forest = ANGULAR_FILE in files if version >= 4 else (directory / ANGULAR_FILE).exists()
        if n > exact_limit and has_forest:
            angular_index = load_annoy(directory / ANGULAR_FILE, k, "angular")
            if angular_index.get_n_items() != n:
                raise ArtefactError("annoy index size disagrees with the manifest")
    except ArtefactError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtefactError(f"cannot load model artefact: {exc}") from exc
    index = VectorIndex(factors, unit, angular_index, exact_limit)
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
    if model.index is not None and model.index.angular_index is not None:
        total += (Path(directory) / ANGULAR_FILE).stat().st_size
    total += sys.getsizeof(model.item_ids) + sum(sys.getsizeof(item) for item in model.item_ids)
    total += sys.getsizeof(model.item_index) + sum(sys.getsizeof(i) for i in model.item_index.values())
    return total
