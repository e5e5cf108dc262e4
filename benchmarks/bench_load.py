"""Sustained load through the live proxy: nothing lost, memory flat, no stalls, and what a kill -9 costs.

    .venv/bin/python benchmarks/bench_load.py                      # 20,000 requests, 50 clients
    .venv/bin/python benchmarks/bench_load.py --requests 50000
    .venv/bin/python benchmarks/bench_load.py --kill9 group        # or proxy, worker
    .venv/bin/python benchmarks/bench_load.py --requests 5000 --no-baseline   # a quick run
    .venv/bin/python benchmarks/bench_load.py --requests 2000 --key-file KEY  # encrypted at rest

Starts a loopback HTTPS server and a real ``mitmdump`` with the auditor's
addon on 127.0.0.1, then ``--concurrency`` clients send ``--requests``
requests through CONNECT tunnels, half of them over HTTP/1.1 and half over
HTTP/2 (the ``h2`` library mitmproxy itself uses), with ``--upload-share`` of
them 1 MB uploads, each client opening a new connection every
``--per-connection`` requests (mitmproxy keeps a connection's flows until it
closes: mitmproxy issue 4456). Every tunnel goes to the loopback server's address and the
tracker's name travels only in the ``Host`` header (``:authority``), so the
auditor classifies the request as that tracker while no name is resolved and
nothing leaves the machine. Prints sent = answered = recorded, the RSS of
the proxy and of the analysis worker over time, how long the worker took to
catch up, p50/p99 latency (uploads apart) against plain mitmdump under the
same load, and with ``--kill9`` the seconds of answered requests lost.
With ``--key-file`` the session is encrypted at rest (spool, records, flows),
and the run also times what sealing adds to each spool append, the part of
the work the proxy's event loop does. Every loop is bounded in count and in
time (``--time-cap``).
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_proxy import _Answer, free_port, proxy_env, tls_server_context, wait_until_listening

from auditor import atrest

REPO = Path(__file__).resolve().parent.parent
ADDON = REPO / "auditor" / "live" / "mitmproxy_script.py"
HOSTS = ("app-measurement.com", "api.mixpanel.com", "graph.facebook.com", "api.classroom.example")
AD_ID = "38400000-8cf0-11bd-b23e-10b96e40000d"
UPLOAD = os.urandom(1024 * 1024)
TARGET_LOST_SECONDS = 1.0
"""Issue 12: a kill -9 may lose at most the last second of answered requests."""


class _TlsServer(ThreadingHTTPServer):
    """The loopback upstream: HTTPS, each TLS handshake in its connection's own thread (none can stall accept)."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Answer)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            super().finish_request(tls, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client killed mid-request (the kill -9 runs) is not news."""


@dataclass
class Answer:
    """One answered request."""

    number: int
    sent: float
    answered: float
    upload: bool
    protocol: str


@dataclass
class Load:
    """What the clients saw."""

    sent: int = 0
    answers: list[Answer] = field(default_factory=list)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def latencies(self, upload: bool) -> list[float]:
        """Latencies in seconds of uploads or of the other requests."""
        return sorted(a.answered - a.sent for a in self.answers if a.upload == upload)


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of sorted ``values``, in milliseconds."""
    return 1000 * values[min(len(values) - 1, int(fraction * len(values)))] if values else 0.0


def request_for(number: int, upload_every: int) -> tuple[str, str, bytes]:
    """Method, path and body of the ``number``-th request."""
    if upload_every and number % upload_every == 0:
        return "POST", f"/bench/{number}/upload", UPLOAD
    if number % 2:
        body = json.dumps({"event": "lesson_step", "n": number, "advertising_id": AD_ID}).encode()
        return "POST", f"/bench/{number}/collect", body
    return "GET", f"/bench/{number}/g?en=page_view&lat=52.370216&lon=4.895168", b""


def tunnel(proxy_port: int, server_port: int, host: str, context: ssl.SSLContext, alpn: str) -> ssl.SSLSocket:
    """A TLS connection for ``host`` through a CONNECT tunnel to the loopback server, negotiating ``alpn``."""
    raw = socket.create_connection(("127.0.0.1", proxy_port), timeout=30)
    target = f"127.0.0.1:{server_port}"
    raw.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply and len(reply) < 8192:
        chunk = raw.recv(4096)
        if not chunk:
            break
        reply += chunk
    if not reply.startswith(b"HTTP/1.1 200"):
        raw.close()
        raise OSError(f"CONNECT refused: {reply[:40]!r}")
    context.set_alpn_protocols([alpn])
    return context.wrap_socket(raw, server_hostname=host)


class H2Client:
    """One HTTP/2 connection through the proxy, one request at a time (as a simple SDK does)."""

    def __init__(self, proxy_port: int, server_port: int, host: str, context: ssl.SSLContext) -> None:
        import h2.config
        import h2.connection

        self.host = host
        self.sock = tunnel(proxy_port, server_port, host, context, "h2")
        if self.sock.selected_alpn_protocol() != "h2":
            raise OSError("the proxy did not negotiate HTTP/2")
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())

    def request(self, method: str, path: str, body: bytes) -> int:
        """Send one request and wait for its whole response; returns the status."""
        import h2.events

        stream = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":path", path), (":scheme", "https"), (":authority", self.host)]
        if body:
            headers.append(("content-length", str(len(body))))
        self.conn.send_headers(stream, headers, end_stream=not body)
        sent = 0
        status = 0
        ended = False
        for _ in range(100_000):  # bounded: a 1 MB upload takes a few hundred window updates at most
            while sent < len(body):
                window = min(self.conn.local_flow_control_window(stream), self.conn.max_outbound_frame_size)
                if window <= 0:
                    break
                piece = body[sent : sent + window]
                sent += len(piece)
                self.conn.send_data(stream, piece, end_stream=sent == len(body))
            self.sock.sendall(self.conn.data_to_send())
            if ended:
                return status
            data = self.sock.recv(65536)
            if not data:
                raise OSError("connection closed")
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                    ended = True
        raise OSError("response not complete")

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()


class H1Client:
    """One HTTP/1.1 keep-alive connection through the proxy's CONNECT tunnel.

    http.client reopens a closed connection by itself: to the proxy on 127.0.0.1 again, never to ``host``.
    """

    def __init__(self, proxy_port: int, server_port: int, host: str, context: ssl.SSLContext) -> None:
        self.host = host
        self.conn = http.client.HTTPSConnection("127.0.0.1", proxy_port, timeout=30, context=context)
        self.conn.set_tunnel("127.0.0.1", server_port)

    def request(self, method: str, path: str, body: bytes) -> int:
        """Send one request; returns the status."""
        headers = {"Host": self.host, "Content-Type": "application/json"}
        self.conn.request(method, path, body=body or None, headers=headers)
        response = self.conn.getresponse()
        response.read()
        return response.status

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def drive(
    proxy_port: int, server_port: int, ca: Path, args: argparse.Namespace, load: Load, stop: threading.Event
) -> None:
    """Send ``args.requests`` requests from ``args.concurrency`` clients; bounded by ``args.time_cap``."""
    counter = iter(range(args.requests))
    deadline = time.monotonic() + args.time_cap
    upload_every = round(1 / args.upload_share) if args.upload_share > 0 else 0

    def client(index: int) -> None:
        host = HOSTS[index % len(HOSTS)]
        kind = H2Client if index % 2 else H1Client
        protocol = "HTTP/2" if index % 2 else "HTTP/1.1"
        context = ssl.create_default_context(cafile=str(ca))
        connection: H1Client | H2Client | None = None
        used = 0
        while time.monotonic() < deadline and not stop.is_set():
            with load.lock:
                number = next(counter, None)
                if number is not None:
                    load.sent += 1
            if number is None:
                break
            method, path, body = request_for(number, upload_every)
            started = time.monotonic()
            try:
                if connection is not None and used >= args.per_connection:
                    connection.close()  # an SDK's keep-alive expires now and then; mitmproxy frees its flows then
                    connection = None
                if connection is None:
                    connection = kind(proxy_port, server_port, host, context)
                    used = 0
                used += 1
                status = connection.request(method, path, body)
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                status = 0
                with load.lock:
                    name = f"{protocol} {type(exc).__name__}: {str(exc)[:60]}"
                    load.error_kinds[name] = load.error_kinds.get(name, 0) + 1
                if connection is not None:
                    connection.close()
                connection = None
            answered = time.monotonic()
            with load.lock:
                if status == 200:
                    load.answers.append(Answer(number, started, answered, bool(body is UPLOAD), protocol))
                else:
                    load.errors += 1
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic() + 60))


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process in MB (Linux ``/proc``)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_pid(proxy_pid: int) -> int | None:
    """The analysis worker: the proxy's child process."""
    try:
        children = Path(f"/proc/{proxy_pid}/task/{proxy_pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def start_proxy(temp: Path, session: Path | None) -> tuple[subprocess.Popen[bytes], int]:
    """Start mitmdump on 127.0.0.1 (with the addon when ``session`` is given)."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "mitmdump"), "--listen-host", "127.0.0.1", "--listen-port", str(port),
        "--set", f"confdir={temp / 'conf'}", "--set", "flow_detail=0", "--set", "termlog_verbosity=error",
        "--set", "connection_strategy=lazy", "--set", "ssl_insecure=true",
    ]
    if session is not None:
        command += ["-s", str(ADDON), "--set", f"auditor_session={session}", "--set", "auditor_report_interval=0"]
    process = subprocess.Popen(command, env=proxy_env(temp), stdin=subprocess.DEVNULL, start_new_session=True)
    wait_until_listening(process, port, 60)
    return process, port


@functools.cache
def _session_key(session: Path) -> atrest.SessionKey:
    passphrase = atrest.passphrase_from_environment()
    assert passphrase is not None, "the session is encrypted: run with --key-file"
    return atrest.unlock(session, passphrase)


def records_data(session: Path) -> bytes:
    """The session's records.jsonl (decrypted when the run has a key)."""
    if (session / "records.jsonl.enc").exists():
        return atrest.decrypt_file(session / "records.jsonl.enc", _session_key(session))
    return (session / "records.jsonl").read_bytes()


def recorded_numbers(session: Path) -> set[int]:
    """Request numbers found in the session's records.jsonl."""
    numbers: set[int] = set()
    try:
        data = records_data(session)
    except OSError:
        return numbers
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        url = json.loads(line).get("url") or ""
        if "/bench/" in url:
            numbers.add(int(url.split("/bench/", 1)[1].split("/", 1)[0]))
    return numbers


def wait_recorded(session: Path, expected: set[int], time_cap: float) -> float:
    """Seconds until every expected number is in records.jsonl (at most ``time_cap``)."""
    started = time.monotonic()
    while time.monotonic() - started < time_cap and not expected <= recorded_numbers(session):
        time.sleep(0.25)
    return time.monotonic() - started


def stop_gracefully(process: subprocess.Popen[bytes], time_cap: float) -> None:
    """Ctrl-C to mitmdump; the addon writes its reports. Bounded."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=time_cap)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def seconds_lost(load: Load, recorded: set[int], killed_at: float) -> tuple[int, float]:
    """Answered requests missing from the records, and how far before the kill the oldest of them was answered."""
    lost = [a for a in load.answers if a.number not in recorded]
    if not lost:
        return 0, 0.0
    return len(lost), max(0.0, killed_at - min(a.answered for a in lost))


def run(temp: Path, server_port: int, args: argparse.Namespace, with_addon: bool) -> Load:
    """One load run through mitmdump, with or without the addon; prints what it measured."""
    session = temp / f"session-{time.monotonic_ns()}" if with_addon else None
    label = "with the auditor" if with_addon else "plain mitmdump"
    process, port = start_proxy(temp, session)
    load = Load()
    stop = threading.Event()
    samples: list[tuple[float, float | None, float | None]] = []
    started = time.monotonic()

    def sample() -> None:
        while not stop.is_set() and time.monotonic() - started < args.time_cap + 120:
            worker = worker_pid(process.pid)
            samples.append((time.monotonic() - started, rss_mb(process.pid), rss_mb(worker)))
            stop.wait(args.sample_every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    ca = temp / "conf" / "mitmproxy-ca-cert.pem"
    driver = threading.Thread(target=drive, args=(port, server_port, ca, args, load, stop))
    driver.start()
    killed_at = None
    worker = None
    if with_addon and args.kill9:
        while driver.is_alive() and time.monotonic() - started < args.kill_after:
            time.sleep(0.05)
        worker = worker_pid(process.pid)
        killed_at = time.monotonic()
        if args.kill9 in ("proxy", "group"):
            os.killpg(process.pid, signal.SIGKILL)
        if args.kill9 in ("worker", "group") and worker is not None:
            os.kill(worker, signal.SIGKILL)
        if args.kill9 != "worker":
            stop.set()  # the proxy is gone: the clients stop
    driver.join(timeout=args.time_cap + 120)
    load_seconds = time.monotonic() - started
    stop.set()
    answered = {a.number for a in load.answers}
    print(f"\n== {label}: {load.sent} sent, {len(answered)} answered, {load.errors} errors in {load_seconds:.1f} s "
          f"({len(answered) / load_seconds:.0f} req/s; {sum(a.upload for a in load.answers)} uploads of 1 MB; "
          f"{sum(a.protocol == 'HTTP/2' for a in load.answers)} over HTTP/2)")
    for kind, count in sorted(load.error_kinds.items(), key=lambda item: -item[1])[:3]:
        print(f"   error: {count} x {kind}")
    for upload in (False, True):
        values = load.latencies(upload)
        print(f"   latency {'1 MB uploads' if upload else 'other requests'}: p50 {percentile(values, 0.5):.1f} ms, "
              f"p99 {percentile(values, 0.99):.1f} ms, max {percentile(values, 1.0):.1f} ms")
    if session is not None and killed_at is None:
        lag = wait_recorded(session, answered, args.time_cap)
        recorded = recorded_numbers(session)
        same = load.sent == len(answered) == len(recorded & answered)
        print(f"   worker caught up {lag:.1f} s after the last answer; sent {load.sent}, answered {len(answered)}, "
              f"recorded {len(recorded & answered)}: {'sent = answered = recorded' if same else 'MISMATCH'}")
    elif session is not None and killed_at is not None:
        report_kill(args.kill9, process, session, load, killed_at, worker, args)
    print_rss(samples)
    stop_gracefully(process, args.time_cap)
    return load


def report_kill(
    target: str, process: subprocess.Popen[bytes], session: Path, load: Load, killed_at: float, worker: int | None,
    args: argparse.Namespace,
) -> None:
    """After a kill -9: what the records hold at once, and after the session's own recovery."""
    answered = {a.number for a in load.answers}
    at_kill = recorded_numbers(session)
    count, seconds = seconds_lost(load, at_kill, killed_at)
    print(f"   kill -9 of the {target} after {args.kill_after:.0f} s: records.jsonl held {len(at_kill & answered)} of "
          f"{len(answered)} answered at once ({count} missing, the last {seconds:.1f} s)")
    if target == "worker":
        how = "the proxy started a new worker, which carried on from the spool"
        wait_recorded(session, answered, args.time_cap)
    elif target == "proxy":
        how = "the worker read the rest of the spool and wrote the reports"
        deadline = time.monotonic() + args.time_cap
        while worker is not None and Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
            time.sleep(0.25)
    else:
        how = "auditor analyze SESSION recovered the spool"
        env = {**os.environ, "CLASSROOM_AUDITOR_DATA": str(session.parent / "data"),
               "CLASSROOM_AUDITOR_SALT": "benchmark-salt"}
        subprocess.run([str(Path(sys.executable).parent / "auditor"), "analyze", str(session), "--json",
                        str(session.parent / "recovered.json")], env=env, capture_output=True, timeout=args.time_cap,
                       check=False)
    after = recorded_numbers(session)
    count, seconds = seconds_lost(load, after, killed_at)
    verdict = "PASS" if seconds <= TARGET_LOST_SECONDS else "MISS"
    print(f"   after recovery ({how}): {len(after & answered)} of {len(answered)} answered recorded; "
          f"lost {count} requests = {seconds:.1f} s of answered requests. {verdict} (target at most "
          f"{TARGET_LOST_SECONDS:.0f} s)")
    settings = json.loads((session / "session.json").read_text())
    lines = records_data(session).count(b"\n")
    print(f"   session.json says records {settings['records']}; records.jsonl has {lines} lines")


def spool_append_cost(temp: Path, rounds: int = 200) -> None:
    """Microseconds one spool append takes on the proxy's event loop, plain and sealed (median of ``rounds``)."""
    import copyreg

    from mitmproxy.test import tflow

    from auditor.live.spool import SpoolWriter, frame
    from auditor.sources.mitmflows import pickle_reducers

    dispatch = {**copyreg.dispatch_table, **pickle_reducers()}
    small = tflow.tflow(resp=True)
    small.request.content = f"advertising_id={AD_ID}&n=1".encode()
    upload = tflow.tflow(resp=True)
    upload.request.content = UPLOAD
    folder = temp / "spool-cost"
    folder.mkdir()
    key = atrest.create_session_key(folder, "benchmark passphrase")
    for name, flow in (("small flow", small), ("1 MB upload", upload)):
        message = frame(("flow", flow), dispatch)
        writers = {"plain": SpoolWriter(folder / f"{name}-plain", limit_bytes=2**40),
                   "sealed": SpoolWriter(folder / f"{name}-sealed", limit_bytes=2**40, key=key)}
        samples: dict[str, list[float]] = {label: [] for label in writers}
        for number in range(rounds):
            # Alternated, so both meet the same page cache and the same competing load.
            for label in sorted(writers, reverse=bool(number % 2)):
                started = time.perf_counter()
                writers[label].append(message)
                samples[label].append(time.perf_counter() - started)
        for writer in writers.values():
            writer.close()
        plain, sealed = (statistics.median(samples[label]) * 1e6 for label in ("plain", "sealed"))
        print(f"   spool append of a {name} ({len(message)} bytes pickled): {plain:.0f} µs plain, "
              f"{sealed:.0f} µs sealed (median of {rounds})")


def print_rss(samples: list[tuple[float, float | None, float | None]]) -> None:
    """RSS of the proxy and the worker over time (at most 12 points)."""
    if not samples:
        return
    step = max(1, len(samples) // 12)
    shown = samples[::step]
    print("   RSS MB over time (s: proxy / worker): " + ", ".join(
        f"{t:.0f}: {p or 0:.0f}/{w or 0:.0f}" for t, p, w in shown))


def main() -> int:
    """Run the load with the auditor (and plain mitmdump for comparison); print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests to send (default 20000)")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--upload-share", type=float, default=0.02,
                        help="share of requests that upload 1 MB (default 0.02)")
    parser.add_argument("--time-cap", type=float, default=900.0, help="seconds a load may take at most (default 900)")
    parser.add_argument("--per-connection", type=int, default=100,
                        help="requests per keep-alive connection before the client opens a new one (default 100)")
    parser.add_argument("--sample-every", type=float, default=2.0, help="seconds between RSS samples (default 2)")
    parser.add_argument("--kill9", choices=("proxy", "worker", "group"),
                        help="kill -9 this part of the session during the load and count what was lost")
    parser.add_argument("--kill-after", type=float, default=20.0, help="seconds of load before the kill (default 20)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain-mitmdump run")
    parser.add_argument("--key-file", type=Path,
                        help="encrypt the session at rest with the passphrase in FILE (as auditor proxy --key-file)")
    args = parser.parse_args()
    if args.key_file:
        os.environ[atrest.KEY_FILE_ENV] = str(args.key_file.resolve())  # mitmdump, its worker and analyze inherit it
    with tempfile.TemporaryDirectory(prefix="bench-load-") as temp_name:
        temp = Path(temp_name)
        server = _TlsServer(tls_server_context(temp))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            audited = run(temp, server.server_address[1], args, with_addon=True)
            if args.key_file:
                spool_append_cost(temp)
            if not args.no_baseline and not args.kill9:
                plain = run(temp, server.server_address[1], args, with_addon=False)
                for upload in (False, True):
                    kind = "uploads" if upload else "other requests"
                    a, p = audited.latencies(upload), plain.latencies(upload)
                    print(f"p99 {kind}: {percentile(a, 0.99):.1f} ms with the auditor vs {percentile(p, 0.99):.1f} ms "
                          f"plain ({statistics.median(a) * 1000 if a else 0:.1f} vs "
                          f"{statistics.median(p) * 1000 if p else 0:.1f} ms median)")
        finally:
            server.shutdown()
            server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
