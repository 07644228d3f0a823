"""One writer per library: an advisory lock on a file in the library folder, released by the OS if the writer dies;
or, for a library whose database is PostgreSQL (shared between machines, where a file lock would not reach), an
advisory lock of that database, released by the server when the writer's connection goes."""

import errno
import fcntl
import os
import socket
from pathlib import Path

from footage.errors import LibraryBusy, LibraryError, LibraryReadOnly

# footage's PostgreSQL advisory locks, as (class, key) pairs of 32-bit numbers: pg_locks shows them so
LOCK_CLASS = 0x666F6F74  # "foot"
WRITE_LOCK = f"{LOCK_CLASS}, 1"
MIGRATE_LOCK = f"{LOCK_CLASS}, 2"


class WriteLock:
    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        """Takes the lock if it is free; False when another process holds it. Raises OSError where the lock
        file cannot be made (a read-only library)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def __enter__(self) -> "WriteLock":
        try:
            got = self.acquire()
        except OSError as e:
            if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise LibraryReadOnly(
                    f"{self.path.parent}: the library is read-only ({e.strerror}); search and stats work, changes "
                    "need a writable library"
                ) from None
            raise LibraryError(f"{self.path}: cannot take the write lock ({e.strerror})") from None
        if not got:
            raise busy(self.path.parent, self.holder())
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class AdvisoryLock:
    """WriteLock's counterpart for a PostgreSQL database: pg_try_advisory_lock on a connection of its own, held
    open while the lock is held. The server releases it when that connection ends, so a writer that is killed,
    or whose machine dies, frees the library (once the server notices the connection is gone)."""

    def __init__(self, conninfo: str, name: str):
        self.conninfo = conninfo  # libpq's URI, password and all
        self.name = name  # the database's URL as footage shows it: without the password
        self.fd = None  # the connection holding the lock; None while not held (WriteLock's name: Store tests it)

    def _connect(self):
        import psycopg

        try:  # the application name tells other processes who holds the lock (pg_stat_activity)
            return psycopg.connect(
                self.conninfo, autocommit=True, application_name=f"footage pid {os.getpid()} on {socket.gethostname()}"
            )
        except psycopg.Error as e:
            raise LibraryError(f"{self.name}: cannot reach the library's database ({first_line(e)})") from None

    def acquire(self) -> bool:
        """Takes the lock if it is free; False when another process holds it."""
        conn = self._connect()
        try:
            got = conn.execute(f"SELECT pg_try_advisory_lock({WRITE_LOCK})").fetchone()[0]
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        try:
            # The server notices a writer's machine that died by TCP keepalives: in about 2 minutes, not the
            # system's 2 hours; and a server's idle_session_timeout must not end the session, and the lock, while
            # the writer works (the connection is idle meanwhile). Set for this session alone, where they exist.
            conn.execute(
                "SELECT set_config(name, setting, false) FROM (VALUES ('tcp_keepalives_idle', '60'), "
                "('tcp_keepalives_interval', '10'), ('tcp_keepalives_count', '6'), ('idle_session_timeout', '0')) "
                "AS wanted(name, setting) WHERE name IN (SELECT name FROM pg_settings)"
            )
        except BaseException:
            conn.close()
            raise
        self.fd = conn
        return True

    def release(self) -> None:
        if self.fd is not None:
            conn, self.fd = self.fd, None
            try:  # at once: closing alone lets go only when the server has seen the session end
                conn.execute(f"SELECT pg_advisory_unlock({WRITE_LOCK})")
            except Exception:  # the connection is gone, and the lock with it
                pass
            conn.close()

    def holder(self) -> str:
        """Who holds the lock: "PID on HOST" as its application name says, or "?"."""
        import psycopg

        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::oid AND l.objid = 1 "
                    "AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = "
                    "current_database())",
                    (LOCK_CLASS,),
                ).fetchone()
        except psycopg.Error:
            return "?"
        name = (row[0] if row else None) or ""
        return name.removeprefix("footage pid ") if name.startswith("footage pid ") else "?"

    def __enter__(self) -> "AdvisoryLock":
        if not self.acquire():
            raise busy(self.name, self.holder())
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def busy(library, holder: str) -> LibraryBusy:
    """The error of a second writer, whichever lock refused it."""
    return LibraryBusy(
        f"{library}: another footage process (pid {holder}) is writing to this library; wait for it to finish "
        "(search works meanwhile)"
    )


def first_line(error: Exception) -> str:
    """A database error's message in one line (libpq's run to several, with hints)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
