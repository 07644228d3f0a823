"""The experts beside the classes: the look of a picture from its pixels, faces from MTCNN, their words mixed
into each frame's token, and a library's experts kept as one of its settings."""

import numpy as np
import pytest
from media import ffmpeg, photo
from PIL import Image, ImageDraw, ImageFilter
from skimage import data

from footage import Library
from footage.models import look
from footage.models.experts import runs
from footage.settings import DEFAULT_EXPERTS, Settings

PHOTOS = {"astronaut": data.astronaut, "coffee": data.coffee, "cat": data.chelsea, "rocket": data.rocket}


def frame(image: np.ndarray) -> np.ndarray:
    """A picture as the pipeline gives it to the models: RGB, stretched to 224 x 224."""
    return np.asarray(Image.fromarray(np.asarray(image)).convert("RGB").resize((224, 224), Image.BILINEAR))


def slide() -> np.ndarray:
    page = Image.new("RGB", (640, 360), (250, 250, 250))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, 640, 36), fill=(30, 60, 160))
    for line in range(7):
        draw.text((40, 60 + 36 * line), "Quarterly results and the plan for the year ahead " * 2, fill=(20, 20, 20))
    return np.asarray(page)


def test_each_look_is_seen_on_real_photos_changed_that_way_and_not_on_the_photos():
    photos = {name: np.asarray(Image.fromarray(make()).convert("RGB")) for name, make in PHOTOS.items()}
    changed = {}
    for name, image in photos.items():
        changed[(name, "plain")] = image
        changed[(name, "grey")] = np.repeat(np.asarray(Image.fromarray(image).convert("L"))[..., None], 3, -1)
        changed[(name, "dark")] = (image * 0.25).astype(np.uint8)
        changed[(name, "blurry")] = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(6)))
    changed[("slide", "flat")] = slide()
    changed[("black screen", "dark")] = np.zeros((360, 640, 3), np.uint8)
    strengths = look.looks(np.stack([frame(x) for x in changed.values()]))  # (N, looks)
    names = list(look.WORDS)
    for (name, how), row in zip(changed, strengths):
        seen = {names[k] for k in np.flatnonzero(row > 0.5)}
        expected = set() if how == "plain" else {how}
        assert seen == expected, (name, how, dict(zip(names, row.round(2))))


def test_a_face_and_a_black_and_white_shot_are_found_by_the_words_people_use(tmp_path):
    """Without the experts ImageNet's classes call the astronaut a suit or a crash helmet, and nothing says a
    picture has no colour: with them, "a close-up of a person's face" and "black and white footage" find each
    first."""
    names = ("cat", "coffee", "rocket", "astronaut")
    inputs, filters = [], []
    for i, name in enumerate(names):
        inputs += ["-loop", "1", "-framerate", "10", "-t", "4", "-i", str(photo(name, tmp_path))]
        grey = ",hue=s=0" if name == "coffee" else ""
        crop = "crop=iw*0.5:ih*0.45:iw*0.27:ih*0.02," if name == "astronaut" else ""  # her face, close up
        filters.append(f"[{i}:v]{crop}scale=640:480,setsar=1{grey},format=yuv420p[v{i}]")  # not low-resolution
    graph = ";".join(filters) + ";" + "".join(f"[v{i}]" for i in range(len(names))) + "concat=n=4:v=1[out]"
    video = tmp_path / "videos" / "shots.mp4"
    video.parent.mkdir()
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset", "ultrafast", str(video))
    with Library(tmp_path / "library") as lib:
        lib.index([video], speech="off", ocr=False)
        assert lib.settings.experts == DEFAULT_EXPERTS and "+experts-faces-look" in lib.models.model_id
        said = [c.text for c in lib.store.chunks_of([str(video)]) if c.text != look.STILL_CAMERA]  # photos hold still
        assert sorted(said) == [
            "a black and white picture",
            "a close-up of a person's face",
            "a person looking at the camera",
        ]
        face = lib.search("a man talking to the camera", top_k=4)[0]
        grey = lib.search("black and white footage", top_k=4)[0]
        cat = lib.search("a cat", top_k=4)  # the experts' words do not reach other queries
    assert (face.start, face.end) == pytest.approx((12.0, 16.0), abs=1.0)
    assert face.caption.startswith("A close-up of a person's face, with ") and "seen" in face.channels
    assert [w for w in face.seen if w != look.STILL_CAMERA] == [
        "a close-up of a person's face",
        "a person looking at the camera",
    ]
    assert (grey.start, grey.end) == pytest.approx((4.0, 8.0), abs=1.0)
    assert grey.caption.endswith("; a black and white picture") and grey.transcript is None
    assert (cat[0].start, cat[0].end) == pytest.approx((0.0, 4.0), abs=1.0) and cat[0].channels == ["visual"]


def test_a_low_resolution_video_is_found_as_low_quality(tmp_path):
    """A 176x144 video is one people call low quality, whatever it shows; the same photo at 640x480 is not."""
    (tmp_path / "videos").mkdir()
    for name, size in (("small.mp4", "176:144"), ("large.mp4", "640:480")):
        ffmpeg("-loop", "1", "-framerate", "10", "-t", "3", "-i", str(photo("coffee", tmp_path)), "-vf",
               f"scale={size},setsar=1,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
               str(tmp_path / "videos" / name))  # fmt: skip
    with Library(tmp_path / "library") as lib:
        lib.index([tmp_path / "videos"], speech="off", ocr=False)
        hits = lib.search("a grainy low-quality video", top_k=2, cutoff=False)  # the large one is below the floor
    assert [h.path.rsplit("/", 1)[1] for h in hits] == ["small.mp4", "large.mp4"]
    assert look.SMALL in hits[0].seen and (hits[0].start, hits[0].end) == (0.0, 3.0)
    assert hits[0].caption.endswith(f"; {look.SMALL}") and look.SMALL not in hits[1].seen


def test_a_still_camera_is_told_from_a_moving_one(tmp_path):
    """A street held still while someone crosses it is a still camera; the same photo panned across is not."""
    (tmp_path / "videos").mkdir()
    source = str(photo("coffee", tmp_path))
    graphs = {
        "fixed.mp4": "[0]scale=640:480[bg];color=red:s=60x120[who];[bg][who]overlay=x='40+t*60':y=200",
        "panned.mp4": "[0]scale=1280:960,crop=640:480:x='t*90':y=240",
    }
    for name, graph in graphs.items():
        ffmpeg("-loop", "1", "-framerate", "10", "-i", source, "-filter_complex", f"{graph},format=yuv420p", "-t", "6",
               "-c:v", "libx264", "-preset", "ultrafast", str(tmp_path / "videos" / name))  # fmt: skip
    with Library(tmp_path / "library") as lib:
        lib.index([tmp_path / "videos"], speech="off", ocr=False)
        hits = lib.search("footage from a still camera", top_k=2)
    assert hits[0].path.endswith("fixed.mp4") and "a still, fixed camera shot" in hits[0].seen, hits
    assert hits[0].end - hits[0].start >= 4 and not any(h.path.endswith("panned.mp4") and h.seen for h in hits)


def test_each_word_is_a_stretch_of_the_frames_that_say_it():
    times = np.arange(9.0)
    words = [(), ("a",), ("a", "b"), ("b",), (), (), ("a",), (), ("a",)]
    assert runs(times, words, 9.5) == [("a", 1.0, 3.0), ("b", 2.0, 4.0), ("a", 6.0, 9.5)]  # 6-7 and 8- are one
    assert runs(times[:0], [], 0.0) == []


def test_a_library_keeps_its_experts_and_one_from_before_them_keeps_its_vectors():
    made_before = {"backbone": "bundled", "generation": "12", "speech": "tiny"}  # indexed, no "experts" key
    old = Settings.read(made_before.get)
    assert old.experts == () and "experts" not in old.model_id("bundled:x")
    assert old.model_id("bundled:x") == "bundled:x+text-v1-speech-tiny-ocr"  # as before the experts came
    new = Settings.read({"backbone": "bundled", "generation": "0"}.get)
    assert new.experts == DEFAULT_EXPERTS and new.meta()["experts"] == '["faces", "look"]'
    kept = Settings.read({**made_before, "experts": '["look"]'}.get)
    assert kept.experts == ("look",) and kept.model_id("b").startswith("b+experts-look+")


def test_the_experts_words_are_those_of_the_caption_bank():
    from footage.models import faces
    from footage.models.experts import WORDS

    astronaut = faces.FaceDetector()(np.stack([frame(data.astronaut())]))[0]
    said = faces.describe(astronaut * 3, (224, 224)) + faces.describe(astronaut * 8, (224, 224))
    assert set(said) <= set(WORDS["faces"])
    assert {*look.WORDS.values(), look.STILL_CAMERA, look.SMALL} == set(WORDS["look"])


def test_a_missing_face_detector_is_one_line_before_anything_is_indexed(tmp_path, photos, monkeypatch):
    from footage.errors import ModelError
    from footage.models import faces

    monkeypatch.setattr(faces, "weight_paths", lambda: None)  # as where facenet-pytorch is not installed
    with Library(tmp_path / "library") as lib:
        with pytest.raises(ModelError, match=r"pip install --no-deps facenet-pytorch==2\.6\.0$"):
            lib.index([photos[0]], speech="off", ocr=False)
        assert lib.stats().videos == 0


def test_the_experts_ties_go_to_the_stretch_that_also_looks_like_the_query():
    from footage import Hit
    from footage.search.engine import untie

    grey = [Hit(f"/v/{name}.mp4", 0.0, 4.0, 0.63, channels=["seen"]) for name in ("a", "b", "c")]
    said = Hit("/v/d.mp4", 0.0, 4.0, 0.7, channels=["speech"])
    pictures = [Hit("/v/c.mp4", 2.0, 6.0, 0.4), Hit("/v/b.mp4", 0.0, 2.0, 0.2), Hit("/v/c.mp4", 9.0, 12.0, 0.9)]
    assert [h.path[3] for h in untie([*grey, said], pictures)] == ["d", "c", "b", "a"]
