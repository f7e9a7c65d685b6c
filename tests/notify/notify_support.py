"""A real webhook receiver for the notify tests (http.server on 127.0.0.1, in a thread), and\nthe events they send."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipelines.notify.events import Event


@dataclass
class Receiver:
    """What the server got: every request (path, headers, JSON body), and what it answers:
    ``failures`` 500s first (or forever with ``always_fail``), then ``answer``, after ``delay``
    seconds each."""

    port: int = 0
    failures: int = 0
    always_fail: bool = False
    delay: float = 0.0
    answer: int = 200
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bodies(self) -> list[dict]:
        """The JSON of the requests answered 200."""
        return [request["body"] for request in self.requests if request["status"] == 200]


@contextmanager
def receiver(**answers) -> Iterator[Receiver]:
    """A running receiver; shut down on exit."""
    state = Receiver(**answers)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(state.delay)
            with state.lock:
                failing = state.always_fail or state.failures > 0
                state.failures -= 1
                status = 500 if failing else state.answer
                state.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                        "status": status,
                    }
                )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def event(name: str, objective: str = "avail") -> Event:
    window = f"acme|{objective}|2026-11"
    payload = {
        "key": f"{name}|{window}",
        "event": name,
        "objective_id": objective,
        "window_end": "2026-12-01T00:00:00+00:00",
        "attainment": 0.985,
    }
    return Event(name, window, datetime(2026, 12, 1, tzinfo=UTC), payload)


@contextmanager
def scripted(answer: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[list[dict]]:
    """A server whose every POST is answered by ``answer(handler)`` (which writes raw bytes to
    ``handler.wfile``); yields the requests it got (path, headers), its URL in ``.url``."""

    class Requests(list):
        url = ""

    requests = Requests()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            requests.append({"path": self.path, "headers": dict(self.headers)})
            with contextlib.suppress(OSError):  # the client hung up
                answer(self)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    requests.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
