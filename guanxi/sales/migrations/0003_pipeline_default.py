"""The default sales pipeline and the usual lost reasons, named in the installation's
language (GUANXI_LANGUAGE: zh-hans by default, or en). Admins rename them at will."""

from django.conf import settings
from django.db import migrations

# (zh-Hans, English, kind, win probability %)
STAGES = [
    ("初步接洽", "Qualification", "open", 10),
    ("需求确认", "Needs analysis", "open", 30),
    ("方案报价", "Proposal", "open", 60),
    ("谈判", "Negotiation", "open", 80),
    ("赢单", "Won", "won", 100),
    ("输单", "Lost", "lost", 0),
]
LOST_REASONS = [
    ("价格太高", "Price too high"),
    ("选择了竞争对手", "Chose a competitor"),
    ("预算不足", "No budget"),
    ("时机不对", "Bad timing"),
    ("失去联系", "No response"),
    ("需求不匹配", "Needs not met"),
]
PIPELINE = ("标准销售流程", "Standard sales")


def _chinese() -> bool:
    return str(settings.LANGUAGE_CODE).lower().startswith("zh")


def create_default(apps, schema_editor):
    Pipeline = apps.get_model("sales", "Pipeline")
    Stage = apps.get_model("sales", "Stage")
    LostReason = apps.get_model("sales", "LostReason")
    pick = 0 if _chinese() else 1
    if not Pipeline.objects.exists():
        pipeline = Pipeline.objects.create(name=PIPELINE[pick], position=0, is_default=True)
        Stage.objects.bulk_create(
            [
                Stage(
                    pipeline=pipeline,
                    name=names[pick],
                    kind=kind,
                    probability=probability,
                    position=position,
                )
                for position, (*names, kind, probability) in enumerate(STAGES)
            ]
        )
    if not LostReason.objects.exists():
        LostReason.objects.bulk_create(
            [
                LostReason(name=names[pick], position=position)
                for position, names in enumerate(LOST_REASONS)
            ]
        )


def remove_default(apps, schema_editor):
    Pipeline = apps.get_model("sales", "Pipeline")
    Opportunity = apps.get_model("sales", "Opportunity")
    for pipeline in Pipeline.objects.filter(name__in=PIPELINE):
        if not Opportunity.objects.filter(pipeline=pipeline).exists():
            pipeline.delete()


class Migration(migrations.Migration):
    dependencies = [("sales", "0002_leads_external_id")]

    operations = [migrations.RunPython(create_default, remove_default)]
