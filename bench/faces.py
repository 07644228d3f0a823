"""What a face detector (footage.models.faces) costs per frame: 320x240 frames, one torch thread, at each
smallest face looked for.

    python bench/faces.py [--rounds 20] [--batch 1]

Frames: skimage's astronaut (one face, so all three nets run) and coffee (no face: mostly PNet). The median of
--rounds calls is reported, after one call to warm up.
"""

import argparse
import statistics
import time

import numpy as np
import torch
from PIL import Image
from skimage import data

from footage.models.faces import FaceDetector

MIN_FACES = (20, 40, 60)


def frame(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).convert("RGB").resize((320, 240)))  # (240, 320, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1, help="frames per call")
    args = parser.parse_args()
    torch.set_num_threads(1)
    frames = {"astronaut": frame(data.astronaut()), "coffee": frame(data.coffee())}
    print(f"ms per 320x240 frame, 1 thread, batches of {args.batch}, median of {args.rounds}")
    print("min_face  " + "  ".join(f"{name:>9}" for name in frames) + "  faces")
    for min_face in MIN_FACES:
        detect = FaceDetector(min_face)
        row, found = [], []
        for image in frames.values():
            batch = np.stack([image] * args.batch)
            found.append(len(detect(batch)[0]))  # and warms up
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                detect(batch)
                times.append((time.perf_counter() - start) * 1000 / args.batch)
            row.append(statistics.median(times))
        print(f"{min_face:>8}  " + "  ".join(f"{ms:9.1f}" for ms in row) + f"  {found}")


if __name__ == "__main__":
    main()
