"""One writer per library: an advisory lock on a file in the library folder, released by the OS if the writer dies."""

import errno
import fcntl
import os
from pathlib import Path

from footage.errors import LibraryBusy, LibraryError, LibraryReadOnly


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
            raise LibraryBusy(
                f"{self.path.parent}: another footage process (pid {self.holder()}) is writing to this library; "
                "wait for it to finish (search works meanwhile)"
            )
        return self

    def __exit__(self, *exc) -> None:
        self.release()
