"""Hostile or misconfigured webhooks, against real HTTP servers on 127.0.0.1 (issue 16, item 2):
redirects to another host, a trickling answer, an endless body, a connection reset mid-answer,
plain http to a host that is not loopback."""

from __future__ import annotations

import socket
import struct
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

import pytest
from notify_support import event, receiver, scripted

from pipelines.notify.deliver import DeliveryError, Webhook, deliver

SENT_AT = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def with_credentials(url: str) -> str:
    return url.replace("http://", "http://hook:hunter2@") + "/hooks/T0-token"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_a_failed_delivery_and_nothing_reaches_it(status, tmp_path):
    events = [event("breached"), event("at_risk", "latency"), event("budget_exhausted")]
    journal = tmp_path / "notifications.jsonl"
    with receiver() as other:

        def redirect(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(status)
            handler.send_header("Location", f"{other.url}/collect?token=T0-token")
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        with scripted(redirect) as redirecting:
            webhook = Webhook(with_credentials(redirecting.url), timeout=2, backoff=0.01)
            delivery = deliver([(e, webhook) for e in events], journal, SENT_AT)
        assert other.requests == []  # no credentials, no body, nothing
    assert len(redirecting) == 1  # the first event was POSTed; a redirect is final, not retried
    assert redirecting[0]["headers"]["Authorization"].startswith("Basic ")
    assert delivery.delivered == [] and delivery.pending == 3
    assert delivery.failures == [
        f"webhook {redirecting.url}: HTTP {status} redirect to {other.url} not followed (set "
        "the webhook URL to the address that accepts the POST) on attempt 1 of 3, giving up on "
        "breached|acme|avail|2026-11"
    ]
    assert not journal.exists()  # nothing journaled as sent: all three stay pending
    # the URL fixed: the pending events are delivered, each once
    with receiver() as fixed:
        webhook = Webhook(with_credentials(fixed.url), timeout=2, backoff=0.01)
        again = deliver([(e, webhook) for e in events], journal, SENT_AT)
    assert again.delivered == events and again.pending == 0
    assert [body["key"] for body in fixed.bodies] == [e.key for e in events]
    assert len(journal.read_text().splitlines()) == 3


def test_a_trickling_answer_ends_the_attempt_at_its_deadline():
    def trickle(handler: BaseHTTPRequestHandler) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":  # one byte per 0.5 s
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.5)

    with scripted(trickle) as server:
        webhook = Webhook(server.url, timeout=2, attempts=1)
        started = time.monotonic()
        with pytest.raises(DeliveryError, match="no complete answer in 2 s: timed out"):
            webhook.post(event("breached").payload)
        elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 3.0  # the deadline, plus a busy machine's slack (it took 40 s)


def test_an_endless_body_is_read_to_64_kb_only():
    sent = []

    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        while True:  # until the client hangs up
            handler.wfile.write(b"x" * 16384)
            sent.append(16384)

    with scripted(endless) as server:
        # a success, not a timeout: reading stopped at 64 KB, well before the 2 s deadline
        assert Webhook(server.url, timeout=2, attempts=1).post(event("breached").payload) == 1
    assert sum(sent) >= 64 * 1024


def test_a_connection_reset_mid_answer_is_retried_then_reported(tmp_path):
    def reset(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf an ans")
        handler.wfile.flush()
        # SO_LINGER 0: close() sends a TCP reset instead of a clean end
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()

    journal = tmp_path / "notifications.jsonl"
    with scripted(reset) as server:
        webhook = Webhook(server.url, timeout=2, attempts=2, backoff=0.01)
        delivery = deliver([(event("breached"), webhook)], journal, SENT_AT)
    assert len(server) == 2
    assert delivery.delivered == [] and delivery.pending == 1
    (failure,) = delivery.failures
    assert failure.startswith(f"webhook {server.url}: ") and "on attempt 2 of 2" in failure
    assert not journal.exists()


def test_plain_http_is_refused_except_to_loopback(monkeypatch):
    monkeypatch.delenv("PLEDGE_WEBHOOK_ALLOW_HTTP", raising=False)
    refused = Webhook("http://hooks.example.com/T0/secret", timeout=0.2, attempts=1)
    with pytest.raises(DeliveryError) as error:
        refused.post(event("breached").payload)
    assert str(error.value) == (
        "webhook http://hooks.example.com: plain http to a host that is not loopback is "
        "refused (use https, or set PLEDGE_WEBHOOK_ALLOW_HTTP=1)"
    )
    with receiver() as server:  # loopback by name and by address
        for host in ("127.0.0.1", "localhost"):
            url = server.url.replace("127.0.0.1", host)
            assert Webhook(url, timeout=2, attempts=1).post(event("breached").payload) == 1
    monkeypatch.setenv("PLEDGE_WEBHOOK_ALLOW_HTTP", "1")  # allowed: tried (and fails to connect)
    with pytest.raises(DeliveryError) as tried:
        Webhook("http://invalid.invalid/T0", timeout=0.5, attempts=1).post({"key": "k"})
    assert "plain http" not in str(tried.value)
