"""Fitting the predictor's linear map on labelled pairs with bidirectional InfoNCE (X- and Y-encoders frozen).

Works on cached frame tokens, so training needs no decoding. The loss is computed on what retrieval uses:
a segment's evenly pooled, projected tokens against the Y embedding of its description, with a learnable
temperature (as in CLIP and VL-JEPA). Tensors live on `device` (cpu, cuda or mps, already resolved); the fit
comes back as numpy.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LEARNING_RATE = 1e-3
STAY_NEAR_IDENTITY = 1.0  # weight of ||W - I||^2. At 1e-2 the map fit 57 pairs (loss 0.05) and lost held-out MRR
# (0.203 -> 0.164, bench/train_eval.py); at 1.0 it holds (0.196) and the guard keeps the folds where it helps
INITIAL_TEMPERATURE = 0.07


@dataclass
class Fit:
    weight: np.ndarray  # (T, D)
    bias: np.ndarray  # (D,)
    losses: list[float]  # InfoNCE per epoch (without the identity penalty)


def info_nce(logits: torch.Tensor) -> torch.Tensor:
    """Bidirectional InfoNCE: pair i's video should pick text i among all texts, and text i video i."""
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def fit_predictor(
    token_sets: list[np.ndarray],
    targets: np.ndarray,
    epochs: int,
    on_epoch: Callable[[int, float], None] | None = None,
    start: np.ndarray | None = None,
    device: str = "cpu",
) -> Fit:
    """token_sets: each pair's frame tokens (N_i, T); targets (P, D): the Y embeddings of the pairs' texts.
    The map starts at `start` (T, D) or the identity. Only the identity is worth staying near: it is the
    zero-shot predictor; a random start (V-JEPA 2's features) is not."""
    torch.manual_seed(0)
    x = torch.tensor(np.stack([t.mean(0) for t in token_sets]), dtype=torch.float32, device=device)  # (P, T)
    y = torch.tensor(targets, dtype=torch.float32, device=device)  # (P, D)
    origin = torch.eye(x.shape[1]) if start is None else torch.tensor(start, dtype=torch.float32)  # (T, D)
    stay_near = STAY_NEAR_IDENTITY if start is None else 0.0
    return _fit(lambda epoch: (x, y), origin.to(device), stay_near, epochs, on_epoch)


def fit_label_free(
    token_sets: list[np.ndarray],
    epochs: int,
    on_epoch: Callable[[int, float], None] | None = None,
    device: str = "cpu",
) -> Fit:
    """The JEPA-style objective, without labels: from a segment's frames but one, predict the hidden frame's
    Y vector (its token: frame tokens of Y-space backbones are Y vectors). Each epoch hides a random frame of
    every segment of two frames or more; InfoNCE picks the hidden frame among the others' hidden frames."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    usable = [t for t in token_sets if len(t) >= 2]

    def batch(epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = [rng.integers(len(t)) for t in usable]
        context = np.stack([np.delete(t, h, axis=0).mean(0) for t, h in zip(usable, hidden)])  # (S, D)
        target = np.stack([t[h] for t, h in zip(usable, hidden)])  # (S, D)
        return torch.tensor(context, device=device), F.normalize(torch.tensor(target, device=device), dim=-1)

    return _fit(batch, torch.eye(usable[0].shape[1], device=device), STAY_NEAR_IDENTITY, epochs, on_epoch)


def _fit(batch, origin: torch.Tensor, stay_near: float, epochs: int, on_epoch) -> Fit:
    """The loop both objectives share: `batch(epoch)` gives inputs (B, T) and targets (B, D); the map
    (T, D) + bias learns to send each input to its own target with bidirectional InfoNCE and a learnable
    temperature, with a penalty of stay_near * ||W - origin||^2. The parameters live on origin's device."""
    weight = nn.Parameter(origin.clone())
    bias = nn.Parameter(torch.zeros(origin.shape[1], device=origin.device))
    log_scale = nn.Parameter(torch.tensor(math.log(1 / INITIAL_TEMPERATURE), device=origin.device))
    optimiser = torch.optim.Adam([weight, bias, log_scale], lr=LEARNING_RATE)
    losses = []
    for epoch in range(epochs):
        x, y = batch(epoch)
        v = F.normalize(x @ weight + bias, dim=-1)  # (B, D) the predictor's vectors
        loss = info_nce(log_scale.exp() * v @ y.T)  # (B, B) similarities
        penalty = stay_near * ((weight - origin) ** 2).sum()
        optimiser.zero_grad()
        (loss + penalty).backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        if on_epoch:
            on_epoch(epoch, losses[-1])
    return Fit(weight.detach().cpu().numpy().copy(), bias.detach().cpu().numpy().copy(), losses)
