"""Phone numbers, e-mail addresses and Chinese names in the forms we store and search."""

import re

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email
from pypinyin import Style, lazy_pinyin


class InvalidValue(ValueError):
    pass


def normalize_phone(raw: str, region: str | None = None) -> str:
    """E.164 (+8613812345678). Chinese mobiles without a country code are accepted."""
    text = (raw or "").strip()
    if not text:
        return ""
    if not re.search(r"\d", text):
        raise InvalidValue(_("“%(value)s” is not a phone number.") % {"value": raw})
    try:
        number = phonenumbers.parse(text, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValue(_("“%(value)s” is not a phone number.") % {"value": raw}) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue(_("“%(value)s” is not a valid phone number.") % {"value": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_search_key(raw: str) -> str | None:
    """The E.164 form of what a user typed in a search box, or None if it is no phone."""
    try:
        return normalize_phone(raw) or None
    except InvalidValue:
        return None


def normalize_email(raw: str) -> str:
    text = (raw or "").strip()
    if not text:
        return ""
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValue(
            _("“%(value)s” is not a valid e-mail address.") % {"value": raw}
        ) from exc
    return result.normalized.lower()


def name_pinyin(name: str) -> tuple[str, str]:
    """(full pinyin, initials), lower case without spaces: 张伟 → ("zhangwei", "zw").

    Latin letters and digits in the name are kept, so "Amy 王" → ("amywang", "aw")."""
    if not name:
        return "", ""
    spelled = lazy_pinyin(name, style=Style.NORMAL, errors=lambda chars: [chars])
    words = re.findall(r"[a-z0-9]+", " ".join(spelled).lower())
    full = "".join(words)
    initials = "".join(w[0] for w in words)
    return full[:200], initials[:50]
