"""Experts beside the classes (Collaborative Experts, Liu et al. 2019; Mixture of Embedding Experts, Miech et al.
2018): each sees something in a frame that ImageNet's classes cannot name, and says it in words.

- faces (footage/models/faces.py): faces found by MTCNN, how many and how large ("a close-up of a person's face",
  "a group of people");
- look (footage/models/look.py): black and white, dark, blurry, flat graphics, a still camera (told by the
  pipeline, which compares each frame with the one before); a low-resolution video.

Their words become text chunks of a channel of their own, `seen` ("a close-up of a person's face" from 12 s to
16 s), searched by meaning as speech is: the query weighs them, as CE's gate does, by how near it is to their
words. A query about faces meets the faces' words; one about a dog does not reach them, and its ranking is left
as the pictures make it: words mixed into each frame's token, as colour's are, would reach every query.

Which experts a library uses is one of its settings (Settings.experts): a library made before them keeps its
vectors.
"""

from functools import cached_property

import numpy as np

from footage.models import look

NAMES = ("faces", "look")
# every word each expert says
WORDS = {
    "faces": (
        "a close-up of a person's face",
        "a person's face",
        "a person looking at the camera",
        "a person in the distance",
        "two people",
        "a group of people",
        "a crowd of people",
    ),
    "look": (*look.WORDS.values(), look.STILL_CAMERA, look.SMALL),
}
SEEN = "seen"  # the channel of the experts' words
GAP = 2.0  # seconds: a word's stretches this close are one
STRONG = 0.5  # a look this strong is said (look.looks gives 0 to 1); a face found is said whatever its size


class Experts:
    """The experts `names` of a library."""

    def __init__(self, names: tuple[str, ...]):
        unknown = set(names) - set(NAMES)
        if unknown:
            raise ValueError(f"unknown experts {sorted(unknown)}: footage has {', '.join(NAMES)}")
        self.names = names

    @cached_property
    def faces(self):
        from footage.models.faces import FaceDetector

        return FaceDetector()

    def words(self, frames: np.ndarray) -> list[tuple[str, ...]]:
        """uint8 RGB frames (B, S, S, 3) -> the experts' words for each frame."""
        said = [[] for _ in frames]
        if "faces" in self.names:
            from footage.models.faces import describe

            for words, found in zip(said, self.faces(frames)):
                words += describe(found, frames.shape[1:3])
        if "look" in self.names:
            for words, strengths in zip(said, look.looks(frames)):
                words += [look.WORDS[k] for k, s in zip(look.WORDS, strengths) if s >= STRONG]
        return [tuple(w) for w in said]


def of_video(names: tuple[str, ...], width: int | None, height: int | None) -> list[str]:
    """What the experts `names` say of a whole video, from its size."""
    return look.of_video(width, height) if "look" in names else []


def runs(times: np.ndarray, words: list[tuple[str, ...]], end: float) -> list[tuple[str, float, float]]:
    """Frames' times (N,) and words -> (word, start, end) of each stretch of frames saying it, a frame's stretch
    lasting until the next frame (the last one's until `end`); stretches of a word at most GAP apart are one (a
    face missed on one frame in two must not make a chunk a second)."""
    spans: dict[str, list[list[float]]] = {}  # word -> its stretches, [start, end] in time order
    for t, stop, said in zip(times.tolist(), [*times[1:].tolist(), end], words):
        for w in said:
            last = spans.setdefault(w, [])
            if last and t - last[-1][1] <= GAP:
                last[-1][1] = stop
            else:
                last.append([t, stop])
    return sorted(((w, a, b) for w, stretches in spans.items() for a, b in stretches), key=lambda r: (r[1], r[0]))
