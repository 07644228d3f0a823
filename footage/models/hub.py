"""Hub backbones: vision-language models from Hugging Face, loaded with transformers.

- SigLIP, SigLIP 2 and CLIP are dual encoders: the vision tower embeds each frame straight into the text
  tower's space, so frame tokens are already Y vectors and the predictor starts as the identity.
- V-JEPA 2 encodes video and has no text tower: its frame features are carried into MiniLM's space (the
  bundled Y-encoder) by the predictor's map, which `footage train` must fit before search means anything.

A model comes from the Hugging Face cache (downloaded on first use where there is a network) or from a
folder written by `save_pretrained`. Frames arrive from ffmpeg already scaled to the model's square size;
here they are only normalised (the model's own mean and std) and, for SigLIP 2, cut into patches. The model
runs on the backbone's device; what leaves it is moved back to the CPU.
"""

import json
import math
import re
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from footage.errors import ModelError
from footage.models.base import PREDICTOR_VERSION, Backbone
from footage.models.runtime import check
from footage.models.y_encoder import YEncoder

ALIASES = {
    "siglip": "google/siglip-base-patch16-224",
    "siglip2": "google/siglip2-base-patch16-224",
    "clip": "openai/clip-vit-base-patch32",
    "vjepa2": "facebook/vjepa2-vitl-fpc64-256",
}
DUAL_ENCODERS = ("clip", "siglip", "siglip2")
# Pixel mean and std when a model ships no preprocessor config: each family's published values.
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NORMALISATION = {
    "clip": (CLIP_MEAN, CLIP_STD),
    "siglip": ((0.5,) * 3, (0.5,) * 3),
    "siglip2": ((0.5,) * 3, (0.5,) * 3),
    "vjepa2": (IMAGENET_MEAN, IMAGENET_STD),
}
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
PREPROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json")

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()


def resolve(name: str) -> tuple[str, bool]:
    """A backbone name -> (where to load it from, whether that is a local folder)."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        return str(folder.resolve()), True
    source = ALIASES.get(name) or name.removeprefix("hf:")
    if not HUB_ID.match(source):
        raise ModelError(
            f"unknown backbone {name!r}: use bundled, bundled-lite1, bundled-lite2, {', '.join(ALIASES)}, "
            "hf:ORG/NAME or the folder of a saved transformers model"
        )
    return source, False


def load(what, source: str, local: bool):
    """Calls a transformers from_pretrained, turning a failure into one line that says what to do."""
    try:
        return what.from_pretrained(source)
    except (OSError, ValueError) as e:
        reason = str(e).strip().splitlines()[0]
        if local:
            raise ModelError(f"{source}: not a usable transformers model folder ({reason})") from None
        raise ModelError(
            f"{source}: cannot load it from the Hugging Face hub ({reason}). Without a network, download it "
            f"where there is one (hf download {source}) and copy ~/.cache/huggingface here, or save it with "
            "save_pretrained and pass that folder as --backbone"
        ) from None


def read_json(source: str, local: bool, filename: str) -> dict | None:
    """A small config file of the model, from its folder or the hub cache (downloaded if needed)."""
    if local:
        path = Path(source) / filename
        return json.loads(path.read_text()) if path.exists() else None
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    cached = try_to_load_from_cache(source, filename)
    if isinstance(cached, str):
        return json.loads(Path(cached).read_text())
    if cached is not None:  # known to be absent from the repository
        return None
    try:
        return json.loads(Path(hf_hub_download(source, filename)).read_text())
    except Exception:  # absent, or no network: the family's published values will do
        return None


class Hub(Backbone):
    def __init__(self, name: str, cache_dir: Path | None = None, device: str = "auto"):
        self.asked_device = check(device)
        self.source, self.local = resolve(name)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.name = self.source if self.local else name  # a folder is stored by its absolute path
        self.config = load(AutoConfig, self.source, self.local)
        self.kind = self.config.model_type
        if self.kind not in NORMALISATION:
            raise ModelError(
                f"{self.source}: a {self.kind!r} model; hub backbones are {', '.join(NORMALISATION)} models"
            )
        if self.kind == "vjepa2":
            self.token_dim, self.dim, self.image_size = self.config.hidden_size, YEncoder.dim, self.config.crop_size
        else:
            vision = self.config.vision_config
            self.dim = self.token_dim = (
                self.config.projection_dim if self.kind == "clip" else self.config.text_config.projection_size
            )
            # SigLIP 2 takes any aspect up to num_patches patches; footage gives it a square of them
            self.image_size = (
                vision.patch_size * math.isqrt(vision.num_patches) if self.kind == "siglip2" else vision.image_size
            )
        self.text_id = YEncoder.name if self.kind == "vjepa2" else f"{self.name}:{self.kind}"

    @property
    def base_id(self) -> str:
        text = YEncoder.name if self.kind == "vjepa2" else "text-tower"
        return f"{self.name}:{self.kind}+{text}+{PREDICTOR_VERSION}"

    @cached_property
    def model(self):
        return load(AutoModel, self.source, self.local).eval().to(self.device)

    @cached_property
    def y(self):
        if self.kind == "vjepa2":
            return YEncoder()
        return TextTower(self.model, load(AutoTokenizer, self.source, self.local), self.kind, self.device)

    @cached_property
    def pixel_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) as (1, 3, 1, 1) tensors: the model's preprocessor config, else its family's values."""
        mean, std = NORMALISATION[self.kind]
        for filename in PREPROCESSOR_FILES:
            found = read_json(self.source, self.local, filename)
            if found and "image_mean" in found:
                mean, std = found["image_mean"], found["image_std"]
                break
        return tuple(torch.tensor(v).view(1, 3, 1, 1).to(self.device) for v in (mean, std))

    def embed_frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB frames (B, S, S, 3) -> frame tokens (B, T) and shot-cut features (B, T), unit vectors
        (the same ones: a hub model has no separate classifier features)."""
        mean, std = self.pixel_stats
        out = []
        with torch.inference_mode():
            for i in range(0, len(frames), self.batch):
                x = torch.tensor(frames[i : i + self.batch]).to(self.device)  # (B, S, S, 3) uint8: 4x less to copy
                x = x.permute(0, 3, 1, 2).float() / 255  # (B, 3, S, S)
                out.append(F.normalize(self.vision((x - mean) / std), dim=-1).cpu())
        tokens = torch.cat(out).numpy()
        return tokens, tokens

    def vision(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (B, 3, S, S) -> (B, T) features."""
        if self.kind == "vjepa2":
            hidden = self.model.get_vision_features(x[:, None])  # one-frame clips (B, 1, 3, S, S) -> (B, P, T)
            return hidden.mean(1)
        if self.kind == "siglip2":
            p = self.config.vision_config.patch_size
            b, c, s, _ = x.shape
            n = s // p
            # (B, 3, S, S) -> (B, n*n, p*p*3): row-major patches, channels last within a patch (as its processor)
            patches = x.reshape(b, c, n, p, n, p).permute(0, 2, 4, 3, 5, 1).reshape(b, n * n, p * p * c)
            return self.model.get_image_features(
                pixel_values=patches,
                pixel_attention_mask=torch.ones(b, n * n, dtype=torch.long, device=x.device),
                spatial_shapes=torch.tensor([[n, n]] * b, device=x.device),
            ).pooler_output
        return self.model.get_image_features(pixel_values=x).pooler_output


class TextTower:
    """A dual encoder's text tower as a Y-encoder: texts -> (N, D) unit vectors. `device` is the model's."""

    def __init__(self, model, tokenizer, kind: str, device: str = "cpu"):
        self.model, self.tokenizer, self.kind, self.device = model, tokenizer, kind, device
        self.max_length = model.config.text_config.max_position_embeddings
        self.encode_one = lru_cache(maxsize=4096)(self._encode_one)

    def __call__(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                # SigLIP was trained on text padded to its full length, without an attention mask
                padding = "max_length" if self.kind.startswith("siglip") else True
                enc = self.tokenizer(
                    texts[i : i + batch_size],
                    padding=padding,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                mask = enc["attention_mask"].to(self.device) if self.kind == "clip" else None
                ids = enc["input_ids"].to(self.device)
                features = self.model.get_text_features(input_ids=ids, attention_mask=mask)
                out.append(F.normalize(features.pooler_output, dim=-1).cpu())
        return torch.cat(out).numpy().astype(np.float32)

    def _encode_one(self, text: str) -> np.ndarray:
        v = self([text])[0]
        v.flags.writeable = False  # shared by every caller of the cache
        return v
