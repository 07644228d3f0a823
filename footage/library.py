"""Library: the one object a media tool (or the CLI) needs. Index folders, search them, see what is inside."""

import datetime
import json
import math
import os
import random
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from footage.errors import BadValue, FootageError, LibraryBusy, LibraryError, ModelError, NoLibrary, NotFound
from footage.files import cache_dir, expand, resolve
from footage.indexer import pipeline, stream
from footage.indexer.clip import MAX_CLIP_SECONDS, cut
from footage.indexer.decode import frame_of
from footage.indexer.ocr import check as check_ocr
from footage.indexer.pipeline import IndexReport, Progress
from footage.indexer.speech import check as check_speech
from footage.indexer.speech import transcriber as speech_model
from footage.models import Backbone, Models, load
from footage.models.predictor import Predictor
from footage.models.runtime import check as check_device
from footage.models.runtime import resolve as resolve_device
from footage.models.y_decoder import PhraseDecoder
from footage.search import Hit, timeline
from footage.search.alerts import HOLD_SECONDS, THRESHOLD, Alerts, Events
from footage.search.engine import PER_VIDEO, caption, search
from footage.search.evaluate import Pair, Scores, evaluate, read_pairs
from footage.search.timeline import Event
from footage.settings import DEFAULT_BACKBONE, Settings
from footage.store import Stats, Store
from footage.store.faiss_index import VectorIndex
from footage.store.postgres import BINDING
from footage.store.repair import Repaired
from footage.store.repair import repair as repair_store
from footage.store.store import MAX_VIEWS, Scope, VideoRow, disk_full, faiss_entries, library_path
from footage.webhook import Webhook

DEFAULT_LIBRARY = Path("~/.footage")
RECORDINGS = "recordings"  # the folder in a library where `watch` records streams
MAX_FPS = 60.0
MAX_TOP_K = 10_000
MAX_QUERY_CHARS = 1_000  # a description, not a document


@dataclass
class Media:
    """An indexed video's file, open and checked to be the one indexed; a context manager that closes it."""

    path: Path
    fd: int
    size: int
    start_time: float  # container time of its first frame

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Media":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class TrainReport:
    train_pairs: int
    held_out_pairs: int
    losses: list[float]  # InfoNCE per epoch
    before: Scores | None  # held-out retrieval with the predictor in use before
    after: Scores | None  # ... with the new one
    kept: bool  # False: held-out MRR dropped, the library is unchanged
    version: int | None  # the new predictor's version when kept
    skipped: list[str] = field(default_factory=list)  # videos of pairs left out: not indexed in the library


def _valid_id(x: int) -> bool:
    """An id SQLite can hold (a request may carry any number)."""
    return isinstance(x, int) and 0 <= x < 1 << 62


def default_path() -> Path:
    """$FOOTAGE_LIBRARY, else ~/.footage."""
    return expand(os.environ.get("FOOTAGE_LIBRARY") or DEFAULT_LIBRARY)


class Library:
    """A folder holding an index of videos.

    lib = Library("~/.footage")
    lib.index(["~/Videos"])
    for hit in lib.search("a dog lying on a tiled floor", top_k=5):
        print(hit.path, hit.start, hit.end, hit.score)
    """

    def __init__(
        self,
        path: str | Path | None = None,
        backbone: str | Backbone | None = None,
        fps: float = 1.0,
        decoder=None,
        device: str = "auto",
        db: str | None = None,
    ):
        """Opens the library at `path` ($FOOTAGE_LIBRARY, else ~/.footage). Opening writes nothing: a folder
        without a library becomes one at the first `index`, and the other methods raise NoLibrary there.
        `backbone` is chosen when the library is made (bundled, bundled-lite1/-lite2, siglip, siglip2, clip,
        vjepa2, hf:ORG/NAME or a model folder) and stored in it; None uses the stored one; a Backbone already
        loaded is used as it is, with no second load (tests share one, and a tool opening many libraries can).
        `fps` is the rate
        frames are fed to the model when indexing. `decoder` replaces the bundled Y-decoder that captions hits
        and events: any object with an `id` (str) and `__call__((B, D) vectors) -> B captions`. `device` is
        where the models run and training is done: auto (a CUDA GPU, else Apple's Metal, else the CPU), cpu,
        cuda or mps; an accelerator that is not there is a BadValue. It changes no vector's meaning: a library
        indexed on a GPU is searched on a CPU. A library on a read-only medium opens read-only: search, stats
        and describe work; changes raise LibraryReadOnly. `db` (postgresql://USER@HOST/DATABASE) keeps the
        library's metadata in PostgreSQL, shared between machines, and the folder remembers it (later opens need
        no `db`); the folder keeps the vectors, thumbnails and recordings."""
        if not (isinstance(fps, int | float) and math.isfinite(fps) and 0 < fps <= MAX_FPS):
            raise BadValue(f"fps must be a number above 0 and at most {MAX_FPS:g}, not {fps}")
        self.path = library_path(path if path else default_path())
        self.fps = fps
        # An accelerator named outright is checked now (a missing GPU is said before any work); auto is resolved
        # by the backbone when a model first runs, as asking torch costs a search its start-up time.
        self.device = resolve_device(device) if check_device(device) in ("cuda", "mps") else device
        self._loaded = backbone if isinstance(backbone, Backbone) else None  # a backbone to share
        self._backbone_name = backbone.name if isinstance(backbone, Backbone) else backbone
        self._decoder = decoder  # None: the bundled one, built on first use
        self._phrases: PhraseDecoder | None = None
        self._store: Store | None = None
        self.models: Models | None = None  # the library's models, built from its settings
        self.db = db
        if (self.path / "library.db").exists() or db or (self.path / BINDING).exists():
            try:
                self._store = Store(self.path, db=db)
            except NoLibrary:  # a database without a library yet: index makes one, as in an empty folder
                if (self.path / "library.db").exists():
                    raise
        if self._store is not None:
            try:
                self._attach()
            except BaseException:
                self._store.close()
                raise
        else:  # describe works without a library; index makes one with these models
            settings = Settings(backbone=self._backbone_name or DEFAULT_BACKBONE, device=self.device, fps=fps)
            self.models = load(settings, cache_dir(), backbone=self._loaded)

    @property
    def backbone(self) -> Backbone:
        """The library's backbone (self.models.backbone)."""
        return self.models.backbone

    @property
    def settings(self) -> Settings:
        """The library's settings (those of a library not made yet: what `index` will make it with)."""
        return self.models.settings

    def _attach(self) -> None:
        """Builds the library's models from its settings and its trained predictor."""
        store = self._store
        cache = cache_dir(None if store.read_only else self.path)
        settings = Settings.read(store.meta, backbone=self._backbone_name, device=self.device, fps=self.fps)
        predictor = None
        if settings.predictor_version:
            checkpoint = self.path / "predictors" / f"v{settings.predictor_version}.npz"
            try:
                predictor = Predictor.load(checkpoint)
            except OSError as e:
                raise LibraryError(f"{checkpoint}: the library's trained predictor is unreadable ({e})") from None
        loaded = self.models.backbone if self.models is not None else self._loaded
        self.models = load(settings, cache, predictor, loaded)
        backbone = self.models.backbone
        backbone.cache_dir = cache  # now the library's folder is there to fall back on
        store.attach(backbone.name, backbone.dim, backbone.token_dim)

    @property
    def store(self) -> Store:
        """The library on disk; NoLibrary when the folder holds none yet."""
        if self._store is None:
            self._store = Store(self.path, db=self.db)  # NoLibrary where there is none yet
            self._attach()
        return self._store

    def _set_views(self, views: list[str]) -> None:
        """Stores new indexing prompts and recomputes every segment's vectors from the cached frame tokens,
        in one transaction. The caller holds the lock."""
        models = replace(self.models, settings=replace(self.models.settings, views=tuple(views)))
        ids, token_sets = self.store.all_frame_tokens()
        meta = {"views": models.settings.meta()["views"]}
        if ids:
            vectors, pooled = self._pooled(token_sets, models)
            self.store.replace_vectors(ids, vectors, models.model_id, pooled, meta=meta)
        else:
            self.store.set_meta("views", meta["views"])
        self.models = models
        self.store.flush()

    @property
    def decoder(self):
        """The Y-decoder: the one given, else the bundled phrase decoder over the ImageNet classes and the
        texts this library was trained on."""
        if self._decoder is not None:
            return self._decoder
        if self._phrases is None:
            phrases = json.loads(self._store.meta("phrases") or "[]") if self._store else []
            self._phrases = self.models.backbone.decoder(phrases)
        return self._phrases

    def index(
        self,
        paths: Iterable[str | Path],
        on_progress: Callable[[Progress], None] | None = None,
        *,
        speech: str | None = None,
        ocr: bool | None = None,
        views: list[str] | None = None,
        prune: bool = False,
        within: list[Path] | None = None,
        engine: str = "local",
        ray_address: str | None = None,
    ) -> IndexReport:
        """Indexes files and folders (recursively), making the library if there is none. Unchanged files are
        skipped, changed ones and ones that failed before are read again, files deleted from an indexed
        folder are dropped. Files missing under a folder that is missing or has none left (a drive not
        mounted) are kept offline: left out of search until they are back, or dropped with `prune`.

        Settings, stored in the library and changed only here, under the write lock, once they are known to
        work: `speech` picks the Whisper model that transcribes audio ("tiny", English, the default; "base",
        multilingual; or "off"), `ocr` reads on-screen text (PP-OCR; on by default); changing either reads every
        video again. `views` sets indexing prompts ([] drops them): each segment also gets a vector pooled with
        attention on each prompt, and search scores a segment by its best vector; changing them recomputes
        every vector from the cached frame tokens (no decoding). `within` confines the run to these folders:
        links that lead out of them are not followed (an index job started over HTTP). `engine`: "local" (this
        process) or "ray": the files are decoded and embedded by workers on a Ray cluster (the one at
        `ray_address`, else a Ray started here) that see them at the same paths, and written here.

        Raises LibraryBusy if another process is indexing, LibraryReadOnly on a read-only library."""
        if shutil.which("ffprobe") is None or shutil.which("ffmpeg") is None:
            raise FootageError("footage needs ffmpeg and ffprobe on the PATH (Debian/Ubuntu: apt-get install ffmpeg)")
        paths = self.check_paths(paths)
        if views is not None and len(views) > MAX_VIEWS:
            raise BadValue(f"at most {MAX_VIEWS} views, not {len(views)}")
        if views is not None and (any(not v.strip() for v in views) or len(set(views)) < len(views)):
            raise BadValue("views must be different prompts, none of them empty")
        if speech is not None:
            check_speech(speech)
        if engine not in ("local", "ray"):
            raise BadValue(f"engine must be local or ray, not {engine!r}")
        if ray_address and engine != "ray":
            raise BadValue("a Ray address is for the Ray engine (--engine ray)")
        run = None
        if engine == "ray":
            from footage.indexer import distributed  # imports Ray only when it is asked for

            run = distributed.engine(ray_address, self.path)  # Ray not installed: said before any model loads
        if self._store is None:
            self._store = Store(self.path, create=True, db=self.db)
            self._attach()
        if self.store.cannot_write:  # before any model loads
            raise self.store.cannot_write
        stored = Settings.read(self.store.meta)  # as the library has them now (another process may have indexed)
        use = replace(
            self.settings, speech=stored.speech if speech is None else speech, ocr=stored.ocr if ocr is None else ocr
        )
        check_speech(use.speech)
        try:  # a setting that cannot work is refused before it is stored
            if use.ocr:
                check_ocr()
            transcriber = speech_model(
                use, cache_dir(self.path), pipeline.INFERENCE_THREADS, self.models.backbone.device
            )
        except ModelError as e:
            was = "this run's" if (speech, ocr) != (None, None) else "the library's"
            way = "--no-ocr" if use.ocr and "rapidocr" in str(e) else "--speech tiny or --speech off"
            raise ModelError(f"{e}; {was} setting needs it (index with {way} to change it)") from None
        with self.store.writing():
            for key, value in use.meta().items():
                if key in ("speech", "ocr") and value != stored.meta()[key]:
                    self.store.set_meta(key, value)
            self.models = replace(self.models, settings=use)
            if views is not None and tuple(views) != use.views:
                self._set_views(views)
            return pipeline.index(self.store, self.models, paths, on_progress, transcriber, prune, within, run)

    def check_paths(self, paths: Iterable[str | Path]) -> list[str | Path]:
        """The paths an index run is given, refused with BadValue when one is empty (an unset shell variable),
        holds a NUL byte, or lies inside the library's own folder (but for `watch`'s recordings/)."""
        paths = list(paths)
        recordings = resolve(self.path / RECORDINGS)
        for p in paths:
            if not str(p).strip():
                raise BadValue("an empty path (an unset shell variable?): name the files and folders to index")
            where = resolve(expand(p).absolute())
            if where.is_relative_to(self.path) and not where.is_relative_to(recordings):
                raise BadValue(f"{p}: is inside the library's own folder; index your videos, not the library")
        return paths

    def writer(self) -> None:
        """Raises why the library cannot be indexed now: read-only, a full disk, another process writing."""
        if self._store is None:
            return
        if self._store.cannot_write:
            raise self._store.cannot_write
        try:
            free = self._store.lock.acquire()
        except OSError:
            free = True  # the run says why
        if not free:
            raise LibraryBusy(f"{self.path}: another footage process (pid {self._store.lock.holder()}) is writing")
        self._store.lock.release()

    def search(
        self,
        text: str,
        top_k: int = 10,
        rerank: bool = False,
        captions: bool = True,
        mode: str = "all",
        offline: bool = False,
        under: str | Path | None = None,
        min_score: float | None = None,
        per_video: int | None = PER_VIDEO,
    ) -> list[Hit]:
        """The top_k best-matching time ranges, best first. `mode` is the channel searched: "visual" (the
        pictures), "speech" (what is said or subtitled, by meaning), "text" (the same words, by keyword) or
        "all" of them fused by reciprocal rank. `rerank` re-scores the nearest segments with the
        query-conditioned predictor (it attends to the frames the query is about: it finds a second-long
        moment inside a long segment, but did not raise MRR on the annotated sample footage). `captions`
        decodes a caption for each hit returned (cached in the library per segment). `offline` includes videos
        whose files were missing at the last `index` (hits say `offline`); `under` keeps to the videos under a
        folder; `min_score` drops hits scoring below it (a cosine for one channel, a fused score for `all`);
        `per_video` keeps at most that many hits of one video (None: all), the rest counted in `Hit.more`."""
        # a query read from a command line in a C locale carries its UTF-8 bytes as surrogates
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if not text.strip():
            raise BadValue("an empty query: describe what to look for")
        if len(text) > MAX_QUERY_CHARS:
            raise BadValue(f"a query of {len(text):,} characters; at most {MAX_QUERY_CHARS:,}")
        scope = self._scope(offline, under)
        return self._search(text, None, top_k, rerank, captions, mode, scope, min_score, per_video)

    def search_like(
        self,
        segment_id: int,
        top_k: int = 10,
        captions: bool = True,
        offline: bool = False,
        under: str | Path | None = None,
        min_score: float | None = None,
    ) -> list[Hit]:
        """More like this: the moments whose pictures are nearest a segment's own vector (the segment itself
        left out). Raises NotFound for a segment the library does not have."""
        vector = self.store.vectors([segment_id]).get(segment_id) if _valid_id(segment_id) else None
        if vector is None:
            raise NotFound(f"segment {segment_id}: not in the library")
        scope = self._scope(offline, under, exclude=frozenset({segment_id}))
        return self._search(None, vector, top_k, False, captions, "visual", scope, min_score, None)

    def search_image(
        self,
        image: bytes | str | Path,
        top_k: int = 10,
        captions: bool = True,
        offline: bool = False,
        under: str | Path | None = None,
        min_score: float | None = None,
    ) -> list[Hit]:
        """The moments that look like a picture (JPEG, PNG, WebP... bytes or a file): it is embedded as a frame
        is, by the X-encoder and the predictor, and the pictures are searched with it. Raises BadValue for
        what is not a picture."""
        try:
            data = image if isinstance(image, bytes) else expand(image).read_bytes()
        except OSError as e:
            raise BadValue(f"{image}: {e.strerror}") from None
        backbone = self.models.backbone
        frame = frame_of(data, backbone.image_size)
        with backbone.threads(pipeline.INFERENCE_THREADS):
            tokens, _ = backbone.embed_frames(frame[None])  # (1, T)
        vector = self.models.predict([tokens])[0]  # (D,) as a one-frame segment
        scope = self._scope(offline, under)
        return self._search(None, vector, top_k, False, captions, "visual", scope, min_score, PER_VIDEO)

    def _scope(self, offline: bool, under: str | Path | None, exclude: frozenset[int] = frozenset()) -> Scope:
        """What a search looks through: offline videos or not, only the videos under a folder."""
        videos = None
        if under is not None:
            if not str(under).strip():
                raise BadValue("an empty folder to search under")
            root = expand(under).absolute()
            roots = {root, resolve(root)}
            videos = frozenset(
                v.id for v in self.store.videos().values() if any(Path(v.path).is_relative_to(r) for r in roots)
            )
        return Scope(offline=offline, videos=videos, exclude=exclude)

    def _search(self, text, vector, top_k, rerank, captions, mode, scope, min_score, per_video) -> list[Hit]:
        if not (isinstance(top_k, int) and 1 <= top_k <= MAX_TOP_K):
            raise BadValue(f"top_k must be between 1 and {MAX_TOP_K:,}, not {top_k}")
        if per_video is not None and not (isinstance(per_video, int) and per_video >= 1):
            raise BadValue(f"per_video must be 1 or more (None: no limit), not {per_video}")
        hits = search(
            self.store, self.models, text, top_k, rerank, mode=mode, scope=scope, vector=vector, per_video=per_video
        )
        if min_score is not None:
            hits = [h for h in hits if h.score >= min_score]
        if captions and hits:
            caption(self.store, self.decoder, hits, self.models)
        return hits

    def videos(self, offset: int = 0, limit: int = 100) -> tuple[list[VideoRow], int]:
        """A page of the library's videos by path, and how many there are in all."""
        return self.store.video_rows(offset, limit)

    def video(self, video_id: int, timeline: bool = True) -> tuple[VideoRow, list[Event]]:
        """One video and its timeline (the events of `describe`, read from the cached frames)."""
        row = self.store.video_row(video_id) if _valid_id(video_id) else None
        if row is None:
            raise NotFound(f"video {video_id}: not in the library")
        events = self.describe(row.path) if timeline and row.segments else []
        return row, events

    def media(self, video_id: int) -> Media:
        """The file of an indexed video, opened to be served: the very file that was indexed, at its path with no
        link on the way (it was stored with links resolved), with the same inode, size, mtime and ctime.
        Raises NotFound saying why otherwise: a file moved, deleted, edited in place, replaced (rsync, a hard
        link), or reached through a link swapped in since. The caller closes it."""
        row = self.store.video_row(video_id) if _valid_id(video_id) else None
        if row is None or row.status != "indexed":
            raise NotFound(f"video {video_id}: not in the library")
        path = Path(row.path)
        if os.path.realpath(path) != str(path):
            raise NotFound(f"video {video_id}: a link now stands on the way to its file; index it again")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            raise NotFound(f"video {video_id}: its file is gone from {row.path}") from None
        st = os.fstat(fd)
        indexed = (row.size, row.mtime, row.inode or st.st_ino, row.ctime or st.st_ctime)
        if not stat.S_ISREG(st.st_mode) or (st.st_size, st.st_mtime, st.st_ino, st.st_ctime) != indexed:
            os.close(fd)
            raise NotFound(f"video {video_id}: its file changed since it was indexed; index it again")
        return Media(path, fd, st.st_size, row.start_time or 0.0)

    def thumbnail(self, segment_id: int) -> Path:
        """A segment's thumbnail (a JPEG in the library); NotFound when it has none."""
        row = self.store.segments([segment_id]).get(segment_id) if _valid_id(segment_id) else None
        if row is None or row.thumbnail is None:
            raise NotFound(f"segment {segment_id}: no thumbnail")
        return Path(row.thumbnail)

    def clip(self, video_id: int, start: float, end: float, to: str | Path, pad: float = 0.0) -> Path:
        """Writes the moment start..end (widened by `pad` seconds each side, at most MAX_CLIP_SECONDS) of a
        video as an MP4 at `to`: the stream copied when the cut falls on a keyframe, else re-encoded."""
        if not all(math.isfinite(x) for x in (start, end, pad)) or start < 0 or end <= start or pad < 0:
            raise BadValue(f"a clip needs 0 <= start < end and pad >= 0, not {start}, {end}, {pad}")
        if end - start + 2 * pad > MAX_CLIP_SECONDS:
            raise BadValue(f"a clip of {end - start + 2 * pad:.0f} s; at most {MAX_CLIP_SECONDS} s")
        row = self.store.video_row(video_id) if _valid_id(video_id) else None
        if row is not None and row.duration is not None and start >= row.duration:
            raise BadValue(f"a clip from {start:g} s: video {video_id} ends at {row.duration:.1f} s")
        with self.media(video_id) as source:  # ffmpeg reads the file checked, by its descriptor
            offset = source.start_time  # hits count from the first frame; the file's clock may not start at 0
            return cut(source.fd, max(0.0, start - pad) + offset, end + pad + offset, Path(to))

    def export(self, query: str, to: str | Path, top_k: int = 10, mode: str = "all", pad: float = 0.0) -> list[Path]:
        """The top_k hits of a search, each written as a clip into the folder `to` (made if needed), named
        NN-VIDEO-FROM-TO.mp4; hits whose files are gone are left out."""
        folder = expand(to)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise disk_full(e, folder) from None
        written = []
        for rank, hit in enumerate(self.search(query, top_k=top_k, mode=mode, captions=False), 1):
            name = f"{rank:02d}-{Path(hit.path).stem[:60]}-{hit.start:.1f}-{hit.end:.1f}.mp4"
            try:
                written.append(self.clip(hit.video_id, hit.start, hit.end, folder / name, pad))
            except NotFound:
                continue
        return written

    def watch(
        self,
        source: str,
        alerts: Iterable[str] = (),
        on_event: Callable[[dict], None] = print,
        threshold: float = THRESHOLD,
        fps: float = 1.0,
        realtime: bool = False,
        stop: threading.Event | None = None,
        said: Callable[[str], None] | None = None,
        webhook: str | None = None,
        record: bool = False,
        keep: float | None = None,
        hold: float = HOLD_SECONDS,
    ) -> None:
        """Watches a live source (anything ffmpeg reads live, or a file played at its own speed with `realtime`)
        until `stop` is set, or a file played once ends. `on_event(message)` gets a dict as each thing happens:
        {"type": "event", "start", "end", "caption"} when a stretch of stable meaning closes (captioned once),
        {"type": "alert", "query", "start", "score", "caption"} when a standing query starts matching (at
        `threshold` or more, with hysteresis: a lasting match is one alert) and {"type": "alert_end", "query",
        "start", "end", "score"} when it stops (after scoring under threshold - 0.05 for `hold` seconds).
        When the stream drops, the event and the alerts under way end at its last picture, and {"type": "gap",
        "start", "end"} says when pictures come back: no event spans a gap. Times are seconds since watching
        started; "wall" is the UTC time. Raises BadValue at once for a source that cannot be a stream or a
        video (a folder, /dev/zero, a port out of range). `said(message)` hears of drops and reconnections
        (stderr in the CLI). `webhook` is a URL each message is also POSTed to as JSON, from a thread of its
        own (retried; never holding the stream; what is still queued when watching stops is sent for a few
        seconds, and what could not be is said). `record`
        copies the stream into a new file a minute in the library's recordings/ folder and indexes each one
        finished (the last, cut short, when watching stops), so search finds recent footage; `keep` (seconds)
        drops recordings older than that, from the library and the disk."""
        stream.check(source)
        queries = [q.strip() for q in alerts]
        if any(not q for q in queries):
            raise BadValue("an empty --alert: say what to look for")
        if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
            raise BadValue(f"fps must be a number above 0 and at most {MAX_FPS:g}, not {fps}")
        models, backbone = self.models, self.models.backbone
        vectors = np.stack([backbone.embed_query(q) for q in queries]) if queries else np.zeros((0, backbone.dim))
        if not (math.isfinite(hold) and hold >= 0):
            raise BadValue(f"hold must be a number of seconds, 0 or more, not {hold}")
        standing = Alerts(queries, vectors, threshold, hold)
        events = Events(self.decoder)
        if keep is not None and not (math.isfinite(keep) and keep > 0):
            raise BadValue(f"keep must be a positive number of seconds, not {keep}")
        hook = Webhook(webhook, said) if webhook else None
        folder = self.path / RECORDINGS if record else None
        recordings = None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            say = said or (lambda message: None)
            recordings = stream.Recordings(folder, self.index, self.remove, keep, say)
        t = 0.0

        def emit(kind: str, **fields) -> None:
            wall = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
            message = {"type": kind, **{k: round(v, 3) if isinstance(v, float) else v for k, v in fields.items()}}
            message["wall"] = wall
            on_event(message)
            if hook:
                hook(message)

        def ended(alert) -> None:
            emit("alert_end", query=alert.query, start=alert.start, end=alert.end, score=alert.score)

        def closed(event) -> None:
            if event is not None:
                emit("event", start=event.start, end=event.end, caption=event.caption)

        with backbone.threads(pipeline.INFERENCE_THREADS):
            frames = stream.frames(source, fps, backbone.image_size, realtime, stop, said, folder)
            try:
                gap_from = None  # the last picture before the stream dropped, until pictures come back
                for item in frames:
                    if isinstance(item, stream.Dropped):  # what was under way ends at the last picture
                        closed(events.flush(item.last))
                        for alert in standing.flush(item.last):
                            ended(alert)
                        gap_from = item.last
                        continue
                    t, frame = item
                    if gap_from is not None:
                        emit("gap", start=gap_from, end=t)
                        gap_from = None
                    tokens, _ = backbone.embed_frames(frame[None])
                    vector = models.predict([tokens])[0]  # (D,) the frame alone in Y space
                    started, stopped = standing.add(t, vector)
                    for alert in started:
                        caption = self.decoder(vector[None])[0]
                        emit("alert", query=alert.query, start=t, score=alert.score, caption=caption)
                    for alert in stopped:
                        ended(alert)
                    closed(events.add(t, vector))
                closed(events.flush(t))
                for alert in standing.flush(t):
                    ended(alert)
            finally:
                frames.close()  # ffmpeg stopped: the last recording is complete as far as it goes
                if hook:
                    hook.close()
                if recordings is not None:
                    recordings.close()  # indexes what is left

    def describe(self, path: str | Path, uniform: float | None = None) -> list[Event]:
        """A video's timeline: events (start, end, caption), one caption per stretch of stable meaning
        (selective decoding), or one per 1/uniform seconds. Uses the library's cached frame tokens when the
        video is indexed (offline too), else decodes it (raises VideoError when it cannot). `uniform` is at most
        MAX_FPS: decoding more often than frames were sampled says nothing new."""
        if not str(path).strip():
            raise BadValue("an empty path (an unset shell variable?): name the video to describe")
        if uniform is not None and not (math.isfinite(uniform) and 0 < uniform <= MAX_FPS):
            raise BadValue(f"uniform must be a rate above 0 and at most {MAX_FPS:g} per second, not {uniform}")
        target = expand(path).absolute()
        found = None
        if self._store is not None:
            found = self._store.frames(str(target)) or self._store.frames(str(resolve(target)))
        if found is not None:
            times, tokens, end = found
        else:
            times, tokens, end = pipeline.embed_file(target, self.models.backbone, self.fps)
        vectors = self.models.predict([t[None] for t in tokens])  # (N, D) each frame alone in Y space
        if uniform:
            spans, chosen = timeline.uniform(times, vectors, end, uniform)
        else:
            spans, chosen = timeline.selective(times, vectors, end)
        return [Event(a, b, text) for (a, b), text in zip(spans, self.decoder(chosen))]

    def evaluate(
        self, pairs: str | Path | list[Pair], rerank: bool = False, mode: str = "all", per_video: int | None = PER_VIDEO
    ) -> Scores:
        """R@1, R@5 and MRR of this library's search on labelled pairs (a JSON Lines file or a list). Pairs of
        videos the library has not indexed are left out and named in `Scores.skipped`."""
        pairs = pairs if isinstance(pairs, list) else read_pairs(pairs)
        kept, skipped = self._indexed_pairs(pairs)
        scores = evaluate(
            kept,
            lambda text, k: self.search(text, top_k=k, rerank=rerank, captions=False, mode=mode, per_video=per_video),
        )
        scores.skipped = skipped
        return scores

    def _indexed_pairs(self, pairs: list[Pair]) -> tuple[list[Pair], list[str]]:
        """The pairs whose videos are indexed, and the videos of the others; FootageError when none are."""
        indexed = {path for path, v in self.store.videos().items() if v.status == "indexed"}
        kept = [p for p in pairs if p.path in indexed]
        skipped = sorted({p.path for p in pairs} - indexed)
        if pairs and not kept:
            raise FootageError(
                f"none of the {len(pairs)} pairs' videos are in the library (e.g. {skipped[0]}); run footage "
                "index first"
            )
        return kept, skipped

    def train(
        self,
        pairs: str | Path | list[Pair],
        epochs: int = 100,
        holdout: float = 0.2,
        seed: int = 0,
        on_epoch: Callable[[int, float], None] | None = None,
        held_out: list[Pair] | None = None,
    ) -> TrainReport:
        """Fits the predictor on labelled pairs from the cached frame tokens (no decoding), scores held-out
        pairs before and after, and keeps the new predictor only if held-out MRR does not drop. Kept, it gets
        the next version number in the library and every segment vector is recomputed with it. `held_out`
        replaces the random split (then all `pairs` are trained on)."""
        pairs = pairs if isinstance(pairs, list) else read_pairs(pairs)
        pairs, skipped = self._indexed_pairs(pairs)
        if held_out is not None:  # a split chosen by the caller (k-fold in bench/train_eval.py)
            held, train = held_out, pairs
        else:
            order = random.Random(seed).sample(pairs, len(pairs))
            n_held = round(len(pairs) * holdout) if holdout > 0 else 0
            held, train = order[:n_held], order[n_held:]
        if len(train) < 2 or (holdout > 0 and not held):
            raise FootageError(f"{len(pairs)} pairs are too few to train on with a {holdout:.0%} held-out part")
        tokens = [self.store.tokens_in_range(p.path, p.start, p.end) for p in train]
        from footage.models.train import fit_predictor  # torch: only when training

        with self.store.writing():
            before = self.evaluate(held, mode="visual") if held else None  # what training changes
            backbone = self.models.backbone
            start = backbone.untrained.weight  # None: the identity
            texts = backbone.y([p.text for p in train])  # (P, D)
            fit = fit_predictor(tokens, texts, epochs, on_epoch, start, device=backbone.device)
            candidate = Predictor(self.models.predictor.config, fit.weight, fit.bias)
            ids, token_sets = self.store.all_frame_tokens()
            vectors, views = self._pooled(token_sets, self.models, candidate)  # scored, then stored when kept
            after = self._score(ids, vectors, views, held) if held else None
            kept = after is None or after.mrr >= before.mrr
            version = self.settings.predictor_version + 1 if kept else None
            phrases = json.loads(self.store.meta("phrases") or "[]")  # the decoder learns the user's words, kept or not
            meta = {"phrases": json.dumps(sorted({*phrases, *(p.text for p in pairs)}))}
            if kept:
                checkpoint = self.path / "predictors" / f"v{version}.npz"
                try:
                    checkpoint.parent.mkdir(exist_ok=True)
                    candidate.save(checkpoint)
                except OSError as e:
                    raise disk_full(e, checkpoint) from None
                info = {
                    "version": version,
                    "pairs": len(train),
                    "held_out": len(held),
                    "epochs": epochs,
                    "mrr_before": before.mrr if before else None,
                    "mrr_after": after.mrr if after else None,
                    "trained_at": time.time(),
                }
                meta["predictor"] = json.dumps(info)
                trained = replace(
                    self.models, settings=replace(self.settings, predictor_version=version), predictor=candidate
                )
                # the predictor, its vectors and the phrases in one transaction
                self.store.replace_vectors(ids, vectors, trained.model_id, views, meta=meta)
                self.models = trained
                self.store.flush()
            else:
                self.store.set_meta("phrases", meta["phrases"])
            self._phrases = None
        return TrainReport(len(train), len(held), fit.losses, before, after, kept, version, skipped)

    def evaluate_predictor(self, predictor: Predictor, pairs: list[Pair]) -> Scores:
        """Scores a candidate predictor on labelled pairs without changing the library: every segment's
        vector is recomputed from the cached tokens into a FAISS index of its own."""
        ids, token_sets = self.store.all_frame_tokens()
        return self._score(ids, *self._pooled(token_sets, self.models, predictor), pairs)

    def _score(self, ids: list[int], vectors: np.ndarray, views: np.ndarray | None, pairs: list[Pair]) -> Scores:
        """Visual search's scores on pairs with these segment vectors in place of the library's."""
        trial = VectorIndex(self.models.backbone.dim)
        trial.add(*faiss_entries(ids, vectors, views))
        return evaluate(pairs, lambda text, k: search(self.store, self.models, text, k, index=trial, mode="visual"))

    @staticmethod
    def _pooled(token_sets: list[np.ndarray], models: Models, predictor: Predictor | None = None):
        """Segments' vectors (S, D) and views (S, V, D) or None, pooled by `models` (with `predictor` in place of
        theirs if given), 1024 segments at a time."""
        if not token_sets:
            return np.zeros((0, models.backbone.dim), np.float32), None
        parts = [models.pool(token_sets[i : i + 1024], predictor) for i in range(0, len(token_sets), 1024)]
        views = np.concatenate([v for _, v in parts]) if models.settings.views else None
        return np.concatenate([p for p, _ in parts]), views

    def remove(
        self, path: str | Path, dry_run: bool = False, confirm: Callable[[list[str]], bool] | None = None
    ) -> list[str]:
        """Drops a file, or every file under a folder, from the library (offline ones too); returns the paths
        dropped. `dry_run` only lists them. `confirm(paths)` is asked, under the lock, before more than one
        video goes; when it says no, nothing goes and [] is returned. An empty path is refused: it is what an
        unset shell variable gives, not a wish to empty the library."""
        if not str(path).strip():
            raise BadValue("an empty path (an unset shell variable?): name the file or folder to remove")
        target = expand(path).absolute()

        def under(videos, root: Path) -> list:  # is_relative_to is also true of the path itself
            return [v for v in videos if Path(v.path).is_relative_to(root)]

        def chosen() -> list:
            videos = self.store.videos().values()
            found = under(videos, target) or under(videos, resolve(target))
            if not found and target.is_dir():  # a folder of links: the videos they lead to
                linked = {str(f) for f in pipeline.scan([target], skip=self.path).files}
                found = [v for v in videos if v.path in linked]
            return found

        if dry_run:
            return sorted(v.path for v in chosen())
        with self.store.writing():
            gone = chosen()
            paths = sorted(v.path for v in gone)
            if len(gone) > 1 and confirm is not None and not confirm(paths):
                return []
            self.store.remove([v.id for v in gone])
            self.store.flush()
        return paths

    def stats(self) -> Stats:
        return self.store.stats()

    @staticmethod
    def repair(path: str | Path | None = None, db: str | None = None) -> Repaired:
        """Checks the library at `path` and rebuilds a damaged database from what can still be read, keeping
        the damaged file beside it (library.db.damaged-DATE); videos that cannot be recovered whole are left
        for the next `index` to read again."""
        return repair_store(library_path(path if path else default_path()), db)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
