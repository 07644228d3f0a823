"""The JEPA parts: X-encoder (frames), Y-encoder (text), the predictor between them, and the backbone that holds them."""

from footage.models.backbone import BACKBONES, Backbone

__all__ = ["BACKBONES", "Backbone"]
