"""Indexing runs: incremental, resumable, and tolerant of bad files."""

import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
from media import PHOTOS, ffmpeg, pattern_video, photo_video

from footage import Library, LibraryBusy
from footage.indexer import feed, pipeline, scan


@pytest.fixture
def clips(tmp_path):
    """A folder of three short real-photo videos."""
    folder = tmp_path / "clips"
    folder.mkdir()
    for i, p in enumerate([PHOTOS[:2], PHOTOS[2:4], PHOTOS[4:]]):
        photo_video(folder / f"v{i}.mp4", photos=[(n, 3, f) for n, _, f in p])
    return folder


def segment_rows(lib: Library):
    with sqlite3.connect(lib.path / "library.db") as db:
        return db.execute("SELECT v.path, s.start, s.end FROM segments s JOIN videos v ON v.id = s.video_id").fetchall()


def test_second_run_decodes_nothing(library, clips, monkeypatch):
    first = library.index([clips])
    assert len(first.indexed) == 3 and not first.failed
    assert first.video_seconds == pytest.approx(15, abs=0.3)  # 2 + 2 + 1 photos, 3 s each
    decoded = []
    monkeypatch.setattr(feed, "probe", lambda path: decoded.append(path))  # would be called for any decode
    second = library.index([clips])
    assert second.indexed == [] and second.unchanged == 3 and decoded == []
    assert library.store.consistent()


def test_files_indexed_by_other_models_are_indexed_again(library, clips, monkeypatch):
    library.index([clips])
    monkeypatch.setattr("footage.models.bundled.PREDICTOR_VERSION", "conse-test")
    report = library.index([clips])
    assert len(report.indexed) == 3 and report.unchanged == 0
    assert library.stats().models == [library.models.model_id] and "conse-test" in library.models.model_id
    assert library.store.consistent()


def test_touched_but_unchanged_file_is_not_decoded(library, clips):
    library.index([clips])
    os.utime(clips / "v1.mp4", (1, 1))
    report = library.index([clips])
    assert report.indexed == [] and report.unchanged == 3


def test_changed_file_is_reindexed_without_duplicates(library, clips):
    library.index([clips])
    before = len(segment_rows(library))
    photo_video(clips / "v1.mp4", photos=[(n, 4, f) for n, _, f in PHOTOS[:1]])
    report = library.index([clips])
    assert report.indexed == [str(clips / "v1.mp4")]
    rows = segment_rows(library)
    v1 = [r for r in rows if r[0].endswith("v1.mp4")]
    assert len(v1) == 1 and v1[0][1:] == (0.0, 4.0)
    assert len(rows) == before - 2 + 1
    assert library.store.consistent()


def test_deleted_files_are_dropped_when_their_folder_is_indexed(library, clips):
    library.index([clips])
    (clips / "v0.mp4").unlink()
    report = library.index([clips])
    assert report.removed == [str(clips / "v0.mp4")]
    assert {r[0] for r in segment_rows(library)} == {str(clips / "v1.mp4"), str(clips / "v2.mp4")}
    assert all(not h.path.endswith("v0.mp4") for h in library.search("a cat", top_k=10))
    assert library.store.consistent()


def test_renamed_file_keeps_its_segments_without_decoding(library, clips):
    library.index([clips])
    os.rename(clips / "v2.mp4", clips / "renamed.mp4")
    report = library.index([clips])
    assert report.moved == [(str(clips / "v2.mp4"), str(clips / "renamed.mp4"))] and report.indexed == []
    assert {r[0] for r in segment_rows(library)} == {str(clips / f) for f in ("v0.mp4", "v1.mp4", "renamed.mp4")}


def test_remove_file_and_folder(library, clips, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(clips / "v0.mp4", other / "copy.mp4")
    library.index([clips, other])
    assert library.remove(clips / "v1.mp4") == [str(clips / "v1.mp4")]
    assert library.remove(clips) == [str(clips / "v0.mp4"), str(clips / "v2.mp4")]
    assert {r[0] for r in segment_rows(library)} == {str(other / "copy.mp4")}
    assert library.stats().videos == 1 and library.store.consistent()
    assert library.remove(tmp_path / "nothing-here") == []


def test_bad_inputs_are_recorded_and_the_run_goes_on(library, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    pattern_video(folder / "good.mp4", seconds=3)
    (folder / "empty.mp4").touch()
    (folder / "text.avi").write_text("not a video at all\n" * 100)
    ffmpeg("-f", "lavfi", "-i", "sine=d=2", "-c:a", "aac", str(folder / "audio-only.mp4"))
    whole = pattern_video(tmp_path / "whole.mp4", seconds=20)
    faststart = tmp_path / "faststart.mp4"
    ffmpeg("-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(faststart))
    data = faststart.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])  # index intact, most frames gone
    (folder / "moov-lost.mp4").write_bytes(whole.read_bytes()[:20_000])  # the index (at the end) is lost
    pattern_video(folder / "late-clock.ts", seconds=4, codec_args=("-c:v", "mpeg2video", "-output_ts_offset", "66"))
    pattern_video(folder / "tiny.mp4", seconds=0.3)
    (folder / "notes.txt").write_text("not picked up from a folder: not a video extension")

    report = library.index([folder, tmp_path / "does-not-exist.mp4"])
    failed = dict(report.failed)
    indexed = ("good.mp4", "late-clock.ts", "tiny.mp4", "truncated.mp4")
    assert sorted(report.indexed) == sorted(str(folder / f) for f in indexed)
    assert failed[str(folder / "empty.mp4")] == "empty file (0 bytes)"
    assert failed[str(folder / "text.avi")].startswith("not a readable video")
    assert failed[str(folder / "audio-only.mp4")] == "no video stream (only audio)"
    assert "moov atom not found" in failed[str(folder / "moov-lost.mp4")]
    assert report.missing == [str(tmp_path / "does-not-exist.mp4")]
    assert dict(report.warnings)[str(folder / "truncated.mp4")].startswith("partial: decoded ")  # what plays is kept
    stats = library.stats()
    assert stats.videos == 4 and stats.failed == 4 and [p for p, _ in stats.partial] == [str(folder / "truncated.mp4")]
    assert all("\n" not in reason for _, reason in stats.failures)
    assert [r[1:] for r in segment_rows(library) if r[0].endswith("late-clock.ts")][0][0] == 0.0

    again = library.index([folder])  # failed files are tried again (the cause may be gone), the rest skipped
    assert again.indexed == [] and len(again.failed) == 4 and again.unchanged == 4
    pattern_video(folder / "empty.mp4", seconds=2)  # fixed: now it is indexed
    assert library.index([folder]).indexed == [str(folder / "empty.mp4")]
    assert library.stats().failed == 3


def test_scan_follows_symlinks_once_and_skips_hidden_folders_and_the_library(tmp_path):
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for name in ("a.mp4", "sub/b.MKV", ".hidden/c.mp4", "notes.txt", "library/d.mp4"):
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(b"x")
    (root / "sub" / "loop").symlink_to(root)  # a cycle
    found = scan.scan([root, tmp_path / "nope"], skip=(root / "library").resolve())
    assert found.files == [root / "a.mp4", root / "sub" / "b.MKV"]
    assert found.folders == [root] and found.missing == [str(tmp_path / "nope")]


def test_explicit_non_video_file_is_recorded(library, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    report = library.index([notes])
    assert report.failed and report.failed[0][0] == str(notes)


def test_second_writer_is_refused_while_search_goes_on(photo_library, clips):
    other = Library(photo_library.path)
    try:
        assert other.store.lock.acquire()  # as if `footage index` were running in another process
        with pytest.raises(LibraryBusy, match=f"pid {os.getpid()}"):
            photo_library.index([clips])
        assert photo_library.search("a cat", top_k=1)[0].start == 0.0
    finally:
        other.close()


CLIPS = 12  # enough left to do after the second that a loaded machine still interrupts mid-run


def long_clips(folder, n=CLIPS, seconds=24):
    folder.mkdir()
    for i in range(n):
        pattern_video(folder / f"clip{i}.mp4", seconds=seconds, size="128x96", rate=5)
    return folder


def wait_for_videos(db_path, n, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run finished before it could be interrupted"
        try:
            with sqlite3.connect(db_path, timeout=1) as db:
                if db.execute("SELECT count(*) FROM videos WHERE status='indexed'").fetchone()[0] >= n:
                    return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.02)
    raise AssertionError("indexing did not progress")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_run_leaves_a_consistent_library_and_resumes(tmp_path, footage_cli, sig):
    folder = long_clips(tmp_path / "long")
    lib_path = tmp_path / "lib"
    proc = subprocess.Popen(
        [footage_cli, "--library", str(lib_path), "index", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_videos(lib_path / "library.db", 2, proc)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted" in stderr and "run the same command again" in stderr
    lib = Library(lib_path)  # opening repairs FAISS if the run died between SQLite and FAISS
    try:
        assert lib.store.consistent()
        done_before = lib.stats().videos
        assert 2 <= done_before < CLIPS
        report = lib.index([folder])
        assert len(report.indexed) == CLIPS - done_before and report.unchanged == done_before
        rows = segment_rows(lib)
        assert len(rows) == len(set(rows)) == CLIPS * 3  # 24 s each: three 8 s segments, none twice
        assert lib.store.consistent()
    finally:
        lib.close()


def test_frames_that_did_not_change_reuse_the_tokens_of_the_last_one_embedded(tmp_path, photos):
    """Each photo of the video stands still for 5-7 s: the model sees it once, the other seconds reuse its
    tokens, and those are what the model gives for them (to within encoding noise)."""
    import numpy as np

    from footage.indexer.decode import Decoder
    from footage.indexer.probe import probe

    path, stretches = photos
    with Library(tmp_path / "lib") as lib:
        report = lib.index([path], ocr=False, speech="off")
        frames = np.concatenate([f for _, f in Decoder(path, probe(path), 1.0, lib.backbone.image_size)])
        assert report.frames == len(frames) == 30
        assert len(frames) - 2 * len(stretches) <= report.frames_reused < len(frames)  # once a photo, or twice
        _, token_sets = lib.store.all_frame_tokens()
        stored = np.concatenate(token_sets)
        own, _ = lib.backbone.embed_frames(frames)
        assert np.all(np.sum(stored * own, axis=1) > 0.97)
        assert len({v.tobytes() for v in stored}) < len(frames) - 10  # reused tokens are the very same vectors


def test_a_frame_that_changed_is_embedded_anew(library, tmp_path):
    """A picture moving across the frame changes every second: nothing is reused."""
    video = pattern_video(tmp_path / "moving.mp4", seconds=6)
    report = library.index([video], ocr=False, speech="off")
    assert report.frames == 6 and report.frames_reused == 0


def test_speech_is_heard_ahead_of_the_pictures(tmp_path):
    """Whisper listens to the next files while a file's frames wait for the model: with not one frame of the
    first file taken, the second file's speech is heard already (a long decode no longer holds it back)."""
    sound = ("-f", "lavfi", "-i", "sine=frequency=300:d=3")
    videos = [pattern_video(tmp_path / f"{name}.mp4", extra_input=sound) for name in ("first", "second")]
    heard: queue.Queue = queue.Queue()

    def transcriber(path, stop, reached):
        heard.put(path.name)
        return []

    out, stop = queue.Queue(maxsize=1), threading.Event()  # out is not read: the first file's decode waits
    decoding = threading.Thread(target=feed.decode_all, args=(videos, 1.0, 32, 4, out, stop, False, transcriber))
    decoding.start()
    try:
        assert [heard.get(timeout=30), heard.get(timeout=30)] == ["first.mp4", "second.mp4"]
        assert isinstance(out.get(timeout=30), feed.Decoded.Start)  # nothing taken before this
    finally:
        stop.set()
        while decoding.is_alive():
            try:
                out.get(timeout=0.1)
            except queue.Empty:
                pass


def test_a_long_file_is_written_as_it_is_decoded_with_the_segments_of_a_whole_one(tmp_path, monkeypatch):
    """A file longer than the window goes to the library every WINDOW_SECONDS of frames, in one transaction
    committed at its end: its thumbnails are on disk while it still decodes, its segments hidden from readers
    until the commit, and the segments are those of the file cut in one go."""
    video = tmp_path / "v" / "long.mp4"
    video.parent.mkdir()
    photo_video(video)  # 30 s: five photos, 5-7 s each
    whole = Library(tmp_path / "whole")
    whole.index([video])
    expected = segment_rows(whole)
    found = [(h.start, round(h.score, 4)) for h in whole.search("a rocket", top_k=3)]
    whole.close()

    monkeypatch.setattr(pipeline, "WINDOW_SECONDS", 8.0)
    lib = Library(tmp_path / "parts")
    seen = []

    def progress(p):
        if p.current and p.video_seconds > 20 and not seen:  # two windows in: written, not committed
            seen.append((len(list((lib.path / "thumbs").rglob("*.jpg"))), len(segment_rows(lib))))

    lib.index([video], progress)
    assert seen and seen[0][0] >= 2 and seen[0][1] == 0
    rows = segment_rows(lib)
    assert [(round(a, 2), round(b, 2)) for _, a, b in rows] == [(round(a, 2), round(b, 2)) for _, a, b in expected]
    assert len(list((lib.path / "thumbs").rglob("*.jpg"))) == len(rows)
    assert lib.store.consistent()
    assert [(h.start, round(h.score, 4)) for h in lib.search("a rocket", top_k=3)] == found
    lib.close()


def test_a_long_file_stopped_halfway_leaves_the_library_as_it_was(tmp_path, monkeypatch):
    folder = tmp_path / "v"
    folder.mkdir()
    photo_video(folder / "a.mp4", photos=PHOTOS[:2])
    lib = Library(tmp_path / "library")
    lib.index([folder])
    before, thumbs = segment_rows(lib), sorted((lib.path / "thumbs").rglob("*.jpg"))
    photo_video(folder / "a.mp4")  # changed: 30 s now, written in parts
    monkeypatch.setattr(pipeline, "WINDOW_SECONDS", 8.0)

    def stop(p):
        if p.current and p.video_seconds > 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lib.index([folder], stop)
    assert segment_rows(lib) == before
    assert sorted((lib.path / "thumbs").rglob("*.jpg")) == thumbs
    assert lib.store.consistent()
    assert len(lib.index([folder]).indexed) == 1  # and the next run takes it up
    assert len(segment_rows(lib)) > len(before)
    lib.close()
