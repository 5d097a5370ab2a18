"""Changing one file of a stored model version as a fault would: the loose object and its copy in
the version's pack (which a cold start fetches with one GET) alike."""

from __future__ import annotations

import io
import tarfile
from typing import Callable

from recengine.models.artefacts import PACK


def repacked(pack: bytes, name: str, change: Callable[[bytes], bytes] | None) -> bytes:
    """The pack with its member `name` changed (left out when `change` is None)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(pack)) as source, tarfile.open(fileobj=out, mode="w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == name:
                if change is None:
                    continue
                data = change(data)
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    return out.getvalue()


def replace_file(s3, bucket: str, prefix: str, name: str, body: bytes) -> None:
    """The version's `name` (under `prefix`) becomes `body`, loose and in the pack."""
    s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)
    pack = s3.get_object(Bucket=bucket, Key=prefix + PACK)["Body"].read()
    s3.put_object(Bucket=bucket, Key=prefix + PACK, Body=repacked(pack, name, lambda _: body))
