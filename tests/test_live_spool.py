"""The spool between proxy and worker: whole messages in order, resumable, bounded, owner-only.

What an idle worker costs is measured by benchmarks/bench_idle.py, not timed here.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import auditor.live.spool as spool
from auditor.atrest import MAGIC, AtRestError, SessionKey, create_session_key
from auditor.live.session import SessionSettings
from auditor.live.spool import Position, SpoolReader, SpoolWriter, frame


def test_messages_arrive_whole_and_in_order_across_segments_and_large_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "SEGMENT_BYTES", 64 * 1024)  # many segments
    monkeypatch.setattr(spool, "READ_BYTES", 16 * 1024)  # messages larger than one read
    big = os.urandom(300 * 1024)
    messages = [("flow", b"x" * n) for n in range(0, 50_000, 997)] + [("flow", big), ("record", {"n": 1})]
    writer = SpoolWriter(tmp_path)
    reader = SpoolReader(tmp_path)
    received = []
    for number, message in enumerate(messages):
        assert writer.append(frame(message))
        if number % 7 == 0:  # the reader keeps up now and then, as the worker does
            for got, position in reader.read():
                received.append(got)
                reader.commit(position)
    for got, position in reader.read():
        received.append(got)
        reader.commit(position)
    assert received == messages
    # Segments read past are deleted; only the one being written remains.
    assert len(spool.segment_numbers(tmp_path / "spool")) == 1


def test_a_later_reader_carries_on_where_the_last_one_stopped(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    for number in range(10):
        writer.append(frame(("flow", number)))
    first = SpoolReader(tmp_path)
    for (_message, position), _ in zip(first.read(), range(4), strict=False):
        first.commit(position)  # handled 0..3, then killed
    first.close()
    second = SpoolReader(tmp_path)
    assert [m[1] for m, p in second.read()] == [4, 5, 6, 7, 8, 9]


def test_a_message_cut_short_by_the_proxys_death_is_skipped_at_the_end(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.append(frame(("flow", 1)))
    writer.append(frame(("flow", 2))[:-3])  # killed in the middle of a write
    writer.close()
    reader = SpoolReader(tmp_path)
    ((message, position),) = reader.read()
    assert message == ("flow", 1)
    reader.commit(position)
    assert list(reader.read()) == []  # the proxy might still finish the cut one
    assert list(reader.read(final=True)) == []
    assert reader.skipped == 1


def test_a_full_spool_drops_and_counts_instead_of_waiting_then_takes_flows_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "SEGMENT_BYTES", 32 * 1024)
    monkeypatch.setattr(spool, "_SIZE_CHECK_INTERVAL", 0.0)
    writer = SpoolWriter(tmp_path, limit_bytes=100 * 1024)
    message = frame(("flow", b"u" * 10_000))
    results = [writer.append(message) for _ in range(20)]
    assert results[:9] == [True] * 9 and not any(results[11:])
    assert writer.dropped == results.count(False)
    reader = SpoolReader(tmp_path)
    for _, position in reader.read():
        reader.commit(position)
    assert writer.append(message)  # the worker caught up: room again


def test_spool_files_are_owner_only(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.append(frame(("flow", 1)))
    SpoolReader(tmp_path).commit(Position(0, 0))
    folder = tmp_path / "spool"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_flows_dropped_by_a_full_spool_are_counted_in_the_session(tmp_path: Path, auditor_env: dict[str, str]) -> None:
    import json

    from auditor.live.session import LiveSession
    from auditor.live.worker import Worker

    folder = tmp_path / "session"
    session = LiveSession(folder, SessionSettings(name="session", report_interval=0))
    worker = Worker(session, None, None)
    worker.handle(("dropped", 3))
    worker.tick()
    assert json.loads((folder / "session.json").read_text())["dropped"] == 3
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "dropped" and events[-1]["total"] == 3
    session.close()


def test_a_close_left_by_an_earlier_run_of_the_session_does_not_end_the_next(
    tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    from auditor.live.worker import run

    folder = tmp_path / "session"
    writer = SpoolWriter(folder)
    writer.append(frame(("publish", {"event": "before"})))
    writer.append(frame(("close", "an-earlier-proxy")))  # that run's worker was killed before it read this
    writer.append(frame(("publish", {"event": "after"})))
    writer.append(frame(("close", "this-proxy")))
    writer.append(frame(("publish", {"event": "never"})))
    run(folder, SessionSettings(name="session", report_interval=0), False, None, None, token="this-proxy")
    events = [line for line in (folder / "events.jsonl").read_text().splitlines() if '"before"' in line
              or '"after"' in line or '"never"' in line]
    assert [e.split('"event": "')[1].split('"')[0] for e in events] == ["before", "after"]


# -- encrypted at rest (a key set with --key-file) ---------------------------------------------------------

PUPIL_EMAIL = b"mia.testpupil@student.example"


def _session_key(folder: Path) -> SessionKey:
    folder.mkdir(parents=True, exist_ok=True)
    return create_session_key(folder, "correct horse battery staple")


def _segments_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted((folder / "spool").glob("*.frames")))


def test_with_a_key_no_spooled_message_is_on_disk_in_clear_and_they_read_back_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "SEGMENT_BYTES", 64 * 1024)  # several segments
    monkeypatch.setattr(spool, "READ_BYTES", 16 * 1024)  # messages larger than one read
    key = _session_key(tmp_path)
    messages = [("flow", b"email=" + PUPIL_EMAIL + b"&n=%d" % n + b"x" * (n * 97)) for n in range(300)]
    messages.append(("flow", PUPIL_EMAIL * 20_000))  # about 600 KB, an upload
    writer = SpoolWriter(tmp_path, key=key)
    for message in messages:
        assert writer.append(frame(message))
    on_disk = _segments_bytes(tmp_path)
    assert len(spool.segment_numbers(tmp_path / "spool")) > 2
    assert PUPIL_EMAIL not in on_disk and b"testpupil" not in on_disk
    assert all(path.read_bytes().startswith(MAGIC) for path in (tmp_path / "spool").glob("*.frames"))
    # The bound counts what is on disk: sealed messages, not the pickles.
    assert spool.pending_bytes(tmp_path / "spool") == len(on_disk) > sum(len(frame(m)) for m in messages)

    reader = SpoolReader(tmp_path, key)
    received = []
    for message, position in reader.read(final=True):
        received.append(message)
        reader.commit(position)
    assert received == messages and reader.damaged == 0


def test_an_encrypted_spool_cut_by_a_kill_loses_only_the_message_being_written_and_a_later_reader_carries_on(
    tmp_path: Path,
) -> None:
    key = _session_key(tmp_path)
    writer = SpoolWriter(tmp_path, key=key)
    for number in range(6):
        writer.append(frame(("flow", number)))
    writer.close()
    segment = next((tmp_path / "spool").glob("*.frames"))
    segment.write_bytes(segment.read_bytes()[:-5])  # kill -9 in the middle of the last write
    first = SpoolReader(tmp_path, key)
    for (_message, position), _ in zip(first.read(), range(2), strict=False):
        first.commit(position)  # handled 0 and 1, then killed
    first.close()
    second = SpoolReader(tmp_path, key)
    assert [m[1] for m, p in second.read(final=True)] == [2, 3, 4]
    assert second.skipped == 1


def test_an_encrypted_spool_needs_the_key_and_a_changed_message_is_counted_not_read(tmp_path: Path) -> None:
    key = _session_key(tmp_path)
    writer = SpoolWriter(tmp_path, key=key)
    for number in range(3):
        writer.append(frame(("flow", number)))
    with pytest.raises(AtRestError, match="the spool is encrypted"):
        list(SpoolReader(tmp_path).read(final=True))
    segment = next((tmp_path / "spool").glob("*.frames"))
    data = bytearray(segment.read_bytes())
    data[-3] ^= 1  # one bit of the last message's tag
    segment.write_bytes(bytes(data))
    reader = SpoolReader(tmp_path, key)
    assert [m for m, p in reader.read(final=True)] == [("flow", 0), ("flow", 1), ("error", "spool")]
    assert reader.damaged == 1


def test_a_plain_segment_left_before_a_key_was_set_still_reads(tmp_path: Path) -> None:
    SpoolWriter(tmp_path).append(frame(("flow", "before")))
    key = _session_key(tmp_path)
    SpoolWriter(tmp_path, key=key).append(frame(("flow", "after")))  # a new segment, sealed
    assert [m for m, p in SpoolReader(tmp_path, key).read(final=True)] == [("flow", "before"), ("flow", "after")]
