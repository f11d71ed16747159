"""Product features (Entitlements). Seatwise attaches none, but dj-stripe lists them
whenever it syncs a product, so the list must answer, empty, as Stripe's does."""

from __future__ import annotations

from typing import Any

from stripe_emulator.routing import Call, list_response, route


@route(
    "GET",
    "/v1/products/{id}/features",
    "ProductFeatureListParams",
    {"limit", "starting_after", "ending_before"},
)
def product_feature_list(call: Call) -> dict[str, Any]:
    product = call.store.get(call.ids["id"], kind="product")
    return list_response(call, [], url=f"/v1/products/{product['id']}/features")
