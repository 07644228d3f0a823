"""What the store reads and writes, as plain values, and the small helpers every part of it shares: the rows
(files, segments, text chunks, videos, stats), a search's scope, how a segment's vectors are numbered in
FAISS, and the errors a full or read-only disk becomes."""

import errno
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from footage.errors import DiskFull, FootageError, LibraryError, LibraryReadOnly
from footage.files import expand
from footage.store.vectors import TEXT_IDS

REPAIR_BATCH = 10_000  # segments per statement when reading or rewriting many (SQLite caps its variables)
# A segment's plain vector is in FAISS under its id; its view v (1, 2, ...) under v * VIEW_ID_BASE + its id.
VIEW_ID_BASE = 1 << 40
MAX_VIEWS = 8
TEXT_ID_BASE = TEXT_IDS  # a text chunk's vector is in FAISS under TEXT_ID_BASE + its id
ID_END = (1 << 63) - 1


def faiss_ids(segment_ids, views: int = MAX_VIEWS) -> np.ndarray:
    """Every FAISS id segments may have with up to `views` views (removing absent ids is harmless)."""
    ids = np.asarray(list(segment_ids), np.int64)
    return np.concatenate([ids + v * VIEW_ID_BASE for v in range(views + 1)])


def faiss_entries(segment_ids, vectors: np.ndarray, views=None) -> tuple[np.ndarray, np.ndarray]:
    """Segments' ids, (S, D) vectors and each one's (V, D) views (or None) -> FAISS ids and vectors."""
    ids = [int(i) for i in segment_ids]
    vectors = np.asarray(vectors, np.float32)
    out_ids, out = [np.asarray(ids, np.int64)], [vectors.reshape(len(ids), vectors.shape[-1])]
    for seg_id, v in zip(ids, views if views is not None else [None] * len(ids)):
        if v is not None and len(v):
            out_ids.append(seg_id + VIEW_ID_BASE * np.arange(1, len(v) + 1, dtype=np.int64))
            out.append(np.asarray(v, np.float32))
    return np.concatenate(out_ids), np.concatenate(out)


@dataclass
class FileFacts:
    """What the indexer learnt about a file, stored on its video row."""

    path: str
    size: int
    mtime: float
    fingerprint: str
    ctime: float | None = None
    inode: int | None = None
    sidecars: str | None = None  # names, sizes and mtimes of its subtitle files: edited ones re-read it
    duration: float | None = None
    fps: float | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    start_time: float | None = None
    sample_fps: float | None = None


@dataclass
class NewSegment:
    start: float
    end: float
    vector: np.ndarray  # (D,) float32, unit length
    frame_times: np.ndarray  # (N,) float32
    frame_vectors: np.ndarray  # (N, D)
    thumbnail: bytes | None = None  # JPEG
    views: np.ndarray | None = None  # (V, D) float32: pooled for the library's indexing prompts


@dataclass
class NewChunk:
    channel: str  # "speech" | "subtitles"
    start: float
    end: float
    text: str
    vector: np.ndarray  # (D,) float32, unit length: the text's Y embedding


@dataclass
class StoredChunk:
    id: int
    video_id: int
    path: str
    channel: str
    start: float
    end: float
    text: str
    offline: bool = False


@dataclass(frozen=True)
class Scope:
    """What a search looks through."""

    offline: bool = False  # videos whose files were missing at the last run too
    videos: frozenset[int] | None = None  # only these videos (None: all)
    under: frozenset[str] | None = None  # only the videos under one of these folders, absolute (None: anywhere)
    exclude: frozenset[int] = frozenset()  # segments left out (the one "more like this" starts from)
    # only videos whose file was modified in [since, until) (unix times) and whose length (s) is in
    # [min_length, max_length]; None: no bound
    since: float | None = None
    until: float | None = None
    min_length: float | None = None
    max_length: float | None = None

    @property
    def filtered(self) -> bool:
        """Whether the videos' dates or lengths narrow it."""
        return any(v is not None for v in (self.since, self.until, self.min_length, self.max_length))


EVERYWHERE = Scope()


@dataclass
class StoredVideo:
    id: int
    path: str
    size: int
    mtime: float
    fingerprint: str
    status: str
    error: str | None
    model: str | None  # model id of its vectors; None when it has none (failed)
    ctime: float | None = None
    inode: int | None = None
    sidecars: str | None = None
    offline: bool = False
    warning: str | None = None


@dataclass
class VideoRow:
    """A video as the library lists it."""

    id: int
    path: str
    status: str  # "indexed" | "failed"
    error: str | None  # why it failed
    warning: str | None  # indexed, but not whole ("partial: ...")
    offline: bool
    duration: float | None  # seconds
    size: int  # bytes, when indexed
    segments: int
    indexed_at: float  # unix time
    codec: str | None
    width: int | None
    height: int | None
    start_time: float | None  # container time of the first frame: a clip's cut is counted from it
    mtime: float = 0.0  # the file as indexed: what is served must still be it
    ctime: float | None = None
    inode: int | None = None
    cover: int | None = None  # the segment whose thumbnail shows it: a third of the way in, past titles


@dataclass
class StoredSegment:
    id: int
    video_id: int
    path: str
    start: float
    end: float
    thumbnail: str | None  # absolute path
    offline: bool = False  # its video's file was missing at the last run


@dataclass
class Mark:
    """A person's mark on a moment found for a query: right (what they looked for) or wrong."""

    id: int
    query: str
    video_id: int
    path: str
    start: float  # seconds from the video's first frame
    end: float
    right: bool
    segment_id: int | None  # the hit's segment when it was marked (a note: training renumbers segments)
    created_at: float  # unix time of the last marking


@dataclass
class Stats:
    library: str
    backbone: str | None
    videos: int
    failed: int
    segments: int
    seconds: float  # total duration of the indexed videos
    failures: list[tuple[str, str]]  # (path, reason)
    models: list[str]
    predictor: dict | None  # the live trained predictor (version, pairs, held-out MRR before/after); None: zero-shot
    text_chunks: dict[str, int] = field(default_factory=dict)  # channel -> chunks of speech or subtitles
    offline: list[str] = field(default_factory=list)  # indexed videos whose files were missing at the last run
    partial: list[tuple[str, str]] = field(default_factory=list)  # (path, warning): indexed as far as it decodes
    read_only: bool = False
    database: str | None = None  # the PostgreSQL URL (no password) of a library kept there; None: SQLite
    vectors: dict = field(default_factory=dict)  # the vector index: kind, cells, shards, delta, tombstones


def video_vector(spans: list[tuple[float, float, np.ndarray]], dim: int) -> bytes | None:
    """(start, end, vector) of a video's segments -> its vector column: their mean weighted by length, unit
    length, float16; None without segments."""
    if not spans:
        return None
    total = np.zeros(dim, np.float32)
    for start, end, vector in spans:
        total += max(end - start, 1e-3) * np.asarray(vector, np.float32)
    return (total / max(float(np.linalg.norm(total)), 1e-12)).astype(np.float16).tobytes()


def library_path(path: str | Path) -> Path:
    """A library folder's absolute path, symbolic links resolved where they can be."""
    path = expand(path).absolute()
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a link loop: keep the path as given, opening it says what is wrong
        return path


def disk_full(e: OSError, what: Path) -> FootageError:
    """An OSError from writing the library as footage's error: disk full, or one line naming the file."""
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        return DiskFull(f"{what}: disk full; what was indexed before is kept")
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return LibraryReadOnly(f"{what}: cannot write ({e.strerror})")
    return LibraryError(f"{what}: cannot write ({e.strerror or e})")


def existing(path: Path) -> str | None:
    """A thumbnail's path, or None when it was deleted (hits must not point at files that are not there)."""
    return str(path) if path.exists() else None


def guarded(method):
    """Runs a Store method under its lock: FAISS in memory is one object, searched by request threads while an
    index job changes it, and a commit and its mirror in FAISS must be seen together."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self.guard:
            return method(self, *args, **kwargs)

    return run
