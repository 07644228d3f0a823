"""The store on its own: the database and FAISS agree, whatever happens between them. Every test runs on SQLite
and on PostgreSQL (the `database` fixture: None, or a fresh database's URL), and with each kind of vector index
(`vector_index`): the exact one, and IVF shards made at every change."""

import numpy as np
import pytest
from sqlalchemy import text
from stores import DIM, facts, open_store, segments, unit

from footage.errors import LibraryError
from footage.store import Store
from footage.store.vectors import Vectors

SAVE_ONLY_ON_FLUSH = Store._apply  # a change committed to the database and mirrored in memory, not yet saved


@pytest.fixture(autouse=True, params=["exact", "approximate"])
def vector_index(request, monkeypatch):
    """With "approximate", every committed change is saved and maintained at once, with thresholds that make the
    smallest library's vectors IVF shards, so searches, repairs and crashes meet them instead of the delta."""
    if request.param == "approximate":
        monkeypatch.setenv("FOOTAGE_APPROX_FROM", "1")
        monkeypatch.setattr("footage.store.vectors.MERGE_AT", 1)
        apply = Store._apply

        def apply_and_maintain(self, *args, **kwargs):
            apply(self, *args, **kwargs)
            if self.lock.fd is not None:
                self.flush()

        monkeypatch.setattr(Store, "_apply", apply_and_maintain)
    return request.param


def test_save_search_and_read_back(store):
    store.save_video(facts("a.mp4"), segments(3), "model-1")
    ids, scores = store.search(unit(1), 2)
    assert scores[0] == pytest.approx(1.0)
    seg = store.segments(ids)[int(ids[0])]
    assert (seg.path, seg.start, seg.end) == ("/videos/a.mp4", 2.0, 4.0)
    with store.engine.connect() as db:
        sql = text("SELECT frame_times, frame_vectors FROM segments WHERE id = :id")
        times, frames = db.execute(sql, {"id": seg.id}).one()
    assert np.frombuffer(times, np.float32).tolist() == [2.0]
    np.testing.assert_allclose(store._tokens(frames), unit(1)[None], atol=1e-2)  # per-frame tokens, int8 + scale
    assert open(seg.thumbnail, "rb").read() == b"\xff\xd8jpeg"
    assert store.stats().models == ["model-1"]


def test_reindexing_replaces_segments_and_never_reuses_ids(store):
    store.save_video(facts("a.mp4"), segments(3), "m")
    old = set(store.index.ids())
    store.save_video(facts("a.mp4"), segments(2, offset=4), "m")
    new = set(store.index.ids())
    assert len(new) == 2 and not old & new and store.consistent()


def test_crash_before_faiss_is_saved_is_repaired_on_open(tmp_path, database, monkeypatch):
    s = open_store(tmp_path / "lib", database)
    s.lock.acquire()
    s.save_video(facts("a.mp4"), segments(3), "m")
    s.flush()
    monkeypatch.setattr(Store, "_apply", SAVE_ONLY_ON_FLUSH)
    s.save_video(facts("b.mp4"), segments(4, offset=3), "m")  # committed to SQLite, FAISS file not saved
    s.remove([s.videos()["/videos/a.mp4"].id])
    s.close()  # the process dies here: no flush
    assert len(Vectors.load(tmp_path / "lib", DIM)) == 3  # stale on disk

    again = open_store(tmp_path / "lib", database)
    assert again.repaired == (3, 4) and again.consistent() and len(again.index) == 4
    assert Vectors.load(tmp_path / "lib", DIM).generation == again.index.generation
    again.close()


@pytest.mark.parametrize("damage", ["delete", "garbage", "truncate"])
def test_lost_or_damaged_faiss_file_is_rebuilt_from_sqlite(tmp_path, damage, database):
    s = open_store(tmp_path / "lib", database)
    s.lock.acquire()
    s.save_video(facts("a.mp4"), segments(5), "m")
    s.flush()
    s.close()
    path = tmp_path / "lib" / "vectors" / "state.npz"
    if damage == "delete":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"garbage" * 100)
    else:
        path.write_bytes(path.read_bytes()[:200])
    again = open_store(tmp_path / "lib", database)
    assert again.consistent() and len(again.index) == 5
    ids, scores = again.search(unit(2), 1)
    assert scores[0] == pytest.approx(1.0)
    again.close()


def test_reader_sees_writes_of_another_process_before_they_are_flushed(tmp_path, database):
    writer = open_store(tmp_path / "lib", database)
    writer.lock.acquire()
    reader = open_store(tmp_path / "lib", database)
    writer.save_video(facts("a.mp4"), segments(2), "m")  # not flushed
    ids, _ = reader.search(unit(1), 5)
    assert len(ids) == 2 and reader.consistent()
    writer.close()
    reader.close()


def test_failure_of_a_changed_file_drops_its_old_segments(store):
    store.save_video(facts("a.mp4"), segments(3), "m")
    store.save_failure(facts("a.mp4"), "empty file (0 bytes)")
    assert len(store.index) == 0 and store.consistent()
    assert store.stats().failures == [("/videos/a.mp4", "empty file (0 bytes)")]


def test_another_backbone_is_refused(tmp_path, database):
    s = open_store(tmp_path / "lib", database)
    s.close()
    other = Store(tmp_path / "lib")  # a PostgreSQL library's folder remembers its database
    with pytest.raises(LibraryError, match="built with backbone 'test-backbone', not 'other'"):
        other.attach("other", DIM)
    other.close()


def test_schema_version_is_recorded(tmp_path, database):
    from footage.store.schema import SCHEMA_VERSION

    s = open_store(tmp_path / "lib", database)
    sql = "SELECT value FROM meta WHERE key = 'schema_version'" if database else "PRAGMA user_version"
    with s.engine.connect() as db:
        assert int(db.execute(text(sql)).scalar_one()) == SCHEMA_VERSION
    s.close()


def test_replace_vectors_makes_new_rows_in_chunks(store, monkeypatch):
    monkeypatch.setattr("footage.store.maintenance.REPAIR_BATCH", 2)
    store.save_video(facts("a.mp4"), segments(5), "m")
    ids, tokens = store.all_frame_tokens()
    assert len(ids) == 5 and tokens[0].shape == (1, DIM)
    flipped = np.stack([unit(7 - k) for k in range(5)])
    store.replace_vectors(ids, flipped, "m2")
    new_ids = sorted(int(i) for i in store.index.ids())
    assert len(new_ids) == 5 and not set(new_ids) & set(ids) and store.consistent()
    found, scores = store.search(unit(7), 1)
    assert store.segments(found)[int(found[0])].start == 0.0 and scores[0] == pytest.approx(1.0)
    assert store.stats().models == ["m2"]


def test_a_version_1_library_is_migrated_and_keeps_its_segments(tmp_path, database):
    s = open_store(tmp_path / "lib", database)
    with s.lock:
        s.save_video(facts("a.mp4"), segments(3), "m1")
        s.flush()
    with s.engine.begin() as db:  # back to what version 1 had
        db.execute(text("DROP TABLE captions"))
        db.execute(text("ALTER TABLE segments DROP COLUMN views"))
        db.execute(
            text("UPDATE meta SET value = '1' WHERE key = 'schema_version'" if database else "PRAGMA user_version = 1")
        )
    s.close()
    s = open_store(tmp_path / "lib", database)
    try:
        assert s.consistent() and len(s.index) == 3
        ids, _ = s.search(unit(1), 1)
        s.save_captions({int(ids[0]): "a caption"}, "decoder-1")
        assert s.captions(ids, "decoder-1") == {int(ids[0]): "a caption"}
        with s.lock:
            s.replace_vectors(list(s.segments(range(1, 4))), np.stack([unit(5)] * 3), "m2", np.ones((3, 1, DIM)))
            assert len(s.index) == 6 and s.consistent()
    finally:
        s.close()
