"""What a page shows besides search results: one moment (where "more like this" started), the segments that
show a video's events, and the pictures kept to search with (so that such a search has a name to share)."""

import bisect
import hashlib
import os
import re
from pathlib import Path

from footage.errors import NotFound
from footage.search import Hit
from footage.search.timeline import Event
from footage.store import Store
from footage.store.store import disk_full

PICTURES = "pictures"  # the library's folder of pictures searched with, each named by its content
PICTURE_NAME = re.compile(r"[0-9a-f]{16}")


def moment(store: Store, segment_id: int) -> Hit:
    """One segment (a valid id) as a hit, uncaptioned; NotFound for a segment the library does not have."""
    row = store.segments([segment_id]).get(segment_id)
    if row is None:
        raise NotFound(f"segment {segment_id}: not in the library")
    video = store.video_row(row.video_id)
    return Hit(row.path, row.start, row.end, 1.0, thumbnail=row.thumbnail, segments=[row.id], segment=row.id,
               offline=row.offline, video_id=row.video_id, duration=video.duration if video else None)  # fmt: skip


def show(store: Store, video_id: int, events: list[Event]) -> None:
    """Sets each event's `segment`: the one over its middle, whose thumbnail shows it."""
    spans = store.spans(video_id) if events else []
    starts = [start for _, start, _ in spans]
    for e in events:
        at = bisect.bisect_right(starts, (e.start + e.end) / 2) - 1
        e.segment = spans[max(at, 0)][0] if spans else None


def keep_picture(store: Store, data: bytes) -> str:
    """Writes a picture into the library's pictures/ folder under the first 16 hex digits of its SHA-256
    (once: the same picture kept again is the same name) and returns that name."""
    if store.cannot_write:
        raise store.cannot_write
    name = hashlib.sha256(data).hexdigest()[:16]
    folder = store.path / PICTURES
    try:
        folder.mkdir(exist_ok=True)
        if not (folder / name).exists():
            partial = folder / f".{name}.{os.getpid()}"  # whole or not there: a reader never sees half
            partial.write_bytes(data)
            partial.replace(folder / name)
    except OSError as e:
        raise disk_full(e, folder) from None
    return name


def picture(library: Path, name: str) -> Path:
    """A kept picture's file; NotFound when there is none by that name (nothing else becomes a path)."""
    path = library / PICTURES / str(name)
    if not PICTURE_NAME.fullmatch(str(name)) or not path.is_file():
        raise NotFound(f"picture {name}: not in the library (a picture's id is 16 hex digits)")
    return path
