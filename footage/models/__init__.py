"""The JEPA parts: X-encoder (frames), Y-encoder (text), the predictor between them, and the backbones."""

from footage.models.base import Backbone
from footage.models.bundled import BACKBONES
from footage.models.loaded import Models, load, load_backbone

__all__ = ["BACKBONES", "Backbone", "Models", "load", "load_backbone"]
