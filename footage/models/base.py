"""The Backbone base class: what the bundled and hub backbones share. Every vector a backbone makes is tagged
with its `base_id` plus the library's settings (footage/settings.py), so a library always knows which models
produced what it stores.
"""

import hashlib
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import numpy as np

from footage.files import write_atomically
from footage.models import imagenet
from footage.models.predictor import Predictor, pad
from footage.models.runtime import batch_size, resolve
from footage.models.y_decoder import Phrase, PhraseDecoder, class_phrase

PREDICTOR_VERSION = "conse-v4"  # bump when the predictor's output changes for the same inputs
MODEL_BATCH = 4  # frames per forward pass: on 2 CPU cores batches of 4 ran at 10 ms/frame, of 16 at 20+ (cache)


# The everyday words a class is also called by, where WordNet puts them further up than its nearest hypernym:
# a Samoyed is "a kind of spitz" there, and a query for "a dog" did not reach it (cosine 0.05).
BASIC = (
    "dog", "cat", "bird", "fish", "shark", "snake", "lizard", "frog", "turtle", "crocodile", "insect", "beetle",
    "butterfly", "spider", "crab", "monkey", "ape", "bear", "car", "truck", "bus", "boat", "ship", "aircraft",
    "bicycle", "motorcycle", "train", "fruit", "vegetable", "mushroom", "musical instrument", "hat", "shoe",
)  # fmt: skip


def class_text(c: imagenet.ImageNetClass) -> str:
    """The text whose Y embedding stands for an ImageNet class: its name, its nearest WordNet hypernym and the
    everyday word above them ("a photo of a Samoyed, a kind of spitz, a dog"). On the annotated sample footage
    (bench/retrieval.py) the hypernym raised MRR from 0.135 (name alone) to 0.203; all lemmas, the definition
    or three hypernyms did less well."""
    if not (c.hypernyms and c.hypernyms[0]):
        return f"a photo of a {c.name}"
    basic = next((h for h in c.hypernyms[1:] if h in BASIC), None) if c.hypernyms[0] not in BASIC else None
    return f"a photo of a {c.name}, a kind of {c.hypernyms[0]}" + (f", a {basic}" if basic else "")


class Backbone:
    """What every backbone shares: the untrained predictor between frame tokens and Y space, pooling and
    prediction with a predictor it is given, the class-name embeddings and the query cache. It holds no
    library setting: views, speech, on-screen text and the trained predictor are the library's.

    A backbone has `name`, `dim` (Y space), `token_dim` (frame tokens), `image_size` (frames are S x S),
    `base_id` (its models' id: the library's settings add to it, Settings.model_id), a Y-encoder `y` (texts ->
    (N, D) unit vectors, with a cached `encode_one`) and `embed_frames`. Its parts load on first use: a search
    needs only the Y-encoder.
    """

    name: str
    dim: int
    token_dim: int
    text_id: str  # names the Y-encoder: keys the cache of class-name embeddings
    cache_dir: Path | None  # where derived model data is kept between runs
    asked_device: str = "auto"  # auto, cpu, cuda or mps, as given; `device` is what it resolves to

    @cached_property
    def device(self) -> str:
        """cpu, cuda or mps: where the vision model (and training) runs. Resolved on first use, as `auto` asks
        torch, which a bundled search does not otherwise import."""
        return resolve(self.asked_device)

    @property
    def batch(self) -> int:
        """Frames per forward pass on this device."""
        return batch_size(self.device, MODEL_BATCH)

    @cached_property
    def untrained(self) -> Predictor:
        """The zero-shot predictor: what a library uses until it trains one."""
        return Predictor.untrained(self.token_dim, self.dim)

    def class_embeddings(self) -> np.ndarray:
        """(1000, D) Y embeddings of the ImageNet class texts, cached on disk: they cost seconds to compute."""
        texts = [class_text(c) for c in imagenet.classes()]
        key = hashlib.sha1("\n".join([self.text_id, *texts]).encode()).hexdigest()[:16]
        path = self.cache_dir / f"classes-{key}.npy" if self.cache_dir else None
        if path and path.exists():
            return np.load(path)
        vectors = self.y(texts)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, lambda f: np.save(f, vectors))
        return vectors

    def decoder(self, texts: list[str] = ()) -> PhraseDecoder:
        """The Y-decoder over the ImageNet class phrases and `texts` (a user's own descriptions)."""
        phrases = [class_phrase(c) for c in imagenet.classes()] + [Phrase(t) for t in texts]
        vectors = self.class_embeddings()
        if texts:
            vectors = np.concatenate([vectors, self.y(list(texts))])
        return PhraseDecoder(phrases, vectors)

    def pool(self, token_sets: list[np.ndarray], predictor: Predictor, views: tuple[str, ...] = ()):
        """Segments' frame tokens -> their (S, D) vectors, and (S, V, D) views (None without views): each
        segment pooled with attention on each indexing prompt, as a query conditions it in re-ranking."""
        tokens, mask = pad(token_sets)
        plain = predictor(tokens, mask)
        if not views:
            return plain, None
        return plain, np.stack([predictor(tokens, mask, self.embed_query(v)) for v in views], axis=1)

    def predict(self, token_sets: list[np.ndarray], predictor: Predictor, query: np.ndarray | None = None):
        """Segments' frame tokens [(N_i, T)], and optionally a query vector (D,) -> (S, D) unit vectors:
        each segment's embedding, conditioned on the query when there is one."""
        return predictor(*pad(token_sets), query)

    def embed_query(self, text: str) -> np.ndarray:
        """A query -> (D,) float32 unit vector; repeated queries hit an in-memory cache."""
        return self.y.encode_one(text)

    @contextmanager
    def threads(self, n: int):
        """Runs the models on n threads inside the block: torch's and numpy's BLAS (the text encoder) settings,
        both process-wide. Indexing keeps every core busy with decoding, OCR and speech, where BLAS threads
        only spin: one thread saved 1.3 of 47 CPU-seconds on the sample footage (5 alternated runs)."""
        import torch
        from threadpoolctl import threadpool_limits

        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            with threadpool_limits(limits=n, user_api="blas"):
                yield
        finally:
            torch.set_num_threads(before)
