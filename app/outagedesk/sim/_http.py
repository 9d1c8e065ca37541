"""HTTP/1.1 server machinery shared by the simulated gateway and OMS.

Standard library only. Each simulator owns one ``ThreadingHTTPServer`` running in its own
thread; connections are tracked so ``stop()`` can close keep-alive sockets that clients left
open and join every handler thread (no leaked threads or sockets in tests).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import math
import socket
import socketserver
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import parse_qs

_log = logging.getLogger(__name__)

MAX_BODY = 1 << 20
_JOIN_TIMEOUT = 5.0

FaultKind = Literal["fail", "throttle", "garbage", "delay"]


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    # Seconds to hold the answer back (delay fault); the work itself is already done.
    delay: float = 0.0


def dumps(obj: Any) -> bytes:
    # default=str keeps add_raw() objects with odd values (datetimes...) serialisable.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def json_response(status: int, obj: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, dumps(obj), headers=headers)


@dataclass
class _Fault:
    kind: FaultKind
    remaining: int
    status: int = 500
    seconds: float = 0.0


class _FaultQueue:
    """One-shot faults in FIFO order; each affected request consumes one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[_Fault] = deque()

    def push(self, fault: _Fault) -> None:
        if fault.remaining <= 0:
            return
        with self._lock:
            self._queue.append(fault)

    def take(self) -> _Fault | None:
        with self._lock:
            if not self._queue:
                return None
            head = self._queue[0]
            head.remaining -= 1
            if head.remaining <= 0:
                self._queue.popleft()
            return _Fault(head.kind, 1, head.status, head.seconds)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_REASONS = {status.value: status.phrase for status in HTTPStatus}
_MAX_HEADER_LINE = 65536
_MAX_HEADERS = 100


class _DateCache:
    """The Date header changes once a second; formatting it per request is wasted time."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def get(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._value = formatdate(now, usegmt=True)
            self._second = now
        return self._value


_dates = _DateCache()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffered writer: the whole answer leaves in one send() (flushed by handle_one_request);
    # with TCP_NODELAY that avoids Nagle/delayed-ACK stalls on keep-alive connections.
    wbufsize = -1
    disable_nagle_algorithm = True
    # Idle keep-alive connections are dropped eventually even if stop() is never called.
    timeout = 120
    server_version = "outagedesk-sim/1"
    sys_version = ""

    fields: dict[str, str]
    raw_requestline: bytes

    def log_message(self, format: str, *args: Any) -> None:
        # Per-request logging costs throughput and floods test output.
        return

    def parse_request(self) -> bool:
        # A lean replacement for the stock parser, which runs every request through the
        # email package (about half of the server's time per request).
        self.command = ""
        self.request_version = "HTTP/0.9"
        self.close_connection = True
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = line
        words = line.split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request line")
            return False
        command, path, version = words
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
            return False
        self.command, self.path, self.request_version = command, path, version
        fields: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            raw = self.rfile.readline(_MAX_HEADER_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                break
            if len(raw) > _MAX_HEADER_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
                return False
            name, sep, value = str(raw, "iso-8859-1").partition(":")
            if not sep:
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad header line")
                return False
            key = name.strip().lower()
            value = value.strip()
            fields[key] = f"{fields[key]}, {value}" if key in fields else value
        else:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return False
        self.fields = fields
        connection = fields.get("connection", "").lower()
        if version == "HTTP/1.1":
            self.close_connection = "close" in connection
        else:
            self.close_connection = "keep-alive" not in connection
        if version == "HTTP/1.1" and fields.get("expect", "").lower() == "100-continue":
            return self.handle_expect_100()
        return True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def finish(self) -> None:
        # The stock finish() skips rfile.close() when the final flush fails on a dead peer.
        try:
            super().finish()
        except OSError:
            pass
        finally:
            for stream in (self.wfile, self.rfile):
                with contextlib.suppress(OSError):
                    stream.close()

    def _dispatch(self) -> None:
        server = cast(_HttpServer, self.server)
        app = server.app
        try:
            body = self._read_body()
        except _BodyError as exc:
            # The rest of the stream cannot be trusted: answer and hang up.
            self.close_connection = True
            self._write(json_response(exc.status, {"error": "bad_request", "detail": exc.message}))
            return
        path, _, query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=path,
            query=parse_qs(query, keep_blank_values=True) if query else {},
            headers=self.fields,
            body=body,
        )
        app.request_started()
        try:
            try:
                response = app.handle(request)
            except Exception:  # noqa: BLE001 - a simulator bug must answer 500, not hang up
                _log.exception("simulator handler failed for %s %s", self.command, path)
                response = json_response(500, {"error": "internal_error"})
            if response.delay > 0 and app.stopping.wait(response.delay):
                self.close_connection = True
                return
            self._write(response)
        finally:
            app.request_finished()

    def _write(self, response: Response) -> None:
        status = response.status
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
            f"Server: {self.server_version}",
            f"Date: {_dates.get()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        lines.append("\r\n")
        self.wfile.write("\r\n".join(lines).encode("iso-8859-1") + response.body)

    def _read_body(self) -> bytes:
        if self.fields.get("transfer-encoding", "").strip().lower() == "chunked":
            return self._read_chunked()
        length_header = self.fields.get("content-length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise _BodyError(400, "bad Content-Length") from None
        if length < 0:
            raise _BodyError(400, "bad Content-Length")
        if length > MAX_BODY:
            raise _BodyError(413, "body too large")
        data = self.rfile.read(length)
        if len(data) != length:
            raise _BodyError(400, "truncated body")
        return data

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BodyError(400, "bad chunk size") from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise _BodyError(413, "body too large")
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise _BodyError(400, "truncated chunk")
            chunks.append(chunk)
            self.rfile.readline(3)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], app: SimServer, *, ipv6: bool) -> None:
        if ipv6:
            self.address_family = socket.AF_INET6
        self.app = app
        self._track_lock = threading.Lock()
        self._live: dict[threading.Thread, socket.socket] = {}
        self._closing = False
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() would call socket.getfqdn(): a reverse DNS lookup we never want.
        socketserver.TCPServer.server_bind(self)
        host, port = cast(tuple[str, int], self.server_address)[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        conn = cast(socket.socket, request)
        worker = threading.Thread(
            target=self.process_request_thread,
            args=(conn, client_address),
            name="sim-http-conn",
            daemon=True,
        )
        with self._track_lock:
            if self._closing:
                self.shutdown_request(conn)
                return
            self._live[worker] = conn
        worker.start()

    def process_request_thread(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._track_lock:
                self._live.pop(threading.current_thread(), None)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        # Peers that hang up mid-answer (client timeouts, stop()) are normal for a simulator.
        return

    def close_connections(self) -> None:
        with self._track_lock:
            self._closing = True
            live = list(self._live.items())
        for _, conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for worker, _ in live:
            worker.join(_JOIN_TIMEOUT)


def _check_loopback(host: str) -> tuple[str, bool]:
    if host == "localhost":
        return "127.0.0.1", False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"simulator host must be a loopback address, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"simulator host must be a loopback address, not {host!r}")
    return host, address.version == 6


class SimServer:
    """Base of SimGateway and SimOms: lifecycle, bearer auth and fault injection."""

    def __init__(self, token: str, host: str, port: int) -> None:
        self.token = token
        self._host, self._ipv6 = _check_loopback(host)
        self._port = port
        self._life_lock = threading.Lock()
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._faults = _FaultQueue()
        self._down = False
        self.stopping = threading.Event()
        self._flight_lock = threading.Lock()
        self._in_flight = 0
        self._peak_in_flight = 0

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        server = self._server
        if server is None:
            raise RuntimeError("simulator is not started")
        host = f"[{self._host}]" if self._ipv6 else self._host
        return f"http://{host}:{server.server_port}"

    @property
    def port(self) -> int:
        server = self._server
        if server is None:
            raise RuntimeError("simulator is not started")
        return server.server_port

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def peak_in_flight(self) -> int:
        """The most requests this server was answering at one moment."""
        with self._flight_lock:
            return self._peak_in_flight

    def request_started(self) -> None:
        with self._flight_lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def request_finished(self) -> None:
        with self._flight_lock:
            self._in_flight -= 1

    def start(self) -> None:
        with self._life_lock:
            if self._server is not None:
                return
            self.stopping.clear()
            server = _HttpServer((self._host, self._port), self, ipv6=self._ipv6)
            # A restart binds the same port again, so clients can model a gateway bounce.
            self._port = server.server_port
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}-{server.server_port}",
                daemon=True,
            )
            self._server, self._thread = server, thread
            thread.start()

    def stop(self) -> None:
        with self._life_lock:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            self._server = self._thread = None
            server.shutdown()
            self.stopping.set()
            self._on_stop()
            server.close_connections()
            server.server_close()
            thread.join(_JOIN_TIMEOUT)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _on_stop(self) -> None:
        """Wake anything waiting in a handler (long polls)."""

    # -- faults --------------------------------------------------------------------------------
    def fail_next(self, status: int = 500, count: int = 1) -> None:
        self._faults.push(_Fault("fail", count, status=status))

    def throttle_next(self, retry_after: float = 1, count: int = 1) -> None:
        self._faults.push(_Fault("throttle", count, seconds=retry_after))

    def garbage_next(self, count: int = 1) -> None:
        self._faults.push(_Fault("garbage", count))

    def delay_next(self, seconds: float, count: int = 1) -> None:
        self._faults.push(_Fault("delay", count, seconds=seconds))

    def set_down(self, down: bool) -> None:
        self._down = down

    def clear_faults(self) -> None:
        self._faults.clear()
        self._down = False

    # -- request helpers -----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def _authorized(self, request: Request) -> bool:
        got = request.header("Authorization") or ""
        expected = f"Bearer {self.token}"
        return hmac.compare_digest(
            got.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
        )

    def _take_fault(self) -> tuple[Response | None, float]:
        """Return (fault answer or None, delay in seconds) for one faultable request."""
        fault = self._faults.take()
        if fault is None:
            return None, 0.0
        if fault.kind == "fail":
            return json_response(
                fault.status, {"error": "simulated_failure", "detail": f"HTTP {fault.status}"}
            ), 0.0
        if fault.kind == "throttle":
            seconds = max(0, math.ceil(fault.seconds))
            return json_response(
                429, {"error": "rate_limited"}, headers=(("Retry-After", str(seconds)),)
            ), 0.0
        if fault.kind == "garbage":
            return Response(200, b"<html>oops", content_type="text/html"), 0.0
        return None, max(0.0, fault.seconds)


def with_delay(response: Response, delay: float) -> Response:
    return replace(response, delay=delay) if delay > 0 else response
