"""Catalogue items: POST/GET /v1/items, GET/DELETE /v1/items/{item_id}."""

from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths

from recengine.api.http import create_app, current_tenant, json_response, parse_body, parse_query, request_id
from recengine.api.metering import item_limit
from recengine.api.problems import BadRequest
from recengine.api.schemas import ListItemsQuery, UpsertItemsRequest
from recengine.services import catalogue
from recengine.services.container import container

logger = Logger()
app = create_app(logger)


@app.post("/v1/items")
def upsert_items():
    """Creates or updates up to 500 items; fields other than id and active become metadata."""
    tenant = current_tenant(app)
    body = parse_body(app, UpsertItemsRequest)
    result = catalogue.upsert_items(container().items, tenant.tenant_id, [i.model_dump() for i in body.items],
                                    limit=item_limit(tenant))
    return json_response(app, 200, result)


@app.get("/v1/items")
def list_items():
    """One page of the catalogue in id order, optionally filtered by a search string."""
    tenant = current_tenant(app)
    query = parse_query(app, ListItemsQuery)
    try:
        page = catalogue.list_items(container().items, tenant.tenant_id, query.limit, query.cursor, query.search)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return json_response(app, 200, page)


@app.get("/v1/items/<item_id>")
def get_item(item_id: str):
    """One catalogue item."""
    tenant = current_tenant(app)
    return json_response(app, 200, catalogue.get_item(container().items, tenant.tenant_id, unquote(item_id)))


@app.delete("/v1/items/<item_id>")
def delete_item(item_id: str):
    """Deactivates the item: it is never recommended again."""
    tenant = current_tenant(app)
    catalogue.deactivate_item(container().items, tenant.tenant_id, unquote(item_id))
    return Response(status_code=204, body="", headers={"X-Request-Id": request_id(app)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
