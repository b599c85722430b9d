"""How staff passwords are hashed: a small Protocol, so that the cost is a seam (STYLE.md 15).

Production hashes with Argon2id at argon2-cffi's defaults (RFC 9106's second recommended
profile: 64 MiB, t=3). Tests hand :class:`UnsafeCheapHasherForTests` to the settings
(``Settings.password_hasher``) instead of patching a module global; its name says what it is
(STYLE.md 3), and nothing in the configuration file or the environment can choose it.
"""

from __future__ import annotations

import secrets
from typing import Protocol

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["Argon2idHasher", "PasswordHasher", "UnsafeCheapHasherForTests"]


class PasswordHasher(Protocol):
    """Makes and checks password hashes (PHC strings)."""

    def hash(self, password: str) -> str:
        """A new salted hash of ``password``."""
        ...

    def verify(self, password_hash: str, password: str) -> bool:
        """True if ``password`` matches; False for a mismatch or an unreadable hash."""
        ...

    def dummy_hash(self) -> str:
        """A hash of nothing anyone knows, verified against when a username is unknown (so a
        miss costs as long as a hit); made on first need and kept."""
        ...


class Argon2idHasher:
    """Argon2id at argon2-cffi's defaults: the production hasher."""

    def __init__(self) -> None:
        self._argon2 = self._make()
        self._dummy: str | None = None

    def _make(self) -> _Argon2:
        return _Argon2()

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def dummy_hash(self) -> str:
        # Made on first need: hashing at import would slow every command.
        if self._dummy is None:
            self._dummy = self.hash(secrets.token_urlsafe(16))
        return self._dummy

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # Two hashers of one kind are the same choice (so two loaded Settings compare equal).
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class UnsafeCheapHasherForTests(Argon2idHasher):
    """Argon2id at the lowest costs (1 MiB, t=1): for tests only, never for real passwords."""

    def _make(self) -> _Argon2:
        return _Argon2(time_cost=1, memory_cost=1024, parallelism=1)
