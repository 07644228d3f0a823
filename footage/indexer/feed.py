"""What feeds the model: a thread that probes and decodes files one after another (ffmpeg runs as its own
process), reads their subtitles, and starts their on-screen text and speech in threads of their own, handing
frame batches to the model over a short queue (Decoded messages), a file at a time.
"""

import math
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from footage.errors import VideoError
from footage.indexer import ocr, subtitles
from footage.indexer.decode import Decoder, Screen
from footage.indexer.probe import VideoInfo, probe

QUEUE_BATCHES = 16  # frame batches decoded ahead of the model
SCREEN_QUEUE = 64  # frames for on-screen text decoded ahead of the reader (960x540 grey: 33 MB)
# Speech is heard from the audio alone, this many files ahead of the pictures: while the film's decode held the
# pictures back (one core busy, the other half idle), Whisper had to wait for the narrated clip after it
SPEECH_AHEAD = 2
DECODE_BATCH = 4  # frames handed over at a time: small, so the model starts on a file while ffmpeg is still on it
# (on a GPU, the backbone's larger batch)


@dataclass
class Reached:
    """How far into a file its on-screen text and speech have been read, in seconds (inf: done, or not read):
    the progress shown is the least of these and the pictures', so the rate is what the whole run achieves."""

    screen: float = math.inf
    speech: float = math.inf


class Decoded:
    """Messages from the decode thread."""

    @dataclass
    class Start:
        path: Path
        info: VideoInfo
        reached: Reached

    @dataclass
    class Frames:
        times: np.ndarray
        frames: np.ndarray

    @dataclass
    class Done:
        path: Path
        subtitles: list  # the file's subtitle cues
        on_screen: Future | None  # its on-screen text: (cues, warnings), read in a thread of its own
        speech: Future | None  # its speech: (cues, warnings), heard in another
        warnings: list[str]  # what could not be read

    @dataclass
    class Failed:
        path: Path
        reason: str


def decode_all(
    paths: list[Path],
    fps: float,
    size: int,
    batch: int,
    out: queue.Queue,
    stop: threading.Event,
    read_screen: bool,
    transcriber,
) -> None:
    """Decodes the files' frames, then reads their subtitles (ffmpeg work that overlaps the model's). The next
    files are probed while this one decodes: on short clips ffprobe's start-up was a third of the time the
    model waited for frames. On-screen text is read in a thread of its own, beside the file's embedding and
    transcription, from grey frames the same ffmpeg decodes for it (run after decoding, it held the next
    file's frames back). Speech is heard in a third thread, from the audio alone, up to SPEECH_AHEAD files
    ahead of the pictures: while a long file's decode holds the pictures back, Whisper listens to the next."""
    probes: list[Future] = []
    ahead: list[tuple[Reached, Future | None]] = []  # each file's progress, and its speech being heard
    handed = 0  # files whose messages are all out: their speech is the model thread's to wait for
    with (
        ThreadPoolExecutor(max_workers=1) as prober,
        ThreadPoolExecutor(max_workers=1) as reader,
        ThreadPoolExecutor(max_workers=1) as listener,
    ):

        def submit_through(last: int) -> None:  # probes, and speech to hear, for the files up to `last`
            while len(probes) <= min(last, len(paths) - 1):
                path = paths[len(probes)]
                probes.append(prober.submit(probe, path))
                reached = Reached(0.0 if read_screen else math.inf, 0.0 if transcriber else math.inf)
                heard = listener.submit(_hear, transcriber, path, probes[-1], stop, reached) if transcriber else None
                ahead.append((reached, heard))

        try:
            for i, path in enumerate(paths):
                if stop.is_set():
                    break
                submit_through(i + SPEECH_AHEAD)
                _decode_one(path, probes[i], *ahead[i], fps, size, batch, out, stop, reader if read_screen else None)
                handed = i + 1
        finally:  # speech not yet heard for files the run did not get to is not wanted
            for _, heard in ahead[handed:]:
                if heard is not None:
                    heard.cancel()
    out.put(None)


def _read_screen(
    frames: queue.Queue, info: VideoInfo, stop: threading.Event, reached: Reached
) -> tuple[list, list[str]]:
    """A file's on-screen text cues from the frames its decoder puts on `frames`, and the warning when they
    could not be read. Takes every frame to the end (None), read or not: the decoder waits on a full queue."""
    samples = iter(frames.get, None)

    def told():
        for t, frame in samples:
            reached.screen = t
            yield t, frame

    try:
        return ocr.read_frames(told(), info.duration, stop=stop), []
    except Exception as e:  # the pictures are indexed all the same
        return [], [f"on-screen text: {type(e).__name__}: {e}"]
    finally:
        for _ in samples:
            pass
        reached.screen = math.inf


def _hear(transcriber, path: Path, probed: Future, stop: threading.Event, reached: Reached) -> tuple[list, list[str]]:
    """A file's speech cues, and the warning when its audio could not be read (the pictures are indexed all
    the same). A file that cannot be probed has no speech: its decode says why it failed."""
    try:
        if stop.is_set() or not probed.result().has_audio:
            return [], []
        return transcriber(path, stop, lambda t: setattr(reached, "speech", t)), []
    except VideoError:
        return [], []
    except OSError as e:  # ffmpeg's own reason, already one line: "ffmpeg could not read the audio track (...)"
        return [], [f"speech: {e}"]
    except Exception as e:  # a damaged audio track must not cost the pictures
        return [], [f"speech: {type(e).__name__}: {e}"]
    finally:
        reached.speech = math.inf


def _decode_one(
    path: Path,
    probed: Future,
    reached: Reached,
    speech: Future | None,
    fps,
    size,
    batch,
    out: queue.Queue,
    stop: threading.Event,
    reader,
):
    """One file's messages: Start, its Frames batches, then Done; or Failed with the reason. `speech` is its
    speech being heard; `reader` (an executor) reads its on-screen text, when asked to."""
    try:
        info = probed.result()
        if not info.has_audio:
            reached.speech = math.inf
        out.put(Decoded.Start(path, info, reached))
        screen = Screen(ocr.OCR_SECONDS, ocr.WIDTH, queue.Queue(SCREEN_QUEUE)) if reader is not None else None
        decoder = Decoder(path, info, fps, size, batch=batch, screen=screen)
        on_screen = reader.submit(_read_screen, screen.frames, info, stop, reached) if screen else None
        try:
            for times, frames in decoder:
                if stop.is_set():
                    break
                out.put(Decoded.Frames(times, frames))
            else:
                cues, warnings = subtitles.read(path, info)
                out.put(Decoded.Done(path, cues, on_screen, speech, warnings))
        finally:
            decoder.close()  # ends the screen's frames, too: the reader waits for their end
    except VideoError as e:
        out.put(Decoded.Failed(path, e.reason))
    except Exception as e:  # one odd file must not end the run
        out.put(Decoded.Failed(path, f"{type(e).__name__}: {e}"))
