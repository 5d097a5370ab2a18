"""Catalogue items: POST/GET /v1/items, GET/DELETE /v1/items/{item_id}; GET /api/items[/{id}] (RecommendAI)."""

from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths

from recengine.catalogue import service as catalogue
from recengine.catalogue.presenters import item_body, page_body, seed_item_body, seed_page_body, upsert_answer
from recengine.catalogue.schemas import ListItemsQuery, NumberedItemsQuery, UpsertItemsRequest
from recengine.http.app import Api
from recengine.observability import lambda_handler as instrumented
from recengine.runtime import runtime

app = Api(lambda key_id: runtime().resolve_tenant(key_id))


@app.post("/v1/items")
def upsert_items():
    """Creates or updates up to 500 items; fields other than id and active become metadata. Each item is validated
    on its own: the valid ones are stored, each invalid one is reported in `rejected` by index (207); none valid: 422."""
    tenant, batch, rt = app.caller(), app.batch(UpsertItemsRequest), runtime()
    drafts = [item.draft() for _, item in batch.entries]
    result = catalogue.upsert_items(rt.items, tenant.tenant_id, drafts, limit=rt.item_limit(tenant)) if drafts else None
    return app.json(*upsert_answer(result, batch))


@app.get("/v1/items")
def list_items():
    """One page of the catalogue in id order, optionally filtered by a search string."""
    tenant, q = app.caller(), app.query(ListItemsQuery)
    return app.json(200, page_body(catalogue.list_items(runtime().items, tenant.tenant_id, q.limit, q.cursor, q.search)))


@app.get("/api/items")
def list_items_numbered():
    """A page by number (`page`, `pageSize` up to 100, `search`) and the total: `{data, total, page, pageSize}`."""
    tenant_id, q = app.caller().tenant_id, app.query(NumberedItemsQuery)
    page = catalogue.numbered_page(runtime().items, tenant_id, q.page, q.page_size, q.search)
    return app.json(200, seed_page_body(page, tenant_id))


@app.get("/v1/items/<item_id>")
@app.get("/api/items/<item_id>")
def get_item(item_id: str):
    """One catalogue item (camelCase on /api)."""
    tenant_id = app.caller().tenant_id
    item = catalogue.get_item(runtime().items, tenant_id, unquote(item_id))
    return app.json(200, seed_item_body(item, tenant_id) if app.current_event.path.startswith("/api/") else item_body(item))


@app.delete("/v1/items/<item_id>")
def delete_item(item_id: str):
    """Deactivates the item: it is never recommended again."""
    catalogue.deactivate_item(runtime().items, app.caller().tenant_id, unquote(item_id))
    return app.no_content()


@instrumented(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event, context):
    return app.resolve(event, context)
