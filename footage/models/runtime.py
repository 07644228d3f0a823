"""Where and how the models run: the device (`auto` picks a CUDA GPU, else Apple's Metal (MPS), else the CPU) and
the runners (torch on the CPU, ONNX Runtime, OpenVINO) that execute an exported model.

The device changes where the arithmetic is done, never what a vector means: it is not part of any model id, so
a library indexed on a GPU is searched on a CPU (the outputs agree to float rounding). torch is imported only to
resolve `auto` or an accelerator: `cpu` needs no torch, and a bundled search never asks for the device at all.
"""

import os

from footage.errors import BadValue

DEVICES = ("auto", "cpu", "cuda", "mps")
# Frames per forward pass, as a multiple of the CPU's: the CPU batch is kept small for its caches (MODEL_BATCH in
# backbone.py), while a GPU is kept busy only by larger ones; 8x the bundled 4 frames of 224x224 is well under a GB.
BATCH_SCALE = {"cpu": 1, "cuda": 8, "mps": 4}


def check(name: str) -> str:
    """`name` if it is one of DEVICES, else BadValue listing them (no torch imported)."""
    if name not in DEVICES:
        raise BadValue(f"device {name!r} is not one of {', '.join(DEVICES)}")
    return name


def resolve(name: str) -> str:
    """auto|cpu|cuda|mps -> the device torch will use: cpu, cuda or mps. An accelerator asked for by name that
    torch cannot use is a BadValue saying why, rather than a silent fall back to a CPU many times slower."""
    if check(name) == "cpu":
        return "cpu"
    import torch

    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cuda" and not cuda:
        why = (
            f"this torch is a CPU-only build ({torch.__version__}); install a CUDA build of torch, or"
            if torch.version.cuda is None
            else "no CUDA GPU is visible to torch (torch.cuda.is_available() is False);"
        )
        raise BadValue(f"device cuda: {why} use auto or cpu")
    if name == "mps" and not mps:
        raise BadValue(
            "device mps: Apple's Metal is not available to torch (torch.backends.mps.is_available() is False); "
            "use auto or cpu"
        )
    return name


def batch_size(device: str, cpu: int) -> int:
    """Frames per forward pass on a resolved `device`, given the CPU's batch."""
    return cpu * BATCH_SCALE[device]


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX), as OpenVINO reports it.
    FOOTAGE_BF16=0 says no (float32 everywhere, for outputs that match PyTorch's to 1e-5)."""
    if os.environ.get("FOOTAGE_BF16", "1") == "0":
        return False
    try:
        import openvino

        return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # no OpenVINO, or one that cannot read this CPU: float32 on ONNX Runtime
        return False


def cpu_runner(model: bytes, threads: int, bf16: bool):
    """(run, bf16): an ONNX model of one input on the CPU, on `threads` threads, run by OpenVINO in bfloat16
    when `bf16` says so (native_bf16), else by ONNX Runtime in float32; `run(input)` -> the model's outputs,
    in order, as numpy arrays, and `bf16` whether it is OpenVINO's (an OpenVINO that cannot compile the model
    must not stop indexing: ONNX Runtime takes over)."""
    if bf16:
        try:
            return openvino_runner(model, threads, "bf16"), True
        except Exception:
            pass
    return onnxruntime_runner(model, threads), False


def onnxruntime_runner(model: bytes | str, threads: int):
    """An ONNX model of one input (its bytes or path) run by ONNX Runtime in float32 on `threads` threads: a
    function of that input -> the model's outputs, in order, as numpy arrays."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3  # no warnings on the terminal
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: tuple(session.run(None, {name: x}))


def openvino_runner(model: bytes, threads: int, precision: str):
    """An ONNX model compiled by OpenVINO for the CPU in `precision` (bf16, f32) on `threads` threads: a
    function of its input (a numpy array; for a model of several inputs, a dict of them by name) -> the
    model's outputs, in order, as numpy arrays."""
    import openvino

    core = openvino.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": precision}
    config["ENABLE_CPU_PINNING"] = False  # ffmpeg, the models, OCR and Whisper share the cores
    compiled = core.compile_model(core.read_model(model), "CPU", config)

    def run(x):  # a request per call: one request must not serve two threads at once
        out = compiled.create_infer_request().infer(x if isinstance(x, dict) else [x])  # outputs copied out
        return tuple(out[o] for o in compiled.outputs)

    return run
