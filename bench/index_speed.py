"""How fast footage indexes a folder, against its own parts measured in the same run.

    python bench/index_speed.py FOLDER [--fps 1]

Prints seconds of video, and for each way of doing the work its wall time and video-seconds per wall-second:
  decode only   ffprobe + the indexer's ffmpeg command, frames piped to Python and dropped
  model only    the backbone on those same frames (X-encoder + predictor), in the indexer's batches and
                threads: the X-encoder on ONNX Runtime (as footage runs it) and on PyTorch; and once more on
                all cores, for reference
  plain loop    decode a whole file, then run the model on it, file after file (no overlap), same threads
  footage       Library.index on a new library (models loaded beforehand, as in a long run): pictures and
                subtitles only, then with the defaults (speech, on-screen text)
and indexer / max(decode, model): 1.0 would mean decoding and inference overlap perfectly.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from footage import Library
from footage.indexer.decode import Decoder
from footage.indexer.pipeline import INFERENCE_THREADS, scan
from footage.indexer.probe import probe
from footage.models.x_encoder import VARIANTS, XEncoder


class TorchX:
    """The PyTorch X-encoder behind the ONNX one's call, to time the two on the same frames."""

    def __init__(self, variant: str):
        self.x = XEncoder(VARIANTS[variant])

    def __call__(self, frames, threads=1):
        return self.x(frames)


def decode(files, fps, size):
    frames = {}
    for f in files:
        try:
            frames[f] = np.concatenate([fr for _, fr in Decoder(f, probe(f), fps, size)])
        except Exception as e:  # the indexer records these; here they are just left out
            print(f"  (skipping {f.name}: {e})")
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--fps", type=float, default=1.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(Path(tmp) / "lib", fps=args.fps)  # the pictures, against decode and model
        backbone = lib.backbone
        backbone.embed_frames(np.zeros((1, backbone.image_size, backbone.image_size, 3), np.uint8))  # load models
        files = scan([args.folder], skip=lib.path).files
        durations = {f: probe(f).duration or 0.0 for f in files}

        t = time.perf_counter()
        frames = decode(files, args.fps, backbone.image_size)
        decode_s = time.perf_counter() - t
        video_s = sum(durations[f] for f in frames)

        with backbone.threads(INFERENCE_THREADS):  # as the indexer runs the model
            t = time.perf_counter()
            for f in frames.values():
                backbone.embed_frames(f)
            model_s = time.perf_counter() - t

            onnx_x, backbone.x = backbone.x, TorchX(backbone.x_variant)
            backbone.embed_frames(np.zeros((1, backbone.image_size, backbone.image_size, 3), np.uint8))
            t = time.perf_counter()
            for f in frames.values():
                backbone.embed_frames(f)
            model_torch_s = time.perf_counter() - t
            backbone.x = onnx_x

            t = time.perf_counter()
            for f in frames:
                backbone.embed_frames(decode([f], args.fps, backbone.image_size)[f])
            plain_s = time.perf_counter() - t
        with backbone.threads(os.cpu_count() or 1):
            t = time.perf_counter()
            for f in frames.values():
                backbone.embed_frames(f)
            model_all_s = time.perf_counter() - t

        t = time.perf_counter()
        report = lib.index([args.folder], speech="off", ocr=False)
        index_s = time.perf_counter() - t
        lib.close()
        with Library(Path(tmp) / "speech", fps=args.fps) as spoken:
            t = time.perf_counter()
            spoken.index([args.folder])
            speech_s = time.perf_counter() - t

    n_frames = sum(len(f) for f in frames.values())
    print(
        f"{len(frames)} files, {video_s:.1f} s of video, {n_frames} frames at {args.fps:g} fps, "
        f"backbone {backbone.model_id}"
    )
    print(f"(the indexer runs the model on {INFERENCE_THREADS} of {os.cpu_count()} cores, ffmpeg on the rest)")
    print(f"{'':14}{'wall s':>8}{'video s / wall s':>18}")
    for name, seconds in [
        ("decode only", decode_s),
        ("model only", model_s),
        ("  on PyTorch", model_torch_s),
        (f"model {os.cpu_count()} thr", model_all_s),
        ("plain loop", plain_s),
        ("footage", index_s),
        ("defaults", speech_s),
    ]:
        print(f"{name:14}{seconds:8.2f}{video_s / seconds:17.1f}x")
    print(f"indexer / max(decode, model) = {index_s / max(decode_s, model_s):.2f}")
    print(f"indexer / plain loop = {index_s / plain_s:.2f}")
    per_frame = 1000 / n_frames
    print(f"model: {model_s * per_frame:.1f} ms/frame on ONNX Runtime, {model_torch_s * per_frame:.1f} on PyTorch")
    print("(footage: pictures and subtitles, --speech off --no-ocr; defaults: with speech and on-screen text)")
    if report.failed:
        print(f"({len(report.failed)} files failed to index)")


if __name__ == "__main__":
    main()
