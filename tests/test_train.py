"""Training the predictor on labelled pairs: from cached tokens, judged on held-out pairs, versioned."""

import json

import numpy as np
import pytest
from conftest import run_cli
from test_search import QUERIES

from footage import FootageError, Library
from footage.models import train as train_module
from footage.models.predictor import Predictor
from footage.search.evaluate import Pair

WORDS = {  # two more ways to say each photo, so that there is something to learn and something held out
    "cat": ["a cat", "a tabby cat looking up", "a kitten"],
    "coffee": ["a cup of coffee", "espresso in a white cup", "a hot drink on a saucer"],
    "rocket": ["space launch", "a rocket on the launch pad", "a spacecraft lifting off"],
    "astronaut": ["a person in a space suit", "an astronaut", "a man in a white suit with a flag"],
    "motorcycle": ["a motorcycle", "a parked motorbike", "a red sports bike"],
}


@pytest.fixture
def trainable(tmp_path, photos):
    path, stretches = photos
    lib = Library(tmp_path / "lib")
    lib.index([path])
    pairs = [
        Pair(str(path), s.start + k, s.start + k + 1, text)
        for s in stretches
        for k, text in enumerate(WORDS[s.name] * 2)
        if s.start + k + 1 <= s.end
    ]
    yield lib, pairs
    lib.close()


def test_training_lowers_the_loss_and_keeps_a_predictor_that_does_no_harm(trainable):
    lib, pairs = trainable
    report = lib.train(pairs, epochs=100, holdout=0.25, seed=1)
    assert report.train_pairs + report.held_out_pairs == len(pairs) and report.held_out_pairs == round(len(pairs) / 4)
    assert report.losses[-1] < 0.7 * report.losses[0]  # a floor: frames of one photo share their tokens
    assert report.kept and report.version == 1 and report.after.mrr >= report.before.mrr
    assert lib.settings.predictor_version == 1 and "+trained-v1+" in lib.models.model_id
    assert lib.stats().models == [lib.models.model_id] and lib.store.consistent()
    assert lib.stats().predictor["pairs"] == report.train_pairs


def test_trained_predictor_round_trips(trainable):
    lib, pairs = trainable
    lib.train(pairs, epochs=50, holdout=0.2)
    hits = [(h.start, h.end, round(h.score, 5)) for h in lib.search("a kitten", top_k=5)]
    weight = lib.models.predictor.weight.copy()
    lib.close()
    again = Library(lib.path)
    try:
        assert again.settings.predictor_version == 1
        np.testing.assert_array_equal(again.models.predictor.weight, weight)
        assert [(h.start, h.end, round(h.score, 5)) for h in again.search("a kitten", top_k=5)] == hits
        assert not np.allclose(weight, np.eye(len(weight)))  # it did learn something
    finally:
        again.close()


def test_a_predictor_that_harms_held_out_retrieval_is_not_kept(trainable, monkeypatch):
    lib, pairs = trainable
    rng = np.random.default_rng(0)
    scramble = np.linalg.qr(rng.standard_normal((384, 384)))[0].astype(np.float32)  # destroys the space
    monkeypatch.setattr(
        train_module,
        "fit_predictor",
        lambda tokens, targets, epochs, on_epoch=None, start=None, device="cpu": train_module.Fit(
            scramble, np.zeros(384, np.float32), [1.0, 0.5]
        ),
    )
    before = [(h.start, h.end) for h in lib.search("a cat", top_k=3)]
    report = lib.train(pairs, epochs=2, holdout=0.3)
    assert not report.kept and report.version is None and report.after.mrr < report.before.mrr
    assert lib.settings.predictor_version == 0 and lib.stats().predictor is None
    assert [(h.start, h.end) for h in lib.search("a cat", top_k=3)] == before


def test_pairs_on_videos_not_in_the_library_are_left_out_and_named(trainable, tmp_path):
    lib, pairs = trainable
    stray = [Pair(str(tmp_path / "elsewhere.mp4"), 0, 1, "x")] * 5
    scores = lib.evaluate(pairs + stray)  # not scored as misses
    assert scores.pairs == len(pairs) and scores.skipped == [str(tmp_path / "elsewhere.mp4")]
    with pytest.raises(FootageError, match="none of the 5 pairs' videos are in the library.*run footage index first"):
        lib.train(stray, holdout=0.0)
    with pytest.raises(FootageError, match="none of the 5 pairs"):
        lib.evaluate(stray)
    with pytest.raises(FootageError, match="too few"):
        lib.train(pairs[:2], holdout=0.5)


def test_train_cli(tmp_path, photos, footage_cli):
    path, stretches = photos
    lib = tmp_path / "lib"
    run_cli(footage_cli, "index", path, library=lib)
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {"path": str(path), "start": s.start + k, "end": s.start + k + 1, "text": text}
        for s in stretches
        for k, text in enumerate(WORDS[s.name])
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = json.loads(run_cli(footage_cli, "train", pairs, "--epochs", "30", "--json", library=lib).stdout)
    assert report["kept"] and report["version"] == 1 and len(report["losses"]) == 30
    stats = run_cli(footage_cli, "stats", library=lib).stdout
    assert "trained v1 on" in stats and "held-out MRR" in stats
    hits = json.loads(run_cli(footage_cli, "search", QUERIES["coffee"], "--json", library=lib).stdout)
    assert hits[0]["start"] == 6.0


def test_the_label_free_objective_learns_to_predict_hidden_frames(trainable):
    lib, pairs = trainable
    _, token_sets = lib.store.all_frame_tokens()
    fit = train_module.fit_label_free(token_sets, epochs=60)
    assert fit.losses[-1] < fit.losses[0] and fit.weight.shape == (384, 384)
    scores = lib.evaluate_predictor(Predictor(lib.models.predictor.config, fit.weight, fit.bias), pairs)
    assert scores.pairs == len(pairs) and 0 < scores.mrr <= 1
    assert lib.settings.predictor_version == 0  # scoring a candidate changes nothing
