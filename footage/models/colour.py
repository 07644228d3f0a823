"""Colour words for frames: the colours people type ("a red car", "blue water") that ImageNet's classes do not
name. Each frame's pixels are named by hue, saturation and value; the dominant colours' Y vectors ("mostly red")
are mixed into the frame's token, in the same space as the queries.

On bench/data/moments.jsonl (bench/retrieval.py) colour queries went from MRR 0.23 to 0.40 on the tuning half
(0.26 to 0.34 on the report half), other kinds unchanged; words for dark, bright or black-and-white pictures
and region colours ("blue sky" above, "green ground" below) gained nothing and are left out.
"""

import numpy as np

COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "white", "black", "grey")
TEXT = "mostly {}"  # how a colour is said to the Y-encoder (tried: "a {} picture", the bare word: no better)
WEIGHT = 0.3  # the colour vector's share beside the classes' (chosen on the tuning half; 0.2-0.6 within noise)
POWER = 2.0  # colour shares are squared, then renormalised: the dominant colours speak, specks do not
SAMPLES = 28  # pixels looked at per side of a frame


def fractions(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB frames (B, H, W, 3) -> (B, len(COLOURS)) the share of pixels of each colour."""
    step = max(1, frames.shape[1] // SAMPLES)
    x = frames[:, ::step, ::step].reshape(len(frames), -1, 3).astype(np.float32) / 255  # (B, P, 3)
    high, low = x.max(-1), x.min(-1)
    value, saturation = high, np.where(high > 0, (high - low) / np.maximum(high, 1e-6), 0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    spread = np.maximum(high - low, 1e-6)
    hue = 60 * np.where(
        high == r, ((g - b) / spread) % 6, np.where(high == g, (b - r) / spread + 2, (r - g) / spread + 4)
    )  # degrees
    label = np.full(value.shape, -1)
    grey = (saturation < 0.25) | (value < 0.2)
    label[grey & (value < 0.25)] = COLOURS.index("black")
    label[grey & (value >= 0.25) & (value < 0.75)] = COLOURS.index("grey")
    label[grey & (value >= 0.75)] = COLOURS.index("white")
    hues = {
        "red": (hue < 15) | (hue >= 340),
        "orange": (hue >= 15) & (hue < 40),
        "yellow": (hue >= 40) & (hue < 70),
        "green": (hue >= 70) & (hue < 170),
        "blue": (hue >= 170) & (hue < 260),
        "purple": (hue >= 260) & (hue < 300),
        "pink": (hue >= 300) & (hue < 340),
    }
    for name, where in hues.items():
        label[~grey & where] = COLOURS.index(name)
    label[~grey & (hues["red"] | hues["orange"]) & (value < 0.55)] = COLOURS.index("brown")  # a dark red or orange
    label[~grey & hues["red"] & (saturation < 0.5) & (value > 0.7)] = COLOURS.index("pink")  # a light red
    return np.stack([(label == k).mean(1) for k in range(len(COLOURS))], 1)


def mix(tokens: np.ndarray, frames: np.ndarray, colour_vectors: np.ndarray) -> np.ndarray:
    """Frame tokens (B, D) and their uint8 RGB frames -> tokens with the frames' dominant colours mixed in,
    unit length. `colour_vectors` (len(COLOURS), D): the Y vectors of TEXT for each colour."""
    shares = fractions(frames) ** POWER
    shares /= np.maximum(shares.sum(1, keepdims=True), 1e-12)
    colour = shares @ colour_vectors  # (B, D)
    colour /= np.maximum(np.linalg.norm(colour, axis=1, keepdims=True), 1e-12)
    mixed = tokens + WEIGHT * colour
    return (mixed / np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)).astype(np.float32)
