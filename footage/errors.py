"""The exceptions footage raises. Only the CLI turns them into messages and exit codes."""


class FootageError(Exception):
    """Base class of every error footage raises on purpose."""


class BadValue(FootageError, ValueError):
    """An argument footage does not accept: an empty query or path, a frame rate out of range, a ninth view."""


class VideoError(FootageError):
    """A file could not be indexed: not a video, unreadable, truncated, no video stream."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class ModelError(FootageError):
    """A model could not be loaded (missing package, bad weights)."""


class NotFound(FootageError):
    """A video, segment or job the library does not have, or a video whose file is gone or changed."""


class LibraryBusy(FootageError):
    """Another process is writing to the library."""


class LibraryError(FootageError):
    """The library folder is unusable (wrong backbone, newer schema, not writable)."""


class NoLibrary(LibraryError):
    """The folder holds no library: only `index` makes one."""


class LibraryReadOnly(LibraryError):
    """The library can be searched but not changed (a read-only medium, a snapshot, another user's folder)."""


class LibraryDamaged(LibraryError):
    """The library's database cannot be read: `footage repair` rebuilds it."""


class DiskFull(FootageError):
    """No space left to write the library (what was written before is kept)."""
