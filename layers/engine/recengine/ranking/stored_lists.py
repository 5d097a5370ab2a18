"""Precomputed lists (batch generation's output) in the interactions table, one row per user and
algorithm (`<tenant>#batch#<user>`); they carry no tenant_id, so they stay out of the by_tenant index."""

from __future__ import annotations

from ..aws.dynamo import Table, batch_delete, serialize


def list_key(tenant_id: str, user_id: str, algorithm: str) -> dict:
    return {"pk": f"{tenant_id}#batch#{user_id}", "sk": f"algorithm#{algorithm}"}


class PrecomputedListStore(Table):
    def put_lists(self, tenant_id: str, lists: list[dict]) -> None:
        """Writes precomputed lists ({user_id, algorithm, items, model_id, job_id, generated_at}),
        one row per user and algorithm: a rewrite replaces the row, so retries add nothing."""
        self.batch_put_rows([{**lst, **list_key(tenant_id, lst["user_id"], lst["algorithm"])} for lst in lists])

    def get_list(self, tenant_id: str, user_id: str, algorithm: str) -> dict | None:
        return self.get_row(list_key(tenant_id, user_id, algorithm))

    def delete_user_lists(self, tenant_id: str, user_id: str) -> int:
        """Deletes the user's precomputed lists, every algorithm (a user's erasure); returns how many."""
        rows = self.query_rows(KeyConditionExpression="pk = :p", ProjectionExpression="pk, sk", ConsistentRead=True,
                               ExpressionAttributeValues=serialize({":p": f"{tenant_id}#batch#{user_id}"}))
        return batch_delete(self.db, [(self.name, {"pk": r["pk"], "sk": r["sk"]}) for r in rows])
