"""The vector side of the store: the exact and the IVF-SQ8 main index, the delta beside it, tombstones, merges
and trainings, and what a crash at any point leaves."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from media import pattern_video

from footage import Library
from footage.store import FileFacts, NewSegment, Store
from footage.store.faiss_index import ApproxIndex, VectorIndex
from footage.store.vectors import FOLDER, Vectors

DIM = 384


def clustered(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    """Unit vectors in clusters (videos of similar shots), the structure real segment vectors have."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 50), dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def facts(name: str) -> FileFacts:
    return FileFacts(path=f"/videos/{name}", size=1, mtime=1.0, fingerprint=name, duration=100.0)


def fill(store: Store, vectors: np.ndarray, per_video: int = 100, first: int = 0) -> None:
    for v in range(len(vectors) // per_video):
        rows = vectors[v * per_video : (v + 1) * per_video]
        segments = [
            NewSegment(2.0 * k, 2.0 * k + 2, x, np.array([2.0 * k], np.float32), x[None]) for k, x in enumerate(rows)
        ]
        store.save_video(facts(f"v{first + v}.mp4"), segments, "m")


@pytest.fixture
def big(tmp_path):
    """A store of 6,000 segments in 60 videos, its main index IVF-SQ8."""
    store = Store(tmp_path / "lib", create=True)
    store.attach("test", DIM)
    store.lock.acquire()
    x = clustered(6000)
    fill(store, x)
    assert store.maintain(force="train") == "train"
    yield store, x
    store.close()


def exact_top(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> set:
    return set(ids[np.argsort(-(x @ q))[:k]].tolist())


def test_the_ivf_index_finds_what_exact_search_finds(big):
    store, x = big
    assert store.index.approximate and len(store.index.delta) == 0
    ids = np.sort(store.index.ids())
    queries = clustered(50, seed=1)
    recall = np.mean([len(set(store.search(q, 10)[0].tolist()) & exact_top(x, ids, q, 10)) / 10 for q in queries])
    assert recall >= 0.95
    found, scores = store.search(queries[0], 10)
    assert np.allclose(scores, x[np.searchsorted(ids, found)] @ queries[0], atol=2e-3)  # re-scored (float16 rows)


def test_additions_go_to_the_delta_and_deletions_become_tombstones(big, tmp_path):
    store, x = big
    main_file = next((tmp_path / "lib" / FOLDER).glob("main-*.faiss"))
    written = main_file.stat().st_mtime_ns
    more = clustered(100, seed=2)
    fill(store, more, first=100)
    store.remove([store.videos()["/videos/v0.mp4"].id])
    store.flush()
    assert len(store.index.delta) == 100 and len(store.index.tombstones) == 100
    assert main_file.stat().st_mtime_ns == written  # the main file was not rewritten
    assert store.consistent() and len(store.index) == 6000
    found, _ = store.search(more[7], 1)
    assert store.segments(found)[int(found[0])].path == "/videos/v100.mp4"
    gone = set(range(1, 101))  # v0's segment ids
    assert not gone & set(store.search(x[3], 50)[0].tolist())

    again = Store(tmp_path / "lib")  # another process: the same, read from disk
    again.attach("test", DIM)
    assert again.index.approximate and again.consistent() and again.repaired == (0, 0)
    assert again.search(more[7], 1)[0][0] == found[0]
    again.close()

    assert store.maintain(force="merge") == "merge"  # the delta becomes a second IVF shard
    assert len(store.index.delta) == 0 and store.index.approximate and len(store.index.shards) == 2
    assert store.consistent() and store.search(more[7], 1)[0][0] == found[0]
    names = sorted(p.name for p in (tmp_path / "lib" / FOLDER).glob("main-*"))
    assert names == sorted(name for name, _ in store.index.shards)


def test_due_merges_and_trains_by_size(tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTAGE_APPROX_FROM", "3000")
    store = Store(tmp_path / "lib", create=True)
    store.attach("test", DIM)
    store.lock.acquire()
    fill(store, clustered(2000))
    assert store.index.due() is None and store.maintain() is None  # small: exact, all in the delta
    fill(store, clustered(1000, seed=3), first=20)
    assert store.index.due() == "train" and store.maintain() == "train" and store.index.trained == 3000
    store.close()


def test_shards_merge_as_they_grow_and_deletions_are_compacted(tmp_path, monkeypatch):
    monkeypatch.setattr("footage.store.vectors.MERGE_AT", 100)
    store = Store(tmp_path / "lib", create=True)
    store.attach("test", DIM)
    store.lock.acquire()
    fill(store, clustered(300))
    assert store.maintain() == "merge"
    sizes = lambda: [len(s) for _, s in store.index.shards]  # noqa: E731
    assert sizes() == [300] and isinstance(store.index.shards[0][1], VectorIndex)
    fill(store, clustered(100, seed=5), first=3)
    store.maintain()
    assert sizes() == [300, 100]
    fill(store, clustered(100, seed=6), first=4)
    store.maintain()  # 100 + 100, then 200 + 300: halves merge upwards
    assert sizes() == [500] and store.consistent()
    store.remove([store.videos()["/videos/v1.mp4"].id])
    assert len(store.index.tombstones) == 100 and store.maintain() == "merge"
    assert sizes() == [400] and len(store.index.tombstones) == 0 and store.consistent()
    assert len(list((tmp_path / "lib" / FOLDER).glob("main-*"))) == 1
    store.close()


@pytest.mark.parametrize("damage", ["main-garbage", "main-deleted", "state-truncated"])
def test_damaged_or_lost_files_are_rebuilt_from_sqlite(big, tmp_path, damage):
    store, x = big
    store.close()
    folder = tmp_path / "lib" / FOLDER
    main = next(folder.glob("main-*.faiss"))
    if damage == "main-garbage":
        main.write_bytes(b"garbage" * 100)
    elif damage == "main-deleted":
        main.unlink()
    else:
        (folder / "state.npz").write_bytes((folder / "state.npz").read_bytes()[:100])
    again = Store(tmp_path / "lib")
    again.attach("test", DIM)
    assert again.consistent() and len(again.index) == 6000
    again.close()


CHILD = textwrap.dedent(
    """
    import sys
    from footage.store import Store
    store = Store(sys.argv[1])
    store.attach("test", 384)
    store.lock.acquire()
    print("ready", flush=True)
    while True:
        store.maintain(force=sys.argv[2])
    """
)


@pytest.mark.parametrize("what", ["train", "merge"])
def test_kill_9_during_a_training_or_merge_leaves_the_library_usable(big, tmp_path, what):
    store, x = big
    fill(store, clustered(200, seed=4), first=100)  # a delta for the merge to take
    store.flush()
    store.close()
    for delay in (0.3, 0.9, 1.7):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "lib"), what], stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        again = Store(tmp_path / "lib")
        again.attach("test", DIM)
        assert again.consistent() and len(again.index) == 6200
        assert again.search(x[5], 1)[0][0] == 6  # ids start at 1
        again.close()


def test_an_index_run_makes_the_main_index_approximate(tmp_path, footage_cli, photos):
    """The whole path, with the threshold lowered: `index` trains the IVF index and search uses it; a second
    video goes to the delta, and removing most of the library trains the index anew."""
    lib = tmp_path / "lib"
    env = {**os.environ, "FOOTAGE_APPROX_FROM": "1"}
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(photos[0], videos / "a.mp4")
    run_cli(footage_cli, "index", videos, "--no-ocr", "--speech", "off", library=lib, env=env)
    state = Vectors.load(lib, 384)
    # two shards: the pictures, and the experts' words (the astronaut's face), each in a shard of its own
    assert state.approximate and len(state.shards) == 2 and state.trained == len(state) > 0
    assert all(isinstance(shard, ApproxIndex) for _, shard in state.shards)
    shown = json.loads(run_cli(footage_cli, "stats", "--json", library=lib).stdout)["vectors"]
    assert shown["index"] == "ivf-sq8" and shown["shards"] == 2 and shown["trained_on"] == len(state)
    pattern_video(videos / "b.mp4", seconds=4)
    run_cli(footage_cli, "index", videos, "--no-ocr", "--speech", "off", library=lib, env=env)
    hits = json.loads(run_cli(footage_cli, "search", "a cat", "--json", library=lib, env=env).stdout)
    assert Path(hits[0]["path"]).name == "a.mp4" and hits[0]["start"] < 6.0
    (videos / "a.mp4").unlink()
    run_cli(footage_cli, "index", videos, "--no-ocr", "--speech", "off", library=lib, env=env)
    with Library(lib) as opened:
        index = opened.store.index
        # most vectors deleted: the cells are trained anew on what is left, with no tombstones
        assert index.approximate and index.trained == len(index) and not len(index.tombstones)
        assert opened.store.consistent()
        assert opened.store.repaired == (0, 0)
        assert all(Path(h.path).name == "b.mp4" for h in opened.search("a cat"))


def test_a_lost_vectors_folder_of_a_large_library_comes_back_as_shards(big, tmp_path, monkeypatch):
    """A search that finds the vectors gone rebuilds them from the database, and saves them as shards (a merge,
    not a training: searches never train), not as one delta the size of the library."""
    store, _ = big
    store.close()
    shutil.rmtree(tmp_path / "lib" / FOLDER)
    monkeypatch.setattr("footage.store.vectors.MERGE_AT", 1000)
    again = Store(tmp_path / "lib")
    again.attach("test", DIM)  # a reader: not holding the write lock
    assert again.repaired == (0, 6000) and again.consistent()
    state = Vectors.load(tmp_path / "lib", DIM)
    assert len(state.delta) == 0 and not state.approximate and sum(len(s) for _, s in state.shards) == 6000
    again.close()


def test_pictures_and_words_are_in_shards_of_their_own(tmp_path):
    """Text chunks' vectors go to shards apart from segments': a search of one never scans the other's codes,
    and each finds its own after a training, a merge of a mixed delta, and a reopen."""
    from footage.store.store import NewChunk

    store = Store(tmp_path / "lib", create=True)
    store.attach("test", DIM)
    store.lock.acquire()
    x, words = clustered(3000), clustered(1000, seed=7)
    for v in range(30):
        rows = x[v * 100 : (v + 1) * 100]
        segments = [
            NewSegment(2.0 * k, 2.0 * k + 2, r, np.array([2.0 * k], np.float32), r[None]) for k, r in enumerate(rows)
        ]
        chunks = [
            NewChunk("speech", 2.0 * k, 2.0 * k + 2, f"words {v} {k}", w)
            for k, w in enumerate(words[v * 33 : (v + 1) * 33])
        ]
        store.save_video(facts(f"v{v}.mp4"), segments, "m", chunks)
    store.maintain(force="train")
    index = store.index
    assert sorted(index.sides.values()) == [0, 1] and len(index.shards) == 2
    found, _ = store.search_text(words[40], 1)
    assert store.chunks(found)[int(found[0])].text == "words 1 7"
    assert store.segments(store.search(x[250], 1)[0])[int(store.search(x[250], 1)[0][0])].path == "/videos/v2.mp4"
    fill(store, clustered(100, seed=8), first=40)  # and a text chunk with them: a mixed delta
    store.save_video(facts("talk.mp4"), [], "m", [NewChunk("speech", 0.0, 2.0, "a new sentence", words[999])])
    store.maintain(force="merge")
    assert sorted(index.sides[name] for name, _ in store.index.shards) == [0, 0, 1, 1]
    again = Store(tmp_path / "lib")
    again.attach("test", DIM)
    assert again.consistent() and again.index.sides == store.index.sides
    found, _ = again.search_text(words[999], 1)
    assert again.chunks(found)[int(found[0])].text == "a new sentence"
    again.close()
    store.close()


def test_a_threshold_that_is_not_a_number_is_one_clear_error(monkeypatch):
    from footage.errors import BadValue
    from footage.store.vectors import approx_from

    monkeypatch.setenv("FOOTAGE_APPROX_FROM", "abc")
    with pytest.raises(BadValue, match="FOOTAGE_APPROX_FROM='abc'"):
        approx_from()
    monkeypatch.setenv("FOOTAGE_APPROX_FROM", "")
    assert approx_from() == 300_000
