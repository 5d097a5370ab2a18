"""The tenant's end users (the subjects of recommendations) as records the portal manages: one row
per user in the interactions table, all of a tenant's in one partition (`pk = <tenant>#profiles`,
`sk = <user id>`). The rows carry no `tenant_id` attribute, so the table's `by_tenant` index (the
training read) never sees them; the user's events stay where they are (`<tenant>#user#<id>`)."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from ..aws.dynamo import Table, conditional_failure, serialize, store_error
from ..errors import ConflictError, NotFoundError

END_USER_ROLES = ("user", "admin")


def profiles_pk(tenant_id: str) -> str:
    return f"{tenant_id}#profiles"


@dataclass(frozen=True)
class EndUser:
    user_id: str
    email: str
    name: str
    role: str
    is_active: bool
    created_at: float
    updated_at: float
    # Segment tags (e.g. "vip"): POST /api/recommendations/generate can name one as its userSegment.
    segments: tuple[str, ...] = ()


def _end_user(row: dict) -> EndUser:
    return EndUser(row["sk"], row.get("email", ""), row.get("name", ""), row.get("role", "user"),
                   bool(row.get("is_active", True)), float(row["created_at"]), float(row.get("updated_at") or
                                                                                       row["created_at"]),
                   tuple(row.get("segments") or ()))


class EndUserStore(Table):
    def _key(self, tenant_id: str, user_id: str) -> dict:
        return {"pk": profiles_pk(tenant_id), "sk": user_id}

    def _row(self, tenant_id: str, user: EndUser) -> dict:
        return {**self._key(tenant_id, user.user_id), "email": user.email, "name": user.name, "role": user.role,
                "is_active": user.is_active, "created_at": user.created_at, "updated_at": user.updated_at,
                **({"segments": list(user.segments)} if user.segments else {})}

    def insert(self, tenant_id: str, user: EndUser) -> None:
        """ConflictError if the tenant already has a user with this id."""
        try:
            self.db.put_item(TableName=self.name, Item=serialize(self._row(tenant_id, user)),
                             ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if conditional_failure(exc):
                raise ConflictError(f"user {user.user_id!r} already exists") from exc
            raise store_error("put_item", exc) from exc
        except BotoCoreError as exc:
            raise store_error("put_item", exc) from exc

    def replace(self, tenant_id: str, user: EndUser) -> None:
        """Overwrites an existing user; NotFoundError if there is none (never creates one)."""
        try:
            self.db.put_item(TableName=self.name, Item=serialize(self._row(tenant_id, user)),
                             ConditionExpression="attribute_exists(pk)")
        except ClientError as exc:
            if conditional_failure(exc):
                raise NotFoundError(f"user {user.user_id!r} not found") from exc
            raise store_error("put_item", exc) from exc
        except BotoCoreError as exc:
            raise store_error("put_item", exc) from exc

    def get(self, tenant_id: str, user_id: str, consistent: bool = True) -> EndUser | None:
        row = self.get_row(self._key(tenant_id, user_id), consistent=consistent)
        return _end_user(row) if row else None

    def delete(self, tenant_id: str, user_id: str) -> bool:
        """True if a row was deleted."""
        try:
            out = self.db.delete_item(TableName=self.name, Key=serialize(self._key(tenant_id, user_id)),
                                      ReturnValues="ALL_OLD")
        except (ClientError, BotoCoreError) as exc:
            raise store_error("delete_item", exc) from exc
        return "Attributes" in out

    def all(self, tenant_id: str) -> list[EndUser]:
        """Every user of the tenant in id order: one partition, bounded by the plan's user limit."""
        rows = self.query_rows(KeyConditionExpression="pk = :p", ExpressionAttributeValues=serialize(
            {":p": profiles_pk(tenant_id)}))
        return [_end_user(row) for row in rows]
