"""One search's reads in at most three statements, each one round trip to the database (PostgreSQL's too):

1. before FAISS (the first `nearest` makes it; a keyword search makes it only under a folder): the
   generation, which FAISS is brought up to when another process has changed the library; the ids of
   offline videos, when the generation moved since they were last read; the ids of the videos searched
   within (those under a folder: their paths compared in SQL, but paths not UTF-8, compared here); for
   "more like this", the vector of the segment it starts from;
2. `Query.fetch`, after FAISS: the rows of every segment and text chunk it found, with the stored vectors an
   IVF index re-scores its candidates with; the keyword hits; the videos' vectors; the frame tokens to
   re-rank with; the segment shown over each text chunk found, and the words said over each segment found;
3. `Reads.caption_inputs` (when hits are captioned): their cached captions, and the frame tokens or vectors
   of the segments not captioned yet.

A statement of several parts is their UNION ALL (`together`). Caching new captions is a write, after these.
A library from before schema 6 (no video vectors) also reads its videos' segments, once a generation.
"""

from collections import namedtuple
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    LargeBinary,
    String,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from footage.store.faiss_index import VectorIndex
from footage.store.maintenance import exact_chunks, exact_segments
from footage.store.rows import (
    EVERYWHERE,
    ID_END,
    TEXT_ID_BASE,
    VIEW_ID_BASE,
    Scope,
    StoredChunk,
    StoredSegment,
    existing,
    faiss_ids,
)
from footage.store.schema import PATH_MARK, FsPath, Meta, Segment, TextChunk, Video
from footage.store.vectors import Nearest

# the columns of a text chunk as a hit shows it (StoredChunk, then its offline flag)
CHUNK_COLUMNS = (
    TextChunk.id,
    TextChunk.video_id,
    Video.path,
    TextChunk.channel,
    TextChunk.start,
    TextChunk.end,
    TextChunk.text,
    Video.offline,
)
KEYWORD_COLUMNS = 'c.id, c.video_id, v.path, c.channel, c.start, c."end", c.text, v.offline'
# FTS5: the chunks holding any of the words, best first by BM25 (lower is better)
KEYWORD_SQL = (
    f"SELECT {KEYWORD_COLUMNS}, bm25(text_fts) AS score FROM text_fts JOIN text_chunks c ON c.id = text_fts.rowid "
    "JOIN videos v ON v.id = c.video_id WHERE text_fts MATCH :kw_q AND v.offline <= :kw_offline "
    "AND (:kw_videos IS NULL OR v.id IN (SELECT value FROM json_each(:kw_videos))) ORDER BY bm25(text_fts) "
    "LIMIT :kw_n"
)
# PostgreSQL: the GIN index on to_tsvector('simple', text) (schema.FTS_PG), any of the words (each a phrase of its
# tokens, as FTS5's "..."), best first by ts_rank; {query} ORs phraseto_tsquery('simple', :kw_wN) of each word
KEYWORD_SQL_PG = (
    f"SELECT {KEYWORD_COLUMNS}, ts_rank(to_tsvector('simple', c.text), {{query}}) AS score FROM text_chunks c "
    "JOIN videos v ON v.id = c.video_id WHERE to_tsvector('simple', c.text) @@ ({query}) "
    "AND v.offline <= :kw_offline AND (CAST(:kw_videos AS BIGINT[]) IS NULL OR "
    "v.id = ANY(CAST(:kw_videos AS BIGINT[]))) ORDER BY score DESC, c.id LIMIT :kw_n"
)
KEYWORD_TYPES = dict(
    id=Integer, video_id=Integer, path=FsPath, channel=String, start=Float, end=Float, text=String, offline=Integer
)

# the kinds of column a part may have, each in slots of its own in the statement all parts make up
KINDS = {"int": Integer(), "float": Float(), "str": String(), "path": FsPath(), "bytes": LargeBinary()}
# an empty slot's NULL, typed: PostgreSQL types a UNION's columns pair by pair, an untyped NULL as text
EMPTY = {
    kind: type_coerce(cast(null(), sql_type), KINDS[kind])
    for kind, sql_type in {
        "int": BigInteger(),
        "float": Float(),
        "str": String(),
        "path": String(),
        "bytes": LargeBinary(),
    }.items()
}


def kind_of(type_) -> str:
    for name in ("path", "bytes", "float", "int", "str"):  # FsPath before String, whose decorator it is
        if isinstance(type_, type(KINDS[name])):
            return name
    raise TypeError(f"no slot for a column of type {type_!r}")


def together(s: Session, parts: dict) -> dict[str, list]:
    """Runs several SELECTs as one statement: their rows UNION ALL'd into one shape (the part's number, then
    slots of each kind of column: integers, floats, strings, paths, bytes) and sorted back into each part's
    rows (named tuples of its columns), in the order it gave them. Parts may order and limit."""
    if not parts:
        return {}
    subs = {name: part.subquery() for name, part in parts.items()}
    placed = {}  # part -> [(kind, slot)] of each of its columns
    widths = dict.fromkeys(KINDS, 0)
    for name, sub in subs.items():
        used = dict.fromkeys(KINDS, 0)
        placed[name] = []
        for column in sub.c:
            kind = kind_of(column.type)
            placed[name].append((kind, used[kind]))
            used[kind] += 1
        widths = {k: max(widths[k], used[k]) for k in KINDS}
    selects = []
    for number, (name, sub) in enumerate(subs.items()):
        slots = {(kind, slot): column for (kind, slot), column in zip(placed[name], sub.c)}
        columns = [literal_column(str(number), Integer).label("part")]
        for kind, width in widths.items():
            for slot in range(width):
                column = slots.get((kind, slot))
                columns.append((column if column is not None else EMPTY[kind]).label(f"{kind}{slot}"))
        selects.append(select(*columns))
    statement = union_all(*selects) if len(selects) > 1 else selects[0]
    first = dict(zip(KINDS, np.cumsum([1, *widths.values()]).tolist()))  # a kind's first slot in a row
    where = [[first[kind] + slot for kind, slot in placed[name]] for name in subs]  # each part's columns
    shapes = [namedtuple("Row", [c.key for c in sub.c], rename=True) for sub in subs.values()]
    found = [[] for _ in subs]
    for row in s.execute(statement):
        part = row[0]
        found[part].append(shapes[part](*(row[k] for k in where[part])))
    return dict(zip(subs, found))


@dataclass
class Found:
    """What a search's second statement read (Query.fetch)."""

    pictures: tuple[np.ndarray, np.ndarray] | None = None  # the nearest segments' ids and scores, best first
    segments: dict[int, StoredSegment] = field(default_factory=dict)  # those segments' rows (and maybe more)
    tokens: dict[int, np.ndarray] = field(default_factory=dict)  # their frame tokens (to re-rank with)
    video_vectors: dict[int, np.ndarray] = field(default_factory=dict)  # their videos' vectors
    lengths: dict[int, float | None] = field(default_factory=dict)  # video id -> its length (s), of all found
    spoken: tuple[np.ndarray, np.ndarray] | None = None  # the nearest text chunks' ids and scores, best first
    keyword: list[tuple[int, float]] = field(default_factory=list)  # (chunk id, score) holding the words
    chunks: dict[int, StoredChunk] = field(default_factory=dict)  # those text chunks' rows
    shown: dict[int, StoredSegment] = field(default_factory=dict)  # chunk id -> the segment shown over its middle
    said: list[StoredChunk] = field(default_factory=list)  # text chunks over the segments found, in time order


class Query:
    """One search's reads (see the module's docstring)."""

    def __init__(self, store, scope: Scope = EVERYWHERE, index: VectorIndex | None = None, like: int | None = None):
        """`index` replaces the library's vectors (to try a predictor before keeping it); `like` names a segment
        whose stored vector the first statement reads too (more like this)."""
        self.store, self.scope, self.index, self.like = store, scope, index, like
        self.liked: np.ndarray | None = None  # that segment's (D,) vector, once read
        self.prepared = False
        self.skip: np.ndarray | None = None  # FAISS ids left out
        self.keep: np.ndarray | None = None  # FAISS ids searched (None: all)
        self.videos: frozenset[int] | None = scope.videos  # the videos searched (None: all), `under` resolved

    def _ids(self, name: str, ids):
        """A set of ids as one parameter whatever their number (SQLite caps a statement's variables): the
        subquery listing them."""
        ids = sorted({int(i) for i in ids})
        if self.store.database:
            return text(f"SELECT unnest(CAST(:{name} AS BIGINT[]))").bindparams(bindparam(name, ids))
        return text(f"SELECT value FROM json_each(:{name})").bindparams(bindparam(name, _json(ids)))

    def _prepare(self) -> None:
        """The first statement (the caller holds the store's guard): brings FAISS up to the database's
        generation, and reads which FAISS ids to leave out and to keep to."""
        if self.prepared:
            return
        self.prepared = True
        store, scope = self.store, self.scope
        now = select(Meta.value).where(Meta.key == "generation")
        parts = {"generation": now}
        if self.like is not None:
            parts["like"] = select(Segment.vector).where(Segment.id == int(self.like))
        known = store._offline[0] if store._offline is not None else None
        if not scope.offline:  # offline videos' ids, unless those read at this generation are kept
            moved = now.scalar_subquery() != str(known)
            away = select(Video.id).where(Video.offline == 1)
            parts["offline segments"] = select(Segment.id).where(Segment.video_id.in_(away), moved)
            parts["offline chunks"] = select(TextChunk.id).where(TextChunk.video_id.in_(away), moved)
        if scope.videos is not None or scope.under is not None or scope.filtered:
            within = self._within()
            parts["segments within"] = select(Segment.id, Segment.video_id).where(Segment.video_id.in_(within))
            parts["chunks within"] = select(TextChunk.id, TextChunk.video_id).where(TextChunk.video_id.in_(within))
            if scope.under is not None:
                parts["videos under"] = select(Video.id).where(_under(scope.under))
                parts["odd paths"] = select(Video.id, Video.path).where(self._odd())
            if scope.filtered:
                parts["videos kept"] = select(Video.id).where(_filters(scope))
        with store.Session() as s:
            rows = together(s, parts)
        generation = int(rows["generation"][0].value) if rows["generation"] else 0
        if rows.get("like"):
            self.liked = store._vector(rows["like"][0].vector)
        if not scope.offline and generation != known:
            store._offline = (generation, _faiss_ids(rows["offline segments"], rows["offline chunks"], store))
        if self.index is None:
            store.refresh(generation)
        skip = []
        if not scope.offline:  # read anew when the refresh found the library changed once more
            skip.append(store._offline[1] if store._offline[0] == store.index.generation else store.offline_ids())
        if scope.exclude:
            skip.append(faiss_ids(sorted(scope.exclude), store.view_count))
        self.skip = np.concatenate(skip) if skip else None
        if scope.under is not None:
            roots = [Path(r) for r in scope.under]
            odd = {r.id for r in rows["odd paths"] if any(Path(r.path).is_relative_to(root) for root in roots)}
            under = {r.id for r in rows["videos under"]} | odd
            self.videos = frozenset(under if scope.videos is None else under & scope.videos)
        if scope.filtered:
            kept = {r.id for r in rows["videos kept"]}
            self.videos = frozenset(kept if self.videos is None else kept & self.videos)
        if self.videos is not None:
            segments = [r for r in rows["segments within"] if r.video_id in self.videos]
            self.keep = _faiss_ids(segments, [r for r in rows["chunks within"] if r.video_id in self.videos], store)

    def _within(self):
        """The ids of the videos searched, or more (the `under` ones also with every path not UTF-8)."""
        scope = self.scope
        if scope.under is None and not scope.filtered:
            return self._ids("within", scope.videos)
        under = or_(_under(scope.under), self._odd()) if scope.under is not None else true()
        within = select(Video.id).where(under, _filters(scope))
        return within.where(Video.id.in_(self._ids("within", scope.videos))) if scope.videos is not None else within

    def _odd(self):
        """Videos whose paths SQL cannot compare with a folder's: not UTF-8 (bytes in SQLite, escaped in
        PostgreSQL)."""
        if self.store.database:
            return func.substr(Video.path, 1, len(PATH_MARK)) == literal(PATH_MARK, String)
        return func.typeof(Video.path) == "blob"

    def vector_liked(self) -> np.ndarray | None:
        """The stored (D,) vector of the segment `like` (the first statement reads it); None when there is no
        such segment."""
        with self.store.guard:
            self._prepare()
        return self.liked

    def scope_resolved(self) -> Scope:
        """The scope with the videos under its folders listed (the first statement, when they are asked for)."""
        if self.scope.under is not None or self.scope.filtered:
            with self.store.guard:
                self._prepare()
        return replace(self.scope, videos=self.videos, under=None, since=None, until=None, min_length=None,
                       max_length=None)  # fmt: skip

    def nearest(self, vector: np.ndarray, n: int) -> Nearest:
        """The n nearest segments, halfway: a segment with views may be found once for each (`pictures` keeps
        its best), and IVF candidates are re-scored with what `fetch` reads."""
        store = self.store
        with store.guard:
            self._prepare()
            index = self.index or store.index
            k, ids = n * (1 + store.view_count), (0, TEXT_ID_BASE)
            if hasattr(index, "nearest"):
                return index.nearest(vector, k, ids=ids, skip=self.skip, keep=self.keep)
            return Nearest.of(index.search(vector, k, ids=ids, skip=self.skip, keep=self.keep), k)

    def nearest_text(self, vector: np.ndarray, n: int) -> Nearest:
        """The n text chunks nearest a query vector, halfway (FAISS ids: TEXT_ID_BASE + a chunk's id)."""
        with self.store.guard:
            self._prepare()
            return self.store.index.nearest(vector, n, ids=(TEXT_ID_BASE, ID_END), skip=self.skip, keep=self.keep)

    def pictures(self, found: Nearest, exact: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The n nearest segments' ids and scores, best first, a segment with views scoring as its best one."""
        ids, scores = found.finish(exact)
        segments = ids % VIEW_ID_BASE
        _, first = np.unique(segments, return_index=True)  # best first, so a segment's first entry is its best
        keep = np.sort(first)[:n]
        return segments[keep], scores[keep]

    def finish(self, found: Nearest) -> tuple[np.ndarray, np.ndarray]:
        """A Nearest's ids and scores, reading what IVF re-scores with alone (a statement of its own)."""
        exact = self.store._exact_vectors(found.pending) if len(found.pending) else None
        return found.finish(exact)

    def fetch(
        self,
        pictures: Nearest | None = None,
        n: int = 0,
        spoken: Nearest | None = None,
        words: list[str] = (),
        keyword_n: int = 0,
        tokens: bool = False,
        videos: bool = False,
    ) -> Found:
        """The second statement: the rows of what FAISS found (`pictures`, the nearest n segments; `spoken`,
        the nearest text chunks), with the chunks holding any of `words` (the best keyword_n), the frame tokens
        of the segments (`tokens`), their videos' vectors (`videos`), the segment shown over each chunk and
        the chunks said over each segment."""
        store, scope = self.store, self.scope
        segment_ids = np.unique(pictures.ids() % VIEW_ID_BASE) if pictures is not None else []
        chunk_ids = np.unique(spoken.ids() - TEXT_ID_BASE) if spoken is not None else []
        pending = np.concatenate([f.pending for f in (pictures, spoken) if f is not None] or [np.zeros(0, np.int64)])
        words = [w for w in (w.replace('"', "") for w in words) if w]
        parts = {}
        if len(segment_ids):
            mine = Segment.id.in_(self._ids("segments", segment_ids))  # one parameter, in each part
            parts["segments"] = (
                select(Segment.id, Segment.video_id, Video.path, Segment.start, Segment.end, Segment.thumbnail)
                .add_columns(Video.offline)
                .join(Video)
                .where(mine)
            )
            if tokens:
                parts["tokens"] = select(Segment.id, Segment.frame_vectors).where(mine)
            if videos:
                of = select(Segment.video_id).where(mine)
                parts["videos"] = select(Video.id, Video.vector).where(Video.id.in_(of))
            said = aliased(TextChunk)
            parts["said"] = (
                select(said.id, said.video_id, Video.path, said.channel, said.start, said.end, said.text, Video.offline)
                .select_from(Segment)
                .join(said, and_(said.video_id == Segment.video_id, said.start < Segment.end, Segment.start < said.end))
                .join(Video, Video.id == said.video_id)
                .where(mine)
            )
        if len(wanted := exact_segments(pending)):
            parts["exact"] = select(Segment.id, Segment.vector, Segment.views).where(
                Segment.id.in_(self._ids("exact", wanted))
            )
        if len(wanted := exact_chunks(pending)):
            parts["exact text"] = select(TextChunk.id, TextChunk.vector).where(
                TextChunk.id.in_(self._ids("exact_text", wanted))
            )
        chunks = []  # which chunks' rows are read: those FAISS found, and the keyword hits
        if len(chunk_ids):
            found = self._ids("chunks", chunk_ids)
            chunks.append(TextChunk.id.in_(found))
            parts["chunks"] = select(*CHUNK_COLUMNS).join(Video).where(TextChunk.id.in_(found))
            # a chunk without words gets the words said over it (as a segment does)
            empty, said = aliased(TextChunk), aliased(TextChunk)
            parts["said over chunks"] = (
                select(said.id, said.video_id, Video.path, said.channel, said.start, said.end, said.text, Video.offline)
                .select_from(empty)
                .join(said, and_(said.video_id == empty.video_id, said.start < empty.end, empty.start < said.end))
                .join(Video, Video.id == said.video_id)
                .where(empty.id.in_(found), empty.text == "")
            )
        if words:
            scope = self.scope_resolved()
            keyword = keyword_select(bool(store.database), words, keyword_n, scope).subquery()
            parts["keyword"] = select(keyword)
            chunks.append(TextChunk.id.in_(select(keyword.c.id)))
        if chunks:
            parts["shown"] = _shown(or_(*chunks))
        of = [select(Segment.video_id).where(mine)] if len(segment_ids) else []
        of += [select(TextChunk.video_id).where(or_(*chunks))] if chunks else []
        if of:  # the videos' lengths: a hit shows where it lies in its video
            parts["lengths"] = select(Video.id, Video.duration).where(Video.id.in_(union_all(*of)))
        with store.Session() as s:
            rows = together(s, parts)
        return self._found(rows, pictures, n, spoken, pending, videos)

    def _found(self, rows: dict, pictures, n: int, spoken, pending: np.ndarray, videos: bool) -> Found:
        store = self.store
        found = Found()
        found.segments = {r.id: _segment(store, r) for r in rows.get("segments", [])}
        found.tokens = {r.id: store._tokens(r.frame_vectors) for r in rows.get("tokens", [])}
        exact = np.zeros((0, 0), np.float32)
        if len(pending):
            segments = {r.id: (r.vector, r.views) for r in rows.get("exact", [])}
            exact = store._exact_of(pending, segments, {r.id: r.vector for r in rows.get("exact text", [])})
        if pictures is not None:
            mine = exact[: len(pictures.pending)] if len(pictures.pending) else None
            found.pictures = self.pictures(pictures, mine, n)
        if spoken is not None:
            mine = exact[len(exact) - len(spoken.pending) :] if len(spoken.pending) else None
            ids, scores = spoken.finish(mine)
            found.spoken = (ids - TEXT_ID_BASE, scores)
        if videos:
            stored = {r.id: r.vector for r in rows.get("videos", [])}
            found.video_vectors = {v: store._vector(blob) for v, blob in stored.items() if blob is not None}
            # a library from before schema 6 works its videos' vectors out from their segments (once a generation)
            found.video_vectors |= store.video_vectors([v for v, blob in stored.items() if blob is None])
        found.lengths = {r.id: r.duration for r in rows.get("lengths", [])}
        found.chunks = {r.id: _chunk(r) for r in rows.get("chunks", [])}
        found.keyword = keyword_scores(rows.get("keyword", []), bool(store.database))
        found.chunks |= {r.id: _chunk(r) for r in rows.get("keyword", [])}
        found.shown = {r.chunk: _segment(store, r) for r in rows.get("shown", [])}
        said = {r.id: _chunk(r) for r in (*rows.get("said", []), *rows.get("said over chunks", []))}
        found.said = sorted(said.values(), key=lambda c: (c.start, c.id))
        return found


def keyword_select(postgres: bool, words: list[str], n: int, scope: Scope):
    """The keyword hits' select: the n text chunks holding any of the words (none empty, none with a double
    quote) within the scope, best first by BM25 (ts_rank), each row a chunk's CHUNK_COLUMNS and its score."""
    videos = None if scope.videos is None else sorted(int(v) for v in scope.videos)
    values = {"kw_n": n, "kw_offline": int(scope.offline)}
    if postgres:
        query = " || ".join(f"phraseto_tsquery('simple', :kw_w{i})" for i in range(len(words)))
        values |= {f"kw_w{i}": w for i, w in enumerate(words)}
        sql = KEYWORD_SQL_PG.format(query=query)
    else:
        values |= {"kw_q": " OR ".join(f'"{w}"' for w in words)}
        videos = None if videos is None else _json(videos)
        sql = KEYWORD_SQL
    return text(sql).bindparams(kw_videos=videos, **values).columns(**KEYWORD_TYPES, score=Float)


def keyword_scores(rows: list, postgres: bool) -> list[tuple[int, float]]:
    """keyword_select's rows -> (chunk id, score), best first, higher is better."""
    if postgres:
        return sorted(((r.id, float(r.score)) for r in rows), key=lambda r: (-r[1], r[0]))
    return [(r.id, -float(r.score)) for r in sorted(rows, key=lambda r: r.score)]


def _under(folders):
    """Videos whose paths (UTF-8) are one of these folders or under one (as Path.is_relative_to: the paths
    stored are resolved, so that is the folder and a slash starting theirs)."""
    plain = []
    for folder in sorted(folders):
        try:
            folder.encode("utf-8")
        except UnicodeEncodeError:  # not UTF-8 (surrogates): only paths that are not either lie under it
            continue
        prefix = folder.rstrip("/") + "/"
        plain += [Video.path == folder, func.substr(Video.path, 1, len(prefix)) == literal(prefix, String)]
    return or_(false(), *plain)


def _filters(scope: Scope):
    """Videos whose file dates and lengths are within the scope's bounds (true() when it has none)."""
    bounds = [
        Video.mtime >= scope.since if scope.since is not None else None,
        Video.mtime < scope.until if scope.until is not None else None,
        Video.duration >= scope.min_length if scope.min_length is not None else None,
        Video.duration <= scope.max_length if scope.max_length is not None else None,
    ]
    return and_(true(), *(b for b in bounds if b is not None))


def _shown(chunks):
    """The segment shown over each chunk's middle (the one covering it, else the nearest; the first of two
    that touch there), for the chunks `chunks` selects."""
    other = aliased(Segment)
    middle = (TextChunk.start + TextChunk.end) * 0.5  # as (start + end) / 2, in both databases
    distance = case((other.start > middle, other.start - middle), (other.end < middle, middle - other.end), else_=0.0)
    # SQLite's ORDER BY sees no outer column: the distance is a column of a (correlated) subquery first
    near = select(other.id, distance.label("distance")).where(other.video_id == TextChunk.video_id)
    near = near.correlate(TextChunk).subquery()
    nearest = select(near.c.id).order_by(near.c.distance, near.c.id).limit(1).scalar_subquery()
    pairs = select(TextChunk.id.label("chunk"), nearest.label("segment")).where(chunks).subquery()
    return (
        select(pairs.c.chunk, Segment.id, Segment.video_id, Video.path, Segment.start, Segment.end)
        .add_columns(Segment.thumbnail, Video.offline)
        .select_from(pairs)
        .join(Segment, Segment.id == pairs.c.segment)
        .join(Video, Video.id == Segment.video_id)
    )


def _segment(store, r) -> StoredSegment:
    thumbnail = existing(store.path / r.thumbnail) if r.thumbnail else None
    return StoredSegment(r.id, r.video_id, r.path, r.start, r.end, thumbnail, bool(r.offline))


def _chunk(r) -> StoredChunk:
    return StoredChunk(r.id, r.video_id, r.path, r.channel, r.start, r.end, r.text, bool(r.offline))


def _faiss_ids(segments: list, chunks: list, store) -> np.ndarray:
    """Every FAISS id of these segments (their views' too) and text chunks."""
    segs = np.fromiter((r.id for r in segments), np.int64, len(segments))
    texts = np.fromiter((r.id for r in chunks), np.int64, len(chunks))
    return np.concatenate([faiss_ids(segs, store.view_count), texts + TEXT_ID_BASE])


def _json(ids: list[int]) -> str:
    return "[" + ",".join(str(i) for i in ids) + "]"
