"""Precomputed lists (batch generation's output) in the interactions table, one row per user and
algorithm (`<tenant>#batch#<user>`); they carry no tenant_id, so they stay out of the by_tenant index.

Beside them, one small index row per list in the tenant's `<tenant>#batchindex` partition (user,
algorithm, item count): the portal's stored recommendations page through a tenant's lists with one
query of that partition and one BatchGetItem of the lists a page needs, never a scan of the table.
The index row is written and deleted with its list, here and nowhere else."""

from __future__ import annotations

from typing import Iterable

from ..aws.dynamo import Table, batch_delete, serialize
from ..errors import ConflictError

REMOVE_ATTEMPTS = 3  # a list rewritten by a batch while one of its items is removed: read it again


def list_key(tenant_id: str, user_id: str, algorithm: str) -> dict:
    return {"pk": f"{tenant_id}#batch#{user_id}", "sk": f"algorithm#{algorithm}"}


def index_key(tenant_id: str, user_id: str, algorithm: str) -> dict:
    # Algorithms never hold "#", so the sort key names one (user, algorithm) pair; it sorts by user.
    return {"pk": f"{tenant_id}#batchindex", "sk": f"{user_id}#{algorithm}"}


def _index_row(tenant_id: str, lst: dict) -> dict:
    return {**index_key(tenant_id, lst["user_id"], lst["algorithm"]), "user_id": lst["user_id"],
            "algorithm": lst["algorithm"], "n": len(lst.get("items") or ())}


class PrecomputedListStore(Table):
    def put_lists(self, tenant_id: str, lists: list[dict]) -> None:
        """Writes precomputed lists ({user_id, algorithm, items, model_id, job_id, generated_at}),
        one row per user and algorithm, each with its index row: a rewrite replaces both, so retries
        add nothing (a chunk whose write fails part-way raises and is delivered again)."""
        rows = [{**lst, **list_key(tenant_id, lst["user_id"], lst["algorithm"])} for lst in lists]
        self.batch_put_rows(rows + [_index_row(tenant_id, lst) for lst in lists])

    def get_list(self, tenant_id: str, user_id: str, algorithm: str) -> dict | None:
        return self.get_row(list_key(tenant_id, user_id, algorithm))

    def user_lists(self, tenant_id: str, user_id: str) -> list[dict]:
        """Every list of the user (one per algorithm generated), in algorithm order: one query."""
        return list(self.query_rows(KeyConditionExpression="pk = :p", ExpressionAttributeValues=serialize(
            {":p": f"{tenant_id}#batch#{user_id}"})))

    def index(self, tenant_id: str) -> list[dict]:
        """The tenant's index rows ({user_id, algorithm, n}) in (user, algorithm) order: one query of a
        partition of about 100 bytes per list (a 1 MB page holds some 10,000 lists)."""
        return list(self.query_rows(KeyConditionExpression="pk = :p", ProjectionExpression="user_id, algorithm, n",
                                    ExpressionAttributeValues=serialize({":p": f"{tenant_id}#batchindex"})))

    def get_lists(self, tenant_id: str, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        """The lists of the given (user, algorithm) pairs that exist, by pair (BatchGetItem, 100 a call)."""
        keys = [list_key(tenant_id, u, a) for u, a in dict.fromkeys(pairs)]
        return {(r["user_id"], r["algorithm"]): r for r in self.batch_get_rows(keys)}

    def remove_item(self, tenant_id: str, user_id: str, algorithm: str, item_id: str) -> bool:
        """Takes one item out of a stored list (and so out of what recommend serves from it), its index
        row counted down, in one transaction; the list and its index row go once it is empty. False
        when the list does not hold the item. A list rewritten meanwhile is read again."""
        for _ in range(REMOVE_ATTEMPTS):
            row = self.get_row(list_key(tenant_id, user_id, algorithm), consistent=True)
            if row is None or not any(i.get("id") == item_id for i in row.get("items") or ()):
                return False
            kept = {**row, "items": [i for i in row["items"] if i.get("id") != item_id]}
            same = {"ConditionExpression": "generated_at = :g",
                    "ExpressionAttributeValues": serialize({":g": row["generated_at"]})}
            if kept["items"]:
                writes = [{"Put": {"TableName": self.name, "Item": serialize(kept), **same}},
                          {"Put": {"TableName": self.name, "Item": serialize(_index_row(tenant_id, kept))}}]
            else:
                writes = [{"Delete": {"TableName": self.name, "Key": serialize(list_key(tenant_id, user_id, algorithm)),
                                      **same}},
                          {"Delete": {"TableName": self.name, "Key": serialize(index_key(tenant_id, user_id,
                                                                                         algorithm))}}]
            if self.transact(writes) is None:
                return True
        raise ConflictError("the stored list kept changing while an item was removed; retry")

    def delete_user_lists(self, tenant_id: str, user_id: str) -> int:
        """Deletes the user's precomputed lists, every algorithm, with their index rows (a user's
        erasure); returns how many lists."""
        rows = self.query_rows(KeyConditionExpression="pk = :p", ProjectionExpression="pk, sk", ConsistentRead=True,
                               ExpressionAttributeValues=serialize({":p": f"{tenant_id}#batch#{user_id}"}))
        keys = [{"pk": r["pk"], "sk": r["sk"]} for r in rows]
        algorithms = [k["sk"].removeprefix("algorithm#") for k in keys]
        batch_delete(self.db, [(self.name, k) for k in keys] +
                     [(self.name, index_key(tenant_id, user_id, a)) for a in algorithms])
        return len(keys)
