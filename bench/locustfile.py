"""The traffic `make load` sends (bench/load.py runs it with locust, headless): a storefront's mix of
recommend shapes, similar items, catalogue reads and interactions, each with the least key role its
route needs. Keys, base URL and the demo's sizes come from the environment bench/load.py sets."""

from __future__ import annotations

import os
import random
import time
import uuid

from locust import FastHttpUser, between, task

READ_KEY = os.environ["LOAD_READ_KEY"]
WRITE_KEY = os.environ["LOAD_WRITE_KEY"]
USERS = int(os.environ.get("LOAD_DEMO_USERS", "80"))
ITEMS = int(os.environ.get("LOAD_DEMO_ITEMS", "120"))
PAUSE = float(os.environ.get("LOAD_PAUSE_S", "0"))


def user_id() -> str:
    return f"user-{random.randrange(USERS):04d}"


def item_id() -> str:
    return f"item-{random.randrange(ITEMS):05d}"


class Storefront(FastHttpUser):
    wait_time = between(0, PAUSE) if PAUSE else (lambda self: 0)

    def _post(self, name: str, path: str, key: str, body: dict) -> None:
        with self.client.post(path, json=body, headers={"x-api-key": key}, name=name, catch_response=True) as r:
            self._judge(r)

    def _get(self, name: str, path: str, key: str | None = None) -> None:
        headers = {"x-api-key": key} if key else {}
        with self.client.get(path, headers=headers, name=name, catch_response=True) as r:
            self._judge(r)

    @staticmethod
    def _judge(response) -> None:
        """2xx is a success; 429 is the plan's throttle doing its job (reported apart, as `429`);
        anything else is an error."""
        if response.status_code == 429:
            response.failure("429")
        elif response.status_code >= 400 or response.status_code == 0:
            try:  # the problem's type and the start of its detail: enough to tell errors apart
                problem = response.json()
                why = f" {problem.get('type')}: {str(problem.get('detail'))[:100]}"
            except Exception:  # noqa: BLE001 - no body, or not JSON
                why = ""
            response.failure(f"{response.status_code}{why}")
        else:
            response.success()

    @task(5)
    def recommend_user(self) -> None:
        self._post("recommend (user)", "/v1/recommend", READ_KEY, {"user_id": user_id(), "limit": 10})

    @task(2)
    def recommend_session_context(self) -> None:
        user = user_id()
        self._post("recommend (user + session + context)", "/v1/recommend", READ_KEY,
                   {"user_id": user, "session_id": f"sess-{user[5:]}-0", "limit": 10,
                    "context": {"device_type": "mobile"}})

    @task(1)
    def recommend_placements(self) -> None:
        self._post("recommend (2 placements)", "/v1/recommend", READ_KEY,
                   {"user_id": user_id(), "placements": [{"placement_id": "hero", "limit": 3},
                                                         {"placement_id": "sidebar", "limit": 4}]})

    @task(2)
    def similar(self) -> None:
        self._post("similar", "/v1/similar", READ_KEY, {"item_id": item_id(), "limit": 10})

    @task(1)
    def catalogue(self) -> None:
        self._get("items (GET)", "/v1/items?limit=20", READ_KEY)

    @task(1)
    def health(self) -> None:
        self._get("health", "/health")

    @task(2)
    def one_event(self) -> None:
        self._post("interactions (1 event)", "/v1/interactions", WRITE_KEY, {"interactions": [self._event()]})

    @task(1)
    def batch_of_events(self) -> None:
        self._post("interactions (50 events)", "/v1/interactions", WRITE_KEY,
                   {"interactions": [self._event() for _ in range(50)]})

    @staticmethod
    def _event() -> dict:
        return {"user_id": user_id(), "item_id": item_id(), "type": random.choice(["view", "click", "purchase"]),
                "timestamp": time.time() - 1, "event_id": uuid.uuid4().hex}
