"""Storage for the victim's return sessions and spent form tokens, shared by every worker.

The web layer (``web.victim_session``) decides what a session holds; this keeps it: a row per
session named by a hash of the cookie's value, its contents sealed (``vault.transient``) with
that hash as associated data, and a row per spent form token. Each call owns its transaction.
"""

from __future__ import annotations

from safereport.errors import VaultError
from safereport.services.instance import Instance
from safereport.store import victim_sessions as store
from safereport.vault.transient import TransientBox

__all__ = ["SessionStore"]


class SessionStore:
    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._box = TransientBox(instance.vault.keys, "return-session")

    def start(self, key: str, expires: float, state: bytes, now: float) -> None:
        with self._instance.engine.begin() as conn:
            store.expire(conn, now)
            store.insert_session(conn, key, expires, self._box.seal(key, state))

    def get(self, key: str, now: float) -> tuple[float, bytes] | None:
        """(expires, state) of a live session, or None (unknown, expired or not sealed here)."""
        with self._instance.engine.connect() as conn:
            row = store.get_session(conn, key, now)
        if row is None:
            return None
        try:
            return row.expires, self._box.open(key, row.sealed)
        except VaultError:
            return None

    def save(self, key: str, state: bytes) -> None:
        with self._instance.engine.begin() as conn:
            store.update_session(conn, key, self._box.seal(key, state))

    def end(self, key: str) -> None:
        with self._instance.engine.begin() as conn:
            store.delete_session(conn, key)

    def spend(self, key: str, expires: float, now: float) -> bool:
        """True the first time a token is spent; False on a replay, on any worker."""
        with self._instance.engine.begin() as conn:
            return store.spend_token(conn, key, expires, now)
