"""The one HTTP setup of Pledge's clients (webhooks, Prometheus pulls), on httpx.

- Redirects are never followed: a 3xx is the caller's to report (``Answer.redirect``).
- Credentials go to the configured origin only (``OriginAuth``), never to another host.
- An attempt ends within its deadline whatever the server does (``fetch``): connecting, sending,
  and every byte of the answer, headers included. A per-read timeout would let a server that
  trickles one byte per second hold an attempt for ever; here a timer shuts the connection's
  socket down when the deadline passes, and the body is read in chunks against a monotonic
  clock. Connections are therefore not kept alive (``LIMITS``): each attempt has its own socket.
- At most ``max_bytes`` of a body are read (``Answer.complete`` says whether that was all).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

logging.getLogger("httpx").setLevel(logging.WARNING)
"""httpx logs every request's full URL at INFO: a webhook's URL is a secret (its token)."""

LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=0)
"""No connection outlives its attempt, so the deadline timer owns the socket it shuts down."""


class DeadlineExceeded(httpx.TimeoutException):
    """An attempt that had no complete answer within its deadline."""


def origin(url: httpx.URL) -> str:
    """``scheme://host[:port]`` of ``url``: what may be logged of it (no path, query or user)."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


class OriginAuth(httpx.Auth):
    """Sets ``Authorization`` on requests to the configured origin only."""

    def __init__(self, url: httpx.URL, header: str):
        self.origin, self.header = (url.scheme, url.host, url.port), header

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        if (request.url.scheme, request.url.host, request.url.port) == self.origin:
            request.headers["Authorization"] = self.header
        yield request


def client(
    base_url: str | httpx.URL = "",
    authorization: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client: no redirects followed, no keep-alive (proxies from the environment, as
    httpx reads them), ``authorization`` (a full header value) sent to ``base_url``'s origin only
    (``transport``: httpx's own by default; tests may pass another)."""
    base = httpx.URL(base_url)
    return httpx.Client(
        base_url=base,
        follow_redirects=False,
        auth=OriginAuth(base, authorization) if authorization else None,
        limits=LIMITS,
        transport=transport,
    )


@dataclass(frozen=True)
class Answer:
    """One attempt's answer: status, headers, the body's first ``max_bytes`` and whether the
    body was complete within them."""

    status: int
    headers: httpx.Headers
    body: bytes
    complete: bool
    url: httpx.URL

    @property
    def redirect(self) -> str | None:
        """The origin a 3xx answer points to (None for any other answer)."""
        if not 300 <= self.status < 400:
            return None
        location = self.headers.get("location", "")
        try:
            return origin(self.url.join(location))
        except httpx.InvalidURL:
            return "an invalid location"


def fetch(
    http: httpx.Client,
    method: str,
    url: str | httpx.URL,
    deadline: float,
    max_bytes: int,
    **request: object,
) -> Answer:
    """One attempt of ``method url`` that ends within ``deadline`` seconds in total: raises
    DeadlineExceeded past it, another httpx.TransportError when the connection fails. Reads at
    most ``max_bytes`` of the body (``request``: httpx's content, json, params, headers)."""
    started = time.monotonic()
    sockets: list[socket.socket] = []

    def trace(event: str, info: dict) -> None:
        if event == "connection.connect_tcp.complete":
            raw = info["return_value"].get_extra_info("socket")
            if raw is not None:
                sockets.append(raw)

    def cut() -> None:
        for raw in sockets:
            with contextlib.suppress(OSError):  # already closed
                raw.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(deadline, cut)
    timer.daemon = True
    timer.start()
    try:
        built = http.build_request(
            method, url, timeout=deadline, extensions={"trace": trace}, **request
        )
        response = http.send(built, stream=True)
        try:
            chunks, size, complete = [], 0, True
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    complete = False
                    break
                if time.monotonic() - started > deadline:
                    raise DeadlineExceeded(f"no complete answer in {deadline:g} s: timed out")
        finally:
            response.close()
    except httpx.TransportError as error:
        if time.monotonic() - started >= deadline and not isinstance(error, DeadlineExceeded):
            raise DeadlineExceeded(f"no complete answer in {deadline:g} s: timed out") from None
        raise
    finally:
        timer.cancel()
    return Answer(
        response.status_code, response.headers, b"".join(chunks)[:max_bytes], complete, built.url
    )
