from django import template

from guanxi.analytics.rfm import segment_label

register = template.Library()


@register.filter
def rfm_segment_label(key: str) -> str:
    """The translated name of an RFM segment key ("champions" → "Champions")."""
    return segment_label(key or "")
