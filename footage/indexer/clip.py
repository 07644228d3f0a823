"""A moment of a video as a file of its own: ffmpeg cuts it, copying the stream when it can.

Copying is exact only from a keyframe: a cut that starts elsewhere would begin with pictures that cannot be
decoded, so it is re-encoded (H.264 and AAC, fast). Either way the result is an MP4 that starts playing at
once (faststart), whatever the source's container.
"""

import json
import subprocess
from pathlib import Path

from footage.errors import VideoError
from footage.indexer.probe import ffmpeg_reason, source_args

MAX_CLIP_SECONDS = 600
CUT_TIMEOUT = 600  # seconds for ffmpeg to write a clip
KEYFRAME_SLACK = 0.05  # a cut this close after a keyframe starts on it
COPYABLE = frozenset({"h264", "hevc"})  # codecs an MP4 holds as they are


def keyframe_at(fd: int, start: float) -> bool:
    """Whether the video stream has a keyframe within KEYFRAME_SLACK of `start` (container time)."""
    args = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries",
            "frame=pts_time,best_effort_timestamp_time", "-read_intervals", f"{max(0.0, start - 1)}%+2",
            "-of", "json", *source_args(), f"/dev/fd/{fd}"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, timeout=CUT_TIMEOUT, stdin=subprocess.DEVNULL, pass_fds=(fd,))
    if done.returncode != 0:
        return False
    frames = json.loads(done.stdout or b"{}").get("frames", [])
    times = [float(f.get("pts_time") or f.get("best_effort_timestamp_time") or -1) for f in frames]
    return any(0 <= start - t <= KEYFRAME_SLACK for t in times)


def codec(fd: int) -> str | None:
    args = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name", "-of",
            "json", *source_args(), f"/dev/fd/{fd}"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, timeout=CUT_TIMEOUT, stdin=subprocess.DEVNULL, pass_fds=(fd,))
    streams = json.loads(done.stdout or b"{}").get("streams", []) if done.returncode == 0 else []
    return streams[0].get("codec_name") if streams else None


def cut(fd: int, start: float, end: float, out: Path) -> Path:
    """Writes the start..end (container seconds) of the video open as `fd` to `out` as an MP4; raises VideoError
    if ffmpeg cannot. ffmpeg reads the descriptor (/dev/fd/N), not a path: what was checked is what is cut, and
    it reads nothing else (probe.source_args: a file swapped for a playlist since it was indexed is refused)."""
    copy = codec(fd) in COPYABLE and keyframe_at(fd, start)
    how = ["-c", "copy"] if copy else ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-c:a", "aac"]
    args = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", f"{start:.3f}", *source_args(), "-i", f"/dev/fd/{fd}",
            "-t", f"{end - start:.3f}", "-map", "0:v:0", "-map", "0:a:0?", *how, "-sn", "-dn",
            "-avoid_negative_ts", "make_zero", "-movflags", "+faststart", "-f", "mp4", str(out)]  # fmt: skip
    try:
        done = subprocess.run(args, capture_output=True, timeout=CUT_TIMEOUT, stdin=subprocess.DEVNULL, pass_fds=(fd,))
    except subprocess.TimeoutExpired:
        out.unlink(missing_ok=True)
        raise VideoError(out, f"ffmpeg did not cut the clip in {CUT_TIMEOUT} s") from None
    if done.returncode != 0:
        out.unlink(missing_ok=True)
        raise VideoError(out, f"ffmpeg could not cut the clip ({ffmpeg_reason(done.stderr, 'no reason given')})")
    return out
