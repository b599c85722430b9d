"""Languages for the victim's pages: Babel gettext catalogs, chosen per request, no cookie.

The catalogs are ``locales/<code>/LC_MESSAGES/messages.po``; they are compiled in memory when
first used (so a stale ``.mo`` can never be served). The language comes from a ``lang`` query
or form field (links and forms carry it, since no cookie may remember it), then the browser's
``Accept-Language``, then English.

Templates call ``_("...")`` / ``gettext`` / ``ngettext`` (Jinja2's i18n extension, new style:
``_("Hello %(name)s", name=x)``); :func:`template_context` puts this request's functions in
the context, and :func:`install_i18n` installs English fallbacks for pages that do not.
"""

from __future__ import annotations

import gettext as _gettext
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

__all__ = [
    "DEFAULT_LANGUAGE",
    "KNOWN_LANGUAGES",
    "LANGUAGES",
    "LOCALES_DIR",
    "N_",
    "UNCHECKED_MARK",
    "Language",
    "available_languages",
    "extract_messages",
    "extract_plurals",
    "install_i18n",
    "negotiate",
    "template_context",
    "translations",
]

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in the language itself, so that a person can find her own
    rtl: bool = False

    @property
    def direction(self) -> str:
        return "rtl" if self.rtl else "ltr"

    @property
    def comma(self) -> str:
        """Between two items of a line ("today, 14:31"): every right-to-left language offered
        here is written in Arabic script, whose comma is ``،``."""
        return "، " if self.rtl else ", "


#: The languages migrant victims in the UK most need (DESIGN.md section 10), each named in
#: itself. One is offered as soon as its catalog ``locales/<code>/LC_MESSAGES/messages.po``
#: exists: adding a language is adding that file (``python -m safereport.web.i18n --new ur``).
KNOWN_LANGUAGES: dict[str, Language] = {
    "en": Language("en", "English"),
    "ar": Language("ar", "العربية", rtl=True),
    "bn": Language("bn", "বাংলা"),
    "ckb": Language("ckb", "کوردی", rtl=True),
    "es": Language("es", "Español (Latinoamérica)"),
    "fa": Language("fa", "فارسی", rtl=True),
    "gu": Language("gu", "ગુજરાતી"),
    "pa": Language("pa", "ਪੰਜਾਬੀ"),
    "pl": Language("pl", "Polski"),
    "ps": Language("ps", "پښتو", rtl=True),
    "pt": Language("pt", "Português (Brasil)"),
    "ro": Language("ro", "Română"),
    "sq": Language("sq", "Shqip"),
    "ti": Language("ti", "ትግርኛ"),
    "tr": Language("tr", "Türkçe"),
    "ur": Language("ur", "اردو", rtl=True),
    "vi": Language("vi", "Tiếng Việt"),
}

#: The first line of a catalog's header comment until a native speaker has checked it.
UNCHECKED_MARK = "NOT YET CHECKED BY A NATIVE SPEAKER"


def _catalog_path(code: str) -> Path:
    return LOCALES_DIR / code / "LC_MESSAGES" / "messages.po"


def available_languages() -> dict[str, Language]:
    """English and every known language whose catalog is present, in the order above."""
    return {code: language for code, language in KNOWN_LANGUAGES.items()
            if code == DEFAULT_LANGUAGE or _catalog_path(code).is_file()}


LANGUAGES: dict[str, Language] = available_languages()


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


@cache
def translations(code: str) -> _gettext.NullTranslations:
    """The catalog for ``code`` (English: the identity)."""
    path = _catalog_path(code)
    if code == DEFAULT_LANGUAGE or not path.is_file():
        return _gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=code)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


def negotiate(requested: str | None, accept_language: str | None,
              allowed: Iterable[str] = LANGUAGES) -> str:
    """The language to use: an explicit choice, else the browser's preference, else English."""
    allowed = [code for code in allowed if code in LANGUAGES]
    if requested and requested in allowed:
        return requested
    for code in _accepted(accept_language or ""):
        if code in allowed:
            return code
    return DEFAULT_LANGUAGE


def _accepted(header: str) -> list[str]:
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        pieces = part.strip().split(";")
        code = pieces[0].strip().lower().split("-")[0]
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return [code for _, _, code in sorted(ranked)]


def _newstyle(func: Callable[..., str]) -> Callable[..., str]:
    """Jinja's new-style gettext: autoescape the message, then fill ``%(name)s`` safely."""

    @pass_context
    def call(context: Context, message: str, *args: Any, **variables: Any) -> str:
        text = func(message, *args)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables if variables else text

    return call


def _plural(func: Callable[[str, str, int], str]) -> Callable[..., str]:
    @pass_context
    def call(context: Context, singular: str, plural: str, n: int, **variables: Any) -> str:
        variables.setdefault("num", n)
        text = func(singular, plural, n)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return call


def template_context(code: str) -> dict[str, Any]:
    """What a template needs to speak ``code``: gettext functions, ``lang``, ``text_dir``."""
    language = LANGUAGES.get(code, LANGUAGES[DEFAULT_LANGUAGE])
    catalog = translations(language.code)
    gettext = _newstyle(catalog.gettext)
    return {
        "_": gettext,
        "gettext": gettext,
        "ngettext": _plural(catalog.ngettext),
        "lang": language.code,
        "text_dir": language.direction,
        "comma": language.comma,
        "languages": list(LANGUAGES.values()),
    }


def install_i18n(env: Environment) -> None:
    """Enable ``{% trans %}`` and ``_()`` in ``env``, with English as the fallback."""
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
    english = template_context(DEFAULT_LANGUAGE)
    for name in ("_", "gettext", "ngettext"):
        env.globals.setdefault(name, english[name])
    env.policies["ext.i18n.trimmed"] = True


# -- catalog maintenance ----------------------------------------------------------------------

#: Every source of a string a victim can see: these must be translated in every catalog.
VICTIM_SOURCES: tuple[str, ...] = (
    "templates/base.html",
    "templates/victim/*.html",
    "victim*.py",
)
_KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extract_messages() -> list[str]:
    """Every msgid in :data:`VICTIM_SOURCES`, in first-seen order (for tests and updates)."""
    return list(extract_plurals())


def extract_plurals() -> dict[str, str | None]:
    """Every msgid in :data:`VICTIM_SOURCES` with its plural msgid (None when it has none)."""
    from babel.messages.extract import extract_from_file

    here = Path(__file__).parent
    seen: dict[str, str | None] = {}
    for pattern in VICTIM_SOURCES:
        for path in sorted(here.glob(pattern)):
            method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
            options = {} if path.suffix == ".py" else {"extensions": "jinja2.ext.i18n",
                                                       "trimmed": "true"}
            for _line, message, _comments, _context in extract_from_file(
                method, str(path), keywords=_KEYWORDS, options=options
            ):
                key = message[0] if isinstance(message, tuple) else message
                plural = message[1] if isinstance(message, tuple) else None
                if key:
                    seen.setdefault(key, plural)
    return seen


def update_catalogs() -> dict[str, int]:
    """Add every new msgid (untranslated) to each catalog; returns how many were missing.

    Run ``python -m safereport.web.i18n`` after changing a victim page, then translate the
    empty entries (the test suite fails until every one is filled).
    """
    from babel.messages.pofile import write_po

    wanted = extract_plurals()
    missing: dict[str, int] = {}
    for code in available_languages():
        if code == DEFAULT_LANGUAGE:
            continue
        path = _catalog_path(code)
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=code)
        new = [msgid for msgid in wanted if msgid not in catalog]
        for msgid in new:
            plural = wanted[msgid]
            if plural is None:
                catalog.add(msgid, "")
            else:
                catalog.add((msgid, plural), ("",) * catalog.num_plurals)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100)
        missing[code] = len(new)
    return missing


TEMPLATE_PATH = LOCALES_DIR / "messages.pot"


def _template() -> Any:
    from babel.messages.catalog import Catalog

    catalog = Catalog(project="safereport", version="0.1", fuzzy=False,
                      header_comment="# Every msgid of the victim's pages, for translators: "
                                     "copy to <code>/LC_MESSAGES/messages.po\n# (or run "
                                     "python -m safereport.web.i18n --new <code>).")
    for msgid, plural in extract_plurals().items():
        catalog.add(msgid if plural is None else (msgid, plural))
    return catalog


def template_text() -> bytes:
    """The ``messages.pot`` translators start from (no dates, so it changes only with msgids)."""
    from babel.messages.pofile import write_po

    buffer = io.BytesIO()
    write_po(buffer, _template(), width=100, omit_header=True)
    return buffer.getvalue()


def new_catalog(code: str) -> Path:
    """Start the catalog of a known language: every msgid, untranslated, marked unchecked."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    if code not in KNOWN_LANGUAGES or code == DEFAULT_LANGUAGE:
        raise ValueError(f"{code} is not one of {', '.join(KNOWN_LANGUAGES)}")
    path = _catalog_path(code)
    if path.exists():
        raise FileExistsError(path)
    catalog = Catalog(locale=code, project="safereport", version="0.1",
                      header_comment=f"# {UNCHECKED_MARK}\n# {KNOWN_LANGUAGES[code].name} "
                                     "translations for safereport.")
    for msgid, plural in extract_plurals().items():
        if plural is None:
            catalog.add(msgid, "")
        else:
            catalog.add((msgid, plural), ("",) * catalog.num_plurals)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100)
    return path


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--new"] and len(sys.argv) == 3:
        print(f"made {new_catalog(sys.argv[2])}; translate it, then it is offered")
    else:
        for _code, _count in update_catalogs().items():
            print(f"{_code}: {_count} new message(s) to translate")
        TEMPLATE_PATH.write_bytes(template_text())
        print(f"{TEMPLATE_PATH.name}: {len(extract_messages())} message(s)")
