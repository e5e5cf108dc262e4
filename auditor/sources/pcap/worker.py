"""Reading a large capture in a second process, so parsing and analysis run side by side.

The parent keeps the whole analysis (records arrive in the same order as when
read in-process); the child only reads and dissects, and sends records in
batches through a pipe. A slow consumer blocks the child, so memory stays
bounded. Only used where ``fork`` is safe (Linux, no other threads running).
"""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from auditor.records import InputProblem, Record

BATCH = 512
"""Records per message; large enough to amortise the pipe, small enough to keep the parent busy."""

_FIELDS = Record.__slots__
_SETTERS = [getattr(Record, name).__set__ for name in _FIELDS]


def _values(record: Record) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in _FIELDS)


def _rebuild(values: tuple[Any, ...]) -> Record:
    # Records travel as plain tuples and are rebuilt through the slot descriptors: the cheapest
    # way to make many frozen dataclass instances (no per-field __setattr__ calls).
    record = object.__new__(Record)
    for setter, value in zip(_SETTERS, values, strict=True):
        setter(record, value)
    return record


def _dumps(payload: object) -> bytes:
    return pickle.dumps(payload, pickle.HIGHEST_PROTOCOL)


def can_fork() -> bool:
    """Tell whether a forked reader is safe and cheap here."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


ReadFunction = Callable[[list[InputProblem], Callable[[int], None]], Iterator[Record]]


def _child(sender: Connection, read: ReadFunction) -> None:
    position = [0]

    def progress(value: int) -> None:
        position[0] = value

    try:
        problems: list[InputProblem] = []
        batch: list[tuple[Any, ...]] = []
        for record in read(problems, progress):
            batch.append(_values(record))
            if len(batch) >= BATCH:
                sender.send_bytes(_dumps(("records", batch, position[0])))
                batch = []
        sender.send_bytes(_dumps(("records", batch, position[0])))
        sender.send_bytes(_dumps(("done", problems, position[0])))
    except (OSError, ValueError, EOFError) as exc:
        sender.send_bytes(_dumps(("input-error", f"{type(exc).__name__}: {exc}", position[0])))
    except BaseException as exc:  # noqa: BLE001 - anything else is a bug the parent must surface
        sender.send_bytes(_dumps(("error", f"{type(exc).__name__}: {exc}", position[0])))
    finally:
        sender.close()


def read_in_worker(
    path: Path, read: ReadFunction, problems: list[InputProblem], progress: Callable[[int], None] | None
) -> Iterator[Record]:
    """Run ``read`` in a forked child and yield its records here, in order."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, read), name=f"auditor pcap reader {path.name}", daemon=True)
    process.start()
    sender.close()
    try:
        while True:
            try:
                kind, payload, position = pickle.loads(receiver.recv_bytes())
            except EOFError:
                raise RuntimeError(f"{path}: the capture reader process ended unexpectedly") from None
            if progress is not None:
                progress(position)
            if kind == "records":
                for values in payload:
                    yield _rebuild(values)
            elif kind == "done":
                problems.extend(payload)
                return
            elif kind == "input-error":
                raise OSError(payload)
            else:
                raise RuntimeError(f"{path}: capture reader failed: {payload}")
    finally:
        receiver.close()
        if process.is_alive():
            process.terminate()
        process.join()
