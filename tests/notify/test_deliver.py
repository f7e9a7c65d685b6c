"""Delivery against a real HTTP server on localhost: once each, retries, secrets kept out."""

from __future__ import annotations

import base64
import json
import logging
import socket
from datetime import UTC, datetime

import pytest
from notify_support import event, receiver

from pipelines.notify.deliver import (
    DeliveryError,
    Webhook,
    deliver,
    read_journal,
    redact,
)

SENT_AT = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
SECRETS = ("s3cr3t-path-token", "query-key-42", "hunter2")


def secret_url(base: str) -> str:
    """``base`` with a token in the path, a key in the query and a password in the userinfo."""
    return base.replace("http://", "http://hook:hunter2@") + (
        "/hooks/s3cr3t-path-token?key=query-key-42"
    )


def quick(url: str, attempts: int = 3) -> Webhook:
    return Webhook(url, timeout=2.0, attempts=attempts, backoff=0.01)


def test_redact_keeps_scheme_host_and_port_only():
    assert redact(secret_url("http://127.0.0.1:8080")) == "http://127.0.0.1:8080"
    assert redact("https://hooks.slack.com/services/T0/B0/XYZ") == "https://hooks.slack.com"


def test_each_event_received_once_with_its_json_and_journalled(tmp_path):
    events = [event("breached"), event("budget_exhausted"), event("at_risk", "latency")]
    journal = tmp_path / "notifications.jsonl"
    with receiver() as server:
        webhook = quick(secret_url(server.url))
        delivery = deliver([(e, webhook) for e in events], journal, SENT_AT)
    assert delivery.delivered == events and delivery.failures == [] and delivery.pending == 0
    assert server.bodies == [e.payload for e in events]
    first = server.requests[0]
    assert first["path"] == "/hooks/s3cr3t-path-token?key=query-key-42"
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["headers"]["Idempotency-Key"] == "breached|acme|avail|2026-11"
    assert (
        first["headers"]["Authorization"] == "Basic " + base64.b64encode(b"hook:hunter2").decode()
    )
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert lines == [
        {**e.payload, "sent_at": "2026-11-20T08:30:00+00:00", "webhook": server.url} for e in events
    ]
    assert read_journal(journal, 0) == (lines, journal.stat().st_size)


def test_server_failing_twice_then_succeeding_gets_it_on_the_third_attempt(caplog):
    caplog.set_level(logging.INFO)
    with receiver(failures=2) as server:
        attempts = quick(secret_url(server.url)).post(event("breached").payload)
    assert attempts == 3
    assert [r["status"] for r in server.requests] == [500, 500, 200]
    assert server.bodies == [event("breached").payload]
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert retries == [
        f"webhook {server.url}: HTTP 500 on attempt 1 of 3; retrying in 0.01 s",
        f"webhook {server.url}: HTTP 500 on attempt 2 of 3; retrying in 0.02 s",
    ]


def test_server_always_failing_gives_a_clear_error_without_the_secret(caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    journal = tmp_path / "notifications.jsonl"
    events = [event("breached"), event("at_risk", "latency")]
    with receiver(always_fail=True) as server:
        webhook = quick(secret_url(server.url), attempts=4)
        with pytest.raises(DeliveryError) as error:
            webhook.post(events[0].payload)
        delivery = deliver([(e, webhook) for e in events], journal, SENT_AT)
    assert str(error.value) == (
        f"webhook {server.url}: HTTP 500 on attempt 4 of 4, "
        "giving up on breached|acme|avail|2026-11"
    )
    # 4 attempts for the direct post, 4 for the batch's first event; the second waits
    assert len(server.requests) == 8
    assert delivery.delivered == [] and delivery.pending == 2
    assert delivery.failures == [str(error.value)]
    assert not journal.exists()
    told = caplog.text + str(error.value) + " ".join(delivery.failures)
    assert all(secret not in told for secret in SECRETS)


def test_a_final_refusal_is_not_retried():
    refusal = pytest.raises(DeliveryError, match="HTTP 404 on attempt 1 of 3")
    with receiver(answer=404) as server, refusal:
        quick(server.url).post(event("breached").payload)
    assert len(server.requests) == 1


def test_timeouts_and_refused_connections_are_retried_then_reported(caplog):
    with receiver(delay=1.0) as server:
        slow = Webhook(secret_url(server.url), timeout=0.2, attempts=2, backoff=0.01)
        with pytest.raises(DeliveryError, match="timed out on attempt 2 of 2"):
            slow.post(event("breached").payload)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(DeliveryError, match="[Cc]onnection refused on attempt 2 of 2") as error:
        quick(secret_url(closed), attempts=2).post(event("breached").payload)
    assert all(secret not in caplog.text + str(error.value) for secret in SECRETS)


def test_webhook_from_environment(monkeypatch):
    monkeypatch.delenv("ACME_HOOK", raising=False)
    assert Webhook.from_environment("ACME_HOOK") is None
    monkeypatch.setenv("ACME_HOOK", "https://hooks.example.com/T0/secret")
    monkeypatch.setenv("PLEDGE_WEBHOOK_ATTEMPTS", "5")
    webhook = Webhook.from_environment("ACME_HOOK")
    assert (webhook.attempts, webhook.timeout, webhook.backoff) == (5, 5.0, 1.0)
    assert "secret" not in repr(webhook)
    monkeypatch.setenv("PLEDGE_WEBHOOK_ATTEMPTS", "three")
    with pytest.raises(ValueError, match="PLEDGE_WEBHOOK_ATTEMPTS='three' is not a number"):
        Webhook.from_environment("ACME_HOOK")
