"""Errors that services raise and both the API and the pages turn into messages."""

from django.utils.translation import gettext_lazy as _


class ServiceError(Exception):
    """A request that cannot be carried out; nothing was written."""

    code = "invalid"
    status = 400

    def __init__(self, message=None, *, field_errors: dict | None = None, code: str | None = None):
        self.message = message if message is not None else _("The request is not valid.")
        self.field_errors = {k: [str(m) for m in v] for k, v in (field_errors or {}).items()}
        if code:
            self.code = code
        super().__init__(str(self.message))


class ValidationFailed(ServiceError):
    code = "validation_error"
    status = 422

    def __init__(self, field_errors: dict, message=None):
        super().__init__(
            message or _("Please correct the fields marked below."), field_errors=field_errors
        )


class PermissionDenied(ServiceError):
    code = "permission_denied"
    status = 403

    def __init__(self, message=None):
        super().__init__(message or _("You do not have permission to do this."))


class NotFound(ServiceError):
    code = "not_found"
    status = 404

    def __init__(self, message=None):
        super().__init__(message or _("Not found."))
