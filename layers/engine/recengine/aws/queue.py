"""JSON messages to one SQS queue: how work leaves a request (training jobs, batch chunks) for a
function that consumes the queue."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from .clients import LazyClient
from ..errors import StoreError


class QueueSender:
    """Sends JSON messages to one SQS queue, ten per call."""

    sqs = LazyClient("sqs")

    def __init__(self, queue_url: str, sqs: Any = None):
        self.queue_url = queue_url
        self._sqs = sqs

    def __call__(self, messages: list[dict]) -> None:
        for start in range(0, len(messages), 10):
            entries = [{"Id": str(n), "MessageBody": json.dumps(m)} for n, m in enumerate(messages[start:start + 10])]
            try:
                out = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except ClientError as exc:
                raise StoreError(f"send_message_batch failed ({exc.response['Error']['Code']})") from exc
            if out.get("Failed"):
                raise StoreError(f"send_message_batch left {len(out['Failed'])} message(s) unsent")
