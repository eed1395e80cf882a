"""The error body of every API answer that is not a success, as a schema for the
OpenAPI description (the body itself is made by ``guanxi.api.api``'s handlers):
{"code": "validation_error", "message": "...", "errors": {"field": ["..."]}}."""

from ninja import Schema


class ErrorOut(Schema):
    code: str
    message: str
    errors: dict[str, list[str]] = {}


# The refusals a route may answer with, for its ``response={...}``.
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
