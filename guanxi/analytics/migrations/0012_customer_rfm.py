"""RFM scores move from four columns of ``CustomerStats`` to a narrow table of their own
(``CustomerRfm``, one row per scored customer), so a recompute that changes most scores
rewrites a small table instead of updating every wide statistics row in all its indexes.
The scores already given are copied over."""

import django.db.models.deletion
from django.db import migrations, models

COPY_SCORES = """
    INSERT INTO analytics_customerrfm (customer_id, r_score, f_score, m_score, segment)
    SELECT customer_id, r_score, f_score, m_score, rfm_segment
    FROM analytics_customerstats
    WHERE r_score > 0 AND rfm_segment <> ''
"""
# Going back: the columns are back (with 0 and '') before this runs.
COPY_SCORES_BACK = """
    UPDATE analytics_customerstats SET
        r_score = (SELECT r.r_score FROM analytics_customerrfm r
                   WHERE r.customer_id = analytics_customerstats.customer_id),
        f_score = (SELECT r.f_score FROM analytics_customerrfm r
                   WHERE r.customer_id = analytics_customerstats.customer_id),
        m_score = (SELECT r.m_score FROM analytics_customerrfm r
                   WHERE r.customer_id = analytics_customerstats.customer_id),
        rfm_segment = (SELECT r.segment FROM analytics_customerrfm r
                       WHERE r.customer_id = analytics_customerstats.customer_id)
    WHERE customer_id IN (SELECT customer_id FROM analytics_customerrfm)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0011_kpi_entry_day_indexes"),
        ("customers", "0006_one_index_per_search_column"),
    ]

    operations = [
        migrations.CreateModel(
            name="CustomerRfm",
            fields=[
                (
                    "customer",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="rfm",
                        serialize=False,
                        to="customers.customer",
                    ),
                ),
                ("r_score", models.PositiveSmallIntegerField(verbose_name="recency score")),
                ("f_score", models.PositiveSmallIntegerField(verbose_name="frequency score")),
                ("m_score", models.PositiveSmallIntegerField(verbose_name="monetary score")),
                ("segment", models.CharField(max_length=20, verbose_name="RFM segment")),
            ],
            options={
                "verbose_name": "RFM scores",
                "verbose_name_plural": "RFM scores",
            },
        ),
        migrations.RunSQL(COPY_SCORES, COPY_SCORES_BACK),
        migrations.RemoveField(model_name="customerstats", name="f_score"),
        migrations.RemoveField(model_name="customerstats", name="m_score"),
        migrations.RemoveField(model_name="customerstats", name="r_score"),
        migrations.RemoveField(model_name="customerstats", name="rfm_segment"),
    ]
