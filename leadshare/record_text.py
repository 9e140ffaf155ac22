"""Opt-outs read from the raw text of a malformed record.

A record whose fields cannot be split has no usable values, yet it may be the
opt-out of a person whose lead we hold. These pure functions find what can be
read from its text: an opt-out word and the e-mail addresses near it, and a
do_not_email value whose column is uncertain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from leadshare.fields import normalise_email

# An opt-out word, not followed by a quote and a colon, which would make it a JSON
# key such as "opt_out": "no". "unsubscribed_at" does not match, because the
# underscore continues the word.
_OPT_OUT_WORD = re.compile(
    r"\b(?:unsubscribed?|opted[\s_-]*out|opt[\s_-]*out|optout)\b(?![\"']?\s*:)",
    re.IGNORECASE,
)
# do_not_email (or "do not e-mail") followed closely by a true token, as in a JSON
# line ("do_not_email": "yes") or a note ("Do not email: yes").
_DO_NOT_EMAIL_YES = re.compile(
    r"\bdo[\s_-]*not[\s_-]*e[\s_-]*mail\W{0,4}(?:yes|true|1|y)\b", re.IGNORECASE
)
# A JSON "unsubscribed_at" key with a non-empty string value.
_UNSUBSCRIBED_AT = re.compile(r"\"unsubscribed_at\"\s*:\s*\"\s*[^\"\s]", re.IGNORECASE)
# Candidates only: normalise_email decides whether each one is an address.
_ADDRESS = re.compile(r"[^\s<>\"',;:()\[\]{}]+@[^\s<>\"',;:()\[\]{}]+")


def line_opts_out(line: str) -> bool:
    """Tell whether one line of a record contains an opt-out word or flag."""
    return bool(
        _OPT_OUT_WORD.search(line)
        or _DO_NOT_EMAIL_YES.search(line)
        or _UNSUBSCRIBED_AT.search(line)
    )


def email_keys_in(text: str) -> list[str]:
    """Return the dedup keys of the valid e-mail addresses in ``text``, in order.

    A full stop after an address ends the sentence, as in "write to a@b.com.", so
    it is dropped first.
    """
    keys: list[str] = []
    for candidate in _ADDRESS.findall(text):
        key = normalise_email(candidate.rstrip(".")).key
        if key is not None and key not in keys:
            keys.append(key)
    return keys


def opt_out_email_keys(text: str, flagged: bool) -> list[str]:
    """Return the e-mail keys that a malformed record's opt-out applies to.

    Each physical line is read alone, so a record that runs on over many lines
    suppresses only the addresses on lines with an opt-out word. ``flagged`` is
    true when the record's do_not_email was read as yes (see
    :func:`aligned_values`). It covers the whole record only when the record is a
    single line.
    """
    lines = text.split("\n")
    if flagged and len(lines) == 1:
        return email_keys_in(text)
    keys: list[str] = []
    for line in lines:
        if line_opts_out(line):
            keys.extend(key for key in email_keys_in(line) if key not in keys)
    return keys


def aligned_values(fields: list[str], width: int, index: int) -> Iterable[str]:
    """Yield the value of column ``index`` read from the left and from the right.

    A record with an extra or a missing field has its columns shifted from the
    point of the fault on. Reading from the left is right for the columns before
    it and reading from the right for those after it, so one of the two values
    is the column's value when the record has one fault.
    """
    count = len(fields)
    if index < count:
        yield fields[index]
    from_right = count - width + index
    if 0 <= from_right < count and from_right != index:
        yield fields[from_right]
