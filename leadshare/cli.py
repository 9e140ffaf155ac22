"""The ``leadshare`` command line.

Contract relied on by scripts: ``LEADSHARE_HOME`` selects the folder with the store,
inbox, outbox and config (default ``./var``), and ``leadshare share --profile NAME
--json FILE...`` prints one JSON object whose ``outcomes`` maps each outcome to its
row count. When the deliveries to a partner stopped on an error that needs a fix by
hand, its row under ``partners`` has that ``error`` and the exit code is 1. Other
such errors of the run, a processed/ folder that cannot be written for example, are
listed under ``errors``, and the exit code is 1 too.
"""

from __future__ import annotations

import base64
import datetime as dt
import getpass
import json
import os
import secrets
import shutil
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from leadshare.errors import DeliveriesFailedError, LeadshareError, StoreError
from leadshare.words import counted, utc_iso, utc_text

app = typer.Typer(help="Partner lead sharing on Prefect.", no_args_is_help=True)
approvals_app = typer.Typer(
    help="The approval queue for strategic accounts and unreadable company sizes or "
    "revenues."
)
endpoint_app = typer.Typer(
    help="Partner endpoints disabled after 410 Gone, 401 or 403, or backing off "
    "after a 429."
)
transfer_app = typer.Typer(
    help="Transfers that partners rejected for good with a 4xx response: send them "
    "again, or offer their leads to other partners."
)
app.add_typer(approvals_app, name="approvals")
app.add_typer(endpoint_app, name="endpoint")
app.add_typer(transfer_app, name="transfer")
# markup=False everywhere: messages and table cells contain file names, lead ids and
# config values, and Rich would read "[...]" in them as markup.
console = Console(stderr=True, markup=False)

DEMO_PORT = 18765


@app.callback()
def _before_each_command() -> None:
    """Stop a temporary Prefect server that a killed run left behind."""
    from pydantic import ValidationError

    from leadshare.leftover_server import stop_leftover_servers
    from leadshare.settings import get_settings

    try:
        root = get_settings().root
    except (LeadshareError, ValidationError):
        return  # the command itself reports invalid settings
    stop_leftover_servers(root)  # logs each server it stops


def _prefect_offline() -> None:
    """Keep Prefect's telemetry off; the caller's own settings win."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_WORKER_WEBSERVER_HOST", "127.0.0.1")
    os.environ.setdefault("PREFECT_SERVER_API_HOST", "127.0.0.1")
    # Prefect's 20 s default was too short on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def _context():
    from leadshare import failpoints
    from leadshare.runtime import build_context
    from leadshare.settings import get_settings

    failpoints.check_env()
    config_dir = get_settings().config_dir
    new_config = not config_dir.exists() or (
        config_dir.is_dir() and not any(config_dir.iterdir())
    )
    ctx = build_context()
    if new_config:
        # A misspelt LEADSHARE_HOME would otherwise go unnoticed.
        console.print(
            f"note: {config_dir} had no config, so the example config (example "
            "partners) was copied there. Set LEADSHARE_HOME if you meant another "
            "folder.",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    return ctx


def _stdout() -> Console:
    return Console(markup=False)


def _fail(exc: Exception) -> None:
    console.print(Text.assemble(("error:", "red"), f" {exc}"))
    raise typer.Exit(code=2)


def _check_prefect_server() -> None:
    """Raise LeadshareError when PREFECT_API_URL names a server that does not respond.

    Without this check, the flow call fails after Prefect's client retries, with a
    long traceback. Without PREFECT_API_URL, Prefect starts a temporary server.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return
    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        raise LeadshareError(
            f"the Prefect server at PREFECT_API_URL {url} did not respond "
            f"({type(problem).__name__}: {problem}). Nothing was read, and the files "
            "are still in the inbox. Start that server, or unset PREFECT_API_URL so "
            "that leadshare starts a temporary one, and retry"
        )


def _run_flow(ready_files: list[str] | None = None) -> dict:
    _prefect_offline()
    _check_prefect_server()
    from flows.share import share_leads
    from leadshare.interrupt import stopping_on_signals
    from leadshare.leftover_server import record_server
    from leadshare.run_display import showing_progress
    from leadshare.settings import get_settings

    with (
        stopping_on_signals(),
        record_server(get_settings().root),
        showing_progress(console),
    ):
        try:
            return share_leads(ready_files=ready_files)
        except DeliveriesFailedError as exc:
            # The summary's rows name each failed partner's error, and the caller
            # prints them after the summary and exits with code 1.
            return exc.summary
        except RuntimeError as exc:
            if "ephemeral" not in str(exc).lower():
                raise
            raise LeadshareError(
                f"{exc}. The temporary Prefect server did not start in time (a busy "
                "machine, or several runs starting at once). Nothing was lost: the "
                "files are still in the inbox. Retry, or start one server with "
                "`prefect server start` and set PREFECT_API_URL to it."
            ) from exc


PARTNER_COLUMNS = (
    "partner",
    "channel",
    "offered",
    "sent",
    "failed",
    "retry_later",
    "waiting",
)
"""The columns of the per-partner table printed after a run."""


def _print_summary(summary: dict) -> None:
    # The run id goes on its own line: as a narrow table's title it wrapped.
    _stdout().print(f"Run {summary['run_id']}")
    table = Table(title=f"{counted(summary['rows_in'], 'row')} in")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    for name, count in summary["outcomes"].items():
        table.add_row(name, str(count))
    _stdout().print(table)
    for rejected in summary["rejected_files"]:
        console.print(f"Rejected {rejected['file']}: {rejected['reason']}")
        if rejected.get("quarantined_as"):
            console.print(f"  moved to {rejected['quarantined_as']}")
    for skipped in summary.get("skipped_files", []):
        console.print(f"Skipped {skipped['file']}: {skipped['reason']}")
    for other in summary.get("files_in_other_runs", []):
        console.print(
            f"{other['file']} was {other['status']} by run {other['run_id']}; "
            "`leadshare status` shows that run"
        )
    if summary.get("taken_over_runs"):
        console.print(
            "Also reported here: files committed by crashed or failed runs "
            + ", ".join(summary["taken_over_runs"])
        )
    if summary.get("backlog_placed"):
        console.print(
            f"Placed {counted(summary['backlog_placed'], 'waiting lead')} from "
            "earlier runs with a partner"
        )
    if summary.get("backlog_held") or summary.get("backlog_disqualified"):
        console.print(
            f"Of the leads from earlier runs, {summary.get('backlog_held', 0):,} went "
            f"to the approval queue and {summary.get('backlog_disqualified', 0):,} "
            "failed a rule changed since; `status` counts them under their own run"
        )
    for warning in summary.get("warnings") or []:
        console.print(
            Text.assemble(("warning:", "yellow"), f" {warning}"), soft_wrap=True
        )
    for partner, lead_ids in (summary.get("opted_out_after_delivery") or {}).items():
        console.print(
            f"Tell {partner} that the people of {counted(len(lead_ids), 'lead')} it "
            f"received earlier opted out in this run: {', '.join(lead_ids)}",
            soft_wrap=True,
        )
    partners = Table(title="Transfers per partner")
    for column in PARTNER_COLUMNS:
        partners.add_column(column)
    for row in summary["partners"]:
        partners.add_row(*(str(row[column]) for column in PARTNER_COLUMNS))
    _stdout().print(partners)
    for row in summary["partners"]:
        # Errors print after the summary (see _exit_on_errors); a wait that
        # needs no fix by hand, such as a paused partner, is explained here.
        pending = row["waiting"] + row["retry_later"]
        if pending and row.get("waiting_reason") and not row.get("error"):
            # The table splits the count into waiting and retry_later.
            console.print(
                f"{row['partner']}: {pending} not sent yet: {row['waiting_reason']}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        if row.get("failed_leads"):
            console.print(
                _failed_line(row["partner"], row["failed_leads"], row["failed_reason"]),
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


def _failed_line(partner: str, leads: list[str], reason: str | None) -> str:
    """Describe the transfers that a partner rejected for good in this run."""
    examples = ", ".join(leads[:3])
    if len(leads) > 3:
        examples += f" and {len(leads) - 3:,} more"
    return (
        f"{partner}: {counted(len(leads), 'transfer')} failed for good ({examples}), "
        f"rejected by the partner, for example with: {reason}. No run sends them "
        "again, so these leads reach no partner. `leadshare explain LEAD_ID` shows "
        "each transfer and its error"
    )


def _free_name(target: Path) -> Path:
    """Return ``target``, or ``stem~2.csv`` and so on when the inbox has that name.

    Runs claim files in name order, and ``~`` sorts after ``.``, so the file under
    its own name goes first and the summary names it as the user gave it.
    """
    candidate, number = target, 1
    while candidate.exists():
        number += 1
        candidate = target.with_name(f"{target.stem}~{number}{target.suffix}")
    return candidate


def _check_lead_file(path: Path) -> None:
    from leadshare.pipeline import LEAD_FILE_SUFFIXES

    if path.is_dir():
        raise LeadshareError(
            f"{path}: is a folder, not a lead file. Nothing was shared. Pass the "
            f"files inside it, for example {path}/*.csv"
        )
    if not path.is_file():
        raise LeadshareError(
            f"{path}: file not found. Nothing was shared. Check the path and retry"
        )
    if path.suffix.lower() not in LEAD_FILE_SUFFIXES:
        raise LeadshareError(
            f"{path}: unsupported file type. A run reads only "
            f"{', '.join(sorted(LEAD_FILE_SUFFIXES))} files, so nothing was shared. "
            "Export the leads as CSV or JSON Lines and retry"
        )


def _files_in_other_runs(
    ctx, copies: list[tuple[Path, str]], summary: dict
) -> list[dict]:
    """Name the given files that another run handled, such as one that ran at once.

    While this command waited for the store, a run started elsewhere can have read
    its files from the inbox. Without this list the summary would not show them.
    A file this run skipped as a repeat is in ``skipped_files`` already, with the
    run that committed it, so it is not listed again.
    """
    skipped = {entry["file"] for entry in summary.get("skipped_files") or []}
    found = []
    for path, inbox_name, sha256 in copies:
        if inbox_name in skipped:
            continue
        for row in ctx.store.rows("file_status", file_id=sha256[:32]):
            if row["run_id"] != summary.get("run_id"):
                found.append(
                    {"file": path.name, "status": row["status"], "run_id": row["run_id"]}
                )
    return found


@app.command()
def share(
    files: list[Path] = typer.Argument(..., help="Lead files (CSV or JSONL) to share."),
    profile: str = typer.Option("generic", help="Source mapping profile of the files."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the run summary as JSON."
    ),
) -> None:
    """Copy FILES into the inbox under PROFILE and run one sharing run."""
    from leadshare.pipeline import sha256_file

    try:
        ctx = _context_or_alert()
        ctx.config.profile(profile)
        # Check every file before copying any, so a bad argument leaves the inbox as
        # it was.
        for path in files:
            _check_lead_file(path)
        copies = []
        ready = []
        for path in files:
            # The inbox skips names that start with '.' as files still being copied.
            target = _free_name(ctx.settings.inbox / profile / path.name.lstrip("."))
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            except OSError as exc:
                raise LeadshareError(
                    f"cannot copy {path} into the inbox as {target}: {exc.strerror}. "
                    "Make the inbox folder writable for this user and retry"
                ) from exc
            copies.append((path, target.name, sha256_file(target)))
            ready.append(str(target))
        summary = _run_flow(ready)
    except LeadshareError as exc:
        _fail(exc)
    try:
        summary["files_in_other_runs"] = _files_in_other_runs(ctx, copies, summary)
    except StoreError as exc:
        # The run has finished, so its summary is printed all the same.
        summary["files_in_other_runs"] = None
        summary.setdefault("errors", []).append(
            f"the run finished, but whether another run handled some of the given "
            f"files is unknown: {exc}. `leadshare status` lists each run's files"
        )
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        _print_summary(summary)
    _exit_on_errors(summary)


@app.command()
def run(
    as_json: bool = typer.Option(
        False, "--json", help="Print the run summary as JSON, as share does."
    ),
) -> None:
    """Run the sharing flow once on whatever is in the inbox and outbox."""
    try:
        _context_or_alert()  # a bad config or setting fails here, before Prefect
        summary = _run_flow()
    except LeadshareError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        _print_summary(summary)
    _exit_on_errors(summary)


def _context_or_alert():
    """Return the run context; post a failure to Slack when it cannot be built.

    A scheduled `leadshare run` with a broken config would otherwise fail every
    hour with nothing in Slack. A failure of the flow itself is posted by the flow.
    """
    try:
        return _context()
    except LeadshareError as exc:
        from tasks.report import post_run_failure

        post_run_failure(None, exc, retries_left=False)
        raise


def _exit_on_errors(summary: dict) -> None:
    """Exit with code 1 after the summary when the run or a partner hit an error.

    Such an error, an outbox or processed/ folder that cannot be written for
    example, needs a fix by hand. The partner's transfers wait in the outbox, and
    files that were not archived wait in the inbox, for the next run. A file
    rejected whole needs a fix by hand too.
    """
    from leadshare.reporting import summary_errors

    # A file of this command that another run, started at the same time, rejected.
    other_rejected = [
        other
        for other in summary.get("files_in_other_runs") or []
        if other.get("status") == "rejected"
    ]
    errors = summary_errors(summary, other_rejected)
    for message in errors:
        console.print(
            f"error: {message}", markup=False, highlight=False, soft_wrap=True
        )
    if errors:
        raise typer.Exit(code=1)


@app.command()
def demo(
    rows: int = typer.Option(3000, help="Example leads to generate."), seed: int = 7
) -> None:
    """Generate example leads, start a local partner receiver, run the sharing flow."""
    from leadshare.demo import DemoReceiver
    from leadshare.generate import write_leads

    os.environ.setdefault(
        "LEADSHARE_DEMO_WEBHOOK_SECRET", "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    )
    try:
        ctx = _context()
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        path = write_leads(
            ctx.settings.inbox / "generic" / f"example-{stamp}.csv", rows, seed
        )
        console.print(f"Generated {rows} example leads in {path}")
        received = ctx.settings.root / "demo-partner-received.jsonl"
        try:
            receiver = DemoReceiver(
                DEMO_PORT, os.environ["LEADSHARE_DEMO_WEBHOOK_SECRET"], received
            )
        except OSError as exc:
            console.print(
                Text.assemble(
                    ("warning:", "yellow"),
                    f" cannot listen on 127.0.0.1:{DEMO_PORT} ({exc.strerror}); the "
                    "webhook partner's deliveries stay in the outbox and the next "
                    "run retries them.",
                )
            )
            receiver = None
        if receiver is None:
            summary = _run_flow([str(path)])
        else:
            with receiver:
                summary = _run_flow([str(path)])
        _print_summary(summary)
    except LeadshareError as exc:
        _fail(exc)
    root = ctx.settings.root
    messages = len(receiver.seen) if receiver else 0
    places = [
        ("store", str(root / "leadshare.duckdb")),
        ("partner files", str(ctx.settings.outbox)),
        ("webhook receiver", f"{received} ({messages} messages in this run)"),
        ("rejected files", str(ctx.settings.quarantine)),
        ("explain a lead", ".venv/bin/leadshare explain LEAD_ID"),
        ("lead ids", ".venv/bin/leadshare approvals list, the partner files"),
        ("last runs", ".venv/bin/leadshare status"),
    ]
    console.print("\nWhere to look:", soft_wrap=True)
    for label, place in places:
        # soft_wrap: a long path must not be broken by an inserted newline.
        console.print(
            f"  {label:<17} {place}", soft_wrap=True, highlight=False, markup=False
        )


@app.command()
def explain(
    lead_id: str = typer.Argument(
        ..., help="Lead id such as L-0123456789abcdef, from a partner file or a list."
    ),
) -> None:
    """Say in words why LEAD_ID was shared, held, dropped or sent where it was."""
    from leadshare.explain import explain_lead
    from leadshare.ids import clean_lead_id

    try:
        store, now, config, _ = _store_despite_config()
        lines = explain_lead(
            store,
            clean_lead_id(lead_id),
            config.rules if config else None,
            config.partners if config else None,
            now,
        )
    except LeadshareError as exc:
        _fail(exc)
    for line in lines:
        typer.echo(line)
    if lines and lines[0].startswith("No lead"):
        raise typer.Exit(code=1)


@app.command()
def rows(
    file: str = typer.Argument(
        ...,
        help="A lead file (found by its content), or a file name or id that "
        "`status --json` lists.",
    ),
    outcome: str | None = typer.Option(
        None, help="Show only rows with this outcome, such as quarantined."
    ),
    limit: int | None = typer.Option(
        None,
        min=0,
        help="Rows to show per file; 0 shows all. Default: 50, and all with --json.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the files as JSON."),
) -> None:
    """Show what became of each row of a lead file: outcome, lead, partners, reason."""
    from leadshare import file_rows

    row_limit = None if limit == 0 or (limit is None and as_json) else (limit or 50)
    try:
        outcome_name = file_rows.check_outcome(outcome)
        store, _, _, _ = _store_despite_config()
        files = file_rows.find_files(store, file)
        documents = [
            file_rows.file_document(store, found, outcome_name) for found in files
        ]
        listed = [
            file_rows.file_rows(store, found["file_id"], outcome_name, row_limit)
            for found in files
        ]
        if as_json:
            file_rows.write_json(documents, listed, sys.stdout)
        else:
            plain = Console(highlight=False, markup=False)
            if not documents:
                plain.print(file_rows.not_found_text(file), soft_wrap=True)
            for document, rows_of_file in zip(documents, listed, strict=True):
                for line in file_rows.file_lines(document, rows_of_file, outcome_name):
                    plain.print(line, soft_wrap=True)
    except LeadshareError as exc:
        _fail(exc)
    if not documents:
        raise typer.Exit(code=1)


def _store_despite_config():
    """Return the store, the time now, the config and the config error.

    The config is None while it is invalid, and the error is its message then
    (None otherwise). ``status``, ``explain`` and ``approvals list`` read mainly
    the store, and an operator needs them most when runs fail, for example on a
    config error. That error is printed as a warning first.
    """
    from leadshare.errors import ConfigError
    from leadshare.settings import get_settings
    from leadshare.store import open_store

    try:
        ctx = _context()
    except ConfigError as exc:
        message = f" {exc}. Runs fail until it is fixed. The lines below are stored."
        console.print(Text.assemble(("warning:", "yellow"), message), soft_wrap=True)
        settings = get_settings()
        store = open_store(settings.database_url, settings.store_wait_s)
        return store, dt.datetime.now(dt.UTC), None, str(exc)
    return ctx.store, ctx.now, ctx.config, None


@app.command()
def status(
    limit: int = typer.Option(
        10, min=1, max=10_000, help="How many runs to show (1 to 10,000)."
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print the runs and the endpoints holding transfers as JSON.",
    ),
) -> None:
    """Show the latest sharing runs and their outcome counts."""
    try:
        store, now, _, config_error = _store_despite_config()
        runs = store.rows("recent_runs", limit=limit)
        now_counts: dict[str, dict[str, int]] = {}
        for count in store.rows("recent_run_outcomes", limit=limit):
            now_counts.setdefault(count["run_id"], {})[count["outcome"]] = int(
                count["n"]
            )
        live = store.run_in_progress()
        disabled = store.rows("disabled_endpoints")
        backing_off = store.rows("backing_off_endpoints", now=now)
        pending = store.rows("pending_by_partner")
    except LeadshareError as exc:
        _fail(exc)
    if as_json:
        document = status_document(
            runs, now_counts, live, disabled, backing_off, pending, config_error
        )
        typer.echo(json.dumps(document, indent=2, default=str))
        return
    console = Console(highlight=False, markup=False)
    console.print(f"Latest runs ({len(runs)})", style="bold", markup=False)
    for row in runs:
        if row["status"] == "running" and live is False:
            # No process holds the run lock, so the run's process has ended.
            row = {**row, "status": ENDED_UNFINISHED}
        lines = run_lines(row, now_counts.get(row["run_id"]))
        # The id is printed whole, never cut, so it can be copied into other commands.
        console.print(lines[0], style="bold", markup=False, soft_wrap=True)
        for line in lines[1:]:
            console.print(line, markup=False)
    for line in endpoint_lines(disabled, backing_off, pending):
        console.print(line, markup=False)


def status_document(
    runs: list[dict],
    now_counts: dict[str, dict[str, int]],
    live: bool | None,
    disabled: list[dict],
    backing_off: list[dict],
    pending: list[dict],
    config_error: str | None,
) -> dict:
    """Return what ``status --json`` prints: the runs, the endpoints, the config error.

    A run's ``summary`` is the one the run stored, as ``share --json`` printed it
    but without ``files_in_other_runs`` (None when the run ended before writing
    one), and ``outcomes_now`` counts the outcomes its rows have now. A run marked
    running whose process is gone has the status ``ended_unfinished``.
    """
    waiting: dict[str, int] = {}
    for row in pending:
        waiting[row["partner_id"]] = waiting.get(row["partner_id"], 0) + int(
            row["pending"]
        )
    listed = []
    for row in runs:
        state = row["status"]
        if state == "running" and live is False:
            state = "ended_unfinished"
        listed.append(
            {
                "run_id": row["run_id"],
                "flow_run_id": row["flow_run_id"],
                "status": state,
                "started_at": utc_iso(row["started_at"]),
                "finished_at": utc_iso(row["finished_at"]),
                "files_in": row["files_in"] or 0,
                "rows_in": row["rows_in"] or 0,
                "summary": json.loads(row["summary"]) if row["summary"] else None,
                "outcomes_now": now_counts.get(row["run_id"], {}),
            }
        )
    endpoints = []
    for rows, state, field, column in (
        (disabled, "disabled", "since", "disabled_at"),
        (backing_off, "backing_off", "until", "next_attempt_at"),
    ):
        for row in rows:
            partner_id = row["partner_id"]
            endpoints.append(
                {
                    "partner_id": partner_id,
                    "state": state,
                    field: utc_iso(row[column]),
                    "reason": row["reason"],
                    "waiting_transfers": waiting.get(partner_id, 0),
                }
            )
    return {"runs": listed, "endpoints": endpoints, "config_error": config_error}


def endpoint_lines(
    disabled: list[dict], backing_off: list[dict], pending: list[dict] | None = None
) -> list[str]:
    """Describe the partner endpoints that hold transfers back, if any.

    ``pending`` contains the rows of ``pending_by_partner``, which give the number
    of transfers each endpoint holds.
    """
    if not disabled and not backing_off:
        return []
    waiting: dict[str, int] = {}
    for row in pending or []:
        partner_id = row["partner_id"]
        waiting[partner_id] = waiting.get(partner_id, 0) + int(row["pending"])
    lines = ["Partner endpoints holding transfers back"]
    for row in disabled:
        partner_id = row["partner_id"]
        lines.append(
            f"  {partner_id}: disabled since {utc_text(row['disabled_at'])}, "
            f"{counted(waiting.get(partner_id, 0), 'transfer')} waiting "
            f"({row['reason']}). Once the cause is fixed, run "
            f"'leadshare endpoint enable {partner_id}'"
        )
    for row in backing_off:
        waiting_count = waiting.get(row["partner_id"], 0)
        verb = "waits" if waiting_count == 1 else "wait"
        lines.append(
            f"  {row['partner_id']}: backing off until "
            f"{utc_text(row['next_attempt_at'])} ({row['reason']}); "
            f"{counted(waiting_count, 'transfer')} {verb} until then"
        )
    return lines


ENDED_UNFINISHED = (
    "ended without finishing (the next run reports the files it committed and "
    "reads the rest again)"
)
"""The ``status`` text of a run marked running whose process holds no lock now."""


def run_lines(row: dict, now_counts: dict[str, int] | None = None) -> list[str]:
    """Describe one run in a few short lines: id, then times and counts, then outcomes.

    A table of these fields cut its cells in an 80-column terminal; lines wrap instead.
    ``now_counts`` holds the outcomes that the run's rows have now. When they differ
    from the run's own counts, because an opt-out, an approval or a later run changed
    some rows, a last line gives them.
    """
    summary = json.loads(row["summary"]) if row["summary"] else {}
    outcomes = summary.get("outcomes", {})
    described = _outcome_text(outcomes)
    if summary.get("backlog_placed"):
        placed = counted(summary["backlog_placed"], "waiting lead")
        described = ", ".join(filter(None, [described, f"{placed} placed"]))
    if "taken_over_by" in summary:
        described = f"reported by {summary['taken_over_by']}"
    files = row["files_in"] or 0
    rows = row["rows_in"] or 0
    if not described and now_counts:
        # A run still going, or one that ended before its summary was written.
        described = f"recorded so far: {_outcome_text(now_counts)}"
    elif not described and rows:
        described = "no outcomes recorded"
    lines = [
        row["run_id"],
        f"  started {utc_text(row['started_at'])}, {row['status']}, "
        f"{counted(files, 'file')}, {counted(rows, 'row')}",
        f"  {described or 'no rows'}",
    ]
    run_counts = {name: count for name, count in outcomes.items() if count}
    # A run without outcomes in its summary has not finished: no counts to compare.
    if now_counts and outcomes and now_counts != run_counts:
        lines.append(
            f"  now: {_outcome_text(now_counts)} (changed after the run by opt-outs, "
            "approvals or later matching)"
        )
    return lines


def _outcome_text(outcomes: dict[str, int]) -> str:
    """Return "shared 3, duplicate 1": the outcomes with a count, in model order."""
    from leadshare.model import Outcome

    order = {outcome.value: index for index, outcome in enumerate(Outcome)}
    ranked = sorted(outcomes.items(), key=lambda item: order.get(item[0], len(order)))
    return ", ".join(f"{name} {count:,}" for name, count in ranked if count)


WIDE_LIST_COLUMNS = 120
"""Terminal width from which ``approvals list`` prints a table instead of lines."""

APPROVALS_CAPTION = (
    "`leadshare explain LEAD` gives the whole reason for holding a lead."
)


def _approvals_table(title: str, rows: list[dict]) -> Table:
    """Return the approval queue as a table for a wide terminal."""
    table = Table(title=title, caption=APPROVALS_CAPTION)
    table.add_column("lead", no_wrap=True, min_width=18)
    # Ids are copied into `reassign`, so they are never cut; other columns give way.
    partner_width = max(
        (len(row["proposed_partner"] or "-") for row in rows), default=1
    )
    table.add_column("proposed partner", no_wrap=True, min_width=partner_width)
    # A long reason would wrap to many lines, and `explain` has it whole.
    table.add_column("why held", max_width=36, no_wrap=True, overflow="ellipsis")
    for column in ("company", "country"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["lead_id"],
            row["proposed_partner"] or "-",
            row["note"] or "",
            row["company"] or "",
            row["country"] or "",
        )
    return table


@approvals_app.command("list")
def approvals_list(
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print the held leads as a JSON list; 'blocked' gives the reason a "
        "lead cannot be approved now (null when it can).",
    ),
) -> None:
    """List held leads: strategic accounts and unreadable sizes or revenues."""
    from leadshare.approvals import approval_blockers, pending

    try:
        store, now, config, _ = _store_despite_config()
        rows = pending(store)
        if config is None:
            # The checks need the rules and partners of a valid config.
            blockers = {row["lead_id"]: UNCHECKED for row in rows}
        else:
            blockers = approval_blockers(store, config, rows, now)
    except LeadshareError as exc:
        _fail(exc)
    if as_json:
        queue = [
            {
                "lead_id": row["lead_id"],
                "proposed_partner": row["proposed_partner"],
                "why_held": row["note"],
                "held_since": utc_iso(row["created_at"]),
                "company": row["company"],
                "country": row["country"],
                "blocked": blockers.get(row["lead_id"]),
            }
            for row in rows
        ]
        typer.echo(json.dumps(queue, indent=2, default=str))
        return
    title = f"{counted(len(rows), 'lead')} awaiting approval"
    if _stdout().width < WIDE_LIST_COLUMNS:
        # A table cut the company and country to "…" in 80 columns; lines wrap.
        _stdout().print(title, soft_wrap=True)
        for row in rows:
            place = ", ".join(part for part in (row["company"], row["country"]) if part)
            _stdout().print(
                f"  {row['lead_id']} for {row['proposed_partner'] or '-'}: "
                f"{place or '-'}; held: {row['note'] or '-'}",
                soft_wrap=True,
            )
        _stdout().print(APPROVALS_CAPTION, soft_wrap=True)
    else:
        _stdout().print(_approvals_table(title, rows))
    if config is None:
        if rows:
            typer.echo(f"Approvals are not possible now: {UNCHECKED}.")
        return
    if blockers:
        typer.echo(
            f"{counted(len(blockers), 'lead')} cannot be approved for the proposed "
            "partner now; reassign or reject them, or change the rule or partner "
            "that stops them:"
        )
    for lead_id, reason in blockers.items():
        typer.echo(f"  {lead_id}: {reason}")


UNCHECKED = "not checked, because the config is invalid (see the warning)"
"""The ``approvals list`` reason for every held lead while the config is invalid."""


def _decide(
    lead_id: str, action: str, partner: str | None, approver: str, note: str
) -> None:
    from pydantic import ValidationError

    from leadshare.approvals import ApprovalDecision, decide, describe_invalid

    try:
        ctx = _context()
        decision = ApprovalDecision(
            lead_id=lead_id,
            action=action,
            partner_id=partner.strip() if partner else partner,
            approver=approver,
            note=note,
        )
        typer.echo(decide(ctx.store, ctx.config, decision, ctx.run_id, ctx.now))
    except ValidationError as exc:
        _fail(LeadshareError(describe_invalid(exc)))
    except (LeadshareError, ValueError) as exc:
        _fail(exc)


def _login_name() -> str:
    """Return the OS login name, or "unknown" when the system has none.

    getpass reads LOGNAME, USER, LNAME and USERNAME, then the user database.
    """
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        # No login variable is set and the user id has no entry in the user
        # database: Python 3.13 raises OSError, earlier versions KeyError.
        return "unknown"


APPROVER = typer.Option(
    default_factory=_login_name,
    show_default="your login name",
    help="Who decides, recorded with the decision.",
)


HELD_LEAD = typer.Argument(
    ..., help="Id of a held lead, as `leadshare approvals list` shows it."
)
NOTE = typer.Option("", help="Free text recorded with the decision.")


@approvals_app.command("approve")
def approvals_approve(
    lead_id: str = HELD_LEAD, approver: str = APPROVER, note: str = NOTE
) -> None:
    """Approve LEAD_ID for its proposed partner."""
    _decide(lead_id, "approve", None, approver, note)


@approvals_app.command("reassign")
def approvals_reassign(
    lead_id: str = HELD_LEAD,
    partner: str = typer.Option(
        ..., help="Partner id to give the lead to, in any letter case."
    ),
    approver: str = APPROVER,
    note: str = NOTE,
) -> None:
    """Approve LEAD_ID for another partner."""
    _decide(lead_id, "reassign", partner, approver, note)


@approvals_app.command("reject")
def approvals_reject(
    lead_id: str = HELD_LEAD, approver: str = APPROVER, note: str = NOTE
) -> None:
    """Reject LEAD_ID: it is not shared."""
    _decide(lead_id, "reject", None, approver, note)


@endpoint_app.command("enable")
def endpoint_enable(
    partner_id: str = typer.Argument(
        ..., help="Partner id from partners.yaml, in any letter case."
    ),
) -> None:
    """Re-enable an endpoint disabled after a 410, 401 or 403, or end its back-off.

    Its waiting leads go in the next run, each with its first webhook-id.
    """
    try:
        ctx = _context()
        partner_id = ctx.config.partner_id_as_configured(partner_id)
        # A partner moved off webhooks keeps its endpoint's state until its next
        # delivery ends it, so the state is cleared here whatever the channel is.
        ctx.config.partner(partner_id)
        disabled = {row["partner_id"] for row in ctx.store.rows("disabled_endpoints")}
        backing_off = ctx.store.rows(
            "endpoint_backoff", partner_id=partner_id, now=ctx.now
        )
        if partner_id not in disabled and not backing_off:
            typer.echo(
                f"Endpoint of {partner_id} is not disabled or backing off; "
                "nothing to do."
            )
            return
        with ctx.store.transaction() as tx:
            tx.execute("enable_endpoint", partner_id=partner_id)
            tx.execute_script(
                "end_endpoint_backoff", partner_id=partner_id, now=ctx.now
            )
    except LeadshareError as exc:
        _fail(exc)
    if backing_off:
        typer.echo(
            f"Back-off of {partner_id} ended (it ran until "
            f"{utc_text(backing_off[0]['next_attempt_at'])}); its waiting transfers "
            "go in the next run."
        )
    if partner_id in disabled:
        typer.echo(f"Endpoint of {partner_id} enabled.")


FAILED_TRANSFER_PARTNER = typer.Option(
    None, help="Only the failed transfers to this partner, in any letter case."
)


@transfer_app.command("retry")
def transfer_retry(
    lead_ids: list[str] = typer.Argument(
        None,
        help="Leads whose failed transfers to send again; give lead ids, --partner, "
        "or both.",
    ),
    partner: str | None = FAILED_TRANSFER_PARTNER,
) -> None:
    """Put failed transfers back in the outbox once the partner fixed the cause.

    The next run sends each with its first webhook-id.
    """
    from leadshare.failed_transfers import retry_failed, retry_text

    try:
        ctx, partner_id, leads = _failed_transfer_selection(lead_ids, partner)
        result = retry_failed(ctx.store, partner_id, leads)
    except LeadshareError as exc:
        _fail(exc)
    typer.echo(retry_text(result))


def _failed_transfer_selection(
    lead_ids: list[str] | None, partner: str | None
) -> tuple:
    """Return the run context, the partner id as configured (or None) and lead ids."""
    from leadshare.ids import clean_lead_id

    ctx = _context()
    partner_id = ctx.config.partner_id_as_configured(partner) if partner else None
    return ctx, partner_id, [clean_lead_id(lead_id) for lead_id in lead_ids or []]


@transfer_app.command("reoffer")
def transfer_reoffer(
    lead_ids: list[str] = typer.Argument(
        None,
        help="Leads whose failed transfers to offer to other partners; give lead "
        "ids, --partner, or both.",
    ),
    partner: str | None = FAILED_TRANSFER_PARTNER,
) -> None:
    """Send the leads of failed transfers back to the backlog, for other partners.

    The next run matches them again and leaves out each partner whose transfer of
    the lead failed. Leads whose person opted out stay as they are.
    """
    from leadshare.failed_transfers import reoffer_failed, reoffer_text
    from leadshare.pipeline import backlog_start

    try:
        ctx, partner_id, leads = _failed_transfer_selection(lead_ids, partner)
        result = reoffer_failed(ctx.store, partner_id, leads, backlog_start(ctx))
    except LeadshareError as exc:
        _fail(exc)
    typer.echo(reoffer_text(result))


if __name__ == "__main__":
    app()
