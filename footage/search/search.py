"""Text query -> hits: embed the query, take the nearest segments from FAISS, re-score them with the
query-conditioned predictor over their cached frame tokens (no decoding), merge neighbours into hits, and
caption the hits returned (only those) with the Y-decoder."""

import numpy as np

from footage.models import Backbone
from footage.search.hits import Candidate, Hit, merge
from footage.store import Store
from footage.store.faiss_index import VectorIndex

CANDIDATES_PER_HIT = 5  # FAISS neighbours fetched per hit asked for: merging folds several into one
MIN_CANDIDATES = 50


def search(
    store: Store, backbone: Backbone, text: str, top_k: int = 10, rerank: bool = False, index: VectorIndex | None = None
) -> list[Hit]:
    """`index` replaces the library's vectors (to try a predictor before keeping it)."""
    query = backbone.embed_query(text)  # (D,)
    n = max(MIN_CANDIDATES, top_k * CANDIDATES_PER_HIT)
    ids, scores = store.search(query, n, index)
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


def caption(store: Store, decoder, hits: list[Hit]) -> None:
    """Sets each hit's caption, decoded from its best segment's vector; decoded once per segment and
    decoder, then read from the library's cache."""
    ids = list({h.segment for h in hits})
    captions = store.captions(ids, decoder.id)
    missing = [i for i in ids if i not in captions]
    if missing:
        vectors = store.vectors(missing)
        missing = [i for i in missing if i in vectors]  # deleted since the search
        if missing:
            new = dict(zip(missing, decoder(np.stack([vectors[i] for i in missing]))))
            store.save_captions(new, decoder.id)
            captions.update(new)
    for h in hits:
        h.caption = captions.get(h.segment)
