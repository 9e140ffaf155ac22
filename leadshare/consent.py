"""Consent and suppression: decide which leads may never be shared.

Pure functions: the caller loads the suppression keys from the store, passes them in,
and stores the new entries this module returns. An opt-out is kept for good, so a
re-import of the same person (in any letter case) cannot turn sharing back on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Set
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadshare import arrowtext, record_text
from leadshare.model import RECORD_COLUMN, ROW_COLUMN, Outcome
from leadshare.timestamps import NOT_ISO, check_timestamps, utc_minutes
from leadshare.words import shown_value

TRUE_TOKENS = frozenset({"true", "yes", "1", "y"})
FALSE_TOKENS = frozenset({"false", "no", "0", "n"})
# A status opts out when it contains one of these words, after splitting camel
# case, lower-casing and folding "-", "_" and spaces to one space: "Unsubscribed
# (manual)", "unsubscribed_by_user", "OptedOut", "Do not call or email", "DNC",
# "Consent withdrawn", "GDPR erasure request", "Abgemeldet", "Ne pas contacter".
# Sharing a person who opted out costs more than holding back one who did not.
# A deceased person is not shared either. Phrases with a negation in them (such
# as "do not contact" and "no consent") are listed apart, because a negation
# elsewhere turns an opt-out word around.
_NEGATED_OPT_OUT = (
    r"do not (?:call (?:or|and) )?(?:contact|e ?mail|mail|share)|"
    r"no (?:consent|contact)|keine? (?:kontakt|einwilligung|werbung)|"
    r"nicht (?:kontaktieren|anrufen|anschreiben)|ne pas (?:contacter|d[ée]marcher)|"
    r"niet (?:benaderen|contacteren)|no (?:contactar|molestar)"
)
OPT_OUT_STATUS = re.compile(
    r"\b(?:unsubscri\w*|opted out|opt out|optout|" + _NEGATED_OPT_OUT + r"|dnc|"
    r"spam\w*|complain\w*|consent (?:withdrawn|revoked)|withdr[ae]wn?(?: consent)?|"
    r"erased|erasure|right to be forgotten|forget me|deceased|verstorben|"
    # German, French, Dutch and Spanish words for unsubscribed, revoked or erased
    r"abgemeldet|abmeldung|abbestellt|widerrufen|widerspruch|l[öo]schung\w*|dsgvo|"
    r"d[ée]sinscrit\w*|d[ée]sabonn\w*|afgemeld|uitgeschreven|dado de baja)\b"
)
# A negation outside those phrases turns the words around: "not unsubscribed",
# "No, not opted out". Such a value is not read as an opt-out.
NEGATION = re.compile(r"\b(?:not|no|never|non)\b")
_DO_NOT_PHRASE = re.compile(r"\b(?:" + _NEGATED_OPT_OUT + r")\b")
_CAMEL_HUMP = re.compile(r"(?<=[a-z])(?=[A-Z])")

FLAG_COLUMNS = ("do_not_email", "do_not_call", "consent_share")


class SuppressionEntry(NamedTuple):
    """One key that must never be shared again."""

    key: str
    """An ``email_key`` or an E.164 phone number."""
    kind: str
    """"email" or "phone"."""
    reason: str
    source: str
    at: dt.datetime


def parse_flag(raw: object) -> tuple[bool | None, str | None]:
    """Parse a yes/no cell: true/yes/1/y and false/no/0/n in any letter case.

    A number equal to 1 or 0 in another form (1.0, 0.00) counts as 1 or 0.
    Returns ``(value, error)``. A blank cell is ``(None, None)``, meaning no
    information. Any other token is ``(None, error)`` so the row goes to review
    instead of being guessed.
    """
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return None, None
    if isinstance(raw, bool):
        return raw, None
    token = str(raw).strip().lower()
    if not token:
        return None, None
    if token in TRUE_TOKENS:
        return True, None
    if token in FALSE_TOKENS:
        return False, None
    number = _number(token)
    if number in (0.0, 1.0):
        # JSON Lines keep numbers as written, so 1.0 arrives as the text "1.0".
        return number == 1.0, None
    error = (
        f"unknown value {shown_value(raw)}: expected true/yes/1/y, false/no/0/n or "
        "blank. Map the value in the source profile, then import the row again."
    )
    return None, error


def _number(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    column = frame[name]
    if column.dtype == object:
        # Missing cells may be None or NaN here, and every caller treats both alike.
        return column
    return column.astype(object).where(column.notna(), None)


def _parse_column(
    frame: pd.DataFrame, name: str, opt_out_words: bool = False
) -> tuple[pd.Series, pd.Series]:
    """Parse a flag column on its distinct values; returns (values, errors).

    With ``opt_out_words``, a value that is not a yes/no token but contains an
    opt-out word (see :data:`OPT_OUT_STATUS`), such as "Unsubscribed" or "Yes,
    opted out", counts as true.
    """
    codes, uniques = pd.factorize(_column(frame, name), use_na_sentinel=True)
    parse = _parse_opt_out_flag if opt_out_words else parse_flag
    parsed = [parse(value) for value in uniques] + [(None, None)]
    values = np.empty(len(parsed), dtype=object)
    errors = np.empty(len(parsed), dtype=object)
    values[:] = [value for value, _ in parsed]
    errors[:] = [error for _, error in parsed]
    return (
        pd.Series(values[codes], index=frame.index, dtype=object),
        pd.Series(errors[codes], index=frame.index, dtype=object),
    )


def _parse_opt_out_flag(raw: object) -> tuple[bool | None, str | None]:
    """Parse a cell as :func:`parse_flag` does, reading opt-out words as yes."""
    flag, error = parse_flag(raw)
    if error and _has_opt_out_word(raw):
        return True, None
    return flag, error


def _has_opt_out_word(value: object) -> bool:
    """Tell whether a value states an opt-out in words: an opt-out word, no negation."""
    words = _CAMEL_HUMP.sub(" ", str(value).strip())
    folded = re.sub(r"[-_\s]+", " ", words.lower())
    if OPT_OUT_STATUS.search(folded) is None:
        return False
    return NEGATION.search(_DO_NOT_PHRASE.sub(" ", folded)) is None


def _unsubscribed(frame: pd.DataFrame) -> pd.Series:
    """Return True where ``unsubscribed_at`` contains any text, per distinct value.

    A recorded unsubscribe is an opt-out even when the flags disagree or the time
    does not parse, because sharing such a person is the costlier mistake.
    """
    column = _column(frame, "unsubscribed_at")
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).astype(str).str.strip()
    hits = np.append(text.ne("").to_numpy(), False)
    return pd.Series(hits[codes], index=frame.index)


def _opted_out_status(frame: pd.DataFrame) -> pd.Series:
    """Return True where the status shows an opt-out, computed per distinct status."""
    codes, uniques = pd.factorize(_column(frame, "status"), use_na_sentinel=True)
    status = pd.Series(uniques, dtype=object).astype(str)
    matched = np.fromiter(map(_has_opt_out_word, status), dtype=bool, count=len(status))
    hits = np.append(matched, False)
    return pd.Series(hits[codes], index=frame.index)


def _finish(
    out: pd.DataFrame, mask: pd.Series, outcome: Outcome, rule: str, reason: object
) -> None:
    """Set outcome, rule and reason on the open rows in ``mask``."""
    target = mask & out["outcome"].isna()
    if not target.any():
        return
    out.loc[target, "outcome"] = outcome.value
    out.loc[target, "rule"] = rule
    if isinstance(reason, pd.Series):
        out.loc[target, "reason"] = reason[target]
    else:
        out.loc[target, "reason"] = reason


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Make sure the outcome columns exist and hold None for missing (in place).

    The frame is not copied: at 1M leads a copy of its ~45 columns took 4 s.
    """
    out = frame
    for name in ("outcome", "rule", "reason"):
        if name not in out.columns:
            out[name] = pd.Series([None] * len(out), index=out.index, dtype=object)
        else:
            out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out


ENTRY_COLUMNS = ["key", "kind", "reason", "source", "suppressed_at"]
"""The columns of the suppression entries frame, as in the ``suppression`` table."""


def _new_entry_frame(
    keys_by_kind: dict[str, pd.Series],
    suppressed_keys: Set[str],
    source: str,
    at: dt.datetime,
) -> pd.DataFrame:
    """Return one suppression entry per new key, first kind first, without a loop."""
    parts = []
    for kind, keys in keys_by_kind.items():
        distinct = pd.unique(keys.dropna().astype(object).to_numpy())
        parts.append(pd.DataFrame({"key": distinct, "kind": kind}))
    entries = pd.concat(parts, ignore_index=True).drop_duplicates("key")
    if suppressed_keys:
        known = arrowtext.in_set(entries["key"], arrowtext.value_set(suppressed_keys))
        entries = entries[~known]
    return entries.assign(reason="opted out", source=source, suppressed_at=at)[
        ENTRY_COLUMNS
    ].reset_index(drop=True)


EXTERNAL_KEY_PREFIX = "ext:"


def external_key_values(sources: pd.Series, ids: pd.Series) -> pd.Series:
    """Return ``ext:<source>:<id>`` per row, None where the id is blank.

    The suppression key of a person by the source's own id. Profile names contain
    no colon, and e-mail keys and E.164 phones never start with ``ext:``.
    """
    text = ids.astype(object).where(ids.notna(), None)
    stripped = pd.Series(
        [value.strip() if isinstance(value, str) else None for value in text],
        index=ids.index,
        dtype=object,
    )
    keys = EXTERNAL_KEY_PREFIX + sources.astype(str) + ":" + stripped
    return keys.where(stripped.notna() & stripped.ne(""), None)


def external_keys(frame: pd.DataFrame, source: str) -> pd.Series:
    """Return the external-id suppression key of each row of one source's batch.

    Arrow builds the keys and keeps them, so no Python string is made per row.
    Arrow trims Unicode white space, as ``str.strip`` does for the same ids.
    """
    if "external_id" not in frame.columns:
        return pd.Series(None, index=frame.index, dtype=object)
    column = frame["external_id"]
    if arrowtext.is_arrow_text(column):
        ids = pa.array(column.array)
    else:
        values = column.to_numpy(dtype=object)
        ids = pa.array(values, type=pa.string(), from_pandas=True)
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    ids = ids.cast(pa.large_string())
    stripped = pc.utf8_trim_whitespace(ids)
    missing = pa.scalar(None, stripped.type)
    stripped = pc.if_else(pc.equal(stripped, ""), missing, stripped)
    prefix = pa.scalar(f"{EXTERNAL_KEY_PREFIX}{source}:", stripped.type)
    keys = pc.binary_join_element_wise(prefix, stripped, pa.scalar("", stripped.type))
    return pd.Series(pd.arrays.ArrowStringArray(keys), index=frame.index)


def opted_out(frame: pd.DataFrame) -> pd.Series:
    """Mark the rows that opt out by do_not_email, status or ``unsubscribed_at``."""
    do_not_email, _ = _parse_column(frame, "do_not_email")
    return do_not_email.eq(True) | _opted_out_status(frame) | _unsubscribed(frame)


def apply_consent(
    frame: pd.DataFrame,
    suppressed_keys: Set[str],
    *,
    source: str = "import",
    now: dt.datetime | None = None,
    as_frame: bool = False,
) -> tuple[pd.DataFrame, list[SuppressionEntry] | pd.DataFrame]:
    """Suppress or quarantine the open rows that must not be shared.

    ``frame`` needs the ``email_key`` and ``phone_e164`` columns from normalisation.
    ``suppressed_keys`` contains the e-mail keys and E.164 phones already suppressed.
    Checks run in this order, and the first that applies sets the outcome: the row
    opted out; its key is suppressed (earlier, or by another row of this batch);
    a do-not-contact or consent cell contains an unknown token (quarantined, also
    in a duplicate row, with the batch row that it repeats); the time of a consent
    to share does not parse or lies ahead (quarantined); consent to share is no or
    missing. Returns the frame and the new suppression entries
    for every opt-out in the batch, including rows that already had an outcome.
    An opted-out row that dedup linked to a lead we hold becomes suppressed too,
    with that lead's id in its reason, and that lead's keys are suppressed. The
    frame is updated in place and returned.
    """
    at = now or dt.datetime.now(dt.UTC)
    if at.tzinfo is None:
        raise ValueError("apply_consent: 'now' must be timezone-aware, e.g. in UTC")
    out = _prepare(frame)
    # Rows quarantined by an earlier stage keep that outcome, but their opt-out
    # still suppresses their keys below.
    quarantined_before = out["outcome"].eq(Outcome.QUARANTINED.value).to_numpy()
    do_not_email, email_flag_errors = _parse_column(
        frame, "do_not_email", opt_out_words=True
    )
    do_not_call, call_flag_errors = _parse_column(frame, "do_not_call")
    share, share_errors = _parse_column(frame, "consent_share")
    _mark_do_not_call(out, do_not_call)

    email_opt_out = do_not_email.eq(True)
    status_opt_out = _opted_out_status(frame)
    opted_out = email_opt_out | status_opt_out | _unsubscribed(frame)
    record_keys, by_record = _record_opt_outs(frame, opted_out)
    opted_out |= by_record
    # A person who opted out in one row opted out in all of them: the lead that
    # the row's duplicates link to is suppressed too, whichever row came first.
    by_duplicate = _linked_to(frame, opted_out) & ~opted_out
    # The key columns stay as they are (Arrow or objects): only lookups read them.
    email_keys, phones, externals = (
        frame[name] if name in frame.columns else _column(frame, name)
        for name in ("email_key", "phone_e164", "external_key")
    )
    withdrawn = opted_out | by_duplicate
    # An opted-out row that repeats a held lead withdraws that lead. Its keys are
    # suppressed too, because the row may match it by name or external id alone.
    withdraws_held = opted_out & _duplicate_of_held(out)
    new_keys = {
        kind: pd.concat(
            [
                values[withdrawn].astype(object),
                _column(frame, f"held_{column}")[withdraws_held],
            ]
        )
        for kind, column, values in (
            ("email", "email_key", email_keys),
            ("phone", "phone_e164", phones),
            ("external_id", "external_key", externals),
        )
    }
    recovered_keys = _keys_in_invalid_emails(frame, opted_out)
    found_in_text = [keys for keys in (record_keys, recovered_keys) if len(keys)]
    if found_in_text:
        new_keys["email"] = pd.concat(
            [new_keys["email"].astype(object), *found_in_text]
        )
    blocked = arrowtext.value_set(suppressed_keys, *new_keys.values())
    listed = pd.Series(
        arrowtext.in_set(email_keys, blocked)
        | arrowtext.in_set(phones, blocked)
        | arrowtext.in_set(externals, blocked),
        index=frame.index,
    )

    reasons = _opt_out_reasons(frame, email_opt_out, status_opt_out, opted_out)
    _suppress_held_duplicates(out, withdraws_held, reasons)
    # An opted-out row that repeats an earlier row of this batch is suppressed as
    # well; by_duplicate suppresses the row it repeats.
    _suppress_batch_duplicates(out, opted_out & _duplicate_in_batch(out), reasons)
    has_keys = pd.Series(
        email_keys.notna().to_numpy()
        | phones.notna().to_numpy()
        | externals.notna().to_numpy()
        | frame.index.isin(recovered_keys.index)
        | frame.index.isin(record_keys.index),
        index=frame.index,
    )
    # An opt-out that names no key cannot go on the suppression list. Recorded as
    # suppressed, it would look applied while a later row of the person is shared.
    unkeyed = opted_out & ~has_keys & _column(frame, "duplicate_of").isna()
    _finish(
        out,
        unkeyed,
        Outcome.QUARANTINED,
        "opt_out_not_applied",
        _unkeyed_reasons(frame, unkeyed),
    )
    _finish(out, opted_out, Outcome.SUPPRESSED, "opted_out", reasons)
    _finish(out, by_duplicate, Outcome.SUPPRESSED, "opted_out", _DUPLICATE_REASON)
    # A row that refuses consent for a person we hold, or whom another row of this
    # file would share, stops that lead too: every record of the person must allow it.
    # Unlike an opt-out, a refusal does not go on the suppression list.
    refused = share.eq(False) & ~opted_out
    refusal = pd.Series(_NO_CONSENT, index=out.index, dtype=object)
    _suppress_held_duplicates(
        out, refused & _duplicate_of_held(out), refusal, rule="no_consent"
    )
    _suppress_batch_duplicates(
        out, refused & _duplicate_in_batch(out), refusal, rule="no_consent"
    )
    _finish(
        out,
        _linked_to(frame, refused) & ~refused,
        Outcome.SUPPRESSED,
        "no_consent",
        _DUPLICATE_REFUSED,
    )
    _finish(out, listed, Outcome.SUPPRESSED, "suppression_list", _LISTED_REASON)
    _finish_unknown_tokens(out, email_flag_errors, call_flag_errors, share_errors)
    _check_consent_time(out, share.eq(True), at)
    _finish(out, share.eq(False), Outcome.SUPPRESSED, "no_consent", _NO_CONSENT)
    _finish(out, share.isna(), Outcome.SUPPRESSED, "no_consent", _MISSING_CONSENT)
    _hold_duplicates_of_quarantined(out, quarantined_before)

    from_text = pd.Series(frame.index.isin(record_keys.index), index=frame.index)
    _note_quarantined_opt_outs(
        out, quarantined_before & opted_out, has_keys, from_text
    )

    entries = _new_entry_frame(new_keys, suppressed_keys, source, at)
    if as_frame:
        return out, entries
    return out, [SuppressionEntry(*row) for row in entries.itertuples(index=False)]


def _record_opt_outs(
    frame: pd.DataFrame, opted_out: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Read the opt-outs in the raw text of malformed records.

    Returns the e-mail keys to suppress, indexed by their row (a row may have
    several), and a mask of the records with an opt-out word or flag in their
    text. See :mod:`leadshare.record_text` for what is read.
    """
    # NOTE: an opt-out that such a record states only by a date in unsubscribed_at,
    # or by a yes in do_not_email on a record spanning several lines, is not
    # recognised. Dedup skips quarantined rows, so a record without a readable
    # e-mail does not withdraw a held lead that matches it by name and company.
    by_record = pd.Series(False, index=frame.index)
    if RECORD_COLUMN not in frame.columns:
        return pd.Series([], dtype=object), by_record
    texts = frame[RECORD_COLUMN]
    keys: list[str] = []
    owners: list[object] = []
    for row in texts.index[texts.notna()]:
        text = str(texts[row])
        found = record_text.opt_out_email_keys(text, bool(opted_out[row]))
        keys.extend(found)
        owners.extend([row] * len(found))
        by_record[row] = any(map(record_text.line_opts_out, text.split("\n")))
    return pd.Series(keys, index=owners, dtype=object), by_record


def _keys_in_invalid_emails(frame: pd.DataFrame, opted_out: pd.Series) -> pd.Series:
    """Return the e-mail keys of valid addresses inside opted-out rows' invalid e-mails.

    An opt-out such as ``Anna <anna@example.com`` (no closing bracket) fails
    validation but still names the person. Keys are indexed by their row.
    """
    if "email" not in frame.columns or "email_key" not in frame.columns:
        return pd.Series([], dtype=object)
    rows = opted_out & frame["email_key"].isna() & frame["email"].notna()
    keys: list[str] = []
    owners: list[object] = []
    for row, value in frame.loc[rows, "email"].items():
        found = record_text.email_keys_in(str(value))
        keys.extend(found)
        owners.extend([row] * len(found))
    return pd.Series(keys, index=owners, dtype=object)


_INVALID_PHONE = (
    "is not a valid phone number (write it with + and the country code, or give "
    "the row a country)"
)


def _unkeyed_reasons(frame: pd.DataFrame, rows: pd.Series) -> pd.Series:
    """Say why each opt-out row in ``rows`` could not be applied, naming its values."""
    reasons = pd.Series(None, index=frame.index, dtype=object)
    if not rows.any():
        return reasons
    emails, phones = _column(frame, "email"), _column(frame, "phone")
    for row in reasons.index[rows]:
        found = [
            f"{field} {shown_value(value)} {problem}"
            for field, value, problem in (
                ("email", emails[row], "is not a valid e-mail address"),
                ("phone", phones[row], _INVALID_PHONE),
            )
            if value is not None and str(value).strip()
        ]
        detail = "; ".join(found) if found else "it has no e-mail or phone"
        reasons[row] = (
            f"opted out, but nothing could be added to the suppression list: "
            f"{detail}. Fix the row and import it again"
        )
    return reasons


def _note_quarantined_opt_outs(
    out: pd.DataFrame,
    rows: np.ndarray | pd.Series,
    has_keys: pd.Series,
    from_text: pd.Series,
) -> None:
    """Say in the reason of each quarantined opt-out row whether the opt-out applied.

    The row keeps its quarantined outcome (one outcome per row), but its keys were
    suppressed like those of any other opt-out. ``from_text`` marks the malformed
    records whose e-mail keys were read from their raw text.
    """
    rows = pd.Series(rows, index=out.index)
    for mask, note in (
        (rows & from_text, _APPLIED_FROM_TEXT),
        (rows & ~from_text & has_keys, _APPLIED),
        (rows & ~from_text & ~has_keys, _NOT_APPLIED),
    ):
        if mask.any():
            out.loc[mask, "reason"] = out.loc[mask, "reason"].astype(str) + note


_WITHDRAWN = (
    "held leads with them are withdrawn unless a partner already received them"
)
_APPLIED = (
    "; the row also opts out, and that was applied: its valid e-mail, phone and "
    "external id are on the suppression list, and " + _WITHDRAWN
)
_APPLIED_FROM_TEXT = (
    "; the record also opts out, and that was applied: the e-mail addresses in its "
    "text are on the suppression list, and " + _WITHDRAWN
)
_NOT_APPLIED = (
    "; the row also opts out, but it contains no valid e-mail, phone or external id "
    "to suppress: fix the row and import it again"
)


def _held_link(frame: pd.DataFrame) -> pd.Series:
    """Tell per row whether ``duplicate_of`` names a held lead (not a batch row).

    Dedup records this as ``duplicate_held``; without that column (frames built by
    hand) the batch's lead ids decide, which costs a hash of every id.
    """
    if "duplicate_held" in frame.columns:
        return frame["duplicate_held"].fillna(False).astype(bool)
    return ~frame["duplicate_of"].isin(frame["lead_id"])


def _duplicate_of_held(frame: pd.DataFrame) -> pd.Series:
    """Mark the duplicate rows that link to a lead we hold, not to a batch row."""
    if "duplicate_of" not in frame.columns or "lead_id" not in frame.columns:
        return pd.Series(False, index=frame.index)
    targets = frame["duplicate_of"]
    linked_to_held = (
        frame["outcome"].eq(Outcome.DUPLICATE.value)
        & targets.notna()
        & _held_link(frame)
    )
    return linked_to_held.astype(bool)


def _duplicate_in_batch(frame: pd.DataFrame) -> pd.Series:
    """Mark the duplicate rows that link to another row of this batch."""
    if "duplicate_of" not in frame.columns or "lead_id" not in frame.columns:
        return pd.Series(False, index=frame.index)
    linked = (
        frame["outcome"].eq(Outcome.DUPLICATE.value)
        & frame["duplicate_of"].notna()
        & ~_held_link(frame)
    )
    return linked.astype(bool)


def _suppress_batch_duplicates(
    out: pd.DataFrame, rows: pd.Series, reasons: pd.Series, rule: str = "opted_out"
) -> None:
    """Suppress the opted-out or refusing rows that repeat an earlier batch row."""
    if not rows.any():
        return
    out.loc[rows, "outcome"] = Outcome.SUPPRESSED.value
    out.loc[rows, "rule"] = rule
    out.loc[rows, "reason"] = (
        reasons[rows]
        + "; the row it repeats ("
        + out.loc[rows, "duplicate_of"].astype(str)
        + ") is suppressed too"
    )


def _suppress_held_duplicates(
    out: pd.DataFrame, rows: pd.Series, reasons: pd.Series, rule: str = "opted_out"
) -> None:
    """Suppress the opted-out or refusing rows that repeat a held lead.

    The reason names the held lead, because the row's own lead id is what
    row_outcomes stores for a suppressed row.
    """
    if not rows.any():
        return
    held_ids = out.loc[rows, "duplicate_of"].astype(str)
    if "withdraws" not in out.columns:
        out["withdraws"] = None
    out.loc[rows, "withdraws"] = held_ids
    out.loc[rows, "outcome"] = Outcome.SUPPRESSED.value
    out.loc[rows, "rule"] = rule
    out.loc[rows, "reason"] = (
        reasons[rows]
        + "; this withdraws held lead "
        + held_ids
        + " unless a partner already received it"
    )


def _mark_do_not_call(out: pd.DataFrame, parsed: pd.Series) -> None:
    """Set ``do_not_call_flag`` on every row of a person marked do-not-call.

    A do-not-call in any row of a person applies to all of them: the row's own
    value, the stored lead that the row replaces (``held_do_not_call``), and the
    duplicate rows of the batch. A flagged duplicate row that links to a stored
    lead puts that lead's id in ``marks_do_not_call``, and the commit flags it.
    """
    flagged = parsed.eq(True)
    if "held_do_not_call" in out.columns:
        flagged |= out["held_do_not_call"].fillna(False).astype(bool)
    flagged |= _linked_to(out, flagged)
    out["do_not_call_flag"] = parsed.astype(object).where(~flagged, True)
    if "duplicate_of" in out.columns and "lead_id" in out.columns:
        to_held = flagged & _duplicate_of_held(out)
        out["marks_do_not_call"] = out["duplicate_of"].where(to_held, None)


def _linked_to(frame: pd.DataFrame, rows: pd.Series) -> pd.Series:
    """Mark the rows whose lead is the ``duplicate_of`` target of one of ``rows``."""
    if "duplicate_of" not in frame.columns or "lead_id" not in frame.columns:
        return pd.Series(False, index=frame.index)
    targets = frame.loc[rows.to_numpy(dtype=bool), "duplicate_of"].dropna()
    if targets.empty:
        return pd.Series(False, index=frame.index)
    return pd.Series(
        arrowtext.in_set(frame["lead_id"], arrowtext.value_set(targets)),
        index=frame.index,
    )


def _opt_out_reasons(
    frame: pd.DataFrame,
    email_opt_out: pd.Series,
    status_opt_out: pd.Series,
    opted_out: pd.Series,
) -> pd.Series:
    """Name the field that made each opted-out row opt out."""
    reasons = pd.Series(None, index=frame.index, dtype=object)
    reasons[email_opt_out] = "opted out: do_not_email is yes"
    # A value read as yes for its opt-out word is quoted, as a status is.
    flags = _column(frame, "do_not_email")
    worded_values = {
        value
        for value in flags[email_opt_out].dropna().unique()
        if parse_flag(value)[1] is not None
    }
    if worded_values:
        worded = email_opt_out & flags.isin(worded_values)
        text = flags[worded].astype(str).str.strip()
        reasons[worded] = "opted out: do_not_email is " + text.str.slice(0, 40)
    by_status = status_opt_out & ~email_opt_out
    if by_status.any():
        status = _column(frame, "status")[by_status].astype(str).str.strip()
        reasons[by_status] = "opted out: status is " + status
    by_time = opted_out & reasons.isna()
    if by_time.any():
        when = _column(frame, "unsubscribed_at")[by_time].astype(str).str.strip()
        reasons[by_time] = "opted out: unsubscribed_at is " + when.str.slice(0, 40)
    return reasons


_LISTED_REASON = (
    "opted out earlier: on suppression list (this e-mail or phone opted out before, "
    "or in another row of this batch); never shared again"
)
_DUPLICATE_REASON = (
    "opted out: a duplicate row of this lead opted out (do_not_email or status); "
    "never shared"
)
_NO_CONSENT = "no consent to share: consent_share is no"
_DUPLICATE_REFUSED = (
    "no consent to share: a duplicate row of this lead has consent_share no; "
    "not shared"
)
_MISSING_CONSENT = (
    "no consent to share: consent_share is empty. Record consent in the source "
    "and send it in the consent_share column."
)


def _finish_unknown_tokens(
    out: pd.DataFrame,
    email_flag_errors: pd.Series,
    call_flag_errors: pd.Series,
    share_errors: pd.Series,
) -> None:
    email_reason = "do_not_email: " + email_flag_errors
    call_reason = "do_not_call: " + call_flag_errors
    dnc_reason = email_reason.where(email_flag_errors.notna(), call_reason)
    unknown_dnc = email_flag_errors.notna() | call_flag_errors.notna()
    share_reason = "consent_share: " + share_errors
    unknown_share = share_errors.notna() & ~unknown_dnc
    # A duplicate row is checked too: its unknown value may be an opt-out or a
    # refusal of the person that the row repeats.
    repeats = out["outcome"].eq(Outcome.DUPLICATE.value)
    for unknown, rule, reason in (
        (unknown_dnc, "dnc_unknown_token", dnc_reason),
        (unknown_share, "consent_unknown_token", share_reason),
    ):
        _quarantine_repeats(out, unknown & repeats, rule, reason)
        _finish(out, unknown, Outcome.QUARANTINED, rule, reason)


def _quarantine_repeats(
    out: pd.DataFrame, rows: pd.Series, rule: str, reasons: pd.Series
) -> None:
    """Quarantine duplicate ``rows`` with an unknown consent or contact value.

    The batch row each one repeats is quarantined with it when it is still open,
    because the person's consent is unclear until the value is fixed. A row that
    repeats a lead we hold puts that lead's id in ``holds_consent``, and the commit
    holds the lead back (sql/hold_unclear_consent.sql).
    """
    if not rows.any():
        return
    to_held = rows & _duplicate_of_held(out)
    if to_held.any():
        if "holds_consent" not in out.columns:
            out["holds_consent"] = None
        out.loc[to_held, "holds_consent"] = out.loc[to_held, "duplicate_of"]
    repeated = _linked_to(out, rows) & out["outcome"].isna()
    if repeated.any():
        source_rows = (
            out[ROW_COLUMN] if ROW_COLUMN in out.columns else out.index.to_series()
        )
        later: dict[str, object] = {}
        for target, row in zip(out.loc[rows, "duplicate_of"], source_rows[rows]):
            later.setdefault(target, row)
        out.loc[repeated, "outcome"] = Outcome.QUARANTINED.value
        out.loc[repeated, "rule"] = "duplicate_quarantined"
        out.loc[repeated, "reason"] = [
            f"row {later[lead_id]} of this file is the same person and was "
            f"quarantined ({rule}); fix that row, then import both rows again"
            for lead_id in out.loc[repeated, "lead_id"]
        ]
    out.loc[rows, "outcome"] = Outcome.QUARANTINED.value
    out.loc[rows, "rule"] = rule
    out.loc[rows, "reason"] = reasons[rows]


def _hold_duplicates_of_quarantined(
    out: pd.DataFrame, quarantined_before: np.ndarray
) -> None:
    """Quarantine the duplicates of the rows that this stage quarantined.

    Dedup linked each duplicate to an earlier row of the batch, and that row's lead
    is stored only when the row is not quarantined. Left as duplicates, they would
    point to a lead that does not exist. Their person's consent is unclear until
    the quarantined row is fixed, so they wait with it.
    """
    if "duplicate_of" not in out.columns or "lead_id" not in out.columns:
        return
    quarantined_now = out["outcome"].eq(Outcome.QUARANTINED.value).to_numpy()
    newly = quarantined_now & ~quarantined_before
    if not newly.any():
        return
    quarantined = out.loc[newly]
    rows = (
        quarantined[ROW_COLUMN]
        if ROW_COLUMN in out.columns
        else pd.Series(quarantined.index, index=quarantined.index)
    )
    row_of = dict(zip(quarantined["lead_id"], rows, strict=True))
    rule_of = dict(zip(quarantined["lead_id"], quarantined["rule"], strict=True))
    twins = out["outcome"].eq(Outcome.DUPLICATE.value) & out["duplicate_of"].isin(
        row_of
    )
    if not twins.any():
        return
    targets = out.loc[twins, "duplicate_of"]
    out.loc[twins, "outcome"] = Outcome.QUARANTINED.value
    out.loc[twins, "rule"] = "duplicate_of_quarantined"
    out.loc[twins, "reason"] = [
        f"same person as row {row_of[target]} of this file, which was quarantined "
        f"({rule_of[target]}); fix that row, then import both rows again"
        for target in targets
    ]


def _check_consent_time(
    out: pd.DataFrame, consented: pd.Series, at: dt.datetime
) -> None:
    """Quarantine open rows whose consent to share has an unreadable or future time.

    A partner or an auditor could not rely on such a consent record, so the row
    waits until the source fixes it. A blank time is not checked here.
    """
    if "consent_at" not in out.columns:
        return
    rows = consented & out["outcome"].isna() & out["consent_at"].notna()
    if not rows.any():
        return
    text = out.loc[rows, "consent_at"]
    seen, unreadable_values, future_values = check_timestamps(text, at)
    if unreadable_values.any():
        unreadable = pd.Series(False, index=out.index)
        unreadable[text.index] = unreadable_values
        # Reasons are built for the failing rows only, not for every consented row.
        bad = text[unreadable_values]
        quoted = bad.map(lambda value: shown_value(value, numbers=True))
        fix = "; fix the consent record in the source"
        reasons = "consent_at " + quoted + NOT_ISO + fix
        _finish(
            out,
            unreadable,
            Outcome.QUARANTINED,
            "consent_time_unreadable",
            reasons.reindex(out.index),
        )
    if future_values.any():
        future = pd.Series(False, index=out.index)
        future[text.index] = future_values
        when = utc_minutes(seen[future_values]).reindex(out.index)
        _finish(
            out,
            future,
            Outcome.QUARANTINED,
            "consent_time_in_future",
            "consent_at " + when + " is after the time of the run; check the "
            "source's consent records and its clock",
        )
