"""What the follow-up pages post, as the plain dicts the services take. The services
validate; these only pick the fields and keep what the user typed for a redisplay."""

from guanxi.sales.models import Activity, Task

ACTIVITY_INPUTS = (
    "kind",
    "subject",
    "body",
    "occurred_at",
    "duration_minutes",
    "outcome",
    "next_follow_up",
)
TASK_INPUTS = ("title", "notes", "due_at", "priority", "owner")
LINKS = ("customer", "lead", "opportunity")


def activity_data(post, *, links: dict | None = None) -> dict:
    """Fields of the activity form; ``links`` (fixed by the page, e.g. the customer of a
    360 page) win over posted ones."""
    data = {k: post.get(k, "") for k in ACTIVITY_INPUTS if k in post}
    for name in LINKS:
        if name in post:
            data[name] = post.get(name) or None
    data.update(links or {})
    return data


def task_data(post, *, links: dict | None = None) -> dict:
    data = {k: post.get(k, "") for k in TASK_INPUTS if k in post}
    if not data.get("owner"):
        data.pop("owner", None)
    for name in LINKS:
        if name in post:
            data[name] = post.get(name) or None
    data.update(links or {})
    return data


def link_params(get) -> dict:
    """?customer=…&lead=…&opportunity=… as ints (others ignored)."""
    links = {}
    for name in LINKS:
        value = get.get(name, "")
        if value.isdigit():
            links[name] = int(value)
    return links


ACTIVITY_KINDS = Activity.Kind.choices
TASK_PRIORITIES = Task.Priority.choices
