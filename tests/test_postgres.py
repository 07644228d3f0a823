"""A library whose database is PostgreSQL (footage --db URL): the write lock across processes, the folder that
remembers its database, clear errors, and the command line end to end on a real video."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import new_database, run_cli
from media import PHOTOS, photo_video
from sqlalchemy import text
from stores import facts, open_store, segments

from footage.errors import BadValue, LibraryBusy, LibraryError, NoLibrary, NotFound
from footage.store import Store, writes
from footage.store.lock import AdvisoryLock
from footage.store.postgres import BINDING, conninfo, parse

HOLD = """
import sys, time
from footage.store.lock import AdvisoryLock
lock = AdvisoryLock(sys.argv[1], "db")
assert lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_writer_is_refused_until_the_holder_dies(tmp_path, pg_url):
    first = open_store(tmp_path / "a", pg_url)
    second = open_store(tmp_path / "b", pg_url)  # another machine's folder for the same library
    with first.writing():
        with pytest.raises(LibraryBusy, match=rf"another footage process \(pid {os.getpid()} on "):
            with second.writing():
                pass
        assert first.lock.fd is not None
    with second.writing():  # released
        second.save_video(facts("a.mp4"), segments(2), "m")
    first.close()
    second.close()

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, conninfo(parse(pg_url))], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = AdvisoryLock(conninfo(parse(pg_url)), "db")
        assert not lock.acquire() and lock.holder().startswith(f"{holder.pid} on ")
        os.kill(holder.pid, signal.SIGKILL)  # no chance to let go: the server ends its session
        holder.wait(10)
        deadline = time.monotonic() + 10
        while not lock.acquire():
            assert time.monotonic() < deadline, "the lock of a killed writer was never released"
            time.sleep(0.1)
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()


def test_the_folder_remembers_its_database_and_serves_no_other(tmp_path, pg_url, postgres_server):
    folder = tmp_path / "lib"
    with_password = pg_url.replace("postgres@", "postgres:secret@")  # trust: the server ignores it
    open_store(folder, with_password).close()
    bound = json.loads((folder / BINDING).read_text())
    assert "secret" not in bound["url"] and parse(bound["url"]) == parse(pg_url) and len(bound["library"]) == 32
    again = Store(folder)  # no URL: the folder's own
    assert again.database == pg_url and not (folder / "library.db").exists()
    again.close()

    other = new_database(postgres_server)
    open_store(tmp_path / "other", other).close()
    with pytest.raises(LibraryError, match=r"belongs to the library in postgresql://.*, not to the one in"):
        Store(folder, db=other)
    open_store(tmp_path / "sqlite").close()
    with pytest.raises(LibraryError, match="holds a SQLite library"):
        Store(tmp_path / "sqlite", db=pg_url)
    (tmp_path / "stale" / "thumbs").mkdir(parents=True)
    with pytest.raises(LibraryError, match=f"not {BINDING}, which names its database"):
        Store(tmp_path / "stale", db=pg_url)


def test_clear_errors(tmp_path, pg_url):
    with pytest.raises(LibraryError) as e:
        Store(tmp_path / "lib", create=True, db="postgresql://bob:secret@127.0.0.1:1/footage")
    said = str(e.value)
    assert said.startswith("postgresql://bob@127.0.0.1:1/footage: cannot reach the library's database (")
    assert "secret" not in said and "\n" not in said
    with pytest.raises(NoLibrary, match="no footage library in this database"):
        Store(tmp_path / "lib", db=pg_url)
    assert not (tmp_path / "lib" / BINDING).exists()
    with pytest.raises(BadValue, match="not mysql"):
        Store(tmp_path / "lib", db="mysql://bob:secret@host/db")
    engine = parse(pg_url)
    from sqlalchemy import create_engine

    foreign = create_engine(engine)
    with foreign.begin() as conn:
        conn.execute(text("CREATE TABLE videos (name text)"))
    foreign.dispose()
    with pytest.raises(LibraryError, match="not a footage library"):
        Store(tmp_path / "lib", create=True, db=pg_url)


def test_keyword_search_uses_the_gin_index_and_odd_paths_are_marked(tmp_path, pg_url):
    s = open_store(tmp_path / "lib", pg_url)
    with s.writing():
        s.save_video(facts("a.mp4"), segments(1), "m")
        s.save_video(facts("a.mp4").__class__(os.fsdecode(b"/v/caf\xe9.mp4"), 1, 1.0, "x"), segments(1), "m")
    with s.engine.connect() as conn:
        assert conn.execute(text("SELECT path FROM videos ORDER BY id")).scalars().all() == [
            "/videos/a.mp4",
            "%bytes:/v/caf%E9.mp4",
        ]
        conn.execute(text("SET enable_seqscan = off"))
        plan = conn.execute(
            text(
                "EXPLAIN SELECT id FROM text_chunks c "
                "WHERE to_tsvector('simple', c.text) @@ phraseto_tsquery('simple', 'cat')"
            )
        ).scalars()
        assert "text_chunks_words" in "\n".join(plan)
    s.close()


def test_marks_round_trip_go_with_their_video_and_wait_briefly_for_a_lock(tmp_path, pg_url, monkeypatch):
    import psycopg

    s = open_store(tmp_path / "lib", pg_url)
    with s.writing():
        video = s.save_video(facts("a.mp4"), segments(2), "m")
    first = s.save_mark("a cat", video, 0.0, 2.0, True, 1)
    assert s.save_mark("a cat", video, 0.0, 2.0, False, None) == first  # marked again: replaced
    other = s.save_mark("a dog", video, 2.0, 4.0, True, None)
    assert [(m.id, m.right, m.path, m.end) for m in s.marks()] == [
        (other, True, "/videos/a.mp4", 4.0),
        (first, False, "/videos/a.mp4", 2.0),
    ]
    with pytest.raises(NotFound, match=f"video {video + 1}: not in the library"):
        s.save_mark("a cat", video + 1, 0.0, 1.0, True, None)
    monkeypatch.setattr(writes, "MARK_WAIT_MS", 100)
    with psycopg.connect(conninfo(parse(pg_url))) as holder:
        holder.execute("LOCK TABLE marks IN EXCLUSIVE MODE")  # another process's long write
        with pytest.raises(LibraryBusy, match="another process is writing to the library"):
            s.save_mark("a bird", video, 0.0, 1.0, True, None)
    assert s.remove_mark(other) and not s.remove_mark(other)
    with s.writing():
        s.remove([video])
    assert s.marks() == []
    with s.engine.begin() as db:  # back to schema 6, which had no marks
        db.execute(text("DROP TABLE marks"))
        db.execute(text("UPDATE meta SET value = '6' WHERE key = 'schema_version'"))
    s.close()
    s = open_store(tmp_path / "lib", pg_url)
    try:
        with s.writing():
            video = s.save_video(facts("b.mp4"), segments(1), "m")
        assert s.marks(s.save_mark("a cat", video, 0.0, 1.0, True, None))[0].path == "/videos/b.mp4"
    finally:
        s.close()


def test_index_search_stats_and_repair_from_the_command_line(tmp_path, pg_url, footage_cli):
    video = tmp_path / "videos" / "two.mp4"
    video.parent.mkdir()
    photo_video(video, PHOTOS[:2], size="160x120", fps=5)  # a cat for 6 s, then coffee for 5 s
    lib = tmp_path / "lib"
    done = run_cli(footage_cli, "--db", pg_url, "index", video, "--no-ocr", "--speech", "off", "--json", library=lib)
    assert json.loads(done.stdout)["indexed"] == [str(video)]
    assert not (lib / "library.db").exists() and (lib / BINDING).exists()

    stats = json.loads(run_cli(footage_cli, "stats", "--json", library=lib).stdout)  # the folder's database
    assert stats["videos"] == 1 and stats["segments"] == 2 and stats["database"] == pg_url
    hits = json.loads(run_cli(footage_cli, "search", "a cup of coffee", "--json", library=lib).stdout)
    assert hits[0]["path"] == str(video) and hits[0]["start"] == 6.0 and hits[0]["caption"]

    elsewhere = tmp_path / "second-machine"  # a folder of its own: its vectors are built from the database
    env = {**os.environ, "FOOTAGE_DB": pg_url}
    hits = json.loads(run_cli(footage_cli, "search", "a cat", "--json", library=elsewhere, env=env).stdout)
    assert hits[0]["start"] == 0.0 and hits[0]["thumbnail"] is None  # the thumbnails are in the first folder
    repaired = run_cli(footage_cli, "repair", library=elsewhere).stdout  # it remembers its database too
    assert "the database is PostgreSQL" in repaired and "0 dropped, 0 added" in repaired

    down = run_cli(
        footage_cli, "--db", "postgresql://bob:pw@127.0.0.1:1/x", "stats", library=tmp_path / "n", check=False
    )
    assert down.returncode == 1 and down.stderr.count("\n") == 1 and "pw" not in down.stderr
    assert "postgresql://bob@127.0.0.1:1/x: cannot reach the library's database" in down.stderr
