"""A real HTTP server on 127.0.0.1 for tests, able to misbehave on purpose.

Usage::

    with FixtureServer() as server:
        server.add("/a.zip", payload, ranges=False)
        url = server.url("/a.zip")
        ...
        assert server.requests[0].range is None

Each route serves fixed bytes and can ignore Range headers (answer 200 with the whole body),
cut the connection after some bytes, or answer with another status. Every request is logged
with its Range header, status and the number of body bytes actually sent.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class Route:
    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    ranges: bool = True
    # Cut the connection after this many body bytes, for the first ``drop_times`` responses
    # (every response when None); the Content-Length still announces the full body.
    drop_after: int | None = None
    drop_times: int | None = None


@dataclass(frozen=True)
class RequestRecord:
    path: str
    range: str | None
    status: int
    bytes_sent: int


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client hanging up early (it rejected an HTML page, say) is expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FixtureServer:
    """Threaded HTTP server on an ephemeral port; use as a context manager."""

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def add(self, path: str, body: bytes, **behaviour) -> str:
        """Serve ``body`` at ``path``; returns its URL."""
        self.routes[path] = Route(body, **behaviour)
        return self.url(path)

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def requests_for(self, path: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _take_drop(self, route: Route) -> int | None:
        with self._lock:
            if route.drop_after is None:
                return None
            if route.drop_times is None:
                return route.drop_after
            if route.drop_times <= 0:
                return None
            route.drop_times -= 1
            return route.drop_after


def _handler_for(server: FixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # keep test output quiet
            pass

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            range_header = self.headers.get("Range")
            route = server.routes.get(path)
            if route is None:
                self._reply(path, range_header, 404, b"not found", "text/plain")
                return
            body, status, extra = route.body, route.status, {}
            match = _RANGE.match(range_header or "")
            if route.ranges and match and status == 200:
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else len(body) - 1
                if start >= len(body):
                    extra["Content-Range"] = f"bytes */{len(body)}"
                    self._reply(path, range_header, 416, b"", "text/plain", extra)
                    return
                extra["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
                body, status = body[start : end + 1], 206
            self._reply(path, range_header, status, body, route.content_type, extra,
                        server._take_drop(route))

        def _reply(self, path, range_header, status, body, content_type, extra=None,
                   drop_after=None):
            sent = body if drop_after is None else body[:drop_after]
            # Logged before anything goes out: a client that has its answer sees the record.
            server._log(RequestRecord(path, range_header, status, len(sent)))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if server.routes.get(path, Route(b"")).ranges:
                self.send_header("Accept-Ranges", "bytes")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(sent)
            self.wfile.flush()
            if drop_after is not None:
                # An abrupt close mid-body, as when a long transfer's connection breaks.
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler
