"""How to check a receipt yourself: a public page in plain words, and the files it needs.

Without sign-in and without JavaScript, in every language of the victim pages (the public
catalog, :mod:`safereport.web.public_i18n`):

* ``/log/verify``: what a receipt is, what the log's signature and the witnesses'
  cosignatures prove and what they do not, this log's key, witnesses and policy, and the
  check step by step, offline, with the standalone verifier;
* ``/log/verify_receipt.py``: that verifier, exactly the bytes of
  ``web/static/verify_receipt.py`` in the source tree, as a plain-text download (never run or
  shown by the browser: ``attachment``, ``text/plain``, ``nosniff``, a sandbox); the page
  shows its SHA-256, so that a reader can compare the download with the repository's copy;
* ``/log/policy.txt``: a trust policy for this log (its key, its configured witnesses and how
  many of them must cosign: the deployment's ``publish_quorum``, else all of them), the same
  text as ``safereport ledger policy`` prints for that quorum.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from safereport.errors import SafeReportError
from safereport.ledger.verifier import TrustPolicy
from safereport.web.public import render
from safereport.web.victim_support import language_of

__all__ = ["POLICY_PATH", "VERIFIER", "VERIFIER_PATH", "VERIFIER_SHA256", "router", "trust"]

#: The standalone verifier as shipped in the source tree (the one file a reader downloads).
VERIFIER = Path(__file__).parent / "static" / "verify_receipt.py"
VERIFIER_PATH = "/log/verify_receipt.py"
POLICY_PATH = "/log/policy.txt"
_VERIFIER_BYTES = VERIFIER.read_bytes()
VERIFIER_SHA256 = hashlib.sha256(_VERIFIER_BYTES).hexdigest()
_TEXT = "text/plain; charset=utf-8"

router = APIRouter(include_in_schema=False)


def _download(filename: str) -> dict[str, str]:
    # A sandbox on top of the app's policy (web/security.py): opened in a tab by mistake, the
    # file is text that can run nothing.
    return {"Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Security-Policy": "sandbox", "Cache-Control": "no-cache"}


def trust(instance: Any) -> tuple[TrustPolicy, tuple[str, ...]] | None:
    """This log's trust policy and its witnesses' urls (None without a log key)."""
    try:
        vkey = str(instance.ledger.verifier_key())
        rule = instance.publishing
    except (SafeReportError, OSError, AttributeError):
        return None
    keys = tuple(endpoint.verifier.vkey for endpoint in rule.witnesses)
    urls = tuple(endpoint.url for endpoint in rule.witnesses)
    return TrustPolicy(vkey, keys, rule.quorum or len(keys)), urls


@router.get("/log/verify", response_class=HTMLResponse)
def verify_page(request: Request) -> HTMLResponse:
    lang = language_of(request)
    found = trust(request.app.state.instance)
    policy, urls = found if found is not None else (None, ())
    witnesses = []
    if policy is not None:
        for number, vkey in enumerate(policy.witnesses):
            witnesses.append((vkey.split("+", 1)[0], urls[number] if number < len(urls) else ""))
    return render(
        request, "public/verify.html", lang, policy=policy, witnesses=witnesses,
        policy_text=policy.render(urls) if policy is not None else None,
        sha256=VERIFIER_SHA256, verifier_path=VERIFIER_PATH, policy_path=POLICY_PATH,
    )


@router.api_route(VERIFIER_PATH, methods=["GET", "HEAD"])
def verifier_file() -> Response:
    return Response(_VERIFIER_BYTES, media_type=_TEXT, headers=_download("verify_receipt.py"))


@router.api_route(POLICY_PATH, methods=["GET", "HEAD"])
def policy_file(request: Request) -> Response:
    instance = request.app.state.instance
    found = trust(instance) if instance is not None else None
    if found is None:
        raise HTTPException(status_code=503)  # no log key here: no policy to give
    policy, urls = found
    return Response(policy.render(urls), media_type=_TEXT, headers=_download("policy.txt"))
