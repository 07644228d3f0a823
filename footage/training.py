"""Training the predictor on labelled pairs (`footage train`), scoring a predictor without keeping it, and
every segment vector recomputed for new views (`footage index --view`).

All of it works from the frame tokens the library caches: nothing is decoded again. Library.train and
Library.evaluate_predictor run these under the library's write lock.
"""

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from footage.errors import FootageError
from footage.models import Models
from footage.models.predictor import Predictor
from footage.search.engine import search
from footage.search.evaluate import Pair, Scores, evaluate
from footage.store import Store
from footage.store.faiss_index import VectorIndex
from footage.store.store import disk_full, faiss_entries

POOL_BATCH = 1024  # segments pooled at a time


@dataclass
class TrainReport:
    train_pairs: int
    held_out_pairs: int
    losses: list[float]  # InfoNCE per epoch
    before: Scores | None  # held-out retrieval with the predictor in use before
    after: Scores | None  # ... with the new one
    kept: bool  # False: held-out MRR dropped, the library is unchanged
    version: int | None  # the new predictor's version when kept
    skipped: list[str] = field(default_factory=list)  # videos of pairs left out: not indexed in the library


def indexed_pairs(store: Store, pairs: list[Pair]) -> tuple[list[Pair], list[str]]:
    """The pairs whose videos are indexed, and the videos of the others; FootageError when none are."""
    indexed = {path for path, v in store.videos().items() if v.status == "indexed"}
    kept = [p for p in pairs if p.path in indexed]
    skipped = sorted({p.path for p in pairs} - indexed)
    if pairs and not kept:
        raise FootageError(
            f"none of the {len(pairs)} pairs' videos are in the library (e.g. {skipped[0]}); run footage index first"
        )
    return kept, skipped


def train(
    store: Store,
    models: Models,
    folder: Path,
    pairs: list[Pair],
    epochs: int,
    holdout: float,
    seed: int,
    on_epoch: Callable[[int, float], None] | None,
    held_out: list[Pair] | None,
    scores: Callable[[list[Pair]], Scores],
) -> tuple[TrainReport, Models | None]:
    """Fits a predictor on `pairs` (indexed ones: see indexed_pairs), scores the held-out ones before (with
    `scores`, the library's search) and after, and keeps it only if held-out MRR does not drop: saved as the
    library's next version in `folder`/predictors, every segment vector recomputed with it in one transaction.
    Returns the report and the library's new models (None when not kept). The caller holds the write lock."""
    if held_out is not None:  # a split chosen by the caller (k-fold in bench/train_eval.py)
        held, chosen = held_out, pairs
    else:
        order = random.Random(seed).sample(pairs, len(pairs))
        n_held = round(len(pairs) * holdout) if holdout > 0 else 0
        held, chosen = order[:n_held], order[n_held:]
    if len(chosen) < 2 or (holdout > 0 and not held):
        raise FootageError(f"{len(pairs)} pairs are too few to train on with a {holdout:.0%} held-out part")
    tokens = [store.tokens_in_range(p.path, p.start, p.end) for p in chosen]
    from footage.models.train import fit_predictor  # torch: only when training

    before = scores(held) if held else None  # what training changes
    backbone = models.backbone
    texts = backbone.y([p.text for p in chosen])  # (P, D)
    fit = fit_predictor(tokens, texts, epochs, on_epoch, backbone.untrained.weight, device=backbone.device)
    candidate = Predictor(models.predictor.config, fit.weight, fit.bias)
    ids, token_sets = store.all_frame_tokens()
    vectors, views = pooled(token_sets, models, candidate)  # scored, then stored when kept
    after = score(store, models, ids, vectors, views, held) if held else None
    kept = after is None or after.mrr >= before.mrr
    version = models.settings.predictor_version + 1 if kept else None
    phrases = json.loads(store.meta("phrases") or "[]")  # the decoder learns the user's words, kept or not
    meta = {"phrases": json.dumps(sorted({*phrases, *(p.text for p in pairs)}))}
    trained = None
    if kept:
        checkpoint = folder / "predictors" / f"v{version}.npz"
        try:
            checkpoint.parent.mkdir(exist_ok=True)
            candidate.save(checkpoint)
        except OSError as e:
            raise disk_full(e, checkpoint) from None
        info = {
            "version": version,
            "pairs": len(chosen),
            "held_out": len(held),
            "epochs": epochs,
            "mrr_before": before.mrr if before else None,
            "mrr_after": after.mrr if after else None,
            "trained_at": time.time(),
        }
        meta["predictor"] = json.dumps(info)
        trained = replace(models, settings=replace(models.settings, predictor_version=version), predictor=candidate)
        # the predictor, its vectors and the phrases in one transaction
        store.replace_vectors(ids, vectors, trained.model_id, views, meta=meta)
        store.flush()
    else:
        store.set_meta("phrases", meta["phrases"])
    return TrainReport(len(chosen), len(held), fit.losses, before, after, kept, version), trained


def score(
    store: Store, models: Models, ids: list[int], vectors: np.ndarray, views: np.ndarray | None, pairs: list[Pair]
) -> Scores:
    """Visual search's scores on pairs with these segment vectors in place of the library's."""
    trial = VectorIndex(models.backbone.dim)
    trial.add(*faiss_entries(ids, vectors, views))
    return evaluate(pairs, lambda text, k: search(store, models, text, k, index=trial, mode="visual"))


def set_views(store: Store, models: Models, views: list[str]) -> Models:
    """Stores new indexing prompts and recomputes every segment's vectors from the cached frame tokens, in one
    transaction; returns the library's models with them. The caller holds the lock."""
    models = replace(models, settings=replace(models.settings, views=tuple(views)))
    ids, token_sets = store.all_frame_tokens()
    meta = {"views": models.settings.meta()["views"]}
    if ids:
        vectors, views = pooled(token_sets, models)
        store.replace_vectors(ids, vectors, models.model_id, views, meta=meta)
    else:
        store.set_meta("views", meta["views"])
    store.flush()
    return models


def pooled(token_sets: list[np.ndarray], models: Models, predictor: Predictor | None = None):
    """Segments' vectors (S, D) and views (S, V, D) or None, pooled by `models` (with `predictor` in place of
    theirs if given), POOL_BATCH segments at a time."""
    if not token_sets:
        return np.zeros((0, models.backbone.dim), np.float32), None
    parts = [models.pool(token_sets[i : i + POOL_BATCH], predictor) for i in range(0, len(token_sets), POOL_BATCH)]
    views = np.concatenate([v for _, v in parts]) if models.settings.views else None
    return np.concatenate([p for p, _ in parts]), views
