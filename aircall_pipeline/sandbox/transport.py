"""The HTTP layer of the sandbox: a threaded loopback server that hands every request to a
`Responder` (the `SandboxServer`) and writes its answer back, keep-alive and quiet."""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


class Responder(Protocol):
    def respond(
        self, method: str, path: str, query: str, authorization: str | None, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]: ...


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: Responder):
        self.sandbox = sandbox
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self._open_lock:
            (self._open.add if is_open else self._open.discard)(connection)

    def close_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client

    def handle_error(self, request: object, client_address: object) -> None:
        # The default prints the request, whose headers may carry credentials; clients hanging up
        # mid-response are routine and not worth a line at all.
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError):
            sys.stderr.write(f"aircall sandbox: {type(error).__name__} while answering a request\n")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled clients reach hundreds of requests/s
    server_version = "AircallSandbox/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # with keep-alive, Nagle + delayed ACK costs 40 ms per response
    server: HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: access logs would be noise in tests, and nothing here may echo credentials."""

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, headers = self.server.sandbox.respond(
            self.command, path, query, self.headers.get("Authorization"), body
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        # Headers and body leave in one write, so a response is one segment, not two.
        self._headers_buffer.append(b"\r\n" + payload)
        self.flush_headers()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

