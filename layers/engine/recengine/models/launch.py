"""Starting on-demand training in the train function: an asynchronous Lambda invoke."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ..aws.clients import LazyClient
from ..errors import StoreError


class AsyncInvoker:
    """Invokes one function with InvocationType=Event: Lambda queues the payload and returns 202."""

    lambda_client = LazyClient("lambda")

    def __init__(self, function_name: str, lambda_client: Any = None):
        self.function_name = function_name
        self._lambda_client = lambda_client

    def __call__(self, tenant_id: str, job_id: str) -> None:
        try:
            self.lambda_client.invoke(FunctionName=self.function_name, InvocationType="Event",
                                      Payload=json.dumps({"tenant_id": tenant_id, "job_id": job_id}).encode())
        except ClientError as exc:
            raise StoreError(f"invoke failed ({exc.response['Error']['Code']})") from exc
