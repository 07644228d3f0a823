"""The 1000 ImageNet-1k classes in the X-encoder's output order, with WordNet lemmas, definitions and
hypernyms. scripts/imagenet_classes.py writes the table from timm's wheel and Debian's wordnet-base.
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
    hypernyms: tuple[str, ...]  # nearest first: ("domestic cat", "cat", "feline", ...)

    @property
    def name(self) -> str:
        return self.lemmas[0]


@cache
def classes() -> tuple[ImageNetClass, ...]:
    rows = TABLE.read_text().splitlines()[1:]
    out = []
    for row in rows:
        index, synset, lemmas, definition, hypernyms = row.split("\t")
        names = tuple(s.strip() for s in lemmas.split(","))
        out.append(ImageNetClass(int(index), synset, names, definition, tuple(hypernyms.split(", "))))
    return tuple(out)
