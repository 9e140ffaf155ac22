"""Leads that found no partner with capacity are offered again in later runs."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import yaml

from leadshare import pipeline
from leadshare.approvals import ApprovalDecision, ApprovalError, decide
from leadshare.errors import StoreError
from leadshare.explain import explain_lead
from leadshare.runtime import build_context

ROWS = "".join(
    f"lead{i}@corp{i}.example,Ann,Lee{i},Corp {i},US,(202) 555-01{i:02d},yes,referral\n"
    for i in range(10)
)


@pytest.fixture
def small_partner(home):
    partners = [
        {
            "id": "P-ONE",
            "name": "One",
            "territory": {"countries": ["US"]},
            "capacity_per_day": 4,
            "capacity_per_week": 100,
            "channel": "file_drop",
            "fields": ["lead_id", "company"],
            "timezone": "UTC",
        }
    ]
    (home / "config" / "partners.yaml").write_text(
        yaml.safe_dump({"partners": partners})
    )
    inbox = home / "inbox" / "generic"
    inbox.mkdir(parents=True)
    header = (
        "email,first_name,last_name,company,country,phone,consent_share,lead_source\n"
    )
    (inbox / "ten.csv").write_text(header + ROWS, encoding="utf-8")


def _run(now: dt.datetime) -> pipeline.RunContext:
    ctx = build_context(now=now)
    backlog = pipeline.rematch_backlog(ctx)
    for item in pipeline.claim_files(ctx):
        pipeline.commit_batch(ctx, item, *_stages(ctx, item))
        pipeline.archive_file(ctx, item, "committed")
    ctx.placed = backlog.placed
    ctx.backlog = backlog
    return ctx


def _stages(ctx: pipeline.RunContext, item: pipeline.InboxFile) -> tuple:
    """Run the stages before the commit and return the commit's other arguments."""
    frame, meta = pipeline.read_batch(ctx, item)
    frame = pipeline.validate_batch(ctx, frame, ctx.config.profile(item.profile))
    frame = pipeline.dedup_batch(ctx, frame, item.profile)
    frame, entries = pipeline.consent_batch(ctx, frame)
    frame = pipeline.qualify_batch(ctx, frame, item.profile)
    match = pipeline.match_batch(ctx, frame, item.batch)
    return frame, match, entries, meta


def _count(ctx, outcome: str) -> int:
    rows = ctx.store.rows("outcome_counts", run_id=ctx.run_id)
    return {row["outcome"]: row["n"] for row in rows}.get(outcome, 0)


def test_backlog_counts_sum_over_attempts(small_partner):
    day1 = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    _run(day1)
    day2 = day1 + dt.timedelta(days=1)
    ctx = build_context(now=day2)
    with ctx.store.transaction() as tx:
        tx.execute(
            "start_run", run_id=ctx.run_id, flow_run_id="flow-1", started_at=day2
        )

    first = pipeline.rematch_backlog(ctx)
    retried = pipeline.rematch_backlog(ctx)
    stored = ctx.store.rows("run_backlog_counts", run_id=ctx.run_id)

    assert first.placed == 4
    assert retried.placed == 0
    assert stored == [{"placed": 4, "held": 0, "disqualified": 0}]


def test_capacity_backlog_placed_next_days(small_partner):
    day1 = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    first = _run(day1)
    assert _count(first, "shared") == 4
    assert _count(first, "no_eligible_partner") == 6

    same_day = _run(day1 + dt.timedelta(hours=1))
    second = _run(day1 + dt.timedelta(days=1))
    third = _run(day1 + dt.timedelta(days=2))

    assert same_day.placed == 0
    assert second.placed == 4
    assert third.placed == 2
    transfers = third.store.rows("transfer_counts", run_id=third.run_id)
    assert transfers[0]["offered"] == 2
    assert (
        sum(row["n"] for row in third.store.rows("outcome_counts", run_id=first.run_id))
        == 10
    )
    assert _count(first, "shared") == 10


def test_backlog_lead_explained_with_latest_decision(small_partner):
    day1 = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    first = _run(day1)
    waiting = first.store.rows("backlog_leads", since=day1 - dt.timedelta(days=1))[0][
        "lead_id"
    ]
    later = _run(day1 + dt.timedelta(days=1))
    text = "\n".join(explain_lead(later.store, waiting))
    assert "chosen partner: P-ONE" in text
    assert "Outcome: shared" in text



def test_partner_id_case_change_keeps_history(small_partner, home):
    day1 = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    first = _run(day1)
    assert _count(first, "shared") == 4
    with first.store.transaction() as tx:
        tx.connection.exec_driver_sql(
            "insert into endpoint_state values ('P-ONE', now(), 'HTTP 410 Gone')"
        )
    path = home / "config" / "partners.yaml"
    path.write_text(path.read_text().replace("P-ONE", "p-One"))

    same_day = _run(day1 + dt.timedelta(hours=1))

    # Four leads today already used the daily capacity of 4 under the old spelling.
    assert same_day.placed == 0
    with same_day.store.transaction() as tx:
        stored = tx.connection.exec_driver_sql(
            "select distinct partner_id from transfers"
        ).fetchall()
    assert stored == [("p-One",)]
    disabled = same_day.store.rows("disabled_endpoints")
    assert [row["partner_id"] for row in disabled] == ["p-One"]


def test_backlog_reads_amounts_per_profile(small_partner, home):
    profiles = home / "config" / "profiles"
    german = yaml.safe_load((profiles / "generic.yaml").read_text())
    german.update(name="german", number_format="1.234,56")
    (profiles / "german.yaml").write_text(yaml.safe_dump(german))
    header = "email,company,country,consent_share,lead_source,company_size,"
    header += "annual_revenue\n"
    files = {
        "german": 'big@big.example,Big,DE,yes,referral,250,"75.000.000,00"\n',
        "generic": (
            "lots@lots.example,Lots,DE,yes,referral,lots,\n"
            "plain@plain.example,Plain,DE,yes,referral,250,\n"
        ),
    }
    for profile, rows in files.items():
        folder = home / "inbox" / profile
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{profile}-de.csv").write_text(header + rows, encoding="utf-8")
    day1 = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    first = _run(day1)
    # No partner takes DE on day 1. On day 2 one does, and the backlog is matched.
    assert _count(first, "no_eligible_partner") == 6 + 3
    partners = yaml.safe_load((home / "config" / "partners.yaml").read_text())
    partners["partners"][0]["territory"]["countries"].append("DE")
    partners["partners"][0]["capacity_per_day"] = 20
    (home / "config" / "partners.yaml").write_text(yaml.safe_dump(partners))

    second = _run(day1 + dt.timedelta(days=1))

    # The six US leads that found no capacity on day 1, and one DE lead.
    assert second.placed == 6 + 1
    outcomes = {
        row["email"]: (row["outcome"], row["rule"], row["reason"])
        for row in _outcomes_by_email(second)
    }
    assert outcomes["big@big.example"] == (
        "awaiting_approval",
        "strategic_account",
        "annual revenue >= 50,000,000",
    )
    outcome, rule, reason = outcomes["lots@lots.example"]
    assert (outcome, rule) == ("awaiting_approval", "amount_unreadable")
    assert reason.startswith("company size 'lots' is not a number")
    assert outcomes["plain@plain.example"][:2] == ("shared", "matched")


def _outcomes_by_email(ctx) -> list[dict]:
    with ctx.store.transaction() as tx:
        rows = tx.connection.execute(
            sa.text(
                "select l.email, o.outcome, o.rule, o.reason from row_outcomes as o "
                "inner join leads as l using (lead_id) where l.country = 'DE'"
            )
        )
        return [dict(row._mapping) for row in rows]


def test_opt_out_withdraws_queued_leads(small_partner, home):
    day1 = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    first = _run(day1)
    # _run delivers nothing, so the four shared leads wait in the outbox.
    queued = first.store.rows("due_transfers", partner_id="P-ONE", now=day1)[0]
    since = day1 - dt.timedelta(days=1)
    backlog = first.store.rows("backlog_leads", since=since)[0]["lead_id"]
    # Both people write back: do not e-mail me.
    (home / "inbox" / "generic" / "opt-outs.csv").write_text(
        "email,first_name,last_name,company,country,consent_share,do_not_email\n"
        f"{queued['email']},Ann,Lee,Corp,US,yes,yes\n"
        f"{_email_of(first, backlog)},Ann,Lee,Corp,US,yes,yes\n",
        encoding="utf-8",
    )
    second = _run(day1 + dt.timedelta(days=1))

    transfers = second.store.rows("lead_transfers", lead_id=queued["lead_id"])
    assert [row["status"] for row in transfers] == ["withdrawn"]
    due = second.store.rows("due_transfers", partner_id="P-ONE", now=day1)
    assert queued["lead_id"] not in {row["lead_id"] for row in due}
    # The backlog goes out before the run reads its files, so the backlog lead was
    # placed, then withdrawn when the opt-out was committed.
    assert second.placed == 4
    transfers = second.store.rows("lead_transfers", lead_id=backlog)
    assert [row["status"] for row in transfers] == ["withdrawn"]
    assert backlog not in {
        row["lead_id"] for row in second.store.rows("backlog_leads", since=since)
    }
    # A withdrawn transfer gives its place back to the partner.
    later = _run(day1 + dt.timedelta(days=1, hours=1))
    assert later.placed == 1
    text = "\n".join(explain_lead(second.store, queued["lead_id"]))
    assert "Outcome: suppressed" in text
    assert "the person opted out or refused consent before delivery" in text


def _email_of(ctx, lead_id: str) -> str:
    with ctx.store.transaction() as tx:
        return tx.connection.exec_driver_sql(
            "select email from leads where lead_id = ?", (lead_id,)
        ).scalar()


def test_opt_out_of_held_lead_suppressed(small_partner, home):
    day1 = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    first = _run(day1)
    since = day1 - dt.timedelta(days=1)
    waiting = first.store.rows("backlog_leads", since=since)[0]["lead_id"]
    email = _email_of(first, waiting)
    # The person writes back from the same address: do not e-mail me.
    (home / "inbox" / "generic" / "opt-out.csv").write_text(
        "email,first_name,last_name,company,country,consent_share,do_not_email\n"
        f"{email},Ann,Lee,Corp,US,yes,yes\n",
        encoding="utf-8",
    )
    # P-ONE has no capacity left today, so the run places no backlog lead first.
    second = _run(day1 + dt.timedelta(hours=1))

    with second.store.transaction() as tx:
        outcome, rule, reason = tx.connection.exec_driver_sql(
            "select outcome, rule, reason from row_outcomes where run_id = ?",
            (second.run_id,),
        ).one()
    assert outcome == "suppressed"
    assert rule == "opted_out"
    assert reason.startswith("opted out: do_not_email is yes")
    assert f"withdraws held lead {waiting}" in reason
    text = "\n".join(explain_lead(second.store, waiting))
    assert "Outcome: suppressed (rule opted_out_before_delivery)" in text
    assert waiting not in {
        row["lead_id"] for row in second.store.rows("backlog_leads", since=since)
    }


RECHECK_HEADER = (
    "email,first_name,last_name,company,country,phone,consent_share,lead_source,"
    "last_activity_at\n"
)


def _write_partner(home, status: str) -> None:
    partner = {
        "id": "P-ONE",
        "name": "One",
        "status": status,
        "territory": {"countries": ["US", "CA"]},
        "capacity_per_day": 100,
        "capacity_per_week": 500,
        "channel": "file_drop",
        "fields": ["lead_id", "company"],
        "timezone": "UTC",
    }
    (home / "config" / "partners.yaml").write_text(
        yaml.safe_dump({"partners": [partner]})
    )


def _edit_rules(home, change) -> None:
    path = home / "config" / "rules.yaml"
    rules = yaml.safe_load(path.read_text())
    change(rules)
    path.write_text(yaml.safe_dump(rules))


def _outcome_of(ctx, company: str) -> tuple[str, str, str]:
    with ctx.store.transaction() as tx:
        return tuple(
            tx.connection.execute(
                sa.text(
                    "select o.outcome, o.rule, o.reason from row_outcomes as o "
                    "inner join leads as l on l.lead_id = o.lead_id "
                    "where l.company = :company and o.outcome <> 'duplicate'"
                ),
                {"company": company},
            ).one()
        )


@pytest.fixture(params=["duckdb", "postgres"])
def waiting_leads(request, home, monkeypatch):
    """Five leads that found no partner on day 1 because P-ONE was paused."""
    if request.param == "postgres":
        monkeypatch.setenv("LEADSHARE_DB_URL", request.getfixturevalue("postgres_url"))
    _write_partner(home, "paused")
    _edit_rules(
        home,
        lambda rules: rules["exclusions"].update(
            competitor_domains=["competitor.example"], unsupported_countries=["KP"]
        ),
    )
    day1 = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    recent = (day1 - dt.timedelta(days=2)).isoformat()
    old = (day1 - dt.timedelta(days=40)).isoformat()
    rows = [
        f"a@globex.example,Ann,Lee,Globex,US,(202) 555-0141,yes,referral,{recent}\n",
        f"b@plain.example,Bo,Ray,Plain Co,US,(202) 555-0142,yes,referral,{recent}\n",
        f"c@stale.example,Cy,Fox,Stale Co,US,(202) 555-0143,yes,referral,{old}\n",
        f"d@rivalcorp.example,Di,Wu,Rival Co,US,(202) 555-0144,yes,referral,{recent}\n",
        f"e@north.example,Ed,Kim,North Co,CA,(202) 555-0145,yes,referral,{recent}\n",
    ]
    inbox = home / "inbox" / "generic"
    inbox.mkdir(parents=True)
    (inbox / "five.csv").write_text(RECHECK_HEADER + "".join(rows), encoding="utf-8")
    first = _run(day1)
    assert _count(first, "no_eligible_partner") == 5
    return day1


def test_backlog_strategic_lead_awaits_approval(waiting_leads, home):
    _write_partner(home, "active")
    later = _run(waiting_leads + dt.timedelta(days=1))

    assert later.placed == 4
    globex = _outcome_of(later, "Globex")
    assert globex == ("awaiting_approval", "strategic_account", "named account globex")
    queue = later.store.rows("pending_approvals")
    assert [row["company"] for row in queue] == ["Globex"]
    assert queue[0]["proposed_partner"] == "P-ONE"
    transfers = later.store.rows("transfer_counts", run_id=later.run_id)
    assert transfers[0]["offered"] == 4


def test_backlog_rechecks_current_rules(waiting_leads, home):
    _write_partner(home, "active")
    _edit_rules(
        home,
        lambda rules: rules["exclusions"].update(
            competitor_domains=["rivalcorp.example"],
            unsupported_countries=["KP", "CA"],
        ),
    )
    # The stale lead's last activity is 50 days old by now (freshness_days is 45).
    later = _run(waiting_leads + dt.timedelta(days=10))

    assert later.placed == 1
    assert later.backlog.disqualified == 3
    assert _outcome_of(later, "Plain Co")[0] == "shared"
    stale = _outcome_of(later, "Stale Co")
    assert stale[:2] == ("disqualified", "stale")
    assert "is older than 45 days" in stale[2]
    rival = _outcome_of(later, "Rival Co")
    assert rival[:2] == ("disqualified", "competitor_domain")
    assert "rivalcorp.example is on the competitor list" in rival[2]
    north = _outcome_of(later, "North Co")
    assert north[:2] == ("disqualified", "unsupported_country")
    since = waiting_leads - dt.timedelta(days=1)
    assert later.store.rows("backlog_leads", since=since) == []
    with later.store.transaction() as tx:
        companies = {
            row[0]
            for row in tx.connection.execute(
                sa.text(
                    "select l.company from transfers as t "
                    "inner join leads as l on l.lead_id = t.lead_id"
                )
            )
        }
    assert companies == {"Plain Co"}


def test_approval_of_stale_lead_rejected(waiting_leads, home):
    _write_partner(home, "active")
    held = _run(waiting_leads + dt.timedelta(days=1))
    (globex,) = [row["lead_id"] for row in held.store.rows("pending_approvals")]
    # Globex's last activity was 2 days before day 1, so 46 days old by now.
    late = build_context(now=waiting_leads + dt.timedelta(days=44))
    decision = ApprovalDecision(lead_id=globex, action="approve", approver="mia")

    with pytest.raises(ApprovalError) as caught:
        decide(late.store, late.config, decision, "r-1", late.now)

    message = str(caught.value)
    assert f"lead {globex} cannot be shared: it fails rule stale" in message
    assert "is older than 45 days" in message
    assert "change that rule in config/rules.yaml" in message
    assert late.store.rows("lead_transfers", lead_id=globex) == []
    assert late.store.rows("approval_by_lead", lead_id=globex)[0]["status"] == "pending"
    # The same lead approved while it is fresh goes through.
    fresh = build_context(now=waiting_leads + dt.timedelta(days=2))
    assert decide(fresh.store, fresh.config, decision, "r-2", fresh.now).startswith(
        "Approved"
    )


def _stored_score(ctx, company: str) -> float:
    with ctx.store.transaction() as tx:
        return tx.connection.execute(
            sa.text("select score from leads where company = :company"),
            {"company": company},
        ).scalar_one()


def test_backlog_rechecks_raised_threshold(waiting_leads, home):
    _write_partner(home, "active")
    score = _stored_score(build_context(now=waiting_leads), "Plain Co")
    _edit_rules(home, lambda rules: rules.update(threshold=score + 1))
    later = _run(waiting_leads + dt.timedelta(days=1))

    assert later.placed == 0
    plain = _outcome_of(later, "Plain Co")
    assert plain[:2] == ("disqualified", "score_below_threshold")
    expected = f"score {score:g} (from intake) is below the threshold {score + 1:g}"
    assert plain[2] == expected
    assert later.store.rows("pending_approvals") == []
    with later.store.transaction() as tx:
        lead_id = tx.connection.execute(
            sa.text("select lead_id from leads where company = 'Plain Co'")
        ).scalar_one()
    text = " ".join(explain_lead(later.store, lead_id, later.config.rules))
    assert "A later run checked this waiting lead against the rules" in text
    assert "fields are not stored" not in text


def test_approval_below_raised_threshold_rejected(waiting_leads, home):
    _write_partner(home, "active")
    queued = _run(waiting_leads + dt.timedelta(days=1))
    (globex,) = [row["lead_id"] for row in queued.store.rows("pending_approvals")]
    score = _stored_score(queued, "Globex")
    _edit_rules(home, lambda rules: rules.update(threshold=score + 1))
    later = build_context(now=waiting_leads + dt.timedelta(days=2))
    decision = ApprovalDecision(lead_id=globex, action="approve", approver="mia")

    with pytest.raises(ApprovalError) as caught:
        decide(later.store, later.config, decision, "r-1", later.now)

    message = str(caught.value)
    assert "it fails rule score_below_threshold" in message
    assert f"is below the threshold {score + 1:g}" in message
    assert later.store.rows("approval_by_lead", lead_id=globex)[0]["status"] == "pending"


def test_second_commit_rejected(small_partner):
    # The outcome tables have no primary key in DuckDB, so the commit itself must
    # reject a file whose rows were written before, and write nothing of it.
    ctx = build_context(now=dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC))
    (item,) = pipeline.claim_files(ctx)
    frame, match, entries, meta = _stages(ctx, item)
    pipeline.commit_batch(ctx, item, frame.copy(), match, entries, meta)

    with pytest.raises(StoreError) as caught:
        pipeline.commit_batch(ctx, item, frame.copy(), match, entries, meta)

    assert "ten.csv: 10 rows of this content already have outcomes" in str(
        caught.value
    )
    with ctx.store.transaction() as tx:
        counts = [
            tx.connection.execute(sa.text(f"select count(*) from {table}")).scalar()
            for table in ("row_outcomes", "leads", "decisions", "transfers")
        ]
    assert counts == [10, 10, 10, 4]


def _lead_by_outcome(ctx, outcome: str) -> tuple[str, str]:
    """Return (lead id, e-mail) of the first lead with ``outcome``, by e-mail."""
    with ctx.store.transaction() as tx:
        return tuple(
            tx.connection.exec_driver_sql(
                "select l.lead_id, l.email from leads as l join row_outcomes as o "
                f"on o.lead_id = l.lead_id where o.outcome = '{outcome}' "
                "order by l.email limit 1"
            ).fetchone()
        )


def test_unclear_opt_out_holds_queued_leads(small_partner, home):
    from typer.testing import CliRunner

    from leadshare import cli

    day1 = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    first = _run(day1)
    shared_id, shared_email = _lead_by_outcome(first, "shared")
    waiting_id, waiting_email = _lead_by_outcome(first, "no_eligible_partner")
    later = home / "inbox" / "generic" / "later.csv"
    later.write_text(
        "email,consent_share,do_not_email\n"
        f"{shared_email.upper()},yes,X\n"
        f"{waiting_email},Nein,\n",
        encoding="utf-8",
    )

    second = _run(day1 + dt.timedelta(hours=1))
    third = _run(day1 + dt.timedelta(days=1))
    backlog = {row["lead_id"] for row in third.store.rows("backlog_leads", since=day1)}
    transfers = {
        lead_id: status
        for lead_id, status in db_pairs(third, "select lead_id, status from transfers")
    }
    hold = third.store.rows("consent_hold", lead_id=shared_id)[0]["reason"]

    assert _count(second, "quarantined") == 2
    assert transfers[shared_id] == "failed"
    assert waiting_id not in transfers
    # The waiting lead's row was read as a correction, so the quarantined row
    # replaced the lead, and the person waits until that row is fixed.
    assert waiting_id not in backlog
    assert third.placed == 4
    assert _outcome_rule(third, waiting_id) == ("duplicate", "replaced_by_reimport")
    assert hold.startswith("row 1 of later.csv is the same person with an unclear")
    assert f"`leadshare transfer retry {shared_id}`" in hold

    runner = CliRunner()
    reoffered = runner.invoke(cli.app, ["transfer", "reoffer", shared_id])
    released = runner.invoke(cli.app, ["transfer", "retry", shared_id])
    fourth = _run(day1 + dt.timedelta(days=2))
    after = dict(db_pairs(fourth, "select lead_id, status from transfers"))

    # The held transfer failed without a send, so it is no partner's rejection.
    assert "nothing to do" in reoffered.output
    assert released.exit_code == 0, released.output
    assert "1 failed transfer back in the outbox (P-ONE 1)" in released.output
    assert "1 lead released from a consent hold" in released.output
    assert after[shared_id] == "pending"
    assert waiting_id not in after


def _outcome_rule(ctx, lead_id: str) -> tuple[str, str]:
    with ctx.store.transaction() as tx:
        return tuple(
            tx.connection.exec_driver_sql(
                "select o.outcome, o.rule from row_outcomes as o join leads as l "
                "on o.file_id = l.file_id and o.source_row = l.source_row "
                f"where l.lead_id = '{lead_id}'"
            ).fetchone()
        )


def db_pairs(ctx, sql: str) -> list[tuple]:
    with ctx.store.transaction() as tx:
        return [tuple(row) for row in tx.connection.exec_driver_sql(sql).fetchall()]
