"""Phones to E.164, e-mails to their normal form, Chinese names to pinyin search keys."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
