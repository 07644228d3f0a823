"""What a file holds, from ffprobe: is it a video, how long, which codec, where its timestamps start."""

import functools
import json
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from footage.errors import VideoError

PROBE_TIMEOUT = 120  # seconds: ffprobe reads a header and 60 keyframes; more means a stalled drive or a FIFO
# Stands for the input file in ffmpeg-python graphs, swapped for the path in the compiled command: ffmpeg-python
# hashes its arguments as UTF-8, which a file name need not be (caf\xe9.mp4 from an old Latin-1 disk).
INPUT = "footage:input"


# Demuxers that open other files or URLs than the one they are handed: playlists (hls, dash), lists (concat,
# imf), file patterns (image2), session descriptions (sdp, rtp, rtsp), a sibling file (vobsub's .sub, mlv's
# .M00), a filter graph (lavfi's movie source opens any file). An HLS playlist named hls.mp4 inside a served
# folder made ffmpeg index, cut and show a video from anywhere on the disk. footage reads only the file it was
# given, so these are left off the demuxers ffmpeg may use on a file (devices are left off too).
OPENS_OTHERS = frozenset("hls dash concat imf image2 webm_dash_manifest sdp rtp rtsp vobsub mlv lavfi".split())


def with_input(args: list[str], path: str | Path) -> list[str]:
    """A compiled ffmpeg-python command with INPUT replaced by the file's path."""
    return [str(path) if a == INPUT else a for a in args]


def _listed(kind: str) -> set[str]:
    """The names in `ffmpeg -demuxers` or `ffmpeg -devices` (" D  name  long name" rows after a "--" line)."""
    done = subprocess.run(["ffmpeg", "-hide_banner", f"-{kind}"], capture_output=True, text=True, timeout=30)
    rows = [row.split() for row in done.stdout.split(" --\n", 1)[-1].splitlines()]
    return {name for row in rows if len(row) > 1 and "D" in row[0] for name in row[1].split(",")}


@functools.cache
def readable_formats() -> str:
    """ffmpeg's format_whitelist for a file: every demuxer this ffmpeg has but devices and OPENS_OTHERS."""
    return ",".join(sorted(_listed("demuxers") - _listed("devices") - OPENS_OTHERS))


def source_options() -> dict[str, str]:
    """ffmpeg's input options for reading one file and nothing else: the file protocol alone (no http:, no
    subfile:, no concat:), and no demuxer that opens other files (OPENS_OTHERS). Every ffmpeg and ffprobe
    command that reads a video footage was given puts these before its -i."""
    return {"protocol_whitelist": "file", "format_whitelist": readable_formats()}


def source_args() -> list[str]:
    """source_options() as command-line arguments."""
    return [arg for key, value in source_options().items() for arg in (f"-{key}", value)]


def _refused(path: Path) -> str:
    """Why ffmpeg refused a file's format, from its first bytes where they say what it is."""
    try:
        with open(path, "rb") as f:
            head = f.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        head = b""
    kind = (
        "an HLS playlist" if head.startswith(b"#EXTM3U")
        else "an ffconcat list" if head.startswith(b"ffconcat")
        else "a DASH manifest" if b"<MPD" in head
        else "a format that opens other files (a playlist, a list or a file pattern)"
    )  # fmt: skip
    return f"{kind}, not a video: footage reads only the file it is given, never the files it names"


@dataclass(frozen=True)
class VideoInfo:
    stream: int  # index of the video stream to decode
    codec: str
    width: int
    height: int
    fps: float | None  # average frame rate; None when the container does not say
    duration: float | None  # seconds; None when the container does not say
    start_time: float  # container time of the stream's first frame (not always 0)
    has_audio: bool
    subtitle_streams: tuple[tuple[int, str], ...] = ()  # (stream index, codec) of each subtitle stream
    closed_captions: bool = False  # its first keyframes carry A53 (CEA-608/708) caption data
    demuxer: str = ""  # the ffmpeg demuxer that read it ("mov", "matroska", "mpegts"...)


def ffmpeg_reason(stderr: bytes | str | None, fallback: str) -> str:
    """The last two distinct lines of ffmpeg's stderr, without '[demuxer @ 0x..]' or file-name prefixes:
    ffmpeg tends to say what went wrong ('moov atom not found') just before its generic last word."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    lines = []
    for line in (stderr or "").splitlines():
        line = line.strip()
        if line.startswith("[") and "] " in line:
            line = line.split("] ", 1)[1]
        if ": " in line and line.split(": ", 1)[0].startswith(("/", ".")):
            line = line.split(": ", 1)[1]  # "/path/to/file.mp4: Invalid data ..."
        line = line.rstrip(".")
        if line and line not in lines:
            lines.append(line)
    return "; ".join(lines[-2:]) or fallback


def _rate(value: str | None) -> float | None:
    try:
        num, den = (value or "").split("/")
        return float(num) / float(den) if float(den) else None
    except ValueError:
        return None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def probe(path: str | Path) -> VideoInfo:
    """Raises VideoError with a one-line reason when the file is not a readable video."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise VideoError(path, "no such file") from None
    if not stat.S_ISREG(st.st_mode):
        raise VideoError(path, "not a regular file")
    size = st.st_size
    if size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise VideoError(path, "permission denied")
    # The first keyframes are decoded too: caption data rides in the video stream's frames, and broadcast
    # streams send it (null pairs at least) with every frame. One ffprobe run instead of two per file.
    args = ["ffprobe", "-v", "error", "-hide_banner", "-show_format", "-show_streams", "-of", "json"]
    args += ["-skip_frame", "nokey", "-read_intervals", "%+#60", "-show_frames"]
    try:
        args += [*source_args(), str(path)]
        done = subprocess.run(args, capture_output=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise VideoError(path, f"ffprobe gave no answer in {PROBE_TIMEOUT} s") from None
    except FileNotFoundError:
        raise VideoError(path, "ffprobe is not installed (it comes with ffmpeg)") from None
    if done.returncode != 0 and b"not on whitelist" in done.stderr:
        raise VideoError(path, _refused(path))
    if done.returncode != 0:
        reason = ffmpeg_reason(done.stderr, "ffprobe could not read it")
        raise VideoError(path, f"not a readable video ({reason})")
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise VideoError(path, "not a readable video (ffprobe's answer was not JSON)") from None
    streams = data.get("streams", [])
    videos = [s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")]
    if not videos:
        kinds = sorted({s.get("codec_type", "?") for s in streams})
        return_kind = f" (only {', '.join(kinds)})" if kinds else ""
        raise VideoError(path, f"no video stream{return_kind}")
    v = videos[0]
    fmt = data.get("format", {})
    duration = _float(v.get("duration")) or _float(fmt.get("duration"))
    # Where its pictures start: the first keyframe's time, the first frame a decoder shows. The stream's own
    # start_time is wrong beside -skip_frame and -read_intervals (1.667 s for an H.264 Matroska starting at 0:
    # clips were cut that far off).
    keys = [f for f in data.get("frames", []) if f.get("stream_index") == v["index"]]
    first = _float(keys[0].get("pts_time") or keys[0].get("best_effort_timestamp_time")) if keys else None
    return VideoInfo(
        stream=int(v["index"]),
        codec=v.get("codec_name", "unknown"),
        width=int(v.get("width") or 0),
        height=int(v.get("height") or 0),
        fps=_rate(v.get("avg_frame_rate")) or _rate(v.get("r_frame_rate")),
        duration=duration,
        start_time=first if first is not None else _float(v.get("start_time")) or _float(fmt.get("start_time")) or 0.0,
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        subtitle_streams=tuple(
            (int(s["index"]), s.get("codec_name", "unknown")) for s in streams if s.get("codec_type") == "subtitle"
        ),
        demuxer=str(fmt.get("format_name", "")).split(",")[0],
        closed_captions=any(
            "Closed Captions" in side.get("side_data_type", "")
            for frame in data.get("frames", [])
            if frame.get("stream_index") == v["index"]
            for side in frame.get("side_data_list", [])
        ),
    )
