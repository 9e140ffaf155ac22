"""Matching: eligibility reasons, capacity, fairness over time, determinism."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from leadshare.config import Partner, Rules
from leadshare.match import PartnerState, match_leads

NOW = dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC)
RULES = Rules(version="t1", threshold=0)


def _partner(pid: str, **kw) -> Partner:
    base = dict(
        id=pid,
        name=pid,
        capacity_per_day=100,
        capacity_per_week=500,
        channel="file_drop",
        fields=["lead_id"],
        territory={"countries": ["DE"]},
    )
    base.update(kw)
    return Partner(**base)


def _leads(n: int, country: str = "DE", **cols) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "lead_id": [f"L-{i:05d}" for i in range(n)],
            "country_code": country,
            "region": None,
            "industry": cols.get("industry"),
            "product": None,
            "postcode": cols.get("postcode"),
            "score": 50.0,
        }
    )
    return frame


def _match(leads, partners, seed=1, **state_kw):
    states = [PartnerState(partner=p, **state_kw.get(p.id, {})) for p in partners]
    return match_leads(
        leads, states, RULES, run_id="r1", batch="b1", now=NOW, seed=seed
    )


def test_excluded_partners_have_reasons():
    partners = [
        _partner("P-A"),
        _partner("P-PAUSED", status="paused"),
        _partner("P-OLD", agreement_expires=dt.date(2025, 1, 1)),
        _partner("P-FR", territory={"countries": ["FR"]}),
        _partner("P-HEALTH", industries=["healthcare"]),
    ]
    result = _match(_leads(3, industry="software"), partners)
    exclusions = json.loads(result.groups.iloc[0]["exclusions"])
    assert set(result.leads["partner_id"]) == {"P-A"}
    assert "paused" in exclusions["P-PAUSED"]
    assert "expired on 2025-01-01" in exclusions["P-OLD"]
    assert "outside territory" in exclusions["P-FR"]
    assert "specialization" in exclusions["P-HEALTH"]


def test_no_eligible_partner_reason():
    result = _match(_leads(2, country="JP"), [_partner("P-A")])
    assert (result.leads["outcome"] == "no_eligible_partner").all()
    assert result.leads["reason"].str.contains("P-A: country JP").all()


def test_capacity_respected_and_rest_recorded():
    partners = [
        _partner("P-A", capacity_per_day=3),
        _partner("P-B", capacity_per_day=2),
    ]
    result = _match(_leads(8), partners)
    counts = result.leads["partner_id"].value_counts().to_dict()
    assert counts == {"P-A": 3, "P-B": 2}
    assert (result.leads["rule"] == "capacity_full").sum() == 3


def test_week_usage_counts_against_capacity():
    partners = [_partner("P-A", capacity_per_day=10, capacity_per_week=10)]
    result = _match(_leads(5), partners, **{"P-A": {"used_week": 8}})
    assert (result.leads["partner_id"] == "P-A").sum() == 2


def test_equal_partners_share_evenly_regardless_of_order():
    partners = [_partner("P-A"), _partner("P-B"), _partner("P-C")]
    forward = _match(_leads(90), partners).per_partner
    backward = _match(_leads(90), list(reversed(partners))).per_partner
    assert forward == backward
    assert sorted(forward.values()) == [30, 30, 30]


def test_history_load_shifts_new_leads():
    partners = [_partner("P-A"), _partner("P-B")]
    result = _match(_leads(40), partners, **{"P-A": {"used_week": 100}})
    assert result.per_partner["P-B"] > result.per_partner["P-A"]


def test_better_tier_gets_more_but_not_all():
    partners = [
        _partner("P-GOLD", tier="gold", capacity_per_day=500),
        _partner("P-BRONZE", tier="bronze", capacity_per_day=500),
    ]
    result = _match(_leads(300), partners)
    assert result.per_partner["P-GOLD"] > result.per_partner["P-BRONZE"] > 0


def test_same_inputs_same_seed_same_result():
    partners = [_partner("P-A"), _partner("P-B")]
    first = _match(_leads(50), partners, seed=3).leads["partner_id"].tolist()
    second = _match(_leads(50), partners, seed=3).leads["partner_id"].tolist()
    assert first == second


def test_constrained_group_served_first():
    # P-A takes DE and AT, P-B only DE; the AT lead must not lose P-A to DE leads.
    partners = [
        _partner("P-A", territory={"countries": ["DE", "AT"]}, capacity_per_day=1),
        _partner("P-B", capacity_per_day=5),
    ]
    leads = pd.concat([_leads(3), _leads(1, country="AT").assign(lead_id="L-AT")])
    result = _match(leads.reset_index(drop=True), partners)
    at_row = result.leads[result.leads["lead_id"] == "L-AT"].iloc[0]
    assert at_row["partner_id"] == "P-A"


def test_postcode_prefix_territory():
    partners = [
        _partner(
            "P-SOUTH", territory={"countries": ["DE"], "postcode_prefixes": ["8", "9"]}
        )
    ]
    leads = _leads(2).assign(postcode=["80331", "10115"])
    result = _match(leads, partners)
    assert result.leads["partner_id"].tolist() == ["P-SOUTH", None]


def test_strategic_lead_waits_with_proposal():
    leads = _leads(2).assign(strategic=["named account globex", pd.NA])
    result = _match(leads, [_partner("P-A")])
    held = result.leads.iloc[0]
    assert held["outcome"] == "awaiting_approval"
    assert held["partner_id"] == "P-A"
    assert result.per_partner["P-A"] == 1


def test_strategic_proposals_spread_over_room():
    leads = _leads(3).assign(strategic="named account")
    partners = [_partner(pid, capacity_per_day=1) for pid in ("P-A", "P-B")]

    result = _match(leads, partners)

    proposed = sorted(result.leads["partner_id"])
    assert proposed in (["P-A", "P-A", "P-B"], ["P-A", "P-B", "P-B"])
    assert result.per_partner == {"P-A": 0, "P-B": 0}


def test_unreadable_amount_waits_with_reason():
    size = "company size '12,5 Tsd.' is not a number"
    leads = _leads(4).assign(
        strategic=["named account globex", None, "named account initech", None],
        unreadable_amount=[None, size, size, None],
    )

    result = _match(leads, [_partner("P-A")])

    rows = result.leads.set_index("lead_id")
    assert rows["outcome"].tolist() == ["awaiting_approval"] * 3 + ["shared"]
    assert rows["rule"].tolist() == [
        "strategic_account",
        "amount_unreadable",
        "strategic_account",
        "matched",
    ]
    assert rows.loc["L-00001", "reason"] == size
    assert rows.loc["L-00001", "partner_id"] == "P-A"
    assert rows.loc["L-00002", "reason"] == f"named account initech; {size}"
    assert result.per_partner["P-A"] == 1


def test_unreadable_amount_without_partner_waits():
    leads = _leads(1, country="JP").assign(unreadable_amount="company size 'x'")

    result = _match(leads, [_partner("P-A")])

    assert result.leads.iloc[0]["outcome"] == "no_eligible_partner"


@pytest.mark.parametrize("disabled", ["410 Gone"])
def test_disabled_endpoint_excluded(disabled):
    result = _match(
        _leads(1), [_partner("P-A")], **{"P-A": {"disabled_reason": disabled}}
    )
    assert result.leads.iloc[0]["outcome"] == "no_eligible_partner"


@pytest.mark.parametrize(
    ("zone", "given_at", "used_today"),
    [
        # 18:45 UTC is 00:15 the next day in India (+05:30): today's use.
        ("Asia/Kolkata", dt.datetime(2026, 12, 4, 18, 45, tzinfo=dt.UTC), 4),
        # 18:20 UTC is 23:50 in India: yesterday's use.
        ("Asia/Kolkata", dt.datetime(2026, 12, 4, 18, 20, tzinfo=dt.UTC), 0),
        # 18:15 UTC is 00:00 in Nepal (+05:45).
        ("Asia/Kathmandu", dt.datetime(2026, 12, 4, 18, 15, tzinfo=dt.UTC), 4),
        ("Asia/Kathmandu", dt.datetime(2026, 12, 4, 18, 14, tzinfo=dt.UTC), 0),
    ],
)
def test_day_use_in_quarter_hour_zones(tmp_path, zone, given_at, used_today):
    from leadshare.pipeline import load_partner_states
    from leadshare.store import open_store

    store = open_store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    with store.transaction() as tx:
        for index in range(4):
            tx.execute(
                "add_transfer",
                transfer_id=f"msg_{index}",
                lead_id=f"L-{index}",
                partner_id="P-IN",
                channel="file_drop",
                created_at=given_at,
                run_id="r1",
            )
    partner = _partner("P-IN", timezone=zone)

    now = dt.datetime(2026, 12, 4, 19, 30, tzinfo=dt.UTC)
    (state,) = load_partner_states(store, [partner], now)

    assert state.used_today == used_today
    assert state.used_week == 4
