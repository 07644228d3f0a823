"""Selective against uniform decoding: decoder calls per minute and caption quality, on real footage.

    cd bench && python selective_decoding.py FOLDER [MORE_FOLDERS...]

The annotated clips (bench/data/annotations.jsonl: 71 moments described by hand with their time ranges) are
indexed at 2 frames a second, so that uniform decoding can run up to 2 Hz on real frames. For each way of
choosing when to decode, every clip's captions are decoded (footage's Y-decoder) and each annotated moment
is scored by the Y-space cosine between its description and the caption decoded nearest in time to its
middle (the paper's measure); the mean over moments is the quality. "Covering" scores the caption of the
event that contains the moment's middle instead, which is how a timeline is read.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from retrieval import load_pairs

from footage import Library
from footage.search import timeline

UNIFORM_HZ = [1.0, 2.0, 0.5, 0.35, 0.25]  # 1 Hz first: the reference
WARD_THRESHOLDS = [0.5, 0.75, 1.0, 1.5, 2.0, 3.0]
FPS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args()
    pairs, clips = load_pairs(args.folders)
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "lib", fps=FPS) as lib:
        lib.index(clips)
        decoder, y = lib.decoder, lib.backbone.y
        streams = {}
        for clip in clips:
            times, tokens, end = lib.store.frames(str(clip))
            streams[str(clip)] = times, lib.models.predict([t[None] for t in tokens]), end
        minutes = sum(end for _, _, end in streams.values()) / 60
        targets = {p: y.encode_one(p.text) for p in pairs}
        print(f"{len(pairs)} moments in {len(clips)} clips, {minutes:.1f} minutes at {FPS:g} frames/s")
        print(f"{'decoding':32}{'calls/min':>10}{'fewer than 1 Hz':>17}{'quality':>9}{'covering':>10}{'ms/clip':>9}")

        base_rate = []  # uniform 1 Hz's calls per minute, the reference

        def run(name: str, choose) -> None:
            calls, nearest, covering, seconds = 0, [], [], 0.0
            for path, (times, vectors, end) in streams.items():
                started = time.perf_counter()
                spans, chosen = choose(times, vectors, end)
                captions = decoder(chosen)
                seconds += time.perf_counter() - started
                calls += len(captions)
                caption_vectors = y(captions)  # (E, D)
                # when each caption was decoded: a uniform tick, or an event's middle frame
                at = np.array([a for a, _ in spans] if name.startswith("uniform") else [(a + b) / 2 for a, b in spans])
                for p in (p for p in pairs if p.path == path):
                    middle = (p.start + p.end) / 2
                    nearest.append(float(caption_vectors[np.abs(at - middle).argmin()] @ targets[p]))
                    inside = next((i for i, (a, b) in enumerate(spans) if a <= middle < b), len(spans) - 1)
                    covering.append(float(caption_vectors[inside] @ targets[p]))
            rate = calls / minutes
            if name == "uniform 1 Hz":
                base_rate.append(rate)
            print(
                f"{name:32}{rate:10.1f}{base_rate[0] / rate:16.2f}x{np.mean(nearest):9.3f}{np.mean(covering):10.3f}"
                f"{1000 * seconds / len(streams):9.1f}"
            )

        for hz in UNIFORM_HZ:
            run(f"uniform {hz:g} Hz", lambda t, v, e, hz=hz: timeline.uniform(t, v, e, hz))
        for threshold in WARD_THRESHOLDS:
            run(f"selective, Ward < {threshold:g}", lambda t, v, e, th=threshold: timeline.selective(t, v, e, th))


if __name__ == "__main__":
    main()
