"""Issue 11 item 4: can query-conditioned re-ranking earn its place? Experiments on cached frame tokens only.

    .venv/bin/python bench/predictor_experiment.py --library /tmp/pred/lib            # tuning half, every variant
    .venv/bin/python bench/predictor_experiment.py --library /tmp/pred/lib --split report --only NAME

Each variant replaces the predictor's query-conditioned pooling (Backbone.predict with a query) inside the real
search (footage.search.engine.visual's rerank branch: the nearest 50 segments re-scored, merged, mixed with the
video's score, at most 3 per video), so every variant is scored exactly as bench/retrieval.py scores
`--mode visual`. A variant returns (C, D) vectors whose dot product with the query is the segment's new score
(score-level variants return score * query). Nothing in the library is written.
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from retrieval import PICTURE, by_kind, load_moments  # noqa: E402

from footage import Library  # noqa: E402


def unit(x, axis=-1):
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), 1e-12)


# ---- pooling variants: (token_sets [(N_i, D)], query (D,)) -> (C, D) -------------------------------------------


def attention(temperature, centre=None, project=None, k=None):
    """Softmax over frames by cosine with the query (the shipped rerank at T=0.05). centre: subtract this vector
    from the tokens before the cosine (pool the raw tokens); project: (D, D) applied to the query; k: only the
    k best frames."""

    def pool(token_sets, query):
        q = unit(query @ project) if project is not None else query
        out = []
        for t in token_sets:
            key = unit(t - centre) if centre is not None else unit(t)
            logits = key @ q / temperature
            if k is not None and len(t) > k:
                logits = np.where(logits >= np.sort(logits)[-k], logits, -np.inf)
            w = np.exp(logits - logits.max())
            out.append(unit((w / w.sum()) @ t))
        return np.stack(out)

    return pool


def mean_pool(token_sets, query):
    return np.stack([unit(t.mean(0)) for t in token_sets])


def score_mix(a, temperature=0.05):
    """a * cos(mean) + (1 - a) * cos(attention-pooled)."""
    att = attention(temperature)

    def pool(token_sets, query):
        s = a * (mean_pool(token_sets, query) @ query) + (1 - a) * (att(token_sets, query) @ query)
        return s[:, None] * query[None]

    return pool


def gated(margin, temperature=0.05):
    """Attention only where one frame stands out: when the best frame's cosine beats the mean frame's by
    `margin` (a long segment where a few seconds match), else the even mean."""
    att = attention(temperature)

    def pool(token_sets, query):
        out = []
        for t in token_sets:
            c = unit(t) @ query
            out.append(att([t], query)[0] if c.max() - c.mean() >= margin else unit(t.mean(0)))
        return np.stack(out)

    return pool


def soft_gate(scale, temperature=0.05):
    """Mix of attention and mean scores with weight sigmoid(scale * (1 - normalised attention entropy) - 2)."""

    def pool(token_sets, query):
        s = []
        for t in token_sets:
            c = unit(t) @ query
            m = float(unit(t.mean(0)) @ query)
            if len(t) < 2:
                s.append(m)
                continue
            w = np.exp((c - c.max()) / temperature)
            w /= w.sum()
            h = -(w * np.log(w + 1e-12)).sum() / math.log(len(t))
            g = 1 / (1 + math.exp(-(scale * (1 - h) - 2)))
            s.append(g * float(unit(w @ t) @ query) + (1 - g) * m)
        return np.array(s)[:, None] * query[None]

    return pool


# ---- harness ------------------------------------------------------------------------------------------------------


def run(lib, pairs, kinds, pool, rerank=True, per_video=3):
    lib.models.predict = lambda token_sets, query=None: pool(token_sets, query)
    ranks = lib.evaluate(pairs, mode="visual", rerank=rerank, per_video=per_video).ranks
    return by_kind(ranks, kinds)


def line(name, s, off):
    cells = " ".join(f"{k[:6]}={s[k][2]:.3f}" for k in PICTURE if k in s)
    on, was = s["pictures"][2], off["pictures"][2]
    return f"{name:38s} pictures MRR {on:.3f} (off {was:.3f}, {on - was:+.3f})  {cells}"


def untrained(lib):
    ids, tokens = lib.store.all_frame_tokens()
    centre = np.concatenate(tokens).mean(0)
    v = {"shipped: attention T=0.05": attention(0.05), "mean (sanity: = off)": mean_pool}
    for t in (0.01, 0.02, 0.1, 0.2, 0.5):
        v[f"attention T={t}"] = attention(t)
    for k in (1, 2, 3):
        v[f"mean of top-{k} frames"] = attention(1e6, k=k)
    for t in (0.02, 0.05, 0.1):
        v[f"attention on centred keys T={t}"] = attention(t, centre=centre)
    for a in (0.25, 0.5, 0.75):
        v[f"score mix a={a}"] = score_mix(a)
    for m in (0.02, 0.05, 0.1):
        v[f"gated margin={m}"] = gated(m)
    for s in (2, 4, 8):
        v[f"entropy soft gate scale={s}"] = soft_gate(s)
    return v


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--library", type=Path, required=True)
    p.add_argument("--samples", type=Path, default=Path(__file__).parent.parent / "samples")
    p.add_argument("--split", default="tune")
    p.add_argument("--only", help="variant name (substring)")
    p.add_argument("--learned", action="store_true", help="also the label-free trained pooling")
    p.add_argument("--per-video", type=int, default=3)
    a = p.parse_args()
    per_video = a.per_video or None
    pairs, kinds, _ = load_moments(a.samples, a.split)
    with Library(a.library) as lib:
        original = lib.models.predict
        off = run(lib, pairs, kinds, mean_pool, rerank=False, per_video=per_video)
        print(f"{a.split} half, mode visual, per_video {per_video}: {len(pairs)} moments")
        print(line("off (FAISS mean)", off, off))
        variants = untrained(lib)
        if a.learned:
            from predictor_learned import learned_variants

            variants.update(learned_variants(lib))
        for name, pool in variants.items():
            if a.only and a.only not in name:
                continue
            t = time.time()
            print(
                line(name, run(lib, pairs, kinds, pool, per_video=per_video), off),
                f"[{time.time() - t:.0f}s]",
                flush=True,
            )
        lib.models.predict = original


if __name__ == "__main__":
    main()
