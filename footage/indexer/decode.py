"""Frames out of a video at a fixed rate: ffmpeg decodes, samples and scales, and pipes raw RGB to us.

Scaling in ffmpeg (not in Python) keeps the pipe small: one 224x224 frame is 150 KB whatever the source size.
Timestamps come from the frames themselves (ffmpeg's showinfo filter), taken relative to the first frame,
so files whose clocks start at 66 s still begin at 0.
"""

import io
import os
import queue
import re
import select
import subprocess
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np
from PIL import Image

from footage.errors import BadValue, VideoError
from footage.indexer.probe import INPUT, VideoInfo, ffmpeg_reason, source_options, with_input

PTS_TIME = re.compile(rb"\] n:\s*\d+ pts:\s*-?\d+ pts_time:(-?[\d.]+)")
STDERR_TAIL_LINES = 20
TICK_SLACK = 0.001  # a frame stamped 0.9999 s still counts as on the 1 s tick
STDERR_WAIT_SECONDS = 30  # how long a frame's timestamp may lag behind its pixels
MAX_PICTURE_PIXELS = 40_000_000  # a picture to search with: 8K is 33 million; a 13,300 px square bomb, 177
SCREEN_PIPE = "pipe:SCREEN"  # in the command, until the pipe is opened and has a number
STALL_SECONDS = 300  # ffmpeg giving no frame for this long is stuck (a stalled network drive): it is stopped
# ffmpeg's decoding threads (0: its own choice, one per core). On two cores the model, on-screen text and speech
# keep both busy, and frame threads only add work: the film decoded in 9.5 CPU-s on two threads, 8.0 on one,
# in the same wall time
DECODE_THREADS = 1 if (os.cpu_count() or 1) <= 2 else 0


def every(rate: float) -> str:
    """ffmpeg's select expression for the first frame at or after each tick of a clock at `rate` per second.
    Unlike ffmpeg's fps filter, this never invents frames (a slideshow at 0.2 fps gives one frame per picture,
    not five), always keeps the first frame of clips shorter than a tick, and leaves each frame its own time."""
    tick = f"floor(t*{rate}+{TICK_SLACK})"
    return f"isnan(prev_selected_t)+gt({tick},floor(prev_selected_t*{rate}+{TICK_SLACK}))"


def frame_of(data: bytes, size: int) -> np.ndarray:
    """A picture's bytes (JPEG, PNG, WebP...) as a frame the model reads: (S, S, 3) uint8 RGB, stretched to
    the square as ffmpeg's scale filter stretches video frames. Raises BadValue for what is not a picture, or
    one too large: its size is known before it is decoded, and a small file may hold a huge picture."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked here instead
        try:
            image = Image.open(io.BytesIO(data))
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise BadValue(f"not a picture that can be read ({type(e).__name__}: {e})") from None
        with image:
            if image.width * image.height > MAX_PICTURE_PIXELS:
                raise BadValue(f"a picture of {image.width}x{image.height}; at most {MAX_PICTURE_PIXELS:,} pixels")
            try:
                image.draft("RGB", (size * 2, size * 2))  # a large JPEG decodes at a fraction of its size
                return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
            except (OSError, ValueError) as e:
                raise BadValue(f"not a picture that can be read ({type(e).__name__}: {e})") from None


class Watchdog:
    """Kills a process that has given no output for `seconds` (STALL_SECONDS); `fed()` says output came."""

    def __init__(self, process: subprocess.Popen, seconds: float | None = None):
        self.seconds = STALL_SECONDS if seconds is None else seconds  # read now: tests shorten it
        self.process, self.last, self.stalled = process, time.monotonic(), False
        threading.Thread(target=self._watch, daemon=True).start()

    def fed(self) -> None:
        self.last = time.monotonic()

    def _watch(self) -> None:
        while self.process.poll() is None:
            if time.monotonic() - self.last > self.seconds:
                self.stalled = True
                self.process.kill()
                return
            time.sleep(min(1.0, self.seconds / 10))


class Clock:
    """Times of an output's frames, in order: from showinfo's log (which has a frame's line before ffmpeg writes
    the frame out), relative to the first frame; where the log ran dry, the sampling clock stands in."""

    def __init__(self, every: float):
        self.every = every  # seconds between ticks of the sampling clock
        self.times: queue.Queue[float | None] = queue.Queue()  # None: the log ended
        self.first: float | None = None
        self.count = 0  # frames timed so far
        self.ended = False

    def next(self) -> float:
        pts = None if self.ended else self.times.get(timeout=STDERR_WAIT_SECONDS)
        self.ended = self.ended or pts is None
        if self.first is None:
            self.first = pts if pts is not None else 0.0
        t = pts - self.first if pts is not None else self.count * self.every
        self.count += 1
        return t


@dataclass(frozen=True)
class Screen:
    """Grey frames for the on-screen text reader, out of the same decode as the model's: the first frame at or
    after every `every` seconds, `width` pixels wide, put as (time, frame (H, width) uint8) on `frames`, and
    None after the last. Decoding once for both saved 6 of the 57 CPU-seconds of indexing the sample footage."""

    every: float
    width: int
    frames: queue.Queue  # bounded: a reader that falls behind holds the decoder back rather than fill memory


class Decoder:
    """Iterates (times (B,), frames (B, S, S, 3) uint8) batches of one video; `close()` stops ffmpeg early.
    With `screen`, also feeds the on-screen text reader (see Screen)."""

    def __init__(
        self, path: str | Path, info: VideoInfo, fps: float, size: int, batch: int = 32, screen: Screen | None = None
    ):
        self.path, self.info, self.fps, self.size, self.batch = Path(path), info, fps, size, batch
        self.screen = screen
        # The decoder may skip frames nothing else refers to and the deblocking filter: the model sees one
        # frame a second at 224 px, and on the sample footage this cut ffmpeg's time by about 15%.
        stream = ffmpeg.input(
            INPUT, skip_frame="noref", skip_loop_filter="all", threads=DECODE_THREADS, **source_options()
        )
        stream = stream[str(info.stream)]
        outputs = []
        if screen is not None:  # a second branch of the same decode, to a pipe of its own (named when opened)
            stream, shown = (branches := stream.split())[0], branches[1]
            self.screen_height = max(2, round(screen.width * (info.height or 9) / (info.width or 16) / 2) * 2)
            shown = shown.filter("select", every(1 / screen.every))
            shown = shown.filter("scale", screen.width, self.screen_height, flags="area").filter("showinfo@screen")
            outputs.append(shown.output(SCREEN_PIPE, format="rawvideo", pix_fmt="gray", vsync="passthrough"))
        stream = stream.filter("select", every(fps)).filter("scale", size, size, flags="bilinear")
        stream = stream.filter("showinfo@picture")
        outputs.insert(0, stream.output("pipe:", format="rawvideo", pix_fmt="rgb24", vsync="passthrough"))
        # -nostats: ffmpeg's progress line ends in \r, not \n, so the showinfo line after it began mid-line: its
        # frame's time went to the wrong clock, and on long files the screen's clock waited for a time that
        # never came while ffmpeg waited for the pictures to be read ("Empty" after 30 s at --fps 0.1).
        global_args = ("-nostdin", "-hide_banner", "-nostats", "-loglevel", "info")
        self.command = with_input(ffmpeg.merge_outputs(*outputs).global_args(*global_args).compile(), self.path)
        self.clock = Clock(1 / fps)
        self.screen_clock = Clock(screen.every if screen else 0.0)
        self.screen_fd: int | None = None  # the screen pipe's end we read, while it is open
        self.screen_ended = screen is None  # whether None was put on screen.frames
        self.process: subprocess.Popen | None = None
        self.tail: deque[bytes] = deque(maxlen=STDERR_TAIL_LINES)
        self.watchdog: Watchdog | None = None

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            m = PTS_TIME.search(line)
            if m:
                clock = self.screen_clock if line.startswith(b"[showinfo@screen") else self.clock
                clock.times.put(float(m.group(1)))
            elif not line.startswith(b"[showinfo@"):
                self.tail.append(line)
        self.clock.times.put(None)
        self.screen_clock.times.put(None)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        frame_bytes = self.size * self.size * 3
        command, keep = self.command, ()
        if self.screen is not None:
            self.screen_fd, write = os.pipe()
            command, keep = [f"pipe:{write}" if a == SCREEN_PIPE else a for a in command], (write,)
            self.screen_buf = bytearray()
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=keep
            )
        finally:
            for fd in keep:
                os.close(fd)  # the child's copy is the one ffmpeg writes to: the pipe ends when ffmpeg does
        reader = threading.Thread(target=self._read_stderr, daemon=True)
        reader.start()
        self.watchdog = Watchdog(self.process)
        try:
            while True:
                buf = self._read(frame_bytes * self.batch)
                n = len(buf) // frame_bytes
                if n:
                    frames = np.frombuffer(buf[: n * frame_bytes], np.uint8).reshape(n, self.size, self.size, 3)
                    yield self._timestamps(n), frames
                if len(buf) < frame_bytes * self.batch:
                    break
            while self.screen_fd is not None:  # ffmpeg may still be writing it
                self._read_screen()
            self.process.wait()
            reader.join()
            if self.watchdog.stalled and self.clock.count == 0:
                raise VideoError(self.path, f"ffmpeg gave no frame in {STALL_SECONDS} s (a stalled drive?)")
            if self.process.returncode != 0 and self.clock.count == 0:
                raise VideoError(self.path, f"ffmpeg could not decode it ({self._reason()})")
            if self.clock.count == 0:
                raise VideoError(self.path, f"no frames could be decoded ({self._reason()})")
        finally:
            self.close()

    def _read(self, size: int) -> bytes:
        """Up to `size` bytes of frames (fewer at the end); the watchdog hears of everything that comes. The
        screen's pipe is read meanwhile: ffmpeg writes its outputs in turn, and one left full stops both."""
        chunks, got = [], 0
        stdout = self.process.stdout.fileno()  # read unbuffered: select() knows nothing of a buffer
        while got < size:
            if self.screen_fd is not None:
                ready, _, _ = select.select([stdout, self.screen_fd], [], [])
                if self.screen_fd in ready:
                    self._read_screen()
                if stdout not in ready:
                    continue
            part = os.read(stdout, min(size - got, 1 << 20))
            if not part:
                break
            chunks.append(part)
            got += len(part)
            self.watchdog.fed()
        return b"".join(chunks)

    def _read_screen(self) -> None:
        """What the screen's pipe holds, passed on frame by frame; at its end, None."""
        part = os.read(self.screen_fd, 1 << 20)
        if not part:
            os.close(self.screen_fd)
            self.screen_fd = None
            return
        self.watchdog.fed()
        self.screen_buf += part
        size = self.screen.width * self.screen_height
        while len(self.screen_buf) >= size:
            frame = np.frombuffer(bytes(self.screen_buf[:size]), np.uint8).reshape(self.screen_height, -1)
            del self.screen_buf[:size]
            self.screen.frames.put((self.screen_clock.next(), frame))

    def _timestamps(self, n: int) -> np.ndarray:
        """Times of the next n frames (see Clock)."""
        return np.array([self.clock.next() for _ in range(n)], np.float32)

    def _reason(self) -> str:
        return ffmpeg_reason(b"".join(self.tail), "no reason given")

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.screen is not None:
            while self.screen_fd is not None:  # what ffmpeg wrote before it ended (or was stopped)
                self._read_screen()
            if not self.screen_ended:
                self.screen_ended = True
                self.screen.frames.put(None)
