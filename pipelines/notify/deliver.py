"""Delivering events: POST to a webhook (timeout, retries with exponential backoff) and append to
the JSON-lines journal (``PLEDGE_HOME/notifications.jsonl``, one delivered event per line).

A webhook URL is a secret (tokens sit in its path, query or userinfo): logs and errors name it by
``scheme://host[:port]`` only. Userinfo in the URL is sent as HTTP basic authentication.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pipelines.notify.events import Event

LOG = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP answers worth another try; any other 4xx is final."""


class DeliveryError(RuntimeError):
    """A webhook refused or did not answer after its last attempt (the message holds no secret)."""


def redact(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what may be logged of a webhook."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True)
class Webhook:
    """A webhook: ``attempts`` tries of ``timeout`` seconds each, waiting ``backoff`` seconds
    after the first failure and twice as long after each next one."""

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
        last attempt failed, or at once on a final refusal (a 4xx other than 408/425/429)."""
        request = self._request(payload)
        wait, attempt = self.backoff, 0
        while True:
            attempt += 1
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                return attempt
            except urllib.error.HTTPError as error:
                error.close()
                problem, final = f"HTTP {error.code}", error.code not in RETRIED_STATUSES
            except urllib.error.URLError as error:
                problem, final = self._scrubbed(error.reason), False
            except (OSError, http.client.HTTPException) as error:
                problem, final = self._scrubbed(error), False
            if final or attempt >= self.attempts:
                raise DeliveryError(
                    f"webhook {self.name}: {problem} on attempt {attempt} of {self.attempts}, "
                    f"giving up on {payload.get('key', 'the event')}"
                )
            log.warning(
                f"webhook {self.name}: {problem} on attempt {attempt} of {self.attempts}; "
                f"retrying in {wait:g} s"
            )
            time.sleep(wait)
            wait *= 2

    def _request(self, payload: dict) -> urllib.request.Request:
        parts = urlsplit(self.url)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "pledge-notifications",
            "Idempotency-Key": str(payload.get("key", "")),
        }
        if parts.username is not None:
            secret = f"{parts.username}:{parts.password or ''}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(secret).decode()}"
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            parts = parts._replace(netloc=netloc)
        body = json.dumps(payload).encode()
        return urllib.request.Request(urlunsplit(parts), data=body, headers=headers, method="POST")

    def _scrubbed(self, reason: object) -> str:
        """An error's text with every part of the URL beyond scheme://host cut out."""
        text = str(reason) or type(reason).__name__
        parts = urlsplit(self.url)
        secrets = [self.url, parts.path, parts.query, parts.username, parts.password]
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
