"""The JEPA parts: X-encoder (frames), Y-encoder (text), the predictor between them, and the backbone."""

from footage.models.backbone import BACKBONES, Backbone

__all__ = ["BACKBONES", "Backbone"]
