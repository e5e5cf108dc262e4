"""Coverage-guided fuzzing of every parser that reads what an app, a capture or a list author controls.

    .venv/bin/python -m pip install -e '.[fuzz]'               # atheris
    .venv/bin/python benchmarks/fuzz.py --seconds 60            # every target, 60 s each
    .venv/bin/python benchmarks/fuzz.py --targets pcap,quic --seconds 600 --out /tmp/auditor-fuzz
    make fuzz FUZZ_SECONDS=300

Targets: pcap_reader (the pcap/pcapng container), pcap_records (the container and the capture analyzer:
TCP/UDP, DNS, TLS, QUIC, HTTP), pcap (the same, then through the whole analysis), tls, quic, har_records
(the HAR source), har (the same, through the whole analysis), har_structure (hostile values planted in
real HAR documents), flows (mitmproxy flow files), session_parse (records.jsonl) and session (the same,
through the whole analysis), body (content decoding and the field walk), profile and importers (every
tracker-list parser). The "whole analysis" targets also fuzz classification and every detector, at a
few hundred inputs a second; their parser-only twins reach millions.

Each target runs atheris (libFuzzer for Python) in its own process, seeded
from real files: the project's sample capture and profile, and, when present,
the shared captures and tracker lists in ``../shared`` (read, never copied into
the project; the corpus lives under ``--out``). A target is told which
exceptions are part of its contract (``TlsError`` for a malformed handshake,
``ListFormatError`` for a list that is not one, ``ProfileError``...); anything
else is an uncaught exception, a crash. A crashing input is saved under
``OUT/TARGET/crashes/`` and the target restarts until its time is used, so one
crash does not hide the next. Prints, per target: executions, executions per
second and unique crashes (by exception type and the line that raised it).
Exit status 1 when any target crashed.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CAPTURES = SHARED / "captures"
TRACKERS = SHARED / "trackers"
sys.path.insert(0, str(REPO / "tests"))  # the tests' builders of real handshakes
MAX_LEN = 65536
"""Largest input libFuzzer makes; seeds are cut to it."""
SMALLER_INPUTS = {"pcap": 8192, "pcap_records": 8192, "flows": 16384, "har": 16384, "session": 8192}
"""Targets that analyse every record run faster on smaller inputs, which still hold many packets or flows.

Their seeds are cut on record boundaries to fit (windows of consecutive packets, single HAR entries, a few
session records), so each seed stays a valid file of real traffic."""
CAPTURE_WINDOWS = 8
"""Windows of consecutive packets taken from each shared capture, spread over the file."""


# -- seeds (built in the parent, plain Python) ------------------------------------------------------------


def _shared_files(pattern: str) -> list[Path]:
    return sorted(CAPTURES.glob(pattern)) if CAPTURES.is_dir() else []


def _quic_datagrams() -> list[bytes]:
    """First datagrams of aioquic clients (v1 and v2) and QUIC datagrams of the shared capture."""
    found: list[bytes] = []
    with contextlib.suppress(ImportError):
        from aioquic.quic.configuration import QuicConfiguration
        from aioquic.quic.connection import QuicConnection

        for version in (0x00000001, 0x6B3343CF):
            configuration = QuicConfiguration(is_client=True, server_name="tracker.example", alpn_protocols=["h3"],
                                              supported_versions=[version])
            connection = QuicConnection(configuration=configuration)
            connection.connect(("127.0.0.1", 443), now=0.0)
            found += [data for data, _ in connection.datagrams_to_send(now=0.0)]
    interop = CAPTURES / "ndpi_quic_interop_V.pcapng"
    if interop.is_file():
        from scapy.layers.inet import UDP
        from scapy.utils import PcapNgReader

        with PcapNgReader(str(interop)) as packets:
            for packet in packets:
                if UDP in packet and bytes(packet[UDP].payload)[:1] and bytes(packet[UDP].payload)[0] & 0xC0 == 0xC0:
                    found.append(bytes(packet[UDP].payload))
                if len(found) >= 40:
                    break
    return found


def _trimmed_har(path: Path) -> bytes | None:
    """The first entries of a HAR, bodies cut, as valid JSON under :data:`MAX_LEN` (``None`` if none fits)."""
    document = json.loads(path.read_bytes().decode("utf-8-sig", errors="replace"))
    entries = document["log"]["entries"]
    for entry in entries[:3]:
        _cut_bodies(entry)
    for count in (3, 2, 1):
        document["log"]["entries"] = entries[:count]
        text = json.dumps(document).encode()
        if len(text) <= MAX_LEN:
            return text
    return None


def _cut_bodies(entry: Any) -> None:
    """Shorten a HAR entry's response text and request body in place, so seeds stay small."""
    with contextlib.suppress(AttributeError, KeyError, TypeError):
        entry["response"]["content"]["text"] = entry["response"]["content"].get("text", "")[:200]
    with contextlib.suppress(AttributeError, KeyError, TypeError):
        entry["request"]["postData"]["text"] = entry["request"]["postData"]["text"][:2000]


def _single_entry_hars(path: Path, count: int = 6) -> list[bytes]:
    """HAR documents of one entry each, from entries spread over a real HAR, bodies cut to fit ``har``'s size."""
    document = json.loads(path.read_bytes().decode("utf-8-sig", errors="replace"))
    entries = document["log"]["entries"]
    step = max(1, len(entries) // count)
    found = []
    for entry in entries[::step][:count]:
        _cut_bodies(entry)
        document["log"]["entries"] = [entry]
        text = json.dumps(document).encode()
        if len(text) <= SMALLER_INPUTS["har"]:
            found.append(text)
    return found


def _capture_windows(data: bytes, size: int = 8192) -> list[bytes]:
    """Small valid captures cut from a real one: its header blocks, then a run of consecutive packets.

    A classic pcap keeps its 24-byte header; a pcapng keeps every non-packet block seen before the window
    (section header, interfaces, decryption secrets, names). Windows are spread over the file, so later
    handshakes and requests are seeds too, not only the first packets.
    """
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        header, offset, length_at = b"", 0, 4
    else:
        order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        header, offset, length_at = data[:24], 24, 8
    units: list[tuple[bytes, bool]] = []  # (bytes, is a packet)
    while offset + 12 <= len(data):
        if length_at == 4:  # pcapng block: type, total length
            kind, length = struct.unpack(order + "II", data[offset : offset + 8])
            is_packet = kind in (3, 6)
        else:  # pcap record: 16-byte header with the captured length at byte 8
            length = 16 + struct.unpack(order + "I", data[offset + 8 : offset + 12])[0]
            is_packet = True
        if length < 12 or offset + length > len(data):
            break
        units.append((data[offset : offset + length], is_packet))
        offset += length
    windows: list[bytes] = []
    current: list[bytes] = []
    prefix = header
    for unit, is_packet in units:
        if not is_packet:
            prefix += unit
            continue
        if current and len(prefix) + sum(map(len, current)) + len(unit) > size:
            windows.append(prefix + b"".join(current))
            current = []
        current.append(unit)
    if current:
        windows.append(prefix + b"".join(current))
    windows = [window for window in windows if len(window) <= size] or [data[:size]]
    step = max(1, len(windows) // CAPTURE_WINDOWS)
    return windows[::step][:CAPTURE_WINDOWS]


def _shrunk(node: Any, width: int = 6, depth: int = 0) -> Any:
    """A small sample of a large JSON document with the same shape: the first items of every list and object."""
    if depth > 8:
        return node if not isinstance(node, dict | list) else type(node)()
    if isinstance(node, dict):
        return {key: _shrunk(value, width, depth + 1) for key, value in list(node.items())[:width]}
    if isinstance(node, list):
        return [_shrunk(value, width, depth + 1) for value in node[:width]]
    return node


IMPORTER_FILES = {
    "adguard": "adguard-companiesdb/dist/trackers.json",
    "disconnect": "disconnect-tracking-protection/services.json",
    "duckduckgo_app": "duckduckgo-tracker-blocklists/app/android-tds.json",
    "duckduckgo_web": "duckduckgo-tracker-blocklists/web/v6/extension-tds.json",
    "exodus": "exodus-trackers/trackers.json",
    "ghostery": "ghostery-trackerdb/dist/trackerdb.json",
    "hosts": "easylist/easyprivacy.txt",
}
"""One real file per importer in ``../shared/trackers`` (the first byte of an input picks the importer)."""
IMPORTERS = list(IMPORTER_FILES)


def _importer_seeds() -> list[bytes]:
    seeds = []
    for index, (name, relative) in enumerate(IMPORTER_FILES.items()):
        path = TRACKERS / relative
        if not path.is_file():
            continue
        if name == "hosts":
            body = "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[:300]).encode()
        else:
            body = json.dumps(_shrunk(json.loads(path.read_bytes()))).encode()
        seeds.append(bytes([index]) + body[: MAX_LEN - 1])
    return seeds


def _body_seeds() -> list[bytes]:
    """Bodies an app sends: JSON, forms, multipart, XML, protobuf-ish bytes, gzip of each."""
    bodies = [
        (0, b'{"user":{"email":"ana@example.org","lat":52.37,"lon":4.89},"events":[{"adid":"38400000-8cf0-11bd"}]}'),
        (1, b"email=ana%40example.org&device_id=abc123&data=eyJ1IjoiYW5hIn0%3D"),
        (2, b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n{"a":1}\r\n--b--\r\n'),
        (3, b"<a><email>ana@example.org</email><b k='v'/></a>"),
        (4, b"\x00\x00\x00\x00\x0b\x0a\x09ana@ex.org"),
        (5, b"\x0a\x09ana@ex.org\x10\x96\x01\x1a\x03\x08\x01\x10"),
    ]
    seeds = []
    for kind, body in bodies:
        seeds.append(bytes([kind, 0]) + body)
        seeds.append(bytes([kind, 1]) + gzip.compress(body))
    return seeds


def _session_seed() -> bytes:
    from auditor.sources import ReadOptions, mitmflows

    lines = [json.dumps(record.to_json()) for record in mitmflows.read(REPO / "captures" / "sample-classroom.mitm",
                                                                       ReadOptions(), [])]
    return "\n".join(lines).encode()[:MAX_LEN]


def seeds_for(target: str) -> list[bytes]:
    """Seed inputs of one target, from real files."""
    sample = REPO / "captures" / "sample-classroom.mitm"
    if target == "pcap_reader":
        return [path.read_bytes()[:MAX_LEN] for path in _shared_files("*.pcap*")]
    if target in ("pcap", "pcap_records"):
        return [window for path in _shared_files("*.pcap*") for window in _capture_windows(path.read_bytes())]
    if target == "tls":
        from pcap_builders import client_hello  # a real ClientHello from Python's TLS stack, made in memory

        return [client_hello(name) for name in ("classroom.example", "xn--bcher-kva.example", "a" * 60)]
    if target == "quic":
        return _quic_datagrams()
    if target in ("har_structure", "har_records"):
        return [seed for seed in map(_trimmed_har, _shared_files("*.har")) if seed is not None]
    if target == "har":
        return [seed for path in _shared_files("*.har") for seed in _single_entry_hars(path)]
    if target == "flows":
        return [sample.read_bytes()[:MAX_LEN]] + [path.read_bytes()[:MAX_LEN] for path in _shared_files("*.mitm")]
    if target == "session_parse":
        return [_session_seed()]
    if target == "session":
        lines = _session_seed().splitlines()
        return [b"\n".join(lines[start : start + 3]) for start in range(0, len(lines), 3)]
    if target == "body":
        return _body_seeds()
    if target == "profile":
        return [(REPO / "captures" / "sample-profile.toml").read_bytes()]
    if target == "importers":
        return _importer_seeds()
    raise KeyError(target)


# -- targets (run in the child, instrumented) --------------------------------------------------------------


@dataclass
class Target:
    """One fuzz target: a function of the input bytes and the exceptions its contract allows."""

    run: Callable[[bytes], None]
    allowed: tuple[type[BaseException], ...] = ()


@dataclass
class Harness:
    """State shared by the targets of one child process."""

    scratch: Path
    analysis_factory: Callable[[], Any] | None = None
    runs: int = 0
    analysis: Any = None
    files: dict[str, Path] = field(default_factory=dict)

    def file_with(self, name: str, data: bytes) -> Path:
        path = self.scratch / name
        path.write_bytes(data)
        return path

    def analyse(self, records: Iterator[Any]) -> None:
        """Feed records through the whole analysis, as ``auditor analyze`` does (fresh state now and then)."""
        from auditor.sources import impossible_value

        self.runs += 1
        if self.analysis is None or self.runs % 500 == 0:
            assert self.analysis_factory is not None
            self.analysis = self.analysis_factory()
        for record in records:
            if impossible_value(record) is None:
                self.analysis.add(record)
        if self.runs % 50 == 0:  # the findings of the whole input so far, as the report builds them
            self.analysis.finalize()


def build_targets(harness: Harness) -> dict[str, Target]:
    """Every target; imports happen here so atheris instruments the project's modules."""
    import tomllib

    import atheris

    from auditor.analysis import Analysis, AnalysisConfig
    from auditor.decoding import decode_content
    from auditor.detect.fields import iter_fields
    from auditor.profile import ProfileError, parse_profile
    from auditor.records import Record, RecordKind, SourceKind
    from auditor.sources import InputError, ReadOptions, har, mitmflows, session
    from auditor.sources.pcap.decrypt import KeyLog
    from auditor.sources.pcap.flows import CaptureAnalyzer
    from auditor.sources.pcap.quic import QuicClientHello, looks_like_quic_initial
    from auditor.sources.pcap.reader import CaptureReader
    from auditor.sources.pcap.tls import HandshakeReassembler, TlsError, parse_client_hello, parse_server_hello
    from trackers_db.database import load_database
    from trackers_db.importers import ListFormatError

    database = load_database()
    harness.analysis_factory = lambda: Analysis(AnalysisConfig(app_domains=("classroom.example",)), database=database)
    options = ReadOptions(body_cap=MAX_LEN)

    keylog = KeyLog()  # the shared key logs: sessions of the seeds (and their mutants) get decrypted
    for path in sorted(CAPTURES.glob("*keylog*")) if CAPTURES.is_dir() else []:
        keylog.add_file(path)

    def pcap(data: bytes) -> None:
        reader = CaptureReader(io.BytesIO(data))
        harness.analyse(CaptureAnalyzer("fuzz.pcap", MAX_LEN, keylog).records(reader))

    def pcap_records(data: bytes) -> None:  # the reader and the capture analyzer alone: fast enough for 1M runs
        for _ in CaptureAnalyzer("fuzz.pcap", MAX_LEN, keylog).records(CaptureReader(io.BytesIO(data))):
            pass

    def pcap_reader(data: bytes) -> None:
        for _ in CaptureReader(io.BytesIO(data)):  # the container alone: headers, blocks, lengths
            pass

    def tls(data: bytes) -> None:
        if data[:1] == b"\x16":  # a TLS record: handshake messages from its payload, as the pcap reader does
            data = data[5:]
        for kind, body in HandshakeReassembler().feed(data):
            with contextlib.suppress(TlsError):
                parse_client_hello(body) if kind == 1 else parse_server_hello(body)
        with contextlib.suppress(TlsError):
            parse_client_hello(data)

    def quic(data: bytes) -> None:
        looks_like_quic_initial(data)
        hello = QuicClientHello()
        middle = len(data) // 2
        for datagram in (data, data[middle:], data[:middle]):  # whole, then halves: reassembly across packets
            hello.feed(datagram)

    def har_bytes(data: bytes) -> None:
        harness.analyse(har.read(harness.file_with("fuzz.har", data), options, []))

    def har_structure(data: bytes) -> None:
        provider = atheris.FuzzedDataProvider(data)
        document = json.loads(HAR_TEMPLATES[provider.ConsumeIntInRange(0, len(HAR_TEMPLATES) - 1)])
        for _ in range(provider.ConsumeIntInRange(1, 4)):
            plant_value(document, provider)
        text = json.dumps(document, allow_nan=True)
        harness.analyse(har.read(harness.file_with("fuzz.har", text.encode()), options, []))

    def har_records(data: bytes) -> None:  # the HAR source alone, without the analysis
        for _ in har.read(harness.file_with("fuzz.har", data), options, []):
            pass

    def flows(data: bytes) -> None:
        harness.analyse(mitmflows.read(harness.file_with("fuzz.mitm", data), options, []))

    def session_records(data: bytes) -> None:
        harness.analyse(session.read(harness.file_with("records.jsonl", data), options, []))

    def session_parse(data: bytes) -> None:  # the records.jsonl source alone, without the analysis
        for _ in session.read(harness.file_with("records.jsonl", data), options, []):
            pass

    content_types = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b",
                     "application/xml", "application/grpc", "application/x-protobuf", "text/plain", ""]
    encodings = [None, "gzip", "deflate", "br", "zstd", "gzip, br", "identity", "x-unknown"]

    def body(data: bytes) -> None:
        if len(data) < 2:
            return
        content_type = content_types[data[0] % len(content_types)]
        decoded = decode_content(data[2:], encodings[data[1] % len(encodings)], MAX_LEN)
        record = Record(kind=RecordKind.HTTP, time=1.0, source=SourceKind.HAR, host="api.example",
                        url="https://api.example/v1/e?q=" + decoded.data[:64].decode("latin-1"),
                        request_body=decoded.data, request_content_type=content_type)
        iter_fields(record)

    def profile(data: bytes) -> None:
        try:
            document = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            return
        parse_profile(document, "fuzz.toml")

    hosts = importlib.import_module("trackers_db.importers.hosts")
    parsers: list[Callable[[Any], Any]] = [
        getattr(importlib.import_module(f"trackers_db.importers.{name}"), f"parse_{name}")
        for name in IMPORTERS if name != "hosts"
    ]

    def importers(data: bytes) -> None:
        if not data:
            return
        choice = data[0] % len(IMPORTERS)
        text = data[1:].decode("utf-8", errors="replace")
        if IMPORTERS[choice] == "hosts":
            hosts.parse_host_rules(text.splitlines(), "fuzz.txt")
            return
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            return
        parsers[choice](document)

    return {
        "pcap": Target(pcap),
        "pcap_reader": Target(pcap_reader),
        "pcap_records": Target(pcap_records),
        "har_records": Target(har_records, (InputError,)),
        "session_parse": Target(session_parse, (InputError,)),
        "tls": Target(tls),
        "quic": Target(quic),
        "har": Target(har_bytes, (InputError,)),
        "har_structure": Target(har_structure, (InputError,)),
        "flows": Target(flows),
        "session": Target(session_records, (InputError,)),
        "body": Target(body),
        "profile": Target(profile, (ProfileError,)),
        "importers": Target(importers, (ListFormatError,)),
    }


TARGETS = ["pcap_reader", "pcap_records", "pcap", "tls", "quic", "har_records", "har", "har_structure", "flows",
           "session_parse", "session", "body", "profile", "importers"]
HAR_TEMPLATES: list[str] = []
"""Seed HAR documents the structure-aware target plants hostile values into (set in the child)."""


def plant_value(document: Any, provider: Any) -> None:
    """Replace one value somewhere in ``document`` with a hostile one: huge, infinite, nested, of the wrong type."""
    node = document
    for _ in range(provider.ConsumeIntInRange(1, 8)):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(
            node, list) else []
        if not children:
            break
        key, child = children[provider.ConsumeIntInRange(0, len(children) - 1)]
        if not isinstance(child, dict | list) or provider.ConsumeBool():
            hostile: list[Any] = [
                10 ** 400, float("inf"), float("nan"), -1, 2 ** 64, 1e308, "", None, True, [], {},
                provider.ConsumeUnicodeNoSurrogates(64), provider.ConsumeFloat(), provider.ConsumeInt(8),
                [[[[[]]]]] * 3, {"name": 1, "value": [2]}, "9999-12-31T23:59:59-23:59", "\x00\x1b[31m",
            ]
            node[key] = hostile[provider.ConsumeIntInRange(0, len(hostile) - 1)]
            return
        node = child


def run_child(target: str, libfuzzer_args: list[str]) -> None:
    """Fuzz one target in this process until libFuzzer's time is up or it crashes."""
    import atheris

    scratch = Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    os.environ.setdefault("CLASSROOM_AUDITOR_SALT", "fuzz")
    os.environ.setdefault("CLASSROOM_AUDITOR_DATA", str(scratch / "data"))
    harness = Harness(scratch)
    with atheris.instrument_imports(include=["auditor", "trackers_db"]):
        targets = build_targets(harness)
    if target == "har_structure":
        HAR_TEMPLATES.extend(seed.decode() for seed in seeds_for("har")[:6])
        HAR_TEMPLATES.append(json.dumps({"log": {"entries": [{"startedDateTime": "2026-01-01T10:00:00Z",
                             "request": {"method": "GET", "url": "wss://a.example/", "headers": []},
                             "_webSocketMessages": [{"type": "send", "time": 1.0, "opcode": 1, "data": "x"}]}]}}))
    chosen = targets[target]

    def one_input(data: bytes) -> None:
        with contextlib.suppress(chosen.allowed):
            chosen.run(data)

    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input)
    try:
        atheris.Fuzz()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# -- the parent: seed, run, restart after a crash, count -------------------------------------------------


@dataclass
class Outcome:
    """What fuzzing one target found."""

    executions: int = 0
    seconds: float = 0.0
    crashes: dict[str, Path] = field(default_factory=dict)
    """Unique crash signature -> the saved input."""


_EXECUTED = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


def crash_signature(log: str) -> str:
    """Exception type plus the last project line of its traceback: one name per distinct bug."""
    frames = [f"{Path(path).name}:{line}" for path, line in _FRAME.findall(log) if "/auditor/" in path
              or "/trackers_db/" in path]
    last_traceback = log.rsplit("Traceback (most recent call last):", 1)[-1].split("ERROR: libFuzzer")[0]
    unindented = [line for line in last_traceback.splitlines() if line.strip() and line[0] not in " \t="]
    if "Traceback" in log and unindented:  # the exception line: "AssertionError: ..." or "InvalidVersion: ..."
        kind = unindented[-1].split(":")[0].split(".")[-1]
    else:
        kind = "timeout" if "timeout" in log else "crash"
    return f"{kind} at {frames[-1] if frames else '?'}"


def fuzz_target(target: str, seconds: float, out: Path, max_len: int, executions: int | None = None) -> Outcome:
    """Run one target for ``seconds`` (or until ``executions``), restarting after each crash; return what it found."""
    corpus = out / target / "corpus"
    crashes = out / target / "crashes"
    crashes.mkdir(parents=True, exist_ok=True)
    if not corpus.is_dir() or not any(corpus.iterdir()):
        corpus.mkdir(parents=True, exist_ok=True)
        for number, seed in enumerate(seeds_for(target)):
            (corpus / f"seed-{number:03d}").write_bytes(seed)
    outcome = Outcome()
    started = time.monotonic()
    while (remaining := seconds - (time.monotonic() - started)) >= 2:
        args = [sys.executable, __file__, "--child", target, "--", str(corpus), f"-max_total_time={int(remaining)}",
                f"-artifact_prefix={crashes}/", "-print_final_stats=1", f"-max_len={max_len}", "-timeout=20",
                "-rss_limit_mb=3072", "-print_pcs=0"]
        if executions is not None:
            if outcome.executions >= executions:
                break
            args.append(f"-runs={executions - outcome.executions}")
        done = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, cwd=REPO)
        log = done.stdout
        outcome.executions += sum(int(n) for n in _EXECUTED.findall(log))
        if done.returncode == 0:
            break
        artifact = _ARTIFACT.search(log)
        signature = crash_signature(log)
        if artifact is None:  # the child failed to start or died without an input to blame
            print(f"  {target}: fuzzer stopped (exit {done.returncode}):\n{log[-2000:]}", file=sys.stderr)
            outcome.crashes.setdefault(signature, Path("-"))
            break
        outcome.crashes.setdefault(signature, Path(artifact.group(1)))
        (crashes / (Path(artifact.group(1)).name + ".log")).write_text(log[-20000:])
        # libFuzzer's final stats are not printed after a crash: count the executions it reported last.
        progress = re.findall(r"#(\d+)\s", log)
        outcome.executions += int(progress[-1]) if progress and not _EXECUTED.search(log) else 0
    outcome.seconds = time.monotonic() - started
    return outcome


def main() -> int:
    """Fuzz the chosen targets one after the other and print a line for each."""
    if "--child" in sys.argv:
        position = sys.argv.index("--child")
        rest = sys.argv[position + 2 :]
        run_child(sys.argv[position + 1], rest[1:] if rest[:1] == ["--"] else rest)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="time per target (default 60)")
    parser.add_argument("--executions", type=int, help="stop each target after this many executions "
                        "(--seconds still bounds it)")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, from: {', '.join(TARGETS)}")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "auditor-fuzz",
                        help="corpus and crashing inputs (default: a folder in the temp dir; kept between runs)")
    parser.add_argument("--max-len", type=int, help=f"largest input in bytes (default {MAX_LEN}; "
                        f"{', '.join(f'{k} {v}' for k, v in SMALLER_INPUTS.items())})")
    args = parser.parse_args()
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: .venv/bin/python -m pip install -e '.[fuzz]'", file=sys.stderr)
        return 2
    chosen = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s): {', '.join(unknown)}")
    print(f"{'target':<14} {'executions':>12} {'exec/s':>8} {'crashes':>8}  seconds={args.seconds:g} out={args.out}")
    any_crash = False
    for target in chosen:
        max_len = args.max_len or SMALLER_INPUTS.get(target, MAX_LEN)
        outcome = fuzz_target(target, args.seconds, args.out, max_len, args.executions)
        rate = outcome.executions / outcome.seconds if outcome.seconds else 0
        print(f"{target:<14} {outcome.executions:>12,} {rate:>8,.0f} {len(outcome.crashes):>8}", flush=True)
        for signature, artifact in outcome.crashes.items():
            print(f"    crash: {signature} -> {artifact}", flush=True)
        any_crash |= bool(outcome.crashes)
    return 1 if any_crash else 0


if __name__ == "__main__":
    sys.exit(main())
