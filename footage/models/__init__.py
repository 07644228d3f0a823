"""The JEPA parts: X-encoder (frames), Y-encoder (text), the predictor between them, and the backbones."""

from footage.models.backbone import BACKBONES, Backbone, load_backbone

__all__ = ["BACKBONES", "Backbone", "load_backbone"]
