"""The admin's AWS calls: API Gateway keys and usage plans, and the stack's CloudFormation outputs.

Clients are built on first use; `endpoint_url` points them at the local stack's moto server."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from recengine.errors import NotFoundError, StoreError


def make_client(service: str, endpoint_url: str | None = None, region: str | None = None) -> Any:
    kwargs: dict[str, Any] = {}
    if endpoint_url:
        # The local stack's moto server takes any credentials; never borrow real ones for it.
        kwargs.update(endpoint_url=endpoint_url, aws_access_key_id="local", aws_secret_access_key="local",
                      aws_session_token="local")
    return boto3.session.Session(region_name=region).client(service, **kwargs)


def _fail(action: str, exc: ClientError) -> StoreError:
    return StoreError(f"{action} failed ({exc.response.get('Error', {}).get('Code', 'Unknown')})")


class ApiKeys:
    """API keys and their usage plan membership in API Gateway."""

    def __init__(self, apigw: Any = None, endpoint_url: str | None = None, region: str | None = None):
        self._apigw, self._endpoint_url, self._region = apigw, endpoint_url, region

    @property
    def apigw(self) -> Any:
        if self._apigw is None:
            self._apigw = make_client("apigateway", self._endpoint_url, self._region)
        return self._apigw

    def create(self, name: str, value: str, tenant_id: str, role: str) -> str:
        try:
            return self.apigw.create_api_key(name=name, value=value, enabled=True,
                                             tags={"tenant_id": tenant_id, "role": role})["id"]
        except ClientError as exc:
            raise _fail("create_api_key", exc) from exc

    def attach(self, key_id: str, usage_plan_id: str) -> None:
        try:
            self.apigw.create_usage_plan_key(usagePlanId=usage_plan_id, keyId=key_id, keyType="API_KEY")
        except ClientError as exc:
            raise _fail("create_usage_plan_key", exc) from exc

    def detach(self, key_id: str, usage_plan_id: str) -> bool:
        """Takes the key off the usage plan; False if it was not on it."""
        try:
            self.apigw.delete_usage_plan_key(usagePlanId=usage_plan_id, keyId=key_id)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                return False
            raise _fail("delete_usage_plan_key", exc) from exc

    def is_on_plan(self, key_id: str, usage_plan_id: str) -> bool:
        try:
            self.apigw.get_usage_plan_key(usagePlanId=usage_plan_id, keyId=key_id)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                return False
            raise _fail("get_usage_plan_key", exc) from exc

    def disable(self, key_id: str) -> None:
        """Disables the key: API Gateway refuses it from then on. It is kept (not deleted) for audit."""
        try:
            self.apigw.update_api_key(apiKey=key_id, patchOperations=[
                {"op": "replace", "path": "/enabled", "value": "false"}])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                raise NotFoundError(f"API key {key_id!r} not found") from exc
            raise _fail("update_api_key", exc) from exc

    def value(self, key_id: str) -> str:
        """The key's value, as API Gateway keeps it (to record its digest; never stored or printed)."""
        try:
            return self.apigw.get_api_key(apiKey=key_id, includeValue=True)["value"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                raise NotFoundError(f"API key {key_id!r} not found") from exc
            raise _fail("get_api_key", exc) from exc

    def enabled(self, key_id: str) -> bool:
        try:
            return bool(self.apigw.get_api_key(apiKey=key_id).get("enabled"))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                return False
            raise _fail("get_api_key", exc) from exc


def stack_outputs(stack_name: str, cloudformation: Any = None, region: str | None = None) -> dict[str, str]:
    """OutputKey -> OutputValue of a deployed stack."""
    cfn = cloudformation or make_client("cloudformation", region=region)
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":
            raise NotFoundError(f"stack {stack_name!r} not found") from exc
        raise _fail("describe_stacks", exc) from exc
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
