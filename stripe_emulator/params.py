"""Request parameters: form decoding and checking against stripe-python's own definitions.

stripe-python ships a TypedDict for every API method (`stripe.params.CustomerCreateParams`
and friends). Checking requests against those, instead of a hand-written list, keeps the
emulator from accepting a parameter that real Stripe would refuse. Checking also coerces
the form's strings into the declared types, so handlers receive ints, bools and lists.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import types
import typing
from typing import Any
from urllib.parse import parse_qsl

from stripe._request_options import RequestOptions

from stripe_emulator.errors import StripeError

# Keys of RequestOptions travel as headers, never as form parameters.
_REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)


def form_decode(*, body: str) -> dict[str, Any]:
    """Turn `a[b][0][c]=v&expand[]=x` into nested dicts; list indexes stay dict keys."""
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        parts = _key_parts(raw_key)
        node = root
        for position, part in enumerate(parts):
            last = position == len(parts) - 1
            if part == "":
                # `expand[]=a&expand[]=b` appends; the parent holds a growing index.
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return root


def _key_parts(raw_key: str) -> list[str]:
    head, _, rest = raw_key.partition("[")
    if not rest:
        return [head]
    return [head, *rest.rstrip("]").split("][")]


@functools.cache
def params_class(name: str) -> type:
    """Resolve `CustomerCreateParams` or `checkout.SessionCreateParams` in stripe.params."""
    module_name, _, class_name = name.rpartition(".")
    module = importlib.import_module("stripe.params" + (f".{module_name}" if module_name else ""))
    return getattr(module, class_name)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Evaluated annotations of a params TypedDict, without the RequestOptions base.

    `typing.get_type_hints` cannot be used: RequestOptions refers to a name imported only
    under TYPE_CHECKING, so evaluating the whole MRO fails.
    """
    hints: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        if base in (RequestOptions, dict, object):
            continue
        own = inspect.get_annotations(base)
        namespace = vars(importlib.import_module(base.__module__))
        for key, annotation in own.items():
            if key in _REQUEST_OPTION_KEYS:
                continue  # TypedDict copies the base's keys into each subclass
            if isinstance(annotation, str):
                annotation = typing.ForwardRef(annotation)
            evaluated = typing._eval_type(annotation, namespace, None)  # type: ignore[attr-defined]
            while typing.get_origin(evaluated) in (typing.NotRequired, typing.Required):
                evaluated = typing.get_args(evaluated)[0]
            hints[key] = evaluated
    return hints


def validate(*, params: dict[str, Any], class_name: str) -> dict[str, Any]:
    """Check `params` against the named TypedDict and return them with declared types."""
    return _check_typed_dict(value=params, cls=params_class(class_name), path="")


def _param_name(path: str, key: str) -> str:
    return f"{path}[{key}]" if path else key


def _check_typed_dict(*, value: Any, cls: type, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StripeError.invalid(
            message=f"Invalid object for {path}: expected a hash.",
            param=path,
            code="parameter_invalid_string",
        )
    hints = _hints(cls)
    result: dict[str, Any] = {}
    for key, raw in value.items():
        if key not in hints:
            raise StripeError.invalid(
                message=f"Received unknown parameter: {_param_name(path, key)}",
                param=_param_name(path, key),
                code="parameter_unknown",
            )
        result[key] = _coerce(value=raw, tp=hints[key], path=_param_name(path, key))
    required = getattr(cls, "__required_keys__", frozenset()) - _REQUEST_OPTION_KEYS
    for key in sorted(required):
        if key not in result or result[key] in ("", None):
            raise StripeError.invalid(
                message=f"Missing required param: {_param_name(path, key)}.",
                param=_param_name(path, key),
                code="parameter_missing",
            )
    return result


def _is_typed_dict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _coerce(*, value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value=value, options=typing.get_args(tp), path=path)
    if origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        allowed = ", ".join(repr(a) for a in typing.get_args(tp))
        raise StripeError.invalid(
            message=f"Invalid {path}: must be one of {allowed}",
            param=path,
            code="parameter_invalid_string",
        )
    if origin in (list, typing.List):  # noqa: UP006
        return _coerce_list(value=value, item_tp=typing.get_args(tp)[0], path=path)
    if origin in (dict, typing.Dict):  # noqa: UP006
        return _coerce_hash(value=value, path=path)
    if _is_typed_dict(tp):
        return _check_typed_dict(value=value, cls=tp, path=path)
    if (isinstance(tp, type) and tp.__name__ == "UntypedStripeObject") or origin is not None:
        return _coerce_hash(value=value, path=path)
    return _coerce_scalar(value=value, tp=tp, path=path)


def _coerce_union(*, value: Any, options: tuple[Any, ...], path: str) -> Any:
    first_error: StripeError | None = None
    # Structured branches first: a dict value should be judged by the TypedDict branch,
    # so its error names the inner parameter rather than "invalid string".
    ordered = sorted(
        options, key=lambda o: 0 if _is_typed_dict(o) and isinstance(value, dict) else 1
    )
    for option in ordered:
        try:
            return _coerce(value=value, tp=option, path=path)
        except StripeError as error:
            if first_error is None or (
                error.code == "parameter_unknown" and first_error.code != "parameter_unknown"
            ):
                first_error = error
    assert first_error is not None
    raise first_error


def _coerce_list(*, value: Any, item_tp: Any, path: str) -> list[Any]:
    if isinstance(value, dict) and all(k.isdigit() for k in value):
        items = [value[k] for k in sorted(value, key=int)]
    elif isinstance(value, list):
        items = value
    else:
        raise StripeError.invalid(
            message=f"Invalid array: {path}",
            param=path,
            code="parameter_invalid_array",
        )
    return [
        _coerce(value=item, tp=item_tp, path=f"{path}[{index}]") for index, item in enumerate(items)
    ]


def _coerce_hash(*, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StripeError.invalid(
            message=f"Invalid hash: {path}", param=path, code="parameter_invalid_hash"
        )
    return dict(value)


def _coerce_scalar(*, value: Any, tp: Any, path: str) -> Any:
    if isinstance(value, dict):
        raise StripeError.invalid(
            message=f"Invalid {getattr(tp, '__name__', 'value')}: {path} must be a scalar",
            param=path,
            code="parameter_invalid_string",
        )
    if tp is bool:
        if value in ("true", "false", True, False):
            return value in ("true", True)
        raise StripeError.invalid(
            message=f"Invalid boolean: {value}", param=path, code="parameter_invalid_boolean"
        )
    if tp is int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise StripeError.invalid(
                message=f"Invalid integer: {value}", param=path, code="parameter_invalid_integer"
            ) from None
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise StripeError.invalid(
                message=f"Invalid decimal: {value}", param=path, code="parameter_invalid_decimal"
            ) from None
    if tp is str or tp is Any or tp is type(None):
        return value
    return value
