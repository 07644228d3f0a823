"""The one place models are built from a library's settings, for the local engine, the Ray workers and watch.

`load_backbone` loads a backbone by name; `load` gives a library's `Models`: the backbone and the predictor it
uses, with the settings whose vectors they make.
"""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from footage.models.base import Backbone
from footage.models.bundled import BACKBONES, Bundled
from footage.models.experts import Experts
from footage.models.predictor import Predictor
from footage.settings import Settings


def load_backbone(name: str = "bundled", cache_dir: Path | None = None, device: str = "auto") -> Backbone:
    """A backbone by name: `bundled` (and its larger -lite1/-lite2 variants), a hub model (siglip, siglip2,
    clip, vjepa2, or hf:ORG/NAME), or the path of a folder holding a saved transformers model. Its vision
    model runs on `device` (auto, cpu, cuda or mps; see footage/models/runtime.py)."""
    if name in BACKBONES:
        return Bundled(name, cache_dir, device)
    from footage.models.hub import Hub  # transformers: only for hub backbones

    return Hub(name, cache_dir, device)


@dataclass
class Models:
    """A library's models: its backbone and the predictor in use (its trained one, else the backbone's
    untrained one), with the settings they were built from."""

    settings: Settings
    backbone: Backbone
    predictor: Predictor

    @property
    def model_id(self) -> str:
        """What every vector these models make is tagged with."""
        return self.settings.model_id(self.backbone.base_id)

    @cached_property
    def experts(self) -> Experts:
        return Experts(self.settings.experts)

    def pool(self, token_sets: list[np.ndarray], predictor: Predictor | None = None):
        """Segments' frame tokens -> their (S, D) vectors and (S, V, D) views (None without views), pooled by
        `predictor` (this library's by default) on the library's views."""
        return self.backbone.pool(token_sets, predictor or self.predictor, self.settings.views)

    def predict(self, token_sets: list[np.ndarray], query: np.ndarray | None = None) -> np.ndarray:
        """Segments' frame tokens [(N_i, T)] -> (S, D) unit vectors, conditioned on `query` (D,) if given."""
        return self.backbone.predict(token_sets, self.predictor, query)


def load(
    settings: Settings,
    cache_dir: Path | None,
    predictor: Predictor | None = None,
    backbone: Backbone | None = None,
) -> Models:
    """A library's models from its settings and its trained predictor (None: zero-shot). `backbone`, when it
    is one already loaded with the same name and device, is used as it is: tests share one load."""
    if backbone is None or (backbone.name, backbone.asked_device) != (settings.backbone, settings.device):
        backbone = load_backbone(settings.backbone, cache_dir, settings.device)
    return Models(settings, backbone, predictor or backbone.untrained)
