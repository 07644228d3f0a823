"""The SQLite schema (SQLAlchemy 2) and its ordered migrations.

SQLite is the source of truth: every segment row carries its vector, so the FAISS index can always be
rebuilt from it. `meta.generation` goes up in the same transaction as every change to segments; the FAISS
file records the generation it was saved at, which is how a stale index is noticed on open.
"""

from sqlalchemy import Engine, Float, ForeignKey, Integer, LargeBinary, String, event, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SCHEMA_VERSION = 4


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
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[str] = mapped_column(String, unique=True)
    dim: Mapped[int] = mapped_column(Integer)


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused: thumbnails live under them
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String, unique=True)  # absolute, resolved
    size: Mapped[int] = mapped_column(Integer)
    mtime: Mapped[float] = mapped_column(Float)
    fingerprint: Mapped[str] = mapped_column(String, index=True)  # content hash: finds renamed files
    status: Mapped[str] = mapped_column(String)  # "indexed" | "failed"
    error: Mapped[str | None] = mapped_column(String, nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)  # seconds
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    codec: Mapped[str | None] = mapped_column(String, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start_time: Mapped[float | None] = mapped_column(Float, nullable=True)  # container time of the first frame
    sample_fps: Mapped[float | None] = mapped_column(Float, nullable=True)  # frames per second fed to the model
    indexed_at: Mapped[float] = mapped_column(Float)  # unix time
    segments: Mapped[list["Segment"]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True
    )


class Segment(Base):
    """A stretch of one video. Immutable: a segment whose vector changes is a new row with a new id, so a
    FAISS index holding the same ids as SQLite always holds the same vectors."""

    __tablename__ = "segments"
    __table_args__ = {"sqlite_autoincrement": True}  # never reuse an id a stale FAISS file may still hold
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # also the FAISS id
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    start: Mapped[float] = mapped_column(Float)  # seconds from the video's first frame
    end: Mapped[float] = mapped_column(Float)
    thumbnail: Mapped[str | None] = mapped_column(String, nullable=True)  # relative to the library folder
    model: Mapped[int] = mapped_column(ForeignKey("models.id"))
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
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True)
    decoder: Mapped[str] = mapped_column(String, primary_key=True)  # the decoder's id
    text: Mapped[str] = mapped_column(String)


class TextChunk(Base):
    """A few seconds of what is said or written in a video (speech, subtitles), with its Y vector. FAISS holds
    the vector under TEXT_ID_BASE + id; the text_fts table indexes the words."""

    __tablename__ = "text_chunks"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String)  # "speech" | "subtitles"
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(String)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (D,), unit length


# Full-text search over the chunks (SQLite FTS5, an external-content table kept in step by triggers).
FTS = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS text_fts USING fts5(text, content='text_chunks', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS text_chunks_ai AFTER INSERT ON text_chunks BEGIN "
    "INSERT INTO text_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS text_chunks_ad AFTER DELETE ON text_chunks BEGIN "
    "INSERT INTO text_fts(text_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
]


# A new database gets the whole current schema from _v1; the later steps bring older databases up, and leave
# alone what _v1 already made.


def _v1(conn) -> None:
    Base.metadata.create_all(conn)


def _v2(conn) -> None:
    Caption.__table__.create(conn, checkfirst=True)


def _v3(conn) -> None:
    if not conn.execute(text("SELECT count(*) FROM pragma_table_info('segments') WHERE name = 'views'")).scalar():
        conn.execute(text("ALTER TABLE segments ADD COLUMN views BLOB"))


def _v4(conn) -> None:
    TextChunk.__table__.create(conn, checkfirst=True)
    for statement in FTS:
        conn.execute(text(statement))


# Ordered: MIGRATIONS[i] takes a database from version i to i + 1.
MIGRATIONS = [_v1, _v2, _v3, _v4]
assert len(MIGRATIONS) == SCHEMA_VERSION


def enable_sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers (search) never block the writer (index)
        cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable at checkpoints, never corrupt
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def migrate(engine: Engine) -> int:
    """Brings the database up to SCHEMA_VERSION; returns the version it found."""
    with engine.begin() as conn:
        found = conn.execute(text("PRAGMA user_version")).scalar_one()
        for version in range(found, SCHEMA_VERSION):
            MIGRATIONS[version](conn)
            conn.execute(text(f"PRAGMA user_version = {version + 1}"))
    return found
