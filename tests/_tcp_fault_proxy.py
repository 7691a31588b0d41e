"""A small fault-injecting HTTP proxy for tests: threads and sockets, no mocks of the server.

It sits between a client and a real server (``FaultProxy(("127.0.0.1", 8080))``), reads each
request (headers and body), and — according to a per-request plan — forwards it, resets the
connection, answers ``502 Bad Gateway``, or cuts the response half-way. Every request gets its
own upstream connection (``Connection: close`` both ways), so faults hit requests, not
keep-alive connections. :meth:`FaultProxy.outage` closes the listening socket (connections are
refused, as when the server is down) until :meth:`FaultProxy.restore`.

Actions: ``"pass"``, ``"reset"`` (TCP RST after reading the request; nothing reaches the
server), ``"502"`` (nothing reaches the server), ``"reset_mid"`` (forwarded; the response is cut
after its headers and part of the body, then RST), ``"down"`` (the request is reset and the
proxy goes into an outage), ``"stall"`` (the request is read and never answered: a hung server;
the connection is closed only when the proxy stops).

Example::

    with FaultProxy(("127.0.0.1", 8080)) as proxy:
        proxy.fail_requests(5, 25, ["reset", "502"])   # requests 5..24 alternate reset / 502
        srv = cvat_srv.connect(proxy.url, ...)
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ACTIONS = ("pass", "reset", "502", "reset_mid", "down", "stall")
_BAD_GATEWAY = (
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n"
    b"Connection: close\r\n\r\nbad gateway (proxy)\r\n"
)


@dataclass(frozen=True)
class Seen:
    """One request the proxy handled."""

    n: int
    method: str
    path: str
    action: str


class _Closed(Exception):
    pass


def _recv_until(sock: socket.socket, buf: bytearray, marker: bytes, limit: int = 1 << 20) -> int:
    while True:
        i = buf.find(marker)
        if i >= 0:
            return i
        if len(buf) > limit:
            raise _Closed("headers too long")
        chunk = sock.recv(65536)
        if not chunk:
            raise _Closed("client closed")
        buf += chunk


def _recv_exact(sock: socket.socket, buf: bytearray, n: int) -> None:
    while len(buf) < n:
        chunk = sock.recv(max(65536, n - len(buf)))
        if not chunk:
            raise _Closed("client closed mid-body")
        buf += chunk


def _read_request(sock: socket.socket) -> tuple[str, str, list[tuple[str, str]], bytes]:
    buf = bytearray()
    end = _recv_until(sock, buf, b"\r\n\r\n")
    head = bytes(buf[:end]).decode("latin-1")
    rest = bytearray(buf[end + 4 :])
    lines = head.split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = [(k.strip(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)]
    lower = {k.lower(): v for k, v in headers}
    if "chunked" in lower.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:  # decode chunks, re-send with a Content-Length
            i = _recv_until(sock, rest, b"\r\n")
            size = int(bytes(rest[:i]).split(b";")[0], 16)
            del rest[: i + 2]
            _recv_exact(sock, rest, size + 2)
            body += rest[:size]
            del rest[: size + 2]
            if size == 0:
                break
        headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        headers.append(("Content-Length", str(len(body))))
        return method, path, headers, bytes(body)
    n = int(lower.get("content-length", "0") or 0)
    _recv_exact(sock, rest, n)
    return method, path, headers, bytes(rest[:n])


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0): the peer sees 'connection reset by peer'."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class FaultProxy:
    """HTTP/1.1 proxy injecting faults by request number (see the module docstring)."""

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream
        self.host = host
        self.port = port
        self.plan: Callable[[int, str, str], str] = lambda n, method, path: "pass"
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._n = 0
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outage_since: int | None = None

    # -- control -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def count(self) -> int:
        """Requests handled so far."""
        with self._lock:
            return self._n

    def faults(self) -> list[Seen]:
        """Requests that were not passed through."""
        with self._lock:
            return [s for s in self.seen if s.action != "pass"]

    def fail_requests(self, start: int, stop: int, actions: Sequence[str] = ("reset", "502")) -> None:
        """Requests ``start <= n < stop`` (counted from now on, 0-based) get ``actions`` in turn."""
        bad = [a for a in actions if a not in ACTIONS]
        if bad:
            raise ValueError(f"unknown actions {bad}; known: {ACTIONS}")
        base = self.count

        def plan(n: int, method: str, path: str) -> str:
            k = n - base
            return actions[(k - start) % len(actions)] if start <= k < stop else "pass"

        self.plan = plan

    def go_down_after(self, n_requests: int) -> None:
        """Pass ``n_requests`` more requests, then reset the next one and refuse connections."""
        base = self.count
        self.plan = lambda n, method, path: "down" if n - base >= n_requests else "pass"

    def passthrough(self) -> None:
        self.plan = lambda n, method, path: "pass"

    def start(self) -> FaultProxy:
        self._listen()
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._close_listener()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def outage(self) -> None:
        """Stop listening: new connections are refused (the 'server is down' case)."""
        with self._lock:
            self._outage_since = self._n
        self._close_listener()

    def restore(self) -> None:
        """Listen again on the same port after :meth:`outage`; all requests pass from now on."""
        self.passthrough()
        with self._lock:
            self._outage_since = None
        if self._sock is None:
            self._listen()

    @property
    def is_down(self) -> bool:
        return self._sock is None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------

    def _listen(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(128)
        s.settimeout(0.1)
        self.port = s.getsockname()[1]
        self._sock = s

    def _close_listener(self) -> None:
        s, self._sock = self._sock, None
        if s is not None:
            with contextlib.suppress(OSError):
                s.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            s = self._sock
            if s is None:
                self._stop.wait(0.05)
                continue
            try:
                conn, _ = s.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(None)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        try:
            method, path, headers, body = _read_request(client)
        except (_Closed, OSError, ValueError):
            with contextlib.suppress(OSError):
                client.close()
            return
        with self._lock:
            n = self._n
            self._n += 1
        action = self.plan(n, method, path)
        with self._lock:
            self.seen.append(Seen(n, method, path, action))
        if action in ("reset", "down"):
            if action == "down":
                self.outage()
            _reset(client)
            return
        if action == "stall":
            self._stop.wait()
            with contextlib.suppress(OSError):
                client.close()
            return
        if action == "502":
            with contextlib.suppress(OSError):
                client.sendall(_BAD_GATEWAY)
                client.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                client.close()
            return
        self._forward(client, method, path, headers, body, cut=action == "reset_mid")

    def _forward(
        self,
        client: socket.socket,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        cut: bool,
    ) -> None:
        try:
            up = socket.create_connection(self.upstream, timeout=600)
        except OSError:
            with contextlib.suppress(OSError):
                client.sendall(_BAD_GATEWAY)
            client.close()
            return
        try:
            head = [f"{method} {path} HTTP/1.1"]
            head += [f"{k}: {v}" for k, v in headers if k.lower() not in ("connection", "keep-alive")]
            head.append("Connection: close")
            up.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            buf = bytearray()
            end = _recv_until(up, buf, b"\r\n\r\n")
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            kept = [lines[0]] + [
                line
                for line in lines[1:]
                if line.split(":", 1)[0].strip().lower() not in ("connection", "keep-alive")
            ]
            kept.append("Connection: close")
            client.sendall(("\r\n".join(kept) + "\r\n\r\n").encode("latin-1"))
            rest = bytes(buf[end + 4 :])
            if cut:
                client.sendall(rest[: max(1, len(rest) // 2)] if rest else b"")
                _reset(client)
                return
            if rest:
                client.sendall(rest)
            while True:
                chunk = up.recv(1 << 16)
                if not chunk:
                    break
                client.sendall(chunk)
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_WR)
            client.close()
        except (_Closed, OSError):
            _reset(client)
        finally:
            with contextlib.suppress(OSError):
                up.close()
