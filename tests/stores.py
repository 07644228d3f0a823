"""A small store for the store tests: DIM-dimensional unit vectors, made-up files and their segments."""

import numpy as np

from footage.store import FileFacts, NewSegment, Store

DIM = 8


def unit(i, dim=DIM):
    v = np.zeros(dim, np.float32)
    v[i % dim] = 1
    return v


def segments(n, offset=0):
    return [
        NewSegment(
            start=2.0 * k,
            end=2.0 * k + 2,
            vector=unit(offset + k),
            frame_times=np.array([2.0 * k], np.float32),
            frame_vectors=unit(offset + k)[None],
            thumbnail=b"\xff\xd8jpeg",
        )
        for k in range(n)
    ]


def facts(name):
    return FileFacts(path=f"/videos/{name}", size=1, mtime=1.0, fingerprint=name, duration=10.0)


def open_store(path, db=None):
    store = Store(path, create=True, db=db)
    store.attach("test-backbone", DIM)
    return store
