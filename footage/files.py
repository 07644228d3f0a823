"""Files written whole or not at all: the FAISS index, trained predictors, and the model caches."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


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
