"""Phones to E.164, e-mails to their normal form, Chinese names to pinyin search keys."""

import random
import re

import email_validator
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin

from guanxi.core import normalize
from guanxi.core.normalize import (
    InvalidValue,
    name_pinyin,
    normalize_email,
    normalize_phone,
    phone_search_key,
)


class TestPhone:
    @pytest.mark.parametrize(
        "raw,e164",
        [
            ("13812345678", "+8613812345678"),
            ("+86 138-1234-5678", "+8613812345678"),
            ("138 1234 5678", "+8613812345678"),
            ("008613812345678", "+8613812345678"),
            ("021-12345678", "+862112345678"),  # Shanghai landline
            ("(010) 8888 8888", "+861088888888"),  # Beijing landline
            ("０１０-８８８８８８８８", "+861088888888"),  # full-width digits
            ("400-820-8820", "+864008208820"),  # service number
            ("+1 650 253 0000", "+16502530000"),
            ("  ", ""),
            ("", ""),
        ],
    )
    def test_it_normalises(self, raw, e164):
        assert normalize_phone(raw) == e164

    @pytest.mark.parametrize(
        "raw", ["abc", "12345", "138123456789", "+86 12345", "1381234567x", "+999 123", "---"]
    )
    def test_it_refuses(self, raw):
        with pytest.raises(InvalidValue, match="phone number"):
            normalize_phone(raw)

    def test_the_search_key_is_none_for_what_is_no_phone(self):
        assert phone_search_key("138 1234 5678") == "+8613812345678"
        assert phone_search_key("zhang") is None
        assert phone_search_key("") is None

    @settings(max_examples=300, deadline=None)
    @given(st.text())
    def test_any_text_gives_e164_or_invalid_value_and_nothing_else(self, raw):
        try:
            result = normalize_phone(raw)
        except InvalidValue:
            return
        assert result == "" or re.fullmatch(r"\+[1-9]\d{6,14}", result)
        assert normalize_phone(result) == result  # idempotent

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet="0123456789 +-()（）．.", max_size=30))
    def test_any_phone_like_text_gives_e164_or_invalid_value(self, raw):
        try:
            result = normalize_phone(raw)
        except InvalidValue:
            return
        assert result == "" or re.fullmatch(r"\+[1-9]\d{6,14}", result)


def _slow_phone(raw: str, region: str | None = None):
    """What normalize_phone answered before its fast path: E.164 or the error message."""
    try:
        return normalize._normalize_phone_slow(raw, (raw or "").strip(), region)
    except InvalidValue as exc:
        return f"error: {exc}"


def _phone(raw: str, region: str | None = None):
    try:
        return normalize_phone(raw, region)
    except InvalidValue as exc:
        return f"error: {exc}"


def _noisy(rng: random.Random, digits: str) -> str:
    """The digits as people type them: spaces and dashes here and there."""
    out = ""
    for d in digits:
        if rng.random() < 0.15:
            out += rng.choice([" ", "-", "  ", " - "])
        out += d
    return out


class TestChineseMobileFastPath:
    """The fast path for 11-digit Chinese mobiles caches libphonenumber's verdict by the
    first 7 digits; these tests hold it to libphonenumber itself."""

    def test_validity_in_the_cn_metadata_never_depends_on_the_last_4_digits(self):
        rng = random.Random(7)
        prefixes = {f"1{rng.randrange(10**6):06d}" for _ in range(20_000)}
        # The prefixes where CN's mobile pattern has its longest variable part.
        prefixes |= {f"174{d:04d}" for d in range(10_000) if d % 7 == 0}
        prefixes |= {f"1{a}{b}0000" for a in range(10) for b in range(10)}
        for prefix in sorted(prefixes):
            verdicts = {
                phonenumbers.is_valid_number(
                    phonenumbers.PhoneNumber(country_code=86, national_number=int(prefix + s))
                )
                for s in ("0000", "9999", f"{rng.randrange(10_000):04d}")
            }
            assert len(verdicts) == 1, prefix

    def test_it_agrees_with_libphonenumber_on_100k_random_numbers(self, monkeypatch):
        monkeypatch.setattr(normalize, "_CN_MOBILE_PREFIXES", {})
        rng = random.Random(42)
        # ~2,000 prefixes, so most numbers hit the cache filled by an earlier one.
        prefixes = [f"1{rng.randrange(10**6):06d}" for _ in range(1_500)]
        prefixes += [f"1{a}{rng.randrange(10**5):05d}" for a in range(10) for _ in range(50)]
        fast_answers = 0
        for i in range(100_000):
            national = rng.choice(prefixes) + f"{rng.randrange(10_000):04d}"
            form = i % 5
            raw = {
                0: national,
                1: "+86" + national,
                2: "86" + national,
                3: "+86 " + _noisy(rng, national),
                4: _noisy(rng, national),
            }[form]
            if normalize._CN_MOBILE.fullmatch(raw.replace(" ", "").replace("-", "")):
                fast_answers += 1
            assert _phone(raw) == _slow_phone(raw), raw
        assert fast_answers == 100_000

    @pytest.mark.parametrize(
        "raw",
        [
            "17912345678",  # a carrier-selection prefix, not a mobile
            "11012345678",
            "12345678901",
            "8617912345678",
            "+86 174 0612 3456",  # 1740[0-5] is a mobile range, 17406 is not
            "17405123456",
            "1381234567８",  # a full-width digit
            "+8613812345678x",
            "++8613812345678",
            "86-13812345678",
            "0086 138 1234 5678",
        ],
    )
    def test_edge_cases_answer_as_libphonenumber_does(self, raw):
        assert _phone(raw) == _slow_phone(raw)

    def test_outside_china_a_bare_11_digit_number_is_left_to_libphonenumber(self):
        for raw in ["13812345678", "8613812345678", "+86 13812345678"]:
            assert _phone(raw, "US") == _slow_phone(raw, "US")


class TestEmail:
    @pytest.mark.parametrize(
        "raw,normal",
        [
            ("WF@Example.COM", "wf@example.com"),
            ("  li.na@example.cn ", "li.na@example.cn"),
            ("", ""),
        ],
    )
    def test_it_normalises(self, raw, normal):
        assert normalize_email(raw) == normal

    @pytest.mark.parametrize("raw", ["a@", "@b.cn", "no-at", "a@b", "x@localhost", "a..b@c.com"])
    def test_it_refuses(self, raw):
        with pytest.raises(InvalidValue, match="e-mail"):
            normalize_email(raw)

    @settings(max_examples=200, deadline=None)
    @given(st.text())
    def test_any_text_gives_an_address_or_invalid_value(self, raw):
        try:
            result = normalize_email(raw)
        except InvalidValue:
            return
        assert result == "" or "@" in result


class TestPlainEmailFastPath:
    """Plain ASCII addresses skip email_validator; whenever the fast path answers,
    email_validator accepts the address and normalises it to the same text."""

    @staticmethod
    def _validator(text: str) -> str | None:
        try:
            return email_validator.validate_email(text, check_deliverability=False).normalized
        except email_validator.EmailNotValidError:
            return None

    @settings(max_examples=600, deadline=None)
    @given(
        st.one_of(
            st.from_regex(normalize._PLAIN_EMAIL, fullmatch=True),
            st.from_regex(r"[a-zA-Z0-9._+\-]{1,70}@[a-zA-Z0-9.\-]{1,70}", fullmatch=True),
            st.text(alphabet="aZ09._+-@", max_size=40),
        )
    )
    def test_whenever_the_fast_path_answers_email_validator_agrees(self, text):
        plain = normalize._plain_email(text)
        if plain is not None:
            validated = self._validator(text)
            assert validated is not None, text
            assert validated.lower() == plain

    @pytest.mark.parametrize(
        "raw",
        [
            "Wang.Fang+crm@Mail.Example.COM",
            "a@b.co",
            "x@localhost.test",  # special-use domains are refused by email_validator
            "x@mail.local",
            "x@ab--cd.com",  # "--" after two letters: only Punycode may do that
            "x@xn--fiqs8s.cn",
            "-x-@a-b.cn",
            ("a" * 64) + "@example.com",
            ("a" * 65) + "@example.com",
            "a@" + ("b" * 63) + ".com",
            "a@" + ("b" * 64) + ".com",
            "a@" + ".".join(["b" * 60] * 4) + ".com",
            "a@b.c0m",
            "a@b.123",
        ],
    )
    def test_edge_cases_answer_as_email_validator_does(self, raw):
        validated = self._validator(raw)
        try:
            result = normalize_email(raw)
        except InvalidValue:
            result = None
        assert result == (validated.lower() if validated is not None else None)

    def test_a_changed_special_use_list_is_followed(self, monkeypatch):
        monkeypatch.setattr(email_validator, "SPECIAL_USE_DOMAIN_NAMES", ["arpa"])
        assert normalize._plain_email("x@shop.test") == "x@shop.test"
        monkeypatch.setattr(email_validator, "SPECIAL_USE_DOMAIN_NAMES", ["arpa", "test"])
        assert normalize._plain_email("x@shop.test") is None


def _reference_pinyin(name: str) -> tuple[str, str]:
    """name_pinyin as it was before it kept the spelling of words: lazy_pinyin on the
    whole name."""
    if not name:
        return "", ""
    spelled = lazy_pinyin(name, style=Style.NORMAL, errors=lambda chars: [chars])
    words = re.findall(r"[a-z0-9]+", " ".join(spelled).lower())
    return "".join(words)[:200], "".join(w[0] for w in words)[:50]


class TestNamePinyinWordCache:
    NAMES = "张伟王芳李娜刘洋陈静曾国藩单田芳乐嘉长孙无忌重庆银行行长朝阳吕布绿女解放军"

    @settings(max_examples=500, deadline=None)
    @given(st.text(alphabet=NAMES + "Amy 123-·〇𠀀", max_size=12))
    def test_it_spells_like_lazy_pinyin_on_the_whole_name(self, name):
        assert name_pinyin(name) == _reference_pinyin(name)

    @settings(max_examples=300, deadline=None)
    @given(st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=8))
    def test_any_chinese_text_is_spelled_like_lazy_pinyin(self, name):
        assert name_pinyin(name) == _reference_pinyin(name)

    def test_the_same_word_in_different_names_is_spelled_in_context(self):
        # 行 is "hang" in 银行 and "xing" alone; 长 "zhang" in 行长, "chang" in 长城.
        for name in ["银行", "行", "行长", "长城", "银行行长", "重庆", "重量"]:
            assert name_pinyin(name) == _reference_pinyin(name)


class TestNamePinyin:
    @pytest.mark.parametrize(
        "name,full,initials",
        [
            ("张伟", "zhangwei", "zw"),
            ("欧阳娜娜", "ouyangnana", "oynn"),
            ("重庆火锅", "chongqinghuoguo", "cqhg"),  # 重 read chóng in a phrase
            ("Amy 王", "amywang", "aw"),
            ("ABC公司", "abcgongsi", "ags"),
            ("李 Lee", "lilee", "ll"),
            ("123号店", "123haodian", "1hd"),
            ("", "", ""),
            ("  ", "", ""),
        ],
    )
    def test_it_spells(self, name, full, initials):
        assert name_pinyin(name) == (full, initials)

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=300))
    def test_any_name_gives_lower_case_search_keys_that_fit_their_columns(self, name):
        full, initials = name_pinyin(name)
        assert re.fullmatch(r"[a-z0-9]*", full) and re.fullmatch(r"[a-z0-9]*", initials)
        assert len(full) <= 200 and len(initials) <= 50
