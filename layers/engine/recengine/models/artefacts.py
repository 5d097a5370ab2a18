"""Model artefacts in S3 under the tenant's prefix, mirrored to a local cache directory."""

from __future__ import annotations

import errno
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable

from botocore.exceptions import BotoCoreError, ClientError

from ..aws.clients import LazyClient
from ..errors import NotFoundError, StoreError
from .errors import DiskFullError

# Files fetched at once: a cold start waits for the slowest file, not for the sum of them.
DOWNLOAD_THREADS = 8
CHUNK = 1024 * 1024  # bytes read from a GET's body per write


def model_prefix(tenant_id: str, model_id: str) -> str:
    return f"tenants/{tenant_id}/models/{model_id}/"


class ArtefactStore:
    """Model artefacts (and batch outputs) in the bucket, under each tenant's prefix."""

    s3 = LazyClient("s3")

    def __init__(self, bucket: str, s3: Any = None):
        self.bucket = bucket
        self._s3 = s3

    def upload(self, tenant_id: str, model_id: str, files: Iterable[Path]) -> str:
        prefix = model_prefix(tenant_id, model_id)
        try:
            for path in files:  # one PUT per file (artefact files are MBs, S3's single-PUT limit is 5 GB)
                with open(path, "rb") as body:
                    self.s3.put_object(Bucket=self.bucket, Key=prefix + Path(path).name, Body=body)
        except ClientError as exc:
            raise StoreError(f"artefact upload failed ({exc.response['Error']['Code']})") from exc
        except BotoCoreError as exc:
            raise StoreError(f"artefact upload failed ({type(exc).__name__})") from exc
        return f"s3://{self.bucket}/{prefix}"

    def delete(self, tenant_id: str, model_id: str) -> int:
        """Deletes every object under the model's prefix (retention); returns how many."""
        prefix = model_prefix(tenant_id, model_id)
        deleted = 0
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                    deleted += len(keys)
        except ClientError as exc:
            raise StoreError(f"artefact delete failed ({exc.response['Error']['Code']})") from exc
        return deleted

    def location(self, tenant_id: str, model_id: str) -> str:
        return f"s3://{self.bucket}/{model_prefix(tenant_id, model_id)}"

    def read_json(self, tenant_id: str, model_id: str, name: str) -> dict:
        """One JSON file of the version (its manifest, written last, means the artefact is complete;
        a Spark run's `training.json` holds its holdout metrics); NotFoundError when there is none."""
        import json

        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=model_prefix(tenant_id, model_id) + name)["Body"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise NotFoundError(f"artefact {model_id} has no {name}") from exc
            raise StoreError(f"artefact read failed ({exc.response['Error']['Code']})") from exc
        except BotoCoreError as exc:
            raise StoreError(f"artefact read failed ({type(exc).__name__})") from exc
        with body:
            return json.loads(body.read())

    def put_object(self, key: str, body: bytes) -> str:
        """Writes one object at `key` (batch output); returns its s3:// location."""
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        except ClientError as exc:
            raise StoreError(f"object upload failed ({exc.response['Error']['Code']})") from exc
        return f"s3://{self.bucket}/{key}"

    def present(self, tenant_id: str, model_id: str, names: Iterable[str],
                optional: Iterable[str] = ()) -> dict[str, int]:
        """The named files of a version that exist, with their bytes (one listing, before any download):
        what the serving cache makes room for and then fetches. Absent optional files are left out
        here rather than detected by a failed GET, which S3 answers 403, not 404, to a role without
        ListBucket on that key. NotFoundError when a required file is missing."""
        prefix = model_prefix(tenant_id, model_id)
        sizes: dict[str, int] = {}
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                sizes.update({o["Key"][len(prefix):]: int(o["Size"]) for o in page.get("Contents", [])})
        except ClientError as exc:
            raise StoreError(f"artefact listing failed ({exc.response['Error']['Code']})") from exc
        except BotoCoreError as exc:
            raise StoreError(f"artefact listing failed ({type(exc).__name__})") from exc
        names, optional = list(names), set(optional)
        missing = [n for n in names if n not in sizes and n not in optional]
        if missing:
            raise NotFoundError(f"artefact {model_id} is incomplete")
        return {n: sizes[n] for n in names if n in sizes}

    def _fetch(self, s3: Any, key: str, path: Path) -> None:
        """One GET streamed to disk: a HEAD before it (as boto3's transfer manager sends) would add a
        round trip to every file of a cold start; the listing already gave the sizes."""
        body = s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            with open(path, "wb") as out:
                for chunk in iter(lambda: body.read(CHUNK), b""):
                    out.write(chunk)
        finally:
            body.close()

    def download(self, tenant_id: str, model_id: str, names: Iterable[str], directory: Path) -> Path:
        """Fetches the named files (those `present` found) into directory atomically (a partial
        download is never used, nor left on disk).
        NotFoundError for a missing file, DiskFullError when the disk fills up, StoreError otherwise."""
        directory = Path(directory)
        if directory.exists():
            return directory
        tmp = directory.with_name(directory.name + f".part-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        prefix = model_prefix(tenant_id, model_id)
        try:
            tmp.mkdir(parents=True)
            names = list(names)
            s3 = self.s3  # resolved once, on this thread
            with ThreadPoolExecutor(max(1, min(DOWNLOAD_THREADS, len(names)))) as pool:
                # list(): waits for every file and raises the first failure
                list(pool.map(lambda name: self._fetch(s3, prefix + name, tmp / name), names))
        except ClientError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            code = exc.response["Error"]["Code"]
            if code in ("404", "NoSuchKey"):
                raise NotFoundError(f"artefact {model_id} is incomplete") from exc
            raise StoreError(f"artefact download failed ({code})") from exc
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(f"no room on the local disk for artefact {model_id}") from exc
            raise StoreError(f"artefact download failed ({type(exc).__name__})") from exc
        except BotoCoreError as exc:  # connection errors, retries exhausted, a body cut short
            shutil.rmtree(tmp, ignore_errors=True)
            raise StoreError(f"artefact download failed ({type(exc).__name__})") from exc
        try:
            tmp.rename(directory)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another thread won the race
        return directory
