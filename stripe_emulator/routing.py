"""Route registry and the helpers every resource handler shares (lists, expansion)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe_emulator.errors import StripeError
from stripe_emulator.store import Store


@dataclass
class Call:
    store: Store
    params: dict[str, Any]
    ids: dict[str, str]

    @property
    def expand(self) -> list[str]:
        return list(self.params.get("expand") or [])


Handler = Callable[[Call], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    params_class: str
    handler: Handler
    # Parameters the emulator implements; other valid Stripe params are refused clearly
    # rather than silently ignored. None means "all of them".
    supported: frozenset[str] | None


ROUTES: list[Route] = []
_COMMON = {"expand", "metadata"}


def route(
    method: str, path: str, params_class: str, supported: set[str] | None = None
) -> Callable[[Handler], Handler]:
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")

    def register(handler: Handler) -> Handler:
        allowed = None if supported is None else frozenset(supported | _COMMON)
        ROUTES.append(Route(method, regex, params_class, handler, allowed))
        return handler

    return register


def resolve(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    # Literal routes win over templated ones (`/v1/invoices/create_preview` is not an id).
    matches = []
    for candidate in ROUTES:
        match = candidate.pattern.match(path)
        if match and candidate.method == method:
            matches.append((len(match.groupdict()), candidate, match.groupdict()))
    if not matches:
        return None
    _, best, ids = min(matches, key=lambda m: m[0])
    return best, ids


def check_supported(rt: Route, params: dict[str, Any]) -> None:
    if rt.supported is None:
        return
    for key in params:
        if key not in rt.supported:
            raise StripeError.invalid(
                message=f"The Stripe emulator does not implement the parameter: {key}. "
                "It is valid for Stripe; extend stripe_emulator if you need it.",
                param=key,
                code="parameter_unknown",
            )


# ------------------------------------------------------------------------------ helpers


def list_response(call: Call, objects: list[dict[str, Any]], *, url: str) -> dict[str, Any]:
    limit = call.params.get("limit", 10)
    if not 1 <= limit <= 100:
        raise StripeError.invalid(message="Invalid limit: must be between 1 and 100", param="limit")
    ids = [o["id"] for o in objects]
    start = 0
    if call.params.get("starting_after"):
        cursor = call.params["starting_after"]
        if cursor not in ids:
            raise StripeError.invalid(
                message=f"No such object: '{cursor}'",
                param="starting_after",
                code="resource_missing",
            )
        start = ids.index(cursor) + 1
    elif call.params.get("ending_before"):
        cursor = call.params["ending_before"]
        if cursor not in ids:
            raise StripeError.invalid(
                message=f"No such object: '{cursor}'",
                param="ending_before",
                code="resource_missing",
            )
        end = ids.index(cursor)
        start = max(0, end - limit)
        page = objects[start:end]
        return _list_body(call, page, has_more=start > 0, url=url)
    page = objects[start : start + limit]
    return _list_body(call, page, has_more=start + limit < len(objects), url=url)


def _list_body(call: Call, page: list[dict[str, Any]], *, has_more: bool, url: str) -> dict:
    data = [call.store.render(o) for o in page]
    body = {"object": "list", "data": data, "has_more": has_more, "url": url}
    return call.store.expand(body, call.expand)


def respond(call: Call, obj: dict[str, Any]) -> dict[str, Any]:
    return call.store.respond(obj, expand=call.expand)


def update_metadata(obj: dict[str, Any], metadata: Any) -> None:
    """Stripe merges metadata; an empty value for a key (or "" for all) deletes it."""
    if metadata == "":
        obj["metadata"] = {}
        return
    for key, value in (metadata or {}).items():
        if value == "":
            obj["metadata"].pop(key, None)
        else:
            obj["metadata"][key] = str(value)
