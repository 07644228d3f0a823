"""Uploaded pictures, decoded small and a few at a time, so that a burst of them cannot fill the server's memory.

A JPEG decodes at a fraction of its size (PIL's draft: the DCT scaled by 1/2 to 1/8); other formats (PNG, WebP,
GIF) have no such mode and decode whole, so they are refused above MAX_DECODED_PIXELS (a 38 KB PNG may hold a
6300 px square: 40 million pixels, 160 MB as RGBA); a JPEG up to PIL's own limit (179 million pixels) decodes
small. At most DECODING_AT_ONCE pictures decode at a time, and when the last search of a burst is done the C
heap's freed pages go back to the system (glibc keeps them otherwise). What the library is handed is the
picture at twice the model's input size, as an uncompressed BMP.
"""

import io
import threading
import warnings
from contextlib import contextmanager

from PIL import Image

from footage import give_back
from footage.errors import BadValue

DECODING_AT_ONCE = 2
MAX_DECODED_PIXELS = 4096 * 4096  # what is decoded whole (a JPEG counts at its draft's size): 64 MB as RGBA
MAX_NAME_CHARS = 80

decoding = threading.BoundedSemaphore(DECODING_AT_ONCE)
# one picture embedded at a time: six first picture searches at once hung the server for good, in the X-encoder's
# OpenVINO runner (compile_model in two threads while others ran infer; footage/models/runtime.py)
embedding = threading.Lock()
busy = [0]  # picture searches running now
busy_lock = threading.Lock()


@contextmanager
def searching():
    """Around a picture search: when the last of a burst is done, the C heap's freed pages go back to the system
    (glibc keeps them otherwise, in each thread's arena)."""
    with busy_lock:
        busy[0] += 1
    try:
        yield
    finally:
        with busy_lock:
            busy[0] -= 1
            last = busy[0] == 0
        if last:
            give_back()


def downscaled(data: bytes, size: int, name: str | None = None) -> bytes:
    """An uploaded picture, at most 2 * `size` pixels on a side (aspect kept), as BMP bytes; DECODING_AT_ONCE at
    most at a time. Raises BadValue, naming the upload, for what is not a picture or is too large to decode."""
    who = name[:MAX_NAME_CHARS] if name and name.strip() else "the uploaded picture"
    with decoding:
        return _downscaled(data, size, who)


def _downscaled(data: bytes, size: int, who: str) -> bytes:
    unreadable = f"{who}: not a picture that can be read (JPEG, PNG, WebP, GIF...)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked here instead
        try:
            image = Image.open(io.BytesIO(data))
        except (OSError, ValueError, Image.DecompressionBombError):
            raise BadValue(unreadable) from None
        with image:
            w, h = image.size  # PIL refused above 179 million pixels already (DecompressionBombError)
            try:
                image.draft("RGB", (size * 2, size * 2))  # a JPEG: decoded at 1/2 to 1/8 of its size
            except (OSError, ValueError):
                raise BadValue(unreadable) from None
            if image.width * image.height > MAX_DECODED_PIXELS:
                raise BadValue(
                    f"{who}: a {image.format or 'picture'} of {w}x{h}; at most {MAX_DECODED_PIXELS:,} pixels but for "
                    "a JPEG (scale it down)"
                )
            try:
                image.thumbnail((size * 2, size * 2), Image.BILINEAR)  # decodes, then reduces and resizes
                small = image.convert("RGB")
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                raise BadValue(unreadable) from None
    out = io.BytesIO()
    small.save(out, "BMP")
    return out.getvalue()


def as_jpeg(bmp: bytes) -> bytes:
    """A downscaled picture as the JPEG the library keeps (a 448 px BMP is 600 KB; this, some 40)."""
    out = io.BytesIO()
    with Image.open(io.BytesIO(bmp)) as image:
        image.save(out, "JPEG", quality=90)
    return out.getvalue()
