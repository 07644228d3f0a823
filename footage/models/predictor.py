"""The predictor: from a segment's frame tokens and a text query, the answer's embedding in Y space.

Frame tokens come from ConSE (Norouzi et al. 2014, "Zero-shot learning by convex combination of semantic
embeddings"): a frame's top-k ImageNet class probabilities weight the Y embeddings of the class names,
centred by their mean so that what all classes share does not dominate.

The predictor projects the tokens with a learnable map (identity until trained) and pools them over the
segment. Without a query it pools evenly: the segment vector that FAISS stores. With a query (VL-JEPA's
query-conditioned embedding) it attends to the frames that are relevant to it, so a long segment where only
a few seconds match still scores as those seconds do.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class PredictorConfig:
    top_k: int = 10  # ConSE's T: more classes blur the vector, fewer make it brittle (paper: T=10)
    dim: int = 384  # the Y-encoder's width
    temperature: float = 0.05  # attention over frames: near 0 takes the best frame, large values the mean


class ConSE(nn.Module):
    """ImageNet logits (B, C) -> frame tokens (B, D): unit vectors in Y space. No learnable parameters."""

    def __init__(self, class_embeddings: torch.Tensor, top_k: int = 10):
        super().__init__()
        self.top_k = top_k
        self.register_buffer("classes", class_embeddings - class_embeddings.mean(0, keepdim=True))  # (C, D)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        top, idx = logits.softmax(-1).topk(self.top_k, dim=-1)  # (B, k), (B, k)
        weights = top / top.sum(-1, keepdim=True)  # renormalised over the top k
        return F.normalize((weights[..., None] * self.classes[idx]).sum(1), dim=-1)  # (B, D)


class Predictor(nn.Module):
    def __init__(self, config: PredictorConfig = PredictorConfig()):
        super().__init__()
        self.config = config
        self.proj = nn.Linear(config.dim, config.dim)  # the learnable part, identity until trained
        with torch.no_grad():
            self.proj.weight.copy_(torch.eye(config.dim))
            self.proj.bias.zero_()

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None, query: torch.Tensor | None = None):
        """tokens (B, N, D), mask (B, N) true for real frames, query (B, D) or None -> (B, D) unit vectors."""
        h = self.proj(tokens)  # (B, N, D)
        mask = torch.ones(h.shape[:2], dtype=torch.bool) if mask is None else mask
        if query is None:
            logits = torch.zeros(h.shape[:2])  # even pooling: the segment vector
        else:
            logits = (F.normalize(h, dim=-1) @ query[..., None]).squeeze(-1) / self.config.temperature  # (B, N)
        weights = logits.masked_fill(~mask, float("-inf")).softmax(-1)  # (B, N)
        return F.normalize((weights[..., None] * h).sum(1), dim=-1)  # (B, D)
