"""A library's settings as one value: which models made its vectors and how its videos are read.

Read from the library's metadata here, and written there only as `meta()` gives them, so a new setting (an
expert, say) is one field, its key, and a clause of `model_id`. The models hold none of it: `Models` (in
footage/models/loaded.py) is built from a Settings value, by the local engine, the Ray workers and watch alike.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_BACKBONE = "bundled"
DEFAULT_SPEECH = "tiny"  # Whisper tiny (English); base hears other languages, off hears nothing
DEFAULT_OCR = True  # on-screen text: titles, credits, slides and signs are what people type
DEFAULT_EXPERTS = ("faces", "look")  # a new library's experts (footage/models/experts.py); older ones have none
MAX_FPS = 60.0  # frames a second the model may be given
MAX_QUERY_CHARS = 1_000  # a query, searched or marked: a description, not a document


@dataclass(frozen=True)
class Settings:
    backbone: str = DEFAULT_BACKBONE
    device: str = "auto"  # where the models run, as asked (auto, cpu, cuda, mps); not stored: a library
    # indexed on a GPU is searched on a CPU
    fps: float = 1.0  # frames a second the model is given when indexing; not stored (each video keeps its own)
    speech: str = DEFAULT_SPEECH  # the Whisper model of the speech channel: off, tiny or base
    ocr: bool = DEFAULT_OCR  # whether on-screen text is read
    views: tuple[str, ...] = ()  # indexing prompts: each segment gets a vector pooled on each, fused in search
    predictor_version: int = 0  # 0: zero-shot; n: the library's n-th trained predictor (predictors/vN.npz)
    experts: tuple[str, ...] = DEFAULT_EXPERTS  # what says in words (the `seen` channel) what the classes cannot

    @classmethod
    def read(cls, meta: Callable[[str], str | None], **run) -> "Settings":
        """The settings a library's metadata holds (`meta(key)` -> its value or None), with the run's own
        (device, fps, or a backbone for a library not made yet) from `run`."""
        trained = json.loads(meta("predictor") or "null")
        experts, fresh = meta("experts"), (meta("generation") or "0") == "0"
        stored = {
            "backbone": meta("backbone") or DEFAULT_BACKBONE,
            "speech": meta("speech") or DEFAULT_SPEECH,
            "ocr": (meta("ocr") or ("on" if DEFAULT_OCR else "off")) == "on",
            "views": tuple(json.loads(meta("views") or "[]")),
            "predictor_version": trained["version"] if trained else 0,
            # a library that holds vectors but no "experts" was made before them: its vectors have none
            "experts": tuple(json.loads(experts)) if experts else (DEFAULT_EXPERTS if fresh else ()),
        }
        # a backbone asked for that is not the library's is refused by Store.attach, as the models load
        return cls(**{**stored, **{k: v for k, v in run.items() if v is not None}})

    def meta(self) -> dict[str, str]:
        """The metadata these settings are stored as (the backbone is bound by Store.attach, the predictor's
        record written by training with its checkpoint)."""
        return {
            "speech": self.speech,
            "ocr": "on" if self.ocr else "off",
            "views": json.dumps(list(self.views)),
            "experts": json.dumps(list(self.experts)),
        }

    def model_id(self, backbone_id: str) -> str:
        """The id every stored vector is tagged with: the backbone's, then what changes the vectors (the trained
        predictor, the views, the experts) and the text chunks (the speech model, on-screen text)."""
        trained = f"+trained-v{self.predictor_version}" if self.predictor_version else ""
        views = "+views-" + hashlib.sha1("\n".join(self.views).encode()).hexdigest()[:8] if self.views else ""
        experts = f"+experts-{'-'.join(self.experts)}" if self.experts else ""
        text = f"+text-v1-speech-{self.speech}{'-ocr' if self.ocr else ''}"
        return f"{backbone_id}{trained}{views}{experts}{text}"
