"""Portal accounts on Cognito: POST /api/auth/register (a sign-up, or an admin adding an account to
their tenant), POST /api/auth/login -> {token, user}, and GoTrue's POST /auth/v1/token with
grant_type=password or refresh_token. The routes are public: register checks an optional admin
token itself, with the authorizer's verifier (recengine.portal.tokens)."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.errors import UnauthorizedError
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.portal import presenters, service
from recengine.portal.schemas import LoginBody, RefreshBody, RegisterBody, TokenQuery
from recengine.portal.tokens import looks_like_jwt
from recengine.runtime import runtime

app = Api()


def _bearer() -> str | None:
    scheme, _, value = (app.current_event.get_header_value("authorization", case_sensitive=False) or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@app.post("/api/auth/register")
def register():
    """Without credentials: a new tenant (starter plan) and its first account, an admin. With an
    admin's token: one more account in that tenant, with the asked role. 201, the account without password."""
    body, rt = app.body(RegisterBody), runtime()
    new = service.NewAccount(body.email, body.name, body.password, body.role)
    token = _bearer()
    if token is None and not app.current_event.get_header_value("x-api-key", case_sensitive=False):
        account = service.sign_up(rt.portal_accounts, rt.tenants, new)
    elif token is not None and looks_like_jwt(token):
        claims = service.verified_admin(rt.token_verifier, token)
        account = service.add_account(rt.portal_accounts, rt.tenants, claims.tenant_id, claims.role, new)
    else:
        raise UnauthorizedError("register takes an admin's portal token (Authorization: Bearer <jwt>); "
                                        "API keys cannot be checked on this public route")
    return app.json(201, presenters.account_body(account))


@app.post("/api/auth/login")
def login():
    body = app.body(LoginBody)
    tokens, account = service.login(runtime().portal_accounts, body.email, body.password)
    return app.json(200, presenters.login_body(tokens, account))


@app.post("/auth/v1/token")
def token():
    """GoTrue's token endpoint: `grant_type=password` {email, password} or `refresh_token` {refresh_token}."""
    grant, rt = app.query(TokenQuery).grant_type, runtime()
    if grant == "password":
        body = app.body(LoginBody)
        tokens, account = service.login(rt.portal_accounts, body.email, body.password)
    else:
        tokens, account = service.refresh(rt.portal_accounts, rt.token_verifier, app.body(RefreshBody).refresh_token)
    return app.json(200, presenters.gotrue_body(tokens, account))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
