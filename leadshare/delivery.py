"""Deliver due transfers of one partner through its channel (the outbox).

Order of writes for a webhook: the payload bytes are stored with the transfer before
the first POST, the POST carries the transfer id as ``webhook-id``, the partner's 2xx
is appended to the partner's journal (see :mod:`leadshare.transfer.journal`), and the
transfer is marked sent in the store with the next batch of sends. The next delivery
to the partner records what the journal lists before it reads the due transfers. A
crash between the 2xx and the journal line sends the same bytes with the same id
again, which a receiver deduplicating on ``webhook-id`` drops.
Every attempt builds the payload again from the partner's current allowlist and intro
template. When that differs from the stored bytes, the new bytes replace them and go
out with the same ``webhook-id``, so a field removed from the allowlist after a failed
attempt is not sent.

Every channel sends the notes of a do-not-call lead with its phone numbers removed
(see :mod:`leadshare.transfer.redact`).

File channels (file drop, CRM export, manual handoff) first stamp the due transfers
with a delivery batch id, write the file named after that batch atomically, and then
mark the transfers sent. A rerun after a crash rewrites the same file instead of
adding one. The manual handoff is the exception: its batches go into the partner's
one queue file, where a rerun replaces the lines of its transfers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from leadshare import failpoints
from leadshare.config import Partner
from leadshare.errors import (
    ConfigError,
    DeliveryError,
    EndpointAuthError,
    EndpointGoneError,
    EndpointRedirectError,
    RejectedDeliveryError,
    RetryableDeliveryError,
)
from leadshare.settings import Settings, resolve_secret
from leadshare.slack import FakeSlackClient, SlackClient, SlackPostError
from leadshare.store import LeadStore
from leadshare.templates import render_intro
from leadshare.transfer import filedrop
from leadshare.transfer.journal import SentJournal
from leadshare.transfer.payload import build_payload
from leadshare.transfer.redact import redact_do_not_call_notes
from leadshare.transfer.schedule import next_attempt_at
from leadshare.transfer.webhook import WebhookClient, WebhookSender
from leadshare.words import counted

log = logging.getLogger(__name__)

SENT_FLUSH_EVERY = 50
# After this many retryable failures in a row the endpoint backs off until the
# earliest retry time of those failures, and the partner's other transfers wait.
MAX_FAILURES_IN_A_ROW = 3
# Maximum failed sends logged one by one per partner and run. Later ones are only
# counted, so a partner that rejects every lead does not flood the log.
MAX_LOGGED_FAILURES = 20

# Returns the current time, timezone-aware. Tests pass one they control.
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class DeliverySummary:
    partner_id: str
    channel: str
    run_id: str | None = None
    """The run that delivers, recorded on each transfer it sends or fails."""
    due: int = 0
    sent: int = 0
    retry_later: int = 0
    failed: int = 0
    waiting: int = 0
    errors: list[str] = field(default_factory=list)
    error: str | None = None
    """The error that stopped the partner's deliveries in this run and needs a fix
    by hand, such as an outbox folder that cannot be written, or None."""
    waiting_reason: str | None = None
    """The reason the ``waiting`` transfers wait (a paused partner, an endpoint
    backing off, a secret that is not set), or None when none wait."""


def _allowed(row: dict[str, Any], partner: Partner) -> dict[str, Any]:
    return {name: row.get(name) for name in partner.fields}


def _payload(row: dict[str, Any], partner: Partner) -> bytes:
    lead = _allowed(row, partner)
    # The reference is the lead id whether or not lead_id is on the allowlist,
    # because the partner needs it to report the outcome.
    context = _intro_context(partner, lead, row["lead_id"])
    intro = render_intro(partner.template, context)
    return build_payload(lead, partner.fields, intro, partner.id)


def _intro_context(partner: Partner, lead: dict[str, Any], reference: str) -> dict:
    return {
        "partner_name": partner.name,
        "lead": lead,
        "sla_hours": partner.sla_hours,
        "reference": reference,
    }


def check_intro_templates(partners: list[Partner]) -> None:
    """Render each webhook partner's intro once with a sample lead of its fields.

    Raises ConfigError naming the partner when the template uses a lead field that
    is not on the partner's allowlist, or any other value it is not given. Only
    webhooks carry an intro, so other channels are not checked.
    """
    for partner in partners:
        if partner.channel != "webhook":
            continue
        sample = {name: f"<{name}>" for name in partner.fields}
        try:
            render_intro(partner.template, _intro_context(partner, sample, "L-sample"))
        except ConfigError as exc:
            raise ConfigError(
                f"partners.yaml: partner {partner.id}: {exc}. Lead fields a template "
                f"can use are the partner's 'fields': {list(partner.fields)}"
            ) from None


def _records(due: pd.DataFrame) -> list[dict[str, Any]]:
    return due.astype(object).where(due.notna(), None).to_dict("records")


def deliver_partner(
    store: LeadStore,
    settings: Settings,
    partner: Partner,
    now: dt.datetime,
    *,
    sender: WebhookSender | None = None,
    slack: SlackClient | FakeSlackClient | None = None,
    clock: Clock = utc_now,
    run_id: str | None = None,
) -> DeliverySummary:
    """Send every due transfer of ``partner``; failures stay pending for a later run.

    ``now`` selects the due transfers and decides whether the partner is active.
    ``clock`` is read when a send fails, and the next attempt is scheduled from that
    time, because one run's sends can take minutes.
    """
    summary = DeliverySummary(
        partner_id=partner.id, channel=partner.channel, run_id=run_id
    )
    # Read it whatever the channel is now, because the partner may have moved off
    # webhooks since the sends that its journal lists.
    journal = SentJournal(settings.journal, partner.id)
    try:
        _record_journal(store, journal)
        journal_error = None
    except OSError as exc:
        journal_error = _journal_error(journal, exc)
    disabled = {row["partner_id"]: row for row in store.rows("disabled_endpoints")}
    if partner.channel != "webhook":
        _release_webhook_holds(store, partner, now, disabled.pop(partner.id, None))
    due = store.frame("due_transfers", partner_id=partner.id, now=now)
    summary.due = len(due)
    if journal_error:
        # Its unread lines may list sends that the partner accepted, so sending
        # now could post them again.
        summary.waiting = len(due)
        summary.error = summary.waiting_reason = journal_error
        summary.errors.append(journal_error)
        log.error(
            "Partner %s: %s wait: %s",
            partner.id,
            counted(len(due), "transfer"),
            journal_error,
        )
        return summary
    if due.empty:
        _note_not_due(store, partner, now, summary)
        return summary
    inactive = partner.inactive_reason(now)
    if inactive:
        # Leads queued before a pause or the agreement's end wait until the
        # partner is active again, so none leaves without a valid agreement.
        summary.waiting = len(due)
        summary.waiting_reason = f"the partner is inactive ({inactive})"
        summary.errors.append(f"deliveries waiting: {len(due)} ({inactive})")
        log.warning(
            "Partner %s is inactive (%s); deliveries waiting: %d",
            partner.id,
            inactive,
            len(due),
        )
        return summary
    if partner.id in disabled:
        summary.waiting = len(due)
        summary.error = _still_disabled_error(partner, disabled[partner.id])
        summary.waiting_reason = summary.error
        log.warning(
            "Partner %s endpoint is disabled; deliveries waiting: %d",
            partner.id,
            len(due),
        )
        return summary
    if partner.channel == "webhook" and _hold_during_backoff(
        store, partner, now, summary
    ):
        return summary
    rows = _records(due)
    redacted = redact_do_not_call_notes(rows)
    if redacted:
        log.info(
            "Partner %s: phone numbers removed from the notes of %s",
            partner.id,
            counted(redacted, "do-not-call lead"),
        )
    if partner.channel == "webhook":
        _deliver_webhooks(
            store, settings, partner, rows, now, summary, sender, slack, clock
        )
    else:
        _deliver_file(store, settings, partner, rows, now, summary)
    return summary


def record_journals(store: LeadStore, settings: Settings) -> int:
    """Record the sends of every partner's journal in the store; return how many.

    A run calls it before it commits new leads, so a lead that a partner already
    has counts as sent when an opt-out in the run's files withdraws pending
    transfers. It reads each file in the journal folder, so a partner whose id was
    changed or removed since the sends is recorded too. A file that cannot be read
    is logged and left to the partner's delivery, which waits until it is fixed.
    """
    recorded = 0
    for path in sorted(settings.journal.glob("*.jsonl")):
        journal = SentJournal(settings.journal, path.stem)
        try:
            recorded += _record_journal(store, journal)
        except OSError as exc:
            log.error("Partner %s: %s", path.stem, _journal_error(journal, exc))
    return recorded


def _record_journal(store: LeadStore, journal: SentJournal) -> int:
    """Mark the sends listed in ``journal`` as sent in the store, then delete it.

    Recording is idempotent: a transfer that the store already lists as sent keeps
    its first record, so a crash after the commit and before the delete is harmless.
    Returns the number of sends listed.
    """
    entries = journal.entries()
    if entries:
        with store.transaction() as tx:
            tx.execute_with_frame("mark_transfers_sent", pd.DataFrame(entries))
        log.info(
            "Partner %s: recorded %s that the partner accepted before an earlier "
            "attempt stopped",
            journal.partner_id,
            counted(len(entries), "webhook"),
        )
    journal.remove()
    return len(entries)


def _journal_error(journal: SentJournal, error: OSError) -> str:
    return (
        f"webhook journal {journal.path} cannot be read or written "
        f"({error.strerror}); make {journal.path.parent} a writable folder for this "
        "user, then the next run records and sends the waiting transfers"
    )


def _note_not_due(
    store: LeadStore, partner: Partner, now: dt.datetime, summary: DeliverySummary
) -> None:
    """Count the partner's pending transfers that are not due yet as waiting.

    They wait for a back-off of the endpoint or for their own retry time. The
    summary and Slack then name the partner with the reason, so an endpoint that
    keeps failing does not look fine in the runs between its retries.
    """
    found = store.rows("pending_not_due", partner_id=partner.id, now=now)[0]
    if not found["n"]:
        return
    summary.waiting = int(found["n"])
    backoff = store.rows("endpoint_backoff", partner_id=partner.id, now=now)
    if backoff:
        summary.waiting_reason = _backoff_reason(backoff[0])
    else:
        summary.waiting_reason = (
            f"earlier sends failed; the next attempt is at "
            f"{_utc_text(found['next_at'])}"
        )
    log.info(
        "Partner %s: %s %s: %s",
        partner.id,
        counted(summary.waiting, "transfer"),
        "waits" if summary.waiting == 1 else "wait",
        summary.waiting_reason,
    )


def _backoff_reason(backoff: dict[str, Any]) -> str:
    """Describe a running back-off of an endpoint_backoff row as a waiting reason."""
    return (
        f"the endpoint is backing off until {_utc_text(backoff['next_attempt_at'])} "
        f"({backoff['reason']})"
    )


def _release_webhook_holds(
    store: LeadStore, partner: Partner, now: dt.datetime, disabled: dict | None
) -> None:
    """End the webhook hold of a partner that no longer delivers by webhook.

    A disabled endpoint or a back-off belongs to the webhook URL, which the partner
    does not use any more. Its transfers held for the back-off are due at once.
    """
    backoff = store.rows("endpoint_backoff", partner_id=partner.id, now=now)
    if disabled is None and not backoff:
        return
    with store.transaction() as tx:
        tx.execute("enable_endpoint", partner_id=partner.id)
        tx.execute_script("end_endpoint_backoff", partner_id=partner.id, now=now)
    state = "disabled" if disabled is not None else "backing off"
    log.info(
        "Partner %s delivers by %s now, so its webhook endpoint is no longer %s",
        partner.id,
        partner.channel,
        state,
    )


def _hold_during_backoff(
    store: LeadStore, partner: Partner, now: dt.datetime, summary: DeliverySummary
) -> bool:
    """Hold the due transfers of a partner whose endpoint is backing off at ``now``.

    Every pending transfer of the partner, new ones included, gets the end of the
    back-off as its next attempt, so none is posted inside the window. Returns
    whether the endpoint is backing off.
    """
    # NOTE: the back-off is stored per partner, not per URL, so a partner whose
    # webhook URL changed inside the window still waits for the window to end.
    backoff = store.rows("endpoint_backoff", partner_id=partner.id, now=now)
    if not backoff:
        return False
    ends = backoff[0]["next_attempt_at"]
    with store.transaction() as tx:
        tx.execute(
            "hold_partner_transfers", partner_id=partner.id, next_attempt_at=ends
        )
    summary.waiting = summary.due
    summary.waiting_reason = _backoff_reason(backoff[0])
    log.warning(
        "Partner %s endpoint is backing off until %s (%s); deliveries waiting: %d",
        partner.id,
        _utc_text(ends),
        backoff[0]["reason"],
        summary.waiting,
    )
    return True


def _deliver_webhooks(
    store, settings, partner, rows, now, summary, sender, slack, clock
) -> None:
    try:
        built = [_payload(row, partner).decode("utf-8") for row in rows]
    except ConfigError as exc:
        # A template changed after the run loaded its config: wait for a fix.
        _wait_all(summary, partner, rows, exc)
        return
    _store_payloads(store, partner, rows, built)

    own_sender = sender is None
    if own_sender:
        # A secret that is missing or not in the whsec_ form leaves the partner's
        # transfers waiting; the other partners still deliver.
        try:
            sender = WebhookClient(
                partner.webhook.url,
                resolve_secret(partner.webhook.secret),
                timeout_s=settings.http_timeout_s,
                attempts=settings.http_attempts,
                deadline_s=settings.http_deadline_s,
            )
        except ConfigError as exc:
            _wait_all(summary, partner, rows, exc)
            return
    journal = SentJournal(settings.journal, partner.id)
    try:
        journal.open()
    except OSError as exc:
        summary.error = _journal_error(journal, exc)
        _wait_all(summary, partner, rows, summary.error)
        if own_sender:
            sender.close()
        return
    try:
        _send_webhooks(
            store, settings, partner, rows, now, summary, sender, slack, clock, journal
        )
    finally:
        journal.close()
        if own_sender:
            sender.close()


def _store_payloads(
    store: LeadStore, partner: Partner, rows: list[dict], built: list[str]
) -> None:
    """Store each built payload that differs from its transfer's stored one.

    A stored payload differs when the partner's allowlist, intro template, name or
    SLA changed after an earlier attempt, or when the lead was marked do-not-call
    since. The rebuilt bytes replace it in ``rows`` as well, so only fields on the
    current allowlist are sent.
    """
    changed = [
        (row, payload)
        for row, payload in zip(rows, built, strict=True)
        if row["payload"] != payload
    ]
    if not changed:
        return
    rebuilt = sum(1 for row, _ in changed if row["payload"] is not None)
    if rebuilt:
        log.warning(
            "Partner %s: %s rebuilt because the partner's allowlist, intro template, "
            "name or SLA or the lead's do-not-call flag changed since an earlier "
            "attempt; each keeps its webhook-id",
            partner.id,
            counted(rebuilt, "stored webhook payload"),
        )
    for row, payload in changed:
        row["payload"] = payload
    payloads = pd.DataFrame(
        {
            "transfer_id": [row["transfer_id"] for row, _ in changed],
            "payload": [payload for _, payload in changed],
        }
    )
    with store.transaction() as tx:
        tx.execute_with_frame("set_transfer_payloads", payloads)


def _wait_all(
    summary: DeliverySummary,
    partner: Partner,
    rows: list[dict],
    error: ConfigError | str,
) -> None:
    """Leave every due transfer of ``partner`` waiting for a fix of ``error``.

    The error needs a fix by hand (a secret that is not set, a template that fails),
    so it is the partner's ``error`` too: the run's command exits with code 1.
    """
    summary.waiting = len(rows)
    summary.error = summary.waiting_reason = str(error)
    summary.errors.append(str(error))
    log.error("Partner %s deliveries wait: %s", partner.id, error)


def _send_webhooks(
    store, settings, partner, rows, now, summary, sender, slack, clock, journal
) -> None:
    """POST each due transfer in turn and record every outcome.

    The loop stops early, leaving the rest pending, after ``MAX_FAILURES_IN_A_ROW``
    retryable failures, a 429, a redirect, a 401, 403 or 410, or when
    ``settings.webhook_budget_s`` has run out. After a 429, or after the failures in
    a row, the endpoint backs off (see :func:`_back_off`). After a 401, 403 or 410 it
    is disabled (see :func:`_disable`). Sends that the partner accepted are recorded
    even when an unexpected exception ends the loop.
    """
    sent: list[dict] = []
    retry_times: list[dt.datetime] = []
    failures = _FailureLog(partner.id)
    budget_ends = time.monotonic() + settings.webhook_budget_s

    def unsent() -> int:
        return len(rows) - summary.sent - summary.retry_later - summary.failed

    try:
        for row in rows:
            if time.monotonic() >= budget_ends:
                summary.waiting = unsent()
                summary.waiting_reason = (
                    f"the run used its {settings.webhook_budget_s:g} s delivery time"
                )
                log.warning(
                    "Partner %s used its %g s delivery time for this run: %d sent, "
                    "%d waiting for the next run",
                    partner.id,
                    settings.webhook_budget_s,
                    summary.sent,
                    summary.waiting,
                )
                break
            try:
                # On PostgreSQL, a run whose lock session ended stops here, before
                # a run that took the lock over can send the same transfer.
                store.check_run_lock()
                body = row["payload"].encode("utf-8")
                result = sender.send(row["transfer_id"], body)
            except RetryableDeliveryError as exc:
                _flush_sent(store, sent, journal)
                failed_at = clock()
                summary.retry_later += 1
                if exc.status == 429:
                    ends = _throttle(store, partner, row, failed_at, exc)
                    failures.log(row, exc, f"next attempt at {_utc_text(ends)}")
                    summary.waiting = unsent()
                    summary.waiting_reason = (
                        "the endpoint returned 429 Too Many Requests; next attempt "
                        f"at {_utc_text(ends)}"
                    )
                    log.warning(
                        "Partner %s returned 429 Too Many Requests; %s wait until %s",
                        partner.id,
                        counted(summary.waiting + summary.retry_later, "transfer"),
                        _utc_text(ends),
                    )
                    break
                retry_at = _mark_retry(store, row, failed_at, exc, exc.retry_after_s)
                retry_times.append(retry_at)
                failures.log(row, exc, f"next attempt at {_utc_text(retry_at)}")
                if len(retry_times) < MAX_FAILURES_IN_A_ROW:
                    continue
                summary.waiting = unsent()
                ends = min(retry_times)
                reason = f"{len(retry_times)} failed sends in a row"
                _back_off(store, partner, ends, reason)
                # Each send retries within itself, so the earliest retry time can
                # pass before the third failure. This run stops sending either way.
                if ends > clock():
                    next_try = f"next attempt at {_utc_text(ends)}"
                else:
                    next_try = "the next run tries again"
                summary.waiting_reason = f"{reason}; {next_try}"
                log.warning(
                    "Partner %s: %s; %s, and %s of this run wait for it",
                    partner.id,
                    reason,
                    next_try,
                    counted(summary.waiting + summary.retry_later, "transfer"),
                )
                break
            except EndpointRedirectError as exc:
                _flush_sent(store, sent, journal)
                _mark_retry(store, row, clock(), exc)
                summary.retry_later += 1
                summary.waiting = unsent()
                summary.error = summary.waiting_reason = (
                    f"the webhook URL redirects (HTTP {exc.status}) to "
                    f"{exc.location or '(missing)'}; update it in partners.yaml"
                )
                summary.errors.append(f"{row['transfer_id']}: {exc}")
                log.error(
                    "Partner %s webhook URL returned HTTP %s, a redirect to %s that "
                    "leadshare does not follow. Update the partner's webhook URL in "
                    "partners.yaml. Deliveries waiting for the next run: %d",
                    partner.id,
                    exc.status,
                    exc.location or "(missing)",
                    summary.waiting + 1,
                )
                break
            except RejectedDeliveryError as exc:
                _flush_sent(store, sent, journal)
                with store.transaction() as tx:
                    tx.execute(
                        "mark_transfer_failed",
                        transfer_id=row["transfer_id"],
                        attempts=exc.attempts,
                        last_error=str(exc)[:500],
                        failed_at=dt.datetime.now(dt.UTC),
                        run_id=summary.run_id,
                    )
                summary.failed += 1
                summary.errors.append(f"{row['transfer_id']}: {exc}")
                failures.log(row, exc, "failed for good, not retried")
                continue
            except (EndpointGoneError, EndpointAuthError) as exc:
                _flush_sent(store, sent, journal)
                with store.transaction() as tx:
                    tx.execute(
                        "record_failed_attempts",
                        transfer_id=row["transfer_id"],
                        attempts=exc.attempts,
                        last_error=str(exc)[:500],
                    )
                summary.error = _disable(store, partner, now, exc, slack)
                summary.waiting_reason = summary.error
                summary.waiting = unsent()
                return
            retry_times.clear()
            failpoints.hit("after_post_before_record")
            accepted = {
                "transfer_id": row["transfer_id"],
                "sent_at": dt.datetime.now(dt.UTC),
                "attempts": result.attempts,
                "channel": "webhook",
                "run_id": summary.run_id,
            }
            # In the list first, so a failed journal write still gets the send
            # recorded by the flush in the finally block.
            sent.append(accepted)
            journal.append(accepted)
            summary.sent += 1
            if len(sent) >= SENT_FLUSH_EVERY:
                _flush_sent(store, sent, journal)
    finally:
        # Record accepted sends on an unexpected exception too, because the partner
        # has these messages and a pending transfer would be sent again next run.
        _flush_sent(store, sent, journal)
        failures.log_unlisted()


def _mark_retry(store, row, failed_at, error, retry_after_s=None) -> dt.datetime:
    """Record a failed send and return when the transfer is due again."""
    later = next_attempt_at(int(row["failed_sends"]) + 1, failed_at, retry_after_s)
    _record_failure(store, row, error, failed_sends=1, due_at=later)
    return later


def _record_failure(store, row, error, failed_sends: int, due_at: dt.datetime) -> None:
    """Store a failed send's attempts and error, and when the transfer is due again."""
    with store.transaction() as tx:
        tx.execute(
            "mark_transfer_retry",
            transfer_id=row["transfer_id"],
            attempts=error.attempts,
            failed_sends=failed_sends,
            next_attempt_at=due_at,
            last_error=str(error)[:500],
        )


def _throttle(store, partner, row, failed_at, error) -> dt.datetime:
    """Record a 429, back the endpoint off and return when the back-off ends.

    The back-off lasts the partner's Retry-After, or the retry schedule's step
    when there is none, counted from ``failed_at``. The throttled transfer is due
    again at its end, like every other pending transfer of the partner, and a 429
    does not count towards its own retry schedule, so it keeps its place ahead
    of newer transfers.
    """
    if error.retry_after_s is not None:
        ends = failed_at + dt.timedelta(seconds=error.retry_after_s)
    else:
        ends = next_attempt_at(int(row["failed_sends"]) + 1, failed_at)
    _record_failure(store, row, error, failed_sends=0, due_at=ends)
    _back_off(store, partner, ends, _failure_reason(error))
    return ends


def _back_off(store, partner, ends: dt.datetime, reason: str) -> None:
    """Post nothing to ``partner``'s endpoint before ``ends``.

    The back-off is stored per partner, so a later run keeps new transfers waiting,
    and every pending transfer due before ``ends`` is moved to it. ``reason``
    goes into the log, so it must not contain lead data or a response body.
    """
    with store.transaction() as tx:
        tx.execute(
            "start_endpoint_backoff",
            partner_id=partner.id,
            next_attempt_at=ends,
            reason=reason[:500],
        )
        tx.execute(
            "hold_partner_transfers", partner_id=partner.id, next_attempt_at=ends
        )


class _FailureLog:
    """Log failed sends of one partner in one run, up to ``MAX_LOGGED_FAILURES``.

    A line names the partner, the transfer id (the ``webhook-id``), the HTTP status
    or transport error, and what happens to the transfer next. It leaves out the
    response body, which may echo lead data, and the URL, which may hold a token.
    """

    def __init__(self, partner_id: str) -> None:
        self.partner_id = partner_id
        self.count = 0

    def log(self, row: dict, error: DeliveryError, next_step: str) -> None:
        self.count += 1
        if self.count > MAX_LOGGED_FAILURES:
            return
        level = logging.WARNING
        if isinstance(error, RejectedDeliveryError):
            level = logging.ERROR
        log.log(
            level,
            "Partner %s: webhook %s failed on its last try in this run (%s); %s",
            self.partner_id,
            row["transfer_id"],
            _failure_reason(error),
            next_step,
        )

    def log_unlisted(self) -> None:
        unlisted = self.count - MAX_LOGGED_FAILURES
        if unlisted > 0:
            log.warning(
                "Partner %s: %s in this run, not logged one by one. Each "
                "transfer's last_error in the store contains its error",
                self.partner_id,
                counted(unlisted, "more failed webhook"),
            )


def _failure_reason(error: DeliveryError) -> str:
    """Return the HTTP status, or the transport error, of a failed send."""
    if error.status is not None:
        text = f"HTTP {error.status}"
        retry_after_s = getattr(error, "retry_after_s", None)
        if retry_after_s is not None:
            text += f", Retry-After {retry_after_s:g} s"
        return text
    # Transport failures carry only the message id, the host and the httpx error
    # class (see leadshare.transfer.webhook), so the whole text is safe to log.
    return str(error)


def _utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _flush_sent(store: LeadStore, sent: list[dict], journal: SentJournal) -> None:
    """Mark ``sent`` as sent in the store, then empty the list and the journal."""
    if not sent:
        return
    with store.transaction() as tx:
        tx.execute_with_frame("mark_transfers_sent", pd.DataFrame(sent))
    sent.clear()
    journal.clear()


def _disable(store, partner, now, error: DeliveryError, slack) -> str:
    """Disable ``partner``'s endpoint after a 410, 401 or 403, and alert once.

    The partner's pending transfers wait, keeping their ids and stored payloads,
    until ``leadshare endpoint enable`` removes the record. Returns the alert.
    """
    reason = str(error)
    if isinstance(error, EndpointAuthError):
        # The secret reference (env:NAME or block:NAME) is safe to show; the
        # secret itself is never in the message.
        reason += (
            f". The signing secret reference in partners.yaml is "
            f"{partner.webhook.secret}"
        )
    with store.transaction() as tx:
        tx.execute(
            "disable_endpoint",
            partner_id=partner.id,
            disabled_at=now,
            reason=reason[:500],
        )
    text = _disabled_alert(partner, error)
    log.error(text)
    if slack is not None:
        try:
            slack.post_message(text)
        except SlackPostError as exc:
            # The alert is in the log above; the deliveries must not fail with Slack.
            log.error("Slack alert for partner %s not posted: %s", partner.id, exc)
    return text


def _still_disabled_error(partner: Partner, state: dict[str, Any]) -> str:
    """Describe an endpoint that an earlier run disabled, and how to enable it."""
    return (
        f"the endpoint of partner {partner.id} has been disabled since "
        f"{_utc_text(state['disabled_at'])} ({state['reason']}). Fix the cause, then "
        f"run `leadshare endpoint enable {partner.id}`; the leads go with their "
        "first webhook-id in the next run"
    )


def _disabled_alert(partner: Partner, error: DeliveryError) -> str:
    """Return the alert for a disabled endpoint: the status, the cause and the fix."""
    enable = f"`leadshare endpoint enable {partner.id}`"
    if isinstance(error, EndpointAuthError):
        return (
            f"Partner {partner.id} ({partner.name}) answered HTTP {error.status}: "
            "authentication failed, so its endpoint is disabled and its pending "
            "leads wait. Check that both sides use the signing secret "
            f"{partner.webhook.secret} and that any credentials in the webhook URL "
            f"are valid, then run {enable}; the leads go with their first "
            "webhook-id in the next run."
        )
    return (
        f"Partner {partner.id} ({partner.name}) answered 410 Gone: its endpoint is "
        f"disabled and its pending leads wait. Re-enable with {enable} once the "
        "partner has a new URL."
    )


def _deliver_file(store, settings, partner, rows, now, summary) -> None:
    """Write the due transfers of a file channel, one file per delivery batch.

    A batch is marked sent once its file is written. An outbox folder that cannot
    be written (no permission, a file in its place, a full disk) or a manual queue
    file that is not JSON Lines is a local fault that a retry within the run does
    not fix. The remaining transfers then wait for the next run, and
    ``summary.error`` names the folder or file and the fix.
    """
    _stamp_delivery_batches(store, rows, now)
    folder = settings.outbox / partner.channel / partner.id
    by_batch: dict[str, list[dict]] = {}
    for row in rows:
        by_batch.setdefault(row["delivery_batch"], []).append(row)
    for batch, batch_rows in sorted(by_batch.items()):
        store.check_run_lock()
        try:
            _write_batch_file(
                folder, partner, batch, batch_rows, now, summary.run_id
            )
        except OSError as exc:
            reason = filedrop.describe_write_error(folder, exc)
            _wait_for_files(summary, partner, reason, len(rows) - summary.sent)
            return
        except filedrop.QueueFileError as exc:
            _wait_for_files(summary, partner, str(exc), len(rows) - summary.sent)
            return
        sent = pd.DataFrame(
            {
                "transfer_id": [r["transfer_id"] for r in batch_rows],
                "sent_at": dt.datetime.now(dt.UTC),
                "attempts": 1,
                "channel": partner.channel,
                "run_id": summary.run_id,
            }
        )
        with store.transaction() as tx:
            tx.execute_with_frame("mark_transfers_sent", sent)
        summary.sent += len(batch_rows)


def _stamp_delivery_batches(store, rows: list[dict], now: dt.datetime) -> None:
    """Give the rows without a delivery batch one new batch id, stored first.

    A rerun after a crash then writes the same file name again.
    """
    fresh = [row for row in rows if row["delivery_batch"] is None]
    if not fresh:
        return
    digest = hashlib.sha256("".join(r["transfer_id"] for r in fresh).encode())
    batch = f"{now:%Y%m%dT%H%M%S}-{digest.hexdigest()[:12]}"
    batches = pd.DataFrame(
        {"transfer_id": [r["transfer_id"] for r in fresh], "delivery_batch": batch}
    )
    with store.transaction() as tx:
        tx.execute_with_frame("set_delivery_batches", batches)
    for row in fresh:
        row["delivery_batch"] = batch


def _write_batch_file(folder, partner, batch, batch_rows, now, run_id) -> None:
    """Write one delivery batch in the partner's channel format.

    A manual hand-off line names the run that handed it off (``run_id``, as
    ``status`` lists it). The transfer's own run can be an approval command's,
    which ``status`` does not list.
    """
    allowed = [_allowed(row, partner) for row in batch_rows]
    if partner.channel == "file_drop":
        filedrop.write_partner_csv(folder, partner.id, batch, allowed, partner.fields)
    elif partner.channel == "crm_export":
        crm_rows = [
            {
                **lead,
                "lead_id": row["lead_id"],
                "owner_id": partner.crm_owner_id or partner.id,
                "partner_id": partner.id,
                "assigned_at": now.isoformat(),
            }
            for lead, row in zip(allowed, batch_rows, strict=True)
        ]
        filedrop.write_crm_assignments(folder, batch, crm_rows, partner.fields)
    else:
        manual = [
            {
                **lead,
                "transfer_id": row["transfer_id"],
                "partner_id": partner.id,
                "run_id": run_id or row["run_id"],
                "handed_off_at": now.isoformat(),
            }
            for lead, row in zip(allowed, batch_rows, strict=True)
        ]
        filedrop.append_manual_handoff(folder, manual)


def _wait_for_files(summary, partner, reason: str, waiting: int) -> None:
    """Record that ``waiting`` transfers wait because their files cannot be written.

    ``reason`` names the folder or file, the problem and the fix.
    """
    summary.error = summary.waiting_reason = reason
    summary.waiting = waiting
    summary.errors.append(summary.error)
    log.error(
        "Partner %s: %s for the next run because its %s files cannot be "
        "written: %s",
        partner.id,
        counted(waiting, "transfer") + (" waits" if waiting == 1 else " wait"),
        partner.channel,
        summary.error,
    )
