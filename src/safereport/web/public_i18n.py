"""Languages for the public transparency pages: a catalog of their own beside the victim pages'.

The public pages (``/statistics``, ``/police-forces``, ``/log/verify``) are shown in every
language the victim pages have, on the victim pages' layout. Their strings live in
``locales/<code>/LC_MESSAGES/public.po`` (the same Babel machinery and language list as
:mod:`safereport.web.i18n`), looked up first, then the victim catalog (for the shared layout:
quick exit, language links, emergency numbers), then English. Keeping them apart lets the two
catalogs change independently. Run ``python -m safereport.web.public_i18n`` after changing a
public page: every new msgid is added, untranslated, to each language's ``public.po``, and the
test suite fails until every one is filled.
"""

from __future__ import annotations

import gettext as _gettext
import io
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from safereport.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, LOCALES_DIR, template_context
from safereport.web.i18n import translations as victim_translations

__all__ = [
    "PUBLIC_SOURCES",
    "UNCHECKED",
    "catalog_path",
    "extract_public",
    "public_context",
    "public_translations",
    "update_public_catalogs",
]

HERE = Path(__file__).parent

#: Every source of a string on the public pages (templates, the view, the labels they show).
PUBLIC_SOURCES: tuple[str, ...] = (
    "templates/public/_figures.html",
    "templates/public/statistics.html",
    "templates/public/release.html",
    "templates/public/forces.html",
    "templates/public/verify.html",
    "public.py",
    "../stats/labels.py",
    "../stats/forcetable.py",
    "../stats/release.py",
    "../stats/tracker.py",
    "../stats/foi.py",
)
_KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}

#: The first line of a public catalog's header comment until a native speaker has checked it.
UNCHECKED = "NOT YET CHECKED BY A NATIVE SPEAKER"


def catalog_path(code: str) -> Path:
    return LOCALES_DIR / code / "LC_MESSAGES" / "public.po"


@cache
def public_translations(code: str) -> _gettext.NullTranslations:
    """The public catalog for ``code``, falling back to the victim catalog, then English."""
    fallback = victim_translations(code)
    path = catalog_path(code)
    if code == DEFAULT_LANGUAGE or not path.is_file():
        return fallback
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=code)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    found = Translations(buffer)
    found.add_fallback(fallback)
    return found


def _newstyle(func: Callable[..., str]) -> Callable[..., str]:
    @pass_context
    def call(context: Context, message: str, **variables: Any) -> str:
        text = func(message)
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


def public_context(code: str) -> dict[str, Any]:
    """:func:`~safereport.web.i18n.template_context` with the public catalog in front."""
    context = template_context(code)
    catalog = public_translations(context["lang"])
    gettext = _newstyle(catalog.gettext)
    context.update({"_": gettext, "gettext": gettext, "ngettext": _plural(catalog.ngettext)})
    return context


def extract_public() -> dict[str, str | None]:
    """Every msgid of :data:`PUBLIC_SOURCES` with its plural msgid (None when it has none)."""
    from babel.messages.extract import extract_from_file

    seen: dict[str, str | None] = {}
    for pattern in PUBLIC_SOURCES:
        for path in sorted(HERE.glob(pattern)) if "*" in pattern else [HERE / pattern]:
            method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
            options = {} if path.suffix == ".py" else {"extensions": "jinja2.ext.i18n",
                                                       "trimmed": "true"}
            for _line, message, _comments, _context in extract_from_file(
                method, str(path.resolve()), keywords=_KEYWORDS, options=options
            ):
                key = message[0] if isinstance(message, tuple) else message
                if key:
                    seen.setdefault(key, message[1] if isinstance(message, tuple) else None)
    return seen


def update_public_catalogs() -> dict[str, int]:
    """Add every new public msgid (untranslated) to each language's ``public.po``."""
    from babel.messages.catalog import Catalog

    wanted = extract_public()
    missing: dict[str, int] = {}
    for code in LANGUAGES:
        if code == DEFAULT_LANGUAGE:
            continue
        path = catalog_path(code)
        if path.is_file():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=code)
        else:
            catalog = Catalog(locale=code, project="safereport", version="0.1",
                              header_comment=f"# {UNCHECKED}\n# Public pages of safereport.",
                              fuzzy=False)
        new = [msgid for msgid in wanted if msgid not in catalog]
        for msgid in new:
            plural = wanted[msgid]
            if plural is None:
                catalog.add(msgid, "")
            else:
                catalog.add((msgid, plural), ("",) * catalog.num_plurals)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100)
        missing[code] = len(new)
    return missing


if __name__ == "__main__":
    for _code, _count in update_public_catalogs().items():
        print(f"{_code}: {_count} new public message(s) to translate")
