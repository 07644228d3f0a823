"""`footage repair` keeps people's marks on search hits with the videos it keeps: whether SQLite still reads the
damaged database's schema (rows read by SQL) or not (rows read page by page), in a library from before marks,
and in a migrated library whose video rows are of older layouts. On a real library (a test pattern video
indexed once, copied for each test)."""

import contextlib
import random
import shutil
import sqlite3
from pathlib import Path

import pytest
from media import pattern_video

from footage import Library
from footage.store.repair import check
from footage.store.schema import kind


@pytest.fixture(scope="module")
def marked(tmp_path_factory) -> Path:
    """A closed library holding a 3 s test pattern video and a mark right and a mark wrong on it."""
    folder = tmp_path_factory.mktemp("repair-marks")
    clip = pattern_video(folder / "clip.mp4", seconds=3)
    with Library(folder / "lib") as lib:
        lib.index([clip], speech="off")
        video = lib.videos()[0][0].id
        lib.mark("a test pattern", video, 0.5, 2, right=True, segment_id=1)
        lib.mark("a cat", video, 0, 1, right=False)
    assert not (folder / "lib" / "library.db-wal").exists()  # all in the database file, none in a log
    return folder / "lib"


@pytest.fixture
def lib_path(marked, tmp_path) -> Path:
    shutil.copytree(marked, tmp_path / "lib")
    return tmp_path / "lib"


def connect(lib_path: Path):
    return contextlib.closing(sqlite3.connect(lib_path / "library.db", isolation_level=None))


def noise_over(db: Path, name: str) -> None:
    """Overwrites the root page of table or index `name` with noise, as a dying drive does: SQLite still reads
    the schema."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)) as conn:  # its log untouched
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db.read_bytes())
    data[(page - 1) * size : page * size] = random.Random(0).randbytes(size)
    db.write_bytes(bytes(data))
    assert check(db) is not None, "the damage went unseen"


def schema_lost(db: Path) -> None:
    """Zeroes the schema's page (all of page 1 but the file header): SQLite reads nothing of the database."""
    data = bytearray(db.read_bytes())
    size = int.from_bytes(data[16:18], "big")
    data[100:size] = bytes(size - 100)
    db.write_bytes(bytes(data))
    assert kind(db) == "unreadable" and check(db) is not None


def repaired(lib_path: Path, before: list, dropped: tuple = (), last_id: int | None = None) -> None:
    """A repair keeps the video and its marks; the ids of marks go on from the last read (`last_id`), never
    giving a new mark the id of one lost with its video."""
    done = Library.repair(lib_path)
    assert done.damaged and (done.videos, done.marks, done.dropped) == (1, len(before), list(dropped)), done
    with Library(lib_path) as lib:
        assert lib.marks() == before
        video = lib.videos()[0][0].id
        last_id = max([0, *(m.id for m in before)]) if last_id is None else last_id
        assert lib.mark("a new mark", video, 1, 2, right=True).id == last_id + 1


def test_repair_keeps_the_marks_when_the_schema_still_reads(lib_path):
    with Library(lib_path) as lib:
        before = lib.marks()
    assert len(before) == 2 and {m.right for m in before} == {True, False}
    with connect(lib_path) as db:  # a video whose segments were lost, and a mark on it: both dropped
        db.execute(
            "INSERT INTO videos (path, size, mtime, fingerprint, status, indexed_at) "
            "VALUES ('/gone.mp4', 1, 0, 'x', 'indexed', 0)"
        )
        gone = db.execute("SELECT id FROM videos WHERE path = '/gone.mp4'").fetchone()[0]
        db.execute(
            'INSERT INTO marks (query, video_id, start, "end", is_right, created_at) VALUES (?, ?, 0, 1, 1, 0)',
            ("lost", gone),
        )
        last_id = db.execute("SELECT max(id) FROM marks").fetchone()[0]
    noise_over(lib_path / "library.db", "sqlite_autoindex_marks_1")  # the marks' own index
    repaired(lib_path, before, dropped=("/gone.mp4",), last_id=last_id)


# Records written before a migration keep the layout they were written in: videos rows of v5 lack `vector`, those
# from before v5 the five v5 columns too. Dropped and added again, the columns leave the rows in that old layout.
OLD_LAYOUTS = {
    "current": [],
    "v5": [("vector", "BLOB")],
    "before v5": [
        ("vector", "BLOB"),
        ("sidecars", "VARCHAR"),
        ("inode", "INTEGER"),
        ("ctime", "FLOAT"),
        ("offline", "INTEGER NOT NULL DEFAULT 0"),
        ("warning", "VARCHAR"),
    ],
}


@pytest.mark.parametrize("layout", OLD_LAYOUTS)
def test_repair_keeps_the_marks_when_only_pages_read(lib_path, layout):
    with Library(lib_path) as lib:
        before = lib.marks()
    with connect(lib_path) as db:
        for column, _ in OLD_LAYOUTS[layout]:
            db.execute(f"ALTER TABLE videos DROP COLUMN {column}")  # rewrites every row without it
        for column, kind_ in reversed(OLD_LAYOUTS[layout]):
            db.execute(f"ALTER TABLE videos ADD COLUMN {column} {kind_}")  # leaves the rows as they are
        db.execute("VACUUM")  # the old pages gone, not left free
    schema_lost(lib_path / "library.db")
    repaired(lib_path, before)


def test_repair_of_a_library_from_before_marks_reads_it_by_sql(lib_path):
    """A schema 6 library has no marks table: its rows are still read by SQL, with what its log holds, which a
    read page by page would lose."""
    with connect(lib_path) as db:
        db.execute("DROP TABLE marks")
        db.execute("PRAGMA user_version = 6")
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.execute("INSERT INTO meta (key, value) VALUES ('note', 'in the log only')")
        snapshot = lib_path.with_name("snapshot")
        shutil.copytree(lib_path, snapshot)  # the database file and its write-ahead log, as a snapshot
    assert (snapshot / "library.db-wal").stat().st_size > 0
    noise_over(snapshot / "library.db", "captions")
    repaired(snapshot, [])
    with Library(snapshot) as lib:
        assert lib.store.meta("note") == "in the log only"
