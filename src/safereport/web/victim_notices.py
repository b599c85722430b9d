"""Her neutral notices in her language, and the worker that sends them (issue 18).

The words are here (the victim catalogs hold them); the sending is
:mod:`safereport.services.notices`. :func:`install` starts its worker thread with the app
when notices are configured, so that no request ever waits for a mail server.
"""

from __future__ import annotations

from typing import Any

from safereport.services import notices
from safereport.web.i18n import LANGUAGES, N_, translations

__all__ = ["install", "translate"]

#: The only words a notice to her ever carries (services.notices.NOTICE_SUBJECT and _BODY).
_WORDS = (N_("New message"), N_("You have a new message. Use your code to read it."))
assert _WORDS == (notices.NOTICE_SUBJECT, notices.NOTICE_BODY)


def translate(lang: str, text: str) -> str:
    """``text`` (one of the notice's words) in ``lang``; English for a language we lack."""
    if lang not in LANGUAGES:
        return text
    return str(translations(lang).gettext(text))


def install(app: Any) -> None:
    """Start the notice worker for the app's instance, if notices are configured."""
    instance = getattr(app.state, "instance", None)
    if instance is not None and notices.config_of(instance.settings).configured:
        notices.start_worker(instance, translate)
