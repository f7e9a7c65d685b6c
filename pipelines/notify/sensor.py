"""The notification sensor: every minute, the events of the warehouse's current state that were not
sent yet go to each contract's webhook and to the JSON-lines journal, each once.

Running by default: nothing leaves the machine unless a webhook URL is set in the environment
(``PLEDGE_WEBHOOK_URL`` or the variable a contract's ``notifications.webhook_env`` names);
without one, events land in the journal only.

State: the cursor (``events.Sent``) holds what was sent. A tick whose webhook fails after its
retries fails (red in the Dagster UI, with the webhook named by scheme://host only). Dagster
keeps the previous cursor after a failed tick, so the events delivered before the failure are
found again in the journal past the cursor's ``journal_offset``: they are not sent twice, and
the undelivered ones are retried on the next tick.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import dagster as dg
import duckdb

from pipelines.notify.deliver import Webhook, deliver, read_journal
from pipelines.notify.events import Sent, new_events, window_states
from pipelines.resources import PledgeHome
from pipelines.warehouse import query

WINDOWS_SQL = """
SELECT contract_id, objective_id, window_label, window_start, window_end, is_complete,
       attainment, measured, unit, target, budget_remaining, status, as_of
FROM sla.windows
"""

RISK_SQL = """
SELECT contract_id, objective_id, window_label, p_breach, predicted_exhaustion_at
FROM predict.breach_risk
"""


class NotificationDeliveryError(RuntimeError):
    """Some events could not be delivered this tick; they are retried on the next."""


@dg.sensor(
    name="notification_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Sends breached, at_risk, budget_exhausted, recovered and escalated events, each once per "
        "objective window, to the contracts' webhooks and to notifications.jsonl."
    ),
)
def notification_sensor(
    context: dg.SensorEvaluationContext, pledge: PledgeHome
) -> dg.SensorResult | dg.SkipReason:
    settings = pledge.settings
    if not settings.warehouse_path.exists():
        return dg.SkipReason(f"no warehouse at {settings.warehouse_path} yet")
    try:
        with pledge.connect(read_only=True) as con:
            windows, risk = query(con, WINDOWS_SQL), query(con, RISK_SQL)
    except duckdb.CatalogException:
        return dg.SkipReason("the warehouse has no sla.windows or predict.breach_risk yet")
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        return dg.SkipReason("the warehouse is being written (locked); trying again next tick")
    if windows.is_empty():
        return dg.SkipReason("no compliance windows yet")

    contracts, _ = pledge.contracts()
    sent = Sent.from_cursor(context.cursor)
    journal = settings.notifications_file
    told_since, sent.journal_offset = read_journal(journal, sent.journal_offset)
    sent.record_journal(told_since)
    as_of = windows["as_of"].max()
    now = datetime.now(UTC)
    events = new_events(
        window_states(windows, risk, contracts, as_of), contracts, sent, now, settings.reports_dir
    )

    webhooks = {
        contract.id: Webhook.from_environment(contract.notifications.webhook_env)
        for contract in contracts
    }
    for contract in contracts:
        if webhooks[contract.id] is None and any(
            event.payload["contract_id"] == contract.id for event in events
        ):
            context.log.info(
                f"{contract.id}: {contract.notifications.webhook_env} is not set; "
                "its events go to the journal only"
            )
    delivery = deliver(
        [(event, webhooks[event.payload["contract_id"]]) for event in events],
        journal,
        now,
        context.log,
    )
    if delivery.failures:
        raise NotificationDeliveryError(
            f"{delivery.pending} of {len(events)} notifications not delivered, retried next tick "
            f"({len(delivery.delivered)} delivered and journalled): " + "; ".join(delivery.failures)
        )
    for event in delivery.delivered:
        sent.record(event, now)
    sent.journal_offset = journal.stat().st_size if journal.exists() else 0
    sent.prune(as_of)
    counts = Counter(event.payload["event"] for event in delivery.delivered)
    summary = ", ".join(f"{count} {name}" for name, count in sorted(counts.items()))
    return dg.SensorResult(
        cursor=sent.to_cursor(),
        skip_reason=dg.SkipReason(
            f"sent {summary} (data as of {as_of:%Y-%m-%d %H:%M} UTC)"
            if events
            else "no new notifications"
        ),
    )
