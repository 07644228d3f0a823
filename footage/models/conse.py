"""ConSE (Norouzi et al. 2014, "Zero-shot learning by convex combination of semantic embeddings"): the
bridge from the X-encoder's ImageNet classes to the Y space, where queries live.

A frame's top-k class probabilities weight the Y embeddings of the class names, centred by their mean so that
what all classes share does not dominate. The result is the frame's token: what the predictor reads.
"""

import torch
import torch.nn.functional as F
from torch import nn

TOP_K = 10  # ConSE's T: more classes blur the vector, fewer make it brittle (the paper's choice)


class ConSE(nn.Module):
    """ImageNet logits (B, C) -> frame tokens (B, D): unit vectors in Y space. No learnable parameters."""

    def __init__(self, class_embeddings: torch.Tensor, top_k: int = TOP_K):
        super().__init__()
        self.top_k = top_k
        self.register_buffer("classes", class_embeddings - class_embeddings.mean(0, keepdim=True))  # (C, D)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        top, idx = logits.softmax(-1).topk(self.top_k, dim=-1)  # (B, k), (B, k)
        weights = top / top.sum(-1, keepdim=True)  # renormalised over the top k
        return F.normalize((weights[..., None] * self.classes[idx]).sum(1), dim=-1)  # (B, D)
