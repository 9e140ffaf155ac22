"""Corrected re-imports: a batch row that repeats a held lead with changed data.

A lead that found no partner waits in the backlog with the data it arrived with.
The source may send the same person again with different lead data, such as a
fixed country or region. That row then replaces the waiting lead. It goes through
consent, qualification and matching as a new lead, and the commit turns the held
lead's own row into a duplicate of it. A row with the same data stays a duplicate,
so repeated exports of an unchanged CRM record do not replace anything.

Pure functions over the batch frame and the stored leads' data; the caller loads
the stored data (``sql/replaceable_leads.sql``) and writes the result.
"""

from __future__ import annotations

import pandas as pd

from leadshare.model import ROW_COLUMN, Outcome

COMPARED_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("external_id", "external_id", "external_id"),
    ("email", "email_key", "email_key"),
    ("name", "name_key", "name_key"),
    ("company", "company_key", "company_key"),
    ("job_title", "job_title", "job_title"),
    ("phone", "phone_e164", "phone_e164"),
    ("country", "country_code", "country"),
    ("region", "region", "region"),
    ("postcode", "postcode", "postcode"),
    ("city", "city", "city"),
    ("industry", "industry", "industry"),
    ("product", "product", "product"),
    ("company_size", "company_size", "company_size"),
    ("annual_revenue", "annual_revenue", "annual_revenue"),
    ("lead_source", "lead_source", "lead_source"),
    ("engagement", "engagement", "engagement"),
    ("last_activity_at", "last_activity_at", "last_activity_at"),
    ("website", "website", "website"),
    ("notes", "notes", "notes"),
    ("consent_share", "consent_share", "consent_share"),
    ("consent_source", "consent_source", "consent_source"),
    ("consent_at", "consent_at", "consent_at"),
)
"""Compared lead fields: (name in reasons, batch column, ``leads`` column).

E-mail, name, company, phone and country are compared by their normalised keys,
so a change of letter case or phone format alone is no correction. The other
fields are compared as text with surrounding and repeated whitespace removed.
"""

CARRIED_GROUPS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("email", "email"), ("email_key", "email_key")),
    (
        ("first_name", "first_name"),
        ("last_name", "last_name"),
        ("name_key", "name_key"),
    ),
    (("company", "company"), ("company_key", "company_key")),
    (("phone", "phone"), ("phone_e164", "phone_e164")),
    (("country_code", "country"), ("country", "country")),
)
"""Normalised fields as groups of (batch column, ``leads`` column).

A group is taken from the held lead as a whole, and only when every batch column
of the group is blank: its columns are derived together, so one alone would not
match the others.
"""

CARRIED_FIELDS: tuple[str, ...] = tuple(
    batch
    for _, batch, stored in COMPARED_FIELDS
    if batch == stored
    and not any(batch == column for group in CARRIED_GROUPS for column, _ in group)
)
"""Other fields that a replacing row leaves blank and takes from the held lead."""

REPLACED_RULE = "replaced_by_reimport"


def comparable_text(values: pd.Series) -> pd.Series:
    """Return ``values`` as strings with each whitespace run cut to one space.

    Blank and missing values become NA.
    """
    text = values.astype("string").str.replace(r"\s+", " ", regex=True).str.strip()
    return text.mask(text == "")


def changed_fields(rows: pd.DataFrame, stored: pd.DataFrame) -> pd.Series:
    """Name the compared fields in which each row differs from its stored lead.

    ``stored`` has one row per row of ``rows``, in the same order, with the
    ``leads`` columns of :data:`COMPARED_FIELDS`. Returns a comma-separated list of
    field names per row, "" where the data is the same. A field that is blank or
    missing in the row is no change: a source that lacks a column, or leaves a
    cell empty, brings no new value for it.
    """
    changes = pd.Series("", index=rows.index, dtype=object)
    for name, batch_column, stored_column in COMPARED_FIELDS:
        new = comparable_text(_column_or_empty(rows, batch_column))
        old = comparable_text(_column_or_empty(stored, stored_column))
        old = old.set_axis(rows.index)
        differs = (new.notna() & new.ne(old.fillna("\x00"))).to_numpy(dtype=bool)
        changes[differs] = changes[differs] + ", " + name
    return changes.str.removeprefix(", ")


def _column_or_empty(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(None, index=frame.index, dtype=object)


def plan_replacements(
    frame: pd.DataFrame, stored: pd.DataFrame, opted_out: pd.Series | None
) -> pd.DataFrame:
    """Reopen the duplicate rows that replace a held lead, in place.

    ``frame`` is the batch after dedup. ``stored`` contains the replaceable held
    leads (``lead_id`` and the ``leads`` columns of :data:`COMPARED_FIELDS`).
    ``opted_out`` marks the rows that opt out (None when ``stored`` is empty):
    they never replace a lead, because the consent stage withdraws it for them.

    Of the rows that link to one replaceable lead with changed data, the first
    replaces it: its outcome, rule and reason are cleared, ``replaces`` gets the
    held lead's id and ``changed_fields`` the changed fields. Every other row that
    linked to that lead becomes a duplicate of the replacing row. Returns the
    replacing rows (``lead_id``, ``replaces``, ``changed_fields``, ``_row``).
    """
    frame["replaces"] = None
    frame["changed_fields"] = None
    columns = ["lead_id", "replaces", "changed_fields", ROW_COLUMN]
    if stored.empty or opted_out is None or "duplicate_of" not in frame.columns:
        return pd.DataFrame(columns=columns)
    linked = frame["outcome"].eq(Outcome.DUPLICATE.value) & frame["duplicate_of"].isin(
        stored["lead_id"]
    )
    first = _first_corrections(frame.loc[linked & ~opted_out.astype(bool)], stored)
    if first.empty:
        return pd.DataFrame(columns=columns)

    frame.loc[first.index, "replaces"] = first["duplicate_of"]
    frame.loc[first.index, "changed_fields"] = first["changed_fields"]
    # The stored data of the lead each replacing row replaces, in the rows' order.
    originals = (
        stored.set_index("lead_id").loc[first["duplicate_of"]].set_axis(first.index)
    )
    _carry_blank_fields(frame, originals)
    if "do_not_call" in originals.columns:
        # A do-not-call stays with the person: consent reads this for the new lead.
        frame["held_do_not_call"] = False
        frame.loc[first.index, "held_do_not_call"] = (
            originals["do_not_call"].eq(True).to_numpy(dtype=bool)
        )
    for column in ("outcome", "rule", "reason", "duplicate_of"):
        frame.loc[first.index, column] = None
    if "duplicate_held" in frame.columns:
        frame.loc[first.index, "duplicate_held"] = False
    _link_to_replacing_rows(frame, linked, first)
    return frame.loc[first.index, columns]


def _first_corrections(candidates: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """Return the first row with changed data per held lead, with ``changed_fields``."""
    if candidates.empty:
        return candidates
    originals = stored.set_index("lead_id").loc[candidates["duplicate_of"]]
    changes = changed_fields(candidates, originals.reset_index())
    differs = (changes != "").to_numpy(dtype=bool)
    if not differs.any():
        # Assigning a column to an empty frame would give it the column's rows.
        return candidates.iloc[:0]
    changed = candidates.loc[differs].assign(changed_fields=changes[differs])
    return changed.sort_values(ROW_COLUMN).drop_duplicates("duplicate_of")


def _carry_blank_fields(frame: pd.DataFrame, originals: pd.DataFrame) -> None:
    """Fill blank fields of the replacing rows from the leads they replace.

    ``originals`` has the stored data of each replacing row's lead, on the rows'
    index. Each of :data:`CARRIED_GROUPS` and :data:`CARRIED_FIELDS` is filled
    where the row leaves all of its columns blank and the stored lead has a value.
    """
    singles = tuple(((column, column),) for column in CARRIED_FIELDS)
    for group in CARRIED_GROUPS + singles:
        if any(stored_column not in originals.columns for _, stored_column in group):
            continue
        blank = pd.Series(True, index=originals.index)
        for batch_column, _ in group:
            if batch_column in frame.columns:
                text = comparable_text(frame.loc[originals.index, batch_column])
                blank &= text.isna()
        stored_values = originals[[stored_column for _, stored_column in group]]
        blank &= stored_values.notna().any(axis=1)
        if not blank.any():
            continue
        rows = blank.index[blank.to_numpy(dtype=bool)]
        for batch_column, stored_column in group:
            if batch_column not in frame.columns:
                frame[batch_column] = None
            frame.loc[rows, batch_column] = originals.loc[rows, stored_column]


def _link_to_replacing_rows(
    frame: pd.DataFrame, linked: pd.Series, first: pd.DataFrame
) -> None:
    """Make the other rows of each replaced lead duplicates of the replacing row."""
    new_ids = pd.Series(first["lead_id"].to_numpy(), index=first["duplicate_of"])
    others = linked & frame["duplicate_of"].isin(new_ids.index)
    old_ids = frame.loc[others, "duplicate_of"]
    frame.loc[others, "duplicate_of"] = new_ids.loc[old_ids].to_numpy()
    if "duplicate_held" in frame.columns:
        # They now repeat the replacing row of this batch, not a held lead.
        frame.loc[others, "duplicate_held"] = False
    frame.loc[others, "reason"] = (
        "duplicate of "
        + frame.loc[others, "duplicate_of"].astype(str)
        + " ("
        + frame.loc[others, "rule"].astype(str)
        + ", which replaced "
        + old_ids.astype(str)
        + ")"
    )


def replacement_reasons(replacing: pd.DataFrame, file_name: str) -> pd.DataFrame:
    """Return the rows for ``sql/replace_held_leads.sql``: lead_id, replaces, reason."""
    reasons = (
        "replaced by "
        + replacing["lead_id"].astype(str)
        + f" from {file_name} row "
        + replacing[ROW_COLUMN].astype(int).astype(str)
        + " (changed: "
        + replacing["changed_fields"].astype(str)
        + ")"
    )
    return pd.DataFrame(
        {
            "lead_id": replacing["lead_id"].to_numpy(dtype=object),
            "replaces": replacing["replaces"].to_numpy(dtype=object),
            "reason": reasons.to_numpy(dtype=object),
        }
    )
