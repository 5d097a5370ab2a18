"""The bounded model cache: given tenants with several versions and a small memory and /tmp budget,
when requests come through the recommend handler, then the budgets always hold, superseded
versions leave the disk, and a version that cannot be loaded (disk full, failed download, too large)
leaves the previous model, or popularity, answering with the warning `model_unavailable`."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from recengine.aws.clients import client
from recengine.models import serving
from recengine.models.training import TrainingPolicy
from recengine.runtime import runtime
from tests.integration.conftest import seed_tenant, train

GO_LIVE = TrainingPolicy(tolerance=0.99)  # every new version goes live: the tests are about serving them


@pytest.fixture
def metrics(monkeypatch):
    """The cache's metrics, as (name, dimensions)."""
    seen: list[tuple[str, dict]] = []
    monkeypatch.setattr(serving, "count", lambda name, value=1, unit=None, **dims: seen.append((name, dims)))
    return seen


def shop(aws, api, name: str, seed: int):
    caller = aws.tenant(name)
    data = seed_tenant(api, caller, users=15, items=20, events=6, seed=seed)
    return caller, sorted(data.user_tastes)[0]


def ask(call, caller, user, **extra):
    status, _, body = call("POST", "/v1/recommend", caller=caller, body={"user_id": user, "limit": 5, **extra})
    assert status == 200, body
    return body


def codes(body) -> set[str]:
    return {w["code"] for w in body["warnings"]}


def bytes_on_disk(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def version_dir(caller, model_id) -> Path:
    return runtime().models.cache_dir / caller.tenant_id / model_id


def one_model_size(call, caller, user) -> tuple[int, int]:
    """(memory, disk) bytes the cache charges for the tenant's live model."""
    models = runtime().models
    ask(call, caller, user)
    return models.memory_used, models.disk_used


class FailingDownloads:
    """The S3 client, except that downloads fail with `error` (after writing part of the file, as a
    full disk does) while `failing` is set."""

    def __init__(self, error: Exception):
        self.real, self.error, self.failing = client("s3"), error, True

    def __getattr__(self, name):
        return getattr(self.real, name)

    def get_object(self, **kwargs):
        answer = self.real.get_object(**kwargs)
        if not self.failing:
            return answer
        error, sent = self.error, [False]

        class CutShort:  # a body that fails after its first KB has been written
            def read(self, n=-1):
                if sent[0]:
                    raise error
                sent[0] = True
                return answer["Body"].read(1024)

            def close(self):
                answer["Body"].close()

        return {**answer, "Body": CutShort()}


# ------------------------------------------------------------------ the budgets hold
def test_a_small_budget_over_five_tenants_and_three_versions_is_never_exceeded(aws, api, call, monkeypatch):
    shops = [shop(aws, api, f"shop{n}", seed=n) for n in range(5)]
    for caller, _ in shops:
        train(caller, policy=GO_LIVE)
    models = runtime().models
    memory, disk = one_model_size(call, *shops[0])
    # Room for two and a half models: every load has to evict.
    monkeypatch.setattr(models, "memory_budget", int(memory * 2.5))
    monkeypatch.setattr(models, "disk_budget", int(disk * 2.5))
    monkeypatch.setattr(models, "refresh_s", 0.0)
    for version in range(3):
        if version:
            for caller, _ in shops:
                train(caller, policy=GO_LIVE)
        for _ in range(2):
            for caller, user in shops:
                body = ask(call, caller, user)
                assert body["meta"]["model_id"] == runtime().registry.live_model_id(caller.tenant_id)
                assert "model_unavailable" not in codes(body)
                assert models.memory_used <= models.memory_budget
                assert models.disk_used <= models.disk_budget
                assert bytes_on_disk(models.cache_dir) <= models.disk_budget
                assert len(models.loaded()) <= 2
    held = {(t, m) for t, m in models.loaded()}
    assert {p.relative_to(models.cache_dir).parts for p in models.cache_dir.glob("*/*")} == held


def test_an_artefact_larger_than_the_whole_budget_is_refused_and_popularity_answers(aws, api, call, monkeypatch,
                                                                                     metrics):
    caller, user = shop(aws, api, "shop", seed=1)
    record = train(caller, policy=GO_LIVE)
    models = runtime().models
    monkeypatch.setattr(models, "disk_budget", 1024)
    body = ask(call, caller, user)
    assert body["meta"]["model_id"] is None and len(body["items"]) == 5
    assert "model_unavailable" in codes(body) and "no_model" not in codes(body)
    assert ("ModelUnavailable", {"reason": "over_budget"}) in metrics
    assert models.loaded() == [] and models.disk_used == 0 and not version_dir(caller, record["model_id"]).exists()


def test_pinned_versions_share_the_budget(aws, api, call, monkeypatch):
    (a, user_a), (b, user_b) = shop(aws, api, "shop-a", seed=1), shop(aws, api, "shop-b", seed=2)
    a1, a2 = train(a, policy=GO_LIVE)["model_id"], train(a, policy=GO_LIVE)["model_id"]
    b1 = train(b, policy=GO_LIVE)["model_id"]
    models = runtime().models
    memory, disk = one_model_size(call, a, user_a)
    monkeypatch.setattr(models, "memory_budget", int(memory * 2.5))
    monkeypatch.setattr(models, "disk_budget", int(disk * 2.5))
    ask(call, b, user_b)
    assert models.loaded() == [(a.tenant_id, a2), (b.tenant_id, b1)]
    pinned = ask(call, a, user_a, model_id=a1)
    assert pinned["meta"]["model_id"] == a1 and "pinned_model_unavailable" not in codes(pinned)
    assert models.loaded() == [(b.tenant_id, b1), (a.tenant_id, a1)]  # the pin evicted the least recently used
    assert not version_dir(a, a2).exists()
    assert ask(call, a, user_a)["meta"]["model_id"] == a2  # reloaded, evicting b's live version in turn
    assert models.loaded() == [(a.tenant_id, a1), (a.tenant_id, a2)]
    assert models.memory_used <= models.memory_budget and bytes_on_disk(models.cache_dir) <= models.disk_budget


def test_a_request_holding_an_evicted_model_keeps_working(aws, api, call, monkeypatch):
    (a, user_a), (b, user_b) = shop(aws, api, "shop-a", seed=1), shop(aws, api, "shop-b", seed=2)
    train(a, policy=GO_LIVE)
    train(b, policy=GO_LIVE)
    models = runtime().models
    held = models.get(a.tenant_id)  # a request in flight holds its model object
    before = held.recommend(["item-00001"], [1.0], 5).items
    monkeypatch.setattr(models, "memory_budget", int(models.memory_used * 1.5))
    ask(call, b, user_b)
    assert models.loaded() == [(b.tenant_id, models.get(b.tenant_id).model_id)]
    assert not version_dir(a, held.model_id).exists()  # its files are deleted, its mappings still readable
    assert held.recommend(["item-00001"], [1.0], 5).items == before
    assert held.similar("item-00001", 5)


def test_versions_left_on_disk_by_an_earlier_process_are_removed(aws):
    # A timeout or a crash restarts the process but keeps /tmp: what it held is not accounted for.
    leftover = Path(os.environ["MODEL_CACHE_DIR"]) / "shop-0123" / "model_hybrid-v1_old"
    leftover.mkdir(parents=True)
    (leftover / "item_factors.npy").write_bytes(b"\0" * 4096)
    models = runtime().models
    assert not leftover.exists() and models.disk_used == 0


# ------------------------------------------------------------------ superseded versions
def test_a_superseded_version_is_deleted_when_the_new_one_goes_live(aws, api, call, monkeypatch):
    caller, user = shop(aws, api, "shop", seed=1)
    first = train(caller, policy=GO_LIVE)["model_id"]
    assert ask(call, caller, user)["meta"]["model_id"] == first
    assert version_dir(caller, first).is_dir()
    second = train(caller, policy=GO_LIVE)["model_id"]
    monkeypatch.setattr(runtime().models, "refresh_s", 0.0)
    assert ask(call, caller, user)["meta"]["model_id"] == second
    assert version_dir(caller, second).is_dir() and not version_dir(caller, first).exists()
    assert runtime().models.loaded() == [(caller.tenant_id, second)]


# ------------------------------------------------------------------ failed loads
def test_disk_full_during_a_download_keeps_the_previous_model_serving_with_a_warning(aws, api, call, monkeypatch,
                                                                                       metrics):
    caller, user = shop(aws, api, "shop", seed=1)
    first = train(caller, policy=GO_LIVE)["model_id"]
    before = ask(call, caller, user)
    second = train(caller, policy=GO_LIVE)["model_id"]
    models = runtime().models
    monkeypatch.setattr(models, "refresh_s", 0.0)
    s3 = FailingDownloads(OSError(errno.ENOSPC, "No space left on device"))
    monkeypatch.setattr(models.artefacts, "_s3", s3)
    during = ask(call, caller, user)
    assert during["meta"]["model_id"] == first and during["items"] == before["items"]
    assert "model_unavailable" in codes(during) and "model_unavailable" not in codes(before)
    assert ("ModelUnavailable", {"reason": "disk_full"}) in metrics
    assert sorted(p.name for p in (models.cache_dir / caller.tenant_id).iterdir()) == [first]  # no partial copy
    s3.failing = False  # room again: the next check loads the new version
    after = ask(call, caller, user)
    assert after["meta"]["model_id"] == second and "model_unavailable" not in codes(after)


def test_a_first_load_that_fails_serves_popularity_with_a_warning(aws, api, call, monkeypatch, metrics):
    caller, user = shop(aws, api, "shop", seed=1)
    record = train(caller, policy=GO_LIVE)
    models = runtime().models
    s3 = FailingDownloads(EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"))
    monkeypatch.setattr(models.artefacts, "_s3", s3)
    body = ask(call, caller, user)
    assert body["meta"]["model_id"] is None and len(body["items"]) == 5
    assert all(i["reason"].startswith("popular") for i in body["items"])
    assert "model_unavailable" in codes(body) and "no_model" not in codes(body)
    assert ("ModelUnavailable", {"reason": "download_failed"}) in metrics
    status, _, similar = call("POST", "/v1/similar", caller=caller, body={"item_id": "item-00001"})
    assert status == 200 and "model_unavailable" in codes(similar)
    s3.failing = False
    monkeypatch.setattr(models, "refresh_s", 0.0)
    assert ask(call, caller, user)["meta"]["model_id"] == record["model_id"]


class NoListBucket:
    """The S3 client as a role without s3:ListBucket on the key sees it: a missing object is a 403
    AccessDenied, not a 404 (S3 does not tell such a caller whether the key exists)."""

    def __init__(self):
        self.real = client("s3")

    def __getattr__(self, name):
        return getattr(self.real, name)

    def get_object(self, **kwargs):
        from botocore.exceptions import ClientError
        try:
            return self.real.get_object(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey"):
                raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject") from exc
            raise


def test_a_version_without_its_optional_files_loads_without_asking_s3_for_them(aws, api, call, monkeypatch, metrics):
    """Artefacts written before the context files existed: the listing says which files to fetch,
    so their absence is never learnt from a failed GET, which S3 answers with 403 to the batch
    worker's role (ListBucket granted for a prefix only)."""
    from recengine.engine.artefact import MANIFEST, OPTIONAL_ARTEFACT_FILES
    from recengine.models.artefacts import PACK, model_prefix

    caller, user = shop(aws, api, "shop", seed=1)
    record = train(caller, policy=GO_LIVE)
    models = runtime().models
    s3 = client("s3")
    prefix = model_prefix(caller.tenant_id, record["model_id"])
    bucket = models.artefacts.bucket
    for name in (*OPTIONAL_ARTEFACT_FILES, PACK):  # versions of that age had no pack either
        s3.delete_object(Bucket=bucket, Key=prefix + name)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix + MANIFEST)["Body"].read())
    s3.put_object(Bucket=bucket, Key=prefix + MANIFEST, Body=json.dumps({**manifest, "format_version": 2}))
    monkeypatch.setattr(models.artefacts, "_s3", NoListBucket())
    body = ask(call, caller, user)
    assert not [m for m in metrics if m[0] == "ModelUnavailable"], metrics
    assert body["meta"]["model_id"] == record["model_id"] and "model_unavailable" not in codes(body)
    assert not [m for m in metrics if m[0] == "ModelUnavailable"]


class CountingS3:
    """The S3 client, recording which operations the serving cache calls."""

    def __init__(self):
        self.real, self.calls = client("s3"), []

    def __getattr__(self, name):
        attr = getattr(self.real, name)
        if callable(attr) and name in ("get_object", "list_objects_v2", "get_paginator", "head_object"):
            self.calls.append(name)
        return attr


def test_a_cold_load_fetches_the_version_with_one_get_of_its_pack(aws, api, call, monkeypatch):
    """One S3 round trip from a cold cache to the model, and the files it unpacks are the loose ones."""
    from recengine.models.artefacts import PACK, model_prefix

    caller, user = shop(aws, api, "shop", seed=1)
    record = train(caller, policy=GO_LIVE)
    models = runtime().models
    counting = CountingS3()
    monkeypatch.setattr(models.artefacts, "_s3", counting)
    body = ask(call, caller, user)
    assert body["meta"]["model_id"] == record["model_id"] and "model_unavailable" not in codes(body)
    assert counting.calls == ["get_object"]
    prefix = model_prefix(caller.tenant_id, record["model_id"])
    s3 = client("s3")
    for path in version_dir(caller, record["model_id"]).iterdir():
        assert path.read_bytes() == s3.get_object(Bucket=models.artefacts.bucket, Key=prefix + path.name)["Body"].read()
    assert not version_dir(caller, record["model_id"]).joinpath(PACK).exists()


def test_a_pack_larger_than_it_says_is_refused_and_leaves_nothing_on_disk(aws, api, call, monkeypatch, metrics):
    """The cache reserves the size the pack's metadata gives; a pack that holds more is corrupt, so
    the disk budget holds whatever is in the bucket."""
    from recengine.models.artefacts import PACK, UNPACKED_BYTES, model_prefix

    caller, user = shop(aws, api, "shop", seed=1)
    record = train(caller, policy=GO_LIVE)
    s3, bucket = client("s3"), runtime().models.artefacts.bucket
    key = model_prefix(caller.tenant_id, record["model_id"]) + PACK
    pack = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=pack, Metadata={UNPACKED_BYTES: "1000"})
    body = ask(call, caller, user)
    assert "model_unavailable" in codes(body)
    assert ("ModelUnavailable", {"reason": "corrupt"}) in metrics
    assert not version_dir(caller, record["model_id"]).exists()
    assert not list(version_dir(caller, record["model_id"]).parent.glob("*.part-*"))
    assert runtime().models.disk_used == 0
