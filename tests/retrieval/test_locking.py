"""The readers-writer lock: readers share, a writer is alone and is not starved."""

from __future__ import annotations

import threading
import time

from retrieval.locking import ReadWriteLock


def test_readers_share_and_writers_exclude() -> None:
    lock = ReadWriteLock()
    inside: list[str] = []
    peak = {"readers": 0, "overlap": False}
    guard = threading.Lock()

    def reader() -> None:
        with lock.read():
            with guard:
                inside.append("r")
                peak["readers"] = max(peak["readers"], inside.count("r"))
                peak["overlap"] |= "w" in inside
            time.sleep(0.02)
            with guard:
                inside.remove("r")

    def writer() -> None:
        with lock.write():
            with guard:
                peak["overlap"] |= bool(inside)
                inside.append("w")
            time.sleep(0.02)
            with guard:
                inside.remove("w")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    threads += [threading.Thread(target=writer) for _ in range(2)]
    threads += [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak["readers"] >= 2
    assert not peak["overlap"]


def test_waiting_writer_blocks_new_readers() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    first_reader_in = threading.Event()

    def long_reader() -> None:
        with lock.read():
            first_reader_in.set()
            time.sleep(0.1)
            order.append("reader1")

    def writer() -> None:
        with lock.write():
            order.append("writer")

    def late_reader() -> None:
        with lock.read():
            order.append("reader2")

    t1 = threading.Thread(target=long_reader)
    t1.start()
    first_reader_in.wait()
    t2 = threading.Thread(target=writer)
    t2.start()
    time.sleep(0.03)  # the writer is now waiting
    t3 = threading.Thread(target=late_reader)
    t3.start()
    for thread in (t1, t2, t3):
        thread.join()
    assert order == ["reader1", "writer", "reader2"]
