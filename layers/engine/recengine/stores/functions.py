"""Handing work to other functions: an asynchronous Lambda invoke (on-demand training) and an SQS
queue (batch generation chunks)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ..errors import StoreError
from .aws import client


class AsyncInvoker:
    """Invokes one function with InvocationType=Event: Lambda queues the payload and returns 202."""

    def __init__(self, function_name: str, lambda_client: Any = None):
        if not function_name:
            raise RuntimeError("TRAIN_FUNCTION_NAME is not set: no function to start training with")
        self.function_name = function_name
        self._client = lambda_client

    @property
    def lambda_client(self) -> Any:
        if self._client is None:
            self._client = client("lambda")
        return self._client

    def __call__(self, tenant_id: str, job_id: str) -> None:
        try:
            self.lambda_client.invoke(FunctionName=self.function_name, InvocationType="Event",
                                      Payload=json.dumps({"tenant_id": tenant_id, "job_id": job_id}).encode())
        except ClientError as exc:
            raise StoreError(f"invoke failed ({exc.response['Error']['Code']})") from exc


class QueueSender:
    """Sends JSON messages to one SQS queue, ten per call (batch generation's chunk fan-out)."""

    def __init__(self, queue_url: str, sqs: Any = None):
        if not queue_url:
            raise RuntimeError("BATCH_QUEUE_URL is not set: no queue to fan batch chunks out to")
        self.queue_url = queue_url
        self._sqs = sqs

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            self._sqs = client("sqs")
        return self._sqs

    def __call__(self, messages: list[dict]) -> None:
        for start in range(0, len(messages), 10):
            entries = [{"Id": str(n), "MessageBody": json.dumps(m)} for n, m in enumerate(messages[start:start + 10])]
            try:
                out = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except ClientError as exc:
                raise StoreError(f"send_message_batch failed ({exc.response['Error']['Code']})") from exc
            if out.get("Failed"):
                raise StoreError(f"send_message_batch left {len(out['Failed'])} message(s) unsent")
