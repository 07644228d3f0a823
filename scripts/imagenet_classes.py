"""Write footage/models/imagenet_classes.tsv from the ImageNet tables in timm's wheel.

timm depends on torchvision, which pulls a torch build that clashes with the pinned CPU torch, so
footage ships the 1000 rows it needs instead of depending on timm. Run once when the table changes:

    python scripts/imagenet_classes.py            # downloads timm's wheel with pip (no deps)
"""

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

TIMM_VERSION = "1.0.31"
OUT = Path(__file__).resolve().parents[1] / "footage" / "models" / "imagenet_classes.tsv"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, f"timm=={TIMM_VERSION}"],
            check=True,
        )
        wheel = zipfile.ZipFile(next(Path(tmp).glob("timm-*.whl")))
        read = lambda name: wheel.read(f"timm/data/_info/{name}").decode().splitlines()  # noqa: E731
        synsets = [s.strip() for s in read("imagenet_synsets.txt") if s.strip()]
        lemmas = dict(line.split("\t", 1) for line in read("imagenet_synset_to_lemma.txt"))
        definitions = dict(line.split("\t", 1) for line in read("imagenet_synset_to_definition.txt"))
    assert len(synsets) == 1000, len(synsets)
    rows = ["index\tsynset\tlemmas\tdefinition"]
    rows += [f"{i}\t{s}\t{lemmas[s]}\t{definitions[s]}" for i, s in enumerate(synsets)]
    OUT.write_text("\n".join(rows) + "\n")
    print(f"wrote {OUT} ({len(synsets)} classes, timm {TIMM_VERSION})")


if __name__ == "__main__":
    main()
