"""The funnel as tables for the page and its CSV / XLSX export
(``guanxi.analytics.reports``)."""

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from guanxi.analytics.reports import Table


def funnel_tables(result) -> list[Table]:
    rows = [
        [
            row.stage.name,
            row.stage.probability,
            row.count,
            row.amount,
            row.conversion if row.conversion is not None else "",
            row.avg_days if row.avg_days is not None else "",
        ]
        for row in result.rows
    ]
    funnel = Table(
        name="funnel",
        title=_("Funnel"),
        headers=[
            _("Stage"),
            _("Win probability (%)"),
            _("Opportunities"),
            _("Amount"),
            _("Conversion to next stage (%)"),
            _("Average days in stage"),
        ],
        rows=rows,
    )
    summary = Table(
        name="funnel-summary",
        title=_("Summary"),
        headers=[_("Measure"), _("Value")],
        rows=[
            [_("Period"), f"{result.start.isoformat()} – {result.end.isoformat()}"],
            [_("Opportunities created"), result.total],
            [_("Still open"), result.open],
            [_("Won"), result.won],
            [pgettext("opportunity stage kind", "Lost"), result.lost],
            [_("Win rate (%)"), result.win_rate if result.win_rate is not None else ""],
            [_("Won amount"), result.won_amount],
        ]
        + [
            [_("Lost at: %(stage)s") % {"stage": r.stage.name}, r.count] for r in result.lost_stages
        ],
    )
    return [funnel, summary]
