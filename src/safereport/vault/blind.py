"""Keyed blind indexes: exact-match lookup on values that are stored only as ciphertext.

The index holds HMAC-SHA256 under a key of its own (not a KEK, not a data key), so someone
with a copy of the database cannot test guesses of a phone number against it. Values are
normalised first so that ``+44 7700 900123`` and ``07700900123`` find the same case.
"""

from __future__ import annotations

import re
from enum import StrEnum

from safereport.errors import InvalidInput
from safereport.vault._primitives import keyed_digest

__all__ = ["BlindKind", "blind_digest", "normalise"]

_DOMAIN = b"safereport.vault/blind-index/1\x00"
_UK_CODE = "44"
_MAX_INPUT_CHARS = 320


class BlindKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    REFERENCE = "reference"


def _phone(value: str) -> str:
    """Digits in international form without ``+``: UK national numbers gain ``44``."""
    text = value.strip()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    elif digits.startswith("0"):
        international = _UK_CODE + digits[1:]
    else:
        international = digits
    # "+44 (0)7700 ..." keeps a trunk zero after the country code; drop it.
    if international.startswith(_UK_CODE + "0"):
        international = _UK_CODE + international[3:]
    if not 7 <= len(international) <= 15:
        raise InvalidInput("that does not look like a phone number")
    return international


def _email(value: str) -> str:
    text = value.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in text):
        raise InvalidInput("that does not look like an email address")
    return text


def _reference(value: str) -> str:
    text = re.sub(r"[\s-]", "", value).upper()
    if not text:
        raise InvalidInput("a case reference cannot be empty")
    return text


_NORMALISERS = {BlindKind.EMAIL: _email, BlindKind.PHONE: _phone, BlindKind.REFERENCE: _reference}


def normalise(kind: BlindKind, value: str) -> str:
    """The canonical form of ``value``; InvalidInput if it is not a ``kind`` at all."""
    if len(value) > _MAX_INPUT_CHARS:
        raise InvalidInput(f"that {kind} is too long")
    return _NORMALISERS[BlindKind(kind)](value)


def blind_digest(index_key: bytes, kind: BlindKind, value: str) -> str:
    """The blind index of ``value``: hex HMAC-SHA256 over the kind and the normalised value."""
    message = _DOMAIN + kind.encode("ascii") + b"\x00" + normalise(kind, value).encode("utf-8")
    return keyed_digest(index_key, message)
