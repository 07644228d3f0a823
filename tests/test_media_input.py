"""Media input is one file, never a list of other files: playlists (HLS, DASH), concat lists, vobsub indexes and
file patterns are refused by the CLI, by describe and by an index job with --root, and every ffmpeg that reads a
video reads through the file protocol alone. Links in a folder lead only to files named as videos; a failure is
named by the link, and goes with it. `~nosuchuser` is a one-line BadValue everywhere."""

import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import run_cli
from fastapi.testclient import TestClient
from media import ffmpeg, pattern_video

from footage import Library
from footage.errors import BadValue, VideoError
from footage.indexer import clip, speech, subtitles
from footage.indexer.probe import probe, readable_formats, source_args
from footage.serve.app import create_app
from footage.serve.security import Settings

LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> Path:
    """A real video outside every folder given to footage: what a playlist tries to reach."""
    folder = tmp_path_factory.mktemp("elsewhere")
    mp4 = pattern_video(folder / "private.mp4", seconds=4)
    ts = folder / "private.ts"
    ffmpeg("-i", str(mp4), "-c", "copy", str(ts))
    return ts


def playlists(secret: Path) -> dict[str, bytes]:
    """Files named as videos that name other files instead of holding pictures."""
    mpd = (
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" mediaPresentationDuration="PT4S"><Period>'
        '<AdaptationSet mimeType="video/mp2t"><Representation id="1" bandwidth="1000">'
        f"<BaseURL>{secret}</BaseURL></Representation></AdaptationSet></Period></MPD>"
    )
    return {
        "hls.mp4": f"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\n{secret}\n#EXT-X-ENDLIST\n".encode(),
        "hls-relative.mkv": f"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\n../../../../../..{secret}\n".encode(),
        "ffconcat.mp4": f"ffconcat version 1.0\nfile '{secret}'\n".encode(),
        "dash.mp4": mpd.encode(),
        "vobsub.mp4": f"# VobSub index file, v7 (do not modify this line!)\n# {secret}\nsize: 720x480\n".encode(),
    }


@pytest.mark.parametrize("name", ["hls.mp4", "hls-relative.mkv", "ffconcat.mp4", "dash.mp4", "vobsub.mp4"])
def test_a_file_that_names_other_files_is_refused(tmp_path, secret, name):
    path = tmp_path / name
    path.write_bytes(playlists(secret)[name])
    with pytest.raises(VideoError) as e:
        probe(path)
    assert "not a video" in e.value.reason and "\n" not in str(e.value)
    assert str(secret) not in str(e.value)  # nothing of what it names comes back


def test_whitelist_leaves_out_every_demuxer_that_opens_others():
    formats = set(readable_formats().split(","))
    assert {"mov", "mp4", "matroska", "webm", "mpegts", "avi"} <= formats
    assert not formats & {"hls", "dash", "concat", "image2", "imf", "sdp", "rtsp", "vobsub", "lavfi", "alsa", "x11grab"}


@pytest.mark.parametrize(
    "url", ["subfile,,start,0,end,1000,,:{secret}", "concat:{secret}|{secret}", "http://127.0.0.1:9/a"]
)
def test_ffmpeg_reads_through_the_file_protocol_alone(secret, url):
    """What a name could smuggle past a path check is refused by ffmpeg itself."""
    args = ["ffmpeg", "-nostdin", "-v", "error", *source_args(), "-i", url.format(secret=secret), "-f", "null", "-"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "not on whitelist" in done.stderr


def test_a_clip_is_never_cut_from_a_playlist(tmp_path, secret):
    """clip.cut reads a descriptor: one swapped for a playlist since it was checked gives no pictures."""
    path = tmp_path / "hls.mp4"
    path.write_bytes(playlists(secret)["hls.mp4"])
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(VideoError):
            clip.cut(fd, 0.0, 2.0, tmp_path / "out.mp4")
    finally:
        os.close(fd)
    assert not (tmp_path / "out.mp4").exists()


def test_closed_captions_open_only_the_file_with_its_own_demuxer(tmp_path, secret):
    path = tmp_path / "hls.ts"
    path.write_bytes(playlists(secret)["hls.mp4"])
    with pytest.raises(OSError):
        subtitles.closed_captions(path, "mpegts")  # the demuxer its probe found, never hls


def test_the_cli_and_describe_refuse_a_playlist_and_index_the_rest(tmp_path, secret, footage_cli):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name, data in playlists(secret).items():
        (videos / name).write_bytes(data)
    pattern_video(videos / "real.mp4", seconds=3)
    lib = tmp_path / "lib"
    done = run_cli(footage_cli, "index", videos, "--speech", "off", "--no-ocr", "--json", library=lib, check=False)
    assert "Traceback" not in done.stderr
    with Library(lib) as library:
        rows = library.videos()[0]
        assert [Path(r.path).name for r in rows if r.status == "indexed"] == ["real.mp4"]
        failed = {Path(r.path).name: r.error for r in rows if r.status == "failed"}
        assert set(failed) == set(playlists(secret)), failed
        assert all("not a video" in why and str(secret) not in why for why in failed.values())
        with pytest.raises(VideoError):
            library.describe(videos / "hls.mp4")
    done = run_cli(footage_cli, "describe", videos / "hls.mp4", library=lib, check=False)
    assert done.returncode != 0 and "hls.mp4" in done.stderr and "HLS playlist" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_an_index_job_under_a_root_refuses_a_playlist(tmp_path, secret):
    root = tmp_path / "root"
    root.mkdir()
    (root / "hls.mp4").write_bytes(playlists(secret)["hls.mp4"])
    (root / "ffconcat.mp4").write_bytes(playlists(secret)["ffconcat.mp4"])
    with Library(tmp_path / "lib") as lib:
        with TestClient(create_app(lib, Settings(roots=[root])), base_url=LOCAL) as client:
            job = client.post("/api/v1/jobs/index", json={"paths": [str(root)]}).json()
            deadline = time.monotonic() + 120
            while job["state"] == "running" and time.monotonic() < deadline:
                time.sleep(0.1)
                job = client.get(f"/api/v1/jobs/{job['id']}").json()
            assert job["state"] == "done" and job["report"]["indexed"] == []
            assert {Path(p).name for p, _ in job["report"]["failed"]} == {"hls.mp4", "ffconcat.mp4"}
            assert str(secret) not in str(job)
            assert client.get("/api/v1/search", params={"q": "a test pattern"}).json()["hits"] == []


def test_a_link_to_a_file_not_named_as_a_video_is_not_opened(tmp_path):
    """clip.mp4 -> a private file: skipped, named by the link, gone with it; the private path never shows."""
    private = tmp_path / "private" / "shadow"
    private.parent.mkdir()
    private.write_text("root:*:19000:0:99999:7:::\n")
    videos = tmp_path / "videos"
    videos.mkdir()
    pattern_video(videos / "real.mp4", seconds=2)
    (videos / "clip.mp4").symlink_to(private)
    with Library(tmp_path / "lib") as lib:
        report = lib.index([videos], speech="off", ocr=False)
        assert report.failed == [(str(videos / "clip.mp4"), "a link to a file that is not named as a video")]
        assert not any("private" in r.path or "private" in (r.error or "") for r in lib.videos()[0])
        (videos / "clip.mp4").unlink()
        lib.index([videos])
        assert [Path(r.path).name for r in lib.videos()[0]] == ["real.mp4"]


def test_a_link_out_of_a_root_is_not_named_by_its_target(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir(), outside.mkdir()
    pattern_video(outside / "kept.mp4", seconds=2)
    (root / "link.mp4").symlink_to(outside / "kept.mp4")
    with Library(tmp_path / "lib") as lib:
        report = lib.index([root], speech="off", ocr=False, within=[root])
        assert report.indexed == [] and len(report.failed) == 1
        assert "outside" not in str(report.failed)


def test_a_home_of_no_user_is_a_bad_value(photo_library, footage_cli, tmp_path):
    for call in (
        lambda: photo_library.search("a cat", under="~nosuchuser/x"),
        lambda: photo_library.describe("~nosuchuser/x.mp4"),
        lambda: photo_library.remove("~nosuchuser/x", dry_run=True),
        lambda: photo_library.check_paths(["~nosuchuser/x"]),
        lambda: photo_library.export("a cat", "~nosuchuser/out"),
        lambda: Library("~nosuchuser/lib"),
    ):
        with pytest.raises(BadValue, match="nosuchuser"):
            call()
    with pytest.raises(BadValue, match="NUL"):
        photo_library.search("a cat", under="/tmp/a\0b")
    for args in (["stats"], ["search", "a cat", "--under", "~nosuchuser/x"], ["index", "~nosuchuser/x"]):
        lib = "~nosuchuser/lib" if args == ["stats"] else photo_library.path
        done = run_cli(footage_cli, *args, library=lib, check=False)
        assert done.returncode == 2 and "nosuchuser" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and "RuntimeError" not in done.stderr


def test_speech_reads_no_audio_through_a_playlist(tmp_path, secret):
    path = tmp_path / "hls.mp4"
    path.write_bytes(playlists(secret)["hls.mp4"])
    done = subprocess.run(speech.command(path), capture_output=True, timeout=60)
    assert done.returncode != 0 and done.stdout == b"" and b"not on whitelist" in done.stderr
