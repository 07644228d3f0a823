"""Faces (footage.models.faces): MTCNN on facenet-pytorch's weights finds the astronaut's face where facenet's own
code does, finds no face in skimage's other photos, counts pasted faces, and names frames in words."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from footage.models.faces import Face, FaceDetector, describe

# where facenet-pytorch 2.6.0's own MTCNN code (min_face_size 20) puts the face, PIL-resized for 320x240
ASTRONAUT_512 = (181, 62, 268, 172)
ASTRONAUT_320 = (114, 26, 165, 83)
NO_FACES = {
    "coffee": data.coffee,
    "chelsea": data.chelsea,
    "rocket": data.rocket,
    "motorcycle": lambda: data.stereo_motorcycle()[0],  # at ONet's 0.7, its front wheel was a face (0.93)
}


def resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A uint8 RGB or grey image -> RGB (H, W, 3) at size (W, H)."""
    return np.asarray(Image.fromarray(image).convert("RGB").resize(size))


def iou(a, b) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return w * h / (area - w * h)


@pytest.fixture(scope="module")
def detector():
    """On one thread: these small nets ran ten times slower on two threads of 2 busy cores (OpenMP waits)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield FaceDetector()
    torch.set_num_threads(before)


@pytest.mark.parametrize("size, truth", [(None, ASTRONAUT_512), ((320, 240), ASTRONAUT_320)])
def test_the_astronauts_face_is_found_where_facenet_finds_it(detector, size, truth):
    image = data.astronaut() if size is None else resized(data.astronaut(), size)
    (face,) = detector(image[None])[0]
    assert iou(face.box, truth) > 0.7
    assert face.score > 0.99


@pytest.mark.parametrize("name", NO_FACES)
def test_photos_without_people_have_no_faces(detector, name):
    image = NO_FACES[name]()[..., :3]
    assert detector(image[None]) == [[]]
    small = resized(image, (320, 240))
    assert detector(np.stack([small, small[:, ::-1]])) == [[], []]  # as given and mirrored


def test_three_pasted_astronauts_are_three_faces_in_a_group(detector):
    one = resized(data.astronaut(), (200, 200))
    frame = np.concatenate([one, one[:, ::-1], one], 1)  # (200, 600, 3)
    faces = detector(frame[None])[0]
    assert len(faces) == 3
    assert sorted(round(f.box[0] / 200) for f in faces) == [0, 1, 2]  # one in each
    assert "a group of people" in describe(faces, frame.shape)


def test_a_batch_finds_what_frames_alone_find(detector):
    frames = np.stack([resized(f(), (320, 240)) for f in (data.astronaut, data.coffee, data.camera)])
    batch = detector(frames)
    alone = [detector(f[None])[0] for f in frames]
    assert [len(f) for f in batch] == [len(f) for f in alone] == [1, 0, 1]  # camera: the cameraman's face
    for b, a in zip(batch, alone):
        assert all(np.allclose(x.box, y.box, atol=0.5) and abs(x.score - y.score) < 1e-3 for x, y in zip(b, a))


def face(x: float, y: float, height: float) -> Face:
    return Face((x, y, x + 0.8 * height, y + height), 0.99)


@pytest.mark.parametrize(
    "faces, words",
    [
        ([face(100, 20, 200)], ["a close-up of a person's face", "a person looking at the camera"]),
        ([face(100, 20, 60)], ["a person's face", "a person looking at the camera"]),
        ([face(100, 20, 12)], ["a person in the distance"]),
        ([face(100, 20, 60), face(200, 20, 50)], ["a person's face", "a person looking at the camera", "two people"]),
        ([face(40 * i, 100, 15) for i in range(4)], ["a person in the distance", "a group of people"]),
        ([face(40 * i, 100, 15) for i in range(8)], ["a person in the distance", "a crowd of people"]),
        ([], []),
    ],
)
def test_faces_are_described_by_size_and_count(faces, words):
    assert describe(faces, (240, 320, 3)) == words
