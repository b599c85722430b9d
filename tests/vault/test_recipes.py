"""The vault's recipes (issue 12): data sealed by the code they replaced still opens, and every
failure to open is the one opaque VaultError.

The golden values below were made by the code before the recipes (services/auth.py's own
AES-GCM, services/disclosure_seal.py's own X25519 and HKDF, services/backup.py's own STREAM
and scrypt) with fixed keys; they are the formats on disk and in databases today.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safereport.errors import VaultError
from safereport.services import backup
from safereport.services.auth import TotpSealer
from safereport.services.disclosure_seal import SealedPackage, open_package, seal_package
from safereport.vault.recipes import (
    RecipientSealed,
    SecretBox,
    SigningKey,
    StreamOpener,
    StreamSealer,
    new_recipient_key,
    open_as_recipient,
    open_under_passphrase,
    seal_to_recipient,
    seal_under_passphrase,
    verify_signature,
)

KEY = bytes(range(32))
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
OLD_TOTP_USER = bytes.fromhex(
    "013903a9c24037e999f9934a61f9fe88cf1166cfa73c99e74df366025e4874e5f3e1546401bb580f0651f6f0"
    "42e9ea9898a55939a4adbf8c2bfa766260"
)
OLD_TOTP_PENDING = "AOPGHQYr4CdVIBeDk6FAUhsagw2dCoGrXo5XLeEAHwaiJ7PphIE4ej-ltRcHBl90"
ORG_PRIVATE = bytes(range(100, 132))
OLD_PACKAGE = SealedPackage(
    bytes.fromhex("3d87cd389d7c8faf95a0bc1b7637ec755977bd533397e34d29f5001591d5c31d"),
    bytes.fromhex("95779983776952f4ad0aea75"),
    bytes.fromhex("ae6751c31ab15e6f1e22668ef0f688c76dfaebb1b3cdca5151d88b45861bdee7"),
)
# Header {"format": 1}, chunks of 16 bytes: b"0123456789abcdef0123456789abcdef-end".
OLD_ARCHIVE = bytes.fromhex(
    "534146455245504f52542d4241434b55502f310a0000000d7b22666f726d6174223a20317d5139cf13ac86a8"
    "00000020ad645670de424167fa3144953c813f44bfa14eab21c7a5fa75b499a94d99f41100000020cec40b97"
    "0119e67f8205460d4da6e6a7621978649cf678e54a5a75b3696b85dc000000149c3051bd10f774f2223ecc21"
    "d767cf91dcd7ee46"
)
# export_keys of {"backup.key": KEY, "vault.json": b"{}"} under "correct horse battery".
OLD_KEYS_BACKUP = bytes.fromhex(
    "534146455245504f52542d4b4559532f310a0000009f7b2263726561746564223a2022323032362d31322d30"
    "315431353a34343a34392b30303a3030222c2022666f726d6174223a20312c2022696e7374616e63655f6964"
    "223a2022696e73742d31222c20226b6466223a2022736372797074222c20226e223a2033323736382c202270"
    "223a20312c202272223a20382c202273616c74223a20226249784b4a426675316f2f396555446e615875746a"
    "513d3d227d86d4194a556c3f75da99009efae6f170547761b54b1b19801fcdda577614dbd5022aa676c6a75b"
    "7a81f06ed48a220c571c694fdcae58122b42a9e8947e681cbb6ee5d11747683fa76cd3a9c88d90f2b8812a0d"
    "d5809e520a7faf5c723f8c3132e0a3fdf8e1746c7393ebff910587be4e"
)


# --- old data still opens -------------------------------------------------------------------


def test_totp_secrets_sealed_before_the_recipes_still_open() -> None:
    sealer = TotpSealer(KEY)
    assert sealer.open(OLD_TOTP_USER, "user-1") == TOTP_SECRET
    assert sealer.open_pending(OLD_TOTP_PENDING, "th-1") == TOTP_SECRET
    # ...and stay bound to their owner.
    assert sealer.open(OLD_TOTP_USER, "user-2") is None
    assert sealer.open_pending(OLD_TOTP_PENDING, "th-2") is None


def test_totp_secrets_keep_their_format() -> None:
    sealer = TotpSealer(KEY)
    sealed = sealer.seal(TOTP_SECRET, "user-1")
    assert sealed[:1] == b"\x01" and len(sealed) == len(OLD_TOTP_USER)
    pending = sealer.seal_pending(TOTP_SECRET, "th-1")
    assert len(pending) == 64 == len(OLD_TOTP_PENDING)


def _org_keys(tmp_path: Path) -> Path:
    (tmp_path / "orgs").mkdir(mode=0o700)
    path = tmp_path / "orgs" / "org1.x25519"
    path.write_bytes(ORG_PRIVATE)
    path.chmod(0o600)
    return tmp_path


def test_a_disclosure_package_sealed_before_the_recipes_still_opens(tmp_path: Path) -> None:
    keys = _org_keys(tmp_path)
    assert open_package(keys, "org1", b"disclosure-1", OLD_PACKAGE) == b"the package body"
    with pytest.raises(VaultError):
        open_package(keys, "org1", b"disclosure-2", OLD_PACKAGE)
    with pytest.raises(VaultError):  # no key for that organisation: the same opaque error
        open_package(keys, "org2", b"disclosure-1", OLD_PACKAGE)


def test_a_package_sealed_now_opens_with_the_same_key_file(tmp_path: Path) -> None:
    keys = _org_keys(tmp_path)
    from safereport.vault import _primitives

    _, public = _primitives.x25519_shared(ORG_PRIVATE, new_recipient_key()[1])
    package = seal_package(public, b"disclosure-3", b"another body")
    assert open_package(keys, "org1", b"disclosure-3", package) == b"another body"


def test_an_archive_sealed_before_the_recipes_still_opens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backup, "_CHUNK", 16)
    handle = io.BufferedReader(io.BytesIO(OLD_ARCHIVE))
    header, _fields = backup._read_header(handle)
    body = b"".join(backup._open_chunks(handle, KEY, header))
    assert body == b"0123456789abcdef0123456789abcdef-end"


def test_an_archive_missing_its_last_chunk_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backup, "_CHUNK", 16)
    cut = OLD_ARCHIVE[: -(4 + 20)]  # the last chunk (length prefix and 4 + 16 bytes) gone
    handle = io.BufferedReader(io.BytesIO(cut))
    header, _fields = backup._read_header(handle)
    with pytest.raises(backup.BackupDamaged, match="chunk 1 fails"):
        b"".join(backup._open_chunks(handle, KEY, header))


def test_a_keys_backup_made_before_the_recipes_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.srkeys"
    path.write_bytes(OLD_KEYS_BACKUP)
    fields, keys = backup._read_keys(path, "correct horse battery")
    assert fields["instance_id"] == "inst-1"
    assert keys == {"backup.key": KEY, "vault.json": b"{}"}
    with pytest.raises(backup.BackupDamaged, match="passphrase is wrong"):
        backup._read_keys(path, "wrong horse battery")


# --- the recipes ----------------------------------------------------------------------------


@given(st.binary(max_size=200), st.text(max_size=20))
def test_a_secret_opens_only_for_its_purpose_and_context(plain: bytes, context: str) -> None:
    box = SecretBox(KEY)
    sealed = box.seal_secret("totp/user", plain, context)
    assert box.open_secret("totp/user", sealed, context) == plain
    for purpose, where in (("totp/pending", context), ("totp/user", context + "x")):
        with pytest.raises(VaultError):
            box.open_secret(purpose, sealed, where)


def test_every_failure_to_open_is_the_one_opaque_error() -> None:
    box = SecretBox(KEY)
    sealed = box.seal_secret("p", b"secret", "c")
    for bad in (b"", sealed[:5], sealed[:-1], sealed[:-1] + bytes([sealed[-1] ^ 1])):
        with pytest.raises(VaultError) as caught:
            box.open_secret("p", bad, "c")
        assert str(caught.value) == str(VaultError())
    with pytest.raises(VaultError):
        SecretBox(bytes(32)).open_secret("p", sealed, "c")
    private, public = new_recipient_key()
    package = seal_to_recipient(public, b"data", b"aad", b"info")
    for wrong in (
        RecipientSealed(bytes(32), package.nonce, package.ciphertext),  # a low-order point
        RecipientSealed(package.ephemeral_public[:5], package.nonce, package.ciphertext),
        RecipientSealed(package.ephemeral_public, package.nonce[:3], package.ciphertext),
    ):
        with pytest.raises(VaultError):
            open_as_recipient(private, wrong, b"aad", b"info")
    with pytest.raises(VaultError):
        open_as_recipient(private[:5], package, b"aad", b"info")
    assert open_as_recipient(private, package, b"aad", b"info") == b"data"


def test_a_stream_refuses_chunks_out_of_place() -> None:
    sealer = StreamSealer(KEY, b"header")
    first, second = sealer.seal(b"one", last=False), sealer.seal(b"two", last=True)
    opener = StreamOpener(KEY, b"header", sealer.prefix)
    assert opener.open(0, first, last=False) == b"one"
    assert opener.open(1, second, last=True) == b"two"
    for index, chunk, last in ((1, first, False), (0, first, True), (1, second, False)):
        with pytest.raises(VaultError):
            opener.open(index, chunk, last=last)
    with pytest.raises(VaultError):
        StreamOpener(KEY, b"other header", sealer.prefix).open(0, first, last=False)


def test_a_passphrase_opens_what_it_sealed_and_nothing_else() -> None:
    cost = {"n": 2**10, "r": 8, "p": 1}
    sealed = seal_under_passphrase("a passphrase", b"salt", b"keys", b"header", **cost)
    assert open_under_passphrase("a passphrase", b"salt", sealed, b"header", **cost) == b"keys"
    with pytest.raises(VaultError):
        open_under_passphrase("another one", b"salt", sealed, b"header", **cost)
    with pytest.raises(VaultError):
        open_under_passphrase("a passphrase", b"salt", sealed, b"header", n=3, r=8, p=1)


def test_ed25519_rfc8032_test_vector_1() -> None:
    """RFC 8032 section 7.1, TEST 1 (empty message)."""
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    key = SigningKey(seed)
    assert key.public_key.hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = key.sign(b"")
    assert signature.hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
        "701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    assert verify_signature(key.public_key, b"", signature)
    assert not verify_signature(key.public_key, b"x", signature)
    assert not verify_signature(key.public_key[:5], b"", signature)
    assert SigningKey(key.seed).public_key == key.public_key


def test_a_key_made_on_first_need_is_whole_and_owner_only(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "keys" / "totp.key"
        first = TotpSealer.load(tmp_path / "keys")
        again = TotpSealer.load(tmp_path / "keys")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert again.open(first.seal(TOTP_SECRET, "u"), "u") == TOTP_SECRET
    assert [p.name for p in path.parent.iterdir()] == ["totp.key"]  # no partial left behind
