"""Frames of a live source as they arrive: anything ffmpeg reads live (udp://, rtp://, rtsp://, srt://, an HLS
.m3u8, a capture device) or a file played at its own speed (`realtime`).

ffmpeg samples `fps` frames a second (the first frame at or after each tick of the stream's clock), scales them
to the model's square and pipes raw RGB. Times are seconds of wall clock since watching started, taken as each
frame arrives: they go on across reconnections. When the stream ends, drops or gives no frame for STALL_SECONDS
(or STALL_TICKS ticks of the sampling clock, at a slow fps), ffmpeg is stopped and started again after a wait
that doubles up to MAX_BACKOFF; a file played once ends. A Dropped marks a break in a stream's pictures, said
as soon as none has come for QUIET_SECONDS (or QUIET_TICKS ticks), before the stall is.

ffmpeg opens only what the source's own protocol needs (PROTOCOLS): a stream cannot make it read local files
or other URLs; a file is read as the indexer reads one (the file alone, no playlist or list formats).
"""

import ctypes
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from footage.errors import BadValue, VideoError
from footage.indexer.decode import STDERR_TAIL_LINES, Watchdog, every
from footage.indexer.probe import ffmpeg_reason, source_args

STALL_SECONDS = 10.0
STALL_TICKS = 3  # at a slow --fps a frame comes once a tick: a stall is this many ticks without one, or more
QUIET_SECONDS = 3.0  # a stream with no picture for this long has dropped, as far as events and alerts go
QUIET_TICKS = 2  # ... or for this many ticks of the sampling clock, at a slow --fps
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
RECORD_SECONDS = 60  # the length of each recorded file (cut at the first keyframe after it)
RECORD_POLL_SECONDS = 2.0  # how often finished recordings are looked for
PROBE = ["-probesize", "500000", "-analyzeduration", "1000000"]  # a live stream starts within a second
V4L_MAJOR = 81  # Linux's video capture devices (/dev/video*), read by ffmpeg's v4l2 input

# What ffmpeg may open for a source named with each scheme: its own protocol and those it rides on (an HLS
# playlist's segments and keys over http or https; RTSP's control over TCP and its pictures over RTP/UDP).
PROTOCOLS = {
    "udp": "udp",
    "rtp": "rtp,udp",
    "rtsp": "rtsp,rtp,udp,tcp",
    "rtsps": "rtsps,rtsp,rtp,udp,tcp,tls",
    "srt": "srt,udp",
    "http": "http,https,tcp,tls,crypto",
    "https": "http,https,tcp,tls,crypto",
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmps,rtmp,tcp,tls",
    "tcp": "tcp",
}

PORT_NEEDED = {"udp", "rtp", "srt", "tcp"}  # without a port ffmpeg listens on a port no sender knows, forever


@dataclass(frozen=True)
class Dropped:
    """In frames(): the stream ended, dropped or stalled; `last` is its last picture's time. Pictures that come
    after are from a new connection."""

    last: float


@lru_cache(maxsize=1)
def protocols() -> frozenset[str]:
    """The protocols this ffmpeg reads."""
    listed = subprocess.run(["ffmpeg", "-hide_banner", "-protocols"], capture_output=True, text=True, timeout=30)
    words = listed.stdout.split("Output:")[0].split()
    found = words[words.index("Input:") + 1 :] if "Input:" in words else words
    return frozenset(found) | {"rtsp", "rtsps"}  # RTSP is a demuxer of its own in ffmpeg, not a protocol


def local(source: str) -> Path | None:
    """The path a source names on this machine (a path, or a file: URL), None for a stream's URL."""
    if source.lower().startswith("file:"):
        return Path(source[len("file:") :].removeprefix("//"))
    return None if "://" in source else Path(source)


def is_device(path: Path) -> bool:
    """A video capture device (Linux's /dev/video*)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == V4L_MAJOR


def check(source: str) -> None:
    """Raises BadValue for what waiting will not change: a path that does not exist or cannot be a video (a
    folder, /dev/zero, a file it may not read), a URL whose protocol ffmpeg cannot read, a port out of range."""
    path = local(source)
    if path is not None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            a_stream = "a stream is a URL: udp://, rtsp://, srt://..."
            raise BadValue(f"{source}: no such file or device ({a_stream})") from None
        except OSError as e:
            raise BadValue(f"{source}: {e.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            raise BadValue(f"{source}: a folder, not a stream or a video (footage index reads folders)")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode) or is_device(path)):
            raise BadValue(f"{source}: not a video file, a pipe or a capture device (/dev/video*)")
        if not os.access(path, os.R_OK):
            raise BadValue(f"{source}: permission denied")
        return
    scheme = source.split("://", 1)[0].lower()
    if scheme not in protocols():
        readable = ", ".join(p for p in ("udp", "rtp", "rtsp", "srt", "http", "https", "rtmp") if p in protocols())
        raise BadValue(f"{source}: this ffmpeg does not read {scheme}:// (it reads {readable}, and more)")
    try:
        port = urlsplit(source).port  # ValueError for a port out of 0-65535 or not a number
    except ValueError:
        port = -1
    if port == -1 or port == 0 or (port is None and scheme in PORT_NEEDED):
        raise BadValue(f"{source}: not a port (a stream of {scheme}:// needs one, from 1 to 65535)")


def input_args(source: str) -> list[str]:
    """ffmpeg's options before -i for the source: the protocols it may open (PROTOCOLS; a file: the file
    alone, read as the indexer reads files, with no format that opens other files), a device's input."""
    path = local(source)
    if path is not None:
        return ["-f", "v4l2"] if is_device(path) else source_args()
    scheme = source.split("://", 1)[0].lower()
    return ["-protocol_whitelist", PROTOCOLS.get(scheme, scheme)]


def command(
    source: str, fps: float, size: int, realtime: bool, record: Path | None = None, connection: int = 0
) -> list[str]:
    """As the indexer decodes (non-reference frames and the deblocking filter skipped, one thread: no frames
    held back by frame threads), keeping the first frame at or after each tick, which goes out as soon as it
    is decoded (ffmpeg's fps filter waits for the frame after it: half a second more at 1 fps). With `record`,
    the stream is also copied as it is (no encoding) into a new MPEG-TS file there every RECORD_SECONDS, named
    for the UTC time its connection started and its number in it (names sort in the order recorded; another
    recording begun in the same second is never overwritten): a file cut short by a dead stream or a kill
    still plays to where it stops."""
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *PROBE]
    args += ["-skip_frame", "noref", "-skip_loop_filter", "all", "-threads", "1", *(["-re"] if realtime else [])]
    args += [*input_args(source), "-i", source]
    args += ["-map", "0:v:0", "-vf", f"select='{every(fps)}',scale={size}:{size}:flags=bilinear"]
    args += ["-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    if record is not None:
        args += ["-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-f", "segment", "-segment_format", "mpegts"]
        args += ["-segment_time", str(RECORD_SECONDS), "-reset_timestamps", "1"]
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())  # the connection's start; then the file's number
        name, again = f"{stamp}-{connection}", 1
        while any(record.glob(f"{name}-*.ts")):  # a recording started in this same second: not overwritten
            again += 1
            name = f"{stamp}-{connection}.{again}"  # sorts after it, as the newer files
        args += [str(record / f"{name}-%05d.ts")]
    return args


def frames(
    source: str,
    fps: float,
    size: int,
    realtime: bool = False,
    stop: threading.Event | None = None,
    said: Callable[[str], None] | None = None,
    record: Path | None = None,
) -> Iterator[tuple[float, np.ndarray] | Dropped]:
    """(seconds since watching started, frame (size, size, 3) uint8), until `stop` is set (or a file played
    once ends); a Dropped when the stream has given pictures and then ended, dropped or stalled (before
    connecting again). `said(message)` hears of drops and reconnections. `record`: a folder the stream is
    recorded to as it comes (see command)."""
    stop = stop or threading.Event()
    path = local(source)
    once = path is not None and path.is_file()  # a file ends; a stream is waited for
    started, backoff, frame_bytes = time.monotonic(), FIRST_BACKOFF, size * size * 3
    stall = max(STALL_SECONDS, STALL_TICKS / fps)  # at 0.1 fps, 10 s without a frame was a stall: killed
    quiet = max(QUIET_SECONDS, QUIET_TICKS / fps)
    connection = 0
    while not stop.is_set():
        connection += 1
        if said:
            said(f"watching {source}")
        process = subprocess.Popen(  # unbuffered: select() says whether a frame has begun
            command(source, fps, size, realtime, record, connection), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, preexec_fn=_die_with_parent, bufsize=0,
        )  # fmt: skip
        watchdog = Watchdog(process, stall)
        threading.Thread(target=_kill_on_stop, args=(process, stop), daemon=True).start()
        tail: deque[bytes] = deque(maxlen=STDERR_TAIL_LINES)  # read as it comes: errors must not fill the pipe
        reader = threading.Thread(target=tail.extend, args=(process.stderr,), daemon=True)
        reader.start()
        got, last, dropped = 0, 0.0, False
        try:
            while True:
                if got and not dropped and not once and not _ready(process.stdout, quiet):
                    dropped = True  # said now: ffmpeg may wait for the stream until the stall
                    if said:
                        said(f"{source}: no pictures for {quiet:g} s")
                    yield Dropped(last)
                    continue
                if len(buf := _read(process.stdout, frame_bytes)) < frame_bytes:
                    break
                watchdog.fed()
                got, dropped, backoff = got + 1, False, FIRST_BACKOFF
                last = time.monotonic() - started
                yield last, np.frombuffer(buf, np.uint8).reshape(size, size, 3)
        finally:
            process.kill()
            process.wait()
            reader.join(5)
        if once and not got and not stop.is_set():
            said_by_ffmpeg = b"".join(tail)
            reason = (
                "a playlist or a list of other files, not a video; watch reads only the file it is given"
                if b"not on whitelist" in said_by_ffmpeg
                else ffmpeg_reason(said_by_ffmpeg, "no reason given")
            )
            raise VideoError(Path(source), f"ffmpeg could not read it ({reason})")
        if stop.is_set() or once:
            return
        why = f"no frames for {stall:g} s" if watchdog.stalled else ffmpeg_reason(b"".join(tail), "it ended")
        if said:
            said(f"{source}: {why}; reconnecting in {backoff:g} s")
        if got and not dropped:
            yield Dropped(last)
        stop.wait(backoff)
        backoff = min(MAX_BACKOFF, backoff * 2) if not got else FIRST_BACKOFF


def _ready(pipe, seconds: float) -> bool:
    """Whether the pipe has something to read (or has ended) within `seconds`."""
    return bool(select.select([pipe], [], [], seconds)[0])


def _read(pipe, size: int) -> bytearray:
    """`size` bytes from an unbuffered pipe, or fewer where it ends."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size and (n := pipe.readinto(view[got:])):
        got += n
    return buf if got == size else buf[:got]


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


class Recordings:
    """Indexes the files a recording stream finishes, in a thread of its own, and drops those older than
    `keep` seconds (from the library, then the disk). A file is finished once a newer one exists, or when
    recording has stopped (`close`): the last one, cut short, is indexed as far as it plays."""

    def __init__(self, folder: Path, index, remove, keep: float | None, said: Callable[[str], None]):
        self.folder, self.index, self.remove, self.keep, self.said = folder, index, remove, keep, said
        self.done: set[Path] = set()
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Indexes what is left; returns when it is done."""
        self.closing.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.closing.wait(RECORD_POLL_SECONDS):
            self._catch_up(last_too=False)
        self._catch_up(last_too=True)

    def _catch_up(self, last_too: bool) -> None:
        files = sorted(self.folder.glob("*.ts"))
        todo = [f for f in (files if last_too else files[:-1]) if f not in self.done and f.stat().st_size]
        if todo:
            try:
                self.index(todo)
                self.done.update(todo)
            except Exception as e:  # another indexer holds the library, a full disk: tried again next time
                self.said(f"recordings: not indexed yet ({e})")
        if self.keep is not None:
            old = [f for f in files[:-1] if time.time() - f.stat().st_mtime > self.keep]
            for f in old:
                try:
                    self.remove(f)
                    f.unlink()
                    self.done.discard(f)
                except Exception as e:
                    self.said(f"recordings: {f.name} not removed yet ({e})")
