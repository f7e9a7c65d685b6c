"""Delivering events: POST to a webhook (a deadline per attempt, retries with exponential
backoff) and append to the JSON-lines journal (``PLEDGE_HOME/notifications.jsonl``, one
delivered event per line).

A webhook URL is a secret (tokens sit in its path, query or userinfo): logs and errors name it by
``scheme://host[:port]`` only. Userinfo in the URL is sent as HTTP basic authentication, to the
URL's origin only. HTTP goes through ``pipelines.http``: a redirect is never followed (it fails
the delivery, whose message says to fix the URL), each attempt ends within ``timeout`` seconds
whatever the server does, and at most ``MAX_ANSWER_BYTES`` of an answer are read. Plain ``http``
is refused except to a loopback host, unless ``PLEDGE_WEBHOOK_ALLOW_HTTP=1``.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from pipelines import http
from pipelines.notify.events import Event

LOG = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP answers worth another try; any other 4xx is final."""

MAX_ANSWER_BYTES = 64 * 1024
"""Of a webhook's answer at most this much is read (only its status matters)."""

ALLOW_HTTP = "PLEDGE_WEBHOOK_ALLOW_HTTP"


class DeliveryError(RuntimeError):
    """A webhook refused or did not answer after its last attempt (the message holds no secret)."""


def redact(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what may be logged of a webhook."""
    try:
        return http.origin(httpx.URL(url))
    except httpx.InvalidURL:
        return "(an invalid URL)"


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Webhook:
    """A webhook: ``attempts`` tries of at most ``timeout`` seconds each, waiting ``backoff``
    seconds after the first failure and twice as long after each next one."""

    url: str = field(repr=False)
    timeout: float = 5.0
    attempts: int = 3
    backoff: float = 1.0

    @classmethod
    def from_environment(cls, variable: str) -> Webhook | None:
        """The webhook whose URL is in the environment variable ``variable`` (None when unset);
        PLEDGE_WEBHOOK_TIMEOUT, PLEDGE_WEBHOOK_ATTEMPTS and PLEDGE_WEBHOOK_BACKOFF tune it."""
        url = os.environ.get(variable, "").strip()
        if not url:
            return None

        def setting(name: str, kind: type, default: float) -> float:
            value = os.environ.get(name, "").strip()
            try:
                number = kind(value) if value else default
            except ValueError:
                raise ValueError(f"{name}={value!r} is not a number") from None
            if number < 0 or (kind is int and number < 1):
                raise ValueError(f"{name}={value!r} is out of range")
            return number

        return cls(
            url,
            timeout=setting("PLEDGE_WEBHOOK_TIMEOUT", float, cls.timeout),
            attempts=setting("PLEDGE_WEBHOOK_ATTEMPTS", int, cls.attempts),
            backoff=setting("PLEDGE_WEBHOOK_BACKOFF", float, cls.backoff),
        )

    @property
    def name(self) -> str:
        return redact(self.url)

    def post(self, payload: dict, log: logging.Logger | logging.LoggerAdapter = LOG) -> int:
        """POST ``payload`` as JSON; returns the attempts it took. Raises DeliveryError once the
        last attempt failed, or at once on a final refusal (a redirect, a 4xx other than
        408/425/429, a URL that may not be used)."""
        target, authorization = self._target()
        headers = {
            "User-Agent": "pledge-notifications",
            "Idempotency-Key": str(payload.get("key", "")),
        }
        wait, attempt = self.backoff, 0
        with http.client(target, authorization) as client:
            while True:
                attempt += 1
                problem, final = self._attempt(client, target, payload, headers)
                if problem is None:
                    return attempt
                if final or attempt >= self.attempts:
                    raise DeliveryError(
                        f"webhook {self.name}: {problem} on attempt {attempt} of "
                        f"{self.attempts}, giving up on {payload.get('key', 'the event')}"
                    )
                log.warning(
                    f"webhook {self.name}: {problem} on attempt {attempt} of {self.attempts}; "
                    f"retrying in {wait:g} s"
                )
                time.sleep(wait)
                wait *= 2

    def _attempt(
        self, client: httpx.Client, target: httpx.URL, payload: dict, headers: dict
    ) -> tuple[str | None, bool]:
        """One POST: (None, _) when accepted, else (what went wrong, whether it is final)."""
        try:
            answer = http.fetch(
                client,
                "POST",
                target,
                self.timeout,
                MAX_ANSWER_BYTES,
                json=payload,
                headers=headers,
            )
        except http.DeadlineExceeded as error:
            return str(error), False
        except httpx.TransportError as error:
            return self._scrubbed(error), False
        if answer.redirect is not None:
            return (
                f"HTTP {answer.status} redirect to {answer.redirect} not followed "
                "(set the webhook URL to the address that accepts the POST)",
                True,
            )
        if 200 <= answer.status < 300:
            return None, True
        return f"HTTP {answer.status}", answer.status not in RETRIED_STATUSES

    def _target(self) -> tuple[httpx.URL, str | None]:
        """The URL without its userinfo and the basic-auth header made of it; raises
        DeliveryError for a URL that may not be used."""
        try:
            url = httpx.URL(self.url)
        except httpx.InvalidURL as error:
            raise DeliveryError(f"webhook {self.name}: not a URL ({error})") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise DeliveryError(f"webhook {self.name}: not an http(s) URL")
        if (
            url.scheme == "http"
            and not is_loopback(url.host)
            and os.environ.get(ALLOW_HTTP, "").strip() != "1"
        ):
            raise DeliveryError(
                f"webhook {self.name}: plain http to a host that is not loopback is refused "
                f"(use https, or set {ALLOW_HTTP}=1)"
            )
        authorization = None
        if url.username or url.password:
            secret = f"{url.username}:{url.password}".encode()
            authorization = f"Basic {base64.b64encode(secret).decode()}"
        return url.copy_with(username=None, password=None), authorization

    def _scrubbed(self, reason: object) -> str:
        """An error's text with every part of the URL beyond scheme://host cut out."""
        text = str(reason) or type(reason).__name__
        url = httpx.URL(self.url)
        secrets = [
            self.url,
            url.path,
            url.query.decode(),
            url.username,
            url.password,
            url.raw_path.decode(),
        ]
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            if len(secret) > 1:
                text = text.replace(secret, "***")
        return text


@dataclass
class Delivery:
    """The outcome of delivering a batch: the events delivered, and one message per webhook
    that failed (the events behind it stay undelivered)."""

    delivered: list[Event] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    pending: int = 0


def deliver(
    batch: Sequence[tuple[Event, Webhook | None]],
    journal: Path,
    sent_at: datetime,
    log: logging.Logger | logging.LoggerAdapter = LOG,
) -> Delivery:
    """POST each event to its webhook (None: no webhook, the journal only), then append it to
    ``journal``. After a webhook fails, its remaining events wait for the next call."""
    delivery = Delivery()
    broken: set[str] = set()
    for event, webhook in batch:
        if webhook is not None:
            if webhook.url in broken:
                delivery.pending += 1
                continue
            try:
                attempts = webhook.post(event.payload, log)
            except DeliveryError as error:
                broken.add(webhook.url)
                delivery.failures.append(str(error))
                delivery.pending += 1
                continue
            log.info(f"sent {event.key} to webhook {webhook.name} ({attempts} attempt(s))")
        append_journal(journal, event, sent_at, webhook)
        delivery.delivered.append(event)
    return delivery


def append_journal(journal: Path, event: Event, sent_at: datetime, webhook: Webhook | None) -> None:
    """One line: the event's payload, ``sent_at`` and the webhook (scheme://host, or null)."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    line = {**event.payload, "sent_at": sent_at.isoformat(), "webhook": webhook and webhook.name}
    with journal.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def read_journal(journal: Path, offset: int) -> tuple[list[dict], int]:
    """The journal's complete lines from byte ``offset`` (from the start when the file is
    shorter, i.e. was replaced), and the offset after the last of them."""
    if not journal.exists():
        return [], 0
    with journal.open("rb") as lines:
        lines.seek(0, os.SEEK_END)
        if lines.tell() < offset:
            offset = 0
        lines.seek(offset)
        text = lines.read()
    complete = text[: text.rfind(b"\n") + 1]
    entries = []
    for line in complete.splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            LOG.warning(f"{journal}: skipped a line that is not JSON")
    return entries, offset + len(complete)
