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

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from footage.errors import DiskFull, FootageError, LibraryDamaged, LibraryError, LibraryReadOnly, NoLibrary
from footage.store import postgres
from footage.store.lock import AdvisoryLock, WriteLock
from footage.store.maintenance import Maintenance
from footage.store.reads import Reads
from footage.store.rows import (
    EVERYWHERE,
    MAX_VIEWS,
    VIEW_ID_BASE,
    FileFacts,
    NewChunk,
    NewSegment,
    Scope,
    Stats,
    StoredChunk,
    StoredSegment,
    StoredVideo,
    VideoRow,
    disk_full,
    faiss_entries,
    guarded,
    library_path,
)
from footage.store.schema import SCHEMA_VERSION, Meta, Model, kind, migrate, open_engine
from footage.store.vectors import FOLDER, STATE, Vectors
from footage.store.writes import VideoWrite, Writes

# what other modules have imported from here since the rows had no module of their own
__all__ = [
    "EVERYWHERE",
    "MAX_VIEWS",
    "VIEW_ID_BASE",
    "FileFacts",
    "NewChunk",
    "NewSegment",
    "Scope",
    "Stats",
    "Store",
    "StoredChunk",
    "StoredSegment",
    "StoredVideo",
    "VideoRow",
    "VideoWrite",
    "disk_full",
    "faiss_entries",
    "library_path",
]


class Store(Reads, Writes, Maintenance):
    """One library: its database (SQLite or PostgreSQL), FAISS vectors and thumbnails. Opening, the schema, the
    write lock, settings (meta) and the columns' encodings are here; reads.py, writes.py and maintenance.py
    hold the rest, query.py a search's reads in three statements and rows.py the values they pass."""

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

    @guarded
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

    def set_meta(self, key: str, value: str) -> None:
        with self.Session.begin() as s:
            s.merge(Meta(key=key, value=value))
        if key == "views":
            self.view_count = len(json.loads(value))

    # --- the columns' encodings ------------------------------------------------------------------------

    def _views(self, blob: bytes | None) -> np.ndarray | None:
        return None if blob is None else np.frombuffer(blob, np.float32).reshape(-1, self.index.dim)

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

    def close(self) -> None:
        self.lock.release()
        self.engine.dispose()
        if self._copy is not None:
            self._copy.cleanup()
