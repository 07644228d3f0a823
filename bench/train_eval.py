"""Held-out retrieval before and after training the predictor, by k-fold over the annotated sample footage.

    python bench/train_eval.py /tmp/film-samples [--folds 5] [--epochs 100]

The annotations (bench/data/annotations.jsonl) are split into k folds by clip, so that no clip has moments on
both sides: each fold's moments are held out while the predictor trains on the others' (a copy of one indexed
library per fold), then R@1 / R@5 / MRR are scored on the held-out moments only, with re-ranking off and on.
The folds' held-out results are pooled (every moment is scored exactly once, never by a predictor trained
on it).

The label-free objective (footage.models.train.fit_label_free: predict a hidden frame's Y vector from the
rest of its segment) needs no labels, so it is fitted once on every segment of the library and scored on
the same held-out folds.
"""

import argparse
import shutil
import tempfile
from pathlib import Path

from retrieval import load_pairs

from footage import Library
from footage.models.predictor import Predictor
from footage.models.train import fit_label_free
from footage.search.evaluate import Scores


def pooled(parts: list[Scores]) -> tuple[float, float, float]:
    ranks = [r for s in parts for r in s.ranks]
    n = len(ranks)
    return (
        sum(r == 1 for r in ranks) / n,
        sum(r is not None and r <= 5 for r in ranks) / n,
        sum(1 / r for r in ranks if r) / n,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    pairs, clips = load_pairs(args.folders)
    # Folds by clip, balanced by number of moments: the long film's moments spread over all folds would put
    # the same scenes on both sides, so its 40 moments are split by time into contiguous blocks instead.
    groups: dict[str, list] = {}
    for p in pairs:
        key = p.path if len([q for q in pairs if q.path == p.path]) < 20 else f"{p.path}#{int(p.start // 120)}"
        groups.setdefault(key, []).append(p)
    folds: list[list] = [[] for _ in range(args.folds)]
    for group in sorted(groups.values(), key=len, reverse=True):
        min(folds, key=len).extend(group)
    print(f"{len(pairs)} moments in {len(clips)} clips, {args.folds} folds of {[len(f) for f in folds]}")

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        with Library(base) as lib:
            lib.index(clips)
            fit = fit_label_free(lib.store.all_frame_tokens()[1], args.epochs)
            label_free = Predictor(lib.models.predictor.config, fit.weight, fit.bias)
        print(f"label-free objective: loss {fit.losses[0]:.2f} -> {fit.losses[-1]:.2f}")
        rows: dict[str, list[Scores]] = {}
        kept = 0
        for k, held in enumerate(folds):
            train = [p for f in folds if f is not held for p in f]
            copy = Path(tmp) / f"fold{k}"
            shutil.copytree(base, copy)
            with Library(copy) as lib:
                for rerank in (False, True):
                    rows.setdefault(f"zero-shot|{'on' if rerank else 'off'}", []).append(lib.evaluate(held, rerank))
                rows.setdefault("label-free (JEPA-style)|off", []).append(lib.evaluate_predictor(label_free, held))
                report = lib.train(train, epochs=args.epochs, held_out=held)
                kept += report.kept
                rows.setdefault("trained, every candidate|off", []).append(report.after)
                for rerank in (False, True):  # what the library holds after `footage train`: guard applied
                    rows.setdefault(f"after footage train|{'on' if rerank else 'off'}", []).append(
                        lib.evaluate(held, rerank)
                    )
            shutil.rmtree(copy)
            print(
                f"fold {k}: trained on {len(train)}, held out {len(held)}, loss {report.losses[0]:.2f} -> "
                f"{report.losses[-1]:.2f}, held-out MRR {report.before.mrr:.3f} -> {report.after.mrr:.3f}, "
                f"{'kept' if report.kept else 'not kept'}",
                flush=True,
            )
    print(f"\npooled held-out scores over {args.folds} folds ({kept} of {args.folds} predictors kept):")
    print(f"{'predictor':30}{'re-rank':>8}{'R@1':>8}{'R@5':>8}{'MRR':>8}")
    for key, parts in rows.items():
        name, rerank = key.split("|")
        r1, r5, mrr = pooled(parts)
        print(f"{name:30}{rerank:>8}{r1:8.3f}{r5:8.3f}{mrr:8.3f}")


if __name__ == "__main__":
    main()
