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
    "LANGUAGES",
    "LOCALES_DIR",
    "N_",
    "Language",
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


LANGUAGES: dict[str, Language] = {
    "en": Language("en", "English"),
    "es": Language("es", "Español"),
    "pt": Language("pt", "Português"),
    "ar": Language("ar", "العربية", rtl=True),
    "pl": Language("pl", "Polski"),
}


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


@cache
def translations(code: str) -> _gettext.NullTranslations:
    """The catalog for ``code`` (English: the identity)."""
    path = LOCALES_DIR / code / "LC_MESSAGES" / "messages.po"
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
    "victim.py",
    "victim_support.py",
)
_KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extract_messages() -> list[str]:
    """Every msgid in :data:`VICTIM_SOURCES`, in first-seen order (for tests and updates)."""
    from babel.messages.extract import extract_from_file

    here = Path(__file__).parent
    seen: dict[str, None] = {}
    for pattern in VICTIM_SOURCES:
        for path in sorted(here.glob(pattern)):
            method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
            options = {} if path.suffix == ".py" else {"extensions": "jinja2.ext.i18n",
                                                       "trimmed": "true"}
            for _line, message, _comments, _context in extract_from_file(
                method, str(path), keywords=_KEYWORDS, options=options
            ):
                key = message[0] if isinstance(message, tuple) else message
                if key:
                    seen.setdefault(key, None)
    return list(seen)


def update_catalogs() -> dict[str, int]:
    """Add every new msgid (untranslated) to each catalog; returns how many were missing.

    Run ``python -m safereport.web.i18n`` after changing a victim page, then translate the
    empty entries (the test suite fails until every one is filled).
    """
    from babel.messages.pofile import write_po

    wanted = extract_messages()
    missing: dict[str, int] = {}
    for code in LANGUAGES:
        if code == DEFAULT_LANGUAGE:
            continue
        path = LOCALES_DIR / code / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=code)
        new = [msgid for msgid in wanted if msgid not in catalog]
        for msgid in new:
            catalog.add(msgid, "")
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100)
        missing[code] = len(new)
    return missing


if __name__ == "__main__":
    for _code, _count in update_catalogs().items():
        print(f"{_code}: {_count} new message(s) to translate")
