"""Test videos made on the spot with ffmpeg, from real photos (scikit-image) or ffmpeg's own sources."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

# (name, how long it is shown in seconds, the photo): each shown for a known stretch of the video.
PHOTOS = [
    ("cat", 6, data.chelsea),
    ("coffee", 5, data.coffee),
    ("rocket", 7, data.rocket),
    ("astronaut", 6, data.astronaut),
    ("motorcycle", 6, lambda: data.stereo_motorcycle()[0]),
]


@dataclass(frozen=True)
class Stretch:
    name: str
    start: float
    end: float


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def photo(name: str, folder: Path) -> Path:
    image = dict((n, f) for n, _, f in PHOTOS)[name]()
    path = folder / f"{name}.png"
    Image.fromarray(np.asarray(image)[..., :3]).save(path)
    return path


def photo_video(path: Path, photos=PHOTOS, size="320x240", fps=10, extra=()) -> list[Stretch]:
    """A video showing each photo for its seconds; returns the stretches (start, end) in order."""
    inputs, filters, stretches, t = [], [], [], 0.0
    for i, (name, seconds, _) in enumerate(photos):
        inputs += ["-loop", "1", "-framerate", str(fps), "-t", str(seconds), "-i", str(photo(name, path.parent))]
        w, h = size.split("x")
        filters.append(f"[{i}:v]scale={w}:{h},setsar=1,format=yuv420p[v{i}]")
        stretches.append(Stretch(name, t, t + seconds))
        t += seconds
    graph = (
        ";".join(filters) + ";" + "".join(f"[v{i}]" for i in range(len(photos))) + f"concat=n={len(photos)}:v=1[out]"
    )
    ffmpeg(
        *inputs,
        "-filter_complex",
        graph,
        "-map",
        "[out]",
        "-r",
        str(fps),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        *extra,
        str(path),
    )
    return stretches


def pattern_video(
    path: Path,
    seconds: float = 3,
    codec_args=("-c:v", "libx264", "-preset", "ultrafast"),
    size: str = "160x120",
    rate: int = 10,
    extra_input=(),
) -> Path:
    """ffmpeg's test pattern, encoded as asked."""
    ffmpeg(*extra_input, "-f", "lavfi", "-i", f"testsrc=d={seconds}:s={size}:r={rate}", *codec_args, str(path))
    return path
