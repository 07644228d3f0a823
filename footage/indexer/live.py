"""Frames of a live source as they arrive: anything ffmpeg reads live (udp://, rtp://, rtsp://, srt://, an HLS
.m3u8, a capture device) or a file played at its own speed (`realtime`).

ffmpeg samples `fps` frames a second (the first frame at or after each tick of the stream's clock), scales them
to the model's square and pipes raw RGB. Times are seconds of wall clock since watching started, taken as each
frame arrives: they go on across reconnections. When the stream ends, drops or gives no frame for STALL_SECONDS
ffmpeg is stopped and started again after a wait that doubles up to MAX_BACKOFF; a file played once ends.
"""

import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from footage.indexer.decode import Watchdog, every

STALL_SECONDS = 10.0
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
PROBE = ["-probesize", "500000", "-analyzeduration", "1000000"]  # a live stream starts within a second


def command(source: str, fps: float, size: int, realtime: bool) -> list[str]:
    """As the indexer decodes (non-reference frames and the deblocking filter skipped, one thread: no frames
    held back by frame threads), keeping the first frame at or after each tick, which goes out as soon as it
    is decoded (ffmpeg's fps filter waits for the frame after it: half a second more at 1 fps)."""
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *PROBE]
    args += ["-skip_frame", "noref", "-skip_loop_filter", "all", "-threads", "1", *(["-re"] if realtime else [])]
    args += ["-i", source, "-map", "0:v:0", "-vf", f"select='{every(fps)}',scale={size}:{size}:flags=bilinear"]
    return [*args, "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]


def frames(
    source: str,
    fps: float,
    size: int,
    realtime: bool = False,
    stop: threading.Event | None = None,
    said: Callable[[str], None] | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds since watching started, frame (size, size, 3) uint8), until `stop` is set (or a file played
    once ends). `said(message)` hears of drops and reconnections."""
    stop = stop or threading.Event()
    once = Path(source).is_file()  # a file ends; a stream is waited for
    started, backoff, frame_bytes = time.monotonic(), FIRST_BACKOFF, size * size * 3
    while not stop.is_set():
        if said:
            said(f"watching {source}")
        process = subprocess.Popen(
            command(source, fps, size, realtime), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, preexec_fn=_die_with_parent,
        )  # fmt: skip
        watchdog = Watchdog(process, STALL_SECONDS)
        threading.Thread(target=_kill_on_stop, args=(process, stop), daemon=True).start()
        got = 0
        try:
            while len(buf := process.stdout.read(frame_bytes)) == frame_bytes:
                watchdog.fed()
                got += 1
                backoff = FIRST_BACKOFF
                yield time.monotonic() - started, np.frombuffer(buf, np.uint8).reshape(size, size, 3)
        finally:
            process.kill()
            reason = process.stderr.read().decode(errors="replace").strip().splitlines()
            process.wait()
        if stop.is_set() or once:
            return
        why = f"no frames for {STALL_SECONDS:g} s" if watchdog.stalled else reason[-1] if reason else "it ended"
        if said:
            said(f"{source}: {why}; reconnecting in {backoff:g} s")
        stop.wait(backoff)
        backoff = min(MAX_BACKOFF, backoff * 2) if not got else FIRST_BACKOFF


# Linux: ffmpeg is killed when footage is, even by SIGKILL; otherwise one waiting on a stream that never comes
# would wait forever (resolved here, as the child may not look anything up between fork and exec)
_prctl = getattr(ctypes.CDLL(None), "prctl", None) if sys.platform == "linux" else None


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _kill_on_stop(process: subprocess.Popen, stop: threading.Event) -> None:
    """Stops ffmpeg when watching stops (it may be waiting for a stream that never comes)."""
    while process.poll() is None:
        if stop.wait(0.2):
            process.kill()
