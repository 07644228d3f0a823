"""The database schema (SQLAlchemy 2) and its ordered migrations, for SQLite (LIBRARY/library.db) and for
PostgreSQL (`footage --db URL`, footage/store/postgres.py): one schema, portable queries; where the two differ
(the schema version, full-text search, paths that are not UTF-8, 64-bit integers) it is said here.

The database is the source of truth: every segment row carries its vector, so the FAISS index can always be
rebuilt from it. `meta.generation` goes up in the same transaction as every change to segments; the FAISS
file records the generation it was saved at, which is how a stale index is noticed on open.

SQLite's own errors are turned into footage's here, once for every query: a damaged file, a full disk, a
read-only medium.
"""

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

from sqlalchemy import (
    BigInteger,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

from footage.errors import DiskFull, LibraryDamaged, LibraryError, LibraryReadOnly
from footage.store.lock import MIGRATE_LOCK

SCHEMA_VERSION = 7
BUSY_TIMEOUT_MS = 30_000
PAGE_SIZE = 16384
FULL_BYTES = 1 << 20  # less room than this on the disk: an I/O error is taken to be a full disk
# Ids, sizes and inodes: SQLite's INTEGER is 64-bit already, PostgreSQL's is 32 (a 3 GB file, an XFS inode)
Int64 = Integer().with_variant(BigInteger(), "postgresql")
# PostgreSQL's text holds UTF-8 without NUL only: a path whose bytes are not that (or that starts with this mark)
# is kept as the mark and its bytes percent-escaped, printable ASCII but % as it is; nothing else starts so
PATH_MARK = "%bytes:"
PATH_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


class FsPath(TypeDecorator):
    """A file path, stored losslessly by its bytes on disk: as text when they are UTF-8, else as the bytes
    themselves (a name like caf\\xe9.mp4 written by an old Latin-1 system), which SQLite's text cannot hold.
    Going by the bytes, not Python's string, one file is one row whatever the locale footage runs in.
    PostgreSQL has no bytes in a text column: there such a path is PATH_MARK and its escaped bytes. Its
    collation is "C" there, so paths sort by their bytes as in SQLite, not by the database's language."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(String(collation="C"))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        raw = os.fsencode(value)
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded = None
        if dialect.name != "postgresql":
            return raw if decoded is None else decoded
        if decoded is None or decoded.startswith(PATH_MARK) or "\0" in decoded:
            return PATH_MARK + quote_from_bytes(raw, safe=PATH_SAFE)
        return decoded

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str) and value.startswith(PATH_MARK) and dialect.name == "postgresql":
            return os.fsdecode(unquote_to_bytes(value[len(PATH_MARK) :]))
        return os.fsdecode(value if isinstance(value, bytes) else value.encode("utf-8"))


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Library-wide settings: schema_version, backbone, generation."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(String)


class Model(Base):
    """A model that produced vectors (backbone, encoders and predictor version in one id)."""

    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    model_id: Mapped[str] = mapped_column(String, unique=True)
    dim: Mapped[int] = mapped_column(Integer)


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused: thumbnails live under them
    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    path: Mapped[str] = mapped_column(FsPath, unique=True)  # absolute, resolved
    size: Mapped[int] = mapped_column(Int64)
    mtime: Mapped[float] = mapped_column(Float)
    fingerprint: Mapped[str] = mapped_column(String, index=True)  # content hash: finds renamed files
    status: Mapped[str] = mapped_column(String)  # "indexed" | "failed"
    error: Mapped[str | None] = mapped_column(String, nullable=True)  # why it failed
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)  # seconds
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    codec: Mapped[str | None] = mapped_column(String, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start_time: Mapped[float | None] = mapped_column(Float, nullable=True)  # container time of the first frame
    sample_fps: Mapped[float | None] = mapped_column(Float, nullable=True)  # frames per second fed to the model
    indexed_at: Mapped[float] = mapped_column(Float)  # unix time
    # v5, last as ALTER TABLE puts them: a new and a migrated database keep their columns in one order
    warning: Mapped[str | None] = mapped_column(String, nullable=True)  # indexed, but not whole ("partial: ...")
    # 1: its file was missing at the last run, under a folder that is missing or emptied (a drive not mounted):
    # kept, and left out of search until it is back or pruned
    offline: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ctime: Mapped[float | None] = mapped_column(Float, nullable=True)  # with size, mtime and inode: unchanged
    inode: Mapped[int | None] = mapped_column(Int64, nullable=True)
    sidecars: Mapped[str | None] = mapped_column(String, nullable=True)  # its subtitle files' names, sizes, mtimes
    # v6: float16 (D,), unit length: its segments' vectors averaged by their length (search weighs the whole
    # video in); None in rows from before v6, worked out from the segments when asked
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    segments: Mapped[list["Segment"]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True
    )


class Segment(Base):
    """A stretch of one video. Immutable: a segment whose vector changes is a new row with a new id, so a
    FAISS index holding the same ids as SQLite always holds the same vectors."""

    __tablename__ = "segments"
    __table_args__ = {"sqlite_autoincrement": True}  # never reuse an id a stale FAISS file may still hold
    id: Mapped[int] = mapped_column(Int64, primary_key=True)  # also the FAISS id
    video_id: Mapped[int] = mapped_column(Int64, ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    start: Mapped[float] = mapped_column(Float)  # seconds from the video's first frame
    end: Mapped[float] = mapped_column(Float)
    thumbnail: Mapped[str | None] = mapped_column(String, nullable=True)  # relative to the library folder
    model: Mapped[int] = mapped_column(Int64, ForeignKey("models.id"))
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (D,), unit length: what FAISS holds
    frame_times: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (N,), seconds from the first frame
    # float16 (N, D): the frames' tokens (the predictor's input), to re-pool, re-rank and train without decoding
    frame_vectors: Mapped[bytes] = mapped_column(LargeBinary)
    # float32 (V, D): the segment pooled for each of the library's indexing prompts ("views"); None: no views
    views: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    video: Mapped[Video] = relationship(back_populates="segments")


class Caption(Base):
    """A segment's caption by one decoder, decoded the first time the segment was shown in a hit. A segment
    row belongs to one predictor version (new vectors are new rows), so this caches per predictor too."""

    __tablename__ = "captions"
    segment_id: Mapped[int] = mapped_column(Int64, ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True)
    decoder: Mapped[str] = mapped_column(String, primary_key=True)  # the decoder's id
    text: Mapped[str] = mapped_column(String)


class TextChunk(Base):
    """A few seconds of what is said or written in a video (speech, subtitles), with its Y vector. FAISS holds
    the vector under TEXT_ID_BASE + id; the text_fts table indexes the words."""

    __tablename__ = "text_chunks"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    video_id: Mapped[int] = mapped_column(Int64, ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String)  # "speech" | "subtitles"
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(String)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (D,), unit length


class FeedbackMark(Base):
    """A person's mark on a moment a search found: right (what they looked for) or wrong. One mark per query
    and moment: marking it again replaces it. It goes with its video (a removed video leaves no mark pointing
    at nothing); `segment_id` is the hit's segment when marked, a note only: training a predictor gives every
    segment a new id, so it is no foreign key."""

    __tablename__ = "marks"
    __table_args__ = (
        UniqueConstraint("query", "video_id", "start", "end", name="marks_moment"),
        {"sqlite_autoincrement": True},  # an id a page still shows never names a newer mark
    )
    id: Mapped[int] = mapped_column(Int64, primary_key=True)
    query: Mapped[str] = mapped_column(String)
    video_id: Mapped[int] = mapped_column(Int64, ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    start: Mapped[float] = mapped_column(Float)  # seconds from the video's first frame
    end: Mapped[float] = mapped_column(Float)
    is_right: Mapped[int] = mapped_column(Integer)  # 1 right, 0 wrong (RIGHT is a keyword of SQL)
    segment_id: Mapped[int | None] = mapped_column(Int64, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)  # unix time of the last marking


# Full-text search over the chunks (SQLite FTS5, an external-content table kept in step by triggers).
FTS_SQLITE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS text_fts USING fts5(text, content='text_chunks', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS text_chunks_ai AFTER INSERT ON text_chunks BEGIN "
    "INSERT INTO text_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS text_chunks_ad AFTER DELETE ON text_chunks BEGIN "
    "INSERT INTO text_fts(text_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
]
# PostgreSQL: a GIN index on the words of each chunk, which keyword search's to_tsvector must match exactly.
# 'simple' lowercases and keeps every word (no stemming, no stop words), as FTS5's unicode61 does; it keeps
# accents, where FTS5 drops them (remove_diacritics)
WORDS_PG = "to_tsvector('simple', text)"
FTS_PG = [f"CREATE INDEX IF NOT EXISTS text_chunks_words ON text_chunks USING gin ({WORDS_PG})"]


# A new database gets the whole current schema from _v1; the later steps bring older databases up, and leave
# alone what _v1 already made.


def _v1(conn) -> None:
    Base.metadata.create_all(conn)


def _v2(conn) -> None:
    Caption.__table__.create(conn, checkfirst=True)


def _postgres(conn) -> bool:
    return conn.dialect.name == "postgresql"


def _columns(conn, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _v3(conn) -> None:
    if "views" not in _columns(conn, "segments"):
        conn.execute(text(f"ALTER TABLE segments ADD COLUMN views {'BYTEA' if _postgres(conn) else 'BLOB'}"))


def _v4(conn) -> None:
    TextChunk.__table__.create(conn, checkfirst=True)
    for statement in FTS_PG if _postgres(conn) else FTS_SQLITE:
        conn.execute(text(statement))


def _v5(conn) -> None:
    """Partial files, offline drives, and a stricter test of whether a file changed."""
    have = _columns(conn, "videos")
    for column, kind in (
        ("warning", "VARCHAR"),
        ("offline", "INTEGER NOT NULL DEFAULT 0"),
        ("ctime", "FLOAT"),
        ("inode", "BIGINT" if _postgres(conn) else "INTEGER"),
        ("sidecars", "VARCHAR"),
    ):
        if column not in have:
            conn.execute(text(f"ALTER TABLE videos ADD COLUMN {column} {kind}"))


def _v6(conn) -> None:
    """A video's own vector, so a search over millions of segments does not average them for each hit."""
    if "vector" not in _columns(conn, "videos"):
        conn.execute(text(f"ALTER TABLE videos ADD COLUMN vector {'BYTEA' if _postgres(conn) else 'BLOB'}"))


def _v7(conn) -> None:
    """Marks on search hits, to train on (`footage mark`, `footage train --from-feedback`)."""
    FeedbackMark.__table__.create(conn, checkfirst=True)


# Ordered: MIGRATIONS[i] takes a database from version i to i + 1.
MIGRATIONS = [_v1, _v2, _v3, _v4, _v5, _v6, _v7]
assert len(MIGRATIONS) == SCHEMA_VERSION


def open_engine(db: Path, read_only: bool = False, immutable: bool = False, wal: bool = True) -> Engine:
    """An engine on the library's database. Read-only opens never write (no WAL switch, no migration);
    `immutable` reads a database no process is writing, as on a read-only medium, where SQLite cannot
    make the shared-memory file WAL readers need. `wal=False` keeps a rollback journal (a database built
    aside and then renamed into place)."""
    if read_only:
        uri = f"file:{quote(os.fsencode(db))}?mode=ro" + ("&immutable=1" if immutable else "")

        def connect():
            return sqlite3.connect(uri, uri=True, check_same_thread=False)

    else:

        def connect():
            return sqlite3.connect(os.fsencode(db), check_same_thread=False)

    # creator: a path with '?' or '#' is no URL; QueuePool: what SQLAlchemy uses for a file database
    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        cursor = dbapi_conn.cursor()
        if not read_only:
            # a segment row (float16 vector, int8 frame tokens) is ~3 KB: in 4 KB pages each takes a page of its
            # own, in 16 KB pages five share one (a third less disk). Takes effect on a new database only.
            cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
        if not read_only and wal:
            cursor.execute("PRAGMA journal_mode=WAL")  # readers (search) never block the writer (index)
            cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable at checkpoints, never corrupt
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "handle_error")
    def _translate(context):
        error = context.original_exception
        name = getattr(error, "sqlite_errorname", "") or ""
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            raise LibraryDamaged(
                f"{db}: the library's database is damaged ({error}); `footage repair` rebuilds it from what can "
                "still be read, keeping a copy of the damaged file"
            ) from None
        if name.startswith("SQLITE_FULL") or (name.startswith("SQLITE_IOERR") and _full(db)):
            raise DiskFull(f"{db}: disk full; what was indexed before is kept") from None
        if name.startswith("SQLITE_READONLY"):
            raise LibraryReadOnly(f"{db.parent}: the library is read-only ({error})") from None
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM", "SQLITE_AUTH")):
            raise LibraryError(f"{db}: cannot use the library's database ({error})") from None

    return engine


def _full(db: Path) -> bool:
    """The disk holding the database has no room left (SQLite says only "disk I/O error" when it cannot make
    the shared-memory file a WAL database needs)."""
    try:
        return shutil.disk_usage(db.parent).free < FULL_BYTES
    except OSError:
        return False


def kind(db: Path) -> str:
    """What a library.db holds, read without writing: "footage" (a library, of any schema version), "empty"
    (no tables yet), "foreign" (another program's tables: never to be written) or "unreadable"."""
    uri = f"file:{quote(os.fsencode(db))}?mode=ro"
    for flags in ("", "&immutable=1"):  # the second on a read-only medium
        try:
            with contextlib.closing(sqlite3.connect(uri + flags, uri=True)) as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError:
            continue
        except sqlite3.DatabaseError:
            return "unreadable"
        return "footage" if version >= 1 else "foreign" if tables else "empty"
    return "unreadable"


def migrate(engine: Engine, read_only: bool = False) -> int:
    """Brings the database up to SCHEMA_VERSION; returns the version it found. A read-only library is
    only read: it must be current already. On PostgreSQL the steps run under a transaction's advisory lock:
    two machines opening a new or older library at once migrate it once (DDL is transactional there)."""
    with engine.begin() as conn:
        found = version(conn)
        if read_only or found >= SCHEMA_VERSION:
            return found
        if _postgres(conn):
            conn.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})"))
            found = version(conn)  # another process may have migrated it while this one waited
        for step in range(found, SCHEMA_VERSION):
            MIGRATIONS[step](conn)
            _set_version(conn, step + 1)
    return found


def version(conn) -> int:
    """The schema version of the database: SQLite's user_version; on PostgreSQL, which has none, the meta
    table's schema_version (0: no footage tables yet)."""
    if not _postgres(conn):
        return conn.execute(text("PRAGMA user_version")).scalar_one()
    if "meta" not in inspect(conn).get_table_names():
        return 0
    found = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
    return int(found) if found is not None else 0


def _set_version(conn, to: int) -> None:
    if not _postgres(conn):
        conn.execute(text(f"PRAGMA user_version = {to}"))
        return
    upsert = pg_insert(Meta).values(key="schema_version", value=str(to))
    conn.execute(upsert.on_conflict_do_update(index_elements=[Meta.key], set_={"value": str(to)}))
