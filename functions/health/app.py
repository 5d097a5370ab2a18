"""GET /health: liveness, no API key, touches no backing service."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from recengine import __version__
from recengine.api.http import create_app, json_response

logger = Logger()
app = create_app(logger)


@app.get("/health")
def health():
    """Liveness: the service answers (no key needed)."""
    return json_response(app, 200, {"status": "ok", "version": __version__})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
