"""Hubness-corrected re-scoring for bench/predictor_experiment.py (idea 3): CSLS (Lample et al. 2018) against a
label-free query pool, the Y vectors of the 1000 ImageNet class texts: score = cos(v, q) - beta * r(v), r(v) the
mean cosine of the segment's vector v (even or attention-pooled) to its k nearest class texts. ConSE vectors
that sit near many class texts at once (blurry frames) stop outranking sharp ones."""

import numpy as np
from predictor_experiment import attention, mean_pool


def csls(classes, beta, k=10, base=mean_pool):
    c = classes / np.linalg.norm(classes, axis=1, keepdims=True)

    def pool(token_sets, query):
        v = base(token_sets, query)
        r = np.sort(v @ c.T, axis=1)[:, -k:].mean(1)
        return ((v @ query) - beta * r)[:, None] * query[None]

    return pool


def hubness_variants(lib):
    classes = lib.backbone.class_embeddings()
    out = {}
    for beta in (0.25, 0.5, 1.0):
        out[f"csls mean beta={beta}"] = csls(classes, beta)
        out[f"csls attention T=0.05 beta={beta}"] = csls(classes, beta, base=attention(0.05))
        out[f"csls top-3 beta={beta}"] = csls(classes, beta, base=attention(1e6, k=3))
    return out
