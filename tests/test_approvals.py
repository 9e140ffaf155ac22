"""Strategic leads wait for a human; decisions from the CLI helpers and the approval flow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from httpserver import LocalEndpoint
from test_flow_share import SECRET, db_rows, run_share, write_partners

from leadshare.approvals import (
    ApprovalDecision,
    ApprovalError,
    DecisionsNotAppliedError,
    decide,
    pending,
)
from leadshare.runtime import build_context

pytestmark = pytest.mark.usefixtures("prefect_harness")

REPO = Path(__file__).resolve().parents[1]

HEADER = "email,first_name,last_name,company,country,phone,consent_share,lead_source,company_size\n"
ROWS = [
    "a@globex.example,Ann,Lee,Globex,US,(202) 555-0141,yes,referral,20\n",
    "b@big.example,Bo,Ray,Big Co,US,(202) 555-0142,yes,referral,9000\n",
    "c@huge.example,Cy,Fox,Huge Co,US,(202) 555-0143,yes,referral,12000\n",
    "d@small.example,Di,Wu,Small Co,US,(202) 555-0144,yes,referral,10\n",
]



def _review(decisions) -> list[str]:
    """Run the approval flow and return its per-row results, also when it failed."""
    from flows.approval import review_approvals

    state = review_approvals(decisions, return_state=True)
    result = state.result(raise_on_failure=False)
    return result.results if isinstance(result, DecisionsNotAppliedError) else result


@pytest.fixture
def queued(home, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    source = tmp_path / "strategic.csv"
    source.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    with LocalEndpoint(secret=SECRET) as endpoint:
        write_partners(home, endpoint.url, hook_capacity=100)
        summary = run_share(home, "generic", source)
        yield summary, endpoint


def _lead(home, company: str) -> str:
    return db_rows(home, f"select lead_id from leads where company = '{company}'")[0][0]


def test_strategic_leads_wait_others_go(queued, home):
    summary, _ = queued
    assert summary["outcomes"]["awaiting_approval"] == 3
    assert summary["outcomes"]["shared"] == 1
    assert len(pending(build_context().store)) == 3


def test_decisions_apply_and_next_run_delivers_once(queued, home):
    from flows.approval import review_approvals

    summary, endpoint = queued
    ctx = build_context()
    globex, big, huge = (
        _lead(home, "Globex"),
        _lead(home, "Big Co"),
        _lead(home, "Huge Co"),
    )
    decide(
        ctx.store,
        ctx.config,
        ApprovalDecision(lead_id=globex, action="approve", approver="mia"),
        "r-1",
        ctx.now,
    )
    results = _review(
        [
            ApprovalDecision(
                lead_id=big, action="reassign", partner_id="P-DROP", approver="mia"
            ),
            ApprovalDecision(
                lead_id=huge, action="reject", approver="mia", note="existing customer"
            ),
            ApprovalDecision(lead_id=huge, action="approve", approver="mia"),
        ]
    )
    assert results[0].startswith("Approved")
    assert results[1].startswith("Rejected")
    assert results[2].startswith("not applied")

    sent_before = len(endpoint.requests)
    run_share(home, "generic")
    run_share(home, "generic")

    assert len(endpoint.requests) == sent_before + 1
    transfers = dict(db_rows(home, "select lead_id, partner_id from transfers"))
    assert transfers[globex] == "P-HOOK"
    assert transfers[big] == "P-DROP"
    assert huge not in transfers
    outcomes = dict(db_rows(home, "select lead_id, outcome from row_outcomes"))
    assert outcomes[huge] == "disqualified"
    assert outcomes[globex] == "shared"


def test_reassign_to_paused_partner_rejected(queued, home):
    ctx = build_context()
    lead = _lead(home, "Globex")
    with pytest.raises(ApprovalError, match="paused"):
        decide(
            ctx.store,
            ctx.config,
            ApprovalDecision(
                lead_id=lead, action="reassign", partner_id="P-PAUSED", approver="x"
            ),
            "r",
            ctx.now,
        )


def test_reassign_to_full_partner_rejected(queued, home):
    # write_partners gives P-DROP 40 a day; a daily cap of 0 leaves it full.
    partners = home / "config" / "partners.yaml"
    partners.write_text(
        partners.read_text().replace("capacity_per_day: 40", "capacity_per_day: 0")
    )
    ctx = build_context()
    lead = _lead(home, "Globex")
    with pytest.raises(ApprovalError, match="no capacity left") as caught:
        decide(
            ctx.store,
            ctx.config,
            ApprovalDecision(
                lead_id=lead, action="reassign", partner_id="P-DROP", approver="x"
            ),
            "r",
            ctx.now,
        )
    assert "0 of 0 today" in str(caught.value)


def test_second_concurrent_decision_rejected(queued, home, monkeypatch):
    ctx = build_context()
    lead = _lead(home, "Globex")
    approve = ApprovalDecision(lead_id=lead, action="approve", approver="alice")
    decide(ctx.store, ctx.config, approve, "r-1", ctx.now)
    # Bob read the queue before Alice's decision was recorded: his read still
    # shows the approval pending, and his write must not win as well.
    stale = {
        "lead_id": lead,
        "proposed_partner": "P-HOOK",
        "status": "pending",
        "decided_by": None,
    }
    real_rows = ctx.store.rows
    monkeypatch.setattr(
        ctx.store,
        "rows",
        lambda name, **params: [stale] if name == "approval_by_lead" else real_rows(name, **params),
    )
    reassign = ApprovalDecision(
        lead_id=lead, action="reassign", partner_id="P-DROP", approver="bob"
    )
    with pytest.raises(ApprovalError, match="decided by someone else"):
        decide(ctx.store, ctx.config, reassign, "r-2", ctx.now)

    transfers = db_rows(home, f"select partner_id from transfers where lead_id = '{lead}'")
    assert transfers == [("P-HOOK",)]
    decided = db_rows(home, f"select decided_by from approvals where lead_id = '{lead}'")
    assert decided == [("alice",)]


def test_repeated_decision_counts_as_applied(queued, home):
    # A retried approval flow run sends its applied rows again.
    ctx = build_context()
    globex, big = _lead(home, "Globex"), _lead(home, "Big Co")
    first = [
        ApprovalDecision(
            lead_id=big, action="reassign", partner_id="P-DROP", approver="mia"
        ),
        ApprovalDecision(lead_id=globex, action="reject", approver="mia"),
    ]
    for decision in first:
        decide(ctx.store, ctx.config, decision, "r-1", ctx.now)

    again = [
        ApprovalDecision(
            lead_id=big, action="reassign", partner_id="p-drop", approver="mia"
        ),
        ApprovalDecision(lead_id=globex, action="reject", approver="mia"),
    ]
    results = [decide(ctx.store, ctx.config, d, "r-2", ctx.now) for d in again]
    other = ApprovalDecision(lead_id=globex, action="reject", approver="bob")
    with pytest.raises(ApprovalError, match="was already decided: rejected by mia"):
        decide(ctx.store, ctx.config, other, "r-3", ctx.now)

    assert results[0] == (
        f"Lead {big} was already approved for P-DROP by mia with this decision; "
        "nothing was changed."
    )
    assert results[1] == (
        f"Lead {globex} was already rejected by mia with this decision; nothing was "
        "changed."
    )
    sql = f"select partner_id from transfers where lead_id = '{big}'"
    assert db_rows(home, sql) == [("P-DROP",)]


def test_opt_out_withdraws_pending_approval(queued, home, tmp_path):
    from leadshare.explain import explain_lead

    ctx = build_context()
    lead = _lead(home, "Big Co")
    opt_out = tmp_path / "opt-out.csv"
    opt_out.write_text(
        HEADER.strip() + ",do_not_email\n" + ROWS[1].strip() + ",yes\n", encoding="utf-8"
    )
    run_share(home, "generic", opt_out)

    approval = db_rows(home, f"select status, decided_by from approvals where lead_id = '{lead}'")
    assert approval == [("withdrawn", "leadshare")]
    assert lead not in {row["lead_id"] for row in pending(ctx.store)}
    outcome = db_rows(home, f"select outcome from row_outcomes where lead_id = '{lead}' and outcome <> 'duplicate'")
    assert outcome == [("suppressed",)]
    with pytest.raises(ApprovalError, match="because the person opted out") as caught:
        decide(
            ctx.store,
            ctx.config,
            ApprovalDecision(lead_id=lead, action="approve", approver="mia"),
            "r",
            ctx.now,
        )
    assert "withdrawn by leadshare" not in str(caught.value)
    explained = "\n".join(explain_lead(ctx.store, lead))
    assert "Approval: withdrawn because the person opted out" in explained
    assert "(withdrawn, the person opted out)" in explained
    assert "a human decides" not in explained


def test_flow_goes_on_after_unknown_partner(queued, home):
    from flows.approval import review_approvals

    globex, big, huge = (
        _lead(home, "Globex"),
        _lead(home, "Big Co"),
        _lead(home, "Huge Co"),
    )
    results = _review(
        [
            ApprovalDecision(lead_id=globex, action="approve", approver="mia"),
            ApprovalDecision(
                lead_id=big, action="reassign", partner_id="P-NOPE", approver="mia"
            ),
            ApprovalDecision(lead_id=huge, action="reject", approver="mia"),
        ]
    )

    assert results[0].startswith("Approved")
    assert results[1].startswith("not applied")
    assert "P-NOPE" in results[1]
    assert results[2].startswith("Rejected")
    # A row not applied makes the run Failed, so the UI does not show it as done.
    state = review_approvals(
        [{"lead_id": big, "action": "approve", "approver": " "}],
        return_state=True,
    )
    assert state.is_failed()
    assert "1 of 1 approval decisions were not applied" in state.message


def test_failed_form_raises_its_own_error(queued, home, caplog):
    from flows.approval import review_approvals

    globex, big = _lead(home, "Globex"), _lead(home, "Big Co")
    rows = [
        {"lead_id": globex, "action": "approve", "approver": "mia"},
        {"lead_id": big, "action": "approve", "approver": " "},
    ]

    # Called without return_state, Prefect resolves the Failed state into an
    # exception: a list of strings as its data made that a TypeError.
    with pytest.raises(DecisionsNotAppliedError) as failure:
        review_approvals(rows)

    assert str(failure.value).startswith("1 of 2 approval decisions were not applied")
    assert failure.value.results[0].startswith("Approved")
    assert failure.value.results[1].startswith("not applied")
    assert "TypeError" not in caplog.text
    assert "Unexpected result" not in caplog.text


def test_explain_shows_human_decision(queued, home):
    from leadshare.explain import explain_lead

    ctx = build_context()
    big, huge = _lead(home, "Big Co"), _lead(home, "Huge Co")
    decide(
        ctx.store,
        ctx.config,
        ApprovalDecision(
            lead_id=big, action="reassign", partner_id="P-DROP", approver="mia"
        ),
        "r-1",
        ctx.now,
    )

    reassigned = "\n".join(explain_lead(ctx.store, big))
    assert "Approval: approved by mia for P-DROP." in reassigned
    assert "proposed partner: P-HOOK (approved by mia for P-DROP)" in reassigned
    assert "a human decides" not in reassigned
    assert "chosen partner" not in reassigned
    waiting = "\n".join(explain_lead(ctx.store, huge))
    assert "Approval: waiting for a human; matching proposed P-HOOK." in waiting
    assert "proposed partner (a human decides): P-HOOK" in waiting


def test_explain_of_rejected_lead(queued, home):
    from leadshare.explain import explain_lead

    ctx = build_context()
    lead = _lead(home, "Big Co")
    decision = ApprovalDecision(
        lead_id=lead, action="reject", approver="mia", note="full"
    )
    decide(ctx.store, ctx.config, decision, "r-1", ctx.now)

    text = " ".join(" ".join(explain_lead(ctx.store, lead)).split())
    assert "Outcome: rejected by mia (full), so it is not shared." in text
    assert "A later run checked" not in text


def test_flow_skips_only_invalid_rows(queued, home):
    from flows.approval import review_approvals
    from leadshare.approvals import DecisionRow

    globex, big, huge = (
        _lead(home, "Globex"),
        _lead(home, "Big Co"),
        _lead(home, "Huge Co"),
    )
    results = _review(
        [
            {"lead_id": globex, "action": "approve", "approver": "bob"},
            {"lead_id": big, "action": "approve", "approver": "   "},
            DecisionRow(lead_id=huge, action="reassign", approver="bob"),
            {"lead_id": big, "action": "approve"},
            {"lead_id": big, "action": "Approve", "approver": None},
            {"lead_id": " ", "action": "reject", "approver": "bob"},
            {"lead_id": big, "action": "reassign", "partner": "P-DROP"},
            {
                "lead_id": big,
                "action": "approve",
                "partner_id": "P-DROP",
                "approver": "bob",
            },
        ]
    )

    assert results[0].startswith("Approved")
    assert results[1] == (
        "not applied: invalid decision: approver: is blank; give it. Nothing was "
        "changed"
    )
    assert results[2] == (
        "not applied: invalid decision: reassign needs a partner id from "
        "partners.yaml. Nothing was changed"
    )
    assert "approver: is blank; give it" in results[3]
    assert "approver: is blank; give it" in results[4]
    assert "lead_id: a lead id is required" in results[5]
    assert results[6] == (
        "not applied: invalid decision: unknown field partner; the fields are "
        "lead_id, action, partner_id, approver, note. Nothing was changed"
    )
    assert "approve gives the lead to its proposed partner P-HOOK" in results[7]
    assert "To give it to P-DROP, use the action reassign" in results[7]
    assert _approval_status(big) == "pending"


def test_form_fields_typed():
    from prefect.utilities.callables import parameter_schema

    from flows.approval import review_approvals

    schema = parameter_schema(review_approvals.fn).model_dump()
    row = schema["definitions"]["DecisionRow"]["properties"]

    assert schema["properties"]["decisions"]["type"] == "array"
    assert set(row) == {"lead_id", "action", "partner_id", "approver", "note"}
    assert all(field.get("description") for field in row.values())


def test_decision_during_run_rejected(queued, home, monkeypatch):
    from typer.testing import CliRunner

    from leadshare import approvals, cli

    monkeypatch.setattr(approvals, "LOCK_WAIT_S", 0.5)
    ctx = build_context()
    lead = _lead(home, "Globex")
    approve = ApprovalDecision(lead_id=lead, action="approve", approver="mia")

    with ctx.store.exclusive_run("run-live"):
        with pytest.raises(ApprovalError) as caught:
            decide(ctx.store, ctx.config, approve, "r-1", ctx.now)
        result = CliRunner().invoke(cli.app, ["approvals", "approve", lead])

    assert str(caught.value).startswith(
        "a sharing run or another approval decision is using store"
    )
    assert "Retry it when the run has finished" in str(caught.value)
    assert result.exit_code == 2
    assert "a sharing run or another approval decision" in result.output
    assert ctx.store.rows("approval_by_lead", lead_id=lead)[0]["status"] == "pending"
    assert ctx.store.rows("lead_transfers", lead_id=lead) == []


def test_decision_waits_for_other_decision(queued, home):
    # Another approver's decision holds the lock for a moment, then lets go.
    ctx = build_context()
    lead = _lead(home, "Globex")
    approve = ApprovalDecision(lead_id=lead, action="approve", approver="mia")
    locked = threading.Event()

    def hold_lock() -> None:
        with ctx.store.exclusive_run("other-decision"):
            locked.set()
            time.sleep(1.0)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(5)
    result = decide(ctx.store, ctx.config, approve, "r-1", ctx.now)
    holder.join()

    assert result.startswith("Approved")
    assert ctx.store.rows("approval_by_lead", lead_id=lead)[0]["status"] == "approved"


def test_run_cannot_start_during_decision(queued, home, monkeypatch):
    from leadshare import approvals
    from leadshare.errors import RunLockedError

    ctx = build_context()
    lead = _lead(home, "Globex")
    attempts = []
    check_eligible = approvals._check_eligible

    def start_run_meanwhile(*args, **kwargs):
        # A sharing run that starts while the decision checks capacity.
        try:
            with ctx.store.exclusive_run("run-during-decision"):
                attempts.append("started")
        except RunLockedError:
            attempts.append("locked")
        return check_eligible(*args, **kwargs)

    monkeypatch.setattr(approvals, "_check_eligible", start_run_meanwhile)
    approve = ApprovalDecision(lead_id=lead, action="approve", approver="mia")
    message = decide(ctx.store, ctx.config, approve, "r-1", ctx.now)

    assert attempts == ["locked"]
    assert message.startswith("Approved")
    # The lock is released after the decision, so the next run can start.
    with ctx.store.exclusive_run("run-after-decision"):
        pass


def test_flow_cleans_ids_and_checks_actions(queued, home):
    from flows.approval import review_approvals

    globex, big, huge = (
        _lead(home, "Globex"),
        _lead(home, "Big Co"),
        _lead(home, "Huge Co"),
    )
    results = _review(
        [
            {"lead_id": f"\u200b {globex.upper()} \ufeff", "action": "approve", "approver": "eve"},
            {"lead_id": big, "action": "aprove", "approver": "eve"},
            {"lead_id": huge.upper(), "action": "reject", "approver": "eve"},
            {"lead_id": big, "action": None, "approver": "eve"},
        ]
    )

    assert len(results) == 4
    assert results[0] == (
        f"Approved {globex} for P-HOOK; the next sharing run delivers it."
    )
    assert results[1].startswith("not applied: invalid decision: action: Input should be")
    assert results[2] == f"Rejected {huge}; it will not be shared."
    assert results[3].startswith("not applied: invalid decision: action:")
    assert pending(build_context().store)[0]["lead_id"] == big


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("L-0123456789abcdef", "L-0123456789abcdef"),
        ("  l-0123456789ABCDEF\n", "L-0123456789abcdef"),
        ("\ufeffL-0123456789abcdef\u200b", "L-0123456789abcdef"),
        ("\u2060 L-0123456789abcdef \u200d", "L-0123456789abcdef"),
        (" 42 ", "42"),
        ("\u200b", ""),
    ],
)
def test_clean_lead_id_cases(text, expected):
    from leadshare.ids import clean_lead_id

    assert clean_lead_id(text) == expected


def test_cli_approver_on_one_line(queued, home):
    # A line break in the approver would add a forged line to explain's text.
    from typer.testing import CliRunner

    from leadshare import cli

    lead = _lead(home, "Globex")
    for forged in ("mia\napproved by the CFO", "eve\u200bX\u202e"):
        result = CliRunner().invoke(
            cli.app, ["approvals", "approve", lead, "--approver", forged]
        )

        assert result.exit_code == 2
        assert "approver: the approver name contains a line break" in " ".join(
            result.output.split()
        )
    assert db_rows(home, f"select status from approvals where lead_id = '{lead}'") == [
        ("pending",)
    ]
    rejected = CliRunner().invoke(
        cli.app,
        ["approvals", "reject", lead, "--approver", "mia", "--note", "no\nbudget"],
    )
    assert rejected.exit_code == 0, rejected.output
    reason = db_rows(
        home, f"select reason from row_outcomes where lead_id = '{lead}'"
    )
    assert reason == [("rejected by mia: no budget",)]


@pytest.mark.parametrize(
    ("login", "expected"),
    [("lena", "lena"), (None, "unknown")],
)
def test_cli_approver_defaults_to_login(queued, home, monkeypatch, login, expected):
    import getpass

    from typer.testing import CliRunner

    from leadshare import cli

    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    if login is None:

        def no_login_name() -> str:
            raise OSError("no username set in the environment")

        monkeypatch.setattr(getpass, "getuser", no_login_name)
    else:
        monkeypatch.setenv("LOGNAME", login)
    lead = _lead(home, "Globex")

    result = CliRunner().invoke(cli.app, ["approvals", "approve", lead])

    assert result.exit_code == 0, result.output
    decided = db_rows(home, f"select decided_by from approvals where lead_id = '{lead}'")
    assert decided == [(expected,)]


def test_reject_without_note_has_no_colon(queued, home):
    from typer.testing import CliRunner

    from leadshare import cli

    big, huge = _lead(home, "Big Co"), _lead(home, "Huge Co")
    runner = CliRunner()

    plain = runner.invoke(cli.app, ["approvals", "reject", big, "--approver", "mia"])
    noted = runner.invoke(
        cli.app,
        ["approvals", "reject", huge, "--approver", "mia", "--note", " customer "],
    )

    assert plain.exit_code == 0, plain.output
    assert noted.exit_code == 0, noted.output
    rejected = "select lead_id, reason from row_outcomes where rule = 'rejected_by_approver'"
    reasons = dict(db_rows(home, rejected))
    assert reasons[big] == "rejected by mia"
    assert reasons[huge] == "rejected by mia: customer"


def _remove_partner(home, partner_id: str) -> None:
    path = home / "config" / "partners.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["partners"] = [p for p in config["partners"] if p["id"] != partner_id]
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _approval_status(lead: str) -> str:
    return build_context().store.rows("approval_by_lead", lead_id=lead)[0]["status"]


def test_list_names_unapprovable_leads(queued, home):
    from typer.testing import CliRunner

    from leadshare import cli

    globex = _lead(home, "Globex")
    with build_context().store.transaction() as tx:
        tx.connection.exec_driver_sql(
            "insert into suppression (key, kind, reason, source, suppressed_at) "
            "values ('a@globex.example', 'email', 'opted out', 'test', now())"
        )
    before = CliRunner().invoke(cli.app, ["approvals", "list"])
    _remove_partner(home, "P-HOOK")
    after = CliRunner().invoke(cli.app, ["approvals", "list"])

    assert before.exit_code == 0, before.output
    assert "1 lead cannot be approved for the proposed partner now" in before.stdout
    assert f"  {globex}: the person opted out\n" in before.stdout
    assert "3 leads cannot be approved" in after.stdout
    assert f"  {globex}: the person opted out\n" in after.stdout
    assert after.stdout.count(": P-HOOK is not in partners.yaml\n") == 2


def test_list_keeps_partner_ids_whole(queued, home, monkeypatch):
    from typer.testing import CliRunner

    from leadshare import cli

    monkeypatch.setenv("COLUMNS", "60")
    listed = CliRunner().invoke(cli.app, ["approvals", "list"])

    assert listed.exit_code == 0, listed.output
    assert "3 leads awaiting approval" in listed.stdout
    assert "P-HOOK" in listed.stdout
    assert "P-HO…" not in listed.stdout
    assert "Huge Co, US; held: " in " ".join(listed.stdout.split())
    assert "…" not in listed.stdout


def test_list_as_json(queued, home):
    from typer.testing import CliRunner

    from leadshare import cli

    globex = _lead(home, "Globex")
    _remove_partner(home, "P-HOOK")

    result = CliRunner().invoke(cli.app, ["approvals", "list", "--json"])

    assert result.exit_code == 0, result.output
    queue = json.loads(result.stdout)
    by_lead = {row["lead_id"]: row for row in queue}
    assert len(queue) == 3
    assert by_lead[globex]["company"] == "Globex"
    assert by_lead[globex]["proposed_partner"] == "P-HOOK"
    assert by_lead[globex]["blocked"] == "P-HOOK is not in partners.yaml"
    assert by_lead[globex]["why_held"]
    assert by_lead[globex]["held_since"].endswith("+00:00")


def test_list_with_invalid_config(queued, home):
    from typer.testing import CliRunner

    from leadshare import cli

    globex = _lead(home, "Globex")
    (home / "config" / "rules.yaml").write_text("threshold: [\n", encoding="utf-8")

    listed = CliRunner().invoke(cli.app, ["approvals", "list"])
    as_json = CliRunner().invoke(cli.app, ["approvals", "list", "--json"])

    assert listed.exit_code == 0, listed.output
    assert "rules.yaml" in listed.stderr
    assert globex in listed.stdout
    assert f"Approvals are not possible now: {cli.UNCHECKED}" in listed.stdout
    blocked = {row["lead_id"]: row["blocked"] for row in json.loads(as_json.stdout)}
    assert blocked[globex] == cli.UNCHECKED


def test_approve_for_removed_partner_names_reassign(queued, home):
    from typer.testing import CliRunner

    from leadshare import cli

    lead = _lead(home, "Globex")
    _remove_partner(home, "P-HOOK")

    result = CliRunner().invoke(cli.app, ["approvals", "approve", lead])

    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "its proposed partner P-HOOK is no longer in partners.yaml" in message
    assert f"leadshare approvals reassign {lead} --partner P" in message
    assert _approval_status(lead) == "pending"
    reassigned = CliRunner().invoke(
        cli.app, ["approvals", "reassign", lead, "--partner", "P-DROP"]
    )
    assert reassigned.exit_code == 0, reassigned.output
    assert _approval_status(lead) == "approved"


def test_partner_id_matches_in_any_case(queued, home):
    from typer.testing import CliRunner

    from leadshare import cli

    lead = _lead(home, "Globex")

    unknown = CliRunner().invoke(
        cli.app, ["approvals", "reassign", lead, "--partner", "p-nope"]
    )
    result = CliRunner().invoke(
        cli.app, ["approvals", "reassign", lead, "--partner", " p-drop "]
    )

    assert unknown.exit_code == 2
    assert "partner 'p-nope' is not in partners.yaml" in unknown.output
    assert result.exit_code == 0, result.output
    assert f"Approved {lead} for P-DROP" in result.output
    transfers = f"select partner_id from transfers where lead_id = '{lead}'"
    assert db_rows(home, transfers) == [("P-DROP",)]
    decided = f"select decided_partner from approvals where lead_id = '{lead}'"
    assert db_rows(home, decided) == [("P-DROP",)]


def test_partner_id_in_two_cases_rejected(queued, home):
    from leadshare.errors import ConfigError

    config = build_context().config
    drop = config.partner("P-DROP")
    twin = drop.model_copy(update={"id": "p-Drop"})
    clashing = config.model_copy(update={"partners": [*config.partners, twin]})

    assert clashing.partner_id_as_configured("P-DROP") == "P-DROP"
    assert clashing.partner_id_as_configured("p-Drop") == "p-Drop"
    with pytest.raises(ConfigError, match="differ only in case"):
        clashing.partner_id_as_configured("p-drop")


def test_failed_run_in_engine_logs_one_line(home, tmp_path):
    """A failed approval run started as a worker starts it logs no traceback."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from flows.approval import review_approvals

    rows = [{"lead_id": "L-0000000000000000", "action": "approve", "approver": "ann"}]
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(
            review_approvals, parameters={"decisions": rows}
        )
    env = dict(
        os.environ,
        LEADSHARE_HOME=str(home),
        PREFECT_API_URL=PREFECT_API_URL.value(),
        PREFECT__FLOW_RUN_ID=str(flow_run.id),
    )
    entrypoint = "flows/approval.py:review_approvals"
    engine = subprocess.run(
        [sys.executable, "-m", "prefect.flow_engine", entrypoint],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run.id).state

    assert state.is_failed()
    assert "Row 1 (lead 'L-0000000000000000'): not applied" in engine.stderr
    assert (
        "Engine execution exited with unexpected exception: DecisionsNotAppliedError: "
        "1 of 1 approval decisions were not applied" in engine.stderr
    )
    assert "Traceback (most recent call last)" not in engine.stderr


def test_unclear_opt_out_blocks_approval(queued, home, tmp_path):
    from leadshare.approvals import approval_blockers

    ctx = build_context()
    lead = _lead(home, "Big Co")
    unclear = tmp_path / "unclear.csv"
    unclear.write_text(
        HEADER.strip() + ",do_not_email\n" + ROWS[1].strip() + ",vielleicht\n",
        encoding="utf-8",
    )
    run_share(home, "generic", unclear)
    rows = [row for row in pending(ctx.store) if row["lead_id"] == lead]

    blockers = approval_blockers(ctx.store, ctx.config, rows, ctx.now)
    with pytest.raises(ApprovalError, match="because its consent is unclear") as caught:
        decide(
            ctx.store,
            ctx.config,
            ApprovalDecision(lead_id=lead, action="approve", approver="mia"),
            "r",
            ctx.now,
        )

    assert blockers[lead].startswith(
        "consent unclear: row 1 of unclear.csv is the same"
    )
    assert "dnc_unknown_token" in str(caught.value)
