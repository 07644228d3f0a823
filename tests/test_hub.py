"""Hub backbones on tiny random-weight models of each family, made here with transformers' config classes and
saved to a folder, the way a user points --backbone at a saved model. Random weights say nothing about
quality: these tests check the whole index -> search path (shapes, preprocessing, dtype, batching, storage)."""

import json
import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import run_cli
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    BertConfig,
    BertModel,
    CLIPConfig,
    CLIPModel,
    PreTrainedTokenizerFast,
    Siglip2Config,
    Siglip2Model,
    SiglipConfig,
    SiglipModel,
    VJEPA2Config,
    VJEPA2Model,
)

from footage import Library
from footage.errors import LibraryError, ModelError
from footage.models import load_backbone
from footage.search.evaluate import Pair

WORDS = "a photo of cat cup coffee the rocket bird on astronaut in space suit".split()
TEXT = dict(
    hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=16
)
VISION = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, patch_size=8)


def tokenizer() -> PreTrainedTokenizerFast:
    vocab = {"[PAD]": 0, "[UNK]": 1, "[BOS]": 2, "[EOS]": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]"
    )


def tiny(family: str):
    torch.manual_seed(0)
    text = {**TEXT, "vocab_size": len(WORDS) + 4}
    if family == "clip":
        ids = {"pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}
        return CLIPModel(
            CLIPConfig(text_config={**text, **ids}, vision_config={**VISION, "image_size": 32}, projection_dim=24)
        )
    if family == "siglip":
        return SiglipModel(SiglipConfig(text_config=text, vision_config={**VISION, "image_size": 32}))
    if family == "siglip2":
        return Siglip2Model(Siglip2Config(text_config=text, vision_config={**VISION, "num_patches": 16}))
    return VJEPA2Model(
        VJEPA2Config(
            hidden_size=48,
            num_attention_heads=4,
            num_hidden_layers=2,
            mlp_ratio=2,
            crop_size=32,
            patch_size=8,
            frames_per_clip=4,
            pred_hidden_size=16,
            pred_num_attention_heads=4,
            pred_num_hidden_layers=1,
        )
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """family -> folder holding a tiny saved model and its tokenizer."""
    folders = {}
    for family in ("clip", "siglip", "siglip2", "vjepa2"):
        folder = tmp_path_factory.mktemp(family)
        tiny(family).save_pretrained(folder)
        tokenizer().save_pretrained(folder)
        folders[family] = folder
    return folders


@pytest.mark.parametrize("family", ["clip", "siglip", "siglip2", "vjepa2"])
def test_index_and_search_on_a_tiny_model(family, saved, photos, tmp_path):
    path, stretches = photos
    with Library(tmp_path / "lib", backbone=str(saved[family])) as lib:
        b = lib.backbone
        assert b.kind == family and b.image_size == 32
        assert lib.index([path]).indexed == [str(path)]
        stats = lib.stats()
        assert stats.backbone == str(saved[family]) and stats.models == [lib.models.model_id] and family in b.base_id
        tokens = lib.store.tokens_in_range(str(path), 0, 1e9)  # one per second of video
        assert tokens.shape == (pytest.approx(stretches[-1].end, abs=1.5), b.token_dim) and tokens.dtype == np.float32
        assert np.allclose(np.linalg.norm(tokens, axis=1), 1, atol=1e-2)  # float16 in the store
        # random weights: the cosines are chance, which the pictures' floor is measured from, so no cut-off
        hits = lib.search("a photo of a cat", top_k=3, cutoff=False)
        assert hits and all(h.path == str(path) and 0 <= h.start < h.end for h in hits)
        query = b.embed_query("a photo of a cat")
        assert query.shape == (b.dim,) and query.dtype == np.float32
        # the best hit is the segment whose predicted vector (from its cached tokens) is nearest the query
        ids, token_sets = lib.store.all_frame_tokens()
        assert hits[0].segment == ids[int((lib.models.predict(token_sets) @ query).argmax())]
        assert lib.search("a photo of a cat", top_k=3, rerank=True, cutoff=False)
    with Library(tmp_path / "lib") as again:  # the stored backbone is used when none is given
        assert again.backbone.name == str(saved[family]) and not again.index([path]).indexed


@pytest.mark.parametrize("family", ["clip", "siglip2", "vjepa2"])
def test_frames_embed_the_same_alone_or_batched(family, saved):
    b = load_backbone(str(saved[family]))
    frames = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), np.uint8)
    together, _ = b.embed_frames(frames)
    alone = np.concatenate([b.embed_frames(frames[i : i + 1])[0] for i in range(6)])
    assert together.shape == (6, b.token_dim) and together.dtype == np.float32
    np.testing.assert_allclose(together, alone, atol=1e-5)
    texts = b.y(["a cat", "a photo of the rocket", "cup"])
    np.testing.assert_allclose(texts[0], b.y(["a cat"])[0], atol=1e-5)  # padding does not change a text
    assert texts.shape == (3, b.dim)


def test_siglip2_patches_match_its_processor(saved):
    from transformers.models.siglip2.image_processing_pil_siglip2 import convert_image_to_patches

    b = load_backbone(str(saved["siglip2"]))
    pixels = torch.randn(1, 3, 32, 32)
    seen = {}

    def record(pixel_values, pixel_attention_mask, spatial_shapes):
        seen.update(patches=pixel_values, mask=pixel_attention_mask, shapes=spatial_shapes)
        return SimpleNamespace(pooler_output=pixel_values.mean(1))

    b.model.get_image_features = record
    b.vision(pixels)
    reference = convert_image_to_patches(pixels[0].numpy(), 8)  # (C, H, W) -> (n*n, p*p*C)
    np.testing.assert_allclose(seen["patches"][0].numpy(), reference, atol=1e-6)
    assert seen["mask"].tolist() == [[1] * 16] and seen["shapes"].tolist() == [[4, 4]]


def test_preprocessor_config_sets_the_normalisation(saved, tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    for f in saved["clip"].iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    assert load_backbone(str(folder)).pixel_stats[0].flatten().tolist() == pytest.approx(
        [0.4815, 0.4578, 0.4082], abs=1e-4
    )
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.1] * 3, "image_std": [0.2] * 3}))
    mean, std = load_backbone(str(folder)).pixel_stats
    assert mean.flatten().tolist() == pytest.approx([0.1] * 3) and std.flatten().tolist() == pytest.approx([0.2] * 3)


def test_vjepa2_needs_and_gets_a_trained_map_into_text_space(saved, photos, tmp_path):
    path, stretches = photos
    with Library(tmp_path / "lib", backbone=str(saved["vjepa2"])) as lib:
        b = lib.backbone
        assert (b.token_dim, b.dim) == (48, 384) and b.untrained.weight.shape == (48, 384)
        lib.index([path])
        pairs = [Pair(str(path), s.start, s.end, f"a photo of {s.name}") for s in stretches]
        report = lib.train(pairs, epochs=30, holdout=0)
        assert report.kept and report.losses[-1] < report.losses[0]
        assert lib.models.predictor.weight.shape == (48, 384) and "trained-v1" in lib.models.model_id
        assert lib.search("a photo of a cat", top_k=1)


def test_another_backbone_is_refused_on_an_existing_library(saved, tmp_path):
    with Library(tmp_path / "lib", backbone=str(saved["siglip"])) as made:
        made.index([])  # only index makes a library
    with pytest.raises(LibraryError, match="built with backbone .*siglip0', not .*clip0'"):
        Library(tmp_path / "lib", backbone=str(saved["clip"]))


def test_bad_backbones_get_one_clear_line(saved, tmp_path, footage_cli):
    with pytest.raises(ModelError, match="unknown backbone 'nope'"):
        load_backbone("nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="empty: not a usable transformers model folder"):
        load_backbone(str(tmp_path / "empty"))
    BertModel(
        BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    ).save_pretrained(tmp_path / "bert")
    with pytest.raises(ModelError, match="a 'bert' model; hub backbones are"):
        load_backbone(str(tmp_path / "bert"))
    # no network (made certain with HF_HUB_OFFLINE): the message says how to get the model here
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    done = run_cli(footage_cli, "index", "--backbone", "siglip", tmp_path, library=tmp_path / "l", check=False, env=env)
    assert done.returncode == 1 and not done.stdout
    line = done.stderr.strip()
    assert "\n" not in line and "google/siglip-base-patch16-224: cannot load it from the Hugging Face hub" in line
    assert "save_pretrained" in line and "Traceback" not in line, line
    assert sys.executable  # the CLI ran in this environment's interpreter
