"""Library: the one object a media tool (or the CLI) needs. Index folders, search them, see what is inside."""

import json
import math
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from footage import browse, indexing, training, videos
from footage.errors import BadValue, LibraryError, NoLibrary, NotFound
from footage.files import cache_dir, expand
from footage.indexer import pipeline
from footage.indexer.decode import frame_of
from footage.indexer.pipeline import Progress
from footage.indexer.scan import IndexReport
from footage.models import Backbone, Models, load
from footage.models.predictor import Predictor
from footage.models.runtime import check as check_device
from footage.models.runtime import resolve as resolve_device
from footage.models.y_decoder import PhraseDecoder
from footage.search import Hit
from footage.search.alerts import HOLD_SECONDS, THRESHOLD
from footage.search.engine import PER_VIDEO, caption, search
from footage.search.evaluate import Pair, Scores, evaluate, read_pairs
from footage.search.filters import Filters
from footage.search.timeline import Event
from footage.settings import DEFAULT_BACKBONE, MAX_FPS, MAX_QUERY_CHARS, Settings
from footage.store import Stats, Store
from footage.store.postgres import BINDING
from footage.store.repair import Repaired
from footage.store.repair import repair as repair_store
from footage.store.store import Scope, VideoRow, library_path
from footage.training import Feedback, TrainReport
from footage.videos import Media, valid_id
from footage.watch import watch

DEFAULT_LIBRARY = Path("~/.footage")
MAX_TOP_K = 10_000


def default_path() -> Path:
    """$FOOTAGE_LIBRARY, else ~/.footage."""
    return expand(os.environ.get("FOOTAGE_LIBRARY") or DEFAULT_LIBRARY)


class Library(Feedback):  # marks on hits and training on them: Feedback, in footage/training.py
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
        paths = self.check_paths(paths)
        run = indexing.check_run(self.path, views, speech, engine, ray_address)
        if self._store is None:
            self._store = Store(self.path, create=True, db=self.db)
            self._attach()
        if self.store.cannot_write:  # before any model loads
            raise self.store.cannot_write
        stored = Settings.read(self.store.meta)  # as the library has them now (another process may have indexed)
        use, transcriber = indexing.run_settings(self.path, self.settings, stored, speech, ocr, self.backbone.device)
        with self.store.writing():
            for key, value in use.meta().items():
                if key in ("speech", "ocr") and value != stored.meta()[key]:
                    self.store.set_meta(key, value)
            if self.store.meta("experts") is None:  # fixed when the library is made (Settings.read)
                self.store.set_meta("experts", use.meta()["experts"])
            self.models = replace(self.models, settings=use)
            if views is not None and tuple(views) != use.views:
                self.models = training.set_views(self.store, self.models, views)
            return pipeline.index(self.store, self.models, paths, on_progress, transcriber, prune, within, run)

    def check_paths(self, paths: Iterable[str | Path]) -> list[str | Path]:
        """The paths an index run is given, refused with BadValue when one is empty (an unset shell variable),
        holds a NUL byte, or lies inside the library's own folder (but for `watch`'s recordings/)."""
        return indexing.check_paths(self.path, paths)

    def writer(self) -> None:
        """Raises why the library cannot be indexed now: read-only, a full disk, another process writing."""
        if self._store is not None:
            indexing.check_writable(self._store)

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
        filters: Filters | None = None,
        min_relevance: float = 0.0,
        cutoff: bool = True,
    ) -> list[Hit]:
        """The top_k best-matching time ranges, best first. `mode` is the channel searched: "visual" (the
        pictures), "speech" (what is said or subtitled, by meaning), "text" (the same words, by keyword) or
        "all" of them fused by reciprocal rank. `rerank` re-scores the nearest segments with the
        query-conditioned predictor (it attends to the frames the query is about: it finds a second-long
        moment inside a long segment, but did not raise MRR on the annotated sample footage). `captions`
        decodes a caption for each hit returned (cached in the library per segment). `offline` includes videos
        whose files were missing at the last `index` (hits say `offline`); `under` keeps to the videos under a
        folder; `min_score` drops hits scoring below it (a cosine for one channel, a fused score for `all`);
        `per_video` keeps at most that many hits of one video (None: all), the rest counted in `Hit.more`;
        `filters` narrows it further (Filters: the files' dates, the videos' lengths, one video, what found it).
        `cutoff` hides what no channel found above its floor (engine.FLOORS: nonsense finds nothing; False: all
        of it), `min_relevance` (0 to 1) the hits less relevant than that (Hit.relevance)."""
        # a query read from a command line in a C locale carries its UTF-8 bytes as surrogates
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if not text.strip():
            raise BadValue("an empty query: describe what to look for")
        if len(text) > MAX_QUERY_CHARS:
            raise BadValue(f"a query of {len(text):,} characters; at most {MAX_QUERY_CHARS:,}")
        scope = self._scope(offline, under, filters=filters)
        rest = dict(filters=filters, cutoff=cutoff, min_relevance=min_relevance)
        return self._search(text, None, top_k, rerank, captions, mode, scope, min_score, per_video, **rest)

    def search_like(
        self,
        segment_id: int,
        top_k: int = 10,
        captions: bool = True,
        offline: bool = False,
        under: str | Path | None = None,
        min_score: float | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        """More like this: the moments whose pictures are nearest a segment's own vector (the segment itself
        left out). Raises NotFound for a segment the library does not have."""
        if not valid_id(segment_id):
            raise NotFound(f"segment {segment_id}: not in the library")
        scope = self._scope(offline, under, exclude=frozenset({segment_id}), filters=filters)
        return self._search(
            None, None, top_k, False, captions, "visual", scope, min_score, None, like=segment_id, filters=filters
        )

    def search_image(
        self,
        image: bytes | str | Path,
        top_k: int = 10,
        captions: bool = True,
        offline: bool = False,
        under: str | Path | None = None,
        min_score: float | None = None,
        filters: Filters | None = None,
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
        scope = self._scope(offline, under, filters=filters)
        return self._search(
            None, vector, top_k, False, captions, "visual", scope, min_score, PER_VIDEO, filters=filters
        )

    def _scope(
        self, offline: bool, under: str | Path | None, exclude: frozenset[int] = frozenset(), filters=None
    ) -> Scope:
        """What a search looks through (Filters.scope)."""
        return (filters or Filters()).scope(offline, under, exclude)

    def _search(
        self, text, vector, top_k, rerank, captions, mode, scope, min_score, per_video, like=None, filters=None, **cut
    ):
        if not (isinstance(top_k, int) and 1 <= top_k <= MAX_TOP_K):
            raise BadValue(f"top_k must be between 1 and {MAX_TOP_K:,}, not {top_k}")
        if per_video is not None and not (isinstance(per_video, int) and per_video >= 1):
            raise BadValue(f"per_video must be 1 or more (None: no limit), not {per_video}")
        found_by = filters.found_by if filters is not None else ()
        kwargs = dict(mode=mode, scope=scope, vector=vector, per_video=per_video, like=like, found_by=found_by, **cut)
        hits = search(self.store, self.models, text, top_k, rerank, **kwargs)
        if min_score is not None:
            hits = [h for h in hits if h.score >= min_score]
        if captions and hits:
            caption(self.store, self.decoder, hits, self.models)
        return hits

    def videos(self, offset: int = 0, limit: int = 100, recent: bool = False) -> tuple[list[VideoRow], int]:
        """A page of the library's videos by path (`recent`: the last indexed first), and how many there are in
        all. A row's `cover` is the segment whose thumbnail shows the video."""
        return self.store.video_rows(offset, limit, recent=recent)

    def video(self, video_id: int, timeline: bool = True) -> tuple[VideoRow, list[Event]]:
        """One video and its timeline (the events of `describe`, read from the cached frames)."""
        row = self.store.video_row(video_id) if valid_id(video_id) else None
        if row is None:
            raise NotFound(f"video {video_id}: not in the library")
        events = self.describe(row.path) if timeline and row.segments else []
        browse.show(self.store, video_id, events)
        return row, events

    def moment(self, segment_id: int) -> Hit:
        """One segment as a captioned hit: where "more like this" started. NotFound when it is not there."""
        if not valid_id(segment_id):
            raise NotFound(f"segment {segment_id}: not in the library")
        hit = browse.moment(self.store, segment_id)
        self.caption([hit])
        return hit

    def caption(self, hits: list[Hit]) -> None:
        """Decodes the captions of hits searched with captions=False (a page shows a few of many found)."""
        if hits:
            caption(self.store, self.decoder, hits, self.models)

    def keep_picture(self, data: bytes) -> str:
        """Keeps a picture searched with (JPEG, PNG or WebP bytes) in the library, named by its content, so that
        its search can be named and shared; returns the name (16 hex digits) `picture` takes."""
        return browse.keep_picture(self.store, data)

    def picture(self, name: str) -> Path:
        """The file of a picture keep_picture kept; NotFound when there is none by that name."""
        return browse.picture(self.path, name)

    def media(self, video_id: int) -> Media:
        """The file of an indexed video, opened to be served: the very file that was indexed, at its path with no
        link on the way (it was stored with links resolved), with the same inode, size, mtime and ctime.
        Raises NotFound saying why otherwise: a file moved, deleted, edited in place, replaced (rsync, a hard
        link), or reached through a link swapped in since. The caller closes it."""
        return videos.open_video(self.store, video_id)

    def thumbnail(self, segment_id: int) -> Path:
        """A segment's thumbnail (a JPEG in the library); NotFound when it has none."""
        row = self.store.segments([segment_id]).get(segment_id) if valid_id(segment_id) else None
        if row is None or row.thumbnail is None:
            raise NotFound(f"segment {segment_id}: no thumbnail")
        return Path(row.thumbnail)

    def clip(self, video_id: int, start: float, end: float, to: str | Path, pad: float = 0.0) -> Path:
        """Writes the moment start..end (widened by `pad` seconds each side, at most MAX_CLIP_SECONDS) of a
        video as an MP4 at `to`: the stream copied when the cut falls on a keyframe, else re-encoded."""
        return videos.clip(self.store, video_id, start, end, Path(to), pad)

    def export(self, query: str, to: str | Path, top_k: int = 10, mode: str = "all", pad: float = 0.0) -> list[Path]:
        """The top_k hits of a search, each written as a clip into the folder `to` (made if needed), named
        NN-VIDEO-FROM-TO.mp4; hits whose files are gone are left out."""
        return videos.export(self.store, self.search(query, top_k=top_k, mode=mode, captions=False), to, pad)

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
        watch(self, source, alerts, on_event, threshold, fps, realtime, stop, said, webhook, record, keep, hold)

    def describe(self, path: str | Path, uniform: float | None = None) -> list[Event]:
        """A video's timeline: events (start, end, caption), one caption per stretch of stable meaning
        (selective decoding), or one per 1/uniform seconds. Uses the library's cached frame tokens when the
        video is indexed (offline too), else decodes it (raises VideoError when it cannot). `uniform` is at most
        MAX_FPS: decoding more often than frames were sampled says nothing new."""
        return videos.describe(self._store, self.models, self.decoder, path, uniform)

    def evaluate(
        self, pairs: str | Path | list[Pair], rerank: bool = False, mode: str = "all", per_video: int | None = PER_VIDEO
    ) -> Scores:
        """R@1, R@5 and MRR of this library's search on labelled pairs (a JSON Lines file or a list). Pairs of
        videos the library has not indexed are left out and named in `Scores.skipped`. Ranks before the cut-off."""
        pairs = pairs if isinstance(pairs, list) else read_pairs(pairs)
        kept, skipped = training.indexed_pairs(self.store, pairs)
        scores = evaluate(
            kept,
            lambda text, k: self.search(text, k, rerank, False, mode, per_video=per_video, cutoff=False),
        )
        scores.skipped = skipped
        return scores

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
        pairs, skipped = training.indexed_pairs(self.store, pairs)
        with self.store.writing():
            report, trained = training.train(
                self.store, self.models, self.path, pairs, epochs, holdout, seed, on_epoch, held_out,
                lambda held: self.evaluate(held, mode="visual"),
            )  # fmt: skip
            self.models = trained or self.models
            self._phrases = None  # the decoder learnt the pairs' words, kept or not
        report.skipped = skipped
        return report

    def evaluate_predictor(self, predictor: Predictor, pairs: list[Pair]) -> Scores:
        """Scores a candidate predictor on labelled pairs without changing the library: every segment's
        vector is recomputed from the cached tokens into a FAISS index of its own."""
        ids, token_sets = self.store.all_frame_tokens()
        return training.score(self.store, self.models, ids, *training.pooled(token_sets, self.models, predictor), pairs)

    def remove(
        self, path: str | Path, dry_run: bool = False, confirm: Callable[[list[str]], bool] | None = None
    ) -> list[str]:
        """Drops a file, or every file under a folder, from the library (offline ones too); returns the paths
        dropped. `dry_run` only lists them. `confirm(paths)` is asked, under the lock, before more than one
        video goes; when it says no, nothing goes and [] is returned. An empty path is refused: it is what an
        unset shell variable gives, not a wish to empty the library."""
        return indexing.remove(self.store, self.path, path, dry_run, confirm)

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
