"""Telling a user something: an in-app notification, and an e-mail when asked.

Services call ``notify`` inside their transaction; the e-mail is sent after the commit
(``transaction.on_commit``) so a rolled-back change sends nothing. Texts are rendered in
the recipient's language.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import translation

from guanxi.core.models import Notification


def notify(user, *, kind: str, title, body="", url: str = "", email: bool = False) -> Notification:
    """Record a notification for ``user``; ``title`` and ``body`` may be lazy strings,
    rendered in the user's language."""
    with translation.override(user.language or settings.LANGUAGE_CODE):
        title, body = str(title), str(body)
    note = Notification.objects.create(user=user, kind=kind, title=title[:200], body=body, url=url)
    if email and user.email:
        transaction.on_commit(lambda: send_notification_email(note))
    return note


def send_notification_email(note: Notification) -> None:
    link = f"\n\n{settings.GUANXI_BASE_URL.rstrip('/')}{note.url}" if note.url else ""
    send_mail(
        subject=note.title,
        message=f"{note.body}{link}",
        from_email=None,
        recipient_list=[note.user.email],
        fail_silently=False,
    )


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
