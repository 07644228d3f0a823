"""The indexing pipeline: find files, skip what is unchanged, decode and embed the rest, store segments and
the text said or written in them.

Decoding overlaps inference: a thread probes and decodes files one after another (ffmpeg runs as its own
process), reads their subtitles and on-screen text, and hands frame batches over a short queue, while this
thread runs the model, transcribes speech and writes to the store. Each video is written in one transaction,
so a run killed at any point loses at most the video it was on, and the next run picks up from there.
"""

import hashlib
import io
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from footage.errors import VideoError
from footage.indexer import ocr, subtitles, text
from footage.indexer.decode import Decoder
from footage.indexer.probe import VideoInfo, probe
from footage.indexer.segment import segment
from footage.models import Backbone
from footage.store import FileFacts, NewSegment, Store
from footage.store.store import NewChunk

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .wmv .asf .flv .mpg .mpeg .m2v .ts .mts .m2ts .vob .ogv .ogg .3gp .3g2 "
    ".mxf .dv .rm .rmvb .divx .y4m".split()
)
FINGERPRINT_BYTES = 1 << 20  # read from each end of a file: enough to tell edits apart, cheap on big files
FLUSH_SECONDS = 30  # save FAISS at least this often during a run, so a search elsewhere sees recent work
QUEUE_BATCHES = 16  # frame batches decoded ahead of the model
DECODE_BATCH = 4  # frames handed over at a time: small, so the model starts on a file while ffmpeg is still on it
THUMB_HEIGHT = 144
# The model gets all cores but one; ffmpeg decodes on the one left. On 2 cores a model on 2 threads fought
# ffmpeg for both and indexed Big Buck Bunny at 27x real time; on 1 thread, 29x.
INFERENCE_THREADS = max(1, (os.cpu_count() or 2) - 1)


@dataclass
class Progress:
    """Passed to `on_progress` after every batch and every file."""

    files_done: int
    files_total: int
    video_seconds: float  # seconds of video decoded and embedded so far in this run
    wall_seconds: float
    current: str | None  # path being indexed
    stage: str = "pictures"  # "speech" while the current file's audio is transcribed


@dataclass
class IndexReport:
    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    moved: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    video_seconds: float = 0.0
    wall_seconds: float = 0.0
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, what): indexed, but without this


def fingerprint(path: Path, size: int) -> str:
    """Hash of the size and the first and last MiB: changes when content does, costs two reads."""
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read(FINGERPRINT_BYTES))
        if size > 2 * FINGERPRINT_BYTES:
            f.seek(-FINGERPRINT_BYTES, os.SEEK_END)
        h.update(f.read(FINGERPRINT_BYTES))
    return h.hexdigest()


def scan(paths: Iterable[str | Path], skip: Path) -> tuple[list[Path], list[Path], list[tuple[str, str]]]:
    """Expands arguments into (files, folders, missing): files named on the command line are taken whatever
    their extension; inside folders, video extensions only, hidden entries and the library itself left out."""
    files: dict[Path, None] = {}
    folders, missing = [], []
    for arg in paths:
        p = Path(arg).expanduser().absolute()
        if p.is_dir():
            folders.append(p.resolve())
            walked = {p.resolve()}  # symlinked folders are followed, each once: a link loop must not hang us
            for root, dirs, names in os.walk(p, followlinks=True):
                keep = []
                for d in sorted(dirs):
                    real = Path(root, d).resolve()
                    if not d.startswith(".") and real != skip and real not in walked:
                        walked.add(real)
                        keep.append(d)
                dirs[:] = keep
                for name in sorted(names):
                    if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                        files[Path(root, name).resolve()] = None
        elif p.exists() or p.is_symlink():
            files[p.resolve()] = None
        else:
            missing.append((str(p), "no such file or folder"))
    return list(files), folders, missing


class _Decoded:
    """Messages from the decode thread."""

    @dataclass
    class Start:
        path: Path
        info: VideoInfo

    @dataclass
    class Frames:
        times: np.ndarray
        frames: np.ndarray

    @dataclass
    class Done:
        path: Path
        subtitles: list  # the file's subtitle cues
        on_screen: list  # its on-screen text cues (when read)
        warnings: list[str]  # what could not be read

    @dataclass
    class Failed:
        path: Path
        reason: str


def _decode_all(
    paths: list[Path], fps: float, size: int, out: queue.Queue, stop: threading.Event, read_screen: bool
) -> None:
    """Decodes the files' frames, then reads their subtitles and on-screen text (ffmpeg and Tesseract work
    that overlaps the model's, like decoding). The next file is probed while this one decodes: on short
    clips ffprobe's start-up was a third of the time the model waited for frames."""
    with ThreadPoolExecutor(max_workers=1) as prober:
        probes = [prober.submit(probe, path) for path in paths[:1]]
        for i, path in enumerate(paths):
            if stop.is_set():
                break
            if i + 1 < len(paths):
                probes.append(prober.submit(probe, paths[i + 1]))
            _decode_one(path, probes[i], fps, size, out, stop, read_screen)
    out.put(None)


def _decode_one(path: Path, probed: Future, fps, size, out: queue.Queue, stop: threading.Event, read_screen):
    """One file's messages: Start, its Frames batches, then Done; or Failed with the reason."""
    try:
        info = probed.result()
        out.put(_Decoded.Start(path, info))
        decoder = Decoder(path, info, fps, size, batch=DECODE_BATCH)
        for times, frames in decoder:
            if stop.is_set():
                decoder.close()
                break
            out.put(_Decoded.Frames(times, frames))
        else:
            cues, warnings = subtitles.read(path, info)
            on_screen = []
            if read_screen:
                try:
                    on_screen = ocr.read(path, info)
                except (OSError, subprocess.SubprocessError) as e:
                    warnings.append(f"on-screen text: {type(e).__name__}: {e}")
            out.put(_Decoded.Done(path, cues, on_screen, warnings))
    except VideoError as e:
        out.put(_Decoded.Failed(path, e.reason))
    except Exception as e:  # one odd file must not end the run
        out.put(_Decoded.Failed(path, f"{type(e).__name__}: {e}"))


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
    features: np.ndarray,
    thumbs: list[bytes],
    fps: float,
    duration: float | None,
    pool: Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray | None]],
) -> list[NewSegment]:
    """Frame stream of one video -> segments; `pool` turns the segments' frame tokens into their vectors
    and views (Backbone.pool); thumbs[i] is frame i as a JPEG."""
    spans = segment(features, fps)
    vectors, views = pool([tokens[s.first : s.stop] for s in spans])  # (S, D), (S, V, D) or None
    last_end = float(times[-1]) + 1.0 / fps
    if duration:
        last_end = max(float(times[-1]), min(last_end, duration))
    out = []
    for k, span in enumerate(spans):
        mid = (span.first + span.stop - 1) // 2
        out.append(
            NewSegment(
                start=float(times[span.first]),
                end=float(times[spans[k + 1].first]) if k + 1 < len(spans) else last_end,
                vector=vectors[k].astype(np.float32),
                frame_times=times[span.first : span.stop],
                frame_vectors=tokens[span.first : span.stop],
                thumbnail=thumbs[mid] if mid < len(thumbs) else None,
                views=None if views is None else views[k],
            )
        )
    return out


def _is_truncated(times: np.ndarray, fps: float, info: VideoInfo) -> bool:
    """Decoding stopped well short of the duration the container announces."""
    if not info.duration:
        return False
    covered = float(times[-1]) + 1.0 / fps
    return covered < 0.9 * info.duration - 1.0


def index(
    store: Store,
    backbone: Backbone,
    paths: Iterable[str | Path],
    fps: float = 1.0,
    on_progress: Callable[[Progress], None] | None = None,
    transcriber: Callable[[Path], list] | None = None,
) -> IndexReport:
    """Indexes files and folders into the store: pictures, subtitles and (with a transcriber) speech. The
    caller holds the store's write lock."""
    started = time.monotonic()
    report = IndexReport()
    files, folders, missing = scan(paths, skip=store.path)
    report.failed += missing
    todo = _plan(store, files, folders, {m[0] for m in missing}, backbone.model_id, report)
    try:
        with backbone.threads(INFERENCE_THREADS):
            _embed_and_store(store, backbone, todo, fps, report, on_progress, started, transcriber)
    finally:
        store.flush()
        report.wall_seconds = time.monotonic() - started
    return report


def _plan(store: Store, files: list[Path], folders: list[Path], missing: set[str], model_id: str, report: IndexReport):
    """Sorts files into unchanged, moved (same content, new name) and to decode (new, changed, or indexed by
    other models), and drops the videos that are gone from the folders being indexed. Returns [(path, facts)]
    to decode."""
    known = store.videos()
    by_fingerprint = {v.fingerprint: v for v in known.values() if v.status == "indexed" and v.model == model_id}
    seen = {str(f) for f in files}
    todo: list[tuple[Path, FileFacts]] = []
    for path in files:
        try:
            st = path.stat()
        except OSError as e:
            report.failed.append((str(path), e.strerror or "cannot stat"))
            continue
        old = known.get(str(path))
        if old and old.model not in (None, model_id):  # indexed by other models: decode it again
            old = None
        if old and old.size == st.st_size and old.mtime == st.st_mtime:
            report.unchanged += 1
            continue
        try:
            facts = FileFacts(str(path), st.st_size, st.st_mtime, fingerprint(path, st.st_size))
        except OSError as e:
            store.save_failure(FileFacts(str(path), st.st_size, st.st_mtime, ""), e.strerror or "cannot read")
            report.failed.append((str(path), e.strerror or "cannot read"))
            continue
        twin = by_fingerprint.get(facts.fingerprint)
        if old and old.fingerprint == facts.fingerprint and old.status == "indexed":
            store.touch(old.id, st.st_mtime)
            report.unchanged += 1
        elif not old and twin and twin.path not in seen and not Path(twin.path).exists():
            store.move(twin.id, str(path), st.st_mtime)
            report.moved.append((twin.path, str(path)))
        else:
            todo.append((path, facts))

    moved_from = {old for old, _ in report.moved}

    def is_gone(path: str) -> bool:
        if path in moved_from:
            return False
        in_folder = any(Path(path).is_relative_to(f) for f in folders)
        return path in missing or (in_folder and path not in seen and not Path(path).exists())

    gone = [v for v in known.values() if is_gone(v.path)]
    if gone:
        store.remove([v.id for v in gone])
        report.removed += [v.path for v in gone]
    return todo


@dataclass
class _Video:
    """Frames of the video being embedded, gathered until its last batch."""

    path: Path
    info: VideoInfo
    times: list[np.ndarray] = field(default_factory=list)
    tokens: list[np.ndarray] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    thumbs: list[bytes] = field(default_factory=list)


def _embed_and_store(store, backbone, todo, fps, report, on_progress, started, transcriber) -> None:
    """Decodes in a thread; embeds, segments and stores here, one transaction per video."""
    facts_by_path = dict(todo)
    batches: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
    stop = threading.Event()
    decoder = threading.Thread(
        target=_decode_all,
        args=([p for p, _ in todo], fps, backbone.image_size, batches, stop, backbone.ocr),
        daemon=True,
    )
    decoder.start()
    last_flush = time.monotonic()
    done = 0
    video: _Video | None = None

    def tell(path: Path | None, stage: str = "pictures") -> None:
        if on_progress:
            elapsed = time.monotonic() - started
            on_progress(Progress(done, len(todo), report.video_seconds, elapsed, str(path) if path else None, stage))

    tell(None)
    try:
        while (msg := batches.get()) is not None:
            if isinstance(msg, _Decoded.Start):
                video = _Video(msg.path, msg.info)
            elif isinstance(msg, _Decoded.Frames):
                tokens, features = backbone.embed_frames(msg.frames)
                video.times.append(msg.times)
                video.tokens.append(tokens)
                video.features.append(features)
                # JPEG every frame now (cheap next to the model): the mid frame of each segment becomes its
                # thumbnail, and a long video's raw frames would not fit in memory.
                video.thumbs += [_thumbnail(frame, video.info) for frame in msg.frames]
                report.video_seconds += len(msg.times) / fps
            elif isinstance(msg, _Decoded.Failed):
                store.save_failure(facts_by_path[msg.path], msg.reason)
                report.failed.append((str(msg.path), msg.reason))
                done += 1
            else:
                heard = (lambda path=msg.path: tell(path, "speech")) if transcriber else None
                _finish_video(store, backbone, video, msg, facts_by_path[msg.path], fps, report, transcriber, heard)
                done += 1
                if time.monotonic() - last_flush > FLUSH_SECONDS:
                    store.flush()
                    last_flush = time.monotonic()
            tell(msg.path if not isinstance(msg, _Decoded.Frames) else video.path)
    finally:
        stop.set()
        while decoder.is_alive():  # unblock a decode thread waiting on a full queue
            try:
                batches.get(timeout=0.1)
            except queue.Empty:
                pass


def _finish_video(
    store: Store,
    backbone: Backbone,
    video: _Video,
    done: _Decoded.Done,
    facts: FileFacts,
    fps: float,
    report: IndexReport,
    transcriber,
    heard: Callable[[], None] | None = None,
) -> None:
    info = video.info
    times = np.concatenate(video.times)
    if _is_truncated(times, fps, info):
        reason = f"truncated or damaged: decoded {times[-1] + 1 / fps:.1f} s of {info.duration:.1f} s"
        store.save_failure(facts, reason)
        report.failed.append((facts.path, reason))
        return
    tokens = np.concatenate(video.tokens)
    features = np.concatenate(video.features)
    segments = build_segments(times, tokens, features, video.thumbs, fps, info.duration, backbone.pool)
    facts.duration = info.duration or float(times[-1]) + 1.0 / fps
    report.video_seconds += facts.duration - len(times) / fps  # progress counted a tick per frame until now
    facts.fps, facts.codec, facts.width, facts.height = info.fps, info.codec, info.width, info.height
    facts.start_time, facts.sample_fps = info.start_time, fps
    chunks = _text_chunks(Path(facts.path), info, backbone, transcriber, done, report, heard)
    store.save_video(facts, segments, backbone.model_id, chunks)
    report.indexed.append(facts.path)


def _text_chunks(
    path: Path, info: VideoInfo, backbone: Backbone, transcriber, done: _Decoded.Done, report: IndexReport, heard
) -> list[NewChunk]:
    """What is written (subtitles, on-screen text) and said (speech) in a video, chunked and embedded by the
    Y-encoder. A subtitle or audio track that cannot be read is a warning: the pictures are indexed all the
    same."""
    report.warnings += [(str(path), w) for w in done.warnings]
    chunks = text.chunk(done.subtitles, "subtitles") + text.chunk(done.on_screen, "on-screen")
    if transcriber is not None and info.has_audio:
        try:
            chunks += text.chunk(transcriber(path, heard), "speech")
        except Exception as e:  # a damaged audio track must not cost the pictures
            report.warnings.append((str(path), f"speech: {type(e).__name__}: {e}"))
    if not chunks:
        return []
    vectors = backbone.y([c.text for c in chunks])
    return [NewChunk(c.channel, c.start, c.end, c.text, v) for c, v in zip(chunks, vectors)]


def embed_file(path: Path, backbone: Backbone, fps: float) -> tuple[np.ndarray, np.ndarray, float]:
    """One video decoded and embedded without storing anything: frame times (N,), tokens (N, T) and its
    end in seconds. Raises VideoError when it is not a readable video."""
    info = probe(path)
    times, tokens = [], []
    with backbone.threads(INFERENCE_THREADS):
        for t, frames in Decoder(path, info, fps, backbone.image_size, batch=32):
            times.append(t)
            tokens.append(backbone.embed_frames(frames)[0])
    times = np.concatenate(times)
    end = float(times[-1]) + 1.0 / fps
    if info.duration:  # as a video's last segment ends
        end = max(float(times[-1]), min(end, info.duration))
    return times, np.concatenate(tokens), end
