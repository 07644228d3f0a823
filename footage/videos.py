"""One video at a time: the file of an indexed one, opened to be served or cut (always the very file that was
indexed), and any video's timeline (`describe`)."""

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from footage.errors import BadValue, NotFound
from footage.files import expand, resolve
from footage.indexer import pipeline
from footage.indexer.clip import MAX_CLIP_SECONDS, cut
from footage.models import Models
from footage.search import timeline
from footage.search.timeline import Event
from footage.settings import MAX_FPS
from footage.store import Store
from footage.store.store import disk_full


@dataclass
class Media:
    """An indexed video's file, open and checked to be the one indexed; a context manager that closes it."""

    path: Path
    fd: int
    size: int
    start_time: float  # container time of its first frame

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Media":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def valid_id(x: int) -> bool:
    """An id SQLite can hold (a request may carry any number)."""
    return isinstance(x, int) and 0 <= x < 1 << 62


def open_video(store: Store, video_id: int) -> Media:
    """The file of an indexed video, opened to be served: the very file that was indexed, at its path with no
    link on the way (it was stored with links resolved), with the same inode, size, mtime and ctime.
    Raises NotFound saying why otherwise: a file moved, deleted, edited in place, replaced (rsync, a hard
    link), or reached through a link swapped in since. The caller closes it."""
    row = store.video_row(video_id) if valid_id(video_id) else None
    if row is None or row.status != "indexed":
        raise NotFound(f"video {video_id}: not in the library")
    path = Path(row.path)
    if os.path.realpath(path) != str(path):
        raise NotFound(f"video {video_id}: a link now stands on the way to its file; index it again")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise NotFound(f"video {video_id}: its file is gone from {row.path}") from None
    st = os.fstat(fd)
    indexed = (row.size, row.mtime, row.inode or st.st_ino, row.ctime or st.st_ctime)
    if not stat.S_ISREG(st.st_mode) or (st.st_size, st.st_mtime, st.st_ino, st.st_ctime) != indexed:
        os.close(fd)
        raise NotFound(f"video {video_id}: its file changed since it was indexed; index it again")
    return Media(path, fd, st.st_size, row.start_time or 0.0)


def clip(store: Store, video_id: int, start: float, end: float, to: Path, pad: float = 0.0) -> Path:
    """Writes the moment start..end (widened by `pad` seconds each side, at most MAX_CLIP_SECONDS) of a
    video as an MP4 at `to`: the stream copied when the cut falls on a keyframe, else re-encoded."""
    if not all(math.isfinite(x) for x in (start, end, pad)) or start < 0 or end <= start or pad < 0:
        raise BadValue(f"a clip needs 0 <= start < end and pad >= 0, not {start}, {end}, {pad}")
    if end - start + 2 * pad > MAX_CLIP_SECONDS:
        raise BadValue(f"a clip of {end - start + 2 * pad:.0f} s; at most {MAX_CLIP_SECONDS} s")
    row = store.video_row(video_id) if valid_id(video_id) else None
    if row is not None and row.duration is not None and start >= row.duration:
        raise BadValue(f"a clip from {start:g} s: video {video_id} ends at {row.duration:.1f} s")
    with open_video(store, video_id) as source:  # ffmpeg reads the file checked, by its descriptor
        offset = source.start_time  # hits count from the first frame; the file's clock may not start at 0
        return cut(source.fd, max(0.0, start - pad) + offset, end + pad + offset, Path(to))


def export(store: Store, hits: list, to: str | Path, pad: float = 0.0) -> list[Path]:
    """Library.export: each hit cut into the folder `to` (made if needed) as NN-VIDEO-FROM-TO.mp4, but for
    those whose files are gone."""
    folder = expand(to)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_full(e, folder) from None
    written = []
    for rank, hit in enumerate(hits, 1):
        name = f"{rank:02d}-{Path(hit.path).stem[:60]}-{hit.start:.1f}-{hit.end:.1f}.mp4"
        try:
            written.append(clip(store, hit.video_id, hit.start, hit.end, folder / name, pad))
        except NotFound:
            continue
    return written


def describe(store: Store | None, models: Models, decoder, path: str | Path, uniform: float | None) -> list[Event]:
    """Library.describe: a video's timeline, from the cached frame tokens of `store` (None: there is no
    library yet) when it is indexed, else decoded."""
    if not str(path).strip():
        raise BadValue("an empty path (an unset shell variable?): name the video to describe")
    if uniform is not None and not (math.isfinite(uniform) and 0 < uniform <= MAX_FPS):
        raise BadValue(f"uniform must be a rate above 0 and at most {MAX_FPS:g} per second, not {uniform}")
    target = expand(path).absolute()
    found = None
    if store is not None:
        found = store.frames(str(target)) or store.frames(str(resolve(target)))
    if found is not None:
        times, tokens, end = found
    else:
        times, tokens, end = pipeline.embed_file(target, models)
    vectors = models.predict([t[None] for t in tokens])  # (N, D) each frame alone in Y space
    if uniform:
        spans, chosen = timeline.uniform(times, vectors, end, uniform)
    else:
        spans, chosen = timeline.selective(times, vectors, end)
    return [Event(a, b, text) for (a, b), text in zip(spans, decoder(chosen))]
