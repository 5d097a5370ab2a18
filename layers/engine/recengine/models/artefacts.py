"""Model artefacts in S3 under the tenant's prefix, mirrored to a local cache directory."""

from __future__ import annotations

import errno
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from botocore.exceptions import BotoCoreError, ClientError

from ..aws.clients import LazyClient
from ..engine.artefact import MANIFEST
from ..engine.errors import ArtefactError
from ..errors import NotFoundError, StoreError
from .errors import DiskFullError

# Files fetched at once: a cold start waits for the slowest file, not for the sum of them.
DOWNLOAD_THREADS = 8
CHUNK = 1024 * 1024  # bytes read from a GET's body per write
# Every file of a version again, in one uncompressed tar (the arrays do not compress): a cold start
# fetches it with ONE GET, where a listing and ~20 GETs (in waves of DOWNLOAD_THREADS) cost three or
# four sequential S3 round trips. The files stay beside it for the versions' other readers (the
# manifest and metrics reads, the fault drills, older serving code); versions without a pack (older,
# or written by the Spark job) are fetched file by file.
PACK = "artefact.tar"
UNPACKED_BYTES = "unpacked-bytes"  # the pack's S3 metadata: the bytes of the files in it


def model_prefix(tenant_id: str, model_id: str) -> str:
    return f"tenants/{tenant_id}/models/{model_id}/"


def put_version(s3: Any, bucket: str, prefix: str, files: Iterable[Path]) -> list[str]:
    """Uploads a version's files under `prefix` with the pack of them all (ADR 0010), the manifest
    last when it comes last in `files`; returns the keys' names in upload order. Shared by the
    Lambda trainer and the Spark job, so that both write what the serving cache fetches."""
    import tarfile  # training only: not on the handler's import
    import tempfile

    files = [Path(path) for path in files]
    last = files[-1:] if files and files[-1].name == MANIFEST else []
    with tempfile.TemporaryDirectory(prefix="pack-") as tmp:
        packed = Path(tmp) / PACK
        with tarfile.open(packed, "w", format=tarfile.USTAR_FORMAT) as tar:
            for path in files:
                tar.add(path, arcname=path.name, recursive=False)
        # what the unpacked files take on disk: the serving cache reserves that, not the tar's size
        unpacked = {UNPACKED_BYTES: str(sum(path.stat().st_size for path in files))}
        order = [*files[:len(files) - len(last)], packed, *last]
        for path in order:
            with open(path, "rb") as body:  # one PUT per file (MBs; S3's single-PUT limit is 5 GB)
                s3.put_object(Bucket=bucket, Key=prefix + path.name, Body=body,
                              **({"Metadata": unpacked} if path is packed else {}))
    return [path.name for path in order]


class ArtefactStore:
    """Model artefacts (and batch outputs) in the bucket, under each tenant's prefix."""

    s3 = LazyClient("s3")

    def __init__(self, bucket: str, s3: Any = None):
        self.bucket = bucket
        self._s3 = s3

    def upload(self, tenant_id: str, model_id: str, files: Iterable[Path]) -> str:
        """Every file, then the pack of them all, then the manifest when it comes last in `files`
        (its presence means the version is complete)."""
        prefix = model_prefix(tenant_id, model_id)
        try:
            put_version(self.s3, self.bucket, prefix, files)
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

    def download_pack(self, tenant_id: str, model_id: str, directory: Path, names: Iterable[str],
                      reserve: Callable[[int], None]) -> bool:
        """Fetches the version's pack with one GET and unpacks the named files into directory
        atomically; `reserve(bytes)` is called with its size before the body is read (the serving
        cache makes room, or refuses by raising). False when the version has no pack.
        ArtefactError for a pack that is not a tar of plain files, or larger than it says; the errors
        of `download` otherwise."""
        import tarfile  # the cold path only: not on the handler's import

        directory = Path(directory)
        allowed = set(names)
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=model_prefix(tenant_id, model_id) + PACK)
        except ClientError as exc:
            # A role without s3:ListBucket on the key is told 403, not 404, for a missing pack: the
            # listing that follows then says whether the version is there at all.
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "403", "AccessDenied"):
                return False
            raise StoreError(f"artefact download failed ({exc.response['Error']['Code']})") from exc
        except BotoCoreError as exc:
            raise StoreError(f"artefact download failed ({type(exc).__name__})") from exc
        body = answer["Body"]
        try:
            size = int(answer.get("Metadata", {}).get(UNPACKED_BYTES) or answer.get("ContentLength", 0))
            reserve(size)
            if directory.exists():
                return True
            with _staged(directory, model_id) as tmp:
                try:
                    _unpack(tarfile.open(fileobj=body, mode="r|"), tmp, allowed, size, model_id)
                except (tarfile.TarError, EOFError) as exc:
                    raise ArtefactError(f"artefact pack of {model_id} is unreadable ({type(exc).__name__})") from exc
        finally:
            body.close()
        return True

    def download(self, tenant_id: str, model_id: str, names: Iterable[str], directory: Path) -> Path:
        """Fetches the named files (those `present` found) into directory atomically (a partial
        download is never used, nor left on disk).
        NotFoundError for a missing file, DiskFullError when the disk fills up, StoreError otherwise."""
        directory = Path(directory)
        if directory.exists():
            return directory
        prefix = model_prefix(tenant_id, model_id)
        with _staged(directory, model_id) as tmp:
            names = list(names)
            s3 = self.s3  # resolved once, on this thread
            with ThreadPoolExecutor(max(1, min(DOWNLOAD_THREADS, len(names)))) as pool:
                # list(): waits for every file and raises the first failure
                list(pool.map(lambda name: self._fetch(s3, prefix + name, tmp / name), names))
        return directory


@contextmanager
def _staged(directory: Path, model_id: str) -> Iterator[Path]:
    """A temporary sibling of `directory` that becomes it when the block succeeds (a partial download
    is never used, nor left on disk); a failure removes it and takes the store's meaning:
    NotFoundError for a missing file, DiskFullError when the disk fills up, StoreError otherwise."""
    tmp = directory.with_name(directory.name + f".part-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        yield tmp
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, ClientError):
            code = exc.response["Error"]["Code"]
            if code in ("404", "NoSuchKey"):
                raise NotFoundError(f"artefact {model_id} is incomplete") from exc
            raise StoreError(f"artefact download failed ({code})") from exc
        if isinstance(exc, OSError):
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(f"no room on the local disk for artefact {model_id}") from exc
            raise StoreError(f"artefact download failed ({type(exc).__name__})") from exc
        if isinstance(exc, BotoCoreError):  # connection errors, retries exhausted, a body cut short
            raise StoreError(f"artefact download failed ({type(exc).__name__})") from exc
        raise
    try:
        tmp.rename(directory)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another thread won the race


def _unpack(tar: Any, into: Path, allowed: set[str], size: int, model_id: str) -> None:
    """The named plain files of a streamed tar, written into `into`, never more than `size` bytes."""
    written = 0
    with tar:
        for member in tar:
            if not member.isfile():
                raise ArtefactError(f"artefact pack of {model_id} holds a non-file {member.name!r}")
            if member.name not in allowed:  # what serving never reads (a Spark run's training.json)
                continue
            written += member.size
            if written > size:  # never past what the cache reserved for it
                raise ArtefactError(f"artefact pack of {model_id} is larger than it says")
            source = tar.extractfile(member)
            with open(into / member.name, "wb") as out:
                for chunk in iter(lambda: source.read(CHUNK), b""):
                    out.write(chunk)
