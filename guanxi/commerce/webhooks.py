"""POST /commerce/webhooks/<store_code>/: a shop pushes order events, signed.

The header ``X-Guanxi-Signature: sha256=<hex>`` carries the HMAC-SHA256 of the raw body
with the store's webhook secret. The body is one event or {"events": [...]} (a batch is
applied all or nothing). Answers: 200 {"status": "ok", "results": [...]} with "applied"
or "duplicate" per event; 401 for a missing or wrong signature; 422 in the API's error
format for bad JSON or a bad event. A refused delivery writes one WebhookRejection row
and nothing else.
"""

import hashlib
import hmac
import json

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from guanxi.commerce import services
from guanxi.commerce.models import Store, WebhookRejection
from guanxi.core.errors import ValidationFailed

SIGNATURE_HEADER = "HTTP_X_GUANXI_SIGNATURE"
MAX_BODY = 5 * 1024 * 1024
EXCERPT = 2000


def sign(secret: str, body: bytes) -> str:
    """The header value a sender puts in X-Guanxi-Signature."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(store: Store, body: bytes, header: str) -> bool:
    if not store.webhook_secret or not header:
        return False
    return hmac.compare_digest(sign(store.webhook_secret, body), header.strip())


def _error(code: str, message, errors: dict | None = None, *, status: int) -> JsonResponse:
    body = {"code": code, "message": str(message), "errors": errors or {}}
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def _reject(request, store, body: bytes, reason: str) -> None:
    WebhookRejection.objects.create(
        store=store,
        remote_addr=request.META.get("REMOTE_ADDR") or None,
        reason=reason[:300],
        body_excerpt=body[:EXCERPT].decode("utf-8", "replace"),
    )


@csrf_exempt
@require_POST
def receive(request, store_code: str):
    store = Store.objects.filter(code=store_code, active=True).first()
    body = request.body[: MAX_BODY + 1]
    if store is None:
        # Nothing to attach a rejection to, and nothing to tell a prober.
        return _error("not_found", _("Not found."), status=404)
    header = request.META.get(SIGNATURE_HEADER, "")
    if not signature_ok(store, body, header):
        reason = "missing signature" if not header else "wrong signature"
        _reject(request, store, body, reason)
        return _error("bad_signature", _("The signature is missing or wrong."), status=401)
    if len(body) > MAX_BODY:
        _reject(request, store, body, "body too large")
        return _error("too_large", _("The request body is too large."), status=413)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        message = _("The request body is not valid JSON.")
        _reject(request, store, body, "malformed JSON")
        return _error("malformed_json", message, {"__all__": [message]}, status=422)
    try:
        results = services.order_ingest_body(store=store, body=payload, source="webhook")
    except ValidationFailed as exc:
        summary = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.field_errors.items())
        _reject(request, store, body, f"invalid event: {summary}")
        return _error(exc.code, exc.message, exc.field_errors, status=exc.status)
    return JsonResponse(
        {
            "status": "duplicate" if all(r.duplicate for r in results) else "ok",
            "results": [
                {"status": r.status, "order_id": r.order.pk if r.order else None} for r in results
            ],
        }
    )
