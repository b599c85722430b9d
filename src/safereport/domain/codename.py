"""Codenames: seven random words, or 28 digits, stretched with Argon2id into a lookup id and a key.

A codename is the only way back to a pseudonymous report: no account, no e-mail, no cookie.
It is shown once. We keep only what Argon2id makes of it, so a lost codename cannot be
recovered (the report stays; the return door is gone).

The maths (docs/victim.md has the long form):

* the word list has 7776 words (EFF's large list), so one word carries log2(7776) = 12.925
  bits and seven words 90.5 bits: 2**90.5, about 1.7e27 codenames;
* a language with no word list of its own (``codename_words_<code>.txt``, at least 7776 words)
  gets 28 random digits instead, shown in seven groups of four: 28 * log2(10) = 93.0 bits,
  more than the words. Digits need no English and no keyboard switch; any script's digits
  (Arabic-Indic, Persian, Bengali...) are read as the same digits;
* Argon2id with the default parameters (64 MiB, 3 passes, 1 lane) costs about a quarter of a
  second and 64 MiB of memory per guess; online guessing is further capped by rate limits and
  lockouts, and offline (a stolen database) at even a billion guesses a second the expected
  search takes about 2.7e10 years.

Claim codes, which a caseworker hands over so that a person can take a third-party report as
her own, are 80 random bits; they are single-use, so a plain SHA-256 of them is stored.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from argon2.low_level import Type, hash_secret_raw

__all__ = [
    "CLAIM_CODE_ALPHABET",
    "CODENAME_DIGITS",
    "CODENAME_WORDS",
    "DEFAULT_PARAMS",
    "TEST_PARAMS",
    "Argon2Params",
    "CodenameSecret",
    "derive",
    "entropy_bits",
    "hash_claim_code",
    "looks_like_codename",
    "new_claim_code",
    "new_codename",
    "normalise_claim_code",
    "normalise_codename",
    "numeric_entropy_bits",
    "word_list",
    "word_list_languages",
]

#: Words in a codename.
CODENAME_WORDS = 7
#: Digits in a codename for a language without a word list (seven groups of four).
CODENAME_DIGITS = 28
_GROUP = 4
#: A word list must be at least this long, so that seven words carry at least 90.5 bits.
_MIN_LIST = 7776
_OUTPUT_BYTES = 64  # 32 for the lookup id, 32 for the key


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters (RFC 9106)."""

    memory_kib: int = 65_536
    time_cost: int = 3
    parallelism: int = 1


#: For a modest server: 64 MiB and three passes (about 0.25 s on one core of a cheap VPS).
DEFAULT_PARAMS = Argon2Params()
#: For tests only: fast, and far too cheap for real use.
TEST_PARAMS = Argon2Params(memory_kib=64, time_cost=1, parallelism=1)


@dataclass(frozen=True)
class CodenameSecret:
    """What a codename stretches into. ``lookup_id`` is stored; ``key`` never is."""

    lookup_id: str  # 64 hex characters: finds the person's subject row
    key: bytes = b""  # 32 bytes: proves knowledge of the codename beyond the lookup id

    def __repr__(self) -> str:
        return "CodenameSecret(lookup_id='…', key=b'…')"


def _list_file(language: str) -> str:
    return "codename_words.txt" if language == "en" else f"codename_words_{language}.txt"


@cache
def word_list(language: str = "en") -> tuple[str, ...]:
    """The words of ``language``'s list, in list order (comment lines skipped); () if none.

    English is EFF's large list. A list for another language is a file
    ``codename_words_<code>.txt`` next to it, one word a line, at least 7776 distinct words.
    """
    path = resources.files("safereport.domain").joinpath(_list_file(language))
    if not path.is_file():
        return ()
    text = path.read_text("utf-8")
    words = tuple(unicodedata.normalize("NFC", line.strip()).lower()
                  for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if len(set(words)) < _MIN_LIST or len(set(words)) != len(words):
        raise ValueError(f"{_list_file(language)}: need {_MIN_LIST} or more distinct words")
    return words


@cache
def word_list_languages() -> frozenset[str]:
    """Languages with a word list of their own (the others get digits)."""
    names = [entry.name for entry in resources.files("safereport.domain").iterdir()]
    found = {name[len("codename_words_"):-len(".txt")] for name in names
             if name.startswith("codename_words_") and name.endswith(".txt")}
    return frozenset({"en", *found})


@cache
def _word_set() -> frozenset[str]:
    return frozenset(word for code in word_list_languages() for word in word_list(code))


def entropy_bits(words: int = CODENAME_WORDS, language: str = "en") -> float:
    """Bits of entropy of a codename of ``words`` words drawn uniformly from the list."""
    return words * math.log2(len(word_list(language)))


def numeric_entropy_bits(digits: int = CODENAME_DIGITS) -> float:
    """Bits of entropy of a codename of ``digits`` random decimal digits."""
    return digits * math.log2(10)


def new_codename(language: str = "en") -> str:
    """A codename for a person reading ``language``, chosen with the operating system's CSPRNG.

    Seven words of her language's list, separated by spaces; without a list, 28 digits in
    groups of four.
    """
    words = word_list(language) if language in word_list_languages() else ()
    if words:
        return " ".join(secrets.choice(words) for _ in range(CODENAME_WORDS))
    digits = "".join(secrets.choice("0123456789") for _ in range(CODENAME_DIGITS))
    return _grouped(digits)


def _grouped(digits: str) -> str:
    return " ".join(digits[i : i + _GROUP] for i in range(0, len(digits), _GROUP))


def _as_digits(text: str) -> str | None:
    """The ASCII digits of ``text`` if it is only digits (of any script) and separators."""
    out = []
    for char in text:
        if char.isspace() or char in "-.,;:\u200e\u200f":
            continue
        value = unicodedata.decimal(char, None)
        if value is None:
            return None
        out.append(str(value))
    return "".join(out) or None


def normalise_codename(text: str) -> str:
    """Words: lower case, single spaces; commas, dots and line breaks count as spaces.

    Digits (of any script, with any spacing or dashes): ASCII digits in groups of four.
    """
    digits = _as_digits(text)
    if digits is not None:
        return _grouped(digits)
    text = unicodedata.normalize("NFC", text)
    for separator in ",.;:\n\r\t":
        text = text.replace(separator, " ")
    return " ".join(text.lower().split())


def looks_like_codename(text: str) -> bool:
    """Seven listed words, or 28 digits (so a typo can be told apart from a wrong codename)."""
    normal = normalise_codename(text)
    digits = _as_digits(normal)
    if digits is not None:
        return len(digits) == CODENAME_DIGITS
    words = normal.split(" ")
    return len(words) == CODENAME_WORDS and all(word in _word_set() for word in words)


def derive(codename: str, salt: bytes, params: Argon2Params = DEFAULT_PARAMS) -> CodenameSecret:
    """Stretch ``codename`` with Argon2id under the instance's fixed ``salt``.

    The salt is per instance, not per person, because the result must be searchable: the same
    codename always gives the same lookup id on one instance, and a different one elsewhere.
    """
    if len(salt) < 16:
        raise ValueError("the codename salt must be at least 16 bytes")
    raw = hash_secret_raw(
        secret=normalise_codename(codename).encode("utf-8"),
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=_OUTPUT_BYTES,
        type=Type.ID,
    )
    return CodenameSecret(lookup_id=raw[:32].hex(), key=raw[32:])


# -- claim codes ----------------------------------------------------------------------------

#: No 0/O, 1/I/L: easy to read out on the phone.
CLAIM_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CLAIM_CODE_CHARS = 16  # 16 * log2(31) = 79.3 bits


def new_claim_code() -> str:
    """``XXXX-XXXX-XXXX-XXXX``: about 79 random bits."""
    chars = "".join(secrets.choice(CLAIM_CODE_ALPHABET) for _ in range(_CLAIM_CODE_CHARS))
    return "-".join(chars[i : i + 4] for i in range(0, _CLAIM_CODE_CHARS, 4))


def normalise_claim_code(text: str) -> str:
    """Upper case, spaces and dashes dropped."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def hash_claim_code(code: str) -> str:
    """What is stored for a claim code (hex SHA-256 of its normalised form)."""
    return hashlib.sha256(b"safereport-claim\0" + normalise_claim_code(code).encode()).hexdigest()
