"""The FAISS mirror of the database: bringing it up to date (refresh, repair by ids), saving it (flush) and
turning its delta into shards or an IVF index (maintain), the exact vectors IVF re-scores with, new vectors
for every segment (replace_vectors), and the check that FAISS holds exactly the database's ids. A mixin of
Store (footage/store/store.py)."""

import json

import numpy as np
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from footage.errors import FootageError
from footage.store.rows import (
    REPAIR_BATCH,
    TEXT_ID_BASE,
    VIEW_ID_BASE,
    disk_full,
    faiss_entries,
    faiss_ids,
    guarded,
    video_vector,
)
from footage.store.schema import Meta, Segment, TextChunk, Video
from footage.store.vectors import FOLDER, clear_leftovers


def exact_segments(ids: np.ndarray) -> list[int]:
    """The segments whose stored vectors (or views) are those of these FAISS ids."""
    ids = np.asarray(ids, np.int64)
    return sorted({int(i) for i in ids[ids < TEXT_ID_BASE] % VIEW_ID_BASE})


def exact_chunks(ids: np.ndarray) -> list[int]:
    """The text chunks whose stored vectors are those of these FAISS ids."""
    ids = np.asarray(ids, np.int64)
    return [int(i) for i in ids[ids >= TEXT_ID_BASE] - TEXT_ID_BASE]


class Maintenance:
    """Store's FAISS maintenance (self is a Store: its Session, index and encodings are in store.py)."""

    @guarded
    def refresh(self, generation: int | None = None) -> None:
        """Brings FAISS in memory up to SQLite: reloads the saved file if it caught up, else repairs by ids.
        `generation`: the database's, when the caller has just read it."""
        generation = int(self.meta("generation") or 0) if generation is None else generation
        if self.index.generation == generation:
            return
        saved = self._load_index(self.index.dim)
        if saved.generation == generation:
            self.index = saved
            return
        self.repair()

    @guarded
    def repair(self) -> None:
        """Makes FAISS hold exactly SQLite's segment ids, reading missing vectors from SQLite."""
        with self.Session() as s, s.begin():  # one read transaction: generation and ids from one snapshot
            generation = int(s.get(Meta, "generation").value)
            db_ids = self._db_ids(s)
        held = self.index.ids()
        extra = np.setdiff1d(held, db_ids)
        missing = np.setdiff1d(db_ids, held)
        self.index.remove(extra)
        chunks = missing[missing >= TEXT_ID_BASE] - TEXT_ID_BASE
        missing = missing[missing < TEXT_ID_BASE]
        segments = np.unique(missing % VIEW_ID_BASE)
        with self.Session() as s:
            for i in range(0, len(segments), REPAIR_BATCH):
                chunk = [int(x) for x in segments[i : i + REPAIR_BATCH]]
                rows = s.execute(select(Segment.id, Segment.vector, Segment.views).where(Segment.id.in_(chunk))).all()
                if rows:
                    ids, vectors = faiss_entries(
                        [r.id for r in rows],
                        np.stack([self._vector(r.vector) for r in rows]),
                        [self._views(r.views) for r in rows],
                    )
                    wanted = np.isin(ids, missing)
                    self.index.add(ids[wanted], vectors[wanted])
            for i in range(0, len(chunks), REPAIR_BATCH):
                chunk = [int(x) for x in chunks[i : i + REPAIR_BATCH]]
                rows = s.execute(select(TextChunk.id, TextChunk.vector).where(TextChunk.id.in_(chunk))).all()
                if rows:
                    vectors = np.stack([np.frombuffer(r.vector, np.float32) for r in rows])
                    self.index.add(np.array([r.id for r in rows], np.int64) + TEXT_ID_BASE, vectors)
        self.index.generation = generation
        self.repaired = (len(extra), len(missing) + len(chunks))
        self.dirty = True
        if self.read_only:  # repaired in memory only
            return
        if self.lock.fd is not None:
            self._save_repaired()
            return
        try:
            got = self.lock.acquire()  # a reader repairs the file too, unless a writer is busy (it will)
        except OSError:
            return
        if got:
            try:
                self._save_repaired()
            except FootageError:  # a full disk: this search works from memory, the next open tries again
                pass
            finally:
                self.lock.release()

    def _save_repaired(self) -> None:
        """Saves what a repair rebuilt: a delta past a shard's size is made shards first (a merge, never a
        training: a search may be the one repairing), so a lost vectors folder of a large library does not
        come back as one huge state file."""
        if self.index.delta_full():
            self.maintain(force="merge")
        else:
            self.flush(maintain=False)

    def _db_ids(self, s: Session) -> np.ndarray:
        """The FAISS ids SQLite's segments should have: their own and their views'."""
        rows = s.execute(select(Segment.id, func.length(Segment.views))).all()
        ids = np.array([r[0] for r in rows], np.int64)
        counts = np.array([(r[1] or 0) // (4 * self.index.dim) for r in rows], np.int64)
        views = [ids[counts >= v] + v * VIEW_ID_BASE for v in range(1, int(counts.max(initial=0)) + 1)]
        chunks = np.fromiter(s.scalars(select(TextChunk.id)), np.int64) + TEXT_ID_BASE
        return np.concatenate([ids, *views, chunks])

    @guarded
    def flush(self, maintain: bool = True) -> None:
        """Saves FAISS's delta if it changed, then (`maintain`) turns a full delta into a shard or trains the
        IVF index when due. Only the lock holder calls this: `index` every minute and at its end, `remove`,
        `train`; a reader repairing the vectors saves them without maintenance (a search never trains)."""
        if self.dirty and self.index is not None:
            try:
                self.index.save(self.path)
                (self.path / "vectors.faiss").unlink(missing_ok=True)  # the one file of footage before 0.9
            except OSError as e:
                raise disk_full(e, self.path / FOLDER) from None
            self.dirty = False
        if maintain and self.index is not None and self.index.due():
            self.maintain()
        elif maintain and (self.path / FOLDER).is_dir():
            clear_leftovers(self.path / FOLDER)

    @guarded
    def maintain(self, force: str | None = None) -> str | None:
        """Turns the delta into a shard and merges shards, or builds the IVF index anew, when due
        (Vectors.due) or as `force`d ("merge", "train"); returns what it did."""
        try:
            did = self.index.maintain(self.path, self._all_vectors, force)  # saves the state when it does
        except OSError as e:
            raise disk_full(e, self.path / FOLDER) from None
        if did:
            self.dirty = False
        else:
            self.flush(maintain=False)
        return did

    def _all_vectors(self):
        """Every vector FAISS should hold, as (FAISS ids, (B, D) float32) batches read from SQLite."""
        with self.Session() as s:
            last = -1
            while rows := s.execute(
                select(Segment.id, Segment.vector, Segment.views)
                .where(Segment.id > last)
                .order_by(Segment.id)
                .limit(REPAIR_BATCH)
            ).all():
                last = rows[-1].id
                yield faiss_entries(
                    [r.id for r in rows],
                    np.stack([self._vector(r.vector) for r in rows]),
                    [self._views(r.views) for r in rows],
                )
            last = -1
            while rows := s.execute(
                select(TextChunk.id, TextChunk.vector)
                .where(TextChunk.id > last)
                .order_by(TextChunk.id)
                .limit(REPAIR_BATCH)
            ).all():
                last = rows[-1].id
                ids = np.array([r.id for r in rows], np.int64) + TEXT_ID_BASE
                yield ids, np.stack([np.frombuffer(r.vector, np.float32) for r in rows])

    def _exact_vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored (SQLite) vectors of FAISS ids, (n, D) float32 in their order: what the IVF-SQ8 index
        re-scores its candidates with. An id SQLite no longer has gets a zero vector (it scores 0)."""
        segments, chunks = {}, {}
        with self.Session() as s:
            if len(wanted := exact_segments(ids)):
                rows = s.execute(select(Segment.id, Segment.vector, Segment.views).where(Segment.id.in_(wanted)))
                segments = {r.id: (r.vector, r.views) for r in rows}
            if len(wanted := exact_chunks(ids)):
                chunks = dict(s.execute(select(TextChunk.id, TextChunk.vector).where(TextChunk.id.in_(wanted))).all())
        return self._exact_of(ids, segments, chunks)

    def _exact_of(self, ids: np.ndarray, segments: dict, chunks: dict) -> np.ndarray:
        """_exact_vectors from rows read: segment id -> (vector, views) columns, chunk id -> vector column."""
        out = np.zeros((len(ids), self.index.dim), np.float32)
        for k in np.flatnonzero(ids < TEXT_ID_BASE):
            row = segments.get(int(ids[k] % VIEW_ID_BASE))
            view = int(ids[k] // VIEW_ID_BASE)
            if row is None:
                continue
            if view == 0:
                out[k] = self._vector(row[0])
            elif row[1] is not None and view <= len(views := self._views(row[1])):
                out[k] = views[view - 1]
        for k in np.flatnonzero(ids >= TEXT_ID_BASE):
            blob = chunks.get(int(ids[k] - TEXT_ID_BASE))
            if blob is not None:
                out[k] = np.frombuffer(blob, np.float32)
        return out

    @staticmethod
    def _bump(s: Session) -> int:
        """Moves the generation on, inside the transaction that changes segments."""
        # text again, as the column is: PostgreSQL does not turn a number into varchar by itself
        s.execute(text("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE key = 'generation'"))
        return int(s.scalar(select(Meta.value).where(Meta.key == "generation")))

    def _apply(self, generation: int, removed, added_ids=(), added_vectors=None, removed_chunks=()) -> None:
        """Mirrors a committed change in FAISS (in memory; `flush` saves it); `removed` are segment ids."""
        self.index.remove(faiss_ids(removed) if len(removed) else removed)
        self.index.remove(np.asarray(list(removed_chunks), np.int64) + TEXT_ID_BASE)
        if len(added_ids):
            self.index.add(added_ids, added_vectors)
        self.index.generation = generation
        self.dirty = True

    @guarded
    def replace_vectors(
        self,
        ids: list[int],
        vectors: np.ndarray,
        model_id: str,
        views: np.ndarray | None = None,
        meta: dict[str, str] | None = None,
    ) -> None:
        """Gives segments new vectors (and (S, V, D) views) made by another model. Segments are immutable (a
        FAISS file may still hold the old vectors under the old ids), so each becomes a new row with a new id,
        in one transaction, with the settings (`meta`) that made the new model: a run stopped halfway leaves
        both as they were, never a setting whose vectors are not there (which would decode every video again)."""
        fresh = []
        with self.Session.begin() as s:
            for key, value in (meta or {}).items():
                s.merge(Meta(key=key, value=value))
            model = self.model_row(s, model_id, self.index.dim)
            for i in range(0, len(ids), REPAIR_BATCH):  # SQLite caps the variables of one statement
                chunk = ids[i : i + REPAIR_BATCH]
                old = {seg.id: seg for seg in s.scalars(select(Segment).where(Segment.id.in_(chunk)))}
                rows = [
                    Segment(
                        video_id=old[seg_id].video_id,
                        start=old[seg_id].start,
                        end=old[seg_id].end,
                        thumbnail=old[seg_id].thumbnail,
                        model=model,
                        vector=np.ascontiguousarray(vector, np.float16).tobytes(),
                        frame_times=old[seg_id].frame_times,
                        frame_vectors=old[seg_id].frame_vectors,
                        views=None if views is None else np.ascontiguousarray(views[i + k], np.float32).tobytes(),
                    )
                    for k, (seg_id, vector) in enumerate(zip(chunk, vectors[i : i + REPAIR_BATCH]))
                ]
                s.execute(delete(Segment).where(Segment.id.in_(chunk)))
                s.add_all(rows)
                s.flush()
                fresh += rows
            self._video_vectors_anew(s, {row.video_id for row in fresh})
            generation = self._bump(s)
        if meta and "views" in meta:
            self.view_count = len(json.loads(meta["views"]))
        self._apply(generation, ids, *faiss_entries([f.id for f in fresh], vectors, views))

    def _video_vectors_anew(self, s: Session, video_ids: set[int]) -> None:
        """Recomputes these videos' vectors from their segments' (new) vectors, in the caller's transaction."""
        ids = sorted(video_ids)
        for i in range(0, len(ids), REPAIR_BATCH):
            spans: dict[int, list] = {}
            rows = s.execute(
                select(Segment.video_id, Segment.start, Segment.end, Segment.vector).where(
                    Segment.video_id.in_(ids[i : i + REPAIR_BATCH])
                )
            )
            for r in rows:
                spans.setdefault(r.video_id, []).append((r.start, r.end, self._vector(r.vector)))
            for vid, parts in spans.items():
                s.execute(update(Video).where(Video.id == vid).values(vector=video_vector(parts, self.index.dim)))

    @guarded
    def consistent(self) -> bool:
        """True when FAISS in memory holds exactly SQLite's segments and views (what a crash must never break)."""
        with self.Session() as s:
            db_ids = np.sort(self._db_ids(s))
        return bool(np.array_equal(db_ids, np.sort(self.index.ids())))
