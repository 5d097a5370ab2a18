"""EMR Serverless job runs of the Spark trainer: started for one tenant's training job, read back
when EventBridge reports their end. The only code that talks to EMR Serverless."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws.clients import LazyClient
from ..errors import NotFoundError, StoreError


@dataclass(frozen=True)
class SparkRun:
    """What the completion handler needs of a job run: its state and the tags naming its job."""

    run_id: str
    state: str
    state_details: str = ""
    tags: dict[str, str] = field(default_factory=dict)


class SparkRunStore:
    """Job runs on one EMR Serverless application (SPARK_APPLICATION_ID)."""

    emr = LazyClient("emr-serverless")

    def __init__(self, application_id: str, emr: Any = None):
        self.application_id = application_id
        self._emr = emr

    def start(self, *, name: str, role_arn: str, entry_point: str, arguments: list[str], submit_parameters: str,
              tags: dict[str, str], timeout_min: int, client_token: str) -> str:
        """Starts one run (idempotent per `client_token`: a retried start never runs twice); its id."""
        try:
            out = self.emr.start_job_run(
                applicationId=self.application_id, clientToken=client_token, executionRoleArn=role_arn, name=name,
                jobDriver={"sparkSubmit": {"entryPoint": entry_point, "entryPointArguments": arguments,
                                           "sparkSubmitParameters": submit_parameters}},
                tags=tags, executionTimeoutMinutes=timeout_min)
        except ClientError as exc:
            raise StoreError(f"the Spark job run could not be started ({exc.response['Error']['Code']})") from exc
        except BotoCoreError as exc:
            raise StoreError(f"the Spark job run could not be started ({type(exc).__name__})") from exc
        return str(out["jobRunId"])

    def get(self, run_id: str) -> SparkRun:
        """The run's state and tags; NotFoundError when the application has no such run."""
        try:
            run = self.emr.get_job_run(applicationId=self.application_id, jobRunId=run_id)["jobRun"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                raise NotFoundError(f"job run {run_id!r} not found") from exc
            raise StoreError(f"the Spark job run could not be read ({exc.response['Error']['Code']})") from exc
        except BotoCoreError as exc:
            raise StoreError(f"the Spark job run could not be read ({type(exc).__name__})") from exc
        return SparkRun(run_id, str(run["state"]), str(run.get("stateDetails") or ""), dict(run.get("tags") or {}))
