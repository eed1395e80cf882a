"""Duplicate pages: the list of candidate pairs, "not duplicates", and the side-by-side
merge. Thin: parse the request, call ``dedup``, render."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateformat import format as date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts.roles import Action, can, require
from guanxi.core.errors import ValidationFailed
from guanxi.customers import dedup, services
from guanxi.web.decorators import service_errors


def _ids(raw) -> list[int]:
    values = raw if isinstance(raw, list) else str(raw or "").split(",")
    ids = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if part.isdigit():
                ids.append(int(part))
    return list(dict.fromkeys(ids))


@service_errors
def duplicate_list(request):
    require(request.user, Action.VIEW)
    pairs = dedup.duplicate_pairs(user=request.user, limit=100)
    return render(
        request,
        "customers/duplicates.html",
        {
            "pairs": pairs,
            "can_merge": can(request.user, Action.MERGE),
            "can_dismiss": can(request.user, Action.CHANGE),
        },
    )


@require_POST
@service_errors
def duplicate_dismiss(request):
    ids = _ids(request.POST.getlist("ids"))
    if len(ids) != 2:
        raise Http404
    first = services.customer_get_for_user(user=request.user, id=ids[0])
    second = services.customer_get_for_user(user=request.user, id=ids[1])
    dedup.duplicate_dismiss(actor=request.user, first=first, second=second)
    if request.headers.get("HX-Request"):
        return HttpResponse("")
    messages.success(
        request,
        _("%(first)s and %(second)s are no longer proposed as duplicates.")
        % {"first": first.name, "second": second.name},
    )
    return redirect("customers:duplicates")


def _extra_rows(records) -> list[dict]:
    """What the merge adds up rather than picks: other phones and e-mails, tags (all
    move to the kept record), and when each record was created."""
    tags = {c.pk: ", ".join(t.name for t in c.tags.all()) for c in records}
    rows = [
        (_("Other phones"), lambda c: ", ".join(c.phones_extra or [])),
        (_("Other e-mails"), lambda c: ", ".join(c.emails_extra or [])),
        (_("Tags"), lambda c: tags[c.pk]),
        (_("Created"), lambda c: date_format(localtime(c.created_at), "Y-m-d H:i")),
    ]
    out = []
    for label, shown in rows:
        values = [{"id": c.pk, "value": shown(c)} for c in records]
        out.append(
            {"label": label, "values": values, "same": len({v["value"] for v in values}) == 1}
        )
    return out


@service_errors
def merge(request):
    require(request.user, Action.MERGE)
    source = request.POST if request.method == "POST" else request.GET
    ids = _ids(source.getlist("ids"))
    if len(ids) < 2:
        messages.error(request, _("Choose at least two customers to merge."))
        return redirect("customers:duplicates")
    records = dedup.merge_candidates(user=request.user, ids=ids)
    by_id = {c.pk: c for c in records}
    try:
        survivor_id = int(source.get("survivor") or 0)
    except ValueError:
        survivor_id = 0
    if survivor_id not in by_id:
        survivor_id = records[0].pk
    rows = dedup.merge_rows(records)
    errors = {}
    if request.method == "POST":
        choices = {}
        for row in rows:
            picked = request.POST.get(f"field_{row['field']}")
            if row["differs"] and picked:
                choices[row["field"]] = picked
        try:
            survivor = dedup.customer_merge(
                actor=request.user,
                survivor=by_id[survivor_id],
                others=[c for c in records if c.pk != survivor_id],
                field_choices=choices,
            )
        except ValidationFailed as exc:
            errors = exc.field_errors
            messages.error(request, str(exc.message))
        else:
            messages.success(
                request,
                _("Merged %(count)d records into %(name)s.")
                % {"count": len(records) - 1, "name": survivor.name},
            )
            return redirect(reverse("customers:detail", args=[survivor.pk]))
    for row in rows:
        picked = request.POST.get(f"field_{row['field']}") if request.method == "POST" else None
        row["chosen"] = int(picked) if picked and picked.isdigit() else None
        if row["chosen"] not in by_id:
            row["chosen"] = dedup.default_choice(row, survivor_id)
        row["errors"] = errors.get(row["field"], [])
    extras = _extra_rows(records)
    return render(
        request,
        "customers/merge.html",
        {
            "records": records,
            "rows": rows,
            "extras": extras,
            "survivor_id": survivor_id,
            "ids": ",".join(str(c.pk) for c in records),
        },
        status=422 if errors else 200,
    )
