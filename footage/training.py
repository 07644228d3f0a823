"""Training the predictor on labelled pairs (`footage train`) or on a person's marks on search hits (`footage
mark`, `footage train --from-feedback`), scoring a predictor without keeping it, and every segment vector
recomputed for new views (`footage index --view`).

All of it works from the frame tokens the library caches: nothing is decoded again. Library.train and
Library.evaluate_predictor run these under the library's write lock.
"""

import itertools
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from footage.errors import BadValue, FootageError, NotFound
from footage.files import expand, resolve
from footage.models import Models
from footage.models.predictor import Predictor
from footage.search.engine import search
from footage.search.evaluate import Pair, Scores, evaluate
from footage.settings import MAX_QUERY_CHARS
from footage.store import Store
from footage.store.faiss_index import VectorIndex
from footage.store.rows import Mark
from footage.store.store import disk_full, faiss_entries
from footage.videos import valid_id

POOL_BATCH = 1024  # segments pooled at a time
MAX_HOLDOUT = 0.9


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
    unit: str = "pairs"  # what was trained on, for the summary: "pairs" of a file, or a person's "marks"

    @property
    def summary(self) -> str:
        """What training changed, in one line: "kept predictor v2: held-out MRR 0.410 -> 0.550 (...)"."""
        sizes = f"trained on {plural(self.train_pairs, self.unit.removesuffix('s'))}"
        if self.before is None or self.after is None:
            return f"kept predictor v{self.version} ({sizes}; none held out to check it)"
        sizes += f", checked on {self.held_out_pairs} held out"
        mrr = f"{self.before.mrr:.3f} -> {self.after.mrr:.3f}"
        if self.kept:
            return f"kept predictor v{self.version}: held-out MRR {mrr} ({sizes})"
        return f"not kept: held-out MRR would drop {mrr} ({sizes}); the library is unchanged"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def split(n: int, holdout: float) -> tuple[int, int]:
    """How many of n pairs are held out, and how many trained on."""
    held = round(n * holdout) if holdout > 0 else 0
    return held, n - held


def fewest(holdout: float) -> int:
    """The fewest pairs `train` takes: two to train on, and one held out unless holdout is 0."""
    return next(n for n in itertools.count(2) if split(n, holdout)[1] >= 2 and (holdout == 0 or split(n, holdout)[0]))


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
        n_held, _ = split(len(pairs), holdout)
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


class Feedback:
    """Library's marks on search hits, and training on them: a mixin of Library (self is one; its `store`,
    `train` and the rest are in library.py), kept here as library.py is at the length of a sitting."""

    def mark(
        self,
        query: str,
        video_id: int | str | Path,
        start: float,
        end: float,
        right: bool,
        segment_id: int | None = None,
    ) -> Mark:
        """Stores a person's mark on a moment found for `query`: `right` (what they looked for) or wrong.
        `video_id` is a video's id, or the path of an indexed video; `segment_id` the hit's segment, kept as a
        note. The same query and moment marked again replaces the earlier mark. Raises NotFound for a video the
        library does not have, BadValue for an empty query or end <= start, LibraryReadOnly on a read-only
        library, LibraryBusy when another process holds the database for more than a few seconds."""
        # a query read from a command line in a C locale carries its UTF-8 bytes as surrogates (as in search)
        text = str(query).encode("utf-8", "surrogateescape").decode("utf-8", "replace").strip()
        if not text:
            raise BadValue("an empty query: a mark says which search the moment was right or wrong for")
        if len(text) > MAX_QUERY_CHARS:
            raise BadValue(f"a query of {len(text):,} characters; at most {MAX_QUERY_CHARS:,}")
        if not all(isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) for t in (start, end)):
            raise BadValue(f"start and end must be numbers of seconds, not {start!r} and {end!r}")
        if not 0 <= start < end:
            raise BadValue(f"a moment runs from start to a later end, at or after 0 s; not {start:g} to {end:g}")
        if not isinstance(right, bool):
            raise BadValue(f"right must be true or false, not {right!r}")
        if segment_id is not None and (isinstance(segment_id, bool) or not valid_id(segment_id)):
            raise BadValue(f"segment_id must be a segment's id or none, not {segment_id!r}")
        store = self.store
        if store.cannot_write:
            raise store.cannot_write
        if isinstance(video_id, str | Path):  # a path as typed, or as stored (with its links resolved)
            given = expand(video_id).absolute()
            found = store.video_id([given, resolve(given)])
            if found is None:
                raise NotFound(f"{video_id}: not a video in the library")
            video_id = found
        elif isinstance(video_id, bool) or not valid_id(video_id):
            raise NotFound(f"video {video_id}: not in the library")
        mark_id = store.save_mark(text, video_id, float(start), float(end), right, segment_id)
        return store.marks(mark_id)[0]

    def marks(self) -> list[Mark]:
        """The marks on search hits, newest first."""
        return self.store.marks()

    def unmark(self, mark_id: int) -> None:
        """Drops a mark. Raises NotFound when there is none of that id."""
        store = self.store
        if store.cannot_write:
            raise store.cannot_write
        if isinstance(mark_id, bool) or not valid_id(mark_id) or not store.remove_mark(mark_id):
            raise NotFound(f"mark {mark_id}: no such mark")

    def train_from_feedback(
        self,
        epochs: int = 100,
        holdout: float = 0.2,
        seed: int = 0,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> TrainReport:
        """Trains the predictor on the moments marked right, each its query's labelled moment, as `train` does
        with a file of pairs: a share of them held out and scored before and after, the new predictor kept only
        if held-out MRR does not drop. Moments marked wrong are not trained on: the fit (InfoNCE) learns from
        the other pairs of its batch as negatives and has no place for a moment that matches nothing. Raises
        BadValue when the right marks are too few to train on and hold some out."""
        if not (isinstance(holdout, int | float) and 0 <= holdout <= MAX_HOLDOUT):
            raise BadValue(f"holdout must be between 0 and {MAX_HOLDOUT}, not {holdout!r}")
        indexed = {path for path, v in self.store.videos().items() if v.status == "indexed"}
        pairs = [Pair(m.path, m.start, m.end, m.query) for m in self.marks() if m.right]
        usable, need = sum(p.path in indexed for p in pairs), fewest(holdout)
        if usable < need:
            raise BadValue(f"{plural(usable, 'right mark')}; training needs at least {need}")
        report = self.train(pairs, epochs=epochs, holdout=holdout, seed=seed, on_epoch=on_epoch)
        report.unit = "marks"
        return report
