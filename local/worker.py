"""The local stand-in for Lambda's SQS event sources: a process of its own (so that a training never
slows the gateway's requests) that long-polls each queue of template.yaml and hands its messages
to the consuming function's handler as an SQS event, one message at a time per queue, as an event
source with maximum concurrency 1 would. A message the handler reports failed (partial batch
response) or that raises is left to reappear after its visibility timeout, and after the queue's
maxReceiveCount it is moved to the dead-letter queue, as in AWS.

    python -m local.worker          # started by local/stack.py with the stack's environment"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from typing import Any

import boto3

from .gateway import LambdaContext, load_handler
from .template import QueueConsumer, queue_consumers, queue_env_names


def sqs_event(messages: list[dict], queue_arn: str) -> dict:
    return {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                         "attributes": {"ApproximateReceiveCount": m.get("Attributes", {}).get(
                             "ApproximateReceiveCount", "1")},
                         "messageAttributes": {}, "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs",
                         "eventSourceARN": queue_arn, "awsRegion": os.environ.get("AWS_REGION", "us-east-1")}
                        for m in messages]}


class QueuePoller:
    """Feeds one queue's messages to one function, until `stop` is set."""

    def __init__(self, consumer: QueueConsumer, queue_url: str, stop: threading.Event, sqs: Any = None):
        self.consumer = consumer
        self.queue_url = queue_url
        self.stop = stop
        self.sqs = sqs or boto3.client("sqs")
        self.arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"]
        self.handler = load_handler(consumer)

    def poll_once(self, wait_s: int = 1) -> int:
        """Receives at most one batch and runs it; returns how many messages it handled."""
        out = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=self.consumer.batch_size,
                                       WaitTimeSeconds=wait_s, AttributeNames=["ApproximateReceiveCount"])
        messages = out.get("Messages", [])
        if not messages:
            return 0
        try:
            result = self.handler(sqs_event(messages, self.arn), LambdaContext(self.consumer.function, timeout_s=900))
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except Exception:  # noqa: BLE001 - as Lambda: the whole batch is retried
            print(f"[worker] {self.consumer.function} failed", file=sys.stderr, flush=True)
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - moto going away at shutdown, say; keep polling
                if self.stop.is_set():
                    return
                print(f"[worker] polling {self.consumer.queue} failed: {exc}", file=sys.stderr, flush=True)
                time.sleep(1)


def pollers(stop: threading.Event) -> list[QueuePoller]:
    urls = {logical_id: os.environ[var] for var, logical_id in queue_env_names().items() if os.environ.get(var)}
    return [QueuePoller(c, urls[c.queue], stop) for c in queue_consumers() if c.queue in urls]


def main() -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()
    threads = [threading.Thread(target=p.run, name=f"poll-{p.consumer.queue}-{uuid.uuid4().hex[:4]}", daemon=True)
               for p in pollers(stop)]
    for thread in threads:
        thread.start()
    while not stop.wait(1.0):
        if os.getppid() != parent:  # the stack died without stopping us
            break
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
