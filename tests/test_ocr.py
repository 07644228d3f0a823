"""On-screen text (footage.indexer.ocr): PP-OCR reads title cards, leaves natural footage alone, and reads a
picture that does not change once."""

import numpy as np
import pytest
from media import PHOTOS, ffmpeg, photo, photo_video
from PIL import Image, ImageDraw, ImageFont

from footage.indexer import ocr
from footage.indexer.probe import probe
from footage.indexer.subtitles import Cue


def title_card(path, text, size=(640, 360), background=(30, 60, 120)):
    image = Image.new("RGB", size, background)
    ImageDraw.Draw(image).text((40, 140), text, fill="white", font=ImageFont.load_default(size=48))
    image.save(path)
    return path


@pytest.fixture(scope="module")
def title_video(tmp_path_factory):
    """4 s of test pattern, the title card for 6 s, 4 s of moving pattern (as in test_speech)."""
    folder = tmp_path_factory.mktemp("ocr")
    card = title_card(folder / "title.png", "GRAND OPENING SALE")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=640x360:rate=10:d=4", "-loop", "1", "-t", "6", "-i", str(card),
           "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10:d=4", "-filter_complex",
           "[1]fps=10,format=yuv420p[t];[0][t][2]concat=n=3", "-c:v", "libx264", "-preset", "ultrafast",
           str(folder / "title.mp4"))  # fmt: skip
    return folder / "title.mp4"


def test_a_title_card_is_read_with_its_time(title_video):
    cues = ocr.read(title_video, probe(title_video))
    assert [c for c in cues if "OPENING" in c.text] == [Cue(4.0, 10.0, "GRAND OPENING SALE")]


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino bf16", "an openvino that cannot compile"])
def test_a_title_is_read_on_each_runtime(tmp_path, monkeypatch, runtime):
    """OpenVINO in bfloat16 where the CPU has it, ONNX Runtime elsewhere (FOOTAGE_BF16=0, or OpenVINO failing)."""
    from footage.models import runtime as runners
    from footage.models.runtime import native_bf16

    monkeypatch.setattr(ocr, "_loaded", None)  # the models are loaded again, for this runtime
    monkeypatch.setenv("FOOTAGE_BF16", "0" if runtime == "onnxruntime" else "1")
    if runtime == "openvino bf16" and not native_bf16():
        pytest.skip("this CPU has no bfloat16 in hardware: footage reads text with ONNX Runtime here")
    tried = []
    if runtime.startswith("an openvino"):
        monkeypatch.setattr(ocr, "native_bf16", lambda: True)
        monkeypatch.setattr(runners, "openvino_runner", lambda *a: tried.append(a) or 1 / 0)
    card = Image.open(title_card(tmp_path / "card.png", "GRAND OPENING SALE")).convert("L").resize((960, 540))
    assert ocr.read_frame(np.asarray(card)) == ["GRAND OPENING SALE"]
    assert len(tried) == (2 if runtime.startswith("an openvino") else 0)  # detector and recogniser


def test_natural_footage_gives_no_words(tmp_path):
    """Real photos, still and panned over (ffmpeg's testsrc2 would not do: it prints its clock)."""
    photos = [p for p in PHOTOS if p[0] in ("cat", "coffee", "motorcycle")]
    photo_video(tmp_path / "photos.mp4", photos, size="640x480")
    ffmpeg("-loop", "1", "-i", str(photo("cat", tmp_path)), "-vf",
           "scale=1280:-2,zoompan=z='1.5':x='iw/4+on*2':y='ih/4':d=1:s=640x360:fps=25", "-t", "8", "-c:v",
           "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(tmp_path / "pan.mp4"))  # fmt: skip
    for video in (tmp_path / "photos.mp4", tmp_path / "pan.mp4"):
        assert ocr.read(video, probe(video)) == []


def test_a_picture_that_does_not_change_is_read_once(tmp_path, monkeypatch):
    card = title_card(tmp_path / "still.png", "QUARTERLY REPORT")
    video = tmp_path / "still.mp4"
    ffmpeg("-loop", "1", "-t", "12", "-i", str(card), "-r", "10", "-pix_fmt", "yuv420p", "-c:v", "libx264", str(video))
    detected, recognised = [], []
    detect, recognise = ocr.detect, ocr.recognise
    monkeypatch.setattr(ocr, "detect", lambda frame: detected.append(1) or detect(frame))
    monkeypatch.setattr(ocr, "recognise", lambda frame, boxes: recognised.append(len(boxes)) or recognise(frame, boxes))
    info = probe(video)
    sampled = len(list(ocr.frames(video, info)))
    cues = ocr.read(video, info)
    assert sampled >= 6 and len(detected) == 1 and recognised == [1]
    assert cues == [Cue(0.0, pytest.approx(info.duration), "QUARTERLY REPORT")]


def test_a_slide_with_something_moving_on_it_is_recognised_once(tmp_path, monkeypatch):
    """The picture changes at every sample (a square slides across), so the detector runs on each; the
    title's box holds the same pixels, so it is read once."""
    title_card(tmp_path / "slide.png", "EVENING NEWS")
    video = tmp_path / "slide.mp4"
    ffmpeg("-loop", "1", "-t", "10", "-i", str(tmp_path / "slide.png"), "-f", "lavfi", "-i",
           "color=c=orange:s=60x60:r=25:d=10", "-filter_complex",
           "[0]fps=25[s];[s][1]overlay=x='20+t*50':y=30,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
           str(video))  # fmt: skip
    detected, recognised = [], []
    detect, recognise = ocr.detect, ocr.recognise
    monkeypatch.setattr(ocr, "detect", lambda frame: detected.append(1) or detect(frame))
    monkeypatch.setattr(ocr, "recognise", lambda frame, boxes: recognised.append(len(boxes)) or recognise(frame, boxes))
    cues = ocr.read(video, probe(video))
    assert len(detected) == 5 and sum(recognised) == 1
    assert [c.text for c in cues] == ["EVENING NEWS"] and cues[0].start == 0.0


def test_a_film_is_read_every_2_s_from_the_indexers_decode_with_each_frames_own_time(tmp_path):
    """A film with B-frames (as x264 makes them; non-reference frames are skipped) is read at the first frame
    at or after every 2 s tick, each stamped with its own time, out of the decode that feeds the model."""
    black = Image.new("RGB", (640, 360), (0, 0, 0))
    black.save(tmp_path / "black.png")
    card = title_card(tmp_path / "card.png", "THE END", background=(0, 0, 0))
    video = tmp_path / "film.mp4"
    ffmpeg("-loop", "1", "-t", "8", "-i", str(tmp_path / "black.png"), "-loop", "1", "-t", "6", "-i", str(card),
           "-f", "lavfi", "-i", "mandelbrot=size=640x360:rate=24", "-filter_complex",
           "[0]fps=24,format=yuv420p[a];[1]fps=24,format=yuv420p[b];[2]trim=duration=6,format=yuv420p[c];"
           "[a][b][c]concat=n=3", "-c:v", "libx264",
           "-g", "48", "-bf", "3", "-sc_threshold", "0", str(video))  # fmt: skip
    info = probe(video)
    times = [t for t, _ in ocr.frames(video, info)]
    assert times == pytest.approx([0, 2, 4, 6, 8, 10, 12, 14, 16, 18], abs=0.15)
    (cue,) = ocr.read(video, info)
    assert cue.text == "THE END" and (cue.start, cue.end) == pytest.approx((8, 14), abs=0.15)


def test_samples_become_cues_where_the_text_stays():
    samples = [(0, []), (2, ["BREAKING NEWS"]), (4, ["BREAKING NEWS", "LIVE"]), (6, ["Weather"]), (8, [])]
    assert ocr.cues(samples) == [Cue(2, 6, "BREAKING NEWS LIVE"), Cue(6, 8, "Weather")]
    assert ocr.cues([(0, ["Credits roll"])], duration=1.5) == [Cue(0, 1.5, "Credits roll")]
