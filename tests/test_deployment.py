"""The deployment guide's files work as shipped (issue 20): nginx in front, systemd around.

A real nginx (Debian's, installed by ``tasks.py test``) runs deploy/nginx/safereport.conf with
only the server name, the certificate paths, the ports and the log path replaced, in front of
a real ``safereport serve``. Through it: https only (plain http redirects), the app believes
the proxy's ``X-Forwarded-Proto`` and so sends HSTS and a ``Secure`` staff cookie; straight to
the app, the same headers from an untrusted peer are ignored. The systemd unit passes
``systemd-analyze verify`` and names only commands and options that exist.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.support.paths import ROOT

from safereport.cli import main as cli_main
from safereport.domain.vocabulary import ActorRole, OrgKind
from safereport.services import auth
from safereport.services.instance import open_instance
from safereport.services.setup import init_instance
from safereport.services.users import add_org

NGINX_SITE = ROOT / "deploy" / "nginx" / "safereport.conf"
UNIT = ROOT / "deploy" / "systemd" / "safereport.service"
PASSWORD = "a long deployment test password"
#: nginx reaches the app from this address; only it is a trusted proxy.
PROXY_ADDRESS = "127.0.0.2"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on {port}")


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _site(tmp: Path, cert: Path, key: Path, http: int, https: int, app: int) -> Path:
    """The shipped site file with only its deployment-specific values replaced."""
    text = NGINX_SITE.read_text(encoding="utf-8")
    replacements = {
        "/etc/letsencrypt/live/reports.example.org/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/reports.example.org/privkey.pem": str(key),
        "reports.example.org": "localhost",
        "listen 80;": f"listen 127.0.0.1:{http};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
        "proxy_pass http://127.0.0.1:8000;":
            f"proxy_pass http://127.0.0.1:{app};\n        proxy_bind {PROXY_ADDRESS};",
        "/var/log/nginx/safereport.error.log": str(tmp / "site-error.log"),
    }
    for old, new in replacements.items():
        assert old in text, f"the shipped nginx config no longer has {old!r}"
        text = text.replace(old, new)
    # This test's machine may have no IPv6 loopback; the shipped file listens on both.
    text = "\n".join(line for line in text.splitlines() if "listen [::]" not in line)
    site = tmp / "site.conf"
    site.write_text(text, encoding="utf-8")
    return site


def _nginx_main(tmp: Path, site: Path) -> Path:
    temp = {name: tmp / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {tmp / 'nginx.pid'};\n"
        f"error_log {tmp / 'error.log'} warn;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"  client_body_temp_path {temp['body']};\n  proxy_temp_path {temp['proxy']};\n"
        f"  fastcgi_temp_path {temp['fastcgi']};\n  uwsgi_temp_path {temp['uwsgi']};\n"
        f"  scgi_temp_path {temp['scgi']};\n"
        f"  include {site};\n"
        "}\n",
        encoding="utf-8",
    )
    return conf


class Deployment:
    def __init__(self, http: int, https: int, app: int, cert: Path) -> None:
        self.http, self.https, self.app, self.cert = http, https, app, cert

    def through_proxy(self) -> httpx.Client:
        trusted = ssl.create_default_context(cafile=str(self.cert))
        return httpx.Client(base_url=f"https://localhost:{self.https}", verify=trusted)

    def straight_to_app(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.app}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is missing: `python3 tasks.py test` installs it"
    tmp = tmp_path_factory.mktemp("deploy")
    data_dir = init_instance(tmp / "instance")
    instance = open_instance(data_dir)
    with instance.engine.begin() as conn:
        org = add_org(conn, "Safe Haven Support", OrgKind.SUPPORT_SERVICE)
        auth.create_user(conn, org_id=org, username="caseworker", display_name="Caseworker",
                         role=ActorRole.CASEWORKER, password=PASSWORD)
    instance.close()
    http, https, app = _free_port(), _free_port(), _free_port()
    cert, key = _certificate(tmp)
    conf = _nginx_main(tmp, _site(tmp, cert, key, http, https, app))
    check = subprocess.run([nginx, "-t", "-q", "-p", str(tmp), "-c", str(conf)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    env = {**os.environ, "SAFEREPORT_DATA_DIR": str(data_dir),
           "SAFEREPORT_TRUSTED_PROXIES": PROXY_ADDRESS, "SAFEREPORT_SCHEDULER": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "safereport", "serve", "--host", "127.0.0.1", "--port", str(app)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proxy = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(app, server, "safereport serve")
        _wait_for(https, proxy, "nginx")
        yield Deployment(http, https, app, cert)
    finally:
        for process in (proxy, server):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _sign_in(client: httpx.Client) -> httpx.Response:
    page = client.get("/staff/sign-in")
    assert page.status_code == 200
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    headers = {"Origin": str(client.base_url).rstrip("/")}
    return client.post("/staff/sign-in", headers=headers, data={
        "csrf_token": token, "username": "caseworker", "password": PASSWORD})


def test_plain_http_only_redirects_to_https(deployment: Deployment) -> None:
    answer = httpx.get(f"http://127.0.0.1:{deployment.http}/report", follow_redirects=False)
    assert answer.status_code == 301
    assert answer.headers["location"].startswith("https://")


def test_through_the_proxy_the_app_knows_it_is_https(deployment: Deployment) -> None:
    with deployment.through_proxy() as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "max-age=" in page.headers["strict-transport-security"]
        assert "default-src" in page.headers["content-security-policy"]
        assert "/" not in page.headers.get("server", "")  # no version number given away
        signed_in = _sign_in(client)
        assert signed_in.status_code == 303, signed_in.text[:500]
        cookie = signed_in.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_forwarding_headers_from_an_untrusted_peer_are_ignored(deployment: Deployment) -> None:
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-For": PROXY_ADDRESS}
    with deployment.straight_to_app() as client:
        page = client.get("/", headers=forged)
        assert page.status_code == 200
        assert "strict-transport-security" not in page.headers
        client.headers.update(forged)
        signed_in = _sign_in(client)
        assert signed_in.status_code == 303
        assert "secure" not in signed_in.headers["set-cookie"].lower()


def test_an_upload_past_the_apps_limit_is_refused_through_the_proxy(
    deployment: Deployment
) -> None:
    """The proxy streams bodies (no spooling); the app's own per-route limit answers."""
    with deployment.through_proxy() as client:
        answer = client.post("/staff/sign-in", content=b"x" * (1024 * 1024),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 413


def test_the_systemd_unit_verifies_and_names_real_commands(tmp_path: Path) -> None:
    text = UNIT.read_text(encoding="utf-8")
    commands = [line.split("=", 1)[1].split() for line in text.splitlines()
                if line.startswith(("ExecStart=", "ExecStartPre="))]
    assert commands, "the unit starts nothing"
    for command in commands:
        assert command[0] == "/opt/safereport/venv/bin/safereport"
        result = CliRunner().invoke(cli_main, [*command[1:], "--help"])
        assert result.exit_code == 0, (command, result.output)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (Debian's systemd package)")
    # verify needs the ExecStart binaries to exist: point them at this test's venv.
    unit = tmp_path / "safereport.service"
    unit.write_text(text.replace("/opt/safereport/venv/bin/safereport",
                                 str(Path(sys.executable).with_name("safereport"))),
                    encoding="utf-8")
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "safereport.service" in line and ("Unknown" in line or "Invalid" in line)]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
