"""Transfer channels: signed webhooks, file drops, payloads and the retry schedule.

The outbox (records in :mod:`leadshare.store`) decides what to send and records the
outcome; these modules only talk to partners and write files.
"""

from leadshare.transfer.filedrop import (
    append_manual_handoff,
    write_crm_assignments,
    write_partner_csv,
)
from leadshare.transfer.payload import build_payload
from leadshare.transfer.schedule import next_attempt_at
from leadshare.transfer.webhook import (
    DeliveryResult,
    FakeWebhookClient,
    WebhookClient,
    WebhookSender,
)

__all__ = [
    "DeliveryResult",
    "FakeWebhookClient",
    "WebhookClient",
    "WebhookSender",
    "append_manual_handoff",
    "build_payload",
    "next_attempt_at",
    "write_crm_assignments",
    "write_partner_csv",
]
