"""Refusals on staff pages, answered by the app's exception handlers.

A staff route calls its service and returns its page; it does not catch the service's refusals.
It says once, with a decorator, how a refusal on it is shown:

* :func:`back_to` for the staff pages: an :class:`~safereport.errors.AccessDenied` is the
  denial page (403, with the rule ids and reasons), a :class:`~safereport.errors.NotFound` the
  error page with 404, any other :class:`~safereport.errors.InvalidInput` the error page with
  400; the error page's "Go back" link leads to the address given, which may name the route's
  path parameters (``"/staff/cases/{case_id}"``);
* :func:`shown_by` for pages with their own way (the police-forces tracker shows refused input
  on its own page).

The handlers (:func:`install_error_pages`) look the way up on the endpoint of the route the
request matched, so they answer for plain ``def`` routes run in the threadpool and for the
offloaded ``async def`` ones alike (both raise into the route's own exception handling). A
refusal from a route that declares nothing (her pages and the public ones show their own) is
raised on as if there were no handler: a server error, as before. The API is a mounted app
with its own JSON errors; these handlers never see its requests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import Response

from safereport.errors import AccessDenied, InvalidInput, NotFound
from safereport.web.auth import render_staff

__all__ = ["ErrorPages", "back_to", "error_pages_of", "install_error_pages", "shown_by"]

F = TypeVar("F", bound=Callable[..., Any])

#: The endpoint attribute that holds its :class:`ErrorPages` (copied by ``functools.wraps``,
#: so a wrapped endpoint keeps it: :mod:`safereport.web.offload`).
_ATTRIBUTE = "__safereport_error_pages__"


@dataclass(frozen=True)
class ErrorPages:
    """How one route shows a refusal: the page for a denial, and the page for refused input
    (a :class:`~safereport.errors.NotFound` included)."""

    denied: Callable[[Request, AccessDenied], Response]
    invalid: Callable[[Request, InvalidInput], Response]


def staff_denied(request: Request, exc: AccessDenied) -> Response:
    """The staff denial page: 403, the message, the rule ids and the reasons."""
    return render_staff(request, "staff/denied.html", status_code=403, message=str(exc),
                        rules=exc.rules, reasons=exc.reasons)


def staff_invalid(request: Request, exc: InvalidInput, *, back: str) -> Response:
    """The staff error page: 404 for what is not found, 400 for other refused input, with a
    link to ``back`` (its ``{name}`` parts filled from the request's path parameters)."""
    status = 404 if isinstance(exc, NotFound) else 400
    return render_staff(request, "staff/error.html", status_code=status, message=str(exc),
                        back=back.format_map(request.path_params), typed=_typed(request))


def _typed(request: Request) -> list[tuple[str, str]]:
    """The text a staff member wrote in the refused form (a note, a reason, a reference),
    given back on the error page to copy before going back: "Go back" reloads an empty form
    (the walk-through of 2026-12-03 lost a long note so). Choices and ids are not text."""
    form = getattr(request.state, "staff_form", None)
    if form is None:
        return []
    return [(name, value) for name, value in form.multi_items()
            if isinstance(value, str) and name != "csrf_token"
            and (len(value.strip()) > 20 or " " in value.strip())]


def shown_by(pages: ErrorPages) -> Callable[[F], F]:
    """Decorate a route: a refusal on it is shown by ``pages``."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTRIBUTE, pages)
        return endpoint

    return mark


def back_to(address: str) -> Callable[[F], F]:
    """Decorate a staff route: a refusal on it is the staff denial or error page, whose link
    leads to ``address`` (for example ``"/staff/cases/{case_id}"``)."""
    return shown_by(ErrorPages(denied=staff_denied,
                               invalid=functools.partial(staff_invalid, back=address)))


def error_pages_of(endpoint: Any) -> ErrorPages | None:
    """The pages ``endpoint`` declared, or None."""
    pages = getattr(endpoint, _ATTRIBUTE, None)
    return pages if isinstance(pages, ErrorPages) else None


def _refused(request: Request, exc: Exception) -> Response:
    """The handler for AccessDenied and InvalidInput (NotFound with it). A plain ``def``:
    Starlette runs it in the threadpool, where a page may read the database."""
    pages = error_pages_of(request.scope.get("endpoint"))
    if pages is not None:
        if isinstance(exc, AccessDenied):
            return pages.denied(request, exc)
        if isinstance(exc, InvalidInput):
            return pages.invalid(request, exc)
    raise exc


def install_error_pages(app: FastAPI) -> None:
    """Answer the refusals of routes that declared their pages (see the module)."""
    for kind in (AccessDenied, NotFound, InvalidInput):
        app.add_exception_handler(kind, _refused)
