"""Predictor: maps X-encoder outputs into the Y-encoder's text space, where queries live.

Zero-shot for now, by ConSE (Norouzi et al. 2014, "Zero-shot learning by convex combination of semantic
embeddings"): a frame's top-k ImageNet class probabilities weight the Y embeddings of the class names,
centred by the mean class-name embedding so that what all classes share does not dominate. A learnable
linear map follows; it starts as the identity, so a trained predictor (a later step) changes the vectors
but not their shape or the index format.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class PredictorConfig:
    top_k: int = 10  # ConSE's T: more classes blur the vector, fewer make it brittle (paper: T=10)
    dim: int = 384  # the Y-encoder's width


class Predictor(nn.Module):
    def __init__(self, class_embeddings: torch.Tensor, config: PredictorConfig = PredictorConfig()):
        super().__init__()
        self.config = config
        mean = class_embeddings.mean(0, keepdim=True)  # (1, D)
        self.register_buffer("classes", class_embeddings - mean)  # (C, D) centred class-name embeddings
        self.proj = nn.Linear(config.dim, config.dim)  # the learnable part
        with torch.no_grad():
            self.proj.weight.copy_(torch.eye(config.dim))
            self.proj.bias.zero_()

    def forward(self, logits: torch.Tensor) -> torch.Tensor:  # logits: (B, C)
        probs = logits.softmax(-1)
        top, idx = probs.topk(self.config.top_k, dim=-1)  # (B, k), (B, k)
        weights = top / top.sum(-1, keepdim=True)  # renormalised over the top k
        conse = (weights[..., None] * self.classes[idx]).sum(1)  # (B, D)
        return F.normalize(self.proj(conse), dim=-1)  # (B, D) unit vectors in Y space
