"""View decorators shared by every app's pages."""

import functools

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404

from guanxi.core.errors import NotFound, PermissionDenied


def service_errors(view):
    """Log-in required; the service layer's NotFound / PermissionDenied become the
    404 / 403 pages."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(str(exc.message)) from exc
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(str(exc.message)) from exc

    return login_required(wrapper)
