"""The predictor as a gate (issue 25): weights over the channels that depend on the query, as Collaborative
Experts' and MEE's gates do, against footage's fixed weights.

    python bench/gate.py FOLDER [--library DIR]

FOLDER holds the sample clips (scripts/fetch_samples.py FOLDER --film --speech). The gate is a logistic
regression from the query's Y-space vector to the channel that ranks its moment best (visual, speech with
on-screen text and the experts' words, keyword), fitted on bench/data's tuning half. In fusion each channel's
reciprocal rank is weighted by (1 - a) + a * 3 * p(channel | query): a = 0 is footage's fixed weights, and a
is chosen on the tuning half; the report half shows both. footage keeps fixed weights unless the gate wins
there.
"""

import argparse
import sys

import numpy as np
from retrieval import EXPERT_KINDS, PICTURE, both_halves, scores
from sklearn.linear_model import LogisticRegression

from footage.models.experts import SEEN
from footage.search import engine
from footage.search.engine import fuse

CHANNELS = ("visual", "speech", "text")  # the modes searched alone; "speech" holds on-screen text and `seen`
# each channel a hit names -> the mode that searches it
MODES = {"visual": "visual", "keyword": "text", **{c: "speech" for c in ("speech", "subtitles", "on-screen", SEEN)}}
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
weights: dict[str, float] = {}  # the mode weights of the query being searched


def weighted_fuse(ranked, top_k):
    """engine.fuse with the query's channel weights (each mode's weight for every channel it searches)."""
    return fuse(ranked, top_k, {channel: weights.get(mode, 1.0) for channel, mode in MODES.items()})


def summary(ranks, kinds) -> dict[str, float]:
    groups = {
        "pictures": [r for r, k in zip(ranks, kinds) if k in PICTURE],
        "people": [r for r, k in zip(ranks, kinds) if k == "people"],
        "look": [r for r, k in zip(ranks, kinds) if k == "look"],
        "all": [r for r, k in zip(ranks, kinds) if k not in EXPERT_KINDS],
    }
    return {name: scores(group)[2] for name, group in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _, halves, lib = both_halves(parser, "footage-gate-")
    with lib:
        fixed = {split: lib.evaluate(pairs, mode="all").ranks for split, (pairs, _, _) in halves.items()}
        engine.fuse = weighted_fuse
        same = lib.evaluate(halves["tune"][0], mode="all").ranks
        assert same == fixed["tune"], "weighted_fuse with no weights must rank as engine.fuse does"

        pairs, kinds, _ = halves["tune"]
        alone = np.array([[r or 10**9 for r in lib.evaluate(pairs, mode=c).ranks] for c in CHANNELS]).T  # (N, 3)
        found = alone.min(1) < 10**9
        queries = {p.text: lib.backbone.embed_query(p.text) for half in halves.values() for p in half[0]}
        X = np.stack([queries[p.text] for p in pairs])
        gate = LogisticRegression(max_iter=2000).fit(X[found], alone[found].argmin(1))
        counts = dict(zip(CHANNELS, np.bincount(alone[found].argmin(1), minlength=3).tolist()))
        print(f"gate fitted on {found.sum()} tuning moments; the channel that ranks each best alone: {counts}")

        search = lib.search

        def gated(strength):
            def run(text, **kwargs):
                p = dict(zip(gate.classes_, gate.predict_proba(queries[text][None])[0]))
                weights.clear()
                weights.update({c: (1 - strength) + strength * 3 * p.get(i, 0.0) for i, c in enumerate(CHANNELS)})
                return search(text, **kwargs)

            return run

        tuned = {}
        for strength in STRENGTHS:
            lib.search = gated(strength)
            tuned[strength] = summary(lib.evaluate(pairs, mode="all").ranks, kinds)
            print(f"tune, strength {strength}: " + ", ".join(f"{k} {v:.3f}" for k, v in tuned[strength].items()))
        chosen = max(STRENGTHS, key=lambda s: tuned[s]["all"])
        pairs, kinds, _ = halves["report"]
        lib.search = gated(chosen)
        gated_report = summary(lib.evaluate(pairs, mode="all").ranks, kinds)
        fixed_report = summary(fixed["report"], kinds)
        print(f"\nreport half, mode all (gate strength {chosen}, chosen on the tuning half)")
        print("| weights | pictures MRR | people MRR | look MRR | every moment MRR |\n|---|---|---|---|---|")
        for name, s in (("fixed (footage's)", fixed_report), ("the gate", gated_report)):
            print(f"| {name} | {s['pictures']:.3f} | {s['people']:.3f} | {s['look']:.3f} | {s['all']:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
