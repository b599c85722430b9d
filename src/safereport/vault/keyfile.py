"""The one routine that writes key files, and the one check before one is read.

Every key the instance keeps on disk goes through :func:`write_key_file`: the vault's
``vault.json``, the TOTP key, the backup key, the web key, the log's and a witness's signing
keys, organisations' disclosure keys, a keys backup and the keys a restore puts back. The file
is written under a temporary name created with ``O_CREAT | O_EXCL`` and mode 0600 (``fchmod``
too, whatever the umask), fsync'd, and only then put in place: by ``link`` for a new key, which
fails if the name is taken, so a key is never replaced by accident and nobody ever reads a
half-written key; by ``rename`` where a key is replaced on purpose. The folder is fsync'd after.

:func:`read_key_file` refuses (ConfigError) a key that is not a regular file, belongs to another
user, or that group or others can use.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from safereport.errors import ConfigError

__all__ = [
    "check_private",
    "fsync_folder",
    "make_key_folder",
    "read_key_file",
    "write_key_file",
]

#: link() is not offered by every file system; then the new file is made in place (O_EXCL).
_NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV})


def make_key_folder(folder: Path) -> None:
    """Make ``folder`` (and its parents) if missing; the folder itself is made 0700."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (0600, O_EXCL), write, fsync; FileExistsError if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Make a rename or link in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_key_file(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` to ``path`` with mode 0600, whole or not at all.

    Without ``replace``, raises FileExistsError if ``path`` exists (a key that may guard data
    is never overwritten). The folder must exist (see :func:`make_key_folder`).
    """
    partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    _write_new(partial, data)
    try:
        if replace:
            os.replace(partial, path)
        else:
            try:
                os.link(partial, path)
            except OSError as exc:
                if exc.errno not in _NO_LINKS:
                    raise
                _write_new(path, data)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    fsync_folder(path.parent)


def check_private(path: Path, what: str = "the key file") -> os.stat_result:
    """The file's stat; ConfigError unless it is a regular file only its owner can use."""
    try:
        info = path.lstat()
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {path} is missing") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{what} {path} is not a regular file")
    if info.st_mode & 0o077:
        raise ConfigError(
            f"{what} {path} is readable by others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ConfigError(f"{what} {path} belongs to another user")
    return info


def read_key_file(path: Path, what: str = "the key file") -> bytes:
    """The bytes of a key file, after :func:`check_private`."""
    check_private(path, what)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc
