"""The Ray engine (footage index --engine ray): the same library as the local engine, from workers on a real
local Ray cluster of 2 CPUs; incremental, and resumable after kill -9."""

import json
import signal
import sqlite3
import subprocess
import time

import numpy as np
import pytest
from conftest import run_cli
from media import PHOTOS, ffmpeg, photo_video
from test_ocr import title_card
from test_speech import speak

from footage import Library
from footage.indexer import distributed

ray = pytest.importorskip("ray")

QUERIES = ["a cat", "a rocket launch", "a cup of coffee", "a motorcycle"]
QUIET = {"ocr": False, "speech": "off"}  # pictures only, for speed; test_speech_and_on_screen_text has the rest


@pytest.fixture(scope="module")
def cluster():
    """A real local Ray of 2 CPUs and a small object store, for the module; its address, for the CLI."""
    ray.init(address="local", num_cpus=2, object_store_memory=100 << 20, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Five short videos of real photos."""
    folder = tmp_path_factory.mktemp("ray-clips")
    picks = [PHOTOS[:2], PHOTOS[2:4], PHOTOS[4:], PHOTOS[1:3], [PHOTOS[3], PHOTOS[0]]]
    for i, photos in enumerate(picks):
        photo_video(folder / f"v{i}.mp4", photos=[(n, 3, f) for n, _, f in photos])
    return folder


@pytest.fixture(scope="module")
def local(tmp_path_factory, clips):
    """The local engine's library of the clips: what the Ray engine must give."""
    lib = Library(tmp_path_factory.mktemp("ray-local") / "lib")
    report = lib.index([clips], **QUIET)
    assert len(report.indexed) == 5 and not report.failed
    yield lib
    lib.close()


def rows(lib: Library) -> dict[tuple[str, float, float], int]:
    """(path, start, end) -> segment id; and no segment twice."""
    with sqlite3.connect(lib.path / "library.db") as db:
        found = db.execute("SELECT s.id, v.path, s.start, s.end FROM segments s JOIN videos v ON v.id = s.video_id")
        found = found.fetchall()
    by_span = {(path, start, end): id_ for id_, path, start, end in found}
    assert len(by_span) == len(found)  # nothing duplicated
    return by_span


def assert_same_library(lib: Library, local: Library) -> None:
    """The same segments, vectors and frame tokens equal within float16, and the same top hits."""
    ours, theirs = rows(lib), rows(local)
    assert ours.keys() == theirs.keys()
    spans = sorted(ours)
    a = lib.store.vectors([ours[s] for s in spans])
    b = local.store.vectors([theirs[s] for s in spans])
    for s in spans:
        assert np.allclose(a[ours[s]], b[theirs[s]], atol=2e-3), s  # float16 resolution near 1 is 1e-3
    ids, tokens = lib.store.all_frame_tokens()
    their_ids, their_tokens = local.store.all_frame_tokens()
    span_of = {v: k for k, v in ours.items()}
    their_tokens = dict(zip([{v: k for k, v in theirs.items()}[i] for i in their_ids], their_tokens))
    for i, t in zip(ids, tokens):
        assert np.allclose(t, their_tokens[span_of[i]], atol=2e-3, rtol=2e-3)
    for query in QUERIES:
        hits = lib.search(query, top_k=5, captions=False)
        expected = local.search(query, top_k=5, captions=False)
        assert [(h.path, h.start, h.end) for h in hits] == [(h.path, h.start, h.end) for h in expected], query
        assert np.allclose([h.score for h in hits], [h.score for h in expected], atol=2e-3)
    assert lib.store.consistent()


def test_ray_engine_indexes_as_the_local_engine_does_and_skips_what_it_did(cluster, clips, local, tmp_path):
    lib = Library(tmp_path / "lib")
    try:
        seen = []
        report = lib.index([clips], on_progress=seen.append, engine="ray", **QUIET)
        assert sorted(report.indexed) == sorted(str(p) for p in clips.glob("*.mp4"))
        assert not report.failed and not report.warnings and report.frames == 27
        assert report.video_seconds == pytest.approx(27, abs=0.5)
        assert [p.files_done for p in seen][-1] == 5 and seen[-1].video_seconds == pytest.approx(27, abs=0.5)
        assert_same_library(lib, local)
        assert lib.stats().models == local.stats().models
        again = lib.index([clips], engine="ray")  # nothing to decode: no worker is started
        assert again.indexed == [] and again.unchanged == 5
    finally:
        lib.close()


def wait_for_a_video(db_path, proc, timeout=120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run finished before it could be killed"
        try:
            with sqlite3.connect(db_path, timeout=1) as db:
                if db.execute("SELECT count(*) FROM videos WHERE status='indexed'").fetchone()[0] >= 1:
                    return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.02)
    raise AssertionError("indexing did not progress")


def test_cli_ray_run_killed_with_9_resumes_to_the_local_engines_library(cluster, clips, local, tmp_path, footage_cli):
    lib_path = tmp_path / "lib"
    options = ["--no-ocr", "--speech", "off"]
    proc = subprocess.Popen(
        [footage_cli, "--library", lib_path, "index", clips, "--engine", "ray", "--ray-address", cluster, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_a_video(lib_path / "library.db", proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    with sqlite3.connect(lib_path / "library.db") as db:
        before = db.execute("SELECT count(*) FROM videos WHERE status='indexed'").fetchone()[0]
    assert 1 <= before < 5
    # again, on a Ray of its own (the default): it picks up where the killed run stopped
    done = run_cli(footage_cli, "index", clips, "--engine", "ray", "--json", *options, library=lib_path)
    report = json.loads(done.stdout)
    assert len(report["indexed"]) == 5 - before and report["unchanged"] == before and not report["failed"]
    assert done.stderr == ""  # Ray's own logging stays out of footage's output
    ours = json.loads(run_cli(footage_cli, "stats", "--json", library=lib_path).stdout)
    theirs = json.loads(run_cli(footage_cli, "stats", "--json", library=local.path).stdout)
    for key in ("videos", "failed", "segments", "models", "text_chunks"):
        assert ours[key] == theirs[key], key
    assert ours["seconds"] == pytest.approx(theirs["seconds"])  # summed in another order
    lib = Library(lib_path)
    try:
        assert_same_library(lib, local)
    finally:
        lib.close()


def test_speech_and_on_screen_text_through_ray(cluster, tmp_path):
    """A title card with a sentence said over it: the workers hear and read it as the local engine does."""
    folder = tmp_path / "talk"
    folder.mkdir()
    spoken = speak(tmp_path / "spoken.mp4", "The treasure is buried under the old oak tree.", seconds=10)
    card = title_card(tmp_path / "title.png", "GRAND OPENING SALE")
    ffmpeg("-loop", "1", "-framerate", "10", "-t", "10", "-i", str(card), "-i", str(spoken), "-map", "0:v",
           "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-shortest", str(folder / "talk.mp4"))  # fmt: skip
    chunks = {}
    for engine in ("local", "ray"):
        with Library(tmp_path / engine) as lib:
            report = lib.index([folder], engine=engine, speech="tiny", ocr=True)
            assert report.indexed == [str(folder / "talk.mp4")] and not report.warnings
            chunks[engine] = [(c.channel, c.start, c.end, c.text) for c in lib.store.chunks_of([report.indexed[0]])]
            hits = lib.search("buried treasure", mode="speech", top_k=1, captions=False)
            assert hits and hits[0].path == str(folder / "talk.mp4")
    assert {c[0] for c in chunks["ray"]} - {"seen"} == {"speech", "on-screen"}  # and what the experts saw
    assert chunks["ray"] == chunks["local"]
    assert any("GRAND OPENING" in c[3].upper() for c in chunks["ray"])


def test_a_bad_ray_address_is_one_line(clips, tmp_path, footage_cli):
    for address, why in [("127.0.0.1:1", "cannot connect to Ray at 127.0.0.1:1"), ("nonsense", "not a Ray address")]:
        done = run_cli(
            footage_cli, "index", clips, "--engine", "ray", "--ray-address", address, library=tmp_path, check=False
        )
        assert done.returncode == 1 and why in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_without_ray_installed_it_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(distributed.FootageError, match=r"pip install 'footage\[ray\]'"):
        distributed.check()
