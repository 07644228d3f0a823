"""Faces in frames, and the words people use for them ("a close-up of a person's face", "a group of people"),
which ImageNet's classes do not name.

The detector is MTCNN (Zhang et al. 2016, "Joint face detection and alignment using multi-task cascaded
convolutional networks"): three small nets in a cascade, PNet over a pyramid of the frame, then RNet on 24x24
and ONet on 48x48 crops of what survives. The weights are the ones that ship inside the PyPI wheel
facenet-pytorch 2.6.0 (MIT), ported from the authors' Caffe models by way of TensorFlow. That package is installed
with --no-deps and never imported: its pins would downgrade torch, and its __init__ imports torchvision, which has
no CPU build for our torch. Only its weight files are read; the nets and the cascade are re-written here after
its models/mtcnn.py and models/utils/detect_face.py. Landmarks (ONet's third head) are not used.

On one thread, a 320x240 frame costs about 50 ms at MIN_FACE 20 px and 16 ms at 60 px (bench/faces.py); the
224x224 frames the indexer gives it 13.6 ms at 20 px and 11.1 ms at 24 px.
"""

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from footage.errors import ModelError

PACKAGE = "facenet-pytorch"  # installed with `pip install --no-deps facenet-pytorch==2.6.0`
WEIGHTS = {net: f"facenet_pytorch/data/{net}.pt" for net in ("pnet", "rnet", "onet")}

# pixels: the smallest face looked for; the pyramid, and so the cost, grows as it shrinks. 24, not facenet's 20:
# indexing with the defaults 33x -> 36.5x real time (bench/index_speed.py), the tuning half's people moments
# 0.132 -> 0.124 MRR (one moment), the rest unchanged; a face that small on a 224 px frame is a distant one
MIN_FACE = 24
FACTOR = 0.709  # each pyramid level's scale over the last (1/sqrt(2), the paper's)
# The face probability each net must pass. facenet's defaults are (0.6, 0.7, 0.7); at 0.7 ONet passed the front
# wheel of skimage's stereo_motorcycle (0.93, 0.72 and, at 320x240, 0.77) while the real faces tried (astronaut,
# camera; flipped, grey, dark, turned 30 degrees, 160x120) scored 0.997 or more. A first guess, for bench data.
THRESHOLDS = (0.6, 0.7, 0.95)


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the frame given
    score: float  # ONet's face probability


def weight_paths() -> dict[str, Path] | None:
    """The three weight files of the installed facenet-pytorch, or None where it (or a file) is missing."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    paths = {net: Path(dist.locate_file(file)) for net, file in WEIGHTS.items()}
    return paths if all(p.is_file() for p in paths.values()) else None


def check() -> dict[str, Path]:
    """The three weight files; ModelError saying how to install them where they are missing."""
    paths = weight_paths()
    if paths is None:
        raise ModelError(f"face detection needs MTCNN's weights: pip install --no-deps {PACKAGE}==2.6.0")
    return paths


# The nets, with facenet's attribute names so that its state dicts load as they are.
class PNet(nn.Module):
    """Fully convolutional: a (B, 3, H, W) image -> per 12x12 cell at stride 2, box offsets (B, 4, h, w) and
    face probabilities (B, 2, h, w)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)  # face or not
        self.conv4_2 = nn.Conv2d(32, 4, 1)  # box offsets

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.conv4_1(x).softmax(1)


class RNet(nn.Module):
    """(N, 3, 24, 24) crops -> box offsets (N, 4) and face probabilities (N, 2)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))  # (N, 64, 3, 3)
        x = x.permute(0, 3, 2, 1).flatten(1)  # (N, 576) in TensorFlow's (W, H, C) order, as the weights expect
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), self.dense5_1(x).softmax(1)


class ONet(nn.Module):
    """(N, 3, 48, 48) crops -> box offsets (N, 4) and face probabilities (N, 2) (landmarks left out)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)  # landmarks: unused, kept so the state dict loads strictly

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))  # (N, 128, 3, 3)
        x = x.permute(0, 3, 2, 1).flatten(1)  # (N, 1152), TensorFlow's order as in RNet
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_1(x).softmax(1)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, by_min: bool = False) -> np.ndarray:
    """Greedy non-maximum suppression: boxes (N, 4), scores (N,) -> indices kept, best first. Overlap is
    intersection over union, or over the smaller box with `by_min` (ONet's last pass: drops a box inside another)."""
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    order, keep = np.argsort(-scores, kind="stable"), []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        inter = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])) * np.maximum(
            0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        )
        union = np.minimum(area[i], area[rest]) if by_min else area[i] + area[rest] - inter
        order = rest[inter / np.maximum(union, 1e-9) <= threshold]
    return np.array(keep, dtype=np.int64)


def nms_by_frame(boxes, scores, frame, threshold, by_min=False) -> np.ndarray:
    """nms() within each frame: `frame` (N,) says whose each box is. -> indices kept."""
    kept = [np.flatnonzero(frame == f) for f in np.unique(frame)]
    kept = [i[nms(boxes[i], scores[i], threshold, by_min)] for i in kept]
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)


def regress(boxes: np.ndarray, offsets: np.ndarray, plus_one: bool = True) -> np.ndarray:
    """Moves boxes (N, 4) by a net's offsets (N, 4), in units of the box's size (facenet counts the size with
    +1 pixel after PNet, without it on PNet's own boxes; kept so results match its)."""
    size = boxes[:, 2:] - boxes[:, :2] + (1 if plus_one else 0)  # (N, 2): w, h
    return boxes + offsets * np.tile(size, 2)


def square(boxes: np.ndarray) -> np.ndarray:
    """Boxes (N, 4) -> squares of the longer side, on the same centres (the nets read square crops)."""
    size = boxes[:, 2:] - boxes[:, :2]
    side = size.max(1, keepdims=True)
    corner = boxes[:, :2] + size / 2 - side / 2
    return np.concatenate([corner, corner + side], 1)


class FaceDetector:
    """uint8 RGB frames (B, H, W, 3) -> the faces in each: `FaceDetector()(frames)[b]` is a list of Face."""

    def __init__(self, min_face: int = MIN_FACE, device: str = "cpu"):
        paths = check()
        self.min_face, self.device = min_face, device
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        for net, name in ((self.pnet, "pnet"), (self.rnet, "rnet"), (self.onet, "onet")):
            net.load_state_dict(torch.load(paths[name], weights_only=True))
            net.to(device).eval()

    def scales(self, height: int, width: int) -> list[float]:
        """The pyramid: the first scale makes a MIN_FACE face 12 px (PNet's cell), the last leaves >= 12 px."""
        scale, short, scales = 12 / self.min_face, min(height, width) * 12 / self.min_face, []
        while short >= 12:
            scales.append(scale)
            scale, short = scale * FACTOR, short * FACTOR
        return scales

    def candidates(self, images) -> tuple[np.ndarray, np.ndarray]:
        """PNet over the pyramid: images (B, 3, H, W), normalised -> boxes (N, 5: x1, y1, x2, y2, score) in
        frame pixels, squared, and the frame (N,) each is in."""
        height, width = images.shape[2:]
        boxes, frames = [], []
        for scale in self.scales(height, width):
            resized = F.interpolate(images, size=(int(height * scale + 1), int(width * scale + 1)), mode="area")
            offsets, probs = self.pnet(resized)  # (B, 4, h, w), (B, 2, h, w)
            frame, y, x = (probs[:, 1] >= THRESHOLDS[0]).nonzero(as_tuple=True)  # (n,) each
            if not len(frame):
                continue
            cell = torch.stack([x, y], 1).float().cpu().numpy()  # (n, 2): the cell's column, row
            box = np.concatenate([np.floor((2 * cell + 1) / scale), np.floor((2 * cell + 12) / scale)], 1)
            score = probs[frame, 1, y, x].cpu().numpy()
            offset = offsets[frame, :, y, x].cpu().numpy()  # (n, 4)
            frame = frame.cpu().numpy()
            keep = nms_by_frame(box, score, frame, 0.5)
            boxes.append(np.concatenate([box, score[:, None], offset], 1)[keep])
            frames.append(frame[keep])
        if not boxes:
            return np.zeros((0, 5), np.float32), np.zeros(0, np.int64)
        boxes, frames = np.concatenate(boxes), np.concatenate(frames)
        keep = nms_by_frame(boxes[:, :4], boxes[:, 4], frames, 0.7)
        boxes, frames = boxes[keep], frames[keep]
        return np.concatenate([square(regress(boxes[:, :4], boxes[:, 5:], plus_one=False)), boxes[:, 4:5]], 1), frames

    def refine(self, net, images, boxes, frames, size: int, threshold: float):
        """One later stage: crops of `boxes` resized to size x size, through `net`, one batch -> the boxes that
        pass (with the net's score) and their frames, the net's box offsets for them."""
        height, width = images.shape[2:]
        # As facenet: whole pixels, clipped to the frame (no padding), 1-based corners.
        x1, y1 = np.maximum(boxes[:, 0].astype(int), 1), np.maximum(boxes[:, 1].astype(int), 1)
        x2, y2 = np.minimum(boxes[:, 2].astype(int), width), np.minimum(boxes[:, 3].astype(int), height)
        inside = (x2 > x1 - 1) & (y2 > y1 - 1)
        boxes, frames = boxes[inside], frames[inside]
        if not len(boxes):
            return boxes, frames, np.zeros((0, 4), np.float32)
        crops = torch.cat(
            [
                F.interpolate(images[f : f + 1, :, b - 1 : d, a - 1 : c], size=(size, size), mode="area")
                for f, a, b, c, d in zip(frames, x1[inside], y1[inside], x2[inside], y2[inside])
            ]
        )  # (N, 3, size, size)
        offsets, probs = net(crops)
        score, offsets = probs[:, 1].cpu().numpy(), offsets.cpu().numpy()
        passed = score > threshold
        boxes = np.concatenate([boxes[passed, :4], score[passed, None]], 1)
        return boxes, frames[passed], offsets[passed]

    def __call__(self, frames: np.ndarray) -> list[list[Face]]:
        with torch.inference_mode():
            images = torch.from_numpy(frames.astype(np.float32)).to(self.device).permute(0, 3, 1, 2)
            images = (images - 127.5) * 0.0078125  # (B, 3, H, W) in [-1, 1], as the nets were trained
            boxes, frame = self.candidates(images)
            boxes, frame, offsets = self.refine(self.rnet, images, boxes, frame, 24, THRESHOLDS[1])
            keep = nms_by_frame(boxes[:, :4], boxes[:, 4], frame, 0.7)
            boxes[keep, :4] = square(regress(boxes[keep, :4], offsets[keep]))
            boxes, frame, offsets = self.refine(self.onet, images, boxes[keep], frame[keep], 48, THRESHOLDS[2])
            boxes[:, :4] = regress(boxes[:, :4], offsets)
            keep = nms_by_frame(boxes[:, :4], boxes[:, 4], frame, 0.7, by_min=True)
        height, width = frames.shape[1:3]
        boxes[:, :4] = np.clip(boxes[:, :4], 0, [width, height, width, height])
        faces = [[] for _ in range(len(frames))]
        for i in keep:
            faces[frame[i]].append(Face(tuple(float(v) for v in boxes[i, :4]), float(boxes[i, 4])))
        return faces


# The words for a frame's faces (first guesses, looked at on the sample footage's faces)
CLOSE_UP = 0.4  # the largest face's height over the frame's at or above which it is a close-up
NEAR = 0.12  # ... at or above which it is a face seen (below: a person in the distance)
GROUP, CROWD = 3, 7  # this many faces or more are a group, a crowd


def describe(faces: list[Face], frame_shape: tuple[int, ...]) -> list[str]:
    """A frame's faces and its shape (H, W, ...) -> the words people use for them (none without faces): the
    largest face's size says how the person is seen, the count how many there are."""
    if not faces:
        return []
    share = max(f.box[3] - f.box[1] for f in faces) / frame_shape[0]
    if share >= CLOSE_UP:
        size = ["a close-up of a person's face", "a person looking at the camera"]
    elif share >= NEAR:
        size = ["a person's face", "a person looking at the camera"]
    else:
        size = ["a person in the distance"]
    n = len(faces)
    if n >= CROWD:
        count = ["a crowd of people"]
    elif n >= GROUP:
        count = ["a group of people"]
    else:
        count = ["two people"] if n == 2 else []
    return size + count
