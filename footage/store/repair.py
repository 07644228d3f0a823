"""Rebuilding a damaged library database from what can still be read of it.

A database truncated by a full disk or a dying drive, or overwritten in part, still holds most of its rows.
They are read table by table (row by row where a table's tree is broken) into a new database. A video is
kept only when all its segments came back (they tile it from its first frame to its end, under consecutive
ids); the others are dropped, so the next `footage index` reads them again. The damaged file is kept beside
the new one, and the FAISS index is rebuilt from SQLite on the next open.
"""

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text

from footage.errors import LibraryError, LibraryReadOnly, NoLibrary
from footage.store.lock import WriteLock
from footage.store.schema import migrate, open_engine

# Tables copied, in an order that satisfies their foreign keys. Captions are a cache and are not copied.
TABLES = ("meta", "models", "videos", "segments", "text_chunks")
BATCH = 500
MISSES = 1_000  # consecutive unreadable row ids after which a broken table is taken to end
END_SLACK = 1.5  # seconds a video's last segment may end before its recorded duration


@dataclass
class Repaired:
    library: str
    damaged: bool  # False: the database was whole, nothing was changed
    kept_as: str | None = None  # where the damaged file was kept
    videos: int = 0  # videos recovered whole, with their segments and text
    segments: int = 0
    text_chunks: int = 0
    dropped: list[str] = field(default_factory=list)  # videos not recovered whole: the next index reads them
    problem: str | None = None  # what SQLite said about the damaged file


def _read_only(db: Path) -> str:
    return f"file:{quote(os.fsencode(db))}?mode=ro"


def check(db: Path) -> str | None:
    """None when SQLite finds the database whole, else what it says is wrong."""
    try:
        with sqlite3.connect(_read_only(db), uri=True) as conn:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        return None if rows == [("ok",)] else "; ".join(r[0] for r in rows[:3])
    except sqlite3.DatabaseError as e:
        return str(e)


def read_rows(conn: sqlite3.Connection, table: str) -> list[tuple]:
    """Every readable row of a table, rowid first: in batches, then one by one past a broken page."""
    try:
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    except sqlite3.DatabaseError:
        return []
    if not columns:
        return []
    select = f"SELECT rowid, {', '.join(columns)} FROM {table}"
    rows, last = [], 0
    while True:
        try:
            batch = conn.execute(f"{select} WHERE rowid > ? ORDER BY rowid LIMIT {BATCH}", (last,)).fetchall()
        except sqlite3.DatabaseError:
            break
        if not batch:
            return rows
        rows += batch
        last = batch[-1][0]
    misses, rowid = 0, last + 1
    while misses < MISSES:
        try:
            row = conn.execute(f"{select} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None:
            misses += 1
        else:
            rows.append(row)
            misses = 0
        rowid += 1
    return rows


def _whole(video: dict, segments: list[dict]) -> bool:
    """All of a video's segments came back: consecutive ids, each starting where the last ended, the first at
    the video's first frame and the last near its end."""
    if not segments:
        return False
    segments = sorted(segments, key=lambda s: s["id"])
    ids_follow = all(b["id"] == a["id"] + 1 for a, b in zip(segments, segments[1:]))
    tiled = all(abs(b["start"] - a["end"]) < 1e-3 for a, b in zip(segments, segments[1:]))
    step = 1.0 / (video.get("sample_fps") or 1.0)
    ends = video.get("duration") is None or segments[-1]["end"] >= video["duration"] - step - END_SLACK
    return ids_follow and tiled and segments[0]["start"] < 1e-3 and ends


def repair(path: Path) -> Repaired:
    """Checks the library at `path`; a damaged database is rebuilt as the module says."""
    db = path / "library.db"
    if not db.is_file():
        raise NoLibrary(f"{path}: no footage library here")
    problem = check(db)
    if problem is None:
        return Repaired(str(path), damaged=False)
    if not os.access(path, os.W_OK):
        raise LibraryReadOnly(f"{path}: the library is damaged ({problem}) and read-only: copy it somewhere writable")
    with WriteLock(path / "write.lock"):
        return _rebuild(path, db, problem)


def _rebuild(path: Path, db: Path, problem: str) -> Repaired:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = db.with_name(f"{db.name}.damaged-{stamp}")
    try:
        shutil.copyfile(db, kept)
        for suffix in ("-wal", "-shm"):
            if db.with_name(db.name + suffix).exists():
                shutil.copyfile(db.with_name(db.name + suffix), kept.with_name(kept.name + suffix))
    except OSError as e:
        raise LibraryError(
            f"{db}: cannot keep a copy of the damaged database ({e.strerror}); nothing changed"
        ) from None
    with sqlite3.connect(_read_only(kept), uri=True) as old:
        data = {table: read_rows(old, table) for table in TABLES}
        names = {}
        for table in TABLES:
            try:
                names[table] = [r[1] for r in old.execute(f"PRAGMA table_info({table})")]
            except sqlite3.DatabaseError:
                names[table] = []
    rows = {t: [dict(zip(["rowid", *names[t]], r)) for r in data[t]] for t in TABLES}

    by_video: dict[int, list[dict]] = {}
    for seg in rows["segments"]:
        by_video.setdefault(seg["video_id"], []).append(seg)
    keep, dropped = set(), []
    for video in rows["videos"]:
        if video.get("status") == "failed" or _whole(video, by_video.get(video["id"], [])):
            keep.add(video["id"])
        else:
            dropped.append(os.fsdecode(video["path"]) if isinstance(video["path"], bytes) else video["path"])

    new = db.with_name(db.name + ".rebuilt")
    new.unlink(missing_ok=True)
    engine = open_engine(new)
    try:
        migrate(engine)
        with engine.begin() as conn:
            _insert(conn, "meta", [r for r in rows["meta"] if r.get("key") != "generation"])
            conn.execute(text("INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', '1')"))
            _insert(conn, "models", rows["models"])
            _insert(conn, "videos", [r for r in rows["videos"] if r["id"] in keep])
            models = {r["id"] for r in rows["models"]}
            segments = [r for r in rows["segments"] if r["video_id"] in keep and r.get("model") in models]
            _insert(conn, "segments", segments)
            chunks = [r for r in rows["text_chunks"] if r["video_id"] in keep]
            _insert(conn, "text_chunks", chunks)
            for table in ("videos", "segments", "text_chunks"):  # ids are never reused, even those lost
                top = max((r["rowid"] for r in rows[table]), default=0)
                conn.execute(text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
                conn.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :n)"), {"t": table, "n": top})
    finally:
        engine.dispose()
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    os.replace(new, db)
    (path / "vectors.faiss").unlink(missing_ok=True)  # rebuilt from SQLite on the next open
    for video_id in {r["id"] for r in rows["videos"]} - keep:
        shutil.rmtree(path / "thumbs" / str(video_id), ignore_errors=True)
    return Repaired(
        str(path),
        damaged=True,
        kept_as=str(kept),
        videos=sum(1 for r in rows["videos"] if r["id"] in keep and r.get("status") == "indexed"),
        segments=len(segments),
        text_chunks=len(chunks),
        dropped=sorted(dropped),
        problem=problem,
    )


def _insert(conn, table: str, rows: list[dict]) -> None:
    """Rows as read (rowid aside) into the new database's table, columns it no longer has left out."""
    if not rows:
        return
    have = {r[1] for r in conn.execute(text(f"PRAGMA table_info({table})"))}
    columns = [c for c in rows[0] if c != "rowid" and c in have]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    conn.execute(text(sql), [{c: r.get(c) for c in columns} for r in rows])
