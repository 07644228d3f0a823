"""Write footage/models/imagenet_classes.tsv from timm's ImageNet tables and Debian's WordNet.

timm's wheel has the 1000 synsets in class order with their lemmas and definitions; Debian's wordnet-base
has the hierarchy, from which each class gets its chain of hypernyms (a cockatoo is a parrot, a bird, ...).
timm depends on torchvision, which pulls a torch build that clashes with the pinned CPU torch, so footage
ships the 1000 rows it needs instead of depending on either. Run once when the table changes:

    python scripts/imagenet_classes.py   # pip downloads timm's wheel (no deps), apt-get wordnet-base
"""

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

TIMM_VERSION = "1.0.31"
HYPERNYM_DEPTH = 6  # enough to reach "animal" or "device" from most classes
OUT = Path(__file__).resolve().parents[1] / "footage" / "models" / "imagenet_classes.tsv"


def hypernym_chains(data_noun: str) -> dict[str, list[str]]:
    """WordNet noun synset id (n########) -> names of its hypernyms, nearest first, from data.noun."""
    first_word, parent = {}, {}
    for line in data_noun.splitlines():
        if line.startswith(" "):  # licence header
            continue
        fields = line.split(" | ")[0].split()
        offset, n_words = fields[0], int(fields[3], 16)
        first_word[offset] = fields[4].replace("_", " ")
        i = 4 + 2 * n_words
        n_pointers = int(fields[i])
        pointers = [fields[i + 1 + 4 * k : i + 5 + 4 * k] for k in range(n_pointers)]
        hyper = [p[1] for p in pointers if p[0] in ("@", "@i")]
        if hyper:
            parent[offset] = hyper[0]
    chains = {}
    for offset in first_word:
        chain, node = [], offset
        while node in parent and len(chain) < HYPERNYM_DEPTH:
            node = parent[node]
            chain.append(first_word[node])
        chains["n" + offset] = chain
    return chains


def wordnet_data_noun(tmp: str) -> str:
    subprocess.run(["apt-get", "download", "wordnet-base"], cwd=tmp, check=True, capture_output=True)
    deb = next(Path(tmp).glob("wordnet-base_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), f"{tmp}/wn"], check=True)
    return Path(f"{tmp}/wn/usr/share/wordnet/data.noun").read_text()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        chains = hypernym_chains(wordnet_data_noun(tmp))
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
    rows = ["index\tsynset\tlemmas\tdefinition\thypernyms"]
    rows += [f"{i}\t{s}\t{lemmas[s]}\t{definitions[s]}\t{', '.join(chains[s])}" for i, s in enumerate(synsets)]
    OUT.write_text("\n".join(rows) + "\n")
    print(f"wrote {OUT} ({len(synsets)} classes, timm {TIMM_VERSION})")


if __name__ == "__main__":
    main()
