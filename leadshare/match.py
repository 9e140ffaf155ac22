"""Partner matching: eligibility, a documented score, fair allocation under capacity.

Leads that share country, region, industry, product and postcode-prefix hits have the
same eligible partners, so eligibility is decided once per such group and stored as the
group's explanation (candidates with scores, and why every other partner was excluded).

Score of giving one more lead to partner p that already has ``load`` leads this week:

    marginal(p) = 0.5 * tier_weight(p) + 0.3 * performance(p) - 0.4 * load / capacity_per_week(p)

The allocation picks, lead by lead, the partner with the highest marginal score. A
partner that received less so far (this run and earlier runs of the week) therefore
moves up, so fairness has memory. Nothing depends on the order partners are listed
in: ties are broken by a hash of (seed, partner id). Because marginal scores only fall as a partner
fills, the greedy result equals taking the ``n`` largest marginal scores of the group,
which is computed with numpy instead of a loop over leads. Groups with fewer candidates
are allocated first so that flexible leads do not use up the only partner a constrained
lead could have had.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadshare.config import Partner, Rules
from leadshare.dedup import by_distinct
from leadshare.model import Outcome
from leadshare.qualify import UNREADABLE_AMOUNT_RULE

W_TIER = 0.5
W_PERFORMANCE = 0.3
W_LOAD = 0.4

GROUP_FIELDS = ("country_code", "region", "industry", "product")


@dataclass
class PartnerState:
    """A partner's remaining capacity and usage during one run."""

    partner: Partner
    used_today: int = 0
    used_week: int = 0
    disabled_reason: str | None = None
    assigned: int = 0

    @property
    def remaining(self) -> int:
        day = self.partner.capacity_per_day - self.used_today - self.assigned
        week = self.partner.capacity_per_week - self.used_week - self.assigned
        return max(0, min(day, week))


@dataclass
class MatchResult:
    leads: pd.DataFrame
    groups: pd.DataFrame
    per_partner: dict[str, int] = field(default_factory=dict)


def _tie_break(seed: int, partner_id: str) -> float:
    digest = hashlib.sha256(f"{seed}:{partner_id}".encode()).digest()
    return int.from_bytes(digest[:6], "big") / 2**48 * 1e-9


def _lead_order(seed: int, lead_ids: pd.Series) -> np.ndarray:
    """Return a stable per-lead pseudo-random key, used after the score to order leads."""
    return pd.util.hash_pandas_object(
        lead_ids.astype(str) + f":{seed}", index=False
    ).to_numpy()


REJECTED_BEFORE = "the partner rejected a transfer of this lead before"
"""Exclusion of a partner whose transfer of a lead failed, for a re-offered lead."""


def static_exclusion(
    partner: PartnerState, key: dict[str, str], postcode_hit: bool, now: dt.datetime
) -> str | None:
    p = partner.partner
    inactive = p.inactive_reason(now)
    if inactive:
        return inactive
    if partner.disabled_reason:
        return f"partner endpoint disabled: {partner.disabled_reason}"
    territory = p.territory
    if territory.countries and key["country_code"].upper() not in territory.countries:
        return f"country {key['country_code'].upper() or '(missing)'} is outside territory {territory.countries}"
    if territory.regions and key["region"] not in {
        r.casefold() for r in territory.regions
    }:
        return f"region {key['region'] or '(missing)'} is outside territory {territory.regions}"
    if territory.postcode_prefixes and not postcode_hit:
        return f"postcode does not start with {territory.postcode_prefixes}"
    if p.industries and key["industry"] not in {i.casefold() for i in p.industries}:
        return f"industry {key['industry'] or '(missing)'} not in specialization {p.industries}"
    if p.products and key["product"] not in {x.casefold() for x in p.products}:
        return f"product {key['product'] or '(missing)'} not in specialization {p.products}"
    return None


def _base_score(partner: Partner, rules: Rules) -> float:
    tier = rules.tier_weights.get(partner.tier, 0.0)
    return W_TIER * tier + W_PERFORMANCE * partner.performance


def _used_fields(states: list[PartnerState]) -> list[str]:
    """Return the group fields some partner's eligibility depends on.

    Grouping only by these keeps the number of groups small: a region column with
    thousands of values does not split groups unless a partner's territory names
    regions.
    """
    used = {
        "country_code": any(s.partner.territory.countries for s in states),
        "region": any(s.partner.territory.regions for s in states),
        "industry": any(s.partner.industries for s in states),
        "product": any(s.partner.products for s in states),
    }
    return [name for name in GROUP_FIELDS if used[name]]


def _group_frame(leads: pd.DataFrame, states: list[PartnerState]) -> pd.DataFrame:
    missing = pd.Series(None, index=leads.index, dtype=object)
    keys = pd.DataFrame(
        {
            name: by_distinct(leads.get(name, missing), str.casefold)
            for name in _used_fields(states)
        },
        index=leads.index,
    )
    for name in GROUP_FIELDS:
        if name not in keys.columns:
            keys[name] = ""
    postcode = (
        leads.get("postcode", pd.Series(None, index=leads.index))
        .astype("string")
        .str.strip()
        .fillna("")
    )
    for state in states:
        prefixes = tuple(state.partner.territory.postcode_prefixes)
        if prefixes:
            keys[f"pc:{state.partner.id}"] = postcode.str.startswith(prefixes)
    if "rejected_by" in leads.columns:
        # Comma-separated partner ids; the commas around each make ids whole.
        rejected = "," + leads["rejected_by"].fillna("").astype(str) + ","
        for state in states:
            keys[f"rj:{state.partner.id}"] = rejected.str.contains(
                f",{state.partner.id},", regex=False
            )
    return keys


def _pick_slots(
    candidates: list[PartnerState], n: int, rules: Rules, seed: int
) -> list[tuple[float, str]]:
    """Return up to ``n`` (marginal score, partner id) picks in the order greedy takes them."""
    scores, owners = [], []
    for state in candidates:
        slots = min(state.remaining, n)
        if slots <= 0:
            continue
        cap = max(state.partner.capacity_per_week, 1)
        load = state.used_week + state.assigned + np.arange(slots)
        marginal = (
            _base_score(state.partner, rules)
            - W_LOAD * load / cap
            + _tie_break(seed, state.partner.id)
        )
        scores.append(marginal)
        owners.append(np.full(slots, state.partner.id, dtype=object))
    if not scores:
        return []
    all_scores = np.concatenate(scores)
    all_owners = np.concatenate(owners)
    take = min(n, len(all_scores))
    top = (
        np.argpartition(-all_scores, take - 1)[:take]
        if take < len(all_scores)
        else np.arange(len(all_scores))
    )
    top = top[np.argsort(-all_scores[top], kind="stable")]
    return list(zip(all_scores[top].tolist(), all_owners[top].tolist(), strict=True))


def _candidate_table(candidates: list[PartnerState], rules: Rules) -> list[dict]:
    table = []
    for state in candidates:
        cap = max(state.partner.capacity_per_week, 1)
        load = state.used_week + state.assigned
        table.append(
            {
                "partner": state.partner.id,
                "tier": state.partner.tier,
                "performance": state.partner.performance,
                "load_before": load,
                "capacity_left": state.remaining,
                "score": round(
                    _base_score(state.partner, rules) - W_LOAD * load / cap, 4
                ),
            }
        )
    return sorted(table, key=lambda row: -row["score"])


def approval_holds(leads: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return the approval rule and reason of each lead to hold, None for the others.

    A strategic account (``strategic``) is held under rule strategic_account. A lead
    whose company size or revenue could not be read (``unreadable_amount``) is held
    under rule amount_unreadable. A strategic account's reason also names an
    unreadable value.
    """
    missing = pd.Series(None, index=leads.index, dtype=object)
    strategic = leads.get("strategic", missing).to_numpy(dtype=object)
    unreadable = leads.get("unreadable_amount", missing).to_numpy(dtype=object)
    is_strategic = pd.notna(strategic)
    is_unreadable = pd.notna(unreadable)
    rule = np.full(len(leads), None, dtype=object)
    rule[is_unreadable] = UNREADABLE_AMOUNT_RULE
    rule[is_strategic] = "strategic_account"
    reason = np.where(is_strategic, strategic, unreadable)
    both = is_strategic & is_unreadable
    reason[both] = [
        f"{first}; {second}"
        for first, second in zip(strategic[both], unreadable[both], strict=True)
    ]
    return rule, reason


def match_leads(
    leads: pd.DataFrame,
    states: list[PartnerState],
    rules: Rules,
    *,
    run_id: str,
    batch: str,
    now: dt.datetime,
    seed: int,
) -> MatchResult:
    """Allocate ``leads`` (live, qualified rows with ``lead_id``) to partners.

    ``batch`` names the leads' batch within the run (a file, or the backlog), so
    that two batches of one run get distinct decision group ids.
    """
    leads = leads.copy()
    leads["partner_id"] = None
    leads["group_id"] = None
    keys = _group_frame(leads, states)
    key_columns = list(keys.columns)
    grouped = keys.groupby(key_columns, sort=True, dropna=False).indices
    plans = []
    for group_key, positions in grouped.items():
        key = dict(
            zip(
                key_columns,
                group_key if isinstance(group_key, tuple) else (group_key,),
                strict=True,
            )
        )
        exclusions, candidates = {}, []
        for state in states:
            if key.get(f"rj:{state.partner.id}"):
                reason = REJECTED_BEFORE
            else:
                reason = static_exclusion(
                    state, key, bool(key.get(f"pc:{state.partner.id}", False)), now
                )
            if reason:
                exclusions[state.partner.id] = reason
            else:
                candidates.append(state)
        plans.append(
            (
                len(candidates),
                json.dumps(key, sort_keys=True, default=str),
                positions,
                candidates,
                exclusions,
            )
        )
    plans.sort(key=lambda plan: (plan[0], plan[1]))

    group_rows = []
    order_key = _lead_order(seed, leads["lead_id"])
    score = leads["score"].fillna(0).to_numpy()
    hold_rule, hold_reason = approval_holds(leads)
    needs_approval = pd.notna(hold_rule)
    outcome = np.full(len(leads), None, dtype=object)
    rule = np.full(len(leads), None, dtype=object)
    reason = np.full(len(leads), None, dtype=object)
    partner_col = np.full(len(leads), None, dtype=object)
    group_col = np.full(len(leads), None, dtype=object)

    for _, key_text, positions, candidates, exclusions in plans:
        key_hash = hashlib.sha1(key_text.encode()).hexdigest()[:12]
        group_id = f"{run_id}:{batch}:{key_hash}"
        group_rows.append(
            {
                "group_id": group_id,
                "candidates": json.dumps(_candidate_table(candidates, rules)),
                "exclusions": json.dumps(exclusions, sort_keys=True),
            }
        )
        group_col[positions] = group_id
        if not candidates:
            outcome[positions] = Outcome.NO_ELIGIBLE_PARTNER.value
            rule[positions] = "no_eligible_partner"
            reason[positions] = "no partner is eligible: " + "; ".join(
                f"{pid}: {why}" for pid, why in sorted(exclusions.items())
            )
            continue
        ordered = positions[np.lexsort((order_key[positions], -score[positions]))]
        hold = ordered[needs_approval[ordered]]
        normal = ordered[~needs_approval[ordered]]
        picks = _pick_slots(candidates, len(normal), rules, seed)
        for (_, partner_id), position in zip(picks, normal[: len(picks)], strict=True):
            partner_col[position] = partner_id
        for state in candidates:
            state.assigned += sum(1 for _, pid in picks if pid == state.partner.id)
        placed = normal[: len(picks)]
        outcome[placed] = Outcome.SHARED.value
        rule[placed] = "matched"
        reason[placed] = (
            f"highest marginal score among {len(candidates)} eligible partner(s)"
        )
        rest = normal[len(picks) :]
        outcome[rest] = Outcome.NO_ELIGIBLE_PARTNER.value
        rule[rest] = "capacity_full"
        reason[rest] = (
            "eligible partners are at capacity for the day or week: "
            + ", ".join(s.partner.id for s in candidates)
        )
        if len(hold):
            # Proposals take the slots that greedy would give next, so held leads
            # of one run spread over partners with room, the best lead first. They
            # reserve nothing, and held leads beyond the free slots get the best
            # partner.
            slots = _pick_slots(candidates, len(hold), rules, seed)
            proposals = [partner_id for _, partner_id in slots]
            if proposals:
                proposals += [proposals[0]] * (len(hold) - len(proposals))
                partner_col[hold] = proposals
            else:
                partner_col[hold] = None
            outcome[hold] = Outcome.AWAITING_APPROVAL.value
            rule[hold] = hold_rule[hold]
            reason[hold] = hold_reason[hold]

    leads["outcome"], leads["rule"], leads["reason"] = outcome, rule, reason
    leads["partner_id"], leads["group_id"] = partner_col, group_col
    per_partner = {s.partner.id: s.assigned for s in states}
    return MatchResult(
        leads=leads, groups=pd.DataFrame(group_rows), per_partner=per_partner
    )
