"""Template tags for the customer 360° page: ``{% customer_stats customer as stats %}``
reads the customer's order statistics (the page has already checked visibility)."""

from django import template

from guanxi.analytics import stats

register = template.Library()


@register.simple_tag
def customer_stats(customer):
    return stats.customer_stats(customer)
