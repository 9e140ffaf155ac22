"""Explain in words why a lead ended where it did."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

from leadshare.config import Partner, Rules, ScoreRule
from leadshare.intake import JSONL_SUFFIXES
from leadshare.match import W_LOAD, W_PERFORMANCE, W_TIER
from leadshare.replacement import REPLACED_RULE
from leadshare.store import LeadStore
from leadshare.words import counted, utc_text

MISSING_COUNTRY = "country (missing) is outside territory"
"""The start of the exclusion reason of a partner with a country list, for a lead
that has no country."""

DEFAULT_FRESHNESS_DAYS = 30
"""The days a lead with no partner is offered again when rules.yaml sets none."""


def explain_lead(
    store: LeadStore,
    lead_id: str,
    rules: Rules | None = None,
    partners: list[Partner] | None = None,
    now: dt.datetime | None = None,
) -> list[str]:
    """Return the explanation of ``lead_id`` as lines of text.

    ``rules`` are the current rules from rules.yaml. With them, the lines name the
    score rules and the freshness window in days. Without them, they name the
    settings only. With ``partners`` from partners.yaml, a pending transfer to a
    partner that is missing there or inactive at ``now`` gets a line with the cause.
    """
    rows = store.rows("explain_lead", lead_id=lead_id)
    if not rows:
        return [
            f"No lead {lead_id or '(empty id)'} is recorded. Lead ids look like "
            "L-0123456789abcdef: "
            "take one from `leadshare approvals list`, a partner file under outbox/, "
            "or the lead_id column of row_outcomes in the store."
        ]
    approvals = store.rows("approval_by_lead", lead_id=lead_id)
    approval = approvals[0] if approvals else None
    lines = []
    for row in rows:
        where = f"row {row['source_row']} of {row['file_name']} (profile {row['profile']}, run {row['run_id']})"
        replaced = row["linked_lead_id"] != lead_id
        if row["outcome"] == "duplicate" and not replaced:
            lines.append(_duplicate_line(row, where))
            continue
        lines.append(f"Lead {lead_id} comes from {where}.")
        lines.append(_outcome_line(row, approval))
        if row["rule"] == "score_below_threshold":
            lines.extend(_score_rule_lines(rules, stored=row["score"] is not None))
        if row["outcome"] == "no_eligible_partner":
            lines.append(_offered_again_line(rules))
        if row["outcome"] == "duplicate":
            lines.append(
                f"This lead no longer waits for a partner; `leadshare explain "
                f"{row['linked_lead_id']}` shows the lead that replaced it."
            )
        if row["score"] is not None:
            lines.append(
                f"Score {row['score']:g}; country {row['country'] or '-'}, industry {row['industry'] or '-'}, product {row['product'] or '-'}."
            )
        if (
            row["group_id"]
            and row["outcome"] == "disqualified"
            and row["rule"] != "rejected_by_approver"
        ):
            # Only a lead that waited for a partner has a decision and then a rule.
            lines.append(
                "A later run checked this waiting lead against the rules in force "
                "then, and it failed the rule above. The decision below is from "
                "when the lead waited for a partner."
            )
        if row["group_id"]:
            lines.extend(_decision_lines(row, approval))
    if approval is not None:
        lines.append(_approval_line(approval))
    disabled = {row["partner_id"]: row for row in store.rows("disabled_endpoints")}
    for transfer in store.rows("lead_transfers", lead_id=lead_id):
        lines.append(
            f"Transfer {transfer['transfer_id']} to {transfer['partner_id']} via {transfer['channel']}: "
            f"{transfer['status']} after {counted(transfer['attempts'], 'attempt')} "
            "in all runs"
            + (
                f"; error of the last send: {transfer['last_error']}"
                if transfer["last_error"]
                else "."
            )
        )
        if transfer["status"] != "pending":
            continue
        endpoint = disabled.get(transfer["partner_id"])
        if endpoint is not None:
            lines.append(_disabled_endpoint_line(endpoint))
        if partners is not None:
            lines.extend(_partner_wait_lines(transfer["partner_id"], partners, now))
    lines.extend(_opt_out_lines(store, lead_id, rows))
    lines.extend(_row_number_lines(row["file_name"] for row in rows))
    return lines


KEY_WORDS = {"email": "e-mail", "phone": "phone", "external_id": "source id"}
"""The words for each kind of suppression key."""


def _opt_out_lines(store: LeadStore, lead_id: str, rows: list[dict]) -> list[str]:
    """Say when the person opted out, for a lead whose rows do not say so already.

    The opt-out may have come after the lead was shared. Its partner then has
    the data of a person who opted out, and someone must tell the partner.
    """
    if all(row["outcome"] == "suppressed" for row in rows):
        return []
    found = store.rows("lead_opt_out", lead_id=lead_id)
    if not found:
        return []
    entry = found[0]
    key = KEY_WORDS.get(entry["kind"], "key")
    line = (
        f"The person opted out later: the {key} of this lead went on the "
        f"suppression list on {utc_text(entry['suppressed_at'])} "
        f"({entry['source']}), so it is never shared again."
    )
    sent = sorted(
        {
            transfer["partner_id"]
            for transfer in store.rows("lead_transfers", lead_id=lead_id)
            if transfer["status"] == "sent"
        }
    )
    if sent:
        line += (
            f" {', '.join(sent)} received it before that; tell them that the "
            "person opted out."
        )
    return [line]


def _row_number_lines(file_names: Iterable[str | None]) -> list[str]:
    """Say how row numbers are counted, once for CSV and once for JSON Lines files."""
    jsonl = {Path(name or "").suffix.lower() in JSONL_SUFFIXES for name in file_names}
    lines = []
    if False in jsonl:
        lines.append(
            "Row numbers of a CSV file count data rows from 1 and leave out the "
            "header row, so an editor or spreadsheet shows row N on line N + 1 when "
            "no cell spans lines."
        )
    if True in jsonl:
        lines.append(
            "Row numbers of a JSON Lines file count its non-blank lines from 1."
        )
    return lines


def _outcome_line(row: dict, approval: dict | None) -> str:
    """Describe a row's outcome in words, with the rule that decided it."""
    outcome, rule, reason = row["outcome"], row["rule"], row["reason"]
    if rule == "rejected_by_approver":
        # A human decision, not a rule: the stored reason names the approver.
        if approval is not None and approval["status"] == "rejected":
            reason = f"rejected by {approval['decided_by']}"
            if approval["note"]:
                reason += f" ({approval['note']})"
        return f"Outcome: {reason}, so it is not shared."
    if rule == "matched" and row["candidates"]:
        count = len(json.loads(row["candidates"]))
        if count == 1:
            reason = "the only eligible partner"
        else:
            reason = (
                f"the best partner fit of {count} eligible partners (the fit of "
                "each is listed below)"
            )
    if outcome == "no_eligible_partner" and row["group_id"]:
        reason = "no partner is eligible; the reasons per partner follow"
    if not rule:
        return f"Outcome: {outcome}."
    return f"Outcome: {outcome} (rule {rule}): {reason}"


def _score_rule_lines(rules: Rules | None, stored: bool = False) -> list[str]:
    """List the score rules for a lead below the threshold.

    ``stored`` is True when the lead's fields are in the store, as for a lead that
    waited for a partner before a later run disqualified it.
    """
    if rules is None:
        return [
            "The score is the sum of the points of the lead's matching score rules "
            "(`points` in rules.yaml)."
        ]
    text = (
        f"The score is the sum of the points of the matching score rules. The "
        f"rules in rules.yaml now (version {rules.version}, threshold "
        f"{rules.threshold:g}) are listed below."
    )
    if not stored:
        text += (
            " A disqualified lead's fields are not stored, so which of them gave it "
            "points is not recorded."
        )
    lines = [text]
    lines.extend(f"  {_score_rule_text(rule)}" for rule in rules.points)
    return lines


def _score_rule_text(rule: ScoreRule) -> str:
    if rule.equals is not None:
        condition = f"is {rule.equals}"
    elif rule.any_of is not None:
        condition = f"is one of {', '.join(rule.any_of)}"
    elif rule.at_least is not None:
        condition = f"is at least {rule.at_least:g}"
    else:
        condition = "is present" if rule.present else "is missing"
    return f"{rule.points:+g} points if {rule.field} {condition}"


def _offered_again_line(rules: Rules | None) -> str:
    """Say how long a lead with no partner is offered again in later runs."""
    if rules is None:
        window = "for `freshness_days` (rules.yaml) after it was stored"
    else:
        days = rules.freshness_days or DEFAULT_FRESHNESS_DAYS
        window = f"for {days} days after it was stored (`freshness_days`)"
    return (
        f"The lead is offered again in every later run {window}, checked "
        "against the rules of that run. After that it stays without a partner."
    )


def _disabled_endpoint_line(endpoint: dict) -> str:
    """Describe the disabled endpoint that a pending transfer waits for."""
    partner_id = endpoint["partner_id"]
    return (
        f"It waits because the endpoint of {partner_id} is disabled since "
        f"{utc_text(endpoint['disabled_at'])}: {endpoint['reason']}. After "
        f"`leadshare endpoint enable {partner_id}` a run sends it again with the "
        "same webhook-id."
    )


def _partner_wait_lines(
    partner_id: str, partners: list[Partner], now: dt.datetime | None
) -> list[str]:
    """Describe why partners.yaml holds back a pending transfer to ``partner_id``."""
    partner = next((p for p in partners if p.id == partner_id), None)
    if partner is None:
        return [
            f"It waits because {partner_id} is not in partners.yaml. It goes out "
            "once the partner is added back with this id."
        ]
    inactive = partner.inactive_reason(now or dt.datetime.now(dt.UTC))
    if inactive:
        return [
            f"It waits because {partner_id} is inactive ({inactive}). It goes out "
            "in the first run after the partner is active again."
        ]
    return []


def _duplicate_line(row: dict, where: str) -> str:
    """Describe a row that repeats the lead, or the held lead that it replaced."""
    where = where[:1].upper() + where[1:]
    if row["rule"] == REPLACED_RULE:
        return (
            f"{where} was held lead {row['row_lead_id']}, which this lead replaced: "
            f"{row['reason']}."
        )
    return f"{where} was a duplicate of this lead: {row['reason']}."


def _approval_line(approval: dict) -> str:
    """Describe the human decision on a strategic lead, or that it is still waiting."""
    if approval["status"] == "pending":
        return (
            f"Approval: waiting for a human; matching proposed {approval['proposed_partner']}."
        )
    if approval["status"] == "withdrawn":
        return "Approval: withdrawn because the person opted out before a decision."
    line = f"Approval: {approval['status']} by {approval['decided_by']}"
    if approval["decided_partner"]:
        line += f" for {approval['decided_partner']}"
    if approval["note"]:
        line += f" ({approval['note']})"
    return line + "."


def _decision_lines(row: dict, approval: dict | None = None) -> list[str]:
    """Describe the matching decision; ``approval`` is the human decision, if any."""
    candidates = json.loads(row["candidates"])
    exclusions = json.loads(row["exclusions"])
    lines = [
        f"Decision under rules {row['rules_version']} (config {row['config_digest']}):"
    ]
    if row["chosen_partner"]:
        lines.append(_partner_line(row["chosen_partner"], approval))
    if candidates:
        lines.append(
            f"  partner fit = {W_TIER:g} x tier weight + {W_PERFORMANCE:g} x "
            f"performance - {W_LOAD:g} x leads this week / weekly capacity. It "
            "falls as a partner gets leads, so leads spread over partners. The "
            "counts are from before this run placed its leads, in order of score."
        )
    for candidate in candidates:
        lines.append(
            f"  candidate {candidate['partner']}: partner fit {candidate['score']} "
            f"(tier {candidate['tier']}, performance {candidate['performance']}, "
            f"leads already this week {candidate['load_before']}, "
            f"capacity left {candidate['capacity_left']})"
        )
    # Partners excluded for the same reason share one line.
    by_reason: dict[str, list[str]] = {}
    no_country = []
    for partner_id, reason in sorted(exclusions.items()):
        if reason.startswith(MISSING_COUNTRY):
            no_country.append(partner_id)
            continue
        by_reason.setdefault(reason, []).append(partner_id)
    if no_country:
        # One cause for every partner with a country list, so it gets one line.
        lines.append(
            f"  excluded {', '.join(no_country)}: the lead has no country, and "
            "each of these partners covers a list of countries"
        )
    for reason, partners in by_reason.items():
        lines.append(f"  excluded {', '.join(partners)}: {reason}")
    return lines


def _partner_line(partner_id: str, approval: dict | None) -> str:
    """Describe the partner that matching chose, and what a human decided about it."""
    if approval is None:
        return f"  chosen partner: {partner_id}"
    status = approval["status"]
    if status == "pending":
        return f"  proposed partner (a human decides): {partner_id}"
    if status == "withdrawn":
        return f"  proposed partner: {partner_id} (withdrawn, the person opted out)"
    decision = f"{status} by {approval['decided_by']}"
    if approval["decided_partner"] and approval["decided_partner"] != partner_id:
        decision += f" for {approval['decided_partner']}"
    return f"  proposed partner: {partner_id} ({decision})"
