"""/log/verify: the page that explains receipts, and the two files it hands out (issue 16).

A reader follows the page literally: downloads the verifier and the policy from this instance,
compares the verifier's SHA-256 with the one shown (and with the repository's copy), and runs
the page's own command on a cosigned receipt that carries its entry, as her record holds them.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import html
import re
import shlex
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from tests.support.ledger_helpers import append_n, cosign, make_ledger
from tests.support.paths import ROOT

from safereport.ledger.notes import parse_vkey
from safereport.ledger.publish import PublishRule
from safereport.ledger.verifier import TlogProof, format_proof, parse_policy, parse_proof
from safereport.ledger.witness_client import WitnessEndpoint, cosigned_proof
from safereport.web import public_verify
from safereport.web.security import install_security

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

REPOSITORY_COPY = (ROOT / "src" / "safereport" / "web" / "static"
                   / "verify_receipt.py")
URLS = ("https://w1.example", "https://w2.example")


def _app(instance: object) -> FastAPI:
    app = FastAPI()
    app.state.instance = instance
    install_security(app)
    app.include_router(public_verify.router)
    return app


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[tuple[TestClient, str, bytes]]:
    """A log of 13 entries cosigned by two witnesses, both in the deployment's settings (quorum
    2), and her receipt for entry 5 as her record holds it (the entry carried as ``extra``).

    The instance is a stand-in with the ledger, the publication rule and no settings: the
    witnesses here are in-process, so no background client may try to reach them."""
    ledger = make_ledger(engine)
    append_n(ledger, 13)
    witnesses = cosign(ledger, ledger.checkpoint(new=True), tmp_path)
    rule = PublishRule(witnesses=tuple(WitnessEndpoint(url, parse_vkey(w.vkey))
                                       for url, w in zip(URLS, witnesses, strict=True)),
                       quorum=2)
    proof = parse_proof(cosigned_proof(ledger, 5))
    receipt = format_proof(TlogProof(proof.index, proof.hashes, proof.checkpoint_note,
                                     extra=ledger.entry(5)))
    instance = SimpleNamespace(ledger=ledger, publishing=rule, settings=None, engine=engine)
    with TestClient(_app(instance)) as client:
        yield client, receipt, ledger.entry(6)


def _pre(page: str, element_id: str) -> str:
    found = re.search(rf'<pre dir="ltr"(?: class="command")? id="{element_id}">(.*?)</pre>',
                      page, re.S)
    assert found is not None, element_id
    return html.unescape(found.group(1))


def test_the_served_verifier_is_the_repository_file_and_the_page_shows_its_hash(
    world: tuple[TestClient, str, bytes],
) -> None:
    client, _receipt, _other = world
    served = client.get("/log/verify_receipt.py")
    assert served.status_code == 200
    assert served.content == REPOSITORY_COPY.read_bytes()
    # A plain download: never shown as a page or run by the browser.
    assert served.headers["content-type"] == "text/plain; charset=utf-8"
    assert served.headers["content-disposition"] == 'attachment; filename="verify_receipt.py"'
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    page = client.get("/log/verify").text
    assert _pre(page, "verifier-sha256") == hashlib.sha256(served.content).hexdigest()
    assert _pre(page, "verifier-sha256") == hashlib.sha256(REPOSITORY_COPY.read_bytes()).hexdigest()
    assert client.head("/log/verify_receipt.py").status_code == 200


def test_following_the_page_verifies_her_receipt_offline(
    world: tuple[TestClient, str, bytes], tmp_path: Path,
) -> None:
    client, receipt, other_entry = world
    page = client.get("/log/verify").text
    folder = tmp_path / "folder"
    folder.mkdir()
    # Step 2: the files, from the page's own links.
    links = dict(re.findall(r'<a href="([^"]+)" download="([^"]+)"', page))
    assert set(links.values()) == {"verify_receipt.py", "policy.txt"}
    for href, name in links.items():
        answer = client.get(href)
        assert answer.headers["content-disposition"] == f'attachment; filename="{name}"'
        (folder / name).write_bytes(answer.content)
    (folder / "receipt-42.tlog-proof").write_text(receipt, encoding="utf-8")
    # The policy shown is the one downloaded: this log's key, both witnesses, quorum 2.
    policy = (folder / "policy.txt").read_text(encoding="utf-8")
    assert _pre(page, "policy-text") == policy
    trust = parse_policy(policy)
    assert trust.quorum == 2 and len(trust.witnesses) == 2
    assert _pre(page, "log-key") == trust.log
    assert re.search(r'<p id="quorum">Cosignatures needed: 2 of 2</p>', page)
    for url in URLS:
        assert f'<code dir="ltr">{url}</code>' in page
    # Step 5: the page's command, word for word, with nothing but the standard library.
    words = shlex.split(_pre(page, "verify-command"))
    assert words[0] == "python3"
    command = [sys.executable, "-I", "-S", *words[1:]]
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: entry 5 is in the log")
    assert "cosigned by 2 of the 2 witnesses in your policy (2 required)" in done.stdout
    # The answers the page explains: a receipt missing a cosignature, a changed entry.
    lines = receipt.split("\n")
    one = "\n".join(line for line in lines if not line.startswith("\u2014 witness.example/w2 "))
    (folder / "receipt-42.tlog-proof").write_text(one, encoding="utf-8")
    short = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=300)
    assert short.returncode == 1
    assert "NOT VERIFIED: only 1 of the witnesses you trust cosigned this checkpoint" in (
        short.stderr)
    assert "only … of the witnesses you trust cosigned this checkpoint" in page
    extra = next(line for line in lines if line.startswith("extra "))
    changed = receipt.replace(extra, "extra " + base64.b64encode(other_entry).decode())
    (folder / "receipt-42.tlog-proof").write_text(changed, encoding="utf-8")
    refused = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=300)
    assert refused.returncode == 1 and refused.stderr.startswith("NOT VERIFIED: ")


def test_a_log_without_witnesses_says_what_its_receipts_do_not_prove(
    engine: Engine,
) -> None:
    ledger = make_ledger(engine)
    instance = SimpleNamespace(ledger=ledger, publishing=PublishRule(), settings=None,
                               engine=engine)
    with TestClient(_app(instance)) as client:
        page = client.get("/log/verify").text
        policy = client.get("/log/policy.txt").text
    assert 'id="no-witnesses"' in page and 'id="witnesses-table"' not in page
    assert policy == f"log {ledger.verifier_key()}\nquorum 0\n"
    assert parse_policy(policy).witnesses == ()


def test_the_policy_is_503_without_an_instance_and_the_page_still_explains() -> None:
    with TestClient(_app(None)) as client:
        assert client.get("/log/policy.txt").status_code == 503
        page = client.get("/log/verify")
    assert page.status_code == 200 and "How to check a receipt, step by step" in page.text
    assert 'id="verifier-sha256"' in page.text


_ATTRIBUTES = re.compile(r'\b(?:src|href|action|srcset|poster|data)\s*=\s*"([^"]*)"')


def test_the_page_and_the_verifier_reach_nothing_outside(
    world: tuple[TestClient, str, bytes],
) -> None:
    client, _receipt, _other = world
    page = client.get("/log/verify?lang=ar").text
    addresses = _ATTRIBUTES.findall(page)
    assert addresses, "the scan found the page's links"
    outside = [a for a in addresses if not a.startswith(("/", "#", "tel:", "data:,"))]
    assert outside == []
    # The verifier imports only the standard library's offline modules: no socket, no http.
    tree = ast.parse(REPOSITORY_COPY.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {str(node.module).split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "base64", "binascii", "hashlib", "struct", "sys", "typing"}


def test_the_statistics_page_and_the_log_index_link_to_it() -> None:
    web = Path(public_verify.__file__).parent
    statistics = (web / "templates" / "public" / "statistics.html").read_text(encoding="utf-8")
    assert "url('/log/verify')" in statistics
    her_page = (web / "templates" / "victim" / "return_page.html").read_text(encoding="utf-8")
    record = her_page.index('action="/return/record"')
    assert her_page.index("url('/log/verify')") > record
    assert "/verify\\n" in (web / "tlog.py").read_text(encoding="utf-8")
