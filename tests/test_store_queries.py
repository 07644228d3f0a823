"""The store's queries, each on SQLite and on PostgreSQL (the `database` fixture): keyword search, scopes,
captions, paths that are not UTF-8, numbers past 32 bits, the order videos are listed in."""

import os
import time

import numpy as np
from stores import DIM, facts, segments, unit

from footage.store import FileFacts
from footage.store.store import NewChunk, Scope


def chunk(words, start=0.0):
    return NewChunk("speech", start, start + 2, words, unit(len(words)))


def test_keyword_finds_any_of_the_words_best_first_within_the_scope(store):
    a = store.save_video(
        facts("a.mp4"),
        segments(2),
        "m",
        [chunk("The Cat sat on the mat"), chunk("a cat and another cat, cat", 2), chunk("nothing here", 4)],
    )
    b = store.save_video(facts("b.mp4"), segments(2, 2), "m", [chunk("a dog barks at the cat")])
    hits = store.keyword(["cat"], 10)
    assert len(hits) == 3 and [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    texts = store.chunks([i for i, _ in hits])
    assert texts[hits[0][0]].text == "a cat and another cat, cat"  # the most cats first: higher is better
    assert {texts[i].text for i, _ in store.keyword(["dog", "mat"], 10)} == {
        "a dog barks at the cat",
        "The Cat sat on the mat",
    }  # any of the words, whatever their case
    assert store.keyword(["cat"], 1) == hits[:1]
    assert {store.chunks([i])[i].video_id for i, _ in store.keyword(["cat"], 10, Scope(videos=frozenset({b})))} == {b}
    assert store.keyword(["cat"], 10, Scope(videos=frozenset())) == []
    assert store.keyword(['"', ""], 10) == [] and store.keyword(["zebra"], 10) == []
    store.set_offline([a], True)
    assert {store.chunks([i])[i].video_id for i, _ in store.keyword(["cat"], 10)} == {b}
    assert len(store.keyword(["cat"], 10, Scope(offline=True))) == 3


def test_scopes_captions_and_the_segment_at_a_time(store):
    a = store.save_video(facts("a.mp4"), segments(3), "m", [chunk("hello there")])
    store.save_video(facts("b.mp4"), segments(3, 3), "m")
    ids, _ = store.search(unit(1), 10, scope=Scope(videos=frozenset({a})))
    assert {store.segments(ids)[int(i)].path for i in ids} == {"/videos/a.mp4"} and len(ids) == 3
    chunk_ids, _ = store.search_text(unit(len("hello there")), 5, scope=Scope(videos=frozenset({a})))
    assert len(chunk_ids) == 1
    first = int(ids[0])
    store.save_captions({first: "a caption"}, "decoder")
    store.save_captions({first: "another", 10**6: "a segment that is gone"}, "decoder")  # kept: the first stays
    assert store.captions([first, 10**6], "decoder") == {first: "a caption"}
    at = {t: store.segments([store.segment_at("/videos/a.mp4", t)]) for t in (0.5, 3.0, 5.9, 60.0, -4.0)}
    assert [next(iter(v.values())).start for v in at.values()] == [0.0, 2.0, 4.0, 4.0, 0.0]
    assert store.segment_at("/videos/none.mp4", 1.0) is None


def test_paths_that_are_not_utf8_big_numbers_and_the_order_of_videos(store):
    odd = os.fsdecode(b"/videos/caf\xe9.mp4")  # written by a Latin-1 system
    marked = "/videos/%bytes:like-the-mark.mp4"
    big = FileFacts(
        path="/videos/Z.mp4", size=5 * 2**30, mtime=1.5, fingerprint="z", inode=2**40 + 3, duration=10.0
    )  # a 5 GB file on a file system with 64-bit inodes
    for f in (facts("b.mp4"), FileFacts(odd, 1, 1.0, "odd"), FileFacts(marked, 1, 1.0, "marked"), big):
        store.save_video(f, segments(1), "m")
    videos = store.videos()
    assert set(videos) == {"/videos/b.mp4", odd, marked, "/videos/Z.mp4"}
    assert videos["/videos/Z.mp4"].size == 5 * 2**30 and videos["/videos/Z.mp4"].inode == 2**40 + 3
    assert os.fsencode(store.segments([store.segment_at(odd, 0.0)]).popitem()[1].path) == b"/videos/caf\xe9.mp4"
    rows, total = store.video_rows()
    # by the paths' bytes, as SQLite does, whatever the PostgreSQL database's language ("Z" before "b"); there a
    # path that is not UTF-8 is kept escaped, and comes first
    utf8 = [r.path for r in rows if r.path != odd]
    assert total == 4 and utf8 == sorted(utf8, key=os.fsencode) == ["/videos/%bytes:like-the-mark.mp4", *utf8[1:]]
    assert utf8[1:] == ["/videos/Z.mp4", "/videos/b.mp4"]
    store.save_failure(FileFacts(odd, 2, 2.0, "odd2"), "not a video")
    assert store.stats().failures == [(odd, "not a video")]
    assert store.remove([videos[odd].id, videos[marked].id]) == 2 and set(store.videos()) == {
        "/videos/b.mp4",
        "/videos/Z.mp4",
    }
    assert store.consistent()


def test_generation_moves_on_as_text(store):
    before = int(store.meta("generation"))
    store.save_video(facts("a.mp4"), segments(1), "m")
    store.set_offline([store.videos()["/videos/a.mp4"].id], True)
    assert store.meta("generation") == str(before + 2)
    assert store.stats().offline == ["/videos/a.mp4"] and len(store.index) == 1 and DIM == store.index.dim
    np.testing.assert_array_equal(store.vectors(store.index.ids())[1], unit(0))


def test_a_video_written_in_parts_is_unseen_until_its_commit_and_caching_waits_for_it_not(store):
    """Store.begin_video: a long file's segments go in as they are made, in one open transaction. Readers see
    the library as it was meanwhile, caching a caption does not wait on that writer, and abort leaves nothing."""
    a = store.save_video(facts("a.mp4"), segments(2), "m")
    first = int(store.search(unit(1), 1)[0][0])
    writing = store.begin_video(facts("a.mp4"), "m")  # a changed a.mp4, written again
    writing.add(segments(3, 2))
    writing.add(segments(2, 5))
    assert {s.start for s in store.segments(store.search(unit(1), 10)[0]).values()} == {0.0, 2.0}
    started = time.monotonic()
    store.save_captions({first: "a caption"}, "decoder")
    assert time.monotonic() - started < 5  # not the 30 s a writer may hold SQLite for
    writing.abort()
    assert store.consistent() and len(store.search(unit(1), 10)[0]) == 2
    writing = store.begin_video(facts("a.mp4"), "m")
    writing.add(segments(3, 2))
    writing.add(segments(2, 5))
    assert writing.finish(facts("a.mp4"), [chunk("said at last")]) == a
    ids, _ = store.search(unit(1), 10)
    assert sorted(s.start for s in store.segments(ids).values()) == [0.0, 0.0, 2.0, 2.0, 4.0]
    assert store.consistent() and len(store.search_text(unit(len("said at last")), 5)[0]) == 1
