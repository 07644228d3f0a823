"""The indexing pipeline: find files, skip what is unchanged, decode and embed the rest, store segments and
the text said or written in them.

Decoding overlaps inference: a thread probes and decodes files one after another (ffmpeg runs as its own
process), reads their subtitles and on-screen text, and hands frame batches over a short queue, while this
thread runs the model, transcribes speech and writes to the store. Each video is written in one transaction,
so a run killed at any point loses at most the video it was on, and the next run picks up from there.

Two engines share the work per file (`compute`: a path and its facts -> a Computed, its segments and text
chunks or why it failed) and the write (`Writer.commit`): this module runs both in one process; the Ray
engine (footage/indexer/distributed.py) runs `compute` in workers across a cluster and commits here.
"""

import errno
import hashlib
import io
import json
import math
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from footage.errors import FootageError, VideoError
from footage.files import expand, resolved
from footage.indexer import ocr, subtitles, text
from footage.indexer.decode import Decoder, Screen
from footage.indexer.probe import VideoInfo, probe
from footage.indexer.segment import Span, segment
from footage.models import Backbone, Models
from footage.store import FileFacts, NewSegment, Store
from footage.store.store import NewChunk, VideoWrite

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .wmv .asf .flv .mpg .mpeg .m2v .ts .mts .m2ts .vob .ogv .ogg .3gp .3g2 "
    ".mxf .dv .rm .rmvb .divx .y4m".split()
)
FINGERPRINT_BYTES = 1 << 20  # read from each end of a file: where containers keep their index
FINGERPRINT_SAMPLES = 31  # blocks read evenly between the ends (odd: the middle byte is always read)
FINGERPRINT_BLOCK = 64 << 10  # 31 blocks of 64 KiB: about 4 MiB read per file in all
FINGERPRINT_VERSION = "v2:"  # before it: the two ends only (still recognised, and upgraded)
FLUSH_SECONDS = 30  # save FAISS at least this often during a run, so a search elsewhere sees recent work
QUEUE_BATCHES = 16  # frame batches decoded ahead of the model
SCREEN_QUEUE = 64  # frames for on-screen text decoded ahead of the reader (960x540 grey: 33 MB)
# Speech is heard from the audio alone, this many files ahead of the pictures: while the film's decode held the
# pictures back (one core busy, the other half idle), Whisper had to wait for the narrated clip after it
SPEECH_AHEAD = 2
DECODE_BATCH = 4  # frames handed over at a time: small, so the model starts on a file while ffmpeg is still on it
# (on a GPU, the backbone's larger batch)
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


@dataclass
class IndexReport:
    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    moved: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): also in stats
    video_seconds: float = 0.0  # the length of the videos indexed in this run
    wall_seconds: float = 0.0
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, what): indexed, but without this
    missing: list[str] = field(default_factory=list)  # paths given that do not exist
    offline: list[str] = field(default_factory=list)  # indexed videos now missing under a missing or emptied folder
    online: list[str] = field(default_factory=list)  # offline videos whose files are back
    frames: int = 0  # frames embedded in this run...
    frames_reused: int = 0  # ... of which this many took the tokens of the one before (nothing had changed)


def fingerprint(path: Path, size: int) -> str:
    """Hash of the size, the first and last MiB and 31 blocks of 64 KiB spread evenly between them: an edit
    that keeps the size still shows unless it falls wholly between two samples, for about 4 MiB read."""
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read(FINGERPRINT_BYTES))
        middle = size - 2 * FINGERPRINT_BYTES - FINGERPRINT_BLOCK
        if middle > 0:
            for k in range(1, FINGERPRINT_SAMPLES + 1):
                f.seek(FINGERPRINT_BYTES + middle * k // (FINGERPRINT_SAMPLES + 1))
                h.update(f.read(FINGERPRINT_BLOCK))
        if size > 2 * FINGERPRINT_BYTES:
            f.seek(-FINGERPRINT_BYTES, os.SEEK_END)
        h.update(f.read(FINGERPRINT_BYTES))
    return FINGERPRINT_VERSION + h.hexdigest()


def legacy_fingerprint(path: Path, size: int) -> str:
    """The fingerprint of libraries made before v2 (both ends only), to recognise their files unchanged."""
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read(FINGERPRINT_BYTES))
        if size > 2 * FINGERPRINT_BYTES:
            f.seek(-FINGERPRINT_BYTES, os.SEEK_END)
        h.update(f.read(FINGERPRINT_BYTES))
    return h.hexdigest()


@dataclass
class Scan:
    """What a run's arguments expand to."""

    files: list[Path] = field(default_factory=list)  # regular files to index, symbolic links resolved
    folders: list[Path] = field(default_factory=list)  # folders given, resolved
    missing: list[str] = field(default_factory=list)  # paths given that do not exist
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path as found, why): links to nowhere, FIFOs
    gone_targets: set[str] = field(default_factory=set)  # where links to nowhere point: what was there is gone
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (folder, why): what is under it is unknown


def _entry(
    path: Path, found: Scan, files: dict[Path, None], within: list[Path] | None = None, walked: bool = False
) -> None:
    """One file: taken if it is a regular file (through links), else skipped with the reason. Opening anything
    else could hang (a FIFO) or read forever (a device). A file `walked` to in a folder is taken for its name:
    through a link, the file it leads to must be named as a video too. A skipped file is named by the path it
    was found at, never by where a link leads, so the failure goes when the link does."""
    try:
        st = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            found.skipped.append((str(path), "symbolic link loop"))
        elif path.is_symlink():
            target = Path(os.path.realpath(path))
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                found.skipped.append((str(path), f"broken symbolic link: its target {target} is gone"))
            found.gone_targets.add(str(target))
        else:
            found.skipped.append((str(path), e.strerror or "cannot read"))
        return
    if not stat.S_ISREG(st.st_mode):
        kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a device", stat.S_ISBLK: "a device"}
        kind = next((name for test, name in kinds.items() if test(st.st_mode)), "a folder")
        found.skipped.append((str(path), f"not a regular file ({kind})"))
        return
    real = resolved(path)
    if real is None:
        found.skipped.append((str(path), "symbolic link loop"))
    elif within is not None and not any(real.is_relative_to(w) for w in within):
        found.skipped.append((str(path), "a link out of the folders this run may read"))  # where to: not said
    elif walked and real.suffix.lower() not in VIDEO_EXTENSIONS:  # clip.mp4 -> /etc/shadow is not probed
        found.skipped.append((str(path), "a link to a file that is not named as a video"))
    else:
        files[real] = None


def scan(paths: Iterable[str | Path], skip: Path, within: list[Path] | None = None) -> Scan:
    """Expands arguments into files and folders: files named on the command line are taken whatever their
    extension; inside folders, video extensions only, hidden entries and the library itself left out.
    `within`: links leading out of these folders are not followed."""
    found = Scan()
    files: dict[Path, None] = {}
    for arg in paths:
        try:
            _scan_one(expand(arg).absolute(), skip, within, found, files)
        except OSError as e:  # a name too long, a drive gone in the middle of the walk
            if e.errno in (errno.ENOENT, errno.ENAMETOOLONG):
                found.missing.append(str(arg))
            else:
                found.unreadable.append((str(arg), e.strerror or "cannot read"))
    found.files = list(files)
    return found


def _scan_one(p: Path, skip: Path, within: list[Path] | None, found: Scan, files: dict[Path, None]) -> None:
    real = resolved(p)
    if p.is_symlink() and not p.exists() and real is not None:  # a link to a drive not mounted
        found.missing.append(str(p))
        found.gone_targets.add(str(real))
    elif p.is_dir():
        root_real = real or p
        found.folders.append(root_real)
        walked = {root_real}  # symlinked folders are followed, each once: a link loop must not hang us

        def allowed(folder: Path) -> bool:
            return within is None or any(folder.is_relative_to(w) for w in within)

        def cannot_read(e: OSError) -> None:
            found.unreadable.append((str(e.filename), e.strerror or "cannot read"))

        for root, dirs, names in os.walk(p, followlinks=True, onerror=cannot_read):
            keep = []
            for d in sorted(dirs):
                folder = resolved(Path(root, d))
                if d.startswith(".") or folder is None or folder == skip or folder in walked or not allowed(folder):
                    continue
                walked.add(folder)
                keep.append(d)
                if Path(root, d).is_symlink():  # its videos are stored under where it leads
                    found.folders.append(folder)
            dirs[:] = keep
            for name in sorted(names):
                if name.startswith("."):
                    continue
                if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                    _entry(Path(root, name), found, files, within, walked=True)
                elif Path(root, name).is_symlink() and not Path(root, name).exists():  # a folder gone?
                    found.gone_targets.add(os.path.realpath(Path(root, name)))
    elif os.path.lexists(p):
        _entry(p, found, files, within)
    else:
        found.missing.append(str(p))


@dataclass
class _Reached:
    """How far into a file its on-screen text and speech have been read, in seconds (inf: done, or not read):
    the progress shown is the least of these and the pictures', so the rate is what the whole run achieves."""

    screen: float = math.inf
    speech: float = math.inf


class _Decoded:
    """Messages from the decode thread."""

    @dataclass
    class Start:
        path: Path
        info: VideoInfo
        reached: _Reached

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


def _decode_all(
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
    ahead: list[tuple[_Reached, Future | None]] = []  # each file's progress, and its speech being heard
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
                reached = _Reached(0.0 if read_screen else math.inf, 0.0 if transcriber else math.inf)
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
    frames: queue.Queue, info: VideoInfo, stop: threading.Event, reached: _Reached
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


def _hear(transcriber, path: Path, probed: Future, stop: threading.Event, reached: _Reached) -> tuple[list, list[str]]:
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
    reached: _Reached,
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
        out.put(_Decoded.Start(path, info, reached))
        screen = Screen(ocr.OCR_SECONDS, ocr.WIDTH, queue.Queue(SCREEN_QUEUE)) if reader is not None else None
        decoder = Decoder(path, info, fps, size, batch=batch, screen=screen)
        on_screen = reader.submit(_read_screen, screen.frames, info, stop, reached) if screen else None
        try:
            for times, frames in decoder:
                if stop.is_set():
                    break
                out.put(_Decoded.Frames(times, frames))
            else:
                cues, warnings = subtitles.read(path, info)
                out.put(_Decoded.Done(path, cues, on_screen, speech, warnings))
        finally:
            decoder.close()  # ends the screen's frames, too: the reader waits for their end
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
        todo = _plan(store, found, models.model_id, report, prune)
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


def sidecar_state(video: Path, listing: list[Path]) -> str | None:
    """The subtitle files beside a video as a string to compare between runs: each one's name after the video's
    stem, size and mtime (so a renamed pair still matches); None when it has none."""
    state = []
    for p in subtitles.sidecars(video, listing):
        try:
            st = p.stat()
        except OSError:
            continue
        state.append([p.name[len(video.stem) :], st.st_size, st.st_mtime])
    return json.dumps(state) if state else None


def _same_file(old, facts: FileFacts) -> bool:
    """Unchanged without reading it: the same size, mtime, ctime and inode (a replacement made with `cp -p` or
    `rsync -a` keeps size and mtime, not the other two), and the same subtitle files beside it."""
    return (old.size, old.mtime, old.ctime, old.inode, old.sidecars) == (
        facts.size,
        facts.mtime,
        facts.ctime,
        facts.inode,
        facts.sidecars,
    )


def _same_content(old, facts: FileFacts, path: Path) -> bool:
    if old.fingerprint == facts.fingerprint:
        return True
    legacy = not old.fingerprint.startswith(FINGERPRINT_VERSION) and old.fingerprint
    return bool(legacy) and legacy_fingerprint(path, facts.size) == old.fingerprint


def _plan(store: Store, found: Scan, model_id: str, report: IndexReport, prune: bool) -> list[tuple[Path, FileFacts]]:
    """Sorts files into unchanged, moved (same content, new name) and to decode (new, changed, failed before,
    or indexed by other models). Files missing from the folders being indexed are dropped, or kept offline
    when their whole folder is missing or emptied (a drive not mounted). Returns [(path, facts)] to decode."""
    known = store.videos()
    by_fingerprint = {v.fingerprint: v for v in known.values() if v.status == "indexed" and v.model == model_id}
    seen = {str(f) for f in found.files}
    listings: dict[Path, list[Path]] = {}
    todo: list[tuple[Path, FileFacts]] = []
    back: list = []
    touched: list[tuple[int, FileFacts]] = []

    def fail(path: str, reason: str, facts: FileFacts | None = None) -> None:
        store.save_failure(facts or FileFacts(path, 0, 0.0, ""), reason)
        report.failed.append((path, reason))

    for path, reason in found.skipped:
        fail(path, reason)
    stats = []
    for path in found.files:
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            if path.parent not in listings:
                listings[path.parent] = sorted(path.parent.iterdir())
            stats.append((path, st))
        except OSError as e:
            fail(str(path), e.strerror or "cannot read")
    inodes = {st.st_ino for _, st in stats}  # a renamed file keeps its inode: it, not a copy, takes the index
    for path, st in stats:
        facts = FileFacts(
            str(path), st.st_size, st.st_mtime, "", st.st_ctime, st.st_ino, sidecar_state(path, listings[path.parent])
        )
        old = known.get(str(path))
        if old and old.status == "indexed" and old.model != model_id:  # indexed by other models: decode it again
            old = None
        if old and old.status == "indexed" and _same_file(old, facts):
            report.unchanged += 1
            back += [old] if old.offline else []
            continue
        try:
            facts.fingerprint = fingerprint(path, st.st_size)
            same = old is not None and old.status == "indexed" and _same_content(old, facts, path)
        except OSError as e:
            if old and old.status == "indexed" and e.errno in (errno.EACCES, errno.EPERM):
                report.warnings.append((str(path), f"cannot read it now ({e.strerror}); its index is kept"))
                continue
            fail(str(path), e.strerror or "cannot read", facts)
            continue
        twin = by_fingerprint.get(facts.fingerprint)
        if twin and twin.inode in inodes and twin.inode != st.st_ino:
            twin = None  # another file of this run has its inode: that one is the renamed original
        before_v5 = old is not None and old.ctime is None  # its subtitle files were never recorded
        if same and (old.sidecars == facts.sidecars or before_v5):
            touched.append((old.id, facts))
            report.unchanged += 1
            back += [old] if old.offline else []
        elif not old and twin and twin.path not in seen and not os.path.lexists(twin.path):
            if twin.sidecars == facts.sidecars:
                del by_fingerprint[facts.fingerprint]  # moved once: a second copy of it is a new video
                store.move(twin.id, facts)
                report.moved.append((twin.path, str(path)))
                back += [twin] if twin.offline else []
            else:  # renamed, with other subtitles: read again
                todo.append((path, facts))
        else:
            todo.append((path, facts))
    store.touch(touched)
    if back:
        store.set_offline([v.id for v in back], False)
        report.online += [v.path for v in back]
    _drop_missing(store, known, found, seen, {old for old, _ in report.moved}, report, prune)
    return todo


def _drop_missing(store: Store, known: dict, found: Scan, seen: set[str], moved: set[str], report, prune) -> None:
    """Videos gone from the folders (and files) being indexed: dropped when they were deleted from a folder
    that still holds indexed files, kept offline when their folder is missing or has none left (an unmounted
    drive looks like an empty folder), unless `prune`. Failed files that are gone are always dropped."""

    under = [Path(f) for f in (*found.folders, *found.missing, *found.gone_targets)]
    unknown = [Path(f) for f, _ in found.unreadable]
    failed_now = {path for path, _ in report.failed}

    def looked_at(path: str) -> bool:
        p = Path(path)
        if any(p.is_relative_to(u) for u in unknown):  # a folder that cannot be read says nothing of its files
            return False
        return any(p.is_relative_to(f) for f in under)

    missing = [
        v
        for v in known.values()
        if v.path not in seen and v.path not in moved and looked_at(v.path) and not os.path.lexists(v.path)
    ]
    # a failure this run did not see again is stale: a link whose target came back, a file now hidden
    stale = [
        v
        for v in known.values()
        if v.status == "failed" and v.path not in seen and v.path not in failed_now and looked_at(v.path)
    ]
    lost = {v.id for v in missing}
    missing += [v for v in stale if v.id not in lost]
    lost |= {v.id for v in stale}
    present = {str(Path(p).parent) for p in seen}  # folders that still hold a video
    present |= {str(Path(v.path).parent) for v in known.values() if v.id not in lost and looked_at(v.path)}
    gone, away = [], []
    for v in missing:
        deleted = v.status != "indexed" or prune or str(Path(v.path).parent) in present
        if deleted:
            gone.append(v)
        elif not v.offline:
            away.append(v)
    if gone:
        store.remove([v.id for v in gone])
        report.removed += [v.path for v in gone if v.status == "indexed"]
    if away:
        store.set_offline([v.id for v in away], True)
        report.offline += [v.path for v in away]


@dataclass
class _Video:
    """Frames of the video being embedded not yet in a segment written (at most WINDOW_SECONDS of them)."""

    path: Path
    info: VideoInfo
    reached: _Reached  # how far its on-screen text and speech are
    times: list[np.ndarray] = field(default_factory=list)
    tokens: list[np.ndarray] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    thumbs: list[bytes] = field(default_factory=list)
    seconds: float = 0.0  # how far into the video its frames have come
    frames: int = 0  # frames embedded...
    reused: int = 0  # ... of which this many took the tokens of the one before
    still: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # the last frame the model saw: its blocks,
    # tokens and features


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


def _embed(backbone: Backbone, video: _Video, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The frames' tokens (B, D) and features (B, F), the model run only on those that differ from the last
    frame it saw (STILL); and how many frames reused another's."""
    blocks = _blocks(frames)  # (B, 16, 16, 3)
    ref = video.still[0] if video.still is not None else None
    new = []  # the frames the model sees
    for k, b in enumerate(blocks):
        if ref is None or float(np.abs(b - ref).max()) >= STILL:
            new.append(k)
            ref = b
    if not new:  # the whole batch is the still: video.still is set, the first frame of a video is always new
        return np.stack([video.still[1]] * len(frames)), np.stack([video.still[2]] * len(frames)), len(frames)
    tokens, features = backbone.embed_frames(frames[new])
    if video.still is not None:  # row 0: the still, for frames before this batch's first new one
        tokens = np.concatenate([video.still[1][None], tokens])
        features = np.concatenate([video.still[2][None], features])
    taken = np.searchsorted(new, np.arange(len(frames)), side="right") - (video.still is None)  # (B,) rows
    video.still = (blocks[new[-1]], tokens[-1], features[-1])
    return tokens[taken], features[taken], len(frames) - len(new)


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
        target=_decode_all,
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
            if isinstance(msg, _Decoded.Start):
                video = _Video(msg.path, msg.info, msg.reached)
                tell(msg.path)
            elif isinstance(msg, _Decoded.Frames):
                tokens, features, reused = _embed(backbone, video, msg.frames)
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
            elif isinstance(msg, _Decoded.Failed):
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
    done: _Decoded.Done,
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
    except (FootageError, OSError, KeyboardInterrupt):  # the library's own trouble: stop the run
        raise
    except Exception as e:  # one odd file must not end the run
        out.failure, out.segments, out.chunks = f"{type(e).__name__}: {e}", [], []
    out.seconds = max(video.seconds, facts.duration or 0.0)
    return out


def _text_chunks(
    path: Path, backbone: Backbone, done: _Decoded.Done, warnings: list[str], heard, duration: float
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


def _wait(future: Future, heard):
    """The future's result; the progress bar is told every half second that the run is still at it (and the
    user gets the chance to stop it)."""
    while True:
        try:
            return future.result(timeout=0.5)
        except TimeoutError:
            if heard:
                heard()


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
