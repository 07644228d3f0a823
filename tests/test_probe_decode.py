"""probe and decode on real files made by ffmpeg: odd codecs, odd clocks, short clips and broken files."""

import os
import queue
import shutil

import numpy as np
import pytest
from media import ffmpeg, pattern_video

from footage.errors import VideoError
from footage.indexer.decode import Decoder, Screen
from footage.indexer.probe import probe

ODD_CODECS = {  # file name: (encoder arguments, codec ffprobe names)
    "cinepak.avi": (("-c:v", "cinepak"), "cinepak"),
    "msmpeg4.avi": (("-c:v", "msmpeg4"), "msmpeg4v3"),
    "mjpeg.avi": (("-c:v", "mjpeg"), "mjpeg"),
    "theora.ogv": (("-c:v", "libtheora"), "theora"),
    "vp8.webm": (("-c:v", "libvpx"), "vp8"),
    "vp9.webm": (("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"), "vp9"),
    "mpeg2.mpg": (("-c:v", "mpeg2video"), "mpeg2video"),
    "h264.mkv": (("-c:v", "libx264", "-preset", "ultrafast"), "h264"),
}


def decode_all(path, fps=1.0, size=64):
    info = probe(path)
    times, frames = [], []
    for t, f in Decoder(path, info, fps, size):
        times.append(t)
        frames.append(f)
    return info, np.concatenate(times), np.concatenate(frames)


@pytest.mark.parametrize("name", sorted(ODD_CODECS))
def test_odd_codecs_decode_at_one_fps(tmp_path, name):
    args, codec = ODD_CODECS[name]
    path = pattern_video(tmp_path / name, seconds=4, codec_args=args)
    info, times, frames = decode_all(path)
    assert info.codec == codec
    np.testing.assert_allclose(times, [0, 1, 2, 3])
    assert frames.shape == (4, 64, 64, 3) and frames.dtype == np.uint8
    assert frames.std() > 10  # a real picture, not a blank or green frame


def test_probe_reads_the_facts(tmp_path):
    path = pattern_video(tmp_path / "a.mp4", seconds=3, size="320x240", rate=25)
    info = probe(path)
    assert (info.width, info.height, info.codec) == (320, 240, "h264")
    assert info.fps == pytest.approx(25) and info.duration == pytest.approx(3, abs=0.1)
    assert not info.has_audio


def test_timestamps_start_at_the_first_frame_when_the_clock_starts_at_66s(tmp_path):
    path = pattern_video(tmp_path / "late.ts", seconds=5, codec_args=("-c:v", "mpeg2video", "-output_ts_offset", "66"))
    info, times, _ = decode_all(path)
    assert info.start_time >= 66
    np.testing.assert_allclose(times, [0, 1, 2, 3, 4])


def test_other_sampling_rates(tmp_path):
    path = pattern_video(tmp_path / "a.mp4", seconds=3)
    _, times, _ = decode_all(path, fps=2.0)
    np.testing.assert_allclose(times, np.arange(6) / 2)


def test_clip_shorter_than_one_sampling_interval_gives_one_frame(tmp_path):
    path = pattern_video(tmp_path / "short.mp4", seconds=0.3)
    _, times, frames = decode_all(path)
    assert list(times) == [0.0] and len(frames) == 1


def test_frames_are_scaled_and_in_rgb(tmp_path):
    path = tmp_path / "red.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=320x180:d=2", "-c:v", "libx264", "-preset", "ultrafast", str(path))
    _, _, frames = decode_all(path, size=32)
    r, g, b = frames[0].reshape(-1, 3).mean(0)
    assert frames.shape[1:] == (32, 32, 3) and r > 200 and g < 40 and b < 40


def reason(path) -> str:
    with pytest.raises(VideoError) as e:
        decode_all(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    return e.value.reason


def test_empty_file(tmp_path):
    (tmp_path / "empty.mp4").touch()
    assert reason(tmp_path / "empty.mp4") == "empty file (0 bytes)"


def test_not_a_video(tmp_path):
    (tmp_path / "notes.mp4").write_text("shopping list: eggs, milk\n" * 50)
    assert reason(tmp_path / "notes.mp4").startswith("not a readable video")


def test_audio_only(tmp_path):
    path = tmp_path / "tone.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=d=2", "-c:a", "aac", str(path))
    assert reason(path) == "no video stream (only audio)"


def test_missing_file(tmp_path):
    assert reason(tmp_path / "gone.mp4") == "no such file"


def test_truncated_without_index(tmp_path):
    good = pattern_video(tmp_path / "good.mp4", seconds=6)
    data = good.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # moov atom (at the end) is lost
    assert "moov atom not found" in reason(tmp_path / "cut.mp4")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable(tmp_path):
    path = shutil.copy(pattern_video(tmp_path / "a.mp4"), tmp_path / "locked.mp4")
    os.chmod(path, 0)
    assert reason(path) == "permission denied"


def test_a_long_decode_keeps_each_frame_time_on_its_own_clock(tmp_path):
    """ffmpeg's progress line (every half second, ending in \\r) once glued the next showinfo line to itself: a
    screen frame's time went to the pictures' clock, and at 0.1 fps the screen waited 30 s for a time that
    never came ("Empty"). Half an hour of a still picture decodes for long enough to print progress."""
    path = tmp_path / "still.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x336699:size=64x64:rate=1:duration=1800", "-c:v", "libx264",
           "-preset", "ultrafast", str(path))  # fmt: skip
    screen = Screen(2.0, 64, queue.Queue())
    times = np.concatenate([t for t, _ in Decoder(path, probe(path), 0.1, 32, batch=16, screen=screen)])
    shown = [t for t, _ in iter(screen.frames.get, None)]
    assert np.allclose(times, np.arange(0, 1800, 10))
    assert len(shown) == 900 and np.allclose(shown, np.arange(0, 1800, 2))


@pytest.mark.parametrize("name", ["a.mkv", "a.mp4", "a.webm"])
def test_the_start_is_the_first_keyframe_not_a_guess(tmp_path, name):
    """ffprobe's stream start_time beside -skip_frame and -read_intervals said 1.667 s for an H.264 Matroska
    starting at 0, and clips were cut that far from the moment found."""
    codec = ("-c:v", "libvpx", "-deadline", "realtime") if name.endswith("webm") else ("-c:v", "libx264")
    path = pattern_video(tmp_path / name, seconds=6, codec_args=(*codec, "-preset", "ultrafast"), rate=5)
    assert probe(path).start_time == pytest.approx(0.0, abs=0.01)
