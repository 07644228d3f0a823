"""Paths as people type them, and files written whole or not at all: the FAISS index, trained predictors, and
the model caches."""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from footage.errors import BadValue


def expand(path: str | Path) -> Path:
    """A path as typed, with ~ and ~user expanded. Raises BadValue for a ~user that does not exist (Python's
    RuntimeError) and for a NUL, which no file name holds (the OS's ValueError, deep in some later call)."""
    if "\0" in str(path):
        raise BadValue(f"{str(path)!r}: a path cannot hold a NUL character")
    try:
        return Path(path).expanduser()
    except RuntimeError:
        user = str(path).split("/", 1)[0]
        raise BadValue(f"{path}: there is no user {user[1:]!r} whose home {user} could stand for") from None


def write_atomically(path: Path, write: Callable[[BinaryIO], None], durable: bool = False) -> None:
    """Calls `write` on a temporary file beside `path`, then renames it over `path`: a crash leaves the old
    file or the new one, never half of one, and a full disk leaves no temporary file behind. `durable` also
    syncs the file and its folder to the disk (the library's own data; a cache can be made again)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def cache_dir(library: Path | None = None) -> Path | None:
    """Where derived model data (class-name embeddings, Whisper base) is kept between runs:
    $XDG_CACHE_HOME/footage (~/.cache/footage); where that cannot be written (read-only, full), the library's
    cache folder, else a temporary one; None when nothing can be written (nothing is cached)."""
    home = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "footage"
    spare = Path(tempfile.gettempdir()) / f"footage-cache-{os.getuid()}"
    for folder in [home, *([library / "cache"] if library else []), spare]:
        probe = folder / f".probe-{os.getpid()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"\0" * 4096)
            probe.unlink()
            return folder
        except OSError:
            continue
    return None


def resolved(path: Path) -> Path | None:
    """The path with symbolic links resolved; None where they loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop
        return None


def resolve(path: Path) -> Path:
    """The path with symbolic links resolved, or as given where they loop."""
    return resolved(path) or path
