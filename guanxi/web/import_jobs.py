"""The two pages every file import has (customers, order history), as one piece of code.

Upload: a form with the file and the import's own options; on POST the import's
``start`` makes the job (and asks for the dry run), then the browser goes to the job
page. The job page: the dry-run report and the import's actions (Import, and for
customers a changed column mapping); while the worker checks or imports a large file
the page polls its progress fragment with htmx (``?partial=1``) and reloads itself when
the job is done. Refusals of the services come back as messages on the page (status
422); a job of someone else's, or a missing permission, is the usual 404 / 403."""

from collections.abc import Callable

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from guanxi.accounts.roles import Action, require
from guanxi.core.errors import NotFound, PermissionDenied, ServiceError, ValidationFailed
from guanxi.customers.models import ImportJob


def error_messages(exc: ServiceError) -> list[str]:
    """The messages of a refused request, field by field, or its one message."""
    messages = [str(m) for ms in exc.field_errors.values() for m in ms]
    return messages or [str(exc.message)]


def upload_page(
    request,
    *,
    start: Callable[[object], ImportJob],
    job_url: str,
    template: str,
    context: Callable[[], dict],
):
    """The upload form. ``start(upload)`` creates the job from the uploaded file and the
    form's options and asks for its dry run; ``context()`` is what the template needs
    besides ``errors``."""
    require(request.user, Action.IMPORT)
    errors: list[str] = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            errors.append(_("Choose a CSV or XLSX file."))
        else:
            try:
                job = start(upload)
                return redirect(job_url, job_id=job.pk)
            except (PermissionDenied, NotFound):
                raise
            except ServiceError as exc:  # ValidationFailed, UnreadableFile
                errors += error_messages(exc)
    return render(request, template, {"errors": errors, **context()}, status=422 if errors else 200)


def job_page(
    request,
    job_id: int,
    *,
    get: Callable[..., ImportJob],
    act: Callable[[ImportJob], None],
    job_url: str,
    templates: tuple[str, str],
    context: Callable[[ImportJob], dict],
):
    """The job page (``templates``: the page, the progress fragment). ``get(user=,
    id=)`` finds the user's job; on POST ``act(job)`` carries out what the form asked
    (it raises ValidationFailed to refuse), then the page is shown again.
    ``context(job)`` must say ``in_progress``."""
    require(request.user, Action.IMPORT)
    job = get(user=request.user, id=job_id)
    errors: list[str] = []
    if request.method == "POST":
        try:
            act(job)
            return redirect(job_url, job_id=job.pk)
        except ValidationFailed as exc:
            errors += error_messages(exc)
        job.refresh_from_db()
    page_context = {**context(job), "errors": errors}
    page, progress = templates
    if request.headers.get("HX-Request") and request.GET.get("partial"):
        if page_context["in_progress"]:
            return render(request, progress, page_context)
        response = HttpResponse("")
        response["HX-Refresh"] = "true"
        return response
    return render(request, page, page_context, status=422 if errors else 200)
