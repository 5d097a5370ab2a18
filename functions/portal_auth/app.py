"""Portal accounts on Cognito: POST /api/auth/register (a sign-up, or an admin adding an account to
their tenant), POST /api/auth/login -> {token, user}, and GoTrue's POST /auth/v1/token with
grant_type=password or refresh_token. Public routes: register checks an optional admin token or API key itself."""

from aws_lambda_powertools.logging import correlation_paths

from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.portal import presenters, service
from recengine.portal.authorizer import extract_key
from recengine.portal.schemas import LoginBody, RegisterBody, TokenBody, TokenQuery
from recengine.runtime import runtime

app = Api()


@app.post("/api/auth/register")
def register():
    """201, the account without password (a sign-up's is its new tenant's admin)."""
    body, rt = app.body(RegisterBody), runtime()
    credential = extract_key(app.current_event.headers)
    new = service.NewAccount(body.email, body.name, body.password, body.role)
    account = service.register(rt.portal_accounts, rt.tenants, rt.token_verifier, new, credential,
                               rt.resolve_key_value)
    return app.json(201, presenters.account_body(account))


@app.post("/api/auth/login")
def login():
    body = app.body(LoginBody)
    tokens, account = service.login(runtime().portal_accounts, body.email, body.password)
    return app.json(200, presenters.login_body(tokens, account))


@app.post("/auth/v1/token")
def token():
    """GoTrue's token endpoint: `grant_type=password` {email, password} or `refresh_token` {refresh_token}."""
    grant, body, rt = app.query(TokenQuery).grant_type, app.body(TokenBody), runtime()
    tokens, account = service.grant(rt.portal_accounts, rt.token_verifier, grant, body.email, body.password,
                                    body.refresh_token)
    return app.json(200, presenters.gotrue_body(tokens, account))


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
