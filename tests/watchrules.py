"""A detection rule set for the watch's tests, and the probing that makes it fire."""

from __future__ import annotations

import contextlib

from coffre import records
from coffre.access import AccessDenied, Purpose
from coffre.bootstrap import Coffre
from coffre.identity import Actor

# Three refused reads of patient data by one actor within five minutes: suspend the account.
PROBING = """
title: Denied reads of patient data
name: denied_read
logsource: {product: coffre, service: journal}
detection:
  read:
    action|endswith: ':read'
    subject: [patient, record, document]
  denied:
    decision: deny
  condition: read and denied
---
title: Probing, one actor denied again and again
name: probing
level: high
correlation:
  type: event_count
  rules: denied_read
  group-by: actor_id
  timespan: 5m
  condition: {gte: 3}
coffre:
  response: suspend-account
"""


def probe(coffre: Coffre, actor: Actor, patient_id: str, times: int) -> None:
    """Try to read the patient `times` times as `actor`, refused or not."""
    for _ in range(times):
        with contextlib.suppress(AccessDenied):
            records.read_patient(coffre.uow(), coffre.vault, actor, patient_id, Purpose.CARE)
