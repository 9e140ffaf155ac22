"""The canonical lead record that every source profile maps onto.

All fields are text at intake. Typed values (scores, dates, flags) are parsed in later
stages, so a bad value becomes a recorded reason instead of a crashed file.
"""

from __future__ import annotations

from enum import StrEnum

LEAD_FIELDS: tuple[str, ...] = (
    "external_id",
    "email",
    "first_name",
    "last_name",
    "company",
    "job_title",
    "phone",
    "country",
    "region",
    "postcode",
    "city",
    "industry",
    "product",
    "company_size",
    "annual_revenue",
    "lead_source",
    "engagement",
    "last_activity",
    "last_activity_at",
    "consent_share",
    "consent_source",
    "consent_at",
    "do_not_email",
    "do_not_call",
    "status",
    "unsubscribed_at",
    "website",
    "notes",
)

INTAKE_ONLY_FIELDS = frozenset(
    {"last_activity", "do_not_email", "do_not_call", "status", "unsubscribed_at"}
)
"""Raw lead fields that no partner receives: qualification and consent read them."""

SPACING_KEPT_FIELDS = frozenset({"notes", "external_id"})
"""Lead fields whose inner white space intake keeps: the lines of notes, and ids.

Intake trims the ends of every field. In every other field it also turns each run
of white space, line breaks included, into one space.
"""

STORED_FIELDS: tuple[str, ...] = (
    *(name for name in LEAD_FIELDS if name not in INTAKE_ONLY_FIELDS),
    "phone_e164",
    "score",
)
"""Lead fields kept in the ``leads`` table that a partner may receive.

In this table ``country`` is the ISO code, which the batch frame names ``country_code``.
"""

ROW_COLUMN = "_row"
"""Data row number in the source file, 1-based, header not counted."""

RECORD_COLUMN = "_record"
"""Raw text of a malformed record (None on other rows), read for opt-outs."""


class Outcome(StrEnum):
    """The one recorded end state of every input row."""

    SHARED = "shared"
    AWAITING_APPROVAL = "awaiting_approval"
    DUPLICATE = "duplicate"
    SUPPRESSED = "suppressed"
    DISQUALIFIED = "disqualified"
    NO_ELIGIBLE_PARTNER = "no_eligible_partner"
    QUARANTINED = "quarantined"


class TransferStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    WAITING_ENDPOINT = "waiting_endpoint"
