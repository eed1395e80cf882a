"""API authentication: personal tokens (``Authorization: Bearer gx_...``) or the session."""

from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer

from guanxi.accounts.models import ApiToken, hash_token


class BearerToken(HttpBearer):
    def authenticate(self, request, token):
        found = (
            ApiToken.objects.active()
            .select_related("user", "user__team")
            .filter(digest=hash_token(token), user__is_active=True)
            .first()
        )
        if found is None:
            return None
        now = timezone.now()
        # Touch at most once a minute: the API must not write on every read.
        if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        request.user = found.user
        return found.user


class SessionAuth(APIKeyCookie):
    """The browser's session (the interactive docs, htmx pages); CSRF checked on writes."""

    param_name = "sessionid"

    def __init__(self):
        super().__init__(csrf=True)

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


AUTH = [BearerToken(), SessionAuth()]
