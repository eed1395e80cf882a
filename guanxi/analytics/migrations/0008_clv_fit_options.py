from django.db import migrations, models


def options_from_the_audit_log(apps, schema_editor):
    """Earlier fits had their margin, horizon and discount rate only in their audit
    entry: copy them over where it is found."""
    ClvFit = apps.get_model("analytics", "ClvFit")
    AuditEntry = apps.get_model("core", "AuditEntry")
    entries = AuditEntry.objects.filter(model="analytics.clvfit", action="create").values_list(
        "object_id", "changes"
    )
    for fit_id, changes in entries.iterator():
        if not isinstance(changes, dict):
            continue
        ClvFit.objects.filter(pk=fit_id).update(
            margin=changes.get("margin"),
            horizon_months=changes.get("horizon_months"),
            monthly_discount_rate=changes.get("monthly_discount_rate"),
        )


class Migration(migrations.Migration):
    # 0007 is here only so that the graph has one leaf until the branches are merged.
    dependencies = [
        ("analytics", "0005_kpi_rollup"),
        ("analytics", "0007_customer_facts"),
        ("core", "0003_notifications"),
    ]

    operations = [
        migrations.AddField(
            model_name="clvfit",
            name="margin",
            field=models.FloatField(null=True, verbose_name="margin"),
        ),
        migrations.AddField(
            model_name="clvfit",
            name="horizon_months",
            field=models.PositiveSmallIntegerField(null=True, verbose_name="horizon (months)"),
        ),
        migrations.AddField(
            model_name="clvfit",
            name="monthly_discount_rate",
            field=models.FloatField(null=True, verbose_name="monthly discount rate"),
        ),
        migrations.RunPython(options_from_the_audit_log, migrations.RunPython.noop),
    ]
