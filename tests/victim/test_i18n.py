"""Every string a victim can see is translated into every language, placeholders intact."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from safereport.web.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    LOCALES_DIR,
    extract_messages,
    negotiate,
    template_context,
    translations,
)

OTHER_LANGUAGES = [code for code in LANGUAGES if code != DEFAULT_LANGUAGE]
_PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _catalog(code: str) -> object:
    with (LOCALES_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=code)


def test_the_victim_pages_have_many_strings() -> None:
    messages = extract_messages()
    assert len(messages) > 150
    assert "Quick exit" in messages and "Who has seen my data" in messages


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_every_victim_string_is_translated(code: str) -> None:
    catalog = _catalog(code)
    untranslated = []
    for msgid in extract_messages():
        message = catalog.get(msgid)  # type: ignore[attr-defined]
        if message is None or not message.string or message.fuzzy:
            untranslated.append(msgid)
    assert untranslated == [], f"{code}: untranslated: {untranslated[:5]}"


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_placeholders_survive_translation(code: str) -> None:
    for message in _catalog(code):  # type: ignore[attr-defined]
        if message.id and message.string:
            assert sorted(_PLACEHOLDER.findall(message.id)) == sorted(
                _PLACEHOLDER.findall(message.string)
            ), message.id


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_translations_load_and_differ_from_english(code: str) -> None:
    assert translations(code).gettext("Quick exit") != "Quick exit"


def test_arabic_is_right_to_left() -> None:
    assert template_context("ar")["text_dir"] == "rtl"
    assert template_context("pl")["text_dir"] == "ltr"


@pytest.mark.parametrize(
    ("requested", "header", "expected"),
    [
        ("ar", "en", "ar"),
        (None, "pl-PL,pl;q=0.9,en;q=0.5", "pl"),
        (None, "fr, es;q=0.4", "es"),
        ("xx", "de", "en"),
        (None, None, "en"),
        (None, "pt;q=0, es;q=0.1", "es"),
    ],
)
def test_language_negotiation(requested: str | None, header: str | None, expected: str) -> None:
    assert negotiate(requested, header) == expected
