"""The predictor: from a segment's frame tokens and a text query, the answer's embedding in Y space.

It projects the frame tokens with a linear map and pools them over the segment. The map starts as the identity
when the frame tokens already live in Y space (the bundled backbone's ConSE vectors, SigLIP's and CLIP's image
embeddings) and as a fixed random projection when they do not (V-JEPA 2's video features: such a backbone
needs `footage train` before search means anything). Without a query it pools evenly: the segment vector that
FAISS stores. With a query (VL-JEPA's query-conditioned embedding) it attends to the frames relevant to the
query, so a long segment where only a few seconds match scores as those seconds do.

Inference is plain numpy: re-ranking runs inside every search, and a search should not pay for importing
torch.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from footage.files import write_atomically


def pad(token_sets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Segments' frame tokens [(N_i, D)] -> tokens (S, N, D) zero-padded to the longest, and mask (S, N)."""
    n = max(len(t) for t in token_sets)
    tokens = np.zeros((len(token_sets), n, token_sets[0].shape[1]), np.float32)
    mask = np.zeros((len(token_sets), n), bool)
    for i, t in enumerate(token_sets):
        tokens[i, : len(t)], mask[i, : len(t)] = t, True
    return tokens, mask


RANDOM_SEED = 0  # the untrained projection is the same in every run, so vectors stay comparable


@dataclass(frozen=True)
class PredictorConfig:
    dim: int = 384  # the Y-encoder's width: the output's
    temperature: float = 0.05  # attention over frames: near 0 takes the best frame, large values the mean


@dataclass
class Predictor:
    config: PredictorConfig = field(default_factory=PredictorConfig)
    weight: np.ndarray | None = None  # (T, D) for T-wide frame tokens, applied as tokens @ weight; None: identity
    bias: np.ndarray | None = None  # (D,)

    @classmethod
    def untrained(cls, token_dim: int, dim: int) -> "Predictor":
        """The identity when frame tokens are already D-wide Y vectors, else a fixed random projection."""
        if token_dim == dim:
            return cls(PredictorConfig(dim=dim))
        rng = np.random.default_rng(RANDOM_SEED)
        weight = (rng.standard_normal((token_dim, dim)) / np.sqrt(token_dim)).astype(np.float32)
        return cls(PredictorConfig(dim=dim), weight, np.zeros(dim, np.float32))

    def __call__(self, tokens: np.ndarray, mask: np.ndarray | None = None, query: np.ndarray | None = None):
        """tokens (B, N, T), mask (B, N) true for real frames, query (D,) or None -> (B, D) unit vectors."""
        h = tokens if self.weight is None else tokens @ self.weight + self.bias  # (B, N, D)
        mask = np.ones(h.shape[:2], bool) if mask is None else mask
        if query is None:
            logits = np.zeros(h.shape[:2], np.float32)  # even pooling: the segment vector
        else:
            unit = h / np.maximum(np.linalg.norm(h, axis=-1, keepdims=True), 1e-12)
            logits = unit @ query / self.config.temperature  # (B, N)
        logits = np.where(mask, logits, -np.inf)
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)  # (B, N), softmax over the real frames
        pooled = (weights[..., None] * h).sum(1)  # (B, D)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)).astype(np.float32)

    def save(self, path: Path) -> None:
        """Writes the map to an .npz file atomically (temp file + rename)."""

        def write(f) -> None:
            np.savez(f, weight=self.weight, bias=self.bias, temperature=self.config.temperature)

        write_atomically(path, write, durable=True)

    @classmethod
    def load(cls, path: Path) -> "Predictor":
        with np.load(path) as data:
            config = PredictorConfig(dim=data["weight"].shape[1], temperature=float(data["temperature"]))
            return cls(config, data["weight"].astype(np.float32), data["bias"].astype(np.float32))
