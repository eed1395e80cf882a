"""Phone numbers, e-mail addresses and Chinese names in the forms we store and search."""

import re

import email_validator
import phonenumbers
from django.conf import settings
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email
from pypinyin import Style, lazy_pinyin
from pypinyin.seg.simpleseg import seg as pinyin_seg


class InvalidValue(ValueError):
    pass


# Fast path for the common case, a Chinese mobile: 11 ASCII digits starting with 1
# (spaces and dashes anywhere, optionally +86 or 86 in front). In libphonenumber's
# metadata for CN, whether such a number is valid depends on its first digits only (the
# mobile pattern's variable part is in the first 6 digits, then \d{5} or more: checked
# by tests/core/test_normalize.py against the metadata and the slow path), so
# libphonenumber's verdict is cached by the first 7 digits; E.164 is then "+86" + the
# 11 digits. Anything else, and any prefix libphonenumber refuses, takes the slow path.
_CN_MOBILE = re.compile(r"(\+86|86)?(1[0-9]{10})", re.ASCII)
_CN_MOBILE_PREFIXES: dict[str, bool] = {}
_CN_MOBILE_PREFIXES_MAX = 300_000  # of the 1,000,000 possible (~30 MB at most)


def _cn_mobile_prefix_ok(national: str) -> bool:
    prefix = national[:7]
    ok = _CN_MOBILE_PREFIXES.get(prefix)
    if ok is None:
        number = phonenumbers.PhoneNumber(country_code=86, national_number=int(national))
        ok = (
            phonenumbers.is_valid_number(number)
            and phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            == "+86" + national
        )
        if len(_CN_MOBILE_PREFIXES) < _CN_MOBILE_PREFIXES_MAX:
            _CN_MOBILE_PREFIXES[prefix] = ok
    return ok


def normalize_phone(raw: str, region: str | None = None) -> str:
    """E.164 (+8613812345678). Chinese mobiles without a country code are accepted."""
    text = (raw or "").strip()
    if not text:
        return ""
    found = _CN_MOBILE.fullmatch(text.replace(" ", "").replace("-", ""))
    if found is not None:
        country, national = found.groups()
        if (country == "+86" or (region or settings.PHONE_DEFAULT_REGION) == "CN") and (
            _cn_mobile_prefix_ok(national)
        ):
            return "+86" + national
    return _normalize_phone_slow(raw, text, region)


def _normalize_phone_slow(raw: str, text: str, region: str | None) -> str:
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


# Fast path for plain ASCII addresses (most of them): a dot-atom local part of letters,
# digits, "_", "+" and "-"; a domain of at least two labels of letters, digits and inner
# hyphens (no "--", so no Punycode), ending in a letters-only top-level domain that is
# not a special-use name. email_validator accepts all of these and only lower-cases the
# domain; we lower-case the whole address anyway. Anything else goes to email_validator.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}",
    re.ASCII,
)


_special_names: tuple = ()
_special_suffixes: tuple = ()


def _special_use(domain: str) -> bool:
    """A special-use domain name (``localhost``, ``*.test``, ...) that email_validator
    refuses. Its list is read each time (its documentation says it may be changed)."""
    global _special_names, _special_suffixes
    names = tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES)
    if names != _special_names:
        _special_names, _special_suffixes = names, tuple("." + name for name in names)
    return domain in names or domain.endswith(_special_suffixes)


def _plain_email(text: str) -> str | None:
    """The normal form of a plain ASCII address, or None to ask email_validator."""
    if _PLAIN_EMAIL.fullmatch(text) is None or len(text) > 254:
        return None
    lowered = text.lower()
    at = lowered.index("@")
    domain = lowered[at + 1 :]
    if at > 64 or "--" in domain or _special_use(domain):
        return None
    return lowered


def normalize_email(raw: str) -> str:
    text = (raw or "").strip()
    if not text:
        return ""
    plain = _plain_email(text)
    if plain is not None:
        return plain
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValue(
            _("“%(value)s” is not a valid e-mail address.") % {"value": raw}
        ) from exc
    return result.normalized.lower()


# name_pinyin spells a name word by word, the way lazy_pinyin does: pypinyin first cuts
# the text into words (runs of non-Chinese characters; Chinese runs by its phrase
# dictionary), and a word's spelling never depends on its neighbours. Words repeat a
# lot across names (surnames, common given names), so their spelling is kept here.
# (Guanxi never changes pypinyin's dictionaries, which would make these stale.)
_WORD_PINYIN: dict[str, list[str]] = {}
_WORD_PINYIN_MAX = 200_000


def _keep_as_is(chars):
    return [chars]


def _spell(name: str) -> list[str]:
    spelled: list[str] = []
    for word in pinyin_seg(name):
        found = _WORD_PINYIN.get(word)
        if found is None:
            found = lazy_pinyin(word, style=Style.NORMAL, errors=_keep_as_is)
            if len(_WORD_PINYIN) < _WORD_PINYIN_MAX:
                _WORD_PINYIN[word] = found
        spelled += found
    return spelled


def name_pinyin(name: str) -> tuple[str, str]:
    """(full pinyin, initials), lower case without spaces: 张伟 → ("zhangwei", "zw").

    Latin letters and digits in the name are kept, so "Amy 王" → ("amywang", "aw")."""
    if not name:
        return "", ""
    words = _WORDS.findall(" ".join(_spell(name)).lower())
    full = "".join(words)
    initials = "".join(w[0] for w in words)
    return full[:200], initials[:50]


_WORDS = re.compile(r"[a-z0-9]+")
