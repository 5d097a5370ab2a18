"""GET /health: liveness, no API key, touches no backing service."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths

from recengine import __version__
from recengine.http.app import Api
from recengine.http.values import wants_text
from recengine.observability import lambda_handler as instrumented

app = Api()


@app.get("/health")
def health():
    """Liveness: the service answers (no key needed). `Healthy` as text/plain to a client that asks for
    text (RecommendAI's health check), JSON otherwise."""
    if wants_text(app.current_event.get_header_value("accept", case_sensitive=False)):
        return Response(status_code=200, content_type="text/plain", body="Healthy")
    return app.json(200, {"status": "ok", "version": __version__})


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
