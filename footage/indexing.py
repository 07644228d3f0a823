"""An index run's arguments and settings, checked before any model loads or anything is written (Library.index).

A setting that cannot work (a speech model not installed, on-screen text without its reader) is refused here,
before it is stored in the library.
"""

import shutil
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from footage.errors import BadValue, FootageError, LibraryBusy, ModelError
from footage.files import cache_dir, expand, resolve
from footage.indexer import pipeline
from footage.indexer.ocr import check as check_ocr
from footage.indexer.scan import scan
from footage.indexer.speech import Transcriber, transcriber
from footage.indexer.speech import check as check_speech
from footage.settings import Settings
from footage.store import Store
from footage.store.store import MAX_VIEWS
from footage.watch import RECORDINGS

ENGINES = ("local", "ray")


def check_paths(library: Path, paths: Iterable[str | Path]) -> list[str | Path]:
    """The paths an index run is given, refused with BadValue when one is empty (an unset shell variable),
    holds a NUL byte, or lies inside the library's own folder (but for `watch`'s recordings/)."""
    paths = list(paths)
    recordings = resolve(library / RECORDINGS)
    for p in paths:
        if not str(p).strip():
            raise BadValue("an empty path (an unset shell variable?): name the files and folders to index")
        where = resolve(expand(p).absolute())
        if where.is_relative_to(library) and not where.is_relative_to(recordings):
            raise BadValue(f"{p}: is inside the library's own folder; index your videos, not the library")
    return paths


def check_writable(store: Store) -> None:
    """Raises why the library cannot be indexed now: read-only, a full disk, another process writing."""
    if store.cannot_write:
        raise store.cannot_write
    try:
        free = store.lock.acquire()
    except OSError:
        free = True  # the run says why
    if not free:
        raise LibraryBusy(f"{store.path}: another footage process (pid {store.lock.holder()}) is writing")
    store.lock.release()


def check_run(
    library: Path, views: list[str] | None, speech: str | None, engine: str, ray_address: str | None
) -> Callable | None:
    """Refuses a run's arguments that cannot work; returns its engine (None: the local one)."""
    if shutil.which("ffprobe") is None or shutil.which("ffmpeg") is None:
        raise FootageError("footage needs ffmpeg and ffprobe on the PATH (Debian/Ubuntu: apt-get install ffmpeg)")
    if views is not None and len(views) > MAX_VIEWS:
        raise BadValue(f"at most {MAX_VIEWS} views, not {len(views)}")
    if views is not None and (any(not v.strip() for v in views) or len(set(views)) < len(views)):
        raise BadValue("views must be different prompts, none of them empty")
    if speech is not None:
        check_speech(speech)
    if engine not in ENGINES:
        raise BadValue(f"engine must be local or ray, not {engine!r}")
    if ray_address and engine != "ray":
        raise BadValue("a Ray address is for the Ray engine (--engine ray)")
    if engine == "ray":
        from footage.indexer import distributed  # imports Ray only when it is asked for

        return distributed.engine(ray_address, library)  # Ray not installed: said before any model loads
    return None


def run_settings(
    library: Path, settings: Settings, stored: Settings, speech: str | None, ocr: bool | None, device: str
) -> tuple[Settings, Transcriber | None]:
    """The run's settings (the library's `settings`, with this run's `speech` and `ocr` where given, else those
    `stored` now: another process may have changed them) and its speech model (None with speech off)."""
    use = replace(settings, speech=stored.speech if speech is None else speech, ocr=stored.ocr if ocr is None else ocr)
    check_speech(use.speech)
    if "faces" in use.experts:  # before anything is decoded
        from footage.models.faces import check as check_faces

        check_faces()
    try:
        if use.ocr:
            check_ocr()
        return use, transcriber(use, cache_dir(library), pipeline.INFERENCE_THREADS, device)
    except ModelError as e:
        was = "this run's" if (speech, ocr) != (None, None) else "the library's"
        way = "--no-ocr" if use.ocr and "rapidocr" in str(e) else "--speech tiny or --speech off"
        raise ModelError(f"{e}; {was} setting needs it (index with {way} to change it)") from None


def remove(store: Store, library: Path, path, dry_run: bool, confirm) -> list[str]:
    """Library.remove: the videos at or under `path` dropped (or only listed, `dry_run`), under the lock."""
    if not str(path).strip():
        raise BadValue("an empty path (an unset shell variable?): name the file or folder to remove")
    target = expand(path).absolute()

    def under(videos, root: Path) -> list:  # is_relative_to is also true of the path itself
        return [v for v in videos if Path(v.path).is_relative_to(root)]

    def chosen() -> list:
        videos = store.videos().values()
        found = under(videos, target) or under(videos, resolve(target))
        if not found and target.is_dir():  # a folder of links: the videos they lead to
            linked = {str(f) for f in scan([target], skip=library).files}
            found = [v for v in videos if v.path in linked]
        return found

    if dry_run:
        return sorted(v.path for v in chosen())
    with store.writing():
        gone = chosen()
        paths = sorted(v.path for v in gone)
        if len(gone) > 1 and confirm is not None and not confirm(paths):
            return []
        store.remove([v.id for v in gone])
        store.flush()
    return paths
