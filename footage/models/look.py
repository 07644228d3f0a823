"""The look of a picture, from its pixels: what people say of footage itself rather than of what it shows
("black and white footage", "a dark scene at night", "a blurry shot", "slides"). ImageNet's classes name none
of it. Each frame gets the looks it has, with a strength from 0 to 1, and a small video is low-resolution as a
whole; footage/models/experts.py says their words in the `seen` channel.

The thresholds are measured on frames of the sample footage and skimage's photos (tests/test_experts.py shows
each on a real photo changed the way footage is: desaturated, darkened, blurred), not learned.
"""

import numpy as np

# look -> the words its Y vector is made of (what people type, said the way the class texts are)
WORDS = {
    "grey": "a black and white picture",
    "dark": "a dark picture at night",
    "blurry": "a blurry, out of focus picture",
    "flat": "a flat graphic, slides or a screen with text",
}
SAMPLES = 112  # pixels looked at per side of a frame (a 224 frame: every other pixel)
# A whole video's look, from its size: a picture this small (a 176x144 phone video, a 320x240 webcam) is what
# people call low quality, whatever it shows; a frame resized to 224 px no longer tells
LOW_RESOLUTION = 480 * 270  # pixels
SMALL = "a low-resolution, low-quality video"


# A still camera: from one frame to the next (a second apart), most of the picture stays where it was and only
# what is in it moves (people walk by, the street stays); a moving camera moves it all
STILL_CAMERA = "a still, fixed camera shot"
HELD = 0.8  # share of the blocks that must stay ...
HELD_LEVELS = 6.0  # ... within this many grey levels (0-255) in every channel


def held_still(blocks: np.ndarray, before: np.ndarray | None) -> np.ndarray:
    """Block means of a video's consecutive frames (B, n, n, 3) and of the frame before them (n, n, 3), or None
    at its start -> (B,) whether the camera held still since the frame before (a video's first frame: until
    the next one)."""
    if before is None and len(blocks) < 2:
        return np.zeros(len(blocks), bool)
    first = before if before is not None else blocks[1]
    previous = np.concatenate([first[None], blocks[:-1]])
    return (np.abs(blocks - previous).max(-1) < HELD_LEVELS).mean((1, 2)) >= HELD


def say_held(words: list[tuple[str, ...]], held: np.ndarray) -> list[tuple[str, ...]]:
    """Each frame's words, with the still camera's where it held still (no `held`: the look is not asked)."""
    return [(*w, STILL_CAMERA) if h else w for w, h in zip(words, held)] if len(held) else words


def of_video(width: int | None, height: int | None) -> list[str]:
    """A video's size -> the words for its look as a whole."""
    return [SMALL] if width and height and width * height <= LOW_RESOLUTION else []


def ramp(x: np.ndarray, zero: float, one: float) -> np.ndarray:
    """0 at `zero`, 1 at `one`, linear between (either way round)."""
    return np.clip((x - zero) / (one - zero), 0.0, 1.0)


def looks(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB frames (B, H, W, 3) -> (B, len(WORDS)) each look's strength, 0 to 1, in WORDS' order."""
    step = max(1, frames.shape[1] // SAMPLES)
    x = frames[:, ::step, ::step].astype(np.float32) / 255  # (B, h, w, 3)
    high, low = x.max(-1), x.min(-1)
    luma = x @ np.array([0.299, 0.587, 0.114], np.float32)  # (B, h, w)
    chroma = (high - low).reshape(len(x), -1)  # (B, P): 0 for a grey pixel
    lit = luma.reshape(len(x), -1) > 0.08  # a black pixel has no colour to speak of
    colourful = np.where(lit, chroma, 0).sum(1) / np.maximum(lit.sum(1), 1)  # mean chroma of the lit pixels
    coloured = ((chroma > 0.12) & lit).sum(1) / np.maximum(lit.sum(1), 1)  # a red car in a grey street is not
    brightness = luma.reshape(len(x), -1).mean(1)
    # sharpness: the Laplacian's spread over that of the picture itself (contrast), on the lit pixels
    lap = luma[:, 1:-1, 1:-1] * 4 - luma[:, :-2, 1:-1] - luma[:, 2:, 1:-1] - luma[:, 1:-1, :-2] - luma[:, 1:-1, 2:]
    contrast = luma.reshape(len(x), -1).std(1)
    sharp = lap.reshape(len(x), -1).std(1) / np.maximum(contrast, 1e-3)
    # flat: a few exact colours cover most of the lit picture (graphics, slides, screens), as camera noise never
    # does; black is left out, as letterboxing and night are not graphics
    q = frames[:, ::step, ::step].astype(np.int32)
    codes = ((q[..., 0] << 16) | (q[..., 1] << 8) | q[..., 2]).reshape(len(x), -1)
    top = np.array([np.sort(np.unique(c[m], return_counts=True)[1])[-3:].sum() / max(m.sum(), 1) if m.any() else 0.0
                    for c, m in zip(codes, lit)])  # fmt: skip
    shown = lit.mean(1)  # a black screen shows nothing to be black and white
    grey = ramp(colourful, 0.06, 0.02) * ramp(coloured, 0.02, 0.005) * ramp(shown, 0.05, 0.2)
    dark = ramp(brightness, 0.25, 0.12)
    blurry = ramp(sharp, 0.5, 0.25) * (1 - dark)
    flat = ramp(top, 0.3, 0.6)
    return np.stack([grey, dark, blurry, flat], 1).astype(np.float32)
