"""Text query -> hits: embed the query, take the nearest segments from FAISS, re-score them with the
query-conditioned predictor over their cached frame tokens (no decoding), merge neighbours into hits."""

from footage.models import Backbone
from footage.search.hits import Candidate, Hit, merge
from footage.store import Store

CANDIDATES_PER_HIT = 5  # FAISS neighbours fetched per hit asked for: merging folds several into one
MIN_CANDIDATES = 50


def search(store: Store, backbone: Backbone, text: str, top_k: int = 10, rerank: bool = False) -> list[Hit]:
    query = backbone.embed_query(text)  # (D,)
    ids, scores = store.search(query, max(MIN_CANDIDATES, top_k * CANDIDATES_PER_HIT))
    rows = store.segments(ids)
    candidates = [
        Candidate(int(i), r.video_id, r.path, r.start, r.end, float(s), r.thumbnail)
        for i, s in zip(ids, scores)
        if (r := rows.get(int(i))) is not None  # deleted since FAISS was read
    ]
    if rerank and candidates:
        tokens = store.frame_tokens([c.segment for c in candidates])
        conditioned = backbone.predict([tokens[c.segment] for c in candidates], query)  # (C, D)
        for c, vector in zip(candidates, conditioned):
            c.score = float(vector @ query)
    return merge(candidates)[:top_k]
