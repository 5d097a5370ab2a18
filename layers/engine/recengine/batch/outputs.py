"""Batch outputs in S3 (`tenants/<tenant>/batch/<job>/part-NNNNN.jsonl`, one JSON line per user) as
an erasure sees them: every version of every part that holds the user's lines is replaced by one
without them. The bucket is versioned, so rewriting the object is not enough: the older versions
that hold the lines are deleted by version id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

from botocore.exceptions import ClientError

from ..aws.clients import LazyClient
from ..errors import StoreError

UNVERSIONED = (None, "null")  # what S3 answers for an object written while versioning was off


def batch_prefix(tenant_id: str) -> str:
    return f"tenants/{tenant_id}/batch/"


def without_user(body: bytes, user_id: str) -> tuple[bytes, int]:
    """The JSONL body without the user's lines, and how many were dropped. A line that is not JSON
    is kept as it is (it names nobody this code can recognise)."""
    kept, dropped = [], 0
    for line in body.splitlines(keepends=True):
        try:
            row = json.loads(line)
        except ValueError:
            kept.append(line)
            continue
        if isinstance(row, dict) and row.get("user_id") == user_id:
            dropped += 1
        else:
            kept.append(line)
    return b"".join(kept), dropped


@dataclass(frozen=True)
class ScrubResult:
    objects_rewritten: int = 0
    versions_deleted: int = 0
    lines_removed: int = 0


class BatchOutputStore:
    """The tenant's batch output objects in the bucket."""

    s3 = LazyClient("s3")

    def __init__(self, bucket: str, s3: Any = None):
        self.bucket = bucket
        self._s3 = s3

    def _versions(self, prefix: str) -> Iterator[dict]:
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            yield from page.get("Versions", [])

    def erase_user(self, tenant_id: str, user_id: str) -> ScrubResult:
        """Removes the user's lines from every version of every batch output of the tenant: the
        current version is rewritten without them (an empty part stays, so a job's parts still
        number its chunks), and each version that held them is then deleted. Idempotent."""
        needle = f'"user_id": {json.dumps(user_id)}'.encode()  # as the worker writes lines (json.dumps)
        rewritten = deleted = removed = 0
        try:
            for version in list(self._versions(batch_prefix(tenant_id))):
                key, version_id = version["Key"], version.get("VersionId")
                kwargs = {} if version_id in UNVERSIONED else {"VersionId": version_id}
                body = self.s3.get_object(Bucket=self.bucket, Key=key, **kwargs)["Body"].read()
                if needle not in body:
                    continue
                kept, dropped = without_user(body, user_id)
                if not dropped:
                    continue
                removed += dropped
                if version.get("IsLatest", True):
                    self.s3.put_object(Bucket=self.bucket, Key=key, Body=kept)
                    rewritten += 1
                if version_id not in UNVERSIONED:  # unversioned: the put replaced it
                    self.s3.delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)
                    deleted += 1
        except ClientError as exc:
            raise StoreError(f"batch output erasure failed ({exc.response['Error']['Code']})") from exc
        return ScrubResult(rewritten, deleted, removed)
