"""Library: the one object a media tool (or the CLI) needs. Index folders, search them, see what is inside."""

import json
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from footage.errors import FootageError, LibraryError
from footage.indexer import pipeline
from footage.indexer.ocr import tesseract
from footage.indexer.pipeline import IndexReport, Progress
from footage.indexer.speech import Transcriber
from footage.indexer.speech import check as check_speech
from footage.models import load_backbone
from footage.models.predictor import Predictor
from footage.models.y_decoder import PhraseDecoder
from footage.search import Hit, search, timeline
from footage.search.evaluate import Pair, Scores, evaluate, read_pairs
from footage.search.search import caption
from footage.search.timeline import Event
from footage.store import Stats, Store
from footage.store.faiss_index import VectorIndex
from footage.store.store import MAX_VIEWS, faiss_entries

DEFAULT_LIBRARY = Path("~/.footage")
DEFAULT_SPEECH = "tiny"


@dataclass
class TrainReport:
    train_pairs: int
    held_out_pairs: int
    losses: list[float]  # InfoNCE per epoch
    before: Scores | None  # held-out retrieval with the predictor in use before
    after: Scores | None  # ... with the new one
    kept: bool  # False: held-out MRR dropped, the library is unchanged
    version: int | None  # the new predictor's version when kept


def cache_dir() -> Path:
    """Where derived model data (class-name embeddings) is kept between runs: $XDG_CACHE_HOME/footage."""
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "footage"


def default_path() -> Path:
    """$FOOTAGE_LIBRARY, else ~/.footage."""
    return Path(os.environ.get("FOOTAGE_LIBRARY") or DEFAULT_LIBRARY).expanduser()


class Library:
    """A folder holding an index of videos.

    lib = Library("~/.footage")
    lib.index(["~/Videos"])
    for hit in lib.search("a dog lying on a tiled floor", top_k=5):
        print(hit.path, hit.start, hit.end, hit.score)
    """

    def __init__(
        self,
        path: str | Path | None = None,
        backbone: str | None = None,
        fps: float = 1.0,
        decoder=None,
        views: list[str] | None = None,
        speech: str | None = None,
        ocr: bool | None = None,
    ):
        """Opens (or creates) the library at `path`. `backbone` is chosen when the library is created
        (bundled, bundled-lite1/-lite2, siglip, siglip2, clip, vjepa2, hf:ORG/NAME or a model folder) and
        stored in it; None uses the stored one. `decoder` replaces the bundled Y-decoder that captions hits
        and events: any object with an `id` (str) and `__call__((B, D) vectors) -> B captions`. `views` sets
        the library's indexing prompts (stored; [] drops them): each segment also gets a vector pooled with
        attention on each prompt, and search scores a segment by its best vector. Changing them recomputes
        every vector from the cached frame tokens (no decoding). `speech` picks the Whisper model that
        transcribes audio: "tiny" (English, the default), "base" (multilingual) or "off"; stored, and changing
        it makes the next `index` run read every video again. `ocr` reads on-screen text with Tesseract (off
        by default: it costs about as much as the pictures); stored the same way."""
        self.store = Store(Path(path).expanduser() if path else default_path())
        self.path = self.store.path
        # loads only the model's config: weights load on first use
        self.backbone = load_backbone(backbone or self.store.meta("backbone") or "bundled", cache_dir=cache_dir())
        self.store.attach(self.backbone.name, self.backbone.dim, self.backbone.token_dim)
        trained = self.store.meta("predictor")
        if trained:
            version = json.loads(trained)["version"]
            checkpoint = self.path / "predictors" / f"v{version}.npz"
            try:
                self.backbone.predictor = Predictor.load(checkpoint)
            except OSError as e:
                raise LibraryError(f"{checkpoint}: the library's trained predictor is unreadable ({e})") from None
            self.backbone.predictor_version = version
        self.backbone.views = json.loads(self.store.meta("views") or "[]")
        if speech is not None and speech != self.store.meta("speech"):
            check_speech(speech)
            self.store.set_meta("speech", speech)
        self.backbone.speech = self.store.meta("speech") or DEFAULT_SPEECH
        if ocr is not None and ocr != (self.store.meta("ocr") == "on"):
            self.store.set_meta("ocr", "on" if ocr else "off")
        self.backbone.ocr = self.store.meta("ocr") == "on"
        if views is not None and views != self.backbone.views:
            self._set_views(views)
        if fps <= 0:
            raise ValueError(f"fps must be positive, not {fps}")
        self.fps = fps
        self._decoder = decoder  # None: the bundled one, built on first use
        self._phrases: PhraseDecoder | None = None

    def _set_views(self, views: list[str]) -> None:
        """Stores new indexing prompts and recomputes every segment's vectors from the cached frame tokens."""
        if len(views) > MAX_VIEWS:
            raise FootageError(f"at most {MAX_VIEWS} views, not {len(views)}")
        with self.store.lock:
            self.store.set_meta("views", json.dumps(views))
            self.backbone.views = list(views)
            ids, token_sets = self.store.all_frame_tokens()
            if ids:
                vectors, pooled = self._pooled(token_sets, self.backbone.predictor)
                self.store.replace_vectors(ids, vectors, self.backbone.model_id, pooled)
                self.store.flush()

    @property
    def decoder(self):
        """The Y-decoder: the one given, else the bundled phrase decoder over the ImageNet classes and the
        texts this library was trained on."""
        if self._decoder is not None:
            return self._decoder
        if self._phrases is None:
            self._phrases = self.backbone.decoder(json.loads(self.store.meta("phrases") or "[]"))
        return self._phrases

    def index(self, paths: Iterable[str | Path], on_progress: Callable[[Progress], None] | None = None) -> IndexReport:
        """Indexes files and folders (recursively). Unchanged files are skipped, changed ones re-indexed,
        files gone from an indexed folder dropped. Raises LibraryBusy if another process is indexing."""
        if self.backbone.ocr:
            tesseract()  # missing: one clear line before any work
        transcriber = None
        if self.backbone.speech != "off":
            transcriber = Transcriber(self.backbone.speech, cache_dir(), pipeline.INFERENCE_THREADS)
        with self.store.lock:
            return pipeline.index(self.store, self.backbone, paths, self.fps, on_progress, transcriber)

    def search(
        self, text: str, top_k: int = 10, rerank: bool = False, captions: bool = True, mode: str = "all"
    ) -> list[Hit]:
        """The top_k best-matching time ranges, best first. `mode` is the channel searched: "visual" (the
        pictures), "speech" (what is said or subtitled, by meaning), "text" (the same words, by keyword) or
        "all" of them fused by reciprocal rank. `rerank` re-scores the nearest segments with the
        query-conditioned predictor (it attends to the frames the query is about: it finds a second-long
        moment inside a long segment, but did not raise MRR on the annotated sample footage). `captions`
        decodes a caption for each hit returned (cached in the library per segment)."""
        hits = search(self.store, self.backbone, text, top_k, rerank, mode=mode)
        if captions and hits:
            caption(self.store, self.decoder, hits)
        return hits

    def describe(self, path: str | Path, uniform: float | None = None) -> list[Event]:
        """A video's timeline: events (start, end, caption), one caption per stretch of stable meaning
        (selective decoding), or one per 1/uniform seconds. Uses the library's cached frame tokens when the
        video is indexed, else decodes it (raises VideoError when it cannot)."""
        target = Path(path).expanduser().absolute()
        found = self.store.frames(str(target)) or self.store.frames(str(target.resolve()))
        if found is not None:
            times, tokens, end = found
        else:
            times, tokens, end = pipeline.embed_file(target, self.backbone, self.fps)
        vectors = self.backbone.predict([t[None] for t in tokens])  # (N, D) each frame alone in Y space
        if uniform:
            spans, chosen = timeline.uniform(times, vectors, end, uniform)
        else:
            spans, chosen = timeline.selective(times, vectors, end)
        return [Event(a, b, text) for (a, b), text in zip(spans, self.decoder(chosen))]

    def evaluate(self, pairs: str | Path | list[Pair], rerank: bool = False, mode: str = "all") -> Scores:
        """R@1, R@5 and MRR of this library's search on labelled pairs (a JSON Lines file or a list)."""
        pairs = pairs if isinstance(pairs, list) else read_pairs(pairs)
        return evaluate(pairs, lambda text, k: self.search(text, top_k=k, rerank=rerank, captions=False, mode=mode))

    def train(
        self,
        pairs: str | Path | list[Pair],
        epochs: int = 100,
        holdout: float = 0.2,
        seed: int = 0,
        on_epoch: Callable[[int, float], None] | None = None,
        held_out: list[Pair] | None = None,
    ) -> TrainReport:
        """Fits the predictor on labelled pairs from the cached frame tokens (no decoding), scores held-out
        pairs before and after, and keeps the new predictor only if held-out MRR does not drop. Kept, it gets
        the next version number in the library and every segment vector is recomputed with it. `held_out`
        replaces the random split (then all `pairs` are trained on)."""
        pairs = pairs if isinstance(pairs, list) else read_pairs(pairs)
        if held_out is not None:  # a split chosen by the caller (k-fold in bench/train_eval.py)
            held, train = held_out, pairs
        else:
            order = random.Random(seed).sample(pairs, len(pairs))
            n_held = round(len(pairs) * holdout) if holdout > 0 else 0
            held, train = order[:n_held], order[n_held:]
        if len(train) < 2 or (holdout > 0 and not held):
            raise FootageError(f"{len(pairs)} pairs are too few to train on with a {holdout:.0%} held-out part")
        tokens = [self.store.tokens_in_range(p.path, p.start, p.end) for p in train]
        unknown = sorted({p.path for p, t in zip(train, tokens) if t is None})
        if unknown:
            raise FootageError(
                f"{len(unknown)} videos of the pairs are not in the library (e.g. {unknown[0]}); "
                "run footage index first"
            )
        from footage.models.train import fit_predictor  # torch: only when training

        phrases = json.loads(self.store.meta("phrases") or "[]")  # the decoder learns the user's words at once
        self.store.set_meta("phrases", json.dumps(sorted({*phrases, *(p.text for p in pairs)})))
        self._phrases = None

        with self.store.lock:
            before = self.evaluate(held, mode="visual") if held else None  # what training changes
            start = self.backbone.untrained_predictor().weight  # None: the identity
            fit = fit_predictor(tokens, self.backbone.y([p.text for p in train]), epochs, on_epoch, start)
            candidate = Predictor(self.backbone.predictor.config, fit.weight, fit.bias)
            ids, token_sets = self.store.all_frame_tokens()
            vectors, views = self._pooled(token_sets, candidate)  # scored, then stored when kept
            after = self._score(ids, vectors, views, held) if held else None
            kept = after is None or after.mrr >= before.mrr
            version = self.backbone.predictor_version + 1 if kept else None
            if kept:
                (self.path / "predictors").mkdir(exist_ok=True)
                candidate.save(self.path / "predictors" / f"v{version}.npz")
                self.backbone.predictor, self.backbone.predictor_version = candidate, version
                info = {
                    "version": version,
                    "pairs": len(train),
                    "held_out": len(held),
                    "epochs": epochs,
                    "mrr_before": before.mrr if before else None,
                    "mrr_after": after.mrr if after else None,
                    "trained_at": time.time(),
                }
                self.store.set_meta("predictor", json.dumps(info))
                self.store.replace_vectors(ids, vectors, self.backbone.model_id, views)
                self.store.flush()
        return TrainReport(len(train), len(held), fit.losses, before, after, kept, version)

    def evaluate_predictor(self, predictor: Predictor, pairs: list[Pair]) -> Scores:
        """Scores a candidate predictor on labelled pairs without changing the library: every segment's
        vector is recomputed from the cached tokens into a FAISS index of its own."""
        ids, token_sets = self.store.all_frame_tokens()
        return self._score(ids, *self._pooled(token_sets, predictor), pairs)

    def _score(self, ids: list[int], vectors: np.ndarray, views: np.ndarray | None, pairs: list[Pair]) -> Scores:
        """Visual search's scores on pairs with these segment vectors in place of the library's."""
        trial = VectorIndex(self.backbone.dim)
        trial.add(*faiss_entries(ids, vectors, views))
        return evaluate(pairs, lambda text, k: search(self.store, self.backbone, text, k, index=trial, mode="visual"))

    def _pooled(self, token_sets: list[np.ndarray], predictor: Predictor) -> tuple[np.ndarray, np.ndarray | None]:
        """Segments' vectors (S, D) and views (S, V, D) or None under `predictor`, 1024 segments at a time."""
        if not token_sets:
            return np.zeros((0, self.backbone.dim), np.float32), None
        parts = [self.backbone.pool(token_sets[i : i + 1024], predictor) for i in range(0, len(token_sets), 1024)]
        views = np.concatenate([v for _, v in parts]) if self.backbone.views else None
        return np.concatenate([p for p, _ in parts]), views

    def remove(self, path: str | Path) -> list[str]:
        """Drops a file, or every file under a folder, from the library; returns the paths dropped."""
        target = Path(path).expanduser().absolute()
        with self.store.lock:
            videos = self.store.videos().values()

            def under(root: Path) -> list:  # is_relative_to is also true of the path itself
                return [v for v in videos if Path(v.path).is_relative_to(root)]

            gone = under(target) or (under(target.resolve()) if target.exists() else [])
            self.store.remove([v.id for v in gone])
            self.store.flush()
        return sorted(v.path for v in gone)

    def stats(self) -> Stats:
        return self.store.stats()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
