"""Normalise e-mail, phone, country, name and company values into comparable keys.

The per-value functions are pure. :func:`normalise_frame` applies them to the distinct
values of a batch only, and spreads large batches over two worker processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import re
import subprocess
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from typing import IO, Any, NamedTuple

import email_validator
import numpy as np
import pandas as pd
import phonenumbers
import pycountry

from leadshare.memory import release_freed_memory

logger = logging.getLogger(__name__)

PARALLEL_MIN_DISTINCT = 20_000
"""Below this many distinct values, one process is faster than starting workers."""

WORKERS = 2
CHUNK_SIZE = 25_000

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})

NORMALISED_COLUMNS: tuple[str, ...] = (
    "email_display",
    "email_ascii",
    "email_key",
    "email_error",
    "phone_e164",
    "phone_ext",
    "phone_error",
    "country_code",
    "country_error",
    "name_key",
    "company_key",
)


class EmailResult(NamedTuple):
    """A checked e-mail address; every field is None when the input was blank."""

    display: str | None
    """Address to show and send to: local part as typed, domain normalised."""
    ascii: str | None
    """Address with an IDNA (xn--) domain; None when the local part is not ASCII."""
    key: str | None
    """Dedup key: provider aliases removed, never used as a send address."""
    error: str | None


class PhoneResult(NamedTuple):
    e164: str | None
    extension: str | None
    error: str | None


class CountryResult(NamedTuple):
    code: str | None
    """ISO 3166-1 alpha-2 code."""
    error: str | None


# Letters that Unicode does not decompose into a base letter plus an accent.
_FOLD_TABLE = str.maketrans(
    dict(
        zip("ßøØłŁđĐæÆœŒþÞı", "ss o O l L d D ae AE oe OE th TH i".split(), strict=True)
    )
)


def fold_text(value: str) -> str:
    """Return ``value`` lower-cased, without accents and with single spaces."""
    if value.isascii():
        return " ".join(value.lower().split())
    decomposed = unicodedata.normalize("NFKD", value.translate(_FOLD_TABLE))
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(bare.lower().split())


def _blank(raw: object) -> bool:
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return True
    return not str(raw).strip()


# E-mail


def email_key(local_part: str, domain: str) -> str:
    """Build the dedup key from a validated local part and normalised domain.

    Plus tags are removed for every domain. For Gmail, dots in the local part are
    removed and googlemail.com becomes gmail.com. Full-width and other compatibility
    characters in the local part are folded with NFKC so they match the ASCII form.
    """
    local = unicodedata.normalize("NFKC", local_part).lower()
    untagged = local.split("+", 1)[0]
    if untagged:
        local = untagged
    domain = domain.lower()
    if domain in GMAIL_DOMAINS:
        domain = "gmail.com"
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def normalise_email(raw: object) -> EmailResult:
    """Validate one address with email-validator (no DNS) and derive its dedup key.

    Quoted local parts ("a b"@example.com) are rejected, as email-validator does by
    default, so such a lead goes to review. A rejected address is returned only as
    an error text, never as a value.
    """
    if _blank(raw):
        return EmailResult(None, None, None, None)
    text = str(raw).strip()
    try:
        checked = email_validator.validate_email(
            text, check_deliverability=False, allow_quoted_local=False
        )
    except email_validator.EmailNotValidError as exc:
        reason = (
            f"invalid email: {exc} Correct the address at the source or leave it empty."
        )
        return EmailResult(None, None, None, reason)
    key = email_key(checked.local_part, checked.domain)
    return EmailResult(checked.normalized, checked.ascii_email, key, None)


# Phone


def normalise_phone(raw: object, region: str | None) -> PhoneResult:
    """Parse one phone number to E.164, reading local formats in ``region``.

    ``region`` is the lead's ISO alpha-2 country. An extension ("x123", "ext. 55")
    is returned apart from the number. An unreadable or invalid number gives an
    error text, never an exception.
    """
    if _blank(raw):
        return PhoneResult(None, None, None)
    text = str(raw).strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        return PhoneResult(None, None, _phone_parse_error(exc, region))
    if not phonenumbers.is_valid_number(number):
        where = f"region {region}" if region else "any region"
        reason = (
            f"invalid phone: not a valid number for {where}. Correct the number or "
            "the lead's country, or write it with its +country code."
        )
        return PhoneResult(None, None, reason)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return PhoneResult(e164, number.extension or None, None)


def _phone_parse_error(
    exc: phonenumbers.NumberParseException, region: str | None
) -> str:
    if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        if region is None:
            return (
                "invalid phone: a local number needs the lead's country. Add the "
                "country, or write the number with its +country code."
            )
        return f"invalid phone: unknown country calling code (region {region})."
    return f"invalid phone: {exc._msg} Correct it at the source or leave it empty."


# Country

# Everyday names that are not ISO short, official or common names (pycountry 26.2.16).
COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB",
    "u.k.": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "great britain": "GB",
    "britain": "GB",
    "turkey": "TR",
    "south korea": "KR",
    "republic of korea": "KR",
    "north korea": "KP",
    "holland": "NL",
    "the netherlands": "NL",
    "usa": "US",
    "u.s.a.": "US",
    "u.s.": "US",
    "united states of america": "US",
    "russia": "RU",
    "ivory coast": "CI",
    "macedonia": "MK",
    "czech republic": "CZ",
    "uae": "AE",
}

# Names that fit more than one country: a lead with one of these goes to review.
AMBIGUOUS_COUNTRIES: dict[str, tuple[str, ...]] = {
    "korea": ("KR", "KP"),
    # NOTE: "Congo" is the ISO short name of CG, but in free text it often means
    # CD (the Democratic Republic), so it is flagged instead of trusting the name.
    "congo": ("CG", "CD"),
    "virgin islands": ("VG", "VI"),
}


def _build_country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            value = getattr(country, attribute, None)
            if value:
                index[fold_text(value)] = country.alpha_2
    for alias, code in COUNTRY_ALIASES.items():
        index[fold_text(alias)] = code
    for name in AMBIGUOUS_COUNTRIES:
        index.pop(name, None)
    return index


_COUNTRY_INDEX = _build_country_index()


def normalise_country(raw: object) -> CountryResult:
    """Map a country code or name to ISO alpha-2 by exact lookup only.

    Accepted: alpha-2 and alpha-3 codes, the ISO short, official and common names, and
    :data:`COUNTRY_ALIASES`, ignoring letter case, accents and extra spaces. An
    ambiguous or unknown value gives an error text and no code: it is never guessed.
    """
    if _blank(raw):
        return CountryResult(None, None)
    folded = fold_text(str(raw))
    if folded in AMBIGUOUS_COUNTRIES:
        options = " or ".join(AMBIGUOUS_COUNTRIES[folded])
        reason = (
            f"ambiguous: {str(raw).strip()} ({options}). Write the ISO code of the "
            "country meant."
        )
        return CountryResult(None, reason)
    code = _COUNTRY_INDEX.get(folded)
    if code is None:
        reason = (
            f"unknown country name {str(raw).strip()!r}. Write an ISO 3166 code such "
            "as DE, or the country's English name."
        )
        return CountryResult(None, reason)
    return CountryResult(code, None)


# Names and companies

_LEGAL_SUFFIXES = frozenset(
    """ab ag aps as asa bv co company corp corporation ev gmbh inc incorporated kg kk
    llc llp lp ltd limited mbh nv ohg oy oyj plc pte pty sa sarl sas spa srl ug
    """.split()
)
_DOTS_AND_QUOTES = str.maketrans("", "", ".'’`")
_NOT_WORD = re.compile(r"[\W_]+")


def _name_part_key(raw: object) -> str | None:
    if _blank(raw):
        return None
    text = fold_text(str(raw)).translate(_DOTS_AND_QUOTES)
    return " ".join(_NOT_WORD.sub(" ", text).split()) or None


def name_key(first: object, last: object) -> str | None:
    """Return "first last" folded for matching, or None when both are blank."""
    parts = [key for key in (_name_part_key(first), _name_part_key(last)) if key]
    return " ".join(parts) or None


def company_key(raw: object) -> str | None:
    """Return the company name folded, without punctuation or trailing legal forms."""
    if _blank(raw):
        return None
    text = fold_text(str(raw)).translate(_DOTS_AND_QUOTES)
    words = _NOT_WORD.sub(" ", text).split()
    end = len(words)
    while end > 1 and words[end - 1] in _LEGAL_SUFFIXES:
        end -= 1
    return " ".join(words[:end]) or None


# Whole frames


# The chunk functions return plain tuples: pickling 100k results as named tuples
# took ~1.2 s, as plain tuples ~0.15 s.


def _email_chunk(values: Sequence[object]) -> list[tuple[str | None, ...]]:
    results = []
    for value in values:
        display, ascii_email, key, error = normalise_email(value)
        # Equal strings become one object (pickle keeps that), so the display,
        # ASCII and key columns share it: ~140 MB less at 1M leads.
        if ascii_email == display:
            ascii_email = display
        if key == display:
            key = display
        results.append((display, ascii_email, key, error))
    return results


def _reuse_inputs(
    values: list[Any], results: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Replace each result field equal to its input value by the input object."""
    return [
        tuple(value if item == value else item for item in result)
        for value, result in zip(values, results, strict=True)
    ]


def _phone_chunk(
    pairs: Sequence[tuple[object, str | None]],
) -> list[tuple[str | None, ...]]:
    return [tuple(normalise_phone(raw, region)) for raw, region in pairs]


def _map_distinct(
    jobs: dict[str, tuple[Callable[[Sequence[Any]], list[Any]], Sequence[Any]]],
) -> dict[str, list[Any]]:
    """Run each job's function over its distinct values, in two processes when large."""
    total = sum(len(values) for _, values in jobs.values())
    if total < PARALLEL_MIN_DISTINCT:
        return {name: function(values) for name, (function, values) in jobs.items()}

    for function, _ in jobs.values():
        if _CHUNK_FUNCTIONS.get(function.__name__) is not function:
            raise ValueError(
                f"{function.__name__} is not in _CHUNK_FUNCTIONS, so worker "
                "processes cannot run it. Add it there."
            )
    chunks = [
        _Chunk(name, start, function.__name__, values[start : start + CHUNK_SIZE])
        for name, (function, values) in jobs.items()
        for start in range(0, len(values), CHUNK_SIZE)
    ]
    parts: dict[str, dict[int, list[Any]]] = {name: {} for name in jobs}
    with _Workers(min(WORKERS, len(chunks))) as workers:
        for chunk, result in workers.run(chunks):
            parts[chunk.job][chunk.start] = result
    return {
        name: [item for start in sorted(found) for item in found[start]]
        for name, found in parts.items()
    }


_CHUNK_FUNCTIONS: dict[str, Callable[[Sequence[Any]], list[Any]]] = {
    "_email_chunk": _email_chunk,
    "_phone_chunk": _phone_chunk,
}


class _Chunk(NamedTuple):
    job: str
    start: int
    """Position of the chunk's first value in the job's values."""
    function: str
    """Key of :data:`_CHUNK_FUNCTIONS`."""
    values: Sequence[Any]


# The worker is a new interpreter that imports this module. A forked worker starts
# with the caller's pages, so its RSS counts the whole batch again: at 1M leads the
# process tree peaked at 5.1 GB with fork and 2.2 GB with these workers. Spawn and
# forkserver re-run the caller's main script, which breaks any script without an
# ``if __name__ == "__main__"`` guard.
_WORKER_COMMAND = "from leadshare.normalise import serve_chunks; serve_chunks()"


class _Workers:
    """Worker processes that run chunk functions, one request at a time each."""

    def __init__(self, count: int) -> None:
        package_root = str(Path(__file__).resolve().parents[1])
        path = os.environ.get("PYTHONPATH")
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, path]))
        )
        command = [sys.executable, "-c", _WORKER_COMMAND]
        self.processes = [
            subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
            )
            for _ in range(count)
        ]

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in self.processes:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def run(self, chunks: list[_Chunk]) -> Iterator[tuple[_Chunk, list[Any]]]:
        """Yield (chunk, result) pairs in the order in which the workers finish."""
        waiting = list(reversed(chunks))
        busy: dict[IO[bytes], tuple[subprocess.Popen, _Chunk]] = {}

        def send_next(process: subprocess.Popen) -> None:
            if waiting:
                busy[process.stdout] = (process, self._send(process, waiting.pop()))

        for process in self.processes:
            send_next(process)
        while busy:
            for stream in wait(list(busy)):
                process, chunk = busy.pop(stream)
                yield chunk, self._receive(process)
                send_next(process)

    @staticmethod
    def _send(process: subprocess.Popen, chunk: _Chunk) -> _Chunk:
        request = (chunk.function, chunk.values)
        try:
            pickle.dump(request, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            process.stdin.flush()
        except BrokenPipeError as exc:
            raise _worker_error(process) from exc
        return chunk

    @staticmethod
    def _receive(process: subprocess.Popen) -> list[Any]:
        try:
            return pickle.load(process.stdout)
        except EOFError as exc:
            raise _worker_error(process) from exc


def _worker_error(process: subprocess.Popen) -> RuntimeError:
    code = process.wait()
    return RuntimeError(
        f"normalise worker process {process.pid} exited with code {code} before "
        "returning its results. Its traceback is on stderr; fix that error and rerun."
    )


def serve_chunks() -> None:
    """Run chunk requests from stdin and write each result to stdout (worker loop).

    Each request is a pickled (function name, values) pair and each reply the
    pickled list of results. The loop ends when stdin closes. File descriptor 1 is
    pointed at stderr, so a stray print cannot corrupt the replies.
    """
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    while True:
        try:
            name, values = pickle.load(requests)
        except EOFError:
            return
        pickle.dump(
            _CHUNK_FUNCTIONS[name](values), replies, protocol=pickle.HIGHEST_PROTOCOL
        )
        replies.flush()


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """Return a source column as it is (objects or Arrow strings); absent is missing.

    :func:`_distinct` factorises either kind, so an Arrow column makes Python strings
    for its distinct values only.
    """
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _distinct(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Factorize ``values``; missing values get code -1 and are not in the list."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    # Iterating an Arrow array makes one pandas scalar at a time: ~2 s per million.
    return codes, np.asarray(uniques, dtype=object).tolist()


def _distinct_pairs(
    left: pd.Series, right: pd.Series
) -> tuple[np.ndarray, list[tuple[Any, Any]]]:
    """Factorize value pairs through integer codes.

    A MultiIndex took ~7 s for 1M pairs, the integer codes ~0.6 s (2 vCPUs).
    """
    left_codes, left_uniques = _distinct(left)
    right_codes, right_uniques = _distinct(right)
    left_values = [*left_uniques, None]
    right_values = [*right_uniques, None]
    width = len(right_values)
    combined = left_codes.astype(np.int64) % len(left_values) * width + (
        right_codes.astype(np.int64) % width
    )
    codes, pair_codes = pd.factorize(combined)
    pairs = [
        (left_values[code // width], right_values[code % width]) for code in pair_codes
    ]
    return codes, pairs


def _spread(codes: np.ndarray, values: list[Any], index: pd.Index) -> pd.Series:
    """Expand per-distinct results back to rows; code -1 (missing) becomes None."""
    table = np.empty(len(values) + 1, dtype=object)
    table[: len(values)] = values
    table[len(values)] = None
    return pd.Series(table[codes], index=index, dtype=object)


def _put_results(
    out: pd.DataFrame,
    prefix: str,
    codes: np.ndarray,
    results: list[tuple[Any, ...]],
    fields: Sequence[str],
) -> None:
    for position, field in enumerate(fields):
        values = [result[position] for result in results]
        out[f"{prefix}_{field}"] = _spread(codes, values, out.index)


def _apply_distinct(
    values: pd.Series, function: Callable[[object], str | None]
) -> pd.Series:
    codes, uniques = _distinct(values)
    return _spread(codes, [function(value) for value in uniques], values.index)


def _name_keys(frame: pd.DataFrame) -> pd.Series:
    first = _apply_distinct(_column(frame, "first_name"), _name_part_key)
    last = _apply_distinct(_column(frame, "last_name"), _name_part_key)
    joined = (first.fillna("") + " " + last.fillna("")).str.strip()
    return joined.where(joined != "", None)


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` with the :data:`NORMALISED_COLUMNS` added.

    Missing source columns count as empty. Rows with invalid values are kept, with
    the problem in the error columns, and the validate stage decides what to do.
    """
    # A shallow copy: the new columns are added to it, the input keeps its own.
    out = frame.copy(deep=False)
    country_codes, countries = _distinct(_column(frame, "country"))
    country_results = [tuple(normalise_country(value)) for value in countries]
    _put_results(out, "country", country_codes, country_results, ("code", "error"))

    email_codes, emails = _distinct(_column(frame, "email"))
    phone_codes, phone_pairs = _distinct_pairs(
        _column(frame, "phone"), out["country_code"]
    )
    results = _map_distinct(
        {"email": (_email_chunk, emails), "phone": (_phone_chunk, phone_pairs)}
    )
    email_results = results["email"]
    if _column(frame, "email").dtype == object:
        # The batch holds these input strings anyway; equal results can share them.
        # Strings made from an Arrow column are temporary, so there is nothing to gain.
        email_results = _reuse_inputs(emails, email_results)
    _put_results(out, "email", email_codes, email_results, EmailResult._fields)
    _put_results(out, "phone", phone_codes, results["phone"], ("e164", "ext", "error"))

    out["name_key"] = _name_keys(frame)
    out["company_key"] = _apply_distinct(_column(frame, "company"), company_key)
    # The workers' results and the factorised codes were freed just now.
    release_freed_memory()
    logger.info(
        "Normalised %d rows (%d distinct emails, %d distinct phone/country pairs)",
        len(frame),
        len(emails),
        len(phone_pairs),
    )
    return out
