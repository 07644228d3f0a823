"""--device: which device is chosen, that a missing accelerator is one line, and that the GPU path (PyTorch)
gives the vectors the CPU path (ONNX Runtime) gives. This machine has no GPU, so both run on the CPU here."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import run_cli
from media import PHOTOS, photo_video

from footage import Library
from footage.errors import BadValue
from footage.indexer.speech import Transcriber
from footage.models.base import MODEL_BATCH
from footage.models.bundled import Bundled, TorchXEncoder
from footage.models.runtime import DEVICES, batch_size, resolve
from footage.models.train import fit_predictor
from footage.models.x_encoder import VARIANTS, OnnxXEncoder
from footage.settings import DEFAULT_SPEECH


@pytest.fixture(scope="module")
def short_video(tmp_path_factory):
    """Four seconds of real photos: a cat, then coffee."""
    path = tmp_path_factory.mktemp("device") / "short.mp4"
    photo_video(path, photos=[(name, 2, f) for name, _, f in PHOTOS[:2]])
    return path


def test_auto_is_the_cpu_on_a_machine_without_an_accelerator():
    assert not torch.cuda.is_available() and not torch.backends.mps.is_available()
    assert resolve("auto") == "cpu" and resolve("cpu") == "cpu"


@pytest.mark.parametrize(
    "cuda, mps, chosen", [(True, False, "cuda"), (False, True, "mps"), (True, True, "cuda"), (False, False, "cpu")]
)
def test_auto_prefers_cuda_then_mps(monkeypatch, cuda, mps, chosen):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve("auto") == chosen
    for device in ("cuda", "mps"):  # named outright: used when there, refused when not
        if (cuda, mps)[device == "mps"]:
            assert resolve(device) == device
        else:
            with pytest.raises(BadValue):
                resolve(device)


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_a_missing_accelerator_is_a_one_line_bad_value(device):
    with pytest.raises(BadValue) as e:
        resolve(device)
    assert str(e.value).startswith(f"device {device}: ") and "\n" not in str(e.value)
    assert "use auto or cpu" in str(e.value)


def test_an_unknown_device_lists_the_choices(tmp_path):
    with pytest.raises(BadValue, match="'tpu' is not one of auto, cpu, cuda, mps"):
        resolve("tpu")
    with pytest.raises(BadValue, match="not one of"):
        Library(tmp_path / "lib", device="tpu")
    with pytest.raises(BadValue, match="device cuda"):  # before any model loads
        Library(tmp_path / "lib", device="cuda")


def test_batch_sizes():
    assert batch_size("cpu", MODEL_BATCH) == MODEL_BATCH == 4  # the CPU keeps today's batch
    assert batch_size("cuda", MODEL_BATCH) == 32 and batch_size("mps", MODEL_BATCH) == 16
    assert set(DEVICES) == {"auto", "cpu", "cuda", "mps"}


def test_a_cpu_library_indexes_on_onnx_runtime_and_its_model_id_names_no_device(tmp_path, short_video):
    with Library(tmp_path / "lib", device="cpu") as lib:
        report = lib.index([short_video], ocr=False, speech="off")
        assert report.indexed == [str(short_video)], report
        assert lib.backbone.device == "cpu" and lib.backbone.batch == MODEL_BATCH
        assert isinstance(lib.backbone.x, OnnxXEncoder)
        assert "cpu" not in lib.models.model_id and "auto" not in lib.models.model_id
        model_id = lib.models.model_id
        assert "cat" in lib.search("a cat", top_k=1)[0].caption
    with Library(tmp_path / "lib") as lib:  # auto: the same library, the same model id
        assert lib.models.model_id == model_id and lib.backbone.device == "cpu"


def test_a_search_on_auto_does_not_import_torch(tmp_path, short_video):
    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.index([short_video], ocr=False, speech="off")
    script = (
        "import sys\nfrom footage import Library\n"
        f"with Library({str(tmp_path / 'lib')!r}) as lib:\n    assert lib.search('a cat')\n"
        "assert 'torch' not in sys.modules, 'auto was resolved by a search'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_the_pytorch_x_encoder_gives_the_onnx_vectors(tmp_path, short_video):
    """What a GPU runs (PyTorch), here on the CPU, against what the CPU runs (ONNX Runtime): the same frame
    tokens and shot features through the whole embed_frames, over more frames than one batch."""
    from footage.indexer.decode import Decoder
    from footage.indexer.probe import probe

    onnx = Bundled(cache_dir=tmp_path, device="cpu")
    onnx.x = OnnxXEncoder(VARIANTS["lite0"], tmp_path, bf16=False)  # float32, as on a CPU without bfloat16
    frames = np.concatenate([f for _, f in Decoder(short_video, probe(short_video), 2.0, onnx.image_size, batch=8)])
    torch_path = Bundled(cache_dir=tmp_path, device="cpu")
    torch_path.x = TorchXEncoder(VARIANTS["lite0"], "cpu")
    tokens, features = onnx.embed_frames(frames)
    torch_tokens, torch_features = torch_path.embed_frames(frames)
    assert len(frames) > MODEL_BATCH and tokens.shape == torch_tokens.shape
    np.testing.assert_allclose(torch_tokens, tokens, atol=1e-4)
    np.testing.assert_allclose(torch_features, features, atol=1e-4)


def test_training_runs_on_the_device_it_is_given():
    rng = np.random.default_rng(0)
    tokens = [rng.standard_normal((3, 8)).astype(np.float32) for _ in range(6)]
    targets = rng.standard_normal((6, 8)).astype(np.float32)
    fit = fit_predictor(tokens, targets, epochs=5, device="cpu")
    assert fit.weight.shape == (8, 8) and isinstance(fit.weight, np.ndarray) and len(fit.losses) == 5


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_whisper_runs_on_the_cpu_without_cuda(tmp_path, device):
    """mps has no CTranslate2 backend, and this CTranslate2 sees no CUDA GPU: both fall back to the CPU."""
    whisper = Transcriber(DEFAULT_SPEECH, tmp_path, device=device).whisper
    assert whisper.model.device == "cpu"


def test_the_cli_says_a_missing_gpu_in_one_line(tmp_path, footage_cli):
    done = run_cli(footage_cli, "--device", "cuda", "stats", library=tmp_path / "lib", check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "device cuda: " in done.stderr
    env = {**os.environ, "FOOTAGE_DEVICE": "tpu"}
    done = run_cli(footage_cli, "stats", library=tmp_path / "lib", check=False, env=env)
    assert done.returncode == 2 and "FOOTAGE_DEVICE" in done.stderr and "Traceback" not in done.stderr
