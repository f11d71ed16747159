"""Object builders in Stripe's shapes (fixtures3.json, dahlia API versions).

Each builder returns every top-level field the official example carries, so dj-stripe and
stripe-python read what they would read from Stripe. Fields that seat billing never sets
hold Stripe's empty value (null, [] or {}). Keys starting with `_` are emulator-private
and are stripped when rendering.
"""

from __future__ import annotations

from typing import Any

ADDRESS_EMPTY = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}


def account(*, account_id: str, created: int) -> dict[str, Any]:
    return {
        "id": account_id,
        "object": "account",
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": None,
            "minority_owned_business_designation": None,
            "name": "Seatwise (emulated)",
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": None,
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": "US",
        "created": created,
        "default_currency": "usd",
        "details_submitted": True,
        "email": "billing@seatwise.test",
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/accounts/{account_id}/external_accounts",
        },
        "future_requirements": _requirements(),
        "metadata": {},
        "payouts_enabled": True,
        "requirements": _requirements(),
        "settings": {
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": None,
                "secondary_color": None,
            },
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": False},
                "statement_descriptor_prefix": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": "Seatwise", "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": None},
            "payments": {
                "statement_descriptor": "SEATWISE",
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": "standard",
    }


def _requirements() -> dict[str, Any]:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }


def customer(
    *, customer_id: str, created: int, params: dict[str, Any], test_clock: str | None
) -> dict[str, Any]:
    invoice_settings = params.get("invoice_settings") or {}
    return {
        "id": customer_id,
        "object": "customer",
        "address": params.get("address") or None,
        "balance": params.get("balance", 0),
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description") or None,
        "discount": None,
        "email": params.get("email") or None,
        "invoice_prefix": customer_id[-8:].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": invoice_settings.get("default_payment_method") or None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "name": params.get("name") or None,
        "next_invoice_sequence": 1,
        "phone": params.get("phone") or None,
        "preferred_locales": list(params.get("preferred_locales") or []),
        "shipping": None,
        "tax_exempt": params.get("tax_exempt") or "none",
        "test_clock": test_clock,
    }


def product(*, product_id: str, created: int, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": product_id,
        "object": "product",
        "active": params.get("active", True),
        "created": created,
        "default_price": None,
        "description": params.get("description") or None,
        "images": list(params.get("images") or []),
        "livemode": False,
        "marketing_features": list(params.get("marketing_features") or []),
        "metadata": dict(params.get("metadata") or {}),
        "name": params["name"],
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": params.get("statement_descriptor") or None,
        "tax_code": None,
        "type": "service",
        "unit_label": params.get("unit_label") or None,
        "updated": created,
        "url": params.get("url") or None,
    }


def price(
    *, price_id: str, created: int, params: dict[str, Any], product_id: str
) -> dict[str, Any]:
    recurring = params.get("recurring")
    unit_amount = params.get("unit_amount")
    if unit_amount is None and params.get("unit_amount_decimal") is not None:
        unit_amount = int(float(params["unit_amount_decimal"]))
    return {
        "id": price_id,
        "object": "price",
        "active": params.get("active", True),
        "billing_scheme": params.get("billing_scheme") or "per_unit",
        "created": created,
        "currency": params["currency"].lower(),
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": params.get("lookup_key") or None,
        "metadata": dict(params.get("metadata") or {}),
        "nickname": params.get("nickname") or None,
        "product": product_id,
        "recurring": (
            {
                "interval": recurring["interval"],
                "interval_count": recurring.get("interval_count", 1),
                "meter": None,
                "trial_period_days": recurring.get("trial_period_days"),
                "usage_type": recurring.get("usage_type") or "licensed",
            }
            if recurring
            else None
        ),
        "tax_behavior": params.get("tax_behavior") or "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": None if unit_amount is None else str(unit_amount),
    }


def plan_from_price(*, price_obj: dict[str, Any]) -> dict[str, Any]:
    """Items still carry the legacy `plan` mirror of their price, as Stripe's do."""
    recurring = price_obj["recurring"] or {}
    return {
        "id": price_obj["id"],
        "object": "plan",
        "active": price_obj["active"],
        "amount": price_obj["unit_amount"],
        "amount_decimal": price_obj["unit_amount_decimal"],
        "billing_scheme": price_obj["billing_scheme"],
        "created": price_obj["created"],
        "currency": price_obj["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "livemode": False,
        "metadata": price_obj["metadata"],
        "meter": None,
        "nickname": price_obj["nickname"],
        "product": price_obj["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": recurring.get("usage_type", "licensed"),
    }


def payment_method(
    *, pm_id: str, created: int, card: dict[str, Any], billing_details: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": pm_id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": dict(ADDRESS_EMPTY),
            "email": billing_details.get("email"),
            "name": billing_details.get("name"),
            "phone": billing_details.get("phone"),
            "tax_id": None,
        },
        "card": card,
        "created": created,
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def subscription(
    *,
    sub_id: str,
    created: int,
    customer_id: str,
    currency: str,
    params: dict[str, Any],
    test_clock: str | None,
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": created,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "classic", "flexible": None},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": params.get("collection_method") or "charge_automatically",
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "days_until_due": params.get("days_until_due"),
        "default_payment_method": params.get("default_payment_method") or None,
        "default_source": None,
        "default_tax_rates": [],
        "description": params.get("description") or None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": None,  # rendered from the item objects
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": dict(params.get("metadata") or {}),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": "incomplete",
        "test_clock": test_clock,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def subscription_item(
    *,
    item_id: str,
    created: int,
    sub_id: str,
    price_id: str,
    quantity: int,
    metadata: dict[str, str],
    period: tuple[int, int],
) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": created,
        "current_period_end": period[1],
        "current_period_start": period[0],
        "discounts": [],
        "metadata": dict(metadata),
        "plan": None,  # rendered from the price
        "price": price_id,
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }


def invoice(
    *,
    invoice_id: str,
    created: int,
    customer_obj: dict[str, Any],
    sub_id: str | None,
    sub_metadata: dict[str, str] | None,
    billing_reason: str,
    currency: str,
    period: tuple[int, int],
) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Seatwise (emulated)",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": customer_obj["id"],
        "customer_account": None,
        "customer_address": customer_obj["address"],
        "customer_email": customer_obj["email"],
        "customer_name": customer_obj["name"],
        "customer_phone": customer_obj["phone"],
        "customer_shipping": None,
        "customer_tax_exempt": customer_obj["tax_exempt"],
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": None,  # rendered from `_lines`
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": (
            {
                "quote_details": None,
                "subscription_details": {
                    "metadata": dict(sub_metadata or {}),
                    "subscription": sub_id,
                },
                "type": "subscription_details",
            }
            if sub_id
            else None
        ),
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": period[1],
        "period_start": period[0],
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": None,
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": customer_obj["test_clock"],
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
        "_lines": [],
    }


def line_item(
    *,
    line_id: str,
    invoice_id: str,
    amount: int,
    currency: str,
    description: str,
    period: tuple[int, int],
    quantity: int,
    price_obj: dict[str, Any],
    sub_id: str | None,
    sub_item_id: str | None,
    proration: bool,
    invoice_item_id: str | None,
) -> dict[str, Any]:
    # Since basil, a line that belongs to a subscription item (its recurring charge or a
    # proration for it) sits under subscription_item_details; prorations carry the
    # invoice item's id there. invoice_item_details is for items outside any item.
    if invoice_item_id is not None and sub_item_id is None:
        parent = {
            "invoice_item_details": {
                "invoice_item": invoice_item_id,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": sub_id,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    else:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": invoice_item_id,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": sub_id,
                "subscription_item": sub_item_id,
            },
            "type": "subscription_item_details",
        }
    return {
        "id": line_id,
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": parent,
        "period": {"end": period[1], "start": period[0]},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price_obj["id"], "product": price_obj["product"]},
            "type": "price_details",
            "unit_amount_decimal": price_obj["unit_amount_decimal"],
        },
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": sub_id,
        "subtotal": amount,
        "taxes": [],
    }


def invoice_item(
    *,
    item_id: str,
    created: int,
    customer_obj: dict[str, Any],
    amount: int,
    description: str,
    period: tuple[int, int],
    quantity: int,
    price_obj: dict[str, Any],
    sub_id: str,
    sub_item_id: str | None,
    proration: bool,
) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "invoiceitem",
        "amount": amount,
        "currency": price_obj["currency"],
        "customer": customer_obj["id"],
        "customer_account": None,
        "date": created,
        "description": description,
        "discountable": True,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "net_amount": amount,
        "parent": {
            "subscription_details": {"subscription": sub_id, "subscription_item": sub_item_id},
            "type": "subscription_details",
        },
        "period": {"end": period[1], "start": period[0]},
        "pricing": {
            "price_details": {"price": price_obj["id"], "product": price_obj["product"]},
            "type": "price_details",
            "unit_amount_decimal": price_obj["unit_amount_decimal"],
        },
        "proration": proration,
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": [],
        "test_clock": customer_obj["test_clock"],
    }


def schedule(
    *, schedule_id: str, created: int, customer_id: str, sub_id: str | None, test_clock: str | None
) -> dict[str, Any]:
    return {
        "id": schedule_id,
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": {"type": "classic", "flexible": None},
        "canceled_at": None,
        "completed_at": None,
        "created": created,
        "current_phase": None,
        "customer": customer_id,
        "customer_account": None,
        "default_settings": {
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": "automatic",
            "billing_thresholds": None,
            "collection_method": "charge_automatically",
            "default_payment_method": None,
            "description": None,
            "invoice_settings": {
                "account_tax_ids": None,
                "days_until_due": None,
                "issuer": {"type": "self"},
            },
            "on_behalf_of": None,
            "transfer_data": None,
        },
        "end_behavior": "release",
        "livemode": False,
        "metadata": {},
        "phases": [],
        "released_at": None,
        "released_subscription": None,
        "status": "active",
        "subscription": sub_id,
        "test_clock": test_clock,
    }


def schedule_phase(
    *,
    start: int,
    end: int,
    currency: str,
    items: list[dict[str, Any]],
    proration_behavior: str,
    metadata: dict[str, str],
) -> dict[str, Any]:
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "billing_cycle_anchor": None,
        "billing_thresholds": None,
        "collection_method": None,
        "currency": currency,
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "end_date": end,
        "invoice_settings": None,
        "items": [
            {
                "billing_thresholds": None,
                "discounts": [],
                "metadata": dict(item.get("metadata") or {}),
                "plan": item["price"],
                "price": item["price"],
                "quantity": item["quantity"],
                "tax_rates": [],
            }
            for item in items
        ],
        "metadata": dict(metadata),
        "on_behalf_of": None,
        "proration_behavior": proration_behavior,
        "start_date": start,
        "transfer_data": None,
        "trial_end": None,
    }


def test_clock(
    *, clock_id: str, created: int, frozen_time: int, name: str | None
) -> dict[str, Any]:
    return {
        "id": clock_id,
        "object": "test_helpers.test_clock",
        "created": created,
        "deletes_after": created + 30 * 86400,
        "frozen_time": frozen_time,
        "livemode": False,
        "name": name,
        "status": "ready",
        "status_details": {},
    }


def webhook_endpoint(
    *, endpoint_id: str, created: int, params: dict[str, Any], secret: str, api_version: str
) -> dict[str, Any]:
    return {
        "id": endpoint_id,
        "object": "webhook_endpoint",
        "api_version": params.get("api_version") or api_version,
        "application": None,
        "created": created,
        "description": params.get("description") or None,
        "enabled_events": list(params["enabled_events"]),
        "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "secret": secret,
        "status": "enabled",
        "url": params["url"],
    }


def event(
    *,
    event_id: str,
    created: int,
    event_type: str,
    data_object: dict[str, Any],
    previous_attributes: dict[str, Any] | None,
    api_version: str,
    request_id: str | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id,
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }


def checkout_session(
    *,
    session_id: str,
    created: int,
    params: dict[str, Any],
    url: str,
    amount_total: int,
    currency: str,
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": params.get("customer"),
        "customer_account": None,
        "customer_creation": None if params.get("customer") else "always",
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "discounts": [],
        "expires_at": created + 24 * 3600,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": params.get("locale"),
        "managed_payments": None,
        "metadata": dict(params.get("metadata") or {}),
        "mode": params["mode"],
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": url,
        "wallet_options": None,
    }


def portal_session(
    *, session_id: str, created: int, customer_id: str, return_url: str | None, url: str
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "billing_portal.session",
        "configuration": "bpc_emulator_default",
        "created": created,
        "customer": customer_id,
        "customer_account": None,
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": url,
    }
