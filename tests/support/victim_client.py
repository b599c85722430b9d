"""The victim's side over HTTP: the TestClient (testclient.py) and sending the report form."""

from __future__ import annotations

import re
from typing import Any

from tests.support.testclient import TestClient

__all__ = ["TestClient", "post_report"]


def post_report(client: TestClient, data: dict[str, Any], *,
                follow_redirects: bool = True) -> Any:
    """POST the report form and, when it waits on "Check your answers" (issue 18), send it
    from there: the answer of the last POST (the card, or a 303 to it)."""
    first = client.post("/report", data=data, follow_redirects=False)
    if not (first.status_code == 303 and first.headers["location"].startswith("/return/check")):
        if follow_redirects and first.status_code == 303:
            return client.get(first.headers["location"])
        return first
    check = client.get(first.headers["location"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', check.text)
    assert token is not None, check.text
    return client.post("/return/check", data={"csrf_token": token.group(1)},
                       follow_redirects=follow_redirects)
