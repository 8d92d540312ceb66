"""Owner-only modes for the SQLite files: the database, the keystore, their WAL and shm.

The data directory is 0700, but a file's own mode is what protects it once it is copied,
moved or the directory's mode loosened; the files are created 0600 before SQLite opens them
(SQLite gives a database's ``-wal`` and ``-shm`` the mode of the database file itself), and
a file readable or writable by others is refused at start-up, as the key file is: fixing the
mode silently would hide that the data may have been read.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from clientvault.errors import ConfigurationError

#: What SQLite writes beside a database in WAL mode.
_COMPANIONS = ("", "-wal", "-shm", "-journal")


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (``None`` for PostgreSQL or an in-memory one)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def create_private(path: Path) -> None:
    """Create an empty database file with mode 0600 if there is none (an empty file is an
    empty SQLite database), whatever the process's umask."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def refuse_shared(urls: list[str]) -> None:
    """Refuse SQLite files that others than the owner may read or write, naming them all."""
    files = [
        Path(f"{database}{suffix}")
        for url in urls
        if (database := sqlite_file(url)) is not None
        for suffix in _COMPANIONS
    ]
    shared = [
        f"{file} (mode {mode:04o})"
        for file in files
        if (mode := _mode(file)) is not None and mode & 0o077
    ]
    if shared:
        raise ConfigurationError(
            f"database files are readable by others: {', '.join(shared)}; chmod 600 them"
        )


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None
