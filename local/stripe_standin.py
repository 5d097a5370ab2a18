"""A local HTTP stand-in for the few Stripe endpoints the payment provider calls, so that tests (and the
local stack) run the real `stripe` SDK, its form encoding, headers, retries and error classes, with
nothing leaving the machine. It answers Stripe-shaped JSON and checks what Stripe would refuse:

- every request: `Authorization: Bearer <the configured key>` (else 401 authentication_error);
- POST /v1/customers, /v1/checkout/sessions, /v1/billing_portal/sessions: form-encoded bodies; an
  `Idempotency-Key` replays the first answer (`Idempotent-Replayed: true`), and the same key with
  other parameters is refused (400 idempotency_error), as Stripe does for 24 hours;
- GET /v1/prices?lookup_keys[]=...: the prices made from plans.py, lookup key `recengine_<plan>_<interval>`;
- checkout sessions: subscription mode, an existing customer, one line item of a known price,
  quantity 1, success and cancel URLs; portal sessions: an existing customer and a return URL.

`fail(...)` makes the next calls answer an error (a 5xx, a 4xx, a dropped connection is not modelled).
`python -m local.stripe_standin` serves it on a port for `make run`-style manual checks."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from recengine.billing.plans import CURRENCY, PLANS

STANDIN_KEY = "sk_test_standin_0123456789abcdef"
INTERVALS = {"monthly": ("month", "monthly_price"), "annual": ("year", "annual_price")}


def plan_prices() -> dict[str, dict]:
    """One recurring price per plan and interval, as an operator would create them in Stripe."""
    prices = {}
    for plan in PLANS.values():
        for interval, (stripe_interval, attr) in INTERVALS.items():
            price_id = f"price_{plan.id}_{interval}"
            prices[price_id] = {"id": price_id, "object": "price", "active": True, "currency": CURRENCY.lower(),
                                "lookup_key": f"recengine_{plan.id}_{interval}", "livemode": False,
                                "unit_amount": round(getattr(plan, attr) * 100), "type": "recurring",
                                "recurring": {"interval": stripe_interval, "interval_count": 1}}
    return prices


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]  # flat, as sent: "line_items[0][price]" -> "price_..."
    headers: dict[str, str]


@dataclass
class Fault:
    status: int
    error_type: str
    path: str | None  # only calls to this path; None: any
    times: int
    should_retry: bool | None


class StandInError(Exception):
    def __init__(self, status: int, error_type: str, message: str, code: str | None = None,
                 param: str | None = None):
        super().__init__(message)
        self.status, self.body = status, {"error": {k: v for k, v in (("type", error_type), ("message", message),
                                                                       ("code", code), ("param", param)) if v}}


@dataclass
class StripeStandIn:
    api_key: str = STANDIN_KEY
    prices: dict[str, dict] = field(default_factory=plan_prices)
    customers: dict[str, dict] = field(default_factory=dict)
    sessions: dict[str, dict] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _idempotent: dict[str, tuple[str, dict, int, dict]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ control
    def start(self, port: int = 0) -> "StripeStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                standin._serve(self)

            def do_POST(self) -> None:  # noqa: N802
                standin._serve(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="stripe-standin").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, status: int, error_type: str = "api_error", *, path: str | None = None, times: int = 1,
             should_retry: bool | None = None) -> None:
        """The next `times` calls (to `path`, if given) answer `status` with a Stripe error body."""
        with self._lock:
            self.faults.append(Fault(status, error_type, path, times, should_retry))

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    # ------------------------------------------------------------------ serving
    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        raw = request.rfile.read(int(request.headers.get("Content-Length") or 0)).decode()
        params = dict(parse_qsl(split.query if request.command == "GET" else raw, keep_blank_values=True))
        call = Call(request.command, split.path, params, {k.lower(): v for k, v in request.headers.items()})
        headers = {"Request-Id": f"req_{secrets.token_hex(7)}"}
        with self._lock:
            self.calls.append(call)
            try:
                status, body = self._answer(call, headers)
            except StandInError as exc:
                status, body = exc.status, exc.body
        payload = json.dumps(body).encode()
        request.send_response(status)
        for name, value in {**headers, "Content-Type": "application/json",
                            "Content-Length": str(len(payload))}.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(payload)

    def _answer(self, call: Call, headers: dict[str, str]) -> tuple[int, dict]:
        if call.headers.get("authorization") != f"Bearer {self.api_key}":
            raise StandInError(401, "invalid_request_error", "Invalid API Key provided")
        for fault in self.faults:
            if fault.times > 0 and fault.path in (None, call.path):
                fault.times -= 1
                if fault.should_retry is not None:
                    headers["Stripe-Should-Retry"] = "true" if fault.should_retry else "false"
                raise StandInError(fault.status, fault.error_type, "injected by the stand-in")
        route = {("GET", "/v1/prices"): self._prices, ("POST", "/v1/customers"): self._customer,
                 ("POST", "/v1/checkout/sessions"): self._checkout,
                 ("POST", "/v1/billing_portal/sessions"): self._portal}.get((call.method, call.path))
        if route is None:
            raise StandInError(404, "invalid_request_error", f"Unrecognized request URL ({call.method}: {call.path})")
        key = call.headers.get("idempotency-key")
        if call.method == "POST" and key:
            earlier = self._idempotent.get(key)
            if earlier is not None:
                path, params, status, body = earlier
                if (path, params) != (call.path, call.params):
                    raise StandInError(400, "idempotency_error", "Keys for idempotent requests can only be used "
                                       "with the same parameters they were first used with.")
                headers["Idempotent-Replayed"] = "true"
                return status, body
        body = route(call.params)
        if call.method == "POST" and key:
            self._idempotent[key] = (call.path, call.params, 200, body)
        return 200, body

    def _prices(self, params: dict[str, str]) -> dict:
        keys = {v for k, v in params.items() if k.startswith("lookup_keys[")}
        active = params.get("active")
        found = [p for p in self.prices.values() if p["lookup_key"] in keys
                 and (active is None or str(p["active"]).lower() == active)]
        return {"object": "list", "data": found[:int(params.get("limit", 10))], "has_more": False, "url": "/v1/prices"}

    def _customer(self, params: dict[str, str]) -> dict:
        customer_id = f"cus_{secrets.token_hex(7)}"
        metadata = {k[len("metadata["):-1]: v for k, v in params.items() if k.startswith("metadata[")}
        self.customers[customer_id] = {"id": customer_id, "object": "customer", "created": int(time.time()),
                                       "name": params.get("name"), "metadata": metadata, "livemode": False}
        return self.customers[customer_id]

    def _require(self, params: dict[str, str], name: str) -> str:
        if not params.get(name):
            raise StandInError(400, "invalid_request_error", f"Missing required param: {name}.",
                               "parameter_missing", name)
        return params[name]

    def _known_customer(self, params: dict[str, str]) -> str:
        customer = self._require(params, "customer")
        if customer not in self.customers:
            raise StandInError(400, "invalid_request_error", f"No such customer: '{customer}'",
                               "resource_missing", "customer")
        return customer

    def _checkout(self, params: dict[str, str]) -> dict:
        if self._require(params, "mode") != "subscription":
            raise StandInError(400, "invalid_request_error", "The stand-in serves subscription mode only.",
                               param="mode")
        customer = self._known_customer(params)
        price = self._require(params, "line_items[0][price]")
        if price not in self.prices or not self.prices[price]["active"]:
            raise StandInError(400, "invalid_request_error", f"No such price: '{price}'", "resource_missing",
                               "line_items[0][price]")
        if params.get("line_items[0][quantity]") != "1" or "line_items[1][price]" in params:
            raise StandInError(400, "invalid_request_error", "One line item of quantity 1 expected.",
                               param="line_items")
        self._require(params, "success_url")
        self._require(params, "cancel_url")
        session_id = f"cs_test_{secrets.token_hex(12)}"
        self.sessions[session_id] = {
            "id": session_id, "object": "checkout.session", "mode": "subscription", "status": "open",
            "customer": customer, "client_reference_id": params.get("client_reference_id"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}", "livemode": False,
            "currency": self.prices[price]["currency"], "amount_total": self.prices[price]["unit_amount"],
            "success_url": params["success_url"], "cancel_url": params["cancel_url"],
            "metadata": {k[len("metadata["):-1]: v for k, v in params.items() if k.startswith("metadata[")}}
        return self.sessions[session_id]

    def _portal(self, params: dict[str, str]) -> dict:
        customer = self._known_customer(params)
        session_id = f"bps_{secrets.token_hex(12)}"
        return {"id": session_id, "object": "billing_portal.session", "customer": customer, "livemode": False,
                "return_url": params.get("return_url"), "created": int(time.time()),
                "url": f"https://billing.stripe.com/p/session/test_{session_id}"}


if __name__ == "__main__":  # a stand-in to point STRIPE_API_BASE at by hand
    import sys

    standin = StripeStandIn().start(int(sys.argv[1]) if len(sys.argv) > 1 else 12111)
    print(f"Stripe stand-in on {standin.url} (key {standin.api_key})", flush=True)
    threading.Event().wait()
