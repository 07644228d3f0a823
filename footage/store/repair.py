"""Rebuilding a damaged library database from what can still be read of it.

A database truncated by a full disk or a dying drive, or overwritten in part, still holds most of its rows.
Where SQLite can still read its schema, they are read table by table (row by row past a broken page). Where
it cannot (the schema's own pages are lost: later migrations put them at the end of the file), every page
is read as SQLite's file format lays it out (https://sqlite.org/fileformat.html): table leaf pages, their
cells and records, each record told to its table by its shape. Either way the rows go into a new database.
A video is kept only when all its segments came back (they tile it from its first frame to its end, under
consecutive ids); the others are dropped, so the next `footage index` reads them again. The damaged file is
kept beside the new one, and the FAISS index is rebuilt from SQLite on the next open.
"""

import contextlib
import os
import shutil
import sqlite3
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text

from footage.errors import LibraryError, LibraryReadOnly, NoLibrary
from footage.store import postgres
from footage.store.lock import WriteLock
from footage.store.rows import disk_full
from footage.store.schema import FeedbackMark, Meta, Model, Segment, TextChunk, Video, kind, migrate, open_engine
from footage.store.store import Store

# Tables copied, in an order that satisfies their foreign keys. Captions are a cache and are not copied; marks
# (schema 7) are labels a person made by hand, kept with their video.
TABLES = ("meta", "models", "videos", "segments", "text_chunks", "marks")
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
    marks: int = 0  # people's marks on search hits, kept with their videos
    dropped: list[str] = field(default_factory=list)  # videos not recovered whole: the next index reads them
    problem: str | None = None  # what SQLite said about the damaged file
    # a library kept in PostgreSQL: its URL (no password). footage does not check or rebuild that database (the
    # server keeps it whole; pg_dump and amcheck are its tools): it checks the folder's vectors against it
    database: str | None = None
    vectors: tuple[int, int] | None = None  # (ids dropped, ids added) to make the vectors match the database


def _read_only(db: Path) -> str:
    return f"file:{quote(os.fsencode(db))}?mode=ro"


def check(db: Path) -> str | None:
    """None when SQLite finds the database whole, else what it says is wrong."""
    if db.stat().st_size == 0 and any((db.parent / n).exists() for n in ("vectors", "vectors.faiss", "thumbs")):
        return "the database file is empty"
    for uri in (_read_only(db), _read_only(db) + "&immutable=1"):  # the second on a read-only medium
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
                rows = conn.execute("PRAGMA quick_check").fetchall()
            return None if rows == [("ok",)] else "; ".join(r[0] for r in rows[:3])
        except sqlite3.OperationalError as e:
            problem = str(e)
        except sqlite3.DatabaseError as e:
            return str(e)
    return problem


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


def read_tables(db: Path) -> dict[str, list[dict]]:
    """Every row that can be read of footage's tables, as {column: value} with the rowid: by SQL where the
    schema can be read, else page by page. A table the library does not have (marks before schema 7) is
    empty."""
    wal = db.with_name(db.name + "-wal")
    pending = wal.exists() and wal.stat().st_size > 0  # read with its WAL; else without making one
    try:
        with contextlib.closing(
            sqlite3.connect(_read_only(db) + ("" if pending else "&immutable=1"), uri=True)
        ) as conn:
            have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            names = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in TABLES if t in have}
            return {
                t: [dict(zip(["rowid", *names[t]], r)) for r in read_rows(conn, t)] if t in names else []
                for t in TABLES
            }
    except sqlite3.DatabaseError:
        return scan_pages(db.read_bytes())


# Each table's columns in file order, by the number a record of it holds. ALTER TABLE ADD COLUMN leaves the rows
# already written as they were, so a migrated library still holds records of the older layouts: videos before
# v6 (without vector) and before v5 (without its five v5 columns too), segments before v3 (without views).
# Each count names one table only (asserted below): captions (3 values), sqlite_sequence, sqlite_stat1 and
# FTS5's shadow tables (2 or 3) are the other tables footage's databases hold.
LAYOUTS = {
    "meta": [c.name for c in Meta.__table__.columns],
    "models": [c.name for c in Model.__table__.columns],
    "videos": [c.name for c in Video.__table__.columns],
    "segments": [c.name for c in Segment.__table__.columns],
    "text_chunks": [c.name for c in TextChunk.__table__.columns],
    "marks": [c.name for c in FeedbackMark.__table__.columns],
}
_SHAPES = [
    (len(LAYOUTS["videos"]), "videos"),
    (len(LAYOUTS["videos"]) - 1, "videos"),  # v5
    (len(LAYOUTS["videos"]) - 6, "videos"),  # before v5
    (len(LAYOUTS["segments"]), "segments"),
    (len(LAYOUTS["segments"]) - 1, "segments"),  # before v3
    (len(LAYOUTS["text_chunks"]), "text_chunks"),
    (len(LAYOUTS["marks"]), "marks"),  # v7: no older layout
]
SHAPES = dict(_SHAPES)
assert len(SHAPES) == len(_SHAPES) and not SHAPES.keys() & {2, 3}, "two tables' records of one length"


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """SQLite's big-endian varint at `at`: (value, position after it)."""
    value = 0
    for i in range(8):
        byte = data[at + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    return (value << 8) | data[at + 8], at + 9


def _record(payload: bytes) -> list:
    """A record's values: NULL, integers, floats, blobs and text as SQLite's serial types say."""
    size, at = _varint(payload, 0)
    types = []
    while at < size:
        t, at = _varint(payload, at)
        types.append(t)
    values, at = [], size
    for t in types:
        if t == 0:
            values.append(None)
        elif t in (8, 9):
            values.append(t - 8)
        elif t <= 6:
            n = (0, 1, 2, 3, 4, 6, 8)[t]
            values.append(int.from_bytes(payload[at : at + n], "big", signed=True))
            at += n
        elif t == 7:
            values.append(struct.unpack(">d", payload[at : at + 8])[0])
            at += 8
        elif t >= 12:
            n = (t - 12) // 2
            raw = payload[at : at + n]
            if len(raw) < n:
                raise ValueError("record cut short")
            values.append(raw if t % 2 == 0 else raw.decode("utf-8", "surrogateescape"))
            at += n
        else:
            raise ValueError(f"serial type {t}")
    return values


def _cell(data: bytes, at: int, page_size: int, usable: int) -> tuple[int, list]:
    """A table leaf cell at `at`: (rowid, values), its payload followed onto overflow pages."""
    length, at = _varint(data, at)
    rowid, at = _varint(data, at)
    most = usable - 35
    if length <= most:
        return rowid, _record(data[at : at + length])
    least = (usable - 12) * 32 // 255 - 23
    local = least + (length - least) % (usable - 4)
    local = local if local <= most else least
    payload = bytearray(data[at : at + local])
    page = int.from_bytes(data[at + local : at + local + 4], "big")
    while len(payload) < length:
        start = (page - 1) * page_size
        if page < 1 or start + usable > len(data):
            raise ValueError("overflow page lost")
        payload += data[start + 4 : start + usable][: length - len(payload)]
        page = int.from_bytes(data[start : start + 4], "big")
    return rowid, _record(bytes(payload))


def _freelist(data: bytes, page_size: int) -> set[int]:
    """Pages SQLite freed: their old rows (removed videos, replaced segments) must not come back."""
    free, trunk, seen = set(), int.from_bytes(data[32:36], "big"), set()
    while 0 < trunk and trunk not in seen and trunk * page_size <= len(data):
        seen.add(trunk)
        start = (trunk - 1) * page_size
        count = int.from_bytes(data[start + 4 : start + 8], "big")
        free.add(trunk)
        for k in range(min(count, page_size // 4 - 2)):
            free.add(int.from_bytes(data[start + 8 + 4 * k : start + 12 + 4 * k], "big"))
        trunk = int.from_bytes(data[start : start + 4], "big")
    return free


def _table(values: list) -> str | None:
    """Which of footage's tables a record belongs to, by its shape (other tables' records are left)."""
    n = len(values)
    if n == 2 and all(isinstance(v, str) for v in values):
        return "meta"  # sqlite_sequence's second value is an integer, FTS5's tables hold blobs
    if n == 3 and values[0] is None and isinstance(values[1], str) and isinstance(values[2], int):
        return "models"  # captions start with a segment id
    table = SHAPES.get(n)
    if not table or values[0] is not None:  # the id, an INTEGER PRIMARY KEY, is the rowid: NULL in the record
        return None
    if table == "videos" and not isinstance(values[1], str | bytes):
        return None
    if table == "marks" and not (isinstance(values[1], str) and isinstance(values[2], int) and values[5] in (0, 1)):
        return None  # query, video_id, is_right
    return table


def scan_pages(data: bytes) -> dict[str, list[dict]]:
    """The rows of footage's tables found on the table leaf pages of a database file's bytes."""
    found: dict[str, dict[int, dict]] = {t: {} for t in TABLES}
    if len(data) < 100 or not data.startswith(b"SQLite format 3\x00"):
        return {t: [] for t in TABLES}
    page_size = int.from_bytes(data[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    usable = page_size - data[20]
    free = _freelist(data, page_size)
    for page in range(1, len(data) // page_size + 1):
        start = (page - 1) * page_size
        header = start + (100 if page == 1 else 0)
        if page in free or data[header] != 0x0D:  # 0x0D: a table b-tree leaf
            continue
        for k in range(int.from_bytes(data[header + 3 : header + 5], "big")):
            pointer = int.from_bytes(data[header + 8 + 2 * k : header + 10 + 2 * k], "big")
            try:
                rowid, values = _cell(data, start + pointer, page_size, usable)
            except (IndexError, ValueError, struct.error):
                continue
            table = _table(values)
            if table:
                names = LAYOUTS[table][: len(values)]
                row = dict(zip(names, values), rowid=rowid)
                if names[0] == "id":
                    row["id"] = rowid  # an INTEGER PRIMARY KEY is stored as the rowid
                found[table][rowid] = row
    return {t: [found[t][r] for r in sorted(found[t])] for t in TABLES}


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


def repair(path: Path, url: str | None = None) -> Repaired:
    """Checks the library at `path`; a damaged database is rebuilt as the module says. A library whose database
    is PostgreSQL (`url`, or the one the folder remembers) has its vectors checked against it instead."""
    if url is not None or postgres.binding(path) is not None:
        return _repair_vectors(path, url)
    db = path / "library.db"
    if not db.is_file():
        raise NoLibrary(f"{path}: no footage library here")
    if kind(db) == "foreign":
        raise LibraryError(f"{db}: not a footage library (another program's database); nothing to repair")
    problem = check(db)
    if problem is None:
        return Repaired(str(path), damaged=False)
    if not os.access(path, os.W_OK):
        raise LibraryReadOnly(f"{path}: the library is damaged ({problem}) and read-only: copy it somewhere writable")
    with WriteLock(path / "write.lock"):
        return _rebuild(path, db, problem)


def _repair_vectors(path: Path, url: str | None) -> Repaired:
    """A PostgreSQL library: the folder's FAISS vectors made to hold exactly the database's, read from it."""
    store = Store(path, db=url)
    try:
        backbone, dim = store.meta("backbone"), store.meta("dim")
        if backbone is None or dim is None:  # nothing indexed yet: no vectors to check
            return Repaired(str(path), damaged=False, database=store.database, vectors=(0, 0))
        with store.writing():
            store.attach(backbone, int(dim), int(store.meta("token_dim") or dim))  # repairs a stale cache
            before = store.repaired
            store.repair()  # and this one that is stale but does not know it
        fixed = (before[0] + store.repaired[0], before[1] + store.repaired[1])
        return Repaired(str(path), damaged=False, database=store.database, vectors=fixed)
    finally:
        store.close()


def _rebuild(path: Path, db: Path, problem: str) -> Repaired:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = db.with_name(f"{db.name}.damaged-{stamp}")
    try:
        shutil.copyfile(db, kept)
        for suffix in ("-wal", "-shm"):
            if db.with_name(db.name + suffix).exists():
                shutil.copyfile(db.with_name(db.name + suffix), kept.with_name(kept.name + suffix))
    except OSError as e:
        kept.unlink(missing_ok=True)
        raise disk_full(e, kept) from None
    rows = read_tables(kept)

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
    try:
        segments, chunks, marks = _write(new, rows, keep)
        if check(new) is not None:
            raise LibraryError(f"{new}: the rebuilt database did not pass SQLite's check; nothing changed")
    except BaseException:  # a full disk, most likely: the damaged library stays as it was, with no copies
        for leftover in (new, kept, kept.with_name(kept.name + "-wal"), kept.with_name(kept.name + "-shm")):
            leftover.unlink(missing_ok=True)
        raise
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    os.replace(new, db)
    (path / "vectors.faiss").unlink(missing_ok=True)  # rebuilt from SQLite on the next open (footage < 0.9)
    shutil.rmtree(path / "vectors", ignore_errors=True)
    if (path / "thumbs").is_dir():  # the thumbnails of videos not kept, those whose rows were lost too
        for folder in (path / "thumbs").iterdir():
            if not (folder.name.isdigit() and int(folder.name) in keep):
                shutil.rmtree(folder, ignore_errors=True)
    return Repaired(
        str(path),
        damaged=True,
        kept_as=str(kept),
        videos=sum(1 for r in rows["videos"] if r["id"] in keep and r.get("status") == "indexed"),
        segments=segments,
        text_chunks=chunks,
        marks=marks,
        dropped=sorted(dropped),
        problem=problem,
    )


def _write(new: Path, rows: dict[str, list[dict]], keep: set[int]) -> tuple[int, int, int]:
    """The rows of the videos kept, into a new database at `new` (a rollback journal, not a WAL: nothing may
    be left in a log beside it when it is renamed into place); returns (segments, text chunks, marks) written."""
    for leftover in (new, new.with_name(new.name + "-journal")):
        leftover.unlink(missing_ok=True)
    engine = open_engine(new, wal=False)
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
            marks = _marks([r for r in rows["marks"] if r["video_id"] in keep])
            _insert(conn, "marks", marks)
            for table in ("videos", "segments", "text_chunks", "marks"):  # ids are never reused, even those lost
                top = max((r["rowid"] for r in rows[table]), default=0)
                conn.execute(text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
                conn.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :n)"), {"t": table, "n": top})
    finally:
        engine.dispose()
    return len(segments), len(chunks), len(marks)


def _marks(rows: list[dict]) -> list[dict]:
    """One mark per query and moment (the table's unique constraint), the newest where a page scan found two."""
    newest: dict[tuple, dict] = {}
    for r in sorted(rows, key=lambda r: (r.get("created_at") or 0, r["rowid"])):
        newest[r["query"], r["video_id"], float(r["start"]), float(r["end"])] = r
    return sorted(newest.values(), key=lambda r: r["rowid"])


def _insert(conn, table: str, rows: list[dict]) -> None:
    """Rows as read (rowid aside) into the new database's table, columns it no longer has left out."""
    if not rows:
        return
    have = {r[1] for r in conn.execute(text(f"PRAGMA table_info({table})"))}
    columns = [c for c in rows[0] if c != "rowid" and c in have]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    conn.execute(text(sql), [{c: r.get(c) for c in columns} for r in rows])
