"""The 1000 ImageNet-1k classes in the X-encoder's output order, with WordNet lemmas and definitions.

The table is copied from timm's wheel by scripts/imagenet_classes.py.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

TABLE = Path(__file__).with_name("imagenet_classes.tsv")


@dataclass(frozen=True)
class ImageNetClass:
    index: int
    synset: str  # WordNet id, e.g. n02124075
    lemmas: tuple[str, ...]  # e.g. ("Egyptian cat",)
    definition: str

    @property
    def name(self) -> str:
        return self.lemmas[0]


@cache
def classes() -> tuple[ImageNetClass, ...]:
    rows = TABLE.read_text().splitlines()[1:]
    out = []
    for row in rows:
        index, synset, lemmas, definition = row.split("\t")
        out.append(ImageNetClass(int(index), synset, tuple(s.strip() for s in lemmas.split(",")), definition))
    return tuple(out)
