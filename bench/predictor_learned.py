"""Label-free query-conditioned pooling for bench/predictor_experiment.py (issue 11 item 4, idea 1).

The JEPA-style objective on the library's own footage: each step hides one frame of every segment of two frames
or more, makes a pseudo-query from the hidden frame (its token with noise, or the Y vector of the ImageNet class
nearest to it: a query that looks like text), and trains a small module so that the segment's other frames,
pooled under that query, pick the pseudo-query's own segment among all segments (InfoNCE, query -> segment, the
direction search uses). The module: a query projection W_q (near the identity), the attention temperature, and a
mixing weight between attention-pooled and mean-pooled vectors. Inference is numpy, like the predictor's.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from footage.models.predictor import pad


def train(token_sets, classes, pseudo="class", epochs=200, stay_near=1.0, noise=0.5, seed=0, log=None):
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    usable = [t for t in token_sets if len(t) >= 2]
    tokens, mask = pad(usable)
    tok = torch.tensor(tokens)  # (S, N, D)
    msk = torch.tensor(mask)
    key = F.normalize(tok, dim=-1)
    cls = F.normalize(torch.tensor(classes), dim=-1)  # (1000, D)
    d = tok.shape[-1]
    wq = torch.nn.Parameter(torch.eye(d))
    log_t = torch.nn.Parameter(torch.tensor(math.log(0.05)))
    mix = torch.nn.Parameter(torch.tensor(0.0))  # sigmoid: share of the attention-pooled vector
    scale = 1 / 0.05
    opt = torch.optim.Adam([{"params": [wq], "lr": 1e-3}, {"params": [log_t, mix], "lr": 2e-2}])
    lengths = mask.sum(1)
    s = len(usable)
    for epoch in range(epochs):
        hidden = torch.tensor(rng.integers(0, lengths))  # (S,)
        ctx = msk.clone()
        ctx[torch.arange(s), hidden] = False
        h = F.normalize(tok[torch.arange(s), hidden], dim=-1)  # (S, D)
        if pseudo == "class":
            q = cls[(h @ cls.T).argmax(1)]
        else:
            q = F.normalize(h + noise * torch.randn_like(h) / math.sqrt(d), dim=-1)
        qk = F.normalize(q @ wq, dim=-1)  # (Q, D)
        logits = torch.einsum("qd,snd->qsn", qk, key) / log_t.exp()
        logits = logits.masked_fill(~ctx[None], -1e9)
        attn = logits.softmax(-1)  # (Q, S, N)
        pooled_a = torch.einsum("qsn,snd->qsd", attn, tok)
        mean = (tok * ctx[..., None]).sum(1) / ctx.sum(1, keepdim=True)  # (S, D)
        a = torch.sigmoid(mix)
        pooled = F.normalize(a * pooled_a + (1 - a) * mean[None], dim=-1)
        sim = torch.einsum("qsd,qd->qs", pooled, q) * scale
        loss = F.cross_entropy(sim, torch.arange(s))
        penalty = stay_near * ((wq - torch.eye(d)) ** 2).sum()
        opt.zero_grad()
        (loss + penalty).backward()
        opt.step()
        if log and (epoch % 50 == 0 or epoch == epochs - 1):
            log(
                f"  epoch {epoch} loss {loss.item():.3f} T {log_t.exp().item():.4f} mix {a.item():.3f} "
                f"|W-I| {(wq - torch.eye(d)).norm().item():.3f}"
            )
    return wq.detach().numpy(), float(log_t.exp()), float(torch.sigmoid(mix))


def pooling(wq, temperature, mix):
    def pool(token_sets, query):
        q = query @ wq
        q = q / max(np.linalg.norm(q), 1e-12)
        out = []
        for t in token_sets:
            key = t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), 1e-12)
            logits = key @ q / temperature
            w = np.exp(logits - logits.max())
            v = mix * ((w / w.sum()) @ t) + (1 - mix) * t.mean(0)
            out.append(v / max(np.linalg.norm(v), 1e-12))
        return np.stack(out)

    return pool


def learned_variants(lib, log=print):
    _, token_sets = lib.store.all_frame_tokens()
    classes = lib.backbone.class_embeddings()
    out = {}
    for pseudo, stay in (("class", 1.0), ("noise", 1.0), ("class", 0.1)):
        log(f"training: pseudo-query {pseudo}, stay_near {stay}")
        wq, t, m = train(token_sets, classes, pseudo=pseudo, stay_near=stay, log=log)
        out[f"learned ({pseudo}, stay {stay}): T={t:.3f} mix={m:.2f}"] = pooling(wq, t, m)
        out[f"  same T, mix, W_q = I ({pseudo}, {stay})"] = pooling(np.eye(wq.shape[0], dtype=np.float32), t, m)
    return out
