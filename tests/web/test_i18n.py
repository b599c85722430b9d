"""Every string a victim can see is translated into every language, placeholders intact."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from safereport.web.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    LOCALES_DIR,
    UNCHECKED_MARK,
    extract_messages,
    extract_plurals,
    negotiate,
    template_context,
    translations,
)

OTHER_LANGUAGES = [code for code in LANGUAGES if code != DEFAULT_LANGUAGE]
_PLACEHOLDER = re.compile(r"%\(\w+\)s")
_NUM = re.compile(r"%\(num\)d")


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
    for msgid, plural in extract_plurals().items():
        message = catalog.get(msgid)  # type: ignore[attr-defined]
        forms = message.string if message is not None else ""
        if plural is not None and not isinstance(forms, tuple):
            untranslated.append(msgid)  # a plural needs every form of the language
        elif message is None or message.fuzzy or not all(
                forms if isinstance(forms, tuple) else [forms]):
            untranslated.append(msgid)
    assert untranslated == [], f"{code}: untranslated: {untranslated[:5]}"


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_placeholders_survive_translation(code: str) -> None:
    for message in _catalog(code):  # type: ignore[attr-defined]
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if not ids[0]:
            continue
        wanted = sorted(set(_PLACEHOLDER.findall(ids[-1])) | set(_NUM.findall(ids[-1])))
        for form in forms:
            if form:
                found = sorted(set(_PLACEHOLDER.findall(form)) | set(_NUM.findall(form)))
                assert found == wanted, (message.id, form)


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


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_each_catalog_says_whether_a_native_speaker_checked_it(code: str) -> None:
    header = _catalog(code).header_comment  # type: ignore[attr-defined]
    assert UNCHECKED_MARK in header or "Checked by a native speaker:" in header


#: The terms that matter most to her (issue 15): every catalogue fixes its word for each, so
#: that one page does not say "codename" three ways.
GLOSSARY_TERMS = ("codename", "consent", "erase", "report", "support service", "withdraw")


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_each_catalog_has_a_glossary_of_the_terms_that_matter(code: str) -> None:
    header = _catalog(code).header_comment  # type: ignore[attr-defined]
    assert "Glossary" in header, f"{code}: no glossary in the catalogue's header"
    terms = dict(
        line.lstrip("# ").split(" = ", 1) for line in header.splitlines() if " = " in line
    )
    for term in GLOSSARY_TERMS:
        matches = [value for key, value in terms.items() if term in key.lower()]
        assert matches and all(v.strip() for v in matches), f"{code}: glossary lacks {term!r}"


#: Issue 15: Portuguese is Brazilian and Spanish Latin American, in every catalog of the language
#: (the victim's pages and the public ones); these European forms must not come back.
_NOT_OF_THE_VARIANT = {
    "pt": r"ficheiros?|registos?|registad[oa]s?|telemóve(l|is)|controlo|ecrã|nomes?-código|"
          r"partilh\w*|descarreg\w*|carregue|equipa|transfer\w*|consigo|porquê",
    "es": r"ordenador(es)?|vosotr[oa]s|vuestr[oa]s?|móvil(es)?|cog(er|e|es)|vídeos?|puls[ae]|"
          r"rellen[ae]|ayuntamiento|visado",
}


@pytest.mark.parametrize("code", sorted(_NOT_OF_THE_VARIANT))
@pytest.mark.parametrize("domain", ["messages", "public"])
def test_portuguese_is_brazilian_and_spanish_latin_american(code: str, domain: str) -> None:
    assert code in LANGUAGES
    variant = {"pt": "Português (Brasil)", "es": "Español (Latinoamérica)"}[code]
    assert LANGUAGES[code].name == variant  # the language list says which one it is
    pattern = re.compile(rf"\b({_NOT_OF_THE_VARIANT[code]})\b", re.IGNORECASE)
    with (LOCALES_DIR / code / "LC_MESSAGES" / f"{domain}.po").open("rb") as handle:
        catalog = read_po(handle, locale=code)
    found = [(form, hit.group(0)) for message in catalog if message.id
             for form in (message.string if isinstance(message.string, tuple)
                          else (message.string,))
             for hit in [pattern.search(str(form))] if hit]
    assert found == [], f"{code}/{domain}: {found[:5]}"


def test_plural_forms_follow_each_language() -> None:
    polish = translations("pl")
    assert [polish.ngettext("%(num)d time", "%(num)d times", n) % {"num": n}
            for n in (1, 3, 5, 22)] == ["1 raz", "3 razy", "5 razy", "22 razy"]
    arabic = translations("ar")
    assert arabic.ngettext("%(num)d time", "%(num)d times", 2) % {"num": 2} == "مرتان (2)"


def test_a_language_is_a_catalog_file(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from safereport.web import i18n

    monkeypatch.setattr(i18n, "LOCALES_DIR", Path(str(tmp_path)))
    assert list(i18n.available_languages()) == ["en"]
    made = i18n.new_catalog("ur")
    assert list(i18n.available_languages()) == ["en", "ur"]
    assert i18n.KNOWN_LANGUAGES["ur"].rtl
    catalog = read_po(made.open("rb"), locale="ur")
    assert UNCHECKED_MARK in catalog.header_comment
    assert {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id} == set(
        extract_messages())
    assert all(not any(m.string) if isinstance(m.string, tuple) else not m.string
               for m in catalog if m.id)


def test_the_translators_template_is_up_to_date() -> None:
    from safereport.web.i18n import TEMPLATE_PATH, template_text

    assert TEMPLATE_PATH.read_bytes() == template_text(), "run python -m safereport.web.i18n"


def test_every_rule_of_every_regime_has_a_reason_in_her_words() -> None:
    """POLICY.md v2 added C-abuse-evidence: every rule id the guard can name has her words."""
    from safereport.domain.vocabulary import Regime
    from safereport.policy.regimes import load_pack
    from safereport.web.victim_support import reasons

    for regime in Regime:
        for rule in load_pack(regime.value).rule_ids():
            assert reasons("en", (rule,))[0][1], f"{regime}: no words for {rule}"
