"""The contract's ``notifications`` block: defaults, and file:line errors that keep URLs out."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.contracts.loader import ContractError, load_contract
from pipelines.settings import REPO_ROOT

CONTRACT = """\
id: tiny
title: Tiny
provider: P
consumer: C
owners: [{name: Ops, email: ops@example.com}, {name: Board}]
escalation: [{level: 1, contact: duty@example.com, after: 30m}]
services: [{id: api}]
objectives:
  - {id: avail, service: api, sli: {kind: availability}, target: 99.9%}
"""


def load(tmp_path: Path, extra: str = ""):
    path = tmp_path / "tiny.yaml"
    path.write_text(CONTRACT + extra)
    return load_contract(path)


def problems(tmp_path: Path, extra: str) -> list[str]:
    with pytest.raises(ContractError) as error:
        load(tmp_path, extra)
    return [str(problem) for problem in error.value.problems]


def test_defaults_notify_the_owners_through_pledge_webhook_url(tmp_path):
    contract = load(tmp_path)
    assert contract.notifications.webhook_env == "PLEDGE_WEBHOOK_URL"
    assert contract.recipients == ["ops@example.com"]


def test_recipients_and_webhook_variable(tmp_path):
    contract = load(
        tmp_path, "notifications: {recipients: [a@example.com, '#sla'], webhook_env: ACME_HOOK}\n"
    )
    assert contract.recipients == ["a@example.com", "#sla"]
    assert contract.notifications.webhook_env == "ACME_HOOK"


def test_a_url_instead_of_a_variable_name_is_refused_without_echoing_it(tmp_path):
    found = problems(
        tmp_path, "notifications:\n  webhook_env: https://hooks.example.com/T0/s3cr3t\n"
    )
    assert found == [
        f"{tmp_path / 'tiny.yaml'}:11: notifications.webhook_env: not an environment variable "
        "name: give the name of the variable holding the webhook URL (e.g. PLEDGE_WEBHOOK_URL), "
        "never the URL itself"
    ]
    assert "s3cr3t" not in found[0]


def test_unknown_fields_and_bad_recipients_point_at_their_lines(tmp_path):
    found = problems(tmp_path, "notifications:\n  recipients: ops@example.com\n  webhook: X\n")
    assert found == [
        f"{tmp_path / 'tiny.yaml'}:11: notifications.recipients: Input should be a valid list",
        f"{tmp_path / 'tiny.yaml'}:12: notifications.webhook: Extra inputs are not permitted",
    ]


def test_every_example_contract_says_who_is_notified():
    for path in sorted((REPO_ROOT / "examples" / "contracts").glob("*.yaml")):
        contract = load_contract(path)
        assert "notifications" in contract.model_fields_set, path.name
        assert contract.recipients, path.name
