"""Text query -> hits. Three channels, each a ranked list of time ranges:

- visual: the nearest segments in FAISS, re-scored with the query-conditioned predictor over their cached
  frame tokens when asked (no decoding), neighbours merged into hits;
- speech: the chunks said, subtitled or shown on screen whose meaning is near the query (FAISS, text ids);
- text: the chunks holding the query's words (SQLite FTS5).

`all` fuses them by reciprocal rank. The cut-off then hides the moments that no channel found at or above its
floor (FLOORS), and each hit gets a relevance people can read (0 to 1, CONFIDENT). The hits returned (only those)
are captioned with the Y-decoder."""

import math
import re
from collections import Counter

import numpy as np

from footage.errors import BadValue, NotFound
from footage.models import Models
from footage.models.bundled import Bundled
from footage.models.experts import SEEN, WORDS
from footage.search.hits import Candidate, Hit, merge
from footage.store import Store
from footage.store.faiss_index import VectorIndex
from footage.store.query import Found
from footage.store.rows import EVERYWHERE, Scope

CANDIDATES_PER_HIT = 5  # FAISS neighbours fetched per hit asked for: merging folds several into one
MIN_CANDIDATES = 50
MODES = ("visual", "speech", "text", "all")
RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al. 2009): rank 1 is worth 1/61
# MiniLM cosine: unrelated sentences sit at 0-0.2. Chosen on bench/data/moments.jsonl's tuning half (0.35 before:
# the gist of a film's lines in other words scores 0.25-0.35, and a slide's picture query finds what is said over it)
SPEECH_MIN_SIMILARITY = 0.25
SPEECH_CONFIDENT = 0.5  # ... and counts double in fusion from here: picture queries reached 0.42 at most on speech
# On-screen text by meaning only this close: titles and credits are names, which the keyword channel finds; looser,
# a film's title card ("Big Buck Bunny") answered every query about a rabbit (tuning half: picture MRR 0.165 -> 0.194)
ON_SCREEN_MIN_SIMILARITY = 0.5
# The experts' words (footage/models/experts.py) count from here: a query about faces or the look of a picture
# reaches them, others do not (chosen on bench/data's tuning half, bench/retrieval.py)
SEEN_MIN_SIMILARITY = 0.5
PER_VIDEO = 3  # hits of one video on a page (bench/retrieval.py: it costs picture queries 0.03 MRR on the tuning
# half, moments ranked 4th and lower in a long film drop out of the list, counted in `more`)
VIDEO_WEIGHT = 0.5  # share of a segment's score that is its whole video's: chosen on the tuning half, where MRR
# rose with it up to 0.5 and stayed within one moment of that to 0.9 (a long film's mean says little of a moment)
KEYWORD_COVER = 0.5  # a keyword hit must hold at least this share of the query's words ("rabbit ... belly"
# must not match a sentence for its "around")
# The cut-off (issue 26): a moment is shown when one of the channels that found it scored it at or above that
# channel's floor; fusion still orders what is shown. Chosen by bench/relevance.py on bench/data's tuning half:
# per channel the highest floor before all the floors together push more than one of its 182 moments out of the
# top 5. The pictures' cosines (after the video weight) reach 0.11-0.17 for any query, nonsense too: at 0.18,
# 19 of the 20 queries of bench/data/nonsense.txt find nothing, and only a lucky 5th-ranked moment at 0.06 is
# lost (0.19 loses a second). On-screen text 0.575 and the experts' words 0.525 (0.6 and 0.55 lose one more);
# keywords 0.6 of the query's words (2/3 loses one more). Speech (and subtitles: the clips have none) keeps the
# floor it searches with (0.275 loses two more). No nonsense query reaches the text channels. The pictures' floor
# holds for the bundled backbone's zero-shot cosines only (zero_shot): for other backbones and trained predictors
# it is measured in the library (picture_levels, CHANCE_WORDS). Re-ranked, the tuning half keeps its top 5 under
# the same floor, and 16 of the 20 nonsense queries find nothing.
FLOORS = {
    "visual": 0.18,
    "speech": SPEECH_MIN_SIMILARITY,
    "subtitles": SPEECH_MIN_SIMILARITY,
    "on-screen": 0.575,
    SEEN: 0.525,
    "keyword": 0.6,
}
# Hit.relevance is 1 from here (0 at the floor): the median score of the channel's first hits that are their
# query's labelled moment on the tuning half (bench/relevance.py; on-screen 6 of them, the experts' words 3)
CONFIDENT = {"visual": 0.33, "speech": 0.71, "subtitles": 0.71, "on-screen": 0.66, SEEN: 0.58, "keyword": 0.8}
# Made-up words (none of bench/data/nonsense.txt, which tests the cut-off): how high the pictures' cosines go by
# chance under a predictor FLOORS was not chosen on (picture_levels). Their best pictures' 85th percentile is 0.178
# on bench/data's 16 clips with the untrained predictor, where FLOORS' 0.18 was chosen on the tuning half; with a
# predictor trained on 32 tuning moments it is 0.154, which keeps the report half's R@5 (0.298 -> 0.292, against
# 0.274 under 0.18) while 16 of the 20 nonsense queries find nothing (bench/relevance_trained.py)
CHANCE_WORDS = (
    "brindle skorp wazzit", "quorvex melliphant", "ffff gggg hhhh", "plonk trizzle", "yuiop ghjkl",
    "zabba dooble snarf", "wibbly grunf", "kreetch vollop", "mmmnnn ppptt", "oxxo pfft brrr", "lorbish tanquill",
    "dweezle pronk", "vvvv bbbb nnnn", "shmorple quib", "tzatz yoink", "gribblewomp", "xylk quarv",
    "fnarb glemp dorz", "pqpq rsrs", "snizzle wharf",
)  # fmt: skip
CHANCE_QUANTILE = 0.85
_chance: dict[tuple, float] = {}  # (store, generation or index, predictor) -> the pictures' floor there
WORDS_FROM = ("subtitles", "speech", "on-screen")  # whose words a hit shows when several were said or shown then
STOPWORDS = frozenset(
    "a about above across after again against all am an and any are as at be because been before behind being "
    "below beside between both but by can could did do does doing down during each few for from further had has "
    "have having he her here hers him his how i if in into is it its just like me more most my near no nor not "
    "of off on once only or other our out over own same she should so some such than that the their them then "
    "there these they this those through to too under until up very was we were what when where which while who "
    "whom why will with would you your".split()
)


def search(
    store: Store,
    models: Models,
    text: str | None,
    top_k: int = 10,
    rerank: bool = False,
    index: VectorIndex | None = None,
    mode: str = "all",
    scope: Scope = EVERYWHERE,
    vector: np.ndarray | None = None,
    per_video: int | None = PER_VIDEO,
    video_weight: float | None = None,
    like: int | None = None,
    cutoff: bool = False,
    min_relevance: float = 0.0,
    found_by: tuple[str, ...] = (),
) -> list[Hit]:
    """Hits for a query in one channel or all of them fused, within `scope`. `vector` searches the pictures
    with a Y-space vector instead of text (a segment's own, for "more like this", or an image's). `index`
    replaces the library's vectors (to try a predictor before keeping it). `per_video` keeps at most that many
    hits of one video (None: no limit), the others counted in its best hit's `more`; `video_weight` mixes each
    segment's score with its whole video's (a short clip that matches throughout rises above one scene of a
    long film; None: VIDEO_WEIGHT). `like` searches the pictures with a segment's stored vector, read in the
    first statement (more like this); NotFound when the library has no such segment. `cutoff` hides the
    moments that no channel found at or above its floor (FLOORS), `min_relevance` those less relevant than
    that (Hit.relevance: none for a search by a vector, whose pictures have no floor). `found_by` keeps the
    moments one of these channels found (before the top_k are taken)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not (isinstance(min_relevance, int | float) and 0 <= min_relevance <= 1):
        raise BadValue(f"min_relevance must be between 0 and 1, not {min_relevance}")
    reads = store.query(scope, index, like)  # at most two statements, three with captions (footage/store/query.py)
    if like is not None:
        vector = reads.vector_liked()
        if vector is None:
            raise NotFound(f"segment {like}: not in the library")
    query = vector if vector is not None else models.backbone.embed_query(text)  # (D,)
    video_weight = VIDEO_WEIGHT if video_weight is None else video_weight
    n = max(MIN_CANDIDATES, top_k * CANDIDATES_PER_HIT)
    pictures = mode in ("visual", "all")
    spoken_too = mode in ("speech", "all") and vector is None
    words = keywords(text) if mode in ("text", "all") and vector is None else []
    found = reads.fetch(  # the second: the rows of all that FAISS and the keyword index find
        pictures=reads.nearest(query, n) if pictures else None,
        n=n,
        spoken=reads.nearest_text(query, n) if spoken_too else None,
        words=words,
        keyword_n=n,
        tokens=rerank,
        videos=bool(video_weight),
    )
    ranked = []  # one ranked list of hits per channel searched
    if pictures:
        ranked.append(visual(found, models, query, rerank, video_weight))
        if vector is None and (zero_shot(models) or cutoff or min_relevance):  # a picture or a moment has no
            rate(ranked[0], picture_levels(store, models, index))  # floor; another predictor's is measured for a cut
    if spoken_too:
        ranked.append(rate(untie(spoken(found), ranked[0] if pictures else [])))
    if mode in ("text", "all") and vector is None:
        ranked.append(keyword(found, words))
    hits = rank(ranked, top_k, per_video, cutoff, min_relevance, found_by)
    for h in hits:  # the words said during each (a text chunk's hit has its own), and what the experts saw
        during = [c for c in found.said if c.path == h.path and c.start < h.end and h.start < c.end]
        if h.transcript is None:  # one channel's words: "said" and "on screen" are told apart where shown
            h.words_from = next((w for w in WORDS_FROM if any(c.channel == w for c in during)), None)
            h.transcript = " ".join(c.text for c in during if c.channel == h.words_from) or None
        h.seen = list(dict.fromkeys([*h.seen, *(c.text for c in during if c.channel == SEEN)]))
        h.duration = found.lengths.get(h.video_id)
    return hits


def zero_shot(models: Models) -> bool:
    """A bundled backbone with its untrained predictor: the cosines FLOORS["visual"] was chosen on. A trained
    predictor moves them (3 pairs of the photo video: "a cat" 0.42 -> 0.18, "zzqxj plorf" 0.10 -> 0.13)."""
    return isinstance(models.backbone, Bundled) and models.predictor is models.backbone.untrained


def rank(
    ranked: list[list[Hit]],
    top_k: int,
    per_video: int | None,
    cutoff: bool = False,
    min_relevance: float = 0.0,
    found_by: tuple[str, ...] = (),
) -> list[Hit]:
    """The channels' ranked lists fused (one channel keeps its scores), then the cut-off: a moment is shown when
    one of its channels found it at or above that channel's floor (relevance >= 0), in the order fusion gives
    (the cut-off hides; it does not re-rank); then the moments `found_by` one of those channels, if any are
    named; then at most `per_video` of a video."""
    hits = [hits for hits in ranked if hits]
    hits = fuse(hits, top_k) if len(hits) > 1 else hits[0] if hits else []
    if cutoff:
        hits = [h for h in hits if h.relevance is None or h.relevance >= 0]
    for h in hits:
        h.relevance = None if h.relevance is None else max(0.0, h.relevance)
    if min_relevance > 0:
        hits = [h for h in hits if h.relevance is not None and h.relevance >= min_relevance]
    if found_by:
        hits = [h for h in hits if set(h.channels) & set(found_by)]
    return diversify(hits, per_video)[:top_k]


def rate(hits: list[Hit], levels: tuple[float, float] | None = None) -> list[Hit]:
    """Sets each hit's relevance from its score and its channel's floor and confident level (level), or the
    (floor, confident) given."""
    for h in hits:
        channel = h.channels[0]
        floor, confident = levels or (FLOORS[channel], CONFIDENT[channel])
        h.relevance = level(h.score, floor, confident)
    return hits


def picture_levels(store: Store, models: Models, index: VectorIndex | None = None) -> tuple[float, float]:
    """The pictures' (floor, confident level): FLOORS' and CONFIDENT's for the cosines they were chosen on (the
    bundled backbone's untrained predictor); for any other predictor or backbone, the floor is the level that
    made-up words (CHANCE_WORDS) reach by chance in this library, measured once a generation: their best
    pictures' CHANCE_QUANTILE, and the confident level as far above it as FLOORS' is."""
    if zero_shot(models):
        return FLOORS["visual"], CONFIDENT["visual"]
    key = (str(store.path), id(index) if index is not None else store.index.generation, id(models.predictor))
    if key not in _chance:
        best = []
        for words in CHANCE_WORDS:  # by vector: a search by vector rates no pictures, so this does not recurse
            hits = search(store, models, None, 1, index=index, mode="visual", vector=models.backbone.embed_query(words),
                          per_video=None)  # fmt: skip
            best += [hits[0].score] if hits else []
        _chance.clear() if len(_chance) > 8 else None
        _chance[key] = float(np.quantile(best, CHANCE_QUANTILE)) if best else FLOORS["visual"]
    floor = _chance[key]
    return floor, floor + CONFIDENT["visual"] - FLOORS["visual"]


def level(score: float, floor: float, confident: float) -> float:
    """0 at the floor, 1 from the confident level; below the floor negative until `rank` has cut and clamped."""
    return min(1.0, (score - floor) / (confident - floor))


def better(a: float | None, b: float | None) -> float | None:
    """The relevance of a moment two channels found: the better one; None (a channel with no floor) when the
    other is below its floor, as that channel alone would show it."""
    if a is None or b is None:
        known = b if a is None else a
        return known if known is not None and known >= 0 else None
    return max(a, b)


def keywords(text: str) -> list[str]:
    """The query's words that a keyword hit must hold, stopwords aside."""
    return list(dict.fromkeys(w for w in re.findall(r"\w+", text.lower()) if w not in STOPWORDS))


def diversify(hits: list[Hit], per_video: int | None) -> list[Hit]:
    """At most `per_video` hits of one video, best first; the ones left out are counted in the `more` of that
    video's best hit (a search `under` its path lists them all)."""
    if per_video is None:
        return hits
    kept, best, shown = [], {}, Counter()
    for hit in hits:
        best.setdefault(hit.path, hit)
        if shown[hit.path] < per_video:
            kept.append(hit)
            shown[hit.path] += 1
        else:
            best[hit.path].more += 1
    return kept


def visual(found: Found, models: Models, query: np.ndarray, rerank: bool, video_weight: float = 0.0) -> list[Hit]:
    """The nearest segments, re-scored with the query-conditioned predictor when asked and mixed with their
    whole videos' scores, merged into hits."""
    ids, scores = found.pictures
    rows = found.segments
    candidates = [
        Candidate(int(i), r.video_id, r.path, r.start, r.end, float(s), r.thumbnail, r.offline)
        for i, s in zip(ids, scores)
        if (r := rows.get(int(i))) is not None  # deleted since FAISS was read
    ]
    if rerank and candidates:
        conditioned = models.predict([found.tokens[c.segment] for c in candidates], query)  # (C, D)
        for c, vector in zip(candidates, conditioned):
            c.score = float(vector @ query)
    hits = merge(candidates)  # on the segments' own scores: the moment's range is the segments' business
    if video_weight and hits:
        whole = found.video_vectors  # (D,) each: the mean of its segments
        for h in hits:
            h.score = (1 - video_weight) * h.score + video_weight * float(whole[h.video_id] @ query)
        hits.sort(key=lambda h: -h.score)
    return hits


def spoken(found: Found) -> list[Hit]:
    """Speech, subtitle and on-screen text chunks whose meaning is near the query (and not merely the least
    far)."""
    ids, scores = found.spoken
    keep = scores >= SPEECH_MIN_SIMILARITY
    hits = _chunk_hits(found, list(zip(ids[keep].tolist(), scores[keep].tolist())), channel=None)
    floor = {"on-screen": ON_SCREEN_MIN_SIMILARITY, SEEN: SEEN_MIN_SIMILARITY}
    return [h for h in hits if h.score >= floor.get(h.channels[0], 0.0)]


def untie(hits: list[Hit], pictures: list[Hit]) -> list[Hit]:
    """Hits of equal score (the experts' chunks of one word: "a black and white picture" in many videos) in the
    order of the pictures' score over them, so that of all the grey stretches the one that also looks like the
    query comes first."""

    def seen(h: Hit) -> float:
        return max(
            (p.score for p in pictures if p.path == h.path and p.start < h.end and h.start < p.end), default=-1.0
        )

    return sorted(hits, key=lambda h: (-h.score, -seen(h)))


def keyword(found: Found, words: list[str]) -> list[Hit]:
    """Chunks that contain most of the query's words (stopwords aside), by BM25."""
    hits = _chunk_hits(found, found.keyword, channel="keyword")
    need = max(1, math.ceil(KEYWORD_COVER * len(words)))
    kept = []
    for h in hits:
        held = len(set(words) & set(re.findall(r"\w+", h.transcript.lower())))
        if held >= need:
            h.relevance = level(held / len(words), FLOORS["keyword"], CONFIDENT["keyword"])
            kept.append(h)
    return kept


def _chunk_hits(found: Found, scored: list[tuple[int, float]], channel: str | None) -> list[Hit]:
    """Hits of text chunks, each with the picture shown over its middle."""
    hits = []
    for i, score in scored:
        if (c := found.chunks.get(i)) is None or (c.channel == SEEN and channel == "keyword"):  # deleted since
            continue  # FAISS was read; the experts' words are found by meaning only
        shown = found.shown.get(i)
        hits.append(
            Hit(
                c.path,
                c.start,
                c.end,
                score,
                thumbnail=shown.thumbnail if shown else None,
                segments=[shown.id] if shown else [],
                segment=shown.id if shown else None,
                channels=[channel or c.channel],
                transcript=None if c.channel == SEEN else c.text,
                words_from=None if c.channel == SEEN else c.channel,
                seen=[c.text] if c.channel == SEEN else [],
                offline=c.offline,
                video_id=c.video_id,
            )
        )
    return hits


def fuse(ranked: list[list[Hit]], top_k: int, weights: dict[str, float] | None = None) -> list[Hit]:
    """Reciprocal rank fusion: a moment scores sum(w / (RRF_K + its rank)) over the channels that found it,
    w = 2 for a sentence said, subtitled or shown that is confidently near the query (by meaning), else 1,
    times the channel's entry in `weights` if any (bench/gate.py's query-dependent gate; footage fuses
    without).
    Hits of one video that overlap in time are one moment, with the time range of its best-ranked hit (the
    shorter one on a tie: a spoken sentence is more precise than a 10 s shot), the picture of its visual hit
    and the words of its speech. Its `channels` are those that ranked it within their own top_k."""
    moments: list[Hit] = []
    scores: list[float] = []
    best: list[tuple[int, float]] = []  # per moment: (rank, length) of the hit whose range it has
    for hits in ranked:
        credited: set[int] = set()  # a moment counts once per channel, at its best rank there
        for rank, hit in enumerate(hits, 1):
            channel = hit.channels[0]  # every channel's hits carry their one channel
            k = next(
                (k for k, m in enumerate(moments) if m.path == hit.path and m.start < hit.end and hit.start < m.end),
                None,
            )
            if k is None:
                moments.append(hit)
                hit.channels = [channel] if rank <= top_k else []
                scores.append(0.0)
                best.append((rank, hit.end - hit.start))
                k = len(moments) - 1
            else:
                m = moments[k]
                if (rank, hit.end - hit.start) < best[k]:  # its range, and the picture shown during it
                    m.start, m.end = hit.start, hit.end
                    m.segment, m.segments, m.thumbnail = hit.segment, hit.segments, hit.thumbnail  # None: looked up
                    best[k] = (rank, hit.end - hit.start)
                if rank <= top_k and channel not in m.channels:
                    m.channels.append(channel)
                if m.transcript is None:
                    m.transcript, m.words_from = hit.transcript, hit.words_from
                m.relevance = better(m.relevance, hit.relevance)  # the best of its channels
            if k not in credited:
                credited.add(k)
                confident = channel not in ("visual", "keyword") and hit.score >= SPEECH_CONFIDENT
                scores[k] += (weights or {}).get(channel, 1.0) * (2 if confident else 1) / (RRF_K + rank)
    for m, score in zip(moments, scores):
        m.score = score
    return sorted(moments, key=lambda m: -m.score)


def caption(store: Store, decoder, hits: list[Hit], models: Models | None = None) -> None:
    """Sets each hit's caption, decoded from its best segment: from the segment's frames by agreement when the
    decoder can (the bundled one), else from its vector. Decoded once per segment and decoder, then read from
    the library's cache (one statement reads the cached captions and what the others are decoded from)."""
    ids = list({h.segment for h in hits if h.segment is not None})
    frames = models is not None and hasattr(decoder, "segments")
    captions, sources = store.caption_inputs(ids, decoder.id, frames)
    missing = [i for i in ids if i not in captions and i in sources]  # a segment deleted since the search: none
    if missing:
        if frames:
            made = [models.predict([t[None] for t in sources[i]]) for i in missing]  # (N, D) each frame alone
            new = dict(zip(missing, decoder.segments(made)))
        else:
            new = dict(zip(missing, decoder(np.stack([sources[i] for i in missing]))))
        store.save_captions(new, decoder.id)  # a write, after the reads
        captions.update(new)
    for h in hits:
        h.caption = captions.get(h.segment)
        if h.caption and h.seen:  # what the experts saw: who leads ("A close-up of a person's face, with ..."),
            # the look follows; the classes alone call a face a bow tie
            people = sorted((w for w in h.seen if w in WORDS["faces"]), key=WORDS["faces"].index)
            if people:
                h.caption = f"{people[0][:1].upper()}{people[0][1:]}, with {h.caption[:1].lower()}{h.caption[1:]}"
            h.caption += "".join(f"; {w}" for w in h.seen if w in WORDS["look"])
