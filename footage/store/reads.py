"""The store's reads: videos, segments, text chunks, captions and frame tokens by id or path, FAISS searches
within a scope, keyword search, stats. A mixin of Store (footage/store/store.py), which opens the database
and the vectors these read."""

import json
from dataclasses import fields

import numpy as np
from sqlalchemy import and_, case, exists, func, select

from footage.store.faiss_index import VectorIndex
from footage.store.query import CHUNK_COLUMNS, Query, keyword_scores, keyword_select, together
from footage.store.rows import (
    EVERYWHERE,
    REPAIR_BATCH,
    TEXT_ID_BASE,
    Mark,
    Scope,
    Stats,
    StoredChunk,
    StoredSegment,
    StoredVideo,
    VideoRow,
    existing,
    faiss_ids,
    guarded,
)
from footage.store.schema import Caption, FeedbackMark, Model, Segment, TextChunk, Video


class Reads:
    """Store's reads (self is a Store: its Session, index and encodings are in store.py)."""

    def videos(self) -> dict[str, StoredVideo]:
        with self.Session() as s:
            model = select(Model.model_id).join(Segment).where(Segment.video_id == Video.id).limit(1).scalar_subquery()
            rows = s.execute(
                select(
                    Video.id,
                    Video.path,
                    Video.size,
                    Video.mtime,
                    Video.fingerprint,
                    Video.status,
                    Video.error,
                    model,
                    Video.ctime,
                    Video.inode,
                    Video.sidecars,
                    Video.offline,
                    Video.warning,
                )
            ).all()
        return {r.path: StoredVideo(*r[:11], bool(r[11]), r[12]) for r in rows}

    def query(self, scope: Scope = EVERYWHERE, index: VectorIndex | None = None, like: int | None = None) -> Query:
        """A search's reads, in at most three statements (footage/store/query.py); `like`: a segment whose
        vector the first one reads too."""
        return Query(self, scope, index, like)

    @guarded
    def search(
        self, vector: np.ndarray, n: int, index: VectorIndex | None = None, scope: Scope = EVERYWHERE
    ) -> tuple[np.ndarray, np.ndarray]:
        """The n nearest segments' ids and scores, best first, within `scope`; a segment with views scores as
        its best one. `index` replaces the library's vectors (to try a predictor before keeping it)."""
        query = Query(self, scope, index)
        found = query.nearest(vector, n)
        exact = self._exact_vectors(found.pending) if len(found.pending) else None
        return query.pictures(found, exact, n)

    @guarded
    def search_text(self, vector: np.ndarray, n: int, scope: Scope = EVERYWHERE) -> tuple[np.ndarray, np.ndarray]:
        """The n text chunks nearest a query vector, within `scope`: their ids and scores, best first."""
        query = Query(self, scope)
        ids, scores = query.finish(query.nearest_text(vector, n))
        return ids - TEXT_ID_BASE, scores

    @guarded
    def offline_ids(self) -> np.ndarray:
        """The FAISS ids of offline videos (segments, views, text chunks), kept per generation: going offline
        moves the generation on."""
        generation = self.index.generation
        if self._offline is None or self._offline[0] != generation:
            with self.Session() as s:
                away = select(Video.id).where(Video.offline == 1)
                segs = np.fromiter(s.scalars(select(Segment.id).where(Segment.video_id.in_(away))), np.int64)
                chunks = np.fromiter(s.scalars(select(TextChunk.id).where(TextChunk.video_id.in_(away))), np.int64)
            self._offline = (generation, np.concatenate([faiss_ids(segs, self.view_count), chunks + TEXT_ID_BASE]))
        return self._offline[1]

    def keyword(self, words: list[str], n: int, scope: Scope = EVERYWHERE) -> list[tuple[int, float]]:
        """Text chunks holding any of the words (FTS5, or PostgreSQL's text search) within `scope`, best first
        by BM25 (ts_rank): (chunk id, score), higher is better."""
        words = [w for w in (w.replace('"', "") for w in words) if w]
        if not words:
            return []
        scope = Query(self, scope).scope_resolved()  # the videos under its folders, if it has any
        with self.Session() as s:
            rows = s.execute(keyword_select(bool(self.database), words, n, scope)).all()
        return keyword_scores(rows, bool(self.database))

    def chunks(self, ids) -> dict[int, StoredChunk]:
        ids = [int(i) for i in ids]
        with self.Session() as s:
            rows = s.execute(select(*CHUNK_COLUMNS).join(Video).where(TextChunk.id.in_(ids))).all()
        return {r.id: StoredChunk(*r[:-1], bool(r.offline)) for r in rows}

    def chunks_of(self, paths) -> list[StoredChunk]:
        """The text chunks of these videos, in time order."""
        with self.Session() as s:
            rows = s.execute(
                select(*CHUNK_COLUMNS).join(Video).where(Video.path.in_(list(paths))).order_by(TextChunk.start)
            ).all()
        return [StoredChunk(*r[:-1], bool(r.offline)) for r in rows]

    def segments(self, ids) -> dict[int, StoredSegment]:
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        with self.Session() as s:
            rows = s.execute(
                select(
                    Segment.id,
                    Segment.video_id,
                    Video.path,
                    Segment.start,
                    Segment.end,
                    Segment.thumbnail,
                    Video.offline,
                )
                .join(Video)
                .where(Segment.id.in_(ids))
            ).all()
        return {
            r.id: StoredSegment(
                r.id,
                r.video_id,
                r.path,
                r.start,
                r.end,
                existing(self.path / r.thumbnail) if r.thumbnail else None,
                bool(r.offline),
            )
            for r in rows
        }

    def segment_at(self, path: str, t: float) -> int | None:
        """The id of the video's segment that covers time t (the nearest one when none does)."""
        with self.Session() as s:
            return s.scalar(
                select(Segment.id)
                .join(Video)
                .where(Video.path == path)
                .order_by(  # how far t is from the segment: max(start - t, t - end, 0), as both databases say it
                    case((Segment.start > t, Segment.start - t), (Segment.end < t, t - Segment.end), else_=0.0)
                )
                .limit(1)
            )

    def frame_tokens(self, ids) -> dict[int, np.ndarray]:
        """Segment id -> its frames' tokens (N, D) float32, as cached when it was indexed."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        with self.Session() as s:
            rows = s.execute(select(Segment.id, Segment.frame_vectors).where(Segment.id.in_(ids))).all()
        return {r.id: self._tokens(r.frame_vectors) for r in rows}

    def video_rows(
        self, offset: int = 0, limit: int = 100, video_id: int | None = None, recent: bool = False
    ) -> tuple[list[VideoRow], int]:
        """A page of videos by path, or the most recently indexed first (`recent`), or the one `video_id`; and
        how many there are in all."""
        count = select(func.count(Segment.id)).where(Segment.video_id == Video.id).scalar_subquery()
        shown = select(Segment.id).where(Segment.video_id == Video.id, Segment.thumbnail.is_not(None))
        third = shown.where(Segment.start <= func.coalesce(Video.duration, 0) / 3).order_by(Segment.start.desc())
        cover = func.coalesce(
            third.limit(1).scalar_subquery(), shown.order_by(Segment.start).limit(1).scalar_subquery()
        )
        names = [f.name for f in fields(VideoRow) if f.name not in ("segments", "cover")]
        order = (Video.indexed_at.desc(), Video.id.desc()) if recent else (Video.path,)
        query = select(*(getattr(Video, n) for n in names), cover, count).order_by(*order)
        if video_id is not None:
            query = query.where(Video.id == video_id)
        with self.Session() as s:
            total = s.scalar(select(func.count(Video.id))) or 0
            rows = s.execute(query.offset(offset).limit(limit)).all()
        out = []
        for r in rows:
            values = dict(zip(names, r[:-2]))
            out.append(VideoRow(**{**values, "offline": bool(values["offline"]), "cover": r[-2], "segments": r[-1]}))
        return out, total

    def video_row(self, video_id: int) -> VideoRow | None:
        rows, _ = self.video_rows(0, 1, video_id)
        return rows[0] if rows else None

    def spans(self, video_id: int) -> list[tuple[int, float, float]]:
        """A video's segments that have a thumbnail, in time order: (id, start, end)."""
        with self.Session() as s:
            rows = s.execute(
                select(Segment.id, Segment.start, Segment.end)
                .where(Segment.video_id == video_id, Segment.thumbnail.is_not(None))
                .order_by(Segment.start)
            ).all()
        return [tuple(r) for r in rows]

    def video_vectors(self, video_ids) -> dict[int, np.ndarray]:
        """Each video's vector: the mean of its segments' vectors, weighted by their length, unit length.
        Kept per generation: a long film has hundreds of segments, and every search asks again."""
        generation = self.index.generation if self.index is not None else -1
        if self._video_vectors[0] != generation:
            self._video_vectors = (generation, {})
        cache = self._video_vectors[1]
        wanted = [int(v) for v in video_ids if int(v) not in cache]
        if wanted:
            with self.Session() as s:
                stored = s.execute(select(Video.id, Video.vector).where(Video.id.in_(wanted))).all()
            cache.update({r.id: self._vector(r.vector) for r in stored if r.vector is not None})
            wanted = [v for v in wanted if v not in cache]  # rows from before schema 6
        if wanted:
            sums: dict[int, np.ndarray] = {}
            with self.Session() as s:
                for i in range(0, len(wanted), REPAIR_BATCH):
                    rows = s.execute(
                        select(Segment.video_id, Segment.start, Segment.end, Segment.vector).where(
                            Segment.video_id.in_(wanted[i : i + REPAIR_BATCH])
                        )
                    )
                    for r in rows:
                        weight = max(r.end - r.start, 1e-3)
                        v = self._vector(r.vector) * weight
                        sums[r.video_id] = sums[r.video_id] + v if r.video_id in sums else v.copy()
            for vid, total in sums.items():
                cache[vid] = total / max(float(np.linalg.norm(total)), 1e-12)
        return {int(v): cache[int(v)] for v in video_ids if int(v) in cache}

    def vectors(self, ids) -> dict[int, np.ndarray]:
        """Segments' stored (D,) vectors by id."""
        with self.Session() as s:
            rows = s.execute(select(Segment.id, Segment.vector).where(Segment.id.in_([int(i) for i in ids]))).all()
        return {r.id: self._vector(r.vector) for r in rows}

    def captions(self, ids, decoder: str) -> dict[int, str]:
        """Cached captions of segments by one decoder."""
        with self.Session() as s:
            rows = s.execute(
                select(Caption.segment_id, Caption.text).where(
                    Caption.segment_id.in_([int(i) for i in ids]), Caption.decoder == decoder
                )
            ).all()
        return {r.segment_id: r.text for r in rows}

    def caption_inputs(self, ids, decoder: str, frames: bool) -> tuple[dict[int, str], dict[int, np.ndarray]]:
        """In one statement: the cached captions of segments by one decoder, and what the others are decoded
        from: their frame tokens (N, T) (`frames`), else their vectors (D,)."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}, {}
        cached = and_(Caption.segment_id == Segment.id, Caption.decoder == decoder)
        source = Segment.frame_vectors if frames else Segment.vector
        parts = {
            "captions": select(Caption.segment_id, Caption.text).where(
                Caption.segment_id.in_(ids), Caption.decoder == decoder
            ),
            "sources": select(Segment.id, source).where(Segment.id.in_(ids), ~exists().where(cached)),
        }
        with self.Session() as s:
            rows = together(s, parts)
        decode = self._tokens if frames else self._vector
        return {r.segment_id: r.text for r in rows["captions"]}, {r.id: decode(r[1]) for r in rows["sources"]}

    def frames(self, path: str) -> tuple[np.ndarray, np.ndarray, float] | None:
        """A video's frame times (N,), cached tokens (N, T) in time order and where its last segment ends;
        None when it is not indexed."""
        with self.Session() as s:
            rows = s.execute(
                select(Segment.frame_times, Segment.frame_vectors, Segment.end)
                .join(Video)
                .where(Video.path == path)
                .order_by(Segment.start)
            ).all()
        if not rows:
            return None
        times = np.concatenate([np.frombuffer(r.frame_times, np.float32) for r in rows])
        return times, np.concatenate([self._tokens(r.frame_vectors) for r in rows]), rows[-1].end

    def tokens_in_range(self, path: str, start: float, end: float) -> np.ndarray | None:
        """The cached tokens (N, T) of a video's frames whose times fall in [start, end] (the nearest frame when
        none does); None when the video has no segments in the library."""
        found = self.frames(path)
        if found is None:
            return None
        times, tokens, _ = found
        inside = (times >= start) & (times <= end)
        if not inside.any():
            return tokens[[np.abs(times - (start + end) / 2).argmin()]]
        return tokens[inside]

    def all_frame_tokens(self) -> tuple[list[int], list[np.ndarray]]:
        """Every segment's id and cached frame tokens: enough to recompute every vector without decoding."""
        with self.Session() as s:
            rows = s.execute(select(Segment.id, Segment.frame_vectors).order_by(Segment.id)).all()
        return [r.id for r in rows], [self._tokens(r.frame_vectors) for r in rows]

    def video_id(self, paths) -> int | None:
        """The id of the video stored under one of these paths (a file's path as given, and with its links
        resolved); None when none is."""
        with self.Session() as s:
            return s.scalar(select(Video.id).where(Video.path.in_([str(p) for p in paths])).limit(1))

    def marks(self, mark_id: int | None = None) -> list[Mark]:
        """The marks on search hits, newest first (or the one `mark_id`)."""
        m = FeedbackMark
        query = select(m.id, m.query, m.video_id, Video.path, m.start, m.end, m.is_right, m.segment_id, m.created_at)
        query = query.join(Video).order_by(m.created_at.desc(), m.id.desc())
        if mark_id is not None:
            query = query.where(m.id == mark_id)
        with self.Session() as s:
            rows = s.execute(query).all()
        return [Mark(*r[:6], bool(r.is_right), *r[7:]) for r in rows]

    def stats(self) -> Stats:
        with self.Session() as s:
            indexed = Video.status == "indexed"
            videos = s.scalar(select(func.count()).where(indexed)) or 0
            seconds = s.scalar(select(func.sum(Video.duration)).where(indexed)) or 0.0
            segments = s.scalar(select(func.count(Segment.id))) or 0
            failures = [
                (r.path, r.error)
                for r in s.execute(select(Video.path, Video.error).where(Video.status == "failed").order_by(Video.path))
            ]
            models = list(s.scalars(select(Model.model_id).where(Model.id.in_(select(Segment.model).distinct()))))
            chunks = dict(s.execute(select(TextChunk.channel, func.count()).group_by(TextChunk.channel)).all())
            offline = list(s.scalars(select(Video.path).where(indexed, Video.offline == 1).order_by(Video.path)))
            partial = [
                (r.path, r.warning)
                for r in s.execute(
                    select(Video.path, Video.warning).where(indexed, Video.warning.is_not(None)).order_by(Video.path)
                )
            ]
        predictor = json.loads(self.meta("predictor") or "null")
        return Stats(
            str(self.path),
            self.meta("backbone"),
            videos,
            len(failures),
            segments,
            seconds,
            failures,
            models,
            predictor,
            chunks,
            offline,
            partial,
            self.read_only,
            self.database,
            self.index.describe() if self.index is not None else {},
        )
