"""How fast footage indexes a folder, against its own parts measured in the same run.

    python bench/index_speed.py FOLDER [--fps 1] [--rounds N]

Prints seconds of video, and for each way of doing the work its wall time and video-seconds per wall-second:
  plain decode  `ffmpeg -i FILE -vf fps=1 -f null -` file after file: a full decode to 1 frame/s, the baseline
  decode only   ffprobe + the indexer's ffmpeg command, frames piped to Python and dropped
  model only    the backbone on those same frames (X-encoder + predictor), in the indexer's batches and
                threads: the X-encoder as footage runs it (OpenVINO bf16 on a CPU with bfloat16 in hardware,
                else ONNX Runtime fp32), on ONNX Runtime fp32 and on PyTorch; and once more on all cores
  runtimes      the X-encoder alone in ms/frame on one thread, per runtime and precision: ONNX Runtime fp32
                (footage's where the CPU has no bfloat16), ONNX Runtime int8 (static quantization, per channel,
                stem and head kept in fp32, calibrated on every 4th of these frames), PyTorch fp32, OpenVINO f32,
                and OpenVINO bf16 (footage's where the CPU has it in hardware); with each one's top-1 ImageNet
                class agreement with ONNX Runtime fp32
  plain loop    decode a whole file, then run the model on it, file after file (no overlap), same threads
  experts only  the experts (faces, the look of a picture) on those same frames, on the indexer's threads
  footage       Library.index on a new library (models loaded beforehand, as in a long run): pictures and
                subtitles only, then with the defaults (speech, on-screen text, the experts), then the defaults
                without the experts
and indexer / max(decode, model): 1.0 would mean decoding and inference overlap perfectly. `--rounds N` then
times the plain decode and the defaults N times more, in turn, for their spread on a noisy machine.
"""

import argparse
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from footage import Library, settings
from footage.indexer import ocr
from footage.indexer.decode import Decoder
from footage.indexer.pipeline import INFERENCE_THREADS
from footage.indexer.probe import probe
from footage.indexer.scan import scan
from footage.models.base import MODEL_BATCH
from footage.models.runtime import native_bf16, onnxruntime_runner, openvino_runner
from footage.models.x_encoder import VARIANTS, OnnxXEncoder, XEncoder


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


def plain_decode(files, fps) -> float:
    t = time.perf_counter()
    for f in files:
        args = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(f), "-vf", f"fps={fps:g}", "-f", "null", "-"]
        subprocess.run(args, stderr=subprocess.DEVNULL)  # the damaged sample's audio errors say nothing here
    return time.perf_counter() - t


def _int8(fp32: bytes, calibration: np.ndarray, folder: Path) -> str:
    """Static int8 quantization (QDQ, per channel), calibrated on `calibration`; the stem convolution and the
    head (last 1x1 convolution, classifier) stay in fp32: quantized, top-1 agreement fell from 0.91 to 0.78."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    (folder / "fp32.onnx").write_bytes(fp32)
    with contextlib.chdir(folder):  # shape inference leaves a temporary file in the working folder
        quant_pre_process(str(folder / "fp32.onnx"), str(folder / "pre.onnx"))
    nodes = [n.name for n in onnx.load(str(folder / "pre.onnx")).graph.node if n.op_type in ("Conv", "Gemm")]
    batches = iter([{"frames": calibration[i : i + 8]} for i in range(0, len(calibration) // 8 * 8, 8)])

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(batches, None)

    quantize_static(
        str(folder / "pre.onnx"),
        str(folder / "int8.onnx"),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=[nodes[0], *nodes[-2:]],
    )
    return str(folder / "int8.onnx")


def _logits(run):
    return lambda x: run(x)[1]


def runtimes(frames: np.ndarray, variant: str) -> list[tuple[str, float, float]]:
    """(runtime, ms/frame, top-1 ImageNet class agreement with ONNX Runtime fp32): the X-encoder alone on one
    thread, in the indexer's batches."""
    import torch

    fp32 = OnnxXEncoder(VARIANTS[variant]).model
    torch_x = XEncoder(VARIANTS[variant])
    candidates = {"ONNX Runtime fp32": lambda: _logits(onnxruntime_runner(fp32, 1))}
    with tempfile.TemporaryDirectory() as tmp:
        candidates["ONNX Runtime int8"] = lambda: _logits(onnxruntime_runner(_int8(fp32, frames[::4], Path(tmp)), 1))
        candidates["PyTorch fp32"] = lambda: lambda x: torch_x(x)[1].numpy()
        candidates["OpenVINO f32"] = lambda: _logits(openvino_runner(fp32, 1, "f32"))
        if native_bf16():
            candidates["OpenVINO bf16"] = lambda: _logits(openvino_runner(fp32, 1, "bf16"))
        else:
            print("(this CPU has no bfloat16 in hardware: OpenVINO bf16 left out)")
        rows, reference = [], None
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        for name, make in candidates.items():
            run = make()
            run(frames[:MODEL_BATCH])  # warm up
            t = time.perf_counter()
            top1 = np.concatenate(
                [run(frames[i : i + MODEL_BATCH]).argmax(1) for i in range(0, len(frames), MODEL_BATCH)]
            )
            seconds = time.perf_counter() - t
            reference = top1 if reference is None else reference
            rows.append((name, 1000 * seconds / len(frames), float(np.mean(top1 == reference))))
        torch.set_num_threads(before)
    return rows


def defaults(folder: Path, fps: float, library: Path) -> float:
    """Seconds `footage index` takes with the defaults (speech, on-screen text) into a new library."""
    with Library(library, fps=fps) as lib:
        t = time.perf_counter()
        lib.index([folder])
        return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=0, help="then N rounds of the plain decode and the defaults")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(Path(tmp) / "lib", fps=args.fps)  # the pictures, against decode and model
        backbone = lib.backbone
        backbone.embed_frames(np.zeros((1, backbone.image_size, backbone.image_size, 3), np.uint8))  # load models
        files = scan([args.folder], skip=lib.path).files
        durations = {f: probe(f).duration or 0.0 for f in files}

        plain_decode_s = plain_decode(files, args.fps)
        t = time.perf_counter()
        frames = decode(files, args.fps, backbone.image_size)
        decode_s = time.perf_counter() - t
        video_s = sum(durations[f] for f in frames)

        with backbone.threads(INFERENCE_THREADS):  # as the indexer runs the model
            t = time.perf_counter()
            for f in frames.values():
                backbone.embed_frames(f)
            model_s = time.perf_counter() - t

            ours = backbone.x
            backbone.x = OnnxXEncoder(VARIANTS[backbone.x_variant], backbone.cache_dir, bf16=False)
            backbone.embed_frames(np.zeros((1, backbone.image_size, backbone.image_size, 3), np.uint8))
            t = time.perf_counter()
            for f in frames.values():
                backbone.embed_frames(f)
            model_fp32_s = time.perf_counter() - t

            backbone.x = TorchX(backbone.x_variant)
            backbone.embed_frames(np.zeros((1, backbone.image_size, backbone.image_size, 3), np.uint8))
            t = time.perf_counter()
            for f in frames.values():
                backbone.embed_frames(f)
            model_torch_s = time.perf_counter() - t
            backbone.x = ours

            t = time.perf_counter()
            for f in frames:
                backbone.embed_frames(decode([f], args.fps, backbone.image_size)[f])
            plain_s = time.perf_counter() - t

            t = time.perf_counter()
            for f in frames.values():
                lib.models.experts.words(f)
            experts_s = time.perf_counter() - t
        with backbone.threads(os.cpu_count() or 1):
            t = time.perf_counter()
            for f in frames.values():
                backbone.embed_frames(f)
            model_all_s = time.perf_counter() - t

        t = time.perf_counter()
        report = lib.index([args.folder], speech="off", ocr=False)
        index_s = time.perf_counter() - t
        lib.close()
        ocr.check()  # PP-OCR's models load once per process (0.7 s), as the X-encoder's above
        speech_s = defaults(args.folder, args.fps, Path(tmp) / "speech")
        settings.DEFAULT_EXPERTS, experts = (), settings.DEFAULT_EXPERTS
        bare_s = defaults(args.folder, args.fps, Path(tmp) / "no-experts")
        settings.DEFAULT_EXPERTS = experts
        rows = runtimes(np.concatenate(list(frames.values()))[::2], backbone.x_variant)
        spread = [(plain_decode(files, args.fps), defaults(args.folder, args.fps, Path(tmp) / f"round-{k}"))
                  for k in range(args.rounds)]  # fmt: skip

    n_frames = sum(len(f) for f in frames.values())
    print(
        f"{len(frames)} files, {video_s:.1f} s of video, {n_frames} frames at {args.fps:g} fps, "
        f"backbone {lib.models.model_id}"
    )
    print(f"(the indexer runs the model on {INFERENCE_THREADS} of {os.cpu_count()} cores, ffmpeg on the rest)")
    print(f"{'':14}{'wall s':>8}{'video s / wall s':>18}")
    for name, seconds in [
        ("plain decode", plain_decode_s),
        ("decode only", decode_s),
        ("model only", model_s),
        ("  on ORT fp32", model_fp32_s),
        ("  on PyTorch", model_torch_s),
        (f"model {os.cpu_count()} thr", model_all_s),
        ("plain loop", plain_s),
        ("experts only", experts_s),
        ("footage", index_s),
        ("defaults", speech_s),
        ("  no experts", bare_s),
    ]:
        print(f"{name:14}{seconds:8.2f}{video_s / seconds:17.1f}x")
    print(f"indexer / max(decode, model) = {index_s / max(decode_s, model_s):.2f}")
    print(f"indexer / plain loop = {index_s / plain_s:.2f}")
    per_frame = 1000 / n_frames
    runtime = "OpenVINO bf16" if getattr(ours, "bf16", False) else "ONNX Runtime fp32"
    print(
        f"model: {model_s * per_frame:.1f} ms/frame as footage runs it ({runtime}), "
        f"{model_fp32_s * per_frame:.1f} on ONNX Runtime fp32, {model_torch_s * per_frame:.1f} on PyTorch"
    )
    print("(footage: pictures and subtitles, --speech off --no-ocr; defaults: with speech and on-screen text)")
    print(f"defaults / plain decode = {speech_s / plain_decode_s:.2f}")
    print(f"frames the model did not see (nothing had changed): {report.frames_reused} of {report.frames}")
    print(f"\nthe X-encoder alone, one thread, {n_frames // 2} frames:")
    print(f"{'runtime':20}{'ms/frame':>10}{'top-1 as fp32':>15}")
    for name, ms, agree in rows:
        print(f"{name:20}{ms:10.1f}{agree:15.3f}")
    if report.failed:
        print(f"({len(report.failed)} files failed to index)")
    if spread:
        print(f"\n{len(spread)} rounds, each a plain decode then the defaults (a new library each time):")
        for k, (plain, ours) in enumerate(spread, 1):
            print(f"  round {k}: plain decode {plain:.2f} s, defaults {ours:.2f} s ({video_s / ours:.1f}x)")
        plain, ours = statistics.median(p for p, _ in spread), statistics.median(o for _, o in spread)
        ratio = statistics.median(o / p for p, o in spread)
        print(
            f"  medians: plain decode {plain:.2f} s, defaults {ours:.2f} s ({video_s / ours:.1f}x); "
            f"defaults / plain decode {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
