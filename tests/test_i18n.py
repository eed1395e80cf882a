"""The Simplified Chinese catalogue is complete, compiled, and served.

The .po file is parsed here with plain Python (no polib): every entry must be
translated and not fuzzy, the placeholders of the translation must be those of the
msgid, and the committed .mo must hold exactly what the .po says (a stale .mo means
someone forgot ``django-admin compilemessages``)."""

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.test import Client

LOCALE = Path(__file__).resolve().parent.parent / "guanxi" / "locale"
ZH_PO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
ZH_MO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.mo"
LOGIN = "/accounts/login/"


@dataclass
class Entry:
    line: int
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def translations(self) -> list[str]:
        if self.msgid_plural is None:
            return [self.msgstr]
        return [self.msgstr_plural[k] for k in sorted(self.msgstr_plural)] or [""]


KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr\[(\d+)\]|msgstr)\s+(".*")\s*$')


def parse_po(path: Path) -> list[Entry]:
    """Entries of a .po file, header included; obsolete (#~) entries are left out."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None

    def append(entry: Entry, where: tuple[str, int | None], text: str) -> None:
        name, index = where
        if name == "msgstr_plural":
            entry.msgstr_plural[index] = entry.msgstr_plural.get(index, "") + text
        else:
            setattr(entry, name, (getattr(entry, name) or "") + text)

    pending_flags: set[str] = set()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            current, target = None, None
            continue
        if line.startswith("#~"):
            continue
        if line.startswith("#,"):
            pending_flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
            continue
        if line.startswith("#"):
            continue
        match = KEYWORD.match(line)
        if match:
            keyword, index, literal = match.groups()
            starts_entry = keyword == "msgctxt" or (
                keyword == "msgid" and (target is None or target[0] != "msgctxt")
            )
            if starts_entry:
                current = Entry(line=number, flags=pending_flags)
                pending_flags = set()
                entries.append(current)
            elif current is None:
                raise AssertionError(f"{path}:{number}: {keyword} outside an entry")
            if keyword.startswith("msgstr["):
                target = ("msgstr_plural", int(index))
            else:
                target = (keyword, None)
                if keyword == "msgid_plural":
                    current.msgid_plural = ""
            append(current, target, ast.literal_eval(literal))
        elif line.startswith('"') and current is not None and target is not None:
            append(current, target, ast.literal_eval(line))
        else:
            raise AssertionError(f"{path}:{number}: cannot parse {raw!r}")
    return entries


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return parse_po(ZH_PO)


@pytest.fixture(scope="module")
def messages(entries) -> list[Entry]:
    return [e for e in entries if e.msgid != "" or e.msgctxt]


def _describe(entries: list[Entry]) -> str:
    return "\n".join(f"  line {e.line}: {e.msgid!r}" for e in entries)


def test_the_catalogue_is_parsed(entries, messages):
    assert entries and entries[0].msgid == "", "the header comes first"
    assert len(messages) > 100


def test_the_header_declares_chinese_plural_forms(entries):
    header = entries[0].msgstr
    assert "Plural-Forms: nplurals=1; plural=0;" in header
    assert "charset=UTF-8" in header
    assert "fuzzy" not in entries[0].flags


def test_every_message_is_translated(messages):
    untranslated = [e for e in messages if not all(s.strip() for s in e.translations)]
    assert not untranslated, (
        f"{len(untranslated)} untranslated msgid(s) in {ZH_PO.name}; translate them and "
        f"run compilemessages:\n{_describe(untranslated)}"
    )


def test_no_message_is_fuzzy(messages):
    fuzzy = [e for e in messages if "fuzzy" in e.flags]
    assert not fuzzy, f"fuzzy entries in {ZH_PO.name}:\n{_describe(fuzzy)}"


def test_plural_messages_have_exactly_one_form(messages):
    wrong = [e for e in messages if e.msgid_plural is not None and set(e.msgstr_plural) != {0}]
    assert not wrong, f"Chinese has one plural form (msgstr[0] only):\n{_describe(wrong)}"


PLACEHOLDER = re.compile(r"%\([^)]+\)[sdf]|%%|%[sdf]")


def test_translations_keep_the_placeholders(messages):
    wrong = []
    for e in messages:
        expected = sorted(PLACEHOLDER.findall(e.msgid))
        for s in e.translations:
            if sorted(PLACEHOLDER.findall(s)) != expected:
                wrong.append(e)
                break
    assert not wrong, f"placeholders differ between msgid and msgstr:\n{_describe(wrong)}"


def test_the_compiled_catalogue_matches_the_po(messages):
    with ZH_MO.open("rb") as fp:
        mo = gettext.GNUTranslations(fp)
    assert mo.info().get("plural-forms", "").replace(" ", "") == "nplurals=1;plural=0;"
    stale = []
    for e in messages:
        if e.msgid_plural is None:
            if e.msgctxt is not None:
                got = mo.pgettext(e.msgctxt, e.msgid)
            else:
                got = mo.gettext(e.msgid)
            if got != e.msgstr:
                stale.append(e)
        else:
            for n in (1, 2, 5):
                if e.msgctxt is not None:
                    got = mo.npgettext(e.msgctxt, e.msgid, e.msgid_plural, n)
                else:
                    got = mo.ngettext(e.msgid, e.msgid_plural, n)
                if got != e.msgstr_plural.get(0):
                    stale.append(e)
                    break
    assert not stale, (
        f"{ZH_MO.name} does not match {ZH_PO.name}; run "
        f"`cd guanxi && django-admin compilemessages`:\n{_describe(stale)}"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["zh-hans", "zh-CN,zh;q=0.9,en;q=0.8", "zh"])
def test_the_login_page_speaks_chinese(accept):
    response = Client().get(LOGIN, HTTP_ACCEPT_LANGUAGE=accept)
    assert response.status_code == 200
    html = response.content.decode()
    assert "登录" in html
    assert "用户名" in html
    assert "Log in" not in html
    assert response.headers["Content-Language"] == "zh-hans"


@pytest.mark.django_db
def test_the_login_page_speaks_english():
    response = Client().get(LOGIN, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Log in" in html
    assert "登录" not in html
    assert response.headers["Content-Language"] == "en"
