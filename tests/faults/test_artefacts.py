"""Missing and corrupt model artefacts. Given a shop whose live model's files in S3 were deleted,
truncated, overwritten with garbage, or whose manifest names a file that is not there (in the
version's pack, which a cold start fetches, and beside it), or whose pack itself is garbage or cut
short, when a cold execution environment serves recommend or similar, then it answers 200 with the
tenant's popular items and the warning `model_unavailable` (never a 500), keeps no corrupt copy on
disk, and serves the model again once the artefact is whole. A version without a pack (older, or
trained on Spark) is fetched file by file, and its broken files are caught the same way."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from recengine.models.artefacts import PACK, model_prefix
from recengine.runtime import reset_runtime, runtime
from tests.faults.matrix import OBSERVED, Call, describe
from tests.faults.routes import ROUTES
from tests.tampering import repacked


def _truncated(body: bytes) -> bytes:
    return body[: len(body) // 3]


def _garbage(body: bytes) -> bytes:
    return b"\x00garbage\xff" * 64


def _wrong_shape(body: bytes) -> bytes:
    manifest = json.loads(body)
    return json.dumps({**manifest, "n_items": manifest["n_items"] + 7}).encode()


# name -> (file, new bytes from the old; None: the object is deleted)
TAMPERING = {
    "deleted item_factors.npy": ("item_factors.npy", None),
    "truncated item_factors.npy": ("item_factors.npy", _truncated),
    "garbage manifest.json": ("manifest.json", _garbage),
    "garbage ease_indptr.npy": ("ease_indptr.npy", _garbage),
    "manifest disagrees with the arrays": ("manifest.json", _wrong_shape),
    # format 3 reads the context files, which the listing treats as optional (format 2 lacks them)
    "manifest names a missing file": ("context_features.json", None),
    # the pack a cold start fetches with one GET
    "garbage pack": (PACK, _garbage),
    "truncated pack": (PACK, _truncated),
}


@contextmanager
def tampered(shop, name: str, change, pack: str = "changed"):
    """The live version's `name` replaced (or deleted) in S3, restored afterwards; the pack's copy is
    changed alike (`pack="changed"`), or the pack is deleted (`"deleted"`: a version without one)."""
    s3, bucket = boto3.client("s3"), shop.env["MODEL_BUCKET"]
    prefix = model_prefix(shop.caller.tenant_id, runtime().registry.live_model_id(shop.caller.tenant_id))
    originals = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in (prefix + name, prefix + PACK)}
    changed = {prefix + name: None if change is None else change(originals[prefix + name]),
               prefix + PACK: None if pack == "deleted" else (
                   change(originals[prefix + PACK]) if name == PACK else repacked(originals[prefix + PACK], name, change))}
    for key, body in changed.items():
        if body is None:
            s3.delete_object(Bucket=bucket, Key=key)
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
    try:
        yield
    finally:
        for key, body in originals.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)


def model_dirs(cache: Path) -> list[Path]:
    return [p for p in cache.glob("*/model_*") if p.is_dir()]


CASES = [("recommend", t) for t in TAMPERING] + [("similar", "deleted item_factors.npy"),
                                                 ("similar", "garbage manifest.json"), ("similar", "garbage pack")]
# a version without a pack: its loose files are what a cold start reads
UNPACKED = [t for t, (name, _) in TAMPERING.items() if name != PACK]


@pytest.mark.parametrize(("route", "tampering"), CASES)
def test_a_broken_artefact_falls_back_to_popular_items(shop, route, tampering):
    _falls_back(shop, route, tampering, "changed")


@pytest.mark.parametrize("tampering", UNPACKED)
def test_a_broken_artefact_without_a_pack_falls_back_to_popular_items(shop, tampering):
    _falls_back(shop, "recommend", tampering, "deleted")


def _falls_back(shop, route: str, tampering: str, pack: str) -> None:
    name, change = TAMPERING[tampering]
    method, path, kwargs = ROUTES[route](shop)
    with tampered(shop, name, change, pack):
        status, headers, body = shop.send(method, path, **kwargs)
        left = model_dirs(Path(runtime().settings.model_cache_dir))
    if pack == "changed":
        OBSERVED[(route, Call("s3", "artefact", tampering), "artefact")] = describe(status, headers, body)
    assert status == 200, body
    assert body["items"], "popular items, not an empty list"
    assert "model_unavailable" in [w["code"] for w in body["warnings"]]
    assert left == [], "no corrupt copy stays on disk"


def test_the_model_serves_again_once_its_artefact_is_whole(shop, monkeypatch):
    monkeypatch.setenv("MODEL_REFRESH_S", "0.001")  # the registry is asked again at once, not after a minute
    reset_runtime()
    method, path, kwargs = ROUTES["recommend"](shop)
    with tampered(shop, "item_factors.npy", _truncated):
        assert "model_unavailable" in [w["code"] for w in shop.send(method, path, **kwargs)[2]["warnings"]]
    status, _, body = shop.send(method, path, **ROUTES["recommend"](shop)[2])
    assert status == 200 and body["meta"]["model_id"] is not None
    assert "model_unavailable" not in [w["code"] for w in body["warnings"]]
