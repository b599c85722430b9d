#!/usr/bin/env python3
"""Check a safereport receipt on your own computer, with nothing but Python 3.8 or later.

A receipt (a file ``receipt-<N>.tlog-proof``) says: "this record of who looked at your data
is entry N of the log". This program checks, without asking anyone:

1. that the log's own key signed the checkpoint (the summary of the whole log) in the receipt;
2. that the entry is really inside the log that checkpoint describes (an inclusion proof);
3. that enough independent witnesses, whom you chose to trust, cosigned that checkpoint:
   each witness has checked that the log only ever grows, so a log that showed you one
   history and everyone else another would have been caught.

Whom to trust is written in a small policy file, one rule per line::

    log <the log's verifier key>
    witness <a witness's verifier key> [its address, for information]
    quorum <how many of the witnesses must have cosigned, or "all">

Usage::

    python3 verify_receipt.py RECEIPT POLICY [ENTRY]

ENTRY is the entry's exact bytes; a receipt from the victim's page carries them already.
Exit status 0 if everything checks, 1 if anything does not (and why), 2 on bad usage.

This file depends on nothing else (not on safereport, not on any cryptography library): the
Ed25519 signature check (RFC 8032) and the Merkle proof check (RFC 9162) are written out
below so that anyone can read what is being checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    _Point = tuple[int, int, int, int]  # extended coordinates: x = X/Z, y = Y/Z, x*y = T/Z

# -- Ed25519 signature verification (RFC 8032, section 5.1.7) ------------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _inverse(value: int) -> int:
    return pow(value, _P - 2, _P)


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * _inverse(_D * y * y + 1) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _add(p: _Point, q: _Point) -> _Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: _Point) -> _Point:
    result = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _same(p: _Point, q: _Point) -> bool:
    return bool((p[0] * q[2] - q[0] * p[2]) % _P == 0 and (p[1] * q[2] - q[1] * p[2]) % _P == 0)


def _decode_point(data: bytes) -> _Point | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


def _base_point() -> _Point:
    y = 4 * _inverse(5) % _P
    x = _recover_x(y, 0)
    if x is None:  # cannot happen: the base point is on the curve
        raise ArithmeticError("the Ed25519 base point")
    return (x, y, 1, x * y % _P)


_BASE = _base_point()


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode_point(public_key)
    r = _decode_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    digest = hashlib.sha512(signature[:32] + public_key + message).digest()
    h = int.from_bytes(digest, "little") % _L
    return _same(_multiply(s, _BASE), _add(r, _multiply(h, a)))


# -- keys, signed notes, checkpoints (C2SP signed-note, tlog-checkpoint, tlog-cosignature) --


class Refused(Exception):
    """The receipt does not check; the message says why in plain words."""


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Refused(f"{what} is not valid base64") from None


class Key:
    """A verifier key: ``<name>+<8 hex digits key id>+<base64(type || 32-byte key)>``."""

    def __init__(self, text: str) -> None:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise Refused(f"not a verifier key: {text.strip()[:60]!r}")
        self.name, hex_id, material = parts
        raw = _b64(material, "a verifier key")
        if len(raw) != 33 or raw[0] not in (0x01, 0x04):
            raise Refused(f"the key of {self.name} is not an Ed25519 key")
        self.kind, self.public = raw[0], raw[1:]
        self.key_id = hashlib.sha256(self.name.encode() + b"\n" + raw).digest()[:4]
        if hex_id.lower() != self.key_id.hex():
            raise Refused(f"the key of {self.name} does not match its key id")


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    text, sep, tail = note.partition("\n\n")
    if not sep or not text or not tail.endswith("\n"):
        raise Refused("the checkpoint in the receipt is damaged")
    lines = []
    for line in tail[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            raise Refused("a signature line of the checkpoint is damaged")
        blob = _b64(parts[2], "a signature")
        lines.append((parts[1], blob[:4], blob[4:]))
    return text + "\n", lines


def _lines_of(key: Key, signatures: list[tuple[str, bytes, bytes]]) -> list[bytes]:
    return [sig for name, key_id, sig in signatures if name == key.name and key_id == key.key_id]


# -- the Merkle tree (RFC 6962 hashes, RFC 9162 section 2.1.3.2 inclusion) -----------------


def _leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def inclusion_root(index: int, size: int, leaf_hash: bytes, proof: list[bytes]) -> bytes:
    if index >= size:
        raise Refused("the entry's number is beyond the log's size")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise Refused("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = _node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = _node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Refused("the inclusion proof is too short")
    return r


# -- the receipt and the policy ---------------------------------------------------------------


def parse_policy(text: str) -> tuple[Key, list[Key], int]:
    log, witnesses, quorum = None, [], None
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "log" and len(words) == 2 and log is None:
            log = Key(words[1])
        elif words[0] == "witness" and len(words) in (2, 3):
            witnesses.append(Key(words[1]))
        elif words[0] == "quorum" and len(words) == 2 and quorum is None:
            quorum = words[1]
        else:
            raise Refused(f"policy line {number} is not understood: {raw.strip()[:60]!r}")
    if log is None or log.kind != 0x01:
        raise Refused("the policy names no log key (a line 'log <key>')")
    if any(w.kind != 0x04 for w in witnesses):
        raise Refused("a witness key in the policy is not a cosignature key")
    if quorum is None or quorum == "all":
        needed = len(witnesses)
    elif quorum.isdigit() and int(quorum) <= len(witnesses):
        needed = int(quorum)
    else:
        raise Refused(f"the quorum {quorum!r} is not a number of the policy's witnesses")
    return log, witnesses, needed


def check(receipt: str, policy: str, entry: bytes | None = None) -> str:
    """Check a receipt against a policy; returns a sentence saying what holds, or raises."""
    log, witnesses, needed = parse_policy(policy)
    head, sep, note = receipt.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != "c2sp.org/tlog-proof@v1":
        raise Refused("this is not a receipt (a c2sp.org/tlog-proof@v1 file)")
    at = 1
    if len(lines) > at and lines[at].startswith("extra "):
        carried = _b64(lines[at][6:], "the entry in the receipt")
        entry = carried if entry is None else entry
        at += 1
    if len(lines) <= at or not lines[at].startswith("index ") or not lines[at][6:].isdigit():
        raise Refused("the receipt does not say which entry it is about")
    index = int(lines[at][6:])
    proof = [_b64(line, "a proof line") for line in lines[at + 1 :]]
    if entry is None:
        raise Refused("the receipt carries no entry: give the entry file too")
    text, signatures = _split_note(note)
    found = _lines_of(log, signatures)
    if len(found) != 1 or not ed25519_verify(log.public, text.encode(), found[0]):
        raise Refused("the checkpoint is NOT signed by the log's key in your policy")
    body = text[:-1].split("\n")
    if len(body) < 3 or body[0] != log.name or not body[1].isdigit():
        raise Refused("the checkpoint is not one of this log's checkpoints")
    size, root = int(body[1]), _b64(body[2], "the checkpoint's root")
    if inclusion_root(index, size, _leaf_hash(entry), proof) != root:
        raise Refused("the entry is NOT in the log: the inclusion proof does not match")
    cosigned = 0
    for witness in witnesses:
        found = _lines_of(witness, signatures)
        if not found:
            continue
        if len(found) != 1 or len(found[0]) != 72:
            raise Refused(f"the cosignature of {witness.name} is damaged")
        (timestamp,) = struct.unpack(">Q", found[0][:8])
        message = f"cosignature/v1\ntime {timestamp}\n{text}".encode()
        if not ed25519_verify(witness.public, message, found[0][8:]):
            raise Refused(f"the cosignature of {witness.name} is FORGED or damaged")
        cosigned += 1
    if cosigned < needed:
        raise Refused(
            f"only {cosigned} of the witnesses you trust cosigned this checkpoint; "
            f"your policy asks for {needed}"
        )
    return (
        f"OK: entry {index} is in the log {log.name} (which then held {size} entries), "
        f"signed by the log's key and cosigned by {cosigned} of the {len(witnesses)} "
        f"witnesses in your policy ({needed} required)."
    )


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.split("Usage::")[1].split("ENTRY is")[0].strip(), file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as handle:
            receipt = handle.read()
        with open(argv[1], encoding="utf-8") as handle:
            policy = handle.read()
        entry = None
        if len(argv) == 3:
            with open(argv[2], "rb") as raw:
                entry = raw.read()
        print(check(receipt, policy, entry))
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read a file: {exc}", file=sys.stderr)
        return 2
    except Refused as exc:
        print(f"NOT VERIFIED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
