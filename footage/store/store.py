"""The library folder: SQLite metadata, the FAISS index and thumbnails, kept consistent with each other.

    LIBRARY/library.db     SQLite: videos, segments (with their vectors and views), text chunks (with their
                           vectors, and an FTS5 index of their words), captions, models, meta
    LIBRARY/vectors/       FAISS indexes of segment, view and text chunk vectors (each in its own id range),
                           a cache of what SQLite holds: shards, a delta, tombstones (footage/store/vectors.py)
    LIBRARY/thumbs/V/      JPEG thumbnails of video V's segments
    LIBRARY/write.lock     held by the one process allowed to write

Every change commits to SQLite first and then updates FAISS in memory (new vectors in the delta, deleted ones
as tombstones); `flush` saves that (atomically) and, when due, makes the delta a shard or trains the IVF index.
A crash in between leaves FAISS behind SQLite's generation; the next open notices and repairs it.

With `db` (footage --db URL), the metadata is in PostgreSQL instead of library.db, shared between machines, and
LIBRARY/database.json names it; the write lock is then an advisory lock of that database (footage/store/postgres.py).

A library on a read-only medium (a mounted archive, a snapshot) opens read-only: search and stats work,
changes are refused with LibraryReadOnly.
"""

import errno
import functools
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import unquote

import numpy as np
from sqlalchemy import case, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from footage.errors import DiskFull, FootageError, LibraryDamaged, LibraryError, LibraryReadOnly, NoLibrary
from footage.files import expand
from footage.store import postgres
from footage.store.faiss_index import VectorIndex
from footage.store.lock import AdvisoryLock, WriteLock
from footage.store.schema import (
    BUSY_TIMEOUT_MS,
    SCHEMA_VERSION,
    Caption,
    Meta,
    Model,
    Segment,
    TextChunk,
    Video,
    kind,
    migrate,
    open_engine,
)
from footage.store.vectors import FOLDER, STATE, TEXT_IDS, Vectors, clear_leftovers

CACHE_WAIT_MS = 200  # how long caching captions waits for a writer before it lets the cache be
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


KEYWORD_SQL = (
    "SELECT text_fts.rowid, bm25(text_fts) FROM text_fts JOIN text_chunks c ON c.id = text_fts.rowid "
    "JOIN videos v ON v.id = c.video_id WHERE text_fts MATCH :q AND v.offline <= :offline "
    "AND (:videos IS NULL OR v.id IN (SELECT value FROM json_each(:videos))) ORDER BY bm25(text_fts) LIMIT :n"
)
# PostgreSQL: the GIN index on to_tsvector('simple', text) (schema.FTS_PG), any of the words (each a phrase of its
# tokens, as FTS5's "..."), best first by ts_rank; {query} ORs phraseto_tsquery('simple', :wN) of each word
KEYWORD_SQL_PG = (
    "SELECT c.id, ts_rank(to_tsvector('simple', c.text), {query}) AS score FROM text_chunks c "
    "JOIN videos v ON v.id = c.video_id WHERE to_tsvector('simple', c.text) @@ ({query}) AND v.offline <= :offline "
    "AND (CAST(:videos AS BIGINT[]) IS NULL OR v.id = ANY(CAST(:videos AS BIGINT[]))) ORDER BY score DESC, c.id "
    "LIMIT :n"
)
CHUNK_COLUMNS = (
    TextChunk.id,
    TextChunk.video_id,
    Video.path,
    TextChunk.channel,
    TextChunk.start,
    TextChunk.end,
    TextChunk.text,
    Video.offline,
)


@dataclass(frozen=True)
class Scope:
    """What a search looks through."""

    offline: bool = False  # videos whose files were missing at the last run too
    videos: frozenset[int] | None = None  # only these videos (None: all)
    exclude: frozenset[int] = frozenset()  # segments left out (the one "more like this" starts from)


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


def _existing(path: Path) -> str | None:
    """A thumbnail's path, or None when it was deleted (hits must not point at files that are not there)."""
    return str(path) if path.exists() else None


def _guarded(method):
    """Runs a Store method under its lock: FAISS in memory is one object, searched by request threads while an
    index job changes it, and a commit and its mirror in FAISS must be seen together."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self.guard:
            return method(self, *args, **kwargs)

    return run


class Store:
    def __init__(self, path: Path, create: bool = False, db: str | None = None):
        """Opens the library at `path`; `create` makes one where there is none (else NoLibrary). `db` is a
        PostgreSQL URL to keep the metadata in (footage/store/postgres.py); None: the database the folder
        remembers, else SQLite's LIBRARY/library.db."""
        self.path = library_path(path)
        self.guard = threading.RLock()
        url = postgres.chosen(self.path, db)
        self.database = postgres.shown(url) if url is not None else None  # None: SQLite
        # why this library cannot be changed (None: it can): a read-only medium, or a full disk
        self.cannot_write: FootageError | None = None
        self._copy: tempfile.TemporaryDirectory | None = None  # read-only with a pending WAL: read a copy
        found = self._open_sqlite(create) if url is None else self._open_postgres(url, create)
        if found > SCHEMA_VERSION:
            raise LibraryError(f"{self.path}: made by a newer footage (schema {found}); upgrade footage")
        if self.read_only and found < SCHEMA_VERSION:
            raise LibraryReadOnly(
                f"{self.path}: made by an older footage (schema {found}) and read-only; open it once where it "
                "can be written to upgrade it"
            )
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self.index: Vectors | None = None
        self.dirty = False  # FAISS in memory is ahead of the file
        self.repaired = (0, 0)  # (ids removed, ids added) by the last repair
        self._offline: tuple[int, np.ndarray] | None = None  # (generation, FAISS ids of offline videos)
        self._video_vectors: tuple[int, dict[int, np.ndarray]] = (-2, {})  # (generation, video id -> vector)

    def _open_sqlite(self, create: bool) -> int:
        """Opens LIBRARY/library.db; returns the schema version it found."""
        db = self.path / "library.db"
        if not db.exists():
            if not create:
                raise NoLibrary(f"{self.path}: no footage library here; `footage index FOLDER` makes one")
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise LibraryError(f"{self.path}: cannot create the library folder ({e.strerror})") from None
        elif not db.is_file():
            raise LibraryError(f"{db}: is not a database file; move it away")
        elif db.stat().st_size == 0 and any((self.path / n).exists() for n in ("vectors", "vectors.faiss", "thumbs")):
            raise LibraryDamaged(
                f"{db}: the library's database is empty, yet the library holds vectors; `footage repair` keeps a "
                "copy and starts it again"
            )
        what = kind(db) if db.exists() else "empty"
        if what == "foreign":
            raise LibraryError(f"{db}: not a footage library (another program's database); choose another --library")
        if what == "empty" and not create:
            raise NoLibrary(f"{self.path}: no footage library here; `footage index FOLDER` makes one")
        self.read_only = not os.access(self.path, os.W_OK) or (db.exists() and not os.access(db, os.W_OK))
        if self.read_only and not db.exists():
            raise LibraryReadOnly(f"{self.path}: cannot create a library here (read-only)")
        if self.read_only:
            self.cannot_write = LibraryReadOnly(
                f"{self.path}: the library is read-only; search and stats work, changing it does not"
            )
        self.lock = WriteLock(self.path / "write.lock")
        self.engine = self._open(db)
        try:
            found = migrate(self.engine, self.read_only)
        except (DiskFull, LibraryError) as e:
            if self.read_only or create or isinstance(e, LibraryDamaged):
                raise
            # a full disk has no room for the shared-memory file a WAL reader needs: read it as read-only
            self.engine.dispose()
            self.read_only, self.cannot_write = True, e
            self.engine = self._open(db)
            found = migrate(self.engine, read_only=True)
        return found

    def _open_postgres(self, url, create: bool) -> int:
        """Opens the library whose database is PostgreSQL, binding the folder to it; returns the schema version
        it found. The folder is made when missing (another machine's first use of a shared library)."""
        name = self.database
        self.lock = AdvisoryLock(postgres.conninfo(url), name)
        if (self.path / "library.db").exists():
            raise LibraryError(
                f"{self.path}: holds a SQLite library (library.db); a folder serves one database: give another "
                f"--library for {name}"
            )
        bound = postgres.binding(self.path)
        self.engine = postgres.open_engine(url)
        try:
            what = postgres.kind(self.engine)
            if what == "foreign":
                raise LibraryError(
                    f"{name}: not a footage library (another program's tables of footage's names); give footage a "
                    "database of its own"
                )
            elsewhere = unquote(bound["url"]) if bound else None
            if bound is not None and what == "empty":
                raise LibraryError(f"{self.path}: belongs to the library in {elsewhere}, not to {name} (empty)")
            if what == "empty" and not create:
                raise NoLibrary(
                    f"{name}: no footage library in this database; `footage --db URL index FOLDER` makes one"
                )
            if bound is None and any((self.path / n).exists() for n in ("vectors.faiss", "vectors", "thumbs")):
                # they may be another database's: a FAISS cache is trusted by its generation alone
                raise LibraryError(
                    f"{self.path}: holds vectors or thumbnails of a library but not {postgres.BINDING}, which names "
                    f"its database; give an empty --library folder for {name}"
                )
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                if create:
                    raise LibraryError(f"{self.path}: cannot create the library folder ({e.strerror})") from None
            # the folder holds FAISS and the thumbnails: where it cannot be written, the library is read
            self.read_only = not os.access(self.path, os.W_OK)
            if self.read_only and what == "empty":
                raise LibraryReadOnly(f"{self.path}: cannot create a library here (read-only)")
            if self.read_only:
                self.cannot_write = LibraryReadOnly(
                    f"{self.path}: the library folder is read-only; search and stats work, changing it does not"
                )
            found = migrate(self.engine, self.read_only)
            library = postgres.library_id(self.engine, write=not self.read_only and found <= SCHEMA_VERSION)
            if bound is not None and bound["library"] != library:
                raise LibraryError(
                    f"{self.path}: belongs to the library in {elsewhere}, not to the one in {name}; give another "
                    "--library folder for it"
                )
            if bound is None and library is not None and not self.read_only:
                try:
                    postgres.bind(self.path, url, library)
                except OSError as e:
                    raise disk_full(e, self.path / postgres.BINDING) from None
        except BaseException:
            self.engine.dispose()  # a library not opened holds no connection
            raise
        return found

    def writing(self) -> WriteLock:
        """The write lock, to hold while changing the library; raises why it cannot be changed, if it cannot."""
        if self.cannot_write:
            raise self.cannot_write
        return self.lock

    def _open(self, db: Path):
        if not self.read_only:
            return open_engine(db)
        engine = open_engine(db, read_only=True)
        try:  # works where SQLite may still read WAL's shared memory (another user's folder)
            with engine.connect() as conn:
                conn.execute(text("SELECT count(*) FROM sqlite_master"))
            return engine
        except (LibraryError, DiskFull):
            engine.dispose()
        wal = db.with_name(db.name + "-wal")
        if wal.exists() and wal.stat().st_size:  # changes not yet in the file: read them from a copy
            self._copy = tempfile.TemporaryDirectory(prefix="footage-readonly-")
            copy = Path(self._copy.name) / db.name
            shutil.copyfile(db, copy)
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            return open_engine(copy, read_only=True)
        return open_engine(db, read_only=True, immutable=True)  # a read-only medium: nobody writes it

    # --- settings ---------------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self.Session() as s:
            row = s.get(Meta, key)
            return row.value if row else None

    @_guarded
    def attach(self, backbone: str, dim: int, token_dim: int | None = None) -> None:
        """Binds the library to a backbone (the first time) and loads the vectors; refuses another backbone.
        dim is the width of the stored vectors, token_dim that of the cached frame tokens (dim by default)."""
        stored = self.meta("backbone")
        if stored is not None and stored != backbone:
            raise LibraryError(
                f"{self.path}: this library was built with backbone {stored!r}, not {backbone!r}; "
                "use another --library for another backbone"
            )
        if stored is None:
            with self.Session.begin() as s:
                s.merge(Meta(key="backbone", value=backbone))
                s.merge(Meta(key="dim", value=str(dim)))
                s.merge(Meta(key="token_dim", value=str(token_dim or dim)))
                s.merge(Meta(key="tokens", value="int8"))
                if s.get(Meta, "generation") is None:
                    s.add(Meta(key="generation", value="0"))
        self.index = self._load_index(dim)
        self.token_dim = int(self.meta("token_dim") or dim)  # libraries from before token_dim: the same
        self.token_format = self.meta("tokens") or "float16"
        self.view_count = len(json.loads(self.meta("views") or "[]"))
        self.refresh()

    def _load_index(self, dim: int) -> Vectors:
        folder = self.path / FOLDER
        if folder.exists() and not folder.is_dir():
            raise LibraryError(
                f"{folder}: is not a folder, yet has the vector index's name; move it away (it is rebuilt)"
            )
        path = folder / STATE
        if path.exists() and not path.is_file():  # a folder, or a FIFO that would block the read
            raise LibraryError(f"{path}: is not a file, yet has the vector index's name; move it away (it is rebuilt)")
        try:
            vectors = Vectors.load(self.path, dim)
        except OSError as e:
            raise LibraryError(f"{path}: cannot read the vector index ({e.strerror})") from None
        vectors.set_exact(self._exact_vectors)
        return vectors

    def model_row(self, s: Session, model_id: str, dim: int) -> int:
        row = s.scalar(select(Model).where(Model.model_id == model_id))
        if row is None:
            row = Model(model_id=model_id, dim=dim)
            s.add(row)
            s.flush()
        return row.id

    # --- consistency ------------------------------------------------------------------------------------

    @_guarded
    def refresh(self) -> None:
        """Brings FAISS in memory up to SQLite: reloads the saved file if it caught up, else repairs by ids."""
        generation = int(self.meta("generation") or 0)
        if self.index.generation == generation:
            return
        saved = self._load_index(self.index.dim)
        if saved.generation == generation:
            self.index = saved
            return
        self.repair()

    @_guarded
    def repair(self) -> None:
        """Makes FAISS hold exactly SQLite's segment ids, reading missing vectors from SQLite."""
        with self.Session() as s, s.begin():  # one read transaction: generation and ids from one snapshot
            generation = int(s.get(Meta, "generation").value)
            db_ids = self._db_ids(s)
        held = self.index.ids()
        extra = np.setdiff1d(held, db_ids)
        missing = np.setdiff1d(db_ids, held)
        self.index.remove(extra)
        chunks = missing[missing >= TEXT_ID_BASE] - TEXT_ID_BASE
        missing = missing[missing < TEXT_ID_BASE]
        segments = np.unique(missing % VIEW_ID_BASE)
        with self.Session() as s:
            for i in range(0, len(segments), REPAIR_BATCH):
                chunk = [int(x) for x in segments[i : i + REPAIR_BATCH]]
                rows = s.execute(select(Segment.id, Segment.vector, Segment.views).where(Segment.id.in_(chunk))).all()
                if rows:
                    ids, vectors = faiss_entries(
                        [r.id for r in rows],
                        np.stack([self._vector(r.vector) for r in rows]),
                        [self._views(r.views) for r in rows],
                    )
                    wanted = np.isin(ids, missing)
                    self.index.add(ids[wanted], vectors[wanted])
            for i in range(0, len(chunks), REPAIR_BATCH):
                chunk = [int(x) for x in chunks[i : i + REPAIR_BATCH]]
                rows = s.execute(select(TextChunk.id, TextChunk.vector).where(TextChunk.id.in_(chunk))).all()
                if rows:
                    vectors = np.stack([np.frombuffer(r.vector, np.float32) for r in rows])
                    self.index.add(np.array([r.id for r in rows], np.int64) + TEXT_ID_BASE, vectors)
        self.index.generation = generation
        self.repaired = (len(extra), len(missing) + len(chunks))
        self.dirty = True
        if self.read_only:  # repaired in memory only
            return
        if self.lock.fd is not None:
            self._save_repaired()
            return
        try:
            got = self.lock.acquire()  # a reader repairs the file too, unless a writer is busy (it will)
        except OSError:
            return
        if got:
            try:
                self._save_repaired()
            except FootageError:  # a full disk: this search works from memory, the next open tries again
                pass
            finally:
                self.lock.release()

    def _save_repaired(self) -> None:
        """Saves what a repair rebuilt: a delta past a shard's size is made shards first (a merge, never a
        training: a search may be the one repairing), so a lost vectors folder of a large library does not
        come back as one huge state file."""
        if self.index.delta_full():
            self.maintain(force="merge")
        else:
            self.flush(maintain=False)

    def _db_ids(self, s: Session) -> np.ndarray:
        """The FAISS ids SQLite's segments should have: their own and their views'."""
        rows = s.execute(select(Segment.id, func.length(Segment.views))).all()
        ids = np.array([r[0] for r in rows], np.int64)
        counts = np.array([(r[1] or 0) // (4 * self.index.dim) for r in rows], np.int64)
        views = [ids[counts >= v] + v * VIEW_ID_BASE for v in range(1, int(counts.max(initial=0)) + 1)]
        chunks = np.fromiter(s.scalars(select(TextChunk.id)), np.int64) + TEXT_ID_BASE
        return np.concatenate([ids, *views, chunks])

    def _views(self, blob: bytes | None) -> np.ndarray | None:
        return None if blob is None else np.frombuffer(blob, np.float32).reshape(-1, self.index.dim)

    @_guarded
    def flush(self, maintain: bool = True) -> None:
        """Saves FAISS's delta if it changed, then (`maintain`) turns a full delta into a shard or trains the
        IVF index when due. Only the lock holder calls this: `index` every minute and at its end, `remove`,
        `train`; a reader repairing the vectors saves them without maintenance (a search never trains)."""
        if self.dirty and self.index is not None:
            try:
                self.index.save(self.path)
                (self.path / "vectors.faiss").unlink(missing_ok=True)  # the one file of footage before 0.9
            except OSError as e:
                raise disk_full(e, self.path / FOLDER) from None
            self.dirty = False
        if maintain and self.index is not None and self.index.due():
            self.maintain()
        elif maintain and (self.path / FOLDER).is_dir():
            clear_leftovers(self.path / FOLDER)

    @_guarded
    def maintain(self, force: str | None = None) -> str | None:
        """Turns the delta into a shard and merges shards, or builds the IVF index anew, when due
        (Vectors.due) or as `force`d ("merge", "train"); returns what it did."""
        try:
            did = self.index.maintain(self.path, self._all_vectors, force)  # saves the state when it does
        except OSError as e:
            raise disk_full(e, self.path / FOLDER) from None
        if did:
            self.dirty = False
        else:
            self.flush(maintain=False)
        return did

    def _all_vectors(self):
        """Every vector FAISS should hold, as (FAISS ids, (B, D) float32) batches read from SQLite."""
        with self.Session() as s:
            last = -1
            while rows := s.execute(
                select(Segment.id, Segment.vector, Segment.views)
                .where(Segment.id > last)
                .order_by(Segment.id)
                .limit(REPAIR_BATCH)
            ).all():
                last = rows[-1].id
                yield faiss_entries(
                    [r.id for r in rows],
                    np.stack([self._vector(r.vector) for r in rows]),
                    [self._views(r.views) for r in rows],
                )
            last = -1
            while rows := s.execute(
                select(TextChunk.id, TextChunk.vector)
                .where(TextChunk.id > last)
                .order_by(TextChunk.id)
                .limit(REPAIR_BATCH)
            ).all():
                last = rows[-1].id
                ids = np.array([r.id for r in rows], np.int64) + TEXT_ID_BASE
                yield ids, np.stack([np.frombuffer(r.vector, np.float32) for r in rows])

    def _exact_vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored (SQLite) vectors of FAISS ids, (n, D) float32 in their order: what the IVF-SQ8 index
        re-scores its candidates with. An id SQLite no longer has gets a zero vector (it scores 0)."""
        out = np.zeros((len(ids), self.index.dim), np.float32)
        text_rows = np.flatnonzero(ids >= TEXT_ID_BASE)
        seg_rows = np.flatnonzero(ids < TEXT_ID_BASE)
        with self.Session() as s:
            if len(seg_rows):
                wanted = sorted({int(i) for i in ids[seg_rows] % VIEW_ID_BASE})
                rows = s.execute(select(Segment.id, Segment.vector, Segment.views).where(Segment.id.in_(wanted)))
                found = {r.id: r for r in rows}
                for k in seg_rows:
                    row = found.get(int(ids[k] % VIEW_ID_BASE))
                    view = int(ids[k] // VIEW_ID_BASE)
                    if row is None:
                        continue
                    if view == 0:
                        out[k] = self._vector(row.vector)
                    elif row.views is not None and view <= len(views := self._views(row.views)):
                        out[k] = views[view - 1]
            if len(text_rows):
                wanted = [int(i) for i in ids[text_rows] - TEXT_ID_BASE]
                found = dict(s.execute(select(TextChunk.id, TextChunk.vector).where(TextChunk.id.in_(wanted))).all())
                for k in text_rows:
                    blob = found.get(int(ids[k] - TEXT_ID_BASE))
                    if blob is not None:
                        out[k] = np.frombuffer(blob, np.float32)
        return out

    @staticmethod
    def _bump(s: Session) -> int:
        """Moves the generation on, inside the transaction that changes segments."""
        # text again, as the column is: PostgreSQL does not turn a number into varchar by itself
        s.execute(text("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE key = 'generation'"))
        return int(s.scalar(select(Meta.value).where(Meta.key == "generation")))

    # --- reads ------------------------------------------------------------------------------------------

    def videos(self) -> dict[str, StoredVideo]:
        with self.Session() as s:
            model = select(Model.model_id).join(Segment).where(Segment.video_id == Video.id).limit(1).scalar_subquery()
            rows = s.execute(
                select(
                    Video.id,
                    Video.path,
                    Video.size,
                    Video.mtime,
                    Video.fingerprint,
                    Video.status,
                    Video.error,
                    model,
                    Video.ctime,
                    Video.inode,
                    Video.sidecars,
                    Video.offline,
                    Video.warning,
                )
            ).all()
        return {r.path: StoredVideo(*r[:11], bool(r[11]), r[12]) for r in rows}

    @_guarded
    def search(
        self, vector: np.ndarray, n: int, index: VectorIndex | None = None, scope: Scope = EVERYWHERE
    ) -> tuple[np.ndarray, np.ndarray]:
        """The n nearest segments' ids and scores, best first, within `scope`; a segment with views scores as
        its best one. `index` replaces the library's vectors (to try a predictor before keeping it)."""
        if index is None:
            self.refresh()
            index = self.index
        skip, keep = self._scope(scope)
        ids, scores = index.search(vector, n * (1 + self.view_count), ids=(0, TEXT_ID_BASE), skip=skip, keep=keep)
        segments = ids % VIEW_ID_BASE
        _, first = np.unique(segments, return_index=True)  # best first, so a segment's first entry is its best
        keep = np.sort(first)[:n]
        return segments[keep], scores[keep]

    @_guarded
    def search_text(self, vector: np.ndarray, n: int, scope: Scope = EVERYWHERE) -> tuple[np.ndarray, np.ndarray]:
        """The n text chunks nearest a query vector, within `scope`: their ids and scores, best first."""
        self.refresh()
        skip, keep = self._scope(scope)
        ids, scores = self.index.search(vector, n, ids=(TEXT_ID_BASE, ID_END), skip=skip, keep=keep)
        return ids - TEXT_ID_BASE, scores

    def _scope(self, scope: Scope) -> tuple[np.ndarray | None, np.ndarray | None]:
        """FAISS ids to leave out, and to keep to (None: all), for a scope."""
        skip = [] if scope.offline else [self.offline_ids()]
        skip += [faiss_ids(sorted(scope.exclude), self.view_count)] if scope.exclude else []
        keep = self.video_faiss_ids(scope.videos) if scope.videos is not None else None
        return (np.concatenate(skip) if skip else None), keep

    def video_faiss_ids(self, video_ids) -> np.ndarray:
        """Every FAISS id of these videos: their segments, views and text chunks."""
        mine, videos = self._id_set(video_ids)
        with self.Session() as s:
            segs = np.fromiter(
                s.scalars(select(Segment.id).where(Segment.video_id.in_(mine)), {"videos": videos}), np.int64
            )
            chunks = np.fromiter(
                s.scalars(select(TextChunk.id).where(TextChunk.video_id.in_(mine)), {"videos": videos}), np.int64
            )
        return np.concatenate([faiss_ids(segs, self.view_count), chunks + TEXT_ID_BASE])

    @_guarded
    def offline_ids(self) -> np.ndarray:
        """The FAISS ids of offline videos (segments, views, text chunks), kept per generation: going offline
        moves the generation on."""
        generation = self.index.generation
        if self._offline is None or self._offline[0] != generation:
            with self.Session() as s:
                away = select(Video.id).where(Video.offline == 1)
                segs = np.fromiter(s.scalars(select(Segment.id).where(Segment.video_id.in_(away))), np.int64)
                chunks = np.fromiter(s.scalars(select(TextChunk.id).where(TextChunk.video_id.in_(away))), np.int64)
            self._offline = (generation, np.concatenate([faiss_ids(segs, self.view_count), chunks + TEXT_ID_BASE]))
        return self._offline[1]

    def _id_set(self, ids) -> tuple:
        """A set of ids as one parameter, :videos, whatever their number (SQLite caps a statement's variables):
        the subquery that lists them, and the value to pass (JSON for SQLite, an array for PostgreSQL)."""
        ids = sorted(int(v) for v in ids)
        if self.database:
            return text("SELECT unnest(CAST(:videos AS BIGINT[]))"), ids
        return text("SELECT value FROM json_each(:videos)"), json.dumps(ids)

    def keyword(self, words: list[str], n: int, scope: Scope = EVERYWHERE) -> list[tuple[int, float]]:
        """Text chunks holding any of the words (FTS5, or PostgreSQL's text search) within `scope`, best first
        by BM25 (ts_rank): (chunk id, score), higher is better."""
        words = [w for w in (w.replace('"', "") for w in words) if w]
        if not words:
            return []
        if self.database:
            return self._keyword_pg(words, n, scope)
        terms = [f'"{w}"' for w in words]
        videos = None if scope.videos is None else json.dumps(sorted(int(v) for v in scope.videos))
        with self.Session() as s:
            rows = s.execute(
                text(KEYWORD_SQL),
                {"q": " OR ".join(terms), "n": n, "offline": int(scope.offline), "videos": videos},
            ).all()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def _keyword_pg(self, words: list[str], n: int, scope: Scope) -> list[tuple[int, float]]:
        query = " || ".join(f"phraseto_tsquery('simple', :w{i})" for i in range(len(words)))
        values = {f"w{i}": w for i, w in enumerate(words)}
        videos = None if scope.videos is None else sorted(int(v) for v in scope.videos)
        with self.Session() as s:
            rows = s.execute(
                text(KEYWORD_SQL_PG.format(query=query)),
                {**values, "n": n, "offline": int(scope.offline), "videos": videos},
            ).all()
        return [(int(r[0]), float(r[1])) for r in rows]

    def chunks(self, ids) -> dict[int, StoredChunk]:
        ids = [int(i) for i in ids]
        with self.Session() as s:
            rows = s.execute(select(*CHUNK_COLUMNS).join(Video).where(TextChunk.id.in_(ids))).all()
        return {r.id: StoredChunk(*r[:-1], bool(r.offline)) for r in rows}

    def chunks_of(self, paths) -> list[StoredChunk]:
        """The text chunks of these videos, in time order."""
        with self.Session() as s:
            rows = s.execute(
                select(*CHUNK_COLUMNS).join(Video).where(Video.path.in_(list(paths))).order_by(TextChunk.start)
            ).all()
        return [StoredChunk(*r[:-1], bool(r.offline)) for r in rows]

    def segments(self, ids) -> dict[int, StoredSegment]:
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        with self.Session() as s:
            rows = s.execute(
                select(
                    Segment.id,
                    Segment.video_id,
                    Video.path,
                    Segment.start,
                    Segment.end,
                    Segment.thumbnail,
                    Video.offline,
                )
                .join(Video)
                .where(Segment.id.in_(ids))
            ).all()
        return {
            r.id: StoredSegment(
                r.id,
                r.video_id,
                r.path,
                r.start,
                r.end,
                _existing(self.path / r.thumbnail) if r.thumbnail else None,
                bool(r.offline),
            )
            for r in rows
        }

    def segment_at(self, path: str, t: float) -> int | None:
        """The id of the video's segment that covers time t (the nearest one when none does)."""
        with self.Session() as s:
            return s.scalar(
                select(Segment.id)
                .join(Video)
                .where(Video.path == path)
                .order_by(  # how far t is from the segment: max(start - t, t - end, 0), as both databases say it
                    case((Segment.start > t, Segment.start - t), (Segment.end < t, t - Segment.end), else_=0.0)
                )
                .limit(1)
            )

    def frame_tokens(self, ids) -> dict[int, np.ndarray]:
        """Segment id -> its frames' tokens (N, D) float32, as cached when it was indexed."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        with self.Session() as s:
            rows = s.execute(select(Segment.id, Segment.frame_vectors).where(Segment.id.in_(ids))).all()
        return {r.id: self._tokens(r.frame_vectors) for r in rows}

    def video_rows(self, offset: int = 0, limit: int = 100, video_id: int | None = None) -> tuple[list[VideoRow], int]:
        """A page of videos by path (or the one `video_id`), and how many there are in all."""
        count = select(func.count(Segment.id)).where(Segment.video_id == Video.id).scalar_subquery()
        columns = [getattr(Video, f.name) for f in fields(VideoRow) if f.name != "segments"]
        query = select(*columns, count).order_by(Video.path)
        if video_id is not None:
            query = query.where(Video.id == video_id)
        with self.Session() as s:
            total = s.scalar(select(func.count(Video.id))) or 0
            rows = s.execute(query.offset(offset).limit(limit)).all()
        names = [f.name for f in fields(VideoRow) if f.name != "segments"]
        out = []
        for r in rows:
            values = dict(zip(names, r[:-1]))
            out.append(VideoRow(**{**values, "offline": bool(values["offline"]), "segments": r[-1]}))
        return out, total

    def video_row(self, video_id: int) -> VideoRow | None:
        rows, _ = self.video_rows(0, 1, video_id)
        return rows[0] if rows else None

    def video_vectors(self, video_ids) -> dict[int, np.ndarray]:
        """Each video's vector: the mean of its segments' vectors, weighted by their length, unit length.
        Kept per generation: a long film has hundreds of segments, and every search asks again."""
        generation = self.index.generation if self.index is not None else -1
        if self._video_vectors[0] != generation:
            self._video_vectors = (generation, {})
        cache = self._video_vectors[1]
        wanted = [int(v) for v in video_ids if int(v) not in cache]
        if wanted:
            with self.Session() as s:
                stored = s.execute(select(Video.id, Video.vector).where(Video.id.in_(wanted))).all()
            cache.update({r.id: self._vector(r.vector) for r in stored if r.vector is not None})
            wanted = [v for v in wanted if v not in cache]  # rows from before schema 6
        if wanted:
            sums: dict[int, np.ndarray] = {}
            with self.Session() as s:
                for i in range(0, len(wanted), REPAIR_BATCH):
                    rows = s.execute(
                        select(Segment.video_id, Segment.start, Segment.end, Segment.vector).where(
                            Segment.video_id.in_(wanted[i : i + REPAIR_BATCH])
                        )
                    )
                    for r in rows:
                        weight = max(r.end - r.start, 1e-3)
                        v = self._vector(r.vector) * weight
                        sums[r.video_id] = sums[r.video_id] + v if r.video_id in sums else v.copy()
            for vid, total in sums.items():
                cache[vid] = total / max(float(np.linalg.norm(total)), 1e-12)
        return {int(v): cache[int(v)] for v in video_ids if int(v) in cache}

    def vectors(self, ids) -> dict[int, np.ndarray]:
        """Segments' stored (D,) vectors by id."""
        with self.Session() as s:
            rows = s.execute(select(Segment.id, Segment.vector).where(Segment.id.in_([int(i) for i in ids]))).all()
        return {r.id: self._vector(r.vector) for r in rows}

    def captions(self, ids, decoder: str) -> dict[int, str]:
        """Cached captions of segments by one decoder."""
        with self.Session() as s:
            rows = s.execute(
                select(Caption.segment_id, Caption.text).where(
                    Caption.segment_id.in_([int(i) for i in ids]), Caption.decoder == decoder
                )
            ).all()
        return {r.segment_id: r.text for r in rows}

    def save_captions(self, captions: dict[int, str], decoder: str) -> None:
        """Caches captions; a segment removed meanwhile is skipped, and a read-only library caches nothing."""
        with self.engine.connect() as conn:
            # a cache waits for no writer: an index holds its transaction open while a long file decodes
            if not self.database:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {CACHE_WAIT_MS}")
                conn.commit()
            try:
                with conn.begin():
                    if self.database:
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {CACHE_WAIT_MS}")
                    alive = conn.scalars(select(Segment.id).where(Segment.id.in_(list(captions)))).all()
                    if alive:
                        rows = [{"segment_id": i, "decoder": decoder, "text": captions[i]} for i in alive]
                        insert = pg_insert if self.database else sqlite_insert
                        conn.execute(insert(Caption).on_conflict_do_nothing(), rows)
            except (FootageError, OperationalError):  # read-only, full or damaged, or a writer holds it: no cache
                pass
            except IntegrityError:  # PostgreSQL: a writer removed a segment after it was read; cached next time
                pass
            finally:
                if not self.database:
                    conn.rollback()
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                    conn.commit()

    def frames(self, path: str) -> tuple[np.ndarray, np.ndarray, float] | None:
        """A video's frame times (N,), cached tokens (N, T) in time order and where its last segment ends;
        None when it is not indexed."""
        with self.Session() as s:
            rows = s.execute(
                select(Segment.frame_times, Segment.frame_vectors, Segment.end)
                .join(Video)
                .where(Video.path == path)
                .order_by(Segment.start)
            ).all()
        if not rows:
            return None
        times = np.concatenate([np.frombuffer(r.frame_times, np.float32) for r in rows])
        return times, np.concatenate([self._tokens(r.frame_vectors) for r in rows]), rows[-1].end

    def tokens_in_range(self, path: str, start: float, end: float) -> np.ndarray | None:
        """The cached tokens (N, T) of a video's frames whose times fall in [start, end] (the nearest frame when
        none does); None when the video has no segments in the library."""
        found = self.frames(path)
        if found is None:
            return None
        times, tokens, _ = found
        inside = (times >= start) & (times <= end)
        if not inside.any():
            return tokens[[np.abs(times - (start + end) / 2).argmin()]]
        return tokens[inside]

    def all_frame_tokens(self) -> tuple[list[int], list[np.ndarray]]:
        """Every segment's id and cached frame tokens: enough to recompute every vector without decoding."""
        with self.Session() as s:
            rows = s.execute(select(Segment.id, Segment.frame_vectors).order_by(Segment.id)).all()
        return [r.id for r in rows], [self._tokens(r.frame_vectors) for r in rows]

    def _tokens(self, blob: bytes) -> np.ndarray:
        """A segment's frame_vectors column -> (N, T) float32: int8 codes then one float32 scale a frame
        (libraries made since footage 0.9: meta tokens = "int8"), or float16 (older ones)."""
        if self.token_format != "int8":
            return np.frombuffer(blob, np.float16).astype(np.float32).reshape(-1, self.token_dim)
        n = len(blob) // (self.token_dim + 4)
        codes = np.frombuffer(blob, np.int8, n * self.token_dim).reshape(n, self.token_dim)
        return codes * (np.frombuffer(blob, np.float32, n, n * self.token_dim) / 127)[:, None]

    def _token_blob(self, tokens: np.ndarray) -> bytes:
        """(N, T) tokens -> the frame_vectors column (see _tokens): int8 with a scale per frame is a quarter of
        float32 and half of float16, and moves a token's cosine with any query by under 1e-3."""
        tokens = np.asarray(tokens, np.float32).reshape(-1, self.token_dim)
        if self.token_format != "int8":
            return np.ascontiguousarray(tokens, np.float16).tobytes()
        scale = np.maximum(np.abs(tokens).max(axis=1), 1e-12).astype(np.float32)
        codes = np.clip(np.rint(tokens / scale[:, None] * 127), -127, 127).astype(np.int8)
        return codes.tobytes() + scale.tobytes()

    def _vector(self, blob: bytes) -> np.ndarray:
        """A segment's vector column -> (D,) float32: float16 since footage 0.9 (half the bytes; FAISS keeps
        float16 anyway), float32 in older rows."""
        kind = np.float16 if len(blob) == 2 * self.index.dim else np.float32
        return np.frombuffer(blob, kind).astype(np.float32)

    @_guarded
    def replace_vectors(
        self,
        ids: list[int],
        vectors: np.ndarray,
        model_id: str,
        views: np.ndarray | None = None,
        meta: dict[str, str] | None = None,
    ) -> None:
        """Gives segments new vectors (and (S, V, D) views) made by another model. Segments are immutable (a
        FAISS file may still hold the old vectors under the old ids), so each becomes a new row with a new id,
        in one transaction, with the settings (`meta`) that made the new model: a run stopped halfway leaves
        both as they were, never a setting whose vectors are not there (which would decode every video again)."""
        fresh = []
        with self.Session.begin() as s:
            for key, value in (meta or {}).items():
                s.merge(Meta(key=key, value=value))
            model = self.model_row(s, model_id, self.index.dim)
            for i in range(0, len(ids), REPAIR_BATCH):  # SQLite caps the variables of one statement
                chunk = ids[i : i + REPAIR_BATCH]
                old = {seg.id: seg for seg in s.scalars(select(Segment).where(Segment.id.in_(chunk)))}
                rows = [
                    Segment(
                        video_id=old[seg_id].video_id,
                        start=old[seg_id].start,
                        end=old[seg_id].end,
                        thumbnail=old[seg_id].thumbnail,
                        model=model,
                        vector=np.ascontiguousarray(vector, np.float16).tobytes(),
                        frame_times=old[seg_id].frame_times,
                        frame_vectors=old[seg_id].frame_vectors,
                        views=None if views is None else np.ascontiguousarray(views[i + k], np.float32).tobytes(),
                    )
                    for k, (seg_id, vector) in enumerate(zip(chunk, vectors[i : i + REPAIR_BATCH]))
                ]
                s.execute(delete(Segment).where(Segment.id.in_(chunk)))
                s.add_all(rows)
                s.flush()
                fresh += rows
            self._video_vectors_anew(s, {row.video_id for row in fresh})
            generation = self._bump(s)
        if meta and "views" in meta:
            self.view_count = len(json.loads(meta["views"]))
        self._apply(generation, ids, *faiss_entries([f.id for f in fresh], vectors, views))

    def _video_vectors_anew(self, s: Session, video_ids: set[int]) -> None:
        """Recomputes these videos' vectors from their segments' (new) vectors, in the caller's transaction."""
        ids = sorted(video_ids)
        for i in range(0, len(ids), REPAIR_BATCH):
            spans: dict[int, list] = {}
            rows = s.execute(
                select(Segment.video_id, Segment.start, Segment.end, Segment.vector).where(
                    Segment.video_id.in_(ids[i : i + REPAIR_BATCH])
                )
            )
            for r in rows:
                spans.setdefault(r.video_id, []).append((r.start, r.end, self._vector(r.vector)))
            for vid, parts in spans.items():
                s.execute(update(Video).where(Video.id == vid).values(vector=video_vector(parts, self.index.dim)))

    def set_meta(self, key: str, value: str) -> None:
        with self.Session.begin() as s:
            s.merge(Meta(key=key, value=value))
        if key == "views":
            self.view_count = len(json.loads(value))

    def stats(self) -> Stats:
        with self.Session() as s:
            indexed = Video.status == "indexed"
            videos = s.scalar(select(func.count()).where(indexed)) or 0
            seconds = s.scalar(select(func.sum(Video.duration)).where(indexed)) or 0.0
            segments = s.scalar(select(func.count(Segment.id))) or 0
            failures = [
                (r.path, r.error)
                for r in s.execute(select(Video.path, Video.error).where(Video.status == "failed").order_by(Video.path))
            ]
            models = list(s.scalars(select(Model.model_id).where(Model.id.in_(select(Segment.model).distinct()))))
            chunks = dict(s.execute(select(TextChunk.channel, func.count()).group_by(TextChunk.channel)).all())
            offline = list(s.scalars(select(Video.path).where(indexed, Video.offline == 1).order_by(Video.path)))
            partial = [
                (r.path, r.warning)
                for r in s.execute(
                    select(Video.path, Video.warning).where(indexed, Video.warning.is_not(None)).order_by(Video.path)
                )
            ]
        predictor = json.loads(self.meta("predictor") or "null")
        return Stats(
            str(self.path),
            self.meta("backbone"),
            videos,
            len(failures),
            segments,
            seconds,
            failures,
            models,
            predictor,
            chunks,
            offline,
            partial,
            self.read_only,
            self.database,
            self.index.describe() if self.index is not None else {},
        )

    # --- writes (the caller holds self.lock) ------------------------------------------------------------

    def save_video(
        self,
        facts: FileFacts,
        segments: list[NewSegment],
        model_id: str,
        chunks: list[NewChunk] = (),
        warning: str | None = None,
    ) -> int:
        """Replaces whatever the library had for this path with these segments and text chunks, in one
        transaction. `warning` says what is missing from it ("partial: ...")."""
        video = self.begin_video(facts, model_id)
        try:
            video.add(segments)
        except BaseException:
            video.abort()
            raise
        return video.finish(facts, chunks, warning)

    def begin_video(self, facts: FileFacts, model_id: str) -> "VideoWrite":
        """A video written in one transaction, its segments added in batches as they are made (a long file's
        pictures never wait in memory): add(...)*, then finish(...) or abort()."""
        return VideoWrite(self, facts, model_id)

    @_guarded
    def save_failure(self, facts: FileFacts, reason: str) -> None:
        """Records why a file could not be indexed; a file that changed into a broken one loses its old segments."""
        with self.Session.begin() as s:
            video, old_ids, old_chunks = self._upsert_video(s, facts, "failed", reason)
            generation = self._bump(s) if old_ids or old_chunks else None
        if old_ids or old_chunks:
            self._apply(generation, old_ids, removed_chunks=old_chunks)
        shutil.rmtree(self.path / "thumbs" / str(video.id), ignore_errors=True)

    def _upsert_video(self, s: Session, facts: FileFacts, status: str, error: str | None):
        """The video row for facts.path, updated, with the ids of the segments and text chunks it had (now
        deleted)."""
        video = s.scalar(select(Video).where(Video.path == facts.path))
        old_ids, old_chunks = [], []
        if video is None:
            video = Video(**vars(facts), status=status, error=error, indexed_at=time.time(), offline=0)
            s.add(video)
            s.flush()
        else:
            old_ids = list(s.scalars(select(Segment.id).where(Segment.video_id == video.id)))
            old_chunks = list(s.scalars(select(TextChunk.id).where(TextChunk.video_id == video.id)))
            s.execute(delete(Segment).where(Segment.video_id == video.id))
            s.execute(delete(TextChunk).where(TextChunk.video_id == video.id))
            for key, value in vars(facts).items():
                setattr(video, key, value)
            video.status, video.error, video.indexed_at = status, error, time.time()
            video.vector = None  # save_video sets it from the new segments
            video.warning, video.offline = None, 0
        return video, old_ids, old_chunks

    def _apply(self, generation: int, removed, added_ids=(), added_vectors=None, removed_chunks=()) -> None:
        """Mirrors a committed change in FAISS (in memory; `flush` saves it); `removed` are segment ids."""
        self.index.remove(faiss_ids(removed) if len(removed) else removed)
        self.index.remove(np.asarray(list(removed_chunks), np.int64) + TEXT_ID_BASE)
        if len(added_ids):
            self.index.add(added_ids, added_vectors)
        self.index.generation = generation
        self.dirty = True

    def move(self, video_id: int, facts: FileFacts) -> None:
        """A file seen before under another name (same content): keep its segments, take the new name."""
        with self.Session.begin() as s:
            s.execute(update(Video).where(Video.id == video_id).values(**vars(facts)))

    def touch(self, files: list[tuple[int, FileFacts]]) -> None:
        """Videos with the same content and a new mtime, ctime or inode (a copy, `touch`, a drive mounted
        again): remembered, in one transaction, so the next run skips the hash."""
        if not files:
            return
        keys = ("size", "mtime", "fingerprint", "ctime", "inode", "sidecars")
        with self.Session.begin() as s:
            s.execute(update(Video), [{"id": i, **{k: getattr(f, k) for k in keys}} for i, f in files])

    @_guarded
    def set_offline(self, video_ids: list[int], offline: bool) -> None:
        """Marks videos whose files are missing (a drive not mounted) as offline, or back online. Their rows and
        vectors stay; search leaves offline ones out."""
        if not video_ids:
            return
        with self.Session.begin() as s:
            for i in range(0, len(video_ids), REPAIR_BATCH):
                chunk = video_ids[i : i + REPAIR_BATCH]
                s.execute(update(Video).where(Video.id.in_(chunk)).values(offline=int(offline)))
            generation = self._bump(s)  # searches read which ids to leave out anew
        self._apply(generation, [])

    @_guarded
    def remove(self, video_ids: list[int]) -> int:
        """Drops videos with their segments and thumbnails; returns how many were dropped."""
        if not video_ids:
            return 0
        seg_ids, chunk_ids = [], []
        with self.Session.begin() as s:
            for i in range(0, len(video_ids), REPAIR_BATCH):
                chunk = video_ids[i : i + REPAIR_BATCH]
                seg_ids += s.scalars(select(Segment.id).where(Segment.video_id.in_(chunk)))
                chunk_ids += s.scalars(select(TextChunk.id).where(TextChunk.video_id.in_(chunk)))
                s.execute(delete(Segment).where(Segment.video_id.in_(chunk)))
                s.execute(delete(TextChunk).where(TextChunk.video_id.in_(chunk)))
                s.execute(delete(Video).where(Video.id.in_(chunk)))
            generation = self._bump(s)
        self._apply(generation, seg_ids, removed_chunks=chunk_ids)
        for vid in video_ids:
            shutil.rmtree(self.path / "thumbs" / str(vid), ignore_errors=True)
        return len(video_ids)

    def _write_thumbnail(self, video_id: int, segment_id: int, jpeg: bytes, written: list[Path]) -> str:
        folder = self.path / "thumbs" / str(video_id)
        path = folder / f"{segment_id}.jpg"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            written.append(path)
            path.write_bytes(jpeg)
        except OSError as e:
            raise disk_full(e, path) from None
        return f"thumbs/{video_id}/{path.name}"

    def _prune_thumbnails(self, video_id: int, keep: set[str]) -> None:
        """Deletes a video's thumbnails of segments it no longer has (after the commit that replaced them)."""
        folder = self.path / "thumbs" / str(video_id)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
            return
        for old in folder.iterdir():
            if old.name not in keep:
                old.unlink(missing_ok=True)

    def close(self) -> None:
        self.lock.release()
        self.engine.dispose()
        if self._copy is not None:
            self._copy.cleanup()

    @_guarded
    def consistent(self) -> bool:
        """True when FAISS in memory holds exactly SQLite's segments and views (what a crash must never break)."""
        with self.Session() as s:
            db_ids = np.sort(self._db_ids(s))
        return bool(np.array_equal(db_ids, np.sort(self.index.ids())))


class VideoWrite:
    """One video written in one transaction (Store.begin_video): its old rows go, its segments are added in
    batches as the indexer makes them, and `finish` commits it all and mirrors it in FAISS; `abort`, or any
    error, leaves the library as it was. Only what FAISS and the video's vector need stays in memory: a
    10-hour file's frame tokens and thumbnails are in the database and on disk as soon as they are made.
    The transaction stays open while the file decodes; readers see the old rows until the commit."""

    def __init__(self, store: Store, facts: FileFacts, model_id: str):
        self.store = store
        self.written: list[Path] = []  # thumbnails, removed if the transaction does not commit
        self.spans: list[tuple[float, float, np.ndarray]] = []  # (start, end, vector) of each segment
        self.ids: list[np.ndarray] = []  # FAISS ids and vectors (float16 until the commit) of the segments
        self.vectors: list[np.ndarray] = []
        self.s = store.Session()
        try:
            self.s.begin()
            self.video, self.old_ids, self.old_chunks = store._upsert_video(self.s, facts, "indexed", None)
            self.model = store.model_row(self.s, model_id, store.index.dim)
        except BaseException:
            self.abort()
            raise

    def add(self, segments: list[NewSegment]) -> None:
        """Writes these segments (the next ones in the video) and their thumbnails, uncommitted."""
        if not segments:
            return
        store, video_id = self.store, self.video.id
        rows = [
            Segment(
                video_id=video_id,
                start=seg.start,
                end=seg.end,
                model=self.model,
                vector=np.ascontiguousarray(seg.vector, np.float16).tobytes(),
                frame_times=np.ascontiguousarray(seg.frame_times, np.float32).tobytes(),
                frame_vectors=store._token_blob(seg.frame_vectors),
                views=None if seg.views is None else np.ascontiguousarray(seg.views, np.float32).tobytes(),
            )
            for seg in segments
        ]
        self.s.add_all(rows)
        self.s.flush()  # the segments' ids name their thumbnails
        for row, seg in zip(rows, segments):
            if seg.thumbnail is not None:
                row.thumbnail = store._write_thumbnail(video_id, row.id, seg.thumbnail, self.written)
        self.s.flush()
        vectors = np.stack([g.vector for g in segments])  # (S, D)
        ids, vectors = faiss_entries([r.id for r in rows], vectors, [g.views for g in segments])
        self.ids.append(ids)
        self.vectors.append(vectors.astype(np.float16))
        self.spans += [(g.start, g.end, np.asarray(g.vector, np.float16)) for g in segments]
        for row in rows:  # the session keeps no row it has written: they would hold every frame's tokens
            self.s.expunge(row)

    def finish(self, facts: FileFacts, chunks: list[NewChunk] = (), warning: str | None = None) -> int:
        """Commits the video with what decoding learnt about it (`facts`), its text chunks and `warning`
        ("partial: ..."), then mirrors it in FAISS; returns its id. Thumbnails are named by their segment's id,
        which is never reused: the old ones stay until the commit."""
        store, s, video = self.store, self.s, self.video
        with store.guard:  # a commit and its mirror in FAISS are seen together
            try:
                for key, value in vars(facts).items():
                    setattr(video, key, value)
                video.warning = warning
                text_rows = [
                    TextChunk(
                        video_id=video.id,
                        channel=c.channel,
                        start=c.start,
                        end=c.end,
                        text=c.text,
                        vector=np.ascontiguousarray(c.vector, np.float32).tobytes(),
                    )
                    for c in chunks
                ]
                video.vector = video_vector(self.spans, store.index.dim)
                s.add_all(text_rows)
                s.flush()
                generation = store._bump(s)
                s.commit()
            except BaseException:
                self.abort()
                raise
            video_id = video.id
            s.close()
            store._prune_thumbnails(video_id, keep={p.name for p in self.written})
            ids = np.concatenate([*self.ids, np.array([r.id for r in text_rows], np.int64) + TEXT_ID_BASE])
            chunk_vectors = [np.asarray(c.vector, np.float32)[None] for c in chunks]
            vectors = np.concatenate([np.zeros((0, store.index.dim), np.float32), *self.vectors, *chunk_vectors])
            store._apply(generation, self.old_ids, ids, vectors.astype(np.float32), self.old_chunks)
        return video_id

    def abort(self) -> None:
        """Drops the transaction and the thumbnails written for it."""
        self.s.rollback()
        self.s.close()
        for path in self.written:
            path.unlink(missing_ok=True)
        if self.written:
            try:  # a folder made for this video alone goes too
                self.written[0].parent.rmdir()
            except OSError:
                pass
        self.written = []
