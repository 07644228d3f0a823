"""The store's writes (the caller holds the write lock): a video's segments and text chunks in one
transaction, failures, moves, offline marks, removals, thumbnails and the captions cache. A mixin of Store
(footage/store/store.py); each change commits to the database, then is mirrored in FAISS (maintenance.py)."""

import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from footage.errors import FootageError, LibraryBusy, NotFound
from footage.store.rows import (
    REPAIR_BATCH,
    TEXT_ID_BASE,
    FileFacts,
    NewChunk,
    NewSegment,
    disk_full,
    faiss_entries,
    guarded,
    video_vector,
)
from footage.store.schema import BUSY_TIMEOUT_MS, Caption, FeedbackMark, Segment, TextChunk, Video

CACHE_WAIT_MS = 200  # how long caching captions waits for a writer before it lets the cache be
MARK_WAIT_MS = 3_000  # how long a mark waits for a writer before it says the library is busy


class Writes:
    """Store's writes (self is a Store: its Session, index and encodings are in store.py)."""

    def save_video(
        self,
        facts: FileFacts,
        segments: list[NewSegment],
        model_id: str,
        chunks: list[NewChunk] = (),
        warning: str | None = None,
    ) -> int:
        """Replaces whatever the library had for this path with these segments and text chunks, in one
        transaction. `warning` says what is missing from it ("partial: ...")."""
        video = self.begin_video(facts, model_id)
        try:
            video.add(segments)
        except BaseException:
            video.abort()
            raise
        return video.finish(facts, chunks, warning)

    def begin_video(self, facts: FileFacts, model_id: str) -> "VideoWrite":
        """A video written in one transaction, its segments added in batches as they are made (a long file's
        pictures never wait in memory): add(...)*, then finish(...) or abort()."""
        return VideoWrite(self, facts, model_id)

    @guarded
    def save_failure(self, facts: FileFacts, reason: str) -> None:
        """Records why a file could not be indexed; a file that changed into a broken one loses its old segments."""
        with self.Session.begin() as s:
            video, old_ids, old_chunks = self._upsert_video(s, facts, "failed", reason)
            generation = self._bump(s) if old_ids or old_chunks else None
        if old_ids or old_chunks:
            self._apply(generation, old_ids, removed_chunks=old_chunks)
        shutil.rmtree(self.path / "thumbs" / str(video.id), ignore_errors=True)

    def _upsert_video(self, s: Session, facts: FileFacts, status: str, error: str | None):
        """The video row for facts.path, updated, with the ids of the segments and text chunks it had (now
        deleted)."""
        video = s.scalar(select(Video).where(Video.path == facts.path))
        old_ids, old_chunks = [], []
        if video is None:
            video = Video(**vars(facts), status=status, error=error, indexed_at=time.time(), offline=0)
            s.add(video)
            s.flush()
        else:
            old_ids = list(s.scalars(select(Segment.id).where(Segment.video_id == video.id)))
            old_chunks = list(s.scalars(select(TextChunk.id).where(TextChunk.video_id == video.id)))
            s.execute(delete(Segment).where(Segment.video_id == video.id))
            s.execute(delete(TextChunk).where(TextChunk.video_id == video.id))
            for key, value in vars(facts).items():
                setattr(video, key, value)
            video.status, video.error, video.indexed_at = status, error, time.time()
            video.vector = None  # save_video sets it from the new segments
            video.warning, video.offline = None, 0
        return video, old_ids, old_chunks

    def move(self, video_id: int, facts: FileFacts) -> None:
        """A file seen before under another name (same content): keep its segments, take the new name."""
        with self.Session.begin() as s:
            s.execute(update(Video).where(Video.id == video_id).values(**vars(facts)))

    def touch(self, files: list[tuple[int, FileFacts]]) -> None:
        """Videos with the same content and a new mtime, ctime or inode (a copy, `touch`, a drive mounted
        again): remembered, in one transaction, so the next run skips the hash."""
        if not files:
            return
        keys = ("size", "mtime", "fingerprint", "ctime", "inode", "sidecars")
        with self.Session.begin() as s:
            s.execute(update(Video), [{"id": i, **{k: getattr(f, k) for k in keys}} for i, f in files])

    @guarded
    def set_offline(self, video_ids: list[int], offline: bool) -> None:
        """Marks videos whose files are missing (a drive not mounted) as offline, or back online. Their rows and
        vectors stay; search leaves offline ones out."""
        if not video_ids:
            return
        with self.Session.begin() as s:
            for i in range(0, len(video_ids), REPAIR_BATCH):
                chunk = video_ids[i : i + REPAIR_BATCH]
                s.execute(update(Video).where(Video.id.in_(chunk)).values(offline=int(offline)))
            generation = self._bump(s)  # searches read which ids to leave out anew
        self._apply(generation, [])

    @guarded
    def remove(self, video_ids: list[int]) -> int:
        """Drops videos with their segments and thumbnails; returns how many were dropped."""
        if not video_ids:
            return 0
        seg_ids, chunk_ids = [], []
        with self.Session.begin() as s:
            for i in range(0, len(video_ids), REPAIR_BATCH):
                chunk = video_ids[i : i + REPAIR_BATCH]
                seg_ids += s.scalars(select(Segment.id).where(Segment.video_id.in_(chunk)))
                chunk_ids += s.scalars(select(TextChunk.id).where(TextChunk.video_id.in_(chunk)))
                s.execute(delete(Segment).where(Segment.video_id.in_(chunk)))
                s.execute(delete(TextChunk).where(TextChunk.video_id.in_(chunk)))
                s.execute(delete(Video).where(Video.id.in_(chunk)))
            generation = self._bump(s)
        self._apply(generation, seg_ids, removed_chunks=chunk_ids)
        for vid in video_ids:
            shutil.rmtree(self.path / "thumbs" / str(vid), ignore_errors=True)
        return len(video_ids)

    def _write_thumbnail(self, video_id: int, segment_id: int, jpeg: bytes, written: list[Path]) -> str:
        folder = self.path / "thumbs" / str(video_id)
        path = folder / f"{segment_id}.jpg"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            written.append(path)
            path.write_bytes(jpeg)
        except OSError as e:
            raise disk_full(e, path) from None
        return f"thumbs/{video_id}/{path.name}"

    def _prune_thumbnails(self, video_id: int, keep: set[str]) -> None:
        """Deletes a video's thumbnails of segments it no longer has (after the commit that replaced them)."""
        folder = self.path / "thumbs" / str(video_id)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
            return
        for old in folder.iterdir():
            if old.name not in keep:
                old.unlink(missing_ok=True)

    def save_captions(self, captions: dict[int, str], decoder: str) -> None:
        """Caches captions; a segment removed meanwhile is skipped, and a read-only library caches nothing."""
        try:  # a cache waits for no writer: an index holds its transaction open while a long file decodes
            with self._briefly(CACHE_WAIT_MS) as conn:
                alive = conn.scalars(select(Segment.id).where(Segment.id.in_(list(captions)))).all()
                if alive:
                    rows = [{"segment_id": i, "decoder": decoder, "text": captions[i]} for i in alive]
                    insert = pg_insert if self.database else sqlite_insert
                    conn.execute(insert(Caption).on_conflict_do_nothing(), rows)
        except (FootageError, OperationalError):  # read-only, full or damaged, or a writer holds it: no cache
            pass
        except IntegrityError:  # PostgreSQL: a writer removed a segment after it was read; cached next time
            pass

    def save_mark(
        self, query: str, video_id: int, start: float, end: float, right: bool, segment_id: int | None
    ) -> int:
        """Stores a mark on a moment, replacing the mark of the same query and moment (a person changing their
        mind); returns its id. NotFound when the library has no such video. Takes no write lock: marking goes
        on while an index run holds it."""
        row = dict(query=query, video_id=video_id, start=start, end=end, is_right=int(right), segment_id=segment_id)
        row["created_at"] = time.time()
        insert = (pg_insert if self.database else sqlite_insert)(FeedbackMark).values(**row)
        upsert = insert.on_conflict_do_update(
            index_elements=["query", "video_id", "start", "end"],
            set_={key: row[key] for key in ("is_right", "segment_id", "created_at")},
        ).returning(FeedbackMark.id)
        try:
            # the write comes first: the video's foreign key is the check that it is there, in the same statement
            with self._briefly(MARK_WAIT_MS) as conn:
                return conn.scalar(upsert)
        except IntegrityError:
            raise NotFound(f"video {video_id}: not in the library") from None

    def remove_mark(self, mark_id: int) -> bool:
        """Drops a mark; False when there was none of that id."""
        with self._briefly(MARK_WAIT_MS) as conn:
            return conn.execute(delete(FeedbackMark).where(FeedbackMark.id == mark_id)).rowcount > 0

    @contextmanager
    def _briefly(self, wait_ms: int):
        """A transaction whose writes wait at most `wait_ms` for another writer, then raise LibraryBusy: an
        index run holds its transaction open while a long file decodes, and a person's click or a cache must not
        hang on it for BUSY_TIMEOUT_MS (or for the whole file)."""
        with self.engine.connect() as conn:
            if not self.database:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {wait_ms}")
                conn.commit()
            try:
                with conn.begin():
                    if self.database:
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {wait_ms}")
                    yield conn
            except OperationalError as e:
                busy = getattr(e.orig, "sqlite_errorname", "").startswith("SQLITE_BUSY")
                if not (busy or getattr(e.orig, "sqlstate", None) == "55P03"):  # 55P03: lock_not_available
                    raise
                raise LibraryBusy(
                    f"{self.path}: another process is writing to the library (an index run?); try again when it "
                    "has finished the file it is on"
                ) from None
            finally:
                if not self.database:
                    conn.rollback()
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                    conn.commit()


class VideoWrite:
    """One video written in one transaction (Store.begin_video): its old rows go, its segments are added in
    batches as the indexer makes them, and `finish` commits it all and mirrors it in FAISS; `abort`, or any
    error, leaves the library as it was. Only what FAISS and the video's vector need stays in memory: a
    10-hour file's frame tokens and thumbnails are in the database and on disk as soon as they are made.
    The transaction stays open while the file decodes; readers see the old rows until the commit."""

    def __init__(self, store: "Writes", facts: FileFacts, model_id: str):
        self.store = store
        self.written: list[Path] = []  # thumbnails, removed if the transaction does not commit
        self.spans: list[tuple[float, float, np.ndarray]] = []  # (start, end, vector) of each segment
        self.ids: list[np.ndarray] = []  # FAISS ids and vectors (float16 until the commit) of the segments
        self.vectors: list[np.ndarray] = []
        self.s = store.Session()
        try:
            self.s.begin()
            self.video, self.old_ids, self.old_chunks = store._upsert_video(self.s, facts, "indexed", None)
            self.model = store.model_row(self.s, model_id, store.index.dim)
        except BaseException:
            self.abort()
            raise

    def add(self, segments: list[NewSegment]) -> None:
        """Writes these segments (the next ones in the video) and their thumbnails, uncommitted."""
        if not segments:
            return
        store, video_id = self.store, self.video.id
        rows = [
            Segment(
                video_id=video_id,
                start=seg.start,
                end=seg.end,
                model=self.model,
                vector=np.ascontiguousarray(seg.vector, np.float16).tobytes(),
                frame_times=np.ascontiguousarray(seg.frame_times, np.float32).tobytes(),
                frame_vectors=store._token_blob(seg.frame_vectors),
                views=None if seg.views is None else np.ascontiguousarray(seg.views, np.float32).tobytes(),
            )
            for seg in segments
        ]
        self.s.add_all(rows)
        self.s.flush()  # the segments' ids name their thumbnails
        for row, seg in zip(rows, segments):
            if seg.thumbnail is not None:
                row.thumbnail = store._write_thumbnail(video_id, row.id, seg.thumbnail, self.written)
        self.s.flush()
        vectors = np.stack([g.vector for g in segments])  # (S, D)
        ids, vectors = faiss_entries([r.id for r in rows], vectors, [g.views for g in segments])
        self.ids.append(ids)
        self.vectors.append(vectors.astype(np.float16))
        self.spans += [(g.start, g.end, np.asarray(g.vector, np.float16)) for g in segments]
        for row in rows:  # the session keeps no row it has written: they would hold every frame's tokens
            self.s.expunge(row)

    def finish(self, facts: FileFacts, chunks: list[NewChunk] = (), warning: str | None = None) -> int:
        """Commits the video with what decoding learnt about it (`facts`), its text chunks and `warning`
        ("partial: ..."), then mirrors it in FAISS; returns its id. Thumbnails are named by their segment's id,
        which is never reused: the old ones stay until the commit."""
        store, s, video = self.store, self.s, self.video
        with store.guard:  # a commit and its mirror in FAISS are seen together
            try:
                for key, value in vars(facts).items():
                    setattr(video, key, value)
                video.warning = warning
                text_rows = [
                    TextChunk(
                        video_id=video.id,
                        channel=c.channel,
                        start=c.start,
                        end=c.end,
                        text=c.text,
                        vector=np.ascontiguousarray(c.vector, np.float32).tobytes(),
                    )
                    for c in chunks
                ]
                video.vector = video_vector(self.spans, store.index.dim)
                s.add_all(text_rows)
                s.flush()
                generation = store._bump(s)
                s.commit()
            except BaseException:
                self.abort()
                raise
            video_id = video.id
            s.close()
            store._prune_thumbnails(video_id, keep={p.name for p in self.written})
            ids = np.concatenate([*self.ids, np.array([r.id for r in text_rows], np.int64) + TEXT_ID_BASE])
            chunk_vectors = [np.asarray(c.vector, np.float32)[None] for c in chunks]
            vectors = np.concatenate([np.zeros((0, store.index.dim), np.float32), *self.vectors, *chunk_vectors])
            store._apply(generation, self.old_ids, ids, vectors.astype(np.float32), self.old_chunks)
        return video_id

    def abort(self) -> None:
        """Drops the transaction and the thumbnails written for it."""
        self.s.rollback()
        self.s.close()
        for path in self.written:
            path.unlink(missing_ok=True)
        if self.written:
            try:  # a folder made for this video alone goes too
                self.written[0].parent.rmdir()
            except OSError:
                pass
        self.written = []
