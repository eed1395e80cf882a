"""The /api/v1 NinjaAPI, assembled from each app's router, with one error format:

{"code": "validation_error", "message": "...", "errors": {"field": ["..."]}}
"""

from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from guanxi.api.auth import AUTH
from guanxi.core.errors import ServiceError

api = NinjaAPI(
    title="Guanxi API",
    version="1",
    urls_namespace="api",
    auth=AUTH,
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def error_body(code: str, message, errors: dict | None = None) -> dict:
    return {"code": code, "message": str(message), "errors": errors or {}}


@api.exception_handler(ServiceError)
def service_error(request, exc: ServiceError):
    return api.create_response(
        request, error_body(exc.code, exc.message, exc.field_errors), status=exc.status
    )


def error_field(loc) -> str:
    """The field an error is about: ("body", "data", "custom", "x") → "custom.x".

    The first part says where the value came from; for a body it is followed by the
    name of the view's body argument, which means nothing to the caller."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form", "file"):
        source, parts = parts[0], parts[1:]
        if source == "body" and parts:
            parts = parts[1:]
    return ".".join(parts) or "__all__"


@api.exception_handler(NinjaValidationError)
def schema_error(request, exc: NinjaValidationError):
    errors: dict[str, list[str]] = {}
    for err in exc.errors:
        errors.setdefault(error_field(err.get("loc", [])), []).append(err.get("msg", ""))
    return api.create_response(
        request,
        error_body("validation_error", _("Please correct the fields marked below."), errors),
        status=422,
    )


@api.exception_handler(AuthenticationError)
def auth_error(request, exc):
    return api.create_response(
        request, error_body("not_authenticated", _("Log in or send a valid API token.")), status=401
    )


@api.exception_handler(Http404)
def not_found(request, exc):
    return api.create_response(request, error_body("not_found", _("Not found.")), status=404)


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # ninja could not parse the request body (JSONDecodeError is a ValueError).
        message = _("The request body is not valid JSON.")
        return api.create_response(
            request, error_body("malformed_json", message, {"__all__": [message]}), status=400
        )
    return api.create_response(request, error_body("error", exc.message), status=exc.status_code)


def _mount():
    from guanxi.accounts.api import router as accounts_router
    from guanxi.analytics.api import router as analytics_router
    from guanxi.analytics.api_analysis import router as analysis_router
    from guanxi.analytics.api_clv import router as clv_router  # CLV (clv helper)
    from guanxi.commerce.api import router as commerce_router
    from guanxi.commerce.api_import import router as order_import_router  # orderimport
    from guanxi.customers.api import router as customers_router
    from guanxi.customers.api_dedup import router as dedup_router
    from guanxi.customers.api_transfer import router as transfer_router
    from guanxi.sales.api import router as sales_router

    api.add_router("/", accounts_router)
    # Fixed paths (/customers/duplicates, /customers/merge …) before /customers/{id}.
    api.add_router("/", transfer_router)
    api.add_router("/", dedup_router)
    api.add_router("/", customers_router)
    api.add_router("/", order_import_router)  # /orders/import before /orders/{id}
    api.add_router("/", commerce_router)
    api.add_router("/", analytics_router)
    api.add_router("/", analysis_router)
    api.add_router("/", clv_router)  # CLV (clv helper)
    api.add_router("/", sales_router)


_mount()
