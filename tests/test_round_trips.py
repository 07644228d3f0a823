"""A query's database round trips, counted on SQLite and PostgreSQL: at most three whatever the mode (visual,
speech, text, all), with captions or without, on an exact index and an IVF one.

What is counted: every SQL statement the store's engine executes (SQLAlchemy's before_cursor_execute), each
a round trip to the database. Caching captions decoded for the first time is a write, made after the reads,
and is left out of the count; so is the one read of the library's phrases when its decoder is first built
(the warm-up query below)."""

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import psycopg
import pytest
from sqlalchemy import event
from stores import open_store, segments, unit

from footage import Library
from footage.errors import NotFound
from footage.search.engine import search
from footage.store import FileFacts, NewSegment, Scope, Store
from footage.store.rows import NewChunk

MAX_ROUND_TRIPS = 3
SRT = (
    "1\n00:00:00,500 --> 00:00:05,000\nA ginger cat rests on the sofa.\n\n"
    "2\n00:00:06,000 --> 00:00:10,500\nA cup of black coffee on a saucer.\n\n"
    "3\n00:00:11,000 --> 00:00:17,500\nThe rocket stands on the launch pad at dawn.\n"
)
QUERY = "the rocket on the launch pad"


class Counter:
    """Counts the statements a store's engine executes, less those of caching captions (a write)."""

    def __init__(self, store: Store, monkeypatch):
        self.statements: list[str] = []
        self.writing = False
        event.listen(store.engine, "before_cursor_execute", self.seen)
        save = store.save_captions

        def save_captions(*args, **kwargs):
            self.writing = True
            try:
                return save(*args, **kwargs)
            finally:
                self.writing = False

        monkeypatch.setattr(store, "save_captions", save_captions)

    def seen(self, conn, cursor, statement, *args) -> None:
        if not self.writing:
            self.statements.append(statement)

    def __enter__(self):
        self.statements.clear()
        return self

    def __exit__(self, *exc) -> None:
        pass


def a_database(server) -> tuple[str, str]:
    """A new database of the session's cluster: (its URL, the URL of the cluster's own database)."""
    admin = f"postgresql://postgres@/postgres?host={server}"
    name = f"footage_round_trips_{id(server) % 10**6}_{np.random.default_rng().integers(10**9)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@/{name}?host={server}", admin


def drop(url: str, admin: str) -> None:
    name = url.split("@/")[1].split("?")[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def subtitled(request, tmp_path_factory, photos, photo_library):
    """A library (on each database) of the photo video with subtitles beside it: pictures, words said over them
    and keyword hits, on the models the photo library loaded."""
    folder = tmp_path_factory.mktemp("subtitled")
    shutil.copy(photos[0], folder / "photos.mp4")
    (folder / "photos.srt").write_text(SRT)
    db = admin = None
    if request.param == "postgresql":
        db, admin = a_database(request.getfixturevalue("postgres_server"))
    lib = Library(tmp_path_factory.mktemp("subtitled-library"), backbone=photo_library.backbone, db=db)
    try:
        report = lib.index([folder], speech="off", ocr=False)
        assert report.indexed == [str(folder / "photos.mp4")] and lib.stats().text_chunks["subtitles"] == 3
        yield lib
    finally:
        lib.close()
        if db:
            drop(db, admin)


@pytest.mark.parametrize("mode", ["visual", "speech", "text", "all"])
def test_a_query_makes_at_most_three_round_trips(subtitled, mode, monkeypatch):
    lib = subtitled
    count = Counter(lib.store, monkeypatch)
    lib.search("a cat", top_k=3)  # the warm-up: the decoder reads the library's phrases once, when first built
    for captions in (False, True):
        with count:
            hits = lib.search(QUERY, top_k=5, mode=mode, captions=captions)
        assert hits, (mode, captions)
        assert len(count.statements) <= MAX_ROUND_TRIPS, (mode, captions, count.statements)
        assert all(h.caption for h in hits) == captions and all(h.thumbnail for h in hits)
    if mode in ("text", "all"):  # a keyword hit comes with the picture shown while its words are said
        rocket = next(h for h in hits if "keyword" in h.channels)
        assert rocket.transcript == "The rocket stands on the launch pad at dawn." and rocket.segment is not None
    with count:  # the whole query, in no fewer for being the first of its hits to be captioned
        lib.search("a cup of coffee", top_k=5, mode=mode, captions=True, rerank=True)
    assert len(count.statements) <= MAX_ROUND_TRIPS, count.statements


def test_more_like_this_and_a_picture_search_make_as_many(subtitled, photos, monkeypatch):
    """More like this reads the segment's vector in the first statement; a picture is embedded, not read."""
    lib = subtitled
    count = Counter(lib.store, monkeypatch)
    start = lib.search("a cat", top_k=1, mode="visual")[0]
    for captions in (False, True):
        with count:
            hits = lib.search_like(start.segment, top_k=3, captions=captions)
        assert hits and start.segment not in {h.segment for h in hits}
        assert len(count.statements) <= MAX_ROUND_TRIPS, (captions, count.statements)
        with count:
            assert lib.search_image(photos[0].parent / "cat.png", top_k=3, captions=captions)
        assert len(count.statements) <= MAX_ROUND_TRIPS, (captions, count.statements)
    with count, pytest.raises(NotFound):
        lib.search_like(10**9)
    assert len(count.statements) == 1  # the first statement finds no such segment


def test_a_search_within_videos_or_with_offline_ones_makes_as_many(subtitled, monkeypatch):
    """Offline videos, the videos searched within and a segment left out are read in the first statement."""
    lib = subtitled
    count = Counter(lib.store, monkeypatch)
    video = next(iter(lib.store.videos().values())).id
    for scope in (Scope(offline=True), Scope(videos=frozenset({video})), Scope(exclude=frozenset({1}))):
        with count:
            hits = search(lib.store, lib.models, QUERY, 5, scope=scope)
        assert hits and len(count.statements) <= 2, (scope, count.statements)  # captions would be the third
    with count:
        assert not search(lib.store, lib.models, QUERY, 5, scope=Scope(videos=frozenset()))


def test_a_search_under_a_folder_makes_as_many(subtitled, monkeypatch):
    """The videos under a folder are found by their paths in the first statement."""
    lib = subtitled
    count = Counter(lib.store, monkeypatch)
    folder = Path(next(iter(lib.store.videos()))).parent
    lib.search("a cat", top_k=3)
    for mode in ("visual", "text", "all"):
        with count:
            hits = lib.search(QUERY, top_k=5, mode=mode, under=folder)
        assert hits and len(count.statements) <= MAX_ROUND_TRIPS, (mode, count.statements)
        assert not lib.search(QUERY, top_k=5, mode=mode, under=folder / "elsewhere")


def test_the_videos_under_a_folder_are_those_pathlib_says(tmp_path, database):
    """SQL compares UTF-8 paths with a folder's; paths that are not UTF-8 are compared by pathlib."""
    store = open_store(tmp_path / "lib", database)
    store.lock.acquire()
    odd = os.fsdecode(b"/videos/caf\xe9.mp4")
    paths = ["/videos/a.mp4", "/videos/sub/b.mp4", "/videosx/c.mp4", odd, "/v%_/d.mp4", "/other/videos/e.mp4"]
    try:
        for k, path in enumerate(paths):
            store.save_video(FileFacts(path, 1, 1.0, f"f{k}"), segments(2), "m")
        stored = store.videos()
        for folders in (["/videos"], ["/videos/sub"], ["/"], [odd], ["/v%_"], ["/v"], ["/videos", "/other"], ["/no"]):
            roots = [Path(f) for f in folders]
            expected = {v.id for v in stored.values() if any(Path(v.path).is_relative_to(r) for r in roots)}
            assert store.query(Scope(under=frozenset(folders))).scope_resolved().videos == expected, folders
            ids, _ = store.search(unit(0), 20, scope=Scope(under=frozenset(folders)))
            assert {store.segments(ids)[int(i)].video_id for i in ids} == expected, folders
    finally:
        store.close()


def ivf_store(path, db) -> tuple[Store, np.ndarray, np.ndarray]:
    """A store of 3,000 segments and 990 text chunks in 30 videos, its main index IVF-SQ8, a few more of each
    in the delta beside it."""
    rng = np.random.default_rng(0)

    def unit(n):
        x = rng.standard_normal((n, 32)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    store = Store(path, create=True, db=db)
    store.attach("test", 32)
    store.lock.acquire()
    x, words = unit(3100), unit(1023)
    for v in range(31):
        rows = x[v * 100 : (v + 1) * 100]
        segments = [
            NewSegment(2.0 * k, 2.0 * k + 2, r, np.array([2.0 * k], np.float32), r[None]) for k, r in enumerate(rows)
        ]
        chunks = [
            NewChunk("speech", 2.0 * k + 1, 2.0 * k + 3, f"words {v} {k}", w)
            for k, w in enumerate(words[v * 33 : (v + 1) * 33])
        ]
        store.save_video(FileFacts(f"/videos/v{v}.mp4", 1, 1.0, f"v{v}", duration=200.0), segments, "m", chunks)
        if v == 29:
            assert store.maintain(force="train") == "train"
    assert store.index.approximate and len(store.index.delta) == 133
    return store, x, words


def test_an_ivf_index_rescores_in_the_same_round_trip(tmp_path, database, monkeypatch):
    """IVF candidates are re-scored with their stored vectors, read with the rows in the second statement:
    the same hits as reading them apart."""
    store, x, words = ivf_store(tmp_path / "lib", database)
    try:
        query = (x[250] + words[40]) / np.linalg.norm(x[250] + words[40])
        models = SimpleNamespace(backbone=SimpleNamespace(embed_query=lambda text: query))
        count = Counter(store, monkeypatch)
        with count:
            hits = search(store, models, "words", 5, mode="all", video_weight=0.5)
        assert hits and len(count.statements) <= 2, count.statements
        reads = store.query()
        found = reads.fetch(pictures=reads.nearest(query, 50), n=50, spoken=reads.nearest_text(query, 50))
        pictures, spoken = store.search(query, 50), store.search_text(query, 50)
        assert np.array_equal(found.pictures[0], pictures[0]) and np.allclose(found.pictures[1], pictures[1])
        assert np.array_equal(found.spoken[0], spoken[0]) and np.allclose(found.spoken[1], spoken[1])
        assert found.segments[int(pictures[0][0])].path == "/videos/v2.mp4"
        assert found.chunks[int(spoken[0][0])].text == "words 1 7"
    finally:
        store.close()
