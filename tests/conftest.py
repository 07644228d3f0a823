import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from media import photo_video  # noqa: E402

from footage import Library  # noqa: E402


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """(path, stretches) of a video of real photos, each shown for a known stretch."""
    folder = tmp_path_factory.mktemp("photos")
    path = folder / "photos.mp4"
    return path, photo_video(path)


@pytest.fixture(scope="session")
def photo_library(tmp_path_factory, photos):
    """A library holding the photo video; tests must not change it."""
    lib = Library(tmp_path_factory.mktemp("photo-library"))
    report = lib.index([photos[0]])
    assert report.indexed == [str(photos[0])], report
    yield lib
    lib.close()


@pytest.fixture
def library(tmp_path):
    lib = Library(tmp_path / "library")
    yield lib
    lib.close()


@pytest.fixture(scope="session")
def footage_cli():
    exe = shutil.which("footage", path=str(Path(sys.executable).parent))
    assert exe, "the footage console script is not installed in this environment"
    return exe


def run_cli(exe, *args, library=None, check=True, **kwargs) -> subprocess.CompletedProcess:
    cmd = [exe, *(["--library", str(library)] if library else []), *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done
