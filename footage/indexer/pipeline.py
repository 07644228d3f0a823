"""The indexing pipeline: the files a scan found and the plan left to do (footage/indexer/scan.py) decoded
(footage/indexer/feed.py), embedded and cut into segments here, and written with the text said or written in
them.

Decoding overlaps inference: a thread decodes files one after another and hands frame batches over a short
queue, while this thread runs the model and writes to the store. Each video is written in one transaction (a
long one in parts, committed with its last), so a run killed at any point loses at most the video it was on,
and the next run picks up from there.

Two engines share the work per file (`compute`: a path and its facts -> a Computed, its segments and text
chunks or why it failed) and the write (`Writer.commit`): this module runs both in one process; the Ray
engine (footage/indexer/distributed.py) runs `compute` in workers across a cluster and commits here.
"""

import io
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from footage.errors import FootageError
from footage.indexer import subtitles, text
from footage.indexer.decode import Decoder
from footage.indexer.feed import DECODE_BATCH, QUEUE_BATCHES, Decoded, Reached, decode_all
from footage.indexer.probe import VideoInfo, probe
from footage.indexer.scan import IndexReport, plan, scan
from footage.indexer.segment import Span, segment
from footage.models import Backbone, Models, look
from footage.models.experts import SEEN, of_video, runs
from footage.store import FileFacts, NewSegment, Store
from footage.store.store import NewChunk, VideoWrite

FLUSH_SECONDS = 30  # save FAISS at least this often during a run, so a search elsewhere sees recent work
THUMB_HEIGHT = 144
WINDOW_SECONDS = 600.0  # a long file's segments are cut and written every 10 minutes of its frames, so its
# pictures (tokens, shot-cut features and JPEGs: about 60 MiB an hour at 1 fps) never pile up in memory
# The model gets all cores but one; ffmpeg decodes on the one left. On 2 cores a model on 2 threads fought
# ffmpeg for both and indexed Big Buck Bunny at 27x real time; on 1 thread, 29x.
INFERENCE_THREADS = max(1, (os.cpu_count() or 2) - 1)


@dataclass
class Progress:
    """Passed to `on_progress` after every batch and every file."""

    files_done: int
    files_total: int
    video_seconds: float  # seconds of video indexed so far in this run: the least of how far its pictures,
    # on-screen text and speech have got, so the rate is the whole run's (never goes back)
    wall_seconds: float
    current: str | None  # path being indexed
    stage: str = "pictures"  # "speech" (or "text") while its pictures are done and its speech (or on-screen text) not


def _thumbnail(frame: np.ndarray, info: VideoInfo) -> bytes:
    """A JPEG of a model-sized frame, stretched back to the video's aspect ratio."""
    aspect = info.width / info.height if info.width and info.height else 1.0
    image = Image.fromarray(frame).resize((max(1, round(THUMB_HEIGHT * aspect)), THUMB_HEIGHT), Image.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def build_segments(
    times: np.ndarray,
    tokens: np.ndarray,
    thumbs: list[bytes],
    spans: list[Span],
    end: float,
    pool: Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray | None]],
) -> list[NewSegment]:
    """Frames (times (N,), tokens (N, T), thumbs[i] frame i as a JPEG) cut into spans -> segments, the last
    one ending at `end`; `pool` turns the segments' frame tokens into their vectors and views (Models.pool)."""
    vectors, views = pool([tokens[s.first : s.stop] for s in spans])  # (S, D), (S, V, D) or None
    out = []
    for k, span in enumerate(spans):
        mid = (span.first + span.stop - 1) // 2
        out.append(
            NewSegment(
                start=float(times[span.first]),
                end=float(times[spans[k + 1].first]) if k + 1 < len(spans) else end,
                vector=vectors[k].astype(np.float32),
                frame_times=times[span.first : span.stop],
                frame_vectors=tokens[span.first : span.stop],
                thumbnail=thumbs[mid] if mid < len(thumbs) else None,
                views=None if views is None else views[k],
            )
        )
    return out


def _cut(models: Models, video: "_Video", fps: float) -> list[NewSegment]:
    """The segments of the frames gathered so far, but for the last one (the shot may go on): its frames stay
    gathered, to be cut again with those that follow."""
    times, tokens, features = (np.concatenate(x) for x in (video.times, video.tokens, video.features))
    spans = segment(features, fps)
    keep = spans[-1].first
    video.times, video.tokens, video.features = [times[keep:]], [tokens[keep:]], [features[keep:]]
    done, video.thumbs = video.thumbs[:keep], video.thumbs[keep:]
    return build_segments(times, tokens, done, spans[:-1], float(times[keep]), models.pool)


def _is_truncated(times: np.ndarray, fps: float, info: VideoInfo) -> bool:
    """Decoding stopped well short of the duration the container announces."""
    if not info.duration:
        return False
    covered = float(times[-1]) + 1.0 / fps
    return covered < 0.9 * info.duration - 1.0


def index(
    store: Store,
    models: Models,
    paths: Iterable[str | Path],
    on_progress: Callable[[Progress], None] | None = None,
    transcriber: Callable[[Path, threading.Event], list] | None = None,
    prune: bool = False,
    within: list[Path] | None = None,
    engine: Callable | None = None,
) -> IndexReport:
    """Indexes files and folders into the store: pictures, subtitles and (with a transcriber) speech. The
    caller holds the store's write lock. `prune` drops missing files that would otherwise be kept offline;
    `within` confines the run to these folders. `engine` decodes, embeds and stores the files left to do
    (the arguments of _embed_and_store, the local engine and the default; distributed.engine for Ray)."""
    started = time.monotonic()
    report = IndexReport()
    found = scan(paths, skip=store.path, within=within)
    report.missing = found.missing
    report.warnings += [(folder, f"cannot read this folder ({why}); what is under it is left as it was")
                        for folder, why in found.unreadable]  # fmt: skip
    try:
        todo = plan(store, found, models.model_id, report, prune)
        with models.backbone.threads(INFERENCE_THREADS):
            (engine or _embed_and_store)(store, models, todo, report, on_progress, started, transcriber)
    except BaseException:
        try:  # keep what is done; the FAISS file is only a cache, and the next open repairs it from SQLite
            store.flush()
        except (FootageError, OSError):
            pass
        raise
    finally:
        report.wall_seconds = time.monotonic() - started
    store.flush()
    return report


@dataclass
class _Video:
    """Frames of the video being embedded not yet in a segment written (at most WINDOW_SECONDS of them)."""

    path: Path
    info: VideoInfo
    reached: Reached  # how far its on-screen text and speech are
    times: list[np.ndarray] = field(default_factory=list)
    tokens: list[np.ndarray] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    thumbs: list[bytes] = field(default_factory=list)
    seconds: float = 0.0  # how far into the video its frames have come
    frames: int = 0  # frames embedded...
    reused: int = 0  # ... of which this many took the tokens of the one before
    seen: list[tuple[str, ...]] = field(default_factory=list)  # the experts' words of every frame (a few bytes each)
    seen_times: list[np.ndarray] = field(default_factory=list)  # ... and the frames' times
    still: tuple | None = None  # the last frame the models saw: its blocks, tokens, features and experts' words


# A frame whose 16x16 block means all lie within this many levels (0-255) of the last frame the model saw reuses
# that frame's tokens: a static shot, a slide, a screen recording, a paused camera. At 2 the reused tokens keep a
# cosine of 0.975 or more with their own on the sample footage (0.72 at 6), where it fires for 1.6% of frames
STILL = 2.0
STILL_BLOCKS = 16


def _blocks(frames: np.ndarray) -> np.ndarray:
    """(B, S, S, 3) uint8 -> (B, 16, 16, 3) block means (the frame cropped to a multiple of 16). Summed rows
    first, then columns, in integers: numpy's mean over both axes at once took 0.9 ms a frame, a tenth of the
    model's; this takes 0.08 ms and gives the same means."""
    b, h, w, _ = frames.shape
    n, bh, bw = STILL_BLOCKS, h // STILL_BLOCKS, w // STILL_BLOCKS
    rows = frames[:, : n * bh, : n * bw].reshape(b, n, bh, n * bw * 3).sum(axis=2, dtype=np.uint32)
    return rows.reshape(b, n, n, bw, 3).sum(axis=3) / np.float32(bh * bw)


def _embed(models: Models, video: _Video, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, list, int]:
    """The frames' tokens (B, D), features (B, F) and the experts' words, the models run only on those that
    differ from the last frame they saw (STILL); and how many frames reused another's."""
    blocks = _blocks(frames)  # (B, 16, 16, 3)
    ref = before = video.still[0] if video.still is not None else None
    new = []  # the frames the model sees
    for k, b in enumerate(blocks):
        if ref is None or float(np.abs(b - ref).max()) >= STILL:
            new.append(k)
            ref = b
    held = look.held_still(blocks, before) if "look" in models.settings.experts else []
    if not new:  # the whole batch is the still: video.still is set, the first frame of a video is always new
        n, (_, tokens, features, words) = len(frames), video.still
        return np.stack([tokens] * n), np.stack([features] * n), look.say_held([words] * n, held), n
    tokens, features = models.backbone.embed_frames(frames[new])
    words = models.experts.words(frames[new]) if models.settings.experts else [()] * len(new)
    if video.still is not None:  # row 0: the still, for frames before this batch's first new one
        tokens = np.concatenate([video.still[1][None], tokens])
        features = np.concatenate([video.still[2][None], features])
        words = [video.still[3], *words]
    taken = np.searchsorted(new, np.arange(len(frames)), side="right") - (video.still is None)  # (B,) rows
    video.still = (blocks[new[-1]], tokens[-1], features[-1], words[-1])
    return tokens[taken], features[taken], look.say_held([words[k] for k in taken], held), len(frames) - len(new)


@dataclass
class Computed:
    """One file's work, ready to be written: its segments and text chunks, or why it failed. What the local
    engine hands from its model loop to the writer, and what a Ray worker sends back to the one that writes."""

    path: Path
    facts: FileFacts  # with what decoding learnt (duration, codec, size...) filled in
    segments: list[NewSegment] = field(default_factory=list)
    chunks: list[NewChunk] = field(default_factory=list)
    warning: str | None = None  # stored on the video: it was indexed only in part
    warnings: list[str] = field(default_factory=list)  # what could not be read, for the report
    failure: str | None = None  # the reason, when the file could not be indexed
    frames: int = 0
    reused: int = 0
    seconds: float = 0.0  # the video seconds this file counts for in the progress shown
    model_id: str = ""  # the models that computed it (a worker's must be the writer's)
    done: bool = True  # False: a long file's first segments; more of it follows (frames and seconds counted then)


def compute(
    models: Models,
    todo: list[tuple[Path, FileFacts]],
    transcriber,
    stop: threading.Event,
    progress: Callable[[Path, float, str], None] | None = None,
) -> Iterator[Computed]:
    """Each file's Computed, in order: decoded in a thread (speech and on-screen text in threads of their own),
    embedded and segmented here. `progress(path, seconds, stage)` is told how far into the file the run is.
    Both engines run this: the local one in its own process, the Ray one inside each worker. Close the
    generator (contextlib.closing) to stop the threads when it is left early."""
    backbone, fps = models.backbone, models.settings.fps
    facts_by_path = dict(todo)
    batches: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
    decoder = threading.Thread(
        target=decode_all,
        args=(
            [p for p, _ in todo],
            fps,
            backbone.image_size,
            max(DECODE_BATCH, backbone.batch),
            batches,
            stop,
            models.settings.ocr,
            transcriber,
        ),
        daemon=True,
    )
    decoder.start()
    video: _Video | None = None

    def tell(path: Path, stage: str = "pictures") -> None:
        if progress:
            progress(path, min(video.seconds, video.reached.screen, video.reached.speech) if video else 0.0, stage)

    try:  # however the run ends (a signal in the progress callback too), the decoder is stopped
        while (msg := batches.get()) is not None:
            if isinstance(msg, Decoded.Start):
                video = _Video(msg.path, msg.info, msg.reached)
                tell(msg.path)
            elif isinstance(msg, Decoded.Frames):
                tokens, features, words, reused = _embed(models, video, msg.frames)
                video.seen += words
                video.seen_times.append(msg.times)
                video.frames += len(msg.frames)
                video.reused += reused
                video.times.append(msg.times)
                video.tokens.append(tokens)
                video.features.append(features)
                # JPEG every frame now (cheap next to the model): the mid frame of each segment becomes its
                # thumbnail, and a long video's raw frames would not fit in memory.
                video.thumbs += [_thumbnail(frame, video.info) for frame in msg.frames]
                video.seconds = max(video.seconds, float(msg.times[-1]) + 1.0 / fps)
                tell(video.path)
                if sum(len(t) for t in video.times) >= max(2, WINDOW_SECONDS * fps):
                    part = _cut(models, video, fps)
                    if part:
                        facts = facts_by_path[video.path]
                        yield Computed(video.path, facts, part, done=False, model_id=models.model_id)
            elif isinstance(msg, Decoded.Failed):
                ours = video is not None and video.path == msg.path  # it failed after its first frames
                failed = Computed(msg.path, facts_by_path[msg.path], failure=msg.reason, model_id=models.model_id)
                if ours:
                    failed.frames, failed.reused, failed.seconds = video.frames, video.reused, video.seconds
                video = None
                yield failed
            else:
                stage = "speech" if transcriber else "text"  # what the pictures may be waiting for
                heard = lambda path=msg.path, stage=stage: tell(path, stage)  # noqa: E731
                done = _finish_video(models, video, msg, facts_by_path[msg.path], heard)
                video = None
                yield done
    finally:
        stop.set()
        while decoder.is_alive():  # unblock a decode thread waiting on a full queue
            try:
                batches.get(timeout=0.1)
            except queue.Empty:
                pass


def whole(computed: Iterator[Computed]) -> Iterator[Computed]:
    """compute's results with a long file's parts joined into one Computed: what a Ray worker sends back (its
    driver commits each file as it comes, whichever worker sends it)."""
    parts: list[NewSegment] = []
    for c in computed:
        if not c.done:
            parts += c.segments
            continue
        if c.failure is None:
            c.segments = parts + c.segments
        parts = []
        yield c


@dataclass
class Writer:
    """The one writer of a run, for both engines: writes each file in one transaction (a long file's parts as
    they come, committed with its last), so a run killed at any point loses at most the videos not yet
    committed, and tells the progress. close() drops a file left unfinished."""

    store: Store
    model_id: str
    report: IndexReport
    files: int  # files to decode in this run
    started: float  # time.monotonic() at the start of the run
    on_progress: Callable[[Progress], None] | None = None
    done: int = 0
    seconds: float = 0.0  # video seconds of the files written, indexed or not: the progress shown
    last_flush: float = field(default_factory=time.monotonic)
    writing: VideoWrite | None = None  # the file whose first parts are written, uncommitted

    def commit(self, c: Computed) -> None:
        if c.failure is None and (self.writing is not None or not c.done):  # a long file, in parts
            if self.writing is None:
                self.writing = self.store.begin_video(c.facts, self.model_id)
            self.writing.add(c.segments)
            if not c.done:
                return
        report = self.report
        report.frames += c.frames
        report.frames_reused += c.reused
        report.warnings += [(c.facts.path, w) for w in c.warnings]
        if c.failure is not None:
            self.close()
            self.store.save_failure(c.facts, c.failure)
            report.failed.append((c.facts.path, c.failure))
        else:
            if self.writing is not None:
                writing, self.writing = self.writing, None
                writing.finish(c.facts, c.chunks, c.warning)
            else:
                self.store.save_video(c.facts, c.segments, self.model_id, c.chunks, c.warning)
            report.indexed.append(c.facts.path)
            report.video_seconds += c.facts.duration
            if time.monotonic() - self.last_flush > FLUSH_SECONDS:
                self.store.flush()
                self.last_flush = time.monotonic()
        self.done += 1
        self.seconds += c.seconds

    def close(self) -> None:
        """Drops the file being written in parts, if any: the library keeps what it had for it."""
        if self.writing is not None:
            writing, self.writing = self.writing, None
            writing.abort()

    def tell(self, path: Path | None, seconds: float = 0.0, stage: str = "pictures") -> None:
        """Progress, `seconds` into the file being indexed."""
        if self.on_progress:
            elapsed = time.monotonic() - self.started
            current = str(path) if path else None
            self.on_progress(Progress(self.done, self.files, self.seconds + seconds, elapsed, current, stage))


def _embed_and_store(store, models, todo, report, on_progress, started, transcriber) -> None:
    """The local engine: decodes in a thread; embeds, segments and writes here, one transaction per video."""
    writer = Writer(store, models.model_id, report, len(todo), started, on_progress)
    writer.tell(None)
    with closing(compute(models, todo, transcriber, threading.Event(), writer.tell)) as results:
        try:
            for done in results:
                writer.commit(done)
                writer.tell(done.path)
        finally:
            writer.close()


def _finish_video(
    models: Models,
    video: _Video,
    done: Decoded.Done,
    facts: FileFacts,
    heard: Callable[[], None] | None = None,
) -> Computed:
    """Segments and text of a decoded video. A file that decodes only in part (a download cut short, a
    recording cut by a dead battery) is indexed as far as it goes, with a warning. Anything else that goes
    wrong is the file's failure (one odd file must not end the run), but for the library's own trouble."""
    fps = models.settings.fps
    out = Computed(video.path, facts, frames=video.frames, reused=video.reused, model_id=models.model_id)
    info = video.info
    try:
        times = np.concatenate(video.times)
        covered = float(times[-1]) + 1.0 / fps
        if _is_truncated(times, fps, info):
            out.warning = f"partial: decoded {covered:.1f} of {info.duration:.1f} s"
            out.warnings.append(out.warning)
        tokens = np.concatenate(video.tokens)
        features = np.concatenate(video.features)
        duration = min(info.duration, covered) if out.warning else info.duration
        end = max(float(times[-1]), min(covered, duration)) if duration else covered
        spans = segment(features, fps)
        out.segments = build_segments(times, tokens, video.thumbs, spans, end, models.pool)
        facts.duration = max(duration or covered, out.segments[-1].end)  # a header may say less than it holds
        facts.fps, facts.codec, facts.width, facts.height = info.fps, info.codec, info.width, info.height
        facts.start_time, facts.sample_fps = info.start_time, fps
        out.chunks = _text_chunks(video.path, models.backbone, done, out.warnings, heard, facts.duration)
        out.chunks += _seen_chunks(models, video, facts)
    except (FootageError, OSError, KeyboardInterrupt):  # the library's own trouble: stop the run
        raise
    except Exception as e:  # one odd file must not end the run
        out.failure, out.segments, out.chunks = f"{type(e).__name__}: {e}", [], []
    out.seconds = max(video.seconds, facts.duration or 0.0)
    return out


def _text_chunks(
    path: Path, backbone: Backbone, done: Decoded.Done, warnings: list[str], heard, duration: float
) -> list[NewChunk]:
    """What is written (subtitles, on-screen text) and said (speech) in a video, chunked and embedded by the
    Y-encoder. A subtitle or audio track that cannot be read is a warning: the pictures are indexed all the
    same. Subtitle text is capped to what a video of this length can carry."""
    warnings += done.warnings
    cues, cut = subtitles.cap(done.subtitles, duration)
    if cut:
        warnings.append(f"subtitles: {cut}")
    chunks = text.chunk(cues, "subtitles")
    for channel, future in (("speech", done.speech), ("on-screen", done.on_screen)):
        if future is not None:  # heard or read meanwhile
            found, said = _wait(future, heard)
            chunks += text.chunk(found, channel)
            warnings += said
    if not chunks:
        return []
    vectors = backbone.y([c.text for c in chunks])
    return [NewChunk(c.channel, c.start, c.end, c.text, v) for c, v in zip(chunks, vectors)]


def _seen_chunks(models: Models, video: _Video, facts: FileFacts) -> list[NewChunk]:
    """The experts' words, of frames and of the whole video, as text chunks of their channel
    (footage/models/experts.py); a word's vector comes from the Y-encoder's cache, as the same few words recur."""
    end = facts.duration
    said = runs(np.concatenate(video.seen_times), video.seen, end) if video.seen_times else []
    said += [(w, 0.0, end) for w in of_video(models.settings.experts, facts.width, facts.height)]
    return [NewChunk(SEEN, start, stop, w, models.backbone.y.encode_one(w)) for w, start, stop in said]


def _wait(future: Future, heard):
    """The future's result; the progress bar is told every half second that the run is still at it (and the
    user gets the chance to stop it)."""
    while True:
        try:
            return future.result(timeout=0.5)
        except TimeoutError:
            if heard:
                heard()


def embed_file(path: Path, models: Models) -> tuple[np.ndarray, np.ndarray, float]:
    """One video decoded and embedded without storing anything: frame times (N,), tokens (N, T) and its
    end in seconds. Raises VideoError when it is not a readable video."""
    info = probe(path)
    times, tokens = [], []
    backbone, fps = models.backbone, models.settings.fps
    with backbone.threads(INFERENCE_THREADS):
        for t, frames in Decoder(path, info, fps, backbone.image_size, batch=32):
            times.append(t)
            tokens.append(backbone.embed_frames(frames)[0])
    times = np.concatenate(times)
    end = float(times[-1]) + 1.0 / fps
    if info.duration:  # as a video's last segment ends
        end = max(float(times[-1]), min(end, info.duration))
    return times, np.concatenate(tokens), end
