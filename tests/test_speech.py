"""What is said and written: speech (espeak-ng voices, and a film's dialogue scene, transcribed by Whisper),
subtitle files and streams, CEA-608 closed captions, and their fusion with the pictures in search."""

import json
import random
import re
import shutil
import subprocess
import tarfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from media import ffmpeg

from footage import Library
from footage.indexer import speech, subtitles, text
from footage.indexer.speech import MIN_SILENCE_MS, RATE, Transcriber, _Session, audio, words_in
from footage.indexer.subtitles import Cue, parse
from footage.settings import DEFAULT_SPEECH

SENTENCE = "The treasure is buried under the old oak tree near the river."
SPOKEN_AT = 4.0  # seconds of silence before the sentence
SRT = "1\n00:00:09,000 --> 00:00:11,500\nThe red balloon floats away over the city.\n"


def speak(path, sentence, silence=SPOKEN_AT, seconds=14, voice="en"):
    """A test-card video with a sentence spoken by espeak-ng after `silence` seconds."""
    wav = path.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), sentence], check=True)
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
        "-f", "lavfi", "-i", f"anullsrc=r=22050:cl=mono:d={silence}", "-i", str(wav),
        "-filter_complex", "[1][2]concat=n=2:v=0:a=1,apad[a]", "-map", "0:v", "-map", "[a]",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(path),
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def said(tmp_path_factory):
    """A library holding: a spoken sentence, a video with a sidecar .srt, one with an embedded subtitle stream,
    and a tone-and-noise soundtrack with no voice."""
    folder = tmp_path_factory.mktemp("said")
    speak(folder / "spoken.mp4", SENTENCE)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:d=14", "-c:v", "libx264", "-preset", "ultrafast",
           str(folder / "sidecar.mp4"))  # fmt: skip
    (folder / "sidecar.srt").write_text(SRT)
    (folder / "stream.srt").write_text("1\n00:00:02,000 --> 00:00:05,000\nA violin concerto in the cathedral.\n")
    ffmpeg("-f", "lavfi", "-i", "smptebars=size=320x240:rate=10:d=8", "-i", str(folder / "stream.srt"),
           "-c:v", "libx264", "-preset", "ultrafast", "-c:s", "mov_text", str(folder / "embedded.mp4"))  # fmt: skip
    (folder / "stream.srt").unlink()  # only inside the mp4 now
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:d=12", "-f", "lavfi",
           "-i", "sine=frequency=440:d=12,volume=0.5[s];anoisesrc=d=12:a=0.1[n];[s][n]amix", "-c:v", "libx264",
           "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(folder / "music.mp4"))  # fmt: skip
    lib = Library(tmp_path_factory.mktemp("said-library"))
    seen = set()
    report = lib.index([folder], ocr=False, on_progress=lambda p: seen.add((p.stage, p.current)))
    assert len(report.indexed) == 4 and not report.failed and not report.warnings, report
    assert ("pictures", str(folder / "spoken.mp4")) in seen  # Whisper listens beside the pictures
    yield lib, folder
    lib.close()


def test_a_spoken_sentence_is_found_where_it_is_said(said):
    lib, folder = said
    for mode in ("speech", "all"):
        hit = lib.search("where is the treasure hidden", top_k=3, mode=mode)[0]
        assert hit.path == str(folder / "spoken.mp4") and "speech" in hit.channels, (mode, hit)
        assert abs(hit.start - SPOKEN_AT) < 1.5 and hit.end < SPOKEN_AT + 6, hit
        assert "treasure" in hit.transcript.lower() and hit.words_from == "speech" and "treasure" not in hit.caption
    word = lib.search("oak", mode="text")[0]  # the same sentence, by keyword
    assert word.path == str(folder / "spoken.mp4") and word.channels == ["keyword"]


def test_subtitles_beside_and_inside_a_video_are_found(said):
    lib, folder = said
    hit = lib.search("balloon", mode="text")[0]
    assert (hit.path, hit.start, hit.end, hit.channels) == (str(folder / "sidecar.mp4"), 9.0, 11.5, ["keyword"])
    hit = lib.search("orchestral music in a church", mode="speech")[0]
    assert (hit.path, hit.start, hit.end) == (str(folder / "embedded.mp4"), 2.0, 5.0) and hit.channels == ["subtitles"]


def test_music_and_noise_do_not_become_text(said):
    lib, folder = said
    said = [c for c in lib.store.chunks_of([str(folder / "music.mp4")]) if c.channel != "seen"]  # not the look
    assert said == []
    assert {k: n for k, n in lib.stats().text_chunks.items() if k != "seen"} == {"speech": 1, "subtitles": 2}


def test_fusion_keeps_picture_queries_on_pictures(said):
    lib, folder = said
    visual = lib.search("a test card with colour bars", top_k=3, mode="visual")
    fused = lib.search("a test card with colour bars", top_k=3)
    assert [h.path for h in fused] == [h.path for h in visual]  # no text matches it: nothing to fuse


def test_text_chunks_leave_with_their_video(said, tmp_path):
    lib, folder = said
    copy = tmp_path / "copy"
    shutil.copytree(lib.path, copy)
    with Library(copy) as again:
        again.remove(folder / "sidecar.mp4")
        assert again.store.consistent() and not again.search("balloon", mode="text")
        shutil.rmtree(copy / "vectors")
    with Library(copy) as repaired:  # the text vectors come back from SQLite
        assert repaired.store.consistent() and repaired.search("where is the treasure hidden", mode="speech")


# Every line of the film scene, timed from a Whisper base transcript (bench/speech.py scores the models on it)
DIALOGUE = Path(__file__).parents[1] / "bench" / "data" / "dialogue.jsonl"
SCENE = "usr/share/doc/opencv-doc/examples/data/Megamind.avi"
FETCH_TIMEOUT = 300  # seconds for apt-get (a 96 MB package)
FUNCTION_WORDS = set("a an the and or but of to by its on you your them their that's don't well oh".split())


@pytest.fixture(scope="module")
def dialogue_scene(tmp_path_factory):
    """Debian's opencv-doc ships an 11 s scene of an animated film (Megamind): English dialogue over a score,
    AC-3 sound in an AVI whose first audio frame is cut. Fetched as scripts/fetch_samples.py does (apt-get
    download, then the clip out of dpkg-deb's data: it is near the front, so the stream is read only that far)."""
    folder = tmp_path_factory.mktemp("film")

    def apt(*args):
        subprocess.run(["apt-get", *args], cwd=folder, check=True, capture_output=True, timeout=FETCH_TIMEOUT)

    try:
        apt("download", "opencv-doc")
    except subprocess.CalledProcessError:
        apt("update", "-qq")  # a new machine has no package lists yet
        apt("download", "opencv-doc")
    deb = next(folder.glob("opencv-doc_*.deb"))
    clip = folder / "scene.avi"
    data = ["dpkg-deb", "--fsys-tarfile", str(deb)]
    with subprocess.Popen(data, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as unpack:
        with tarfile.open(fileobj=unpack.stdout, mode="r|") as tar:
            for member in tar:
                if member.name.removeprefix("./") == SCENE:
                    clip.write_bytes(tar.extractfile(member).read())
                    break
        unpack.kill()  # the rest of the package is not needed
    deb.unlink()
    assert clip.exists(), f"{SCENE} is not in {deb.name}"
    return clip


def test_every_line_of_a_film_dialogue_is_found(dialogue_scene, tmp_path):
    cues = Transcriber(DEFAULT_SPEECH, tmp_path)(dialogue_scene)  # PyAV's reader got no sound out of it at all
    for line in map(json.loads, DIALOGUE.read_text().splitlines()):
        said = " ".join(c.text for c in cues if c.start < line["end"] + 1 and c.end > line["start"] - 1).lower()
        wanted = set(re.findall(r"[a-z']+", line["text"].lower())) - FUNCTION_WORDS  # most of these must be said
        assert len(wanted & set(re.findall(r"[a-z']+", said))) >= 0.6 * len(wanted), (line, [c.text for c in cues])


def test_the_voice_detector_runs_on_openvino_and_finds_what_onnx_runtime_finds(dialogue_scene, tmp_path):
    """Silero, the voice detector faster-whisper runs on ONNX Runtime, is run by OpenVINO (half the CPU):
    the stretches of speech it finds in a film's dialogue scene (voices over music and noise) are the same."""
    from faster_whisper import vad

    assert Transcriber(DEFAULT_SPEECH, tmp_path).whisper  # loading Whisper moves the detector to OpenVINO
    model = vad.get_vad_model()
    assert isinstance(model.session, _Session)
    samples = audio(dialogue_scene)
    options = vad.VadOptions(min_silence_duration_ms=MIN_SILENCE_MS)
    found = vad.get_speech_timestamps(samples, options)
    onnx_runtime = vad.get_vad_model.__wrapped__().session  # a new detector as faster-whisper builds it
    ours, model.session = model.session, onnx_runtime
    try:
        assert found and vad.get_speech_timestamps(samples, options) == found
    finally:
        model.session = ours


# Twelve sentences in ten minutes, each with a word said nowhere else, and when it is said (seconds): the
# second crosses the end of a 20 s window, the tenth one the windows come to; the rest fall where they fall
NARRATION = [
    ("elephant", 3.0, "The elephant drank water from the muddy river."),
    ("volcano", 18.5, "Our volcano erupted twice during the cold winter."),
    ("treasure", 43.0, "The treasure is buried under the old oak tree near the river."),
    ("copyright", 67.5, "Copyright protects the work of artists."),
    ("submarine", 92.0, "The submarine dived deep beneath the arctic ice."),
    ("chocolate", 116.5, "He baked a chocolate cake for his grandmother."),
    ("telescope", 141.0, "We watched the planets through a large telescope."),
    ("balloon", 165.5, "The red balloon floats away over the city."),
    ("umbrella", 190.0, "Please bring an umbrella because it will rain."),
    ("bell", 214.5, "My bicycle has a flat tyre and a broken bell."),
    ("lighthouse", 239.0, "The lighthouse keeper lit the lamp at dusk."),
    ("penguin", 263.5, "A penguin waddled across the frozen beach."),
]
NARRATION_SECONDS = 600


def test_a_long_track_is_heard_in_windows_without_losing_or_doubling_words(tmp_path, monkeypatch):
    """Speech is read from ffmpeg and heard a window at a time: nothing near the whole track is ever held (the
    reader asks for at most a window, numpy's allocations stay under half the track's float32), and a sentence
    that crosses a window's end is held over to begin the next: each is heard once, in a cue that spans it."""
    inputs, graph = [], []
    for k, (_, at, sentence) in enumerate(NARRATION):
        subprocess.run(["espeak-ng", "-w", str(tmp_path / f"{k}.wav"), sentence], check=True)
        inputs += ["-i", str(tmp_path / f"{k}.wav")]
        graph.append(f"[{k}]adelay={round(at * 1000)}:all=1[d{k}];")
    mix = "".join(f"[d{k}]" for k in range(len(NARRATION)))
    mix += f"amix=inputs={len(NARRATION)}:normalize=0,apad=whole_dur={NARRATION_SECONDS}[a]"
    ffmpeg(*inputs, "-filter_complex", "".join(graph) + mix, "-map", "[a]", "-c:a", "aac", str(tmp_path / "talk.m4a"))

    window = 20  # seconds
    hear = Transcriber(DEFAULT_SPEECH, tmp_path / "cache", window=window, speech=5)  # Whisper hears 5 s or more at once
    assert hear.whisper  # loaded before memory is counted
    asked, starts, read = [], [], speech.Track.read
    monkeypatch.setattr(speech.Track, "read", lambda track, n: asked.append(n) or read(track, n))
    windows = speech.windows

    def counted(*args):
        for first, samples, stretches in windows(*args):
            starts.append(first / RATE)
            assert len(samples) <= window * RATE
            yield first, samples, stretches

    monkeypatch.setattr(speech, "windows", counted)
    tracemalloc.start()
    try:
        cues = hear(tmp_path / "talk.m4a")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert max(asked) <= window * RATE and len(starts) >= NARRATION_SECONDS / window
    assert peak < NARRATION_SECONDS * RATE * 4 / 2, peak  # the whole track as float32 was held, and more
    assert any(18.5 - 1 < t < 18.5 for t in starts), starts  # the sentence crossing 20 s began the next window
    found = {}
    for word, at, _ in NARRATION:  # faster-whisper times a cue by the stretches of speech it spans
        heard = [c for c in cues if word in c.text.lower()]
        assert len(heard) <= 1 and all(c.start - 1 < at < c.end for c in heard), (word, at, cues)
        found[word] = bool(heard)
    assert found["volcano"] and found["bell"] and sum(found.values()) >= 10, (found, cues)  # tiny mishears some


def test_a_window_without_a_pause_is_cut_where_it_is_quietest(monkeypatch):
    """When the voice detector hears "speech" from one end of a window to the other (music, mostly), the window
    is cut at its quietest tenth of a second: the windows still follow one another without gap or overlap."""
    rng = np.random.default_rng(0)
    track = rng.uniform(-0.5, 0.5, 100 * RATE).astype(np.float32)  # 100 s of loud noise...
    dips = [round(at * RATE) for at in np.arange(3.1, 100, 7.0)]  # ... quiet for 0.3 s every 7 s
    for at in dips:
        track[at : at + 3 * RATE // 10] *= 0.01

    class Reader:  # Track's read() over the array
        at = 0

        def read(self, n):
            self.at += n
            return track[self.at - n : self.at]

    import faster_whisper.vad

    monkeypatch.setattr(faster_whisper.vad, "get_speech_timestamps", lambda a, _: [{"start": 0, "end": len(a)}])
    got = list(speech.windows(Reader(), 20 * RATE, None))
    assert np.array_equal(np.concatenate([samples for _, samples, _ in got]), track)
    assert [first for first, _, _ in got] == [0, *np.cumsum([len(samples) for _, samples, _ in got])[:-1]]
    for first, samples, stretches in got[:-1]:
        assert len(samples) <= 20 * RATE and stretches == [{"start": 0, "end": len(samples)}]
        assert any(at <= first + len(samples) <= at + 3 * RATE // 10 for at in dips), first + len(samples)


def test_the_audio_reader_says_why_ffmpeg_failed_and_reads_nothing_from_a_silent_film(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(OSError, match="could not read the audio track .*Invalid data"):
        audio(tmp_path / "junk.mp4")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=5:d=2", str(tmp_path / "silent.mp4"))
    with speech.Track(tmp_path / "silent.mp4") as track:
        assert len(track.read(RATE)) == 0 and len(track.read(RATE)) == 0  # no audio track: no samples, no error


def test_a_film_mix_is_heard_from_its_centre_channel(tmp_path):
    """In 5.1 the dialogue is in the centre and the score in the surrounds: the mono mix favours the centre
    (ffmpeg's own puts the two surrounds together above it); stereo is (L+R)/2 as ever."""
    levels = {}
    for name, where in (("centre", "0|0|s|0|0|0"), ("surround", "0|0|0|0|s|0"), ("left", "s|0")):
        layout = "stereo" if name == "left" else "5.1(side)"
        graph = f"aevalsrc={where.replace('s', '0.5*sin(2*PI*440*t)')}:c={layout}:s=48000:d=1"
        ffmpeg("-f", "lavfi", "-i", graph, "-c:a", "ac3", str(tmp_path / f"{name}.mkv"))
        samples = audio(tmp_path / f"{name}.mkv")[4000:]
        levels[name] = float(np.sqrt((samples**2).mean())) / (0.5 / np.sqrt(2))
    assert levels["centre"] > 4 * levels["surround"] and levels["centre"] > 0.5, levels
    assert levels["left"] == pytest.approx(0.5, abs=0.03), levels


def test_hums_and_interjections_are_not_words():
    assert not any(map(words_in, ["Hmm.", "Oh!", "uh, um...", "Mm-hmm", ""]))
    assert all(map(words_in, ["Oh, that's a relief to hear.", "Thank you.", "No."]))


@pytest.fixture(scope="module")
def cea608(tmp_path_factory):
    """mux.js's broadcast test clip with CEA-608 captions, from the npm registry, under an awkward name."""
    folder = tmp_path_factory.mktemp("cea608")
    npm = shutil.which("npm")
    assert npm, "the CEA-608 test needs npm to fetch mux.js's test clip"
    subprocess.run([npm, "pack", "mux.js@7.1.0", "--silent"], cwd=folder, check=True, capture_output=True, timeout=300)
    member = "package/test/segments/multi-channel-608-captions.ts"
    with tarfile.open(folder / "mux.js-7.1.0.tgz") as tar:
        data = tar.extractfile(member).read()
    clip = folder / "it's a [broadcast], 1: news=live.ts"  # quotes, brackets, commas, colons, '=' for the filter graph
    clip.write_bytes(data)
    return clip


def test_closed_captions_are_found(cea608, tmp_path):
    with Library(tmp_path / "lib") as lib:
        assert lib.index([cea608], speech="off").indexed == [str(cea608)]
        hit = lib.search("question period", mode="text")[0]
        assert hit.path == str(cea608) and hit.start < 1 and "LOSING TIME" in hit.transcript


def test_bad_subtitle_files_warn_and_the_video_is_indexed(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=5:d=6", str(folder / "clip.mp4"))
    (folder / "clip.srt").write_bytes(
        "1\n00:00:01,000 --> 00:00:02,000\nUn caf\xe9 cr\xe8me\n\n2\n00:00:05,000 --> 00:00:03,000\nbackwards\n\n"
        "3\nnot a timing line\nlost words\n\n".encode("cp1252")
    )
    (folder / "clip.en.vtt").write_bytes(b"\x00\xff\xfe garbage \x89PNG\r\n\x1a\n")
    with Library(tmp_path / "lib") as lib:
        report = lib.index([folder])
        assert report.indexed == [str(folder / "clip.mp4")]
        warned = dict((w.split(":")[0], w) for _, w in report.warnings)
        assert "2 unreadable cue(s) skipped, 1 read" in warned["subtitle file clip.srt"]
        assert "0 read" in warned["subtitle file clip.en.vtt"]
        assert lib.search("café", mode="text")[0].transcript == "Un café crème"  # read as Windows-1252


def test_parsers_never_raise_on_mangled_files():
    rng = random.Random(0)
    good = (SRT * 3 + "WEBVTT\n\n00:01.000 --> 00:02.500 align:start\n<v Roger>Hello <i>there</i>\n").encode()
    for _ in range(2000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 20)):
            op, at = rng.random(), rng.randrange(len(data))
            if op < 0.4:
                data[at] = rng.randrange(256)
            elif op < 0.7:
                del data[at : at + rng.randint(1, 8)]
            else:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        parsed = parse(bytes(data))
        assert all(c.end > c.start and c.text for c in parsed.cues)
    vtt = parse(b"WEBVTT\n\n00:01.000 --> 00:02.500 align:start\n<v Roger>Hello <i>there</i>\n")
    assert vtt.cues == [Cue(1.0, 2.5, "Hello there")] and vtt.skipped == 0


def test_roll_up_captions_keep_only_new_words_and_chunks_join_short_cues():
    cues = [Cue(0, 1, "RT QUESTION"), Cue(1, 3, "RT QUESTION PERIOD, FOLKS."), Cue(3, 4, "PERIOD, FOLKS. WE ARE LATE")]
    assert [c.text for c in text.drop_rollup(cues)] == ["RT QUESTION", "PERIOD, FOLKS.", "WE ARE LATE"]
    chunks = text.chunk([Cue(0, 1, "Yes."), Cue(1.2, 2, "Of course."), Cue(10, 12, "Later.")], "speech")
    assert [(c.start, c.end, c.text) for c in chunks] == [(0, 2, "Yes. Of course."), (10, 12, "Later.")]


def test_the_base_model_is_assembled_from_its_two_packages(tmp_path):
    clip = speak(tmp_path / "said.mp4", "Copyright protects the work of artists.", silence=1.0, seconds=6)
    cues = Transcriber("base", tmp_path / "cache")(clip)
    assert (tmp_path / "cache" / "whisper-base" / "model.bin").stat().st_size > 140_000_000
    assert "copyright" in " ".join(c.text for c in cues).lower()


def test_speech_in_french_is_heard_by_the_base_model_and_searched_in_french(tmp_path):
    """Whisper base transcribes French as said (espeak-ng's French voice: a sentence or two is too little for it to
    tell the language), and a French query finds it by meaning and by its words."""
    (tmp_path / "videos").mkdir()
    french = "Bonjour à tous. Aujourd'hui nous allons parler de la fabrication du pain. Il faut de la farine et du sel."
    speak(tmp_path / "videos" / "pain.mp4", french, 1.0, 14, "fr")
    speak(tmp_path / "videos" / "other.mp4", "The treasure is buried under the old oak tree.", 1.0, 8)
    with Library(tmp_path / "lib") as lib:
        lib.index([tmp_path / "videos"], speech="base")
        for query, mode in (("la fabrication du pain", "speech"), ("fabrication", "text")):
            hit = lib.search(query, mode=mode)[0]
            assert hit.path.endswith("pain.mp4") and "fabrication" in hit.transcript.lower(), (query, hit)
        assert len(lib.search("fabrication", mode="text")) == 1  # the English sentence has no such word


def test_subtitle_streams_are_listed_by_probe(said):
    _, folder = said
    from footage.indexer.probe import probe

    info = probe(folder / "embedded.mp4")
    assert [codec for _, codec in info.subtitle_streams] == ["mov_text"]
    assert subtitles.sidecars(folder / "sidecar.mp4") == [folder / "sidecar.srt"]


def test_on_screen_text_is_read_unless_turned_off(tmp_path):
    from PIL import Image, ImageDraw, ImageFont
    from skimage import data

    title = Image.new("RGB", (640, 360), (30, 60, 120))
    ImageDraw.Draw(title).text((40, 140), "GRAND OPENING SALE", fill="white", font=ImageFont.load_default(size=48))
    title.save(tmp_path / "title.png")
    Image.fromarray(data.chelsea()).resize((640, 360)).save(tmp_path / "cat.png")
    Image.fromarray(data.coffee()).resize((640, 360)).save(tmp_path / "coffee.png")
    folder = tmp_path / "videos"
    folder.mkdir()
    inputs = [a for name, seconds in (("cat", 4), ("title", 6), ("coffee", 4))
              for a in ("-loop", "1", "-t", str(seconds), "-i", str(tmp_path / f"{name}.png"))]  # fmt: skip
    ffmpeg(*inputs, "-filter_complex", "[0][1][2]concat=n=3,fps=10,format=yuv420p", "-c:v", "libx264",
           "-preset", "ultrafast", str(folder / "title.mp4"))  # fmt: skip
    with Library(tmp_path / "plain") as plain:
        plain.index([folder], ocr=False)
        assert not plain.search("opening sale", mode="text")
    with Library(tmp_path / "lib") as lib:  # on by default
        assert lib.index([folder]).indexed == [str(folder / "title.mp4")]
        hit = lib.search("opening sale", mode="text")[0]
        assert (hit.start, hit.end, hit.transcript) == (4.0, 10.0, "GRAND OPENING SALE")
        # by meaning (0.56: below the cut-off's floor for on-screen text, 0.575, above the search's, 0.5)
        assert lib.search("a shop announcing its opening", mode="speech", cutoff=False)[0].channels == ["on-screen"]
        assert {k: n for k, n in lib.stats().text_chunks.items() if k != "seen"} == {"on-screen": 1}


def test_fusion_merges_overlapping_moments_and_names_the_channels_that_ranked_them():
    from footage.search.engine import RRF_K, fuse
    from footage.search.hits import Hit

    pictures = [
        Hit("/a.mp4", 0, 10, 0.5, segment=1, segments=[1], channels=["visual"]),
        Hit("/b.mp4", 0, 5, 0.4, segment=2, segments=[2], channels=["visual"]),
    ]
    words = [Hit("/b.mp4", 1, 3, 0.7, channels=["speech"], transcript="hello there")]
    b, a = fuse([pictures, words], top_k=1)
    assert (b.path, b.start, b.end, b.transcript) == ("/b.mp4", 1, 3, "hello there")  # the sentence's range
    assert b.channels == ["speech"] and b.segment is None  # the picture ranked 2nd: not within top 1
    assert b.score == pytest.approx(1 / (RRF_K + 2) + 2 / (RRF_K + 1))  # a confident sentence counts double
    assert (a.path, a.channels, a.score) == ("/a.mp4", ["visual"], pytest.approx(1 / (RRF_K + 1)))
