"""The approval queue: approve, reassign or reject a held lead.

Matching puts strategic accounts in the queue, and leads whose company size or annual
revenue could not be read as a number (see :func:`leadshare.match.approval_holds`).
"""

from __future__ import annotations

import datetime as dt
import re
import time
import unicodedata
from typing import Literal

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from leadshare.config import Config
from leadshare.errors import ConfigError, LeadshareError, RunLockedError
from leadshare.ids import clean_lead_id, transfer_id_for
from leadshare.match import PartnerState, static_exclusion
from leadshare.model import Outcome
from leadshare.pipeline import load_partner_states
from leadshare.qualify import recheck_waiting
from leadshare.store import LeadStore, StoreTransaction


class ApprovalError(LeadshareError, ValueError):
    """An approval decision cannot be applied."""


class DecisionsNotAppliedError(LeadshareError):
    """Some rows of an approval form were not applied; ``results`` has one line per row.

    The approval flow returns it as the data of its Failed state, because Prefect
    (3.9.1) resolves a Failed state's data into an exception and raises a TypeError
    for any other value.
    """

    def __init__(self, message: str, results: list[str]) -> None:
        super().__init__(message)
        self.results = results

    def __reduce__(self):
        # Prefect pickles a state's data, and the default reduce passes only args.
        return (type(self), (str(self), self.results))


class DecisionRow(BaseModel):
    """A decision on one held lead: approve, reassign to another partner, or reject."""

    # The form's rows are checked one by one when they are applied (see
    # ApprovalDecision), so a blank or misspelt field rejects only its own row.
    # Unknown keys are kept for that check instead of being dropped.
    model_config = ConfigDict(extra="allow")

    lead_id: str = Field(
        default="", description="Id of a held lead, from `leadshare approvals list`"
    )
    # Any text passes here, so that Prefect's parameter check accepts the whole form
    # and a misspelt action rejects only its own row (ApprovalDecision checks it).
    action: str = Field(default="", description="approve, reassign or reject")
    partner_id: str | None = Field(
        default=None,
        description="Required for reassign; blank to approve for the proposed partner",
    )
    approver: str = Field(
        default="", description="Who decides; recorded with the decision"
    )
    note: str = Field(default="", description="Free text recorded with the decision")

    @field_validator("lead_id", "action", "approver", "note", mode="before")
    @classmethod
    def _missing_text_is_blank(cls, value: object) -> object:
        """Take a missing value as blank and a number as text, for the row's own check."""
        if value is None:
            return ""
        if isinstance(value, int | float):
            return str(value)
        return value

    @field_validator("action", mode="before")
    @classmethod
    def _lower_case_action(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""Control characters, and the Unicode line and paragraph separators."""

MAX_APPROVER_LENGTH = 100


class ApprovalDecision(DecisionRow):
    """One approver's decision on one strategic lead, checked."""

    model_config = ConfigDict(extra="forbid")

    lead_id: str = Field(min_length=1)
    action: Literal["approve", "reassign", "reject"]
    approver: str = Field(
        min_length=1, description="Who decides; recorded with the decision"
    )

    @field_validator("lead_id", mode="after")
    @classmethod
    def _clean_lead_id(cls, value: str) -> str:
        cleaned = clean_lead_id(value)
        if not cleaned:
            raise ValueError("a lead id is required, such as L-0123456789abcdef")
        return cleaned

    @field_validator("approver", mode="before")
    @classmethod
    def _strip_approver(cls, value: object) -> object:
        """Strip spaces, so that a blank approver fails the length check."""
        return value.strip() if isinstance(value, str) else value

    @field_validator("approver", mode="after")
    @classmethod
    def _one_line_approver(cls, value: str) -> str:
        """Reject control and format characters.

        A line break would add lines to the audit text, and a format character
        (a zero-width space, a right-to-left override) would make it show another
        name than the one stored.
        """
        if _CONTROL.search(value) or any(
            unicodedata.category(char) == "Cf" for char in value
        ):
            raise ValueError(
                "the approver name contains a line break or another control or "
                "format character (such as a zero-width space); type the name "
                "on one line, in visible characters only"
            )
        if len(value) > MAX_APPROVER_LENGTH:
            raise ValueError(
                f"the approver name is {len(value)} characters long; give at most "
                f"{MAX_APPROVER_LENGTH}"
            )
        return value

    @field_validator("note", mode="after")
    @classmethod
    def _one_line_note(cls, value: str) -> str:
        """Join a note's lines with spaces, as it is shown on one line."""
        return " ".join(_CONTROL.sub(" ", value).split())

    @field_validator("partner_id", mode="before")
    @classmethod
    def _blank_partner_is_none(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @model_validator(mode="after")
    def _reassign_names_partner(self) -> ApprovalDecision:
        if self.action == "reassign" and self.partner_id is None:
            raise ValueError("reassign needs a partner id from partners.yaml")
        return self


def checked_decision(row: DecisionRow) -> ApprovalDecision:
    """Check one form row; raise ApprovalError listing what is wrong with it."""
    unknown = sorted(row.model_extra or {})
    if unknown:
        known = ", ".join(DecisionRow.model_fields)
        raise ApprovalError(
            f"invalid decision: unknown field {', '.join(unknown)}; the fields are "
            f"{known}. Nothing was changed"
        )
    try:
        return ApprovalDecision.model_validate(row.model_dump())
    except ValidationError as exc:
        raise ApprovalError(describe_invalid(exc)) from None


def describe_invalid(exc: ValidationError) -> str:
    """Describe a decision's validation errors by field, without the values typed."""
    problems = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "string_too_short":
            # pydantic's "String should have at least 1 character" means blank.
            message = "is blank; give it"
        field = ".".join(str(part) for part in error["loc"])
        problems.append(f"{field}: {message}" if field else message)
    return "invalid decision: " + "; ".join(problems) + ". Nothing was changed"


def _check_rules(lead: dict, config: Config, now: dt.datetime) -> None:
    """Apply the current exclusions and freshness rule; raise ApprovalError if one fails.

    A lead can wait in the queue for weeks, and the rules can change meanwhile.
    """
    frame = pd.DataFrame([lead]).rename(columns={"country": "country_code"})
    frame["outcome"] = None
    checked = recheck_waiting(frame, config.rules, now).iloc[0]
    if pd.isna(checked["outcome"]):
        return
    raise ApprovalError(
        f"lead {lead['lead_id']} cannot be shared: it fails rule {checked['rule']} "
        f"of rules {config.rules.version} ({checked['reason']}). Reject it instead. "
        "No override exists, so to share it anyway, change that rule in "
        "config/rules.yaml first. Nothing was changed"
    )


def _check_eligible(
    store: LeadStore,
    config: Config,
    lead: dict,
    partner_id: str,
    now: dt.datetime,
) -> None:
    """Apply matching's partner rules to a human's choice; raise ApprovalError if it fails."""
    lead_id = lead["lead_id"]
    (state,) = load_partner_states(store, [config.partner(partner_id)], now)
    reason = _exclusion(lead, state, now)
    if reason:
        raise ApprovalError(
            f"partner {partner_id} cannot take lead {lead_id}: {reason}; choose an "
            "eligible partner (see `leadshare explain`) or decide later"
        )


def _exclusion(lead: dict, state: PartnerState, now: dt.datetime) -> str | None:
    """Return why matching's partner rules exclude ``lead`` from a partner, or None."""
    partner = state.partner
    key = {
        "country_code": (lead.get("country") or "").casefold(),
        "region": (lead.get("region") or "").casefold(),
        "industry": (lead.get("industry") or "").casefold(),
        "product": (lead.get("product") or "").casefold(),
    }
    prefixes = tuple(partner.territory.postcode_prefixes)
    postcode_hit = bool(prefixes) and (lead.get("postcode") or "").startswith(prefixes)
    reason = static_exclusion(state, key, postcode_hit, now)
    if reason is None and state.remaining == 0:
        reason = (
            f"no capacity left ({state.used_today} of {partner.capacity_per_day} "
            f"today, {state.used_week} of {partner.capacity_per_week} this week)"
        )
    return reason


def approval_blockers(
    store: LeadStore, config: Config, rows: list[dict], now: dt.datetime
) -> dict[str, str]:
    """Return why approving each listed lead for its proposed partner fails now.

    ``rows`` are rows of ``pending_approvals``; leads that can be approved are left
    out. The checks are those of :func:`decide`: an opt-out, the current rules, and
    the proposed partner's presence in partners.yaml and eligibility. Reassigning
    may still work where approving does not.
    """
    if not rows:
        return {}
    loaded = load_partner_states(store, config.partners, now)
    states = {state.partner.id: state for state in loaded}
    ids = pd.DataFrame({"lead_id": [row["lead_id"] for row in rows]})
    with store.transaction() as tx, tx.incoming(ids):
        stored = {found["lead_id"]: found for found in tx.rows("approval_check_fields")}
    leads = [stored.get(row["lead_id"], row) for row in rows]
    opted_out = {lead_id for lead_id, found in stored.items() if found["opted_out"]}
    frame = pd.DataFrame(leads).rename(columns={"country": "country_code"})
    frame["outcome"] = None
    checked = recheck_waiting(frame, config.rules, now)
    blockers = {}
    for row, lead, rule in zip(rows, leads, checked["rule"], strict=True):
        proposed = row["proposed_partner"]
        if row["lead_id"] in opted_out:
            blockers[row["lead_id"]] = "the person opted out"
        elif hold := stored.get(row["lead_id"], {}).get("consent_hold"):
            blockers[row["lead_id"]] = f"consent unclear: {hold}"
        elif not pd.isna(rule):
            blockers[row["lead_id"]] = f"fails rule {rule}"
        elif not proposed:
            blockers[row["lead_id"]] = "no proposed partner"
        elif proposed not in states:
            blockers[row["lead_id"]] = f"{proposed} is not in partners.yaml"
        elif reason := _exclusion(lead, states[proposed], now):
            blockers[row["lead_id"]] = reason
    return blockers


def _repeated_decision(
    config: Config, decision: ApprovalDecision, approval: dict
) -> str | None:
    """Describe ``decision`` if it repeats the recorded one, else return None.

    The same approver making the same decision again, as a retried approval flow
    run does, changes nothing and counts as applied. Any other decision on a
    decided lead is rejected by the caller.
    """
    status = "rejected" if decision.action == "reject" else "approved"
    if approval["status"] != status or approval["decided_by"] != decision.approver:
        return None
    partner = ""
    if status == "approved":
        if decision.action == "reassign" or decision.partner_id:
            try:
                expected = config.partner_id_as_configured(decision.partner_id or "")
            except ConfigError:
                return None
        else:
            expected = approval["proposed_partner"]
        if approval["decided_partner"] != expected:
            return None
        partner = f" for {expected}"
    return (
        f"Lead {decision.lead_id} was already {status}{partner} by "
        f"{decision.approver} with this decision; nothing was changed."
    )


def _record_decision(
    tx: StoreTransaction,
    decision: ApprovalDecision,
    status: str,
    partner_id: str | None,
    now: dt.datetime,
) -> None:
    """Record the decision, or raise ApprovalError if another one came first.

    The update matches only a pending approval, so of two decisions made at once
    on PostgreSQL exactly one records and the other rolls back its transaction.
    """
    recorded = tx.rows(
        "decide_approval",
        lead_id=decision.lead_id,
        status=status,
        decided_partner=partner_id,
        decided_by=decision.approver,
        note=decision.note,
        decided_at=now,
    )
    if not recorded:
        raise ApprovalError(
            f"lead {decision.lead_id} was decided by someone else just now; see "
            "`leadshare approvals list` and `leadshare explain`"
        )


def _rejection_reason(decision: ApprovalDecision) -> str:
    note = decision.note.strip()
    if note:
        return f"rejected by {decision.approver}: {note}"
    return f"rejected by {decision.approver}"


def _typed_partner(config: Config, decision: ApprovalDecision) -> str:
    """Return the partner id that the approver typed, as partners.yaml spells it."""
    try:
        return config.partner_id_as_configured(decision.partner_id or "")
    except ConfigError as exc:
        raise ApprovalError(
            f"{exc}. Check the id against config/partners.yaml. The decision on "
            f"lead {decision.lead_id} was not applied"
        ) from None


def _proposed_partner(
    config: Config, decision: ApprovalDecision, proposed: str | None
) -> str:
    """Return the partner that matching proposed for the lead.

    Raise ApprovalError when there is none, or when partners.yaml no longer has it.
    """
    lead_id = decision.lead_id
    if not proposed:
        raise ApprovalError(
            f"lead {lead_id} has no proposed partner. Give it to a partner with "
            f"`leadshare approvals reassign {lead_id} --partner P`"
        )
    if not any(partner.id == proposed for partner in config.partners):
        raise ApprovalError(
            f"lead {lead_id} cannot be approved: its proposed partner {proposed} is "
            "no longer in partners.yaml. Give it to another partner with "
            f"`leadshare approvals reassign {lead_id} --partner P` (action reassign "
            "in the approval form), or reject it. Nothing was changed"
        )
    return proposed


def _check_approved_partner(decision: ApprovalDecision, proposed: str) -> None:
    """Raise ApprovalError when an approval names a partner other than the proposed one.

    An approval gives the lead to its proposed partner. A form row with another
    partner id is ambiguous, so the approver chooses between the two actions.
    """
    typed = (decision.partner_id or "").strip()
    if not typed or typed.casefold() == proposed.casefold():
        return
    raise ApprovalError(
        f"lead {decision.lead_id}: approve gives the lead to its proposed partner "
        f"{proposed}, but partner {typed} was given. To give it to {typed}, use the "
        "action reassign; to approve it for the proposed partner, leave the partner "
        "blank. Nothing was changed"
    )


LOCK_WAIT_S = 5.0
"""Seconds a decision waits while another decision or a run has the run lock."""
LOCK_RETRY_S = 0.25


def pending(store: LeadStore) -> list[dict]:
    return store.rows("pending_approvals")


def decide(
    store: LeadStore,
    config: Config,
    decision: ApprovalDecision,
    run_id: str,
    now: dt.datetime,
) -> str:
    """Apply one decision under the store's run lock; return what happened as a sentence.

    An approval checks and uses a partner's capacity, so it must not overlap a
    sharing run that allocates the same capacity, or another decision. While the
    lock is taken, the decision tries again for up to :data:`LOCK_WAIT_S` seconds,
    so that another approver's decision can finish, and then fails. A run that
    starts during the decision stops at once.
    """
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            with store.exclusive_run(run_id):
                return _apply_decision(store, config, decision, run_id, now)
        except RunLockedError:
            if time.monotonic() < deadline:
                time.sleep(LOCK_RETRY_S)
                continue
            raise ApprovalError(
                f"a sharing run or another approval decision is using store "
                f"{store.url}, so the decision on lead {decision.lead_id} was not "
                "applied. Retry it when the run has finished (`leadshare status` "
                "shows a running sharing run). Nothing was changed"
            ) from None


def _apply_decision(
    store: LeadStore,
    config: Config,
    decision: ApprovalDecision,
    run_id: str,
    now: dt.datetime,
) -> str:
    found = store.rows("approval_by_lead", lead_id=decision.lead_id)
    if not found:
        raise ApprovalError(
            f"lead {decision.lead_id} is not in the approval queue; see `leadshare approvals list`"
        )
    approval = found[0]
    if approval["status"] == "withdrawn":
        raise ApprovalError(
            f"lead {decision.lead_id} needs no decision: it was withdrawn from the "
            "approval queue because the person opted out, so it will not be shared"
        )
    if approval["status"] != "pending":
        repeated = _repeated_decision(config, decision, approval)
        if repeated is not None:
            return repeated
        raise ApprovalError(
            f"lead {decision.lead_id} was already decided: {approval['status']} by {approval['decided_by']}"
        )
    if decision.action == "reject":
        with store.transaction() as tx:
            _record_decision(tx, decision, "rejected", None, now)
            tx.execute(
                "update_row_outcome",
                lead_id=decision.lead_id,
                outcome=Outcome.DISQUALIFIED.value,
                rule="rejected_by_approver",
                reason=_rejection_reason(decision),
            )
        return f"Rejected {decision.lead_id}; it will not be shared."

    opt_out = store.rows("lead_opt_out", lead_id=decision.lead_id)
    if opt_out:
        raise ApprovalError(
            f"lead {decision.lead_id} cannot be shared: the person opted out "
            f"({opt_out[0]['kind']}, {opt_out[0]['source']}); reject it instead"
        )
    hold = store.rows("consent_hold", lead_id=decision.lead_id)
    if hold:
        raise ApprovalError(
            f"lead {decision.lead_id} cannot be shared yet, because its consent is "
            f"unclear: {hold[0]['reason']}"
        )
    rows = store.rows("lead_match_fields", lead_id=decision.lead_id)
    lead = rows[0] if rows else {"lead_id": decision.lead_id}
    _check_rules(lead, config, now)
    if decision.action == "reassign":
        partner_id = _typed_partner(config, decision)
    else:
        partner_id = _proposed_partner(config, decision, approval["proposed_partner"])
        _check_approved_partner(decision, partner_id)
    _check_eligible(store, config, lead, partner_id, now)
    partner = config.partner(partner_id)
    with store.transaction() as tx:
        _record_decision(tx, decision, "approved", partner_id, now)
        tx.execute(
            "add_transfer",
            transfer_id=transfer_id_for(decision.lead_id, partner_id),
            lead_id=decision.lead_id,
            partner_id=partner_id,
            channel=partner.channel,
            created_at=now,
            run_id=run_id,
        )
        tx.execute(
            "update_row_outcome",
            lead_id=decision.lead_id,
            outcome=Outcome.SHARED.value,
            rule="approved",
            reason=f"approved by {decision.approver} for {partner_id}",
        )
    return f"Approved {decision.lead_id} for {partner_id}; the next sharing run delivers it."
