"""Normalise the e-mail, phone, country, name and company fields of a whole batch.

:func:`normalise_frame` applies the per-value functions of :mod:`leadshare.fields`
to the distinct values of a batch only, and spreads large batches over two worker
processes. The per-value functions are re-exported here.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
import pandas as pd

from leadshare import arrowtext, progress
from leadshare.fields import (
    CHUNK_FUNCTIONS,
    CountryResult,
    EmailResult,
    PhoneResult,
    company_chunk,
    company_key,
    email_chunk,
    email_key,
    fold_text,
    name_key,
    name_part_chunk,
    normalise_country,
    normalise_email,
    normalise_phone,
    phone_chunk,
    unwrap_emails,
)
from leadshare.memory import release_freed_memory
from leadshare.words import counted

__all__ = [
    "NORMALISED_COLUMNS",
    "CountryResult",
    "EmailResult",
    "PhoneResult",
    "company_key",
    "email_key",
    "fold_text",
    "name_key",
    "normalise_country",
    "normalise_email",
    "normalise_frame",
    "normalise_phone",
    "start_workers_early",
]

logger = logging.getLogger(__name__)

PARALLEL_MIN_DISTINCT = 8_000
"""Below this many distinct values, one process is faster than starting workers."""

WORKERS = 2
CHUNK_SIZE = 25_000
"""Maximum number of values per request to a worker; small batches use less."""
STOP_TIMEOUT_S = 10
"""Seconds a worker gets to exit after its input closes before it is killed."""

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


# Whole frames


def _reuse_inputs(
    values: list[Any], results: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Replace each result field equal to its input value by the input object."""
    return [
        tuple(value if item == value else item for item in result)
        for value, result in zip(values, results, strict=True)
    ]


def _map_distinct(
    jobs: dict[str, tuple[Callable[[Sequence[Any]], list[Any]], Sequence[Any]]],
) -> dict[str, list[Any]]:
    """Run each job's function over its distinct values, in two processes when large."""
    total = sum(len(values) for _, values in jobs.values())
    if total < PARALLEL_MIN_DISTINCT:
        return {name: function(values) for name, (function, values) in jobs.items()}

    for function, _ in jobs.values():
        if CHUNK_FUNCTIONS.get(function.__name__) is not function:
            raise ValueError(
                f"{function.__name__} is not in CHUNK_FUNCTIONS, so worker "
                "processes cannot run it. Add it there."
            )
    # At least eight chunks per worker, so the workers finish close together.
    size = max(1, min(CHUNK_SIZE, total // (WORKERS * 8)))
    chunks = [
        _Chunk(name, start, function.__name__, values[start : start + size])
        for name, (function, values) in jobs.items()
        for start in range(0, len(values), size)
    ]
    parts: dict[str, dict[int, list[Any]]] = {name: {} for name in jobs}
    done = 0
    with _take_standby() or _Workers(min(WORKERS, len(chunks))) as workers:
        for chunk, result in workers.run(chunks):
            parts[chunk.job][chunk.start] = result
            done += len(chunk.values)
            progress.values("Normalising distinct values", done, total)
    return {
        name: [item for start in sorted(found) for item in found[start]]
        for name, found in parts.items()
    }


class _Chunk(NamedTuple):
    job: str
    start: int
    """Position of the chunk's first value in the job's values."""
    function: str
    """Key of :data:`CHUNK_FUNCTIONS`."""
    values: Sequence[Any]


# The worker is a new interpreter that imports leadshare.fields. A forked worker starts
# with the caller's pages, so its RSS counts the whole batch again: at 1M leads the
# process tree peaked at 5.1 GB with fork and 2.2 GB with these workers. Spawn and
# forkserver re-run the caller's main script, which breaks any script without an
# ``if __name__ == "__main__"`` guard.
_WORKER_COMMAND = "from leadshare.fields import serve_chunks; serve_chunks()"


class _Workers:
    """Worker processes that run chunk functions, one request at a time each."""

    def __init__(self, count: int) -> None:
        package_root = str(Path(__file__).resolve().parents[1])
        path = os.environ.get("PYTHONPATH")
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, path]))
        )
        command = [sys.executable, "-c", _WORKER_COMMAND]
        # In a process group of their own, the workers do not get a terminal's
        # Ctrl-C, which would print a KeyboardInterrupt traceback from each. The
        # caller stops them, and a worker exits when its stdin closes.
        self.processes = [
            subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                process_group=0,
            )
            for _ in range(count)
        ]

    def __enter__(self) -> _Workers:
        return self

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    def __exit__(self, *exc_info: object) -> None:
        for process in self.processes:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        # A worker's stdout reads as ended when it exits. Waiting on the pipes wakes
        # at once, where Popen.wait(timeout) polls with sleeps (up to 70 ms here).
        pending = [process.stdout for process in self.processes]
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while pending and (left := deadline - time.monotonic()) > 0:
            ended = wait(pending, timeout=left)
            pending = [stream for stream in pending if stream not in ended]
        for process in self.processes:
            # A worker whose pipe ended is exiting, and a wait without a timeout
            # blocks in waitpid until it has. A worker still running is killed.
            if process.stdout in pending:
                process.kill()
            process.wait()
            process.stdout.close()

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


_standby: _Workers | None = None
_standby_lock = threading.Lock()


def start_workers_early() -> None:
    """Start the worker processes now, for the next large batch to use.

    The pipeline calls this when it claims or reads a large file, so the workers
    import the field libraries before the normalisation stage instead of inside
    it (about 0.3 s of a 10k-lead batch on 2 cores). Workers that
    no batch uses wait for the next one and stop when this process exits.
    """
    global _standby
    with _standby_lock:
        if _standby is None or not _standby.alive():
            _standby = _Workers(WORKERS)


def _take_standby() -> _Workers | None:
    global _standby
    with _standby_lock:
        workers, _standby = _standby, None
    if workers is not None and not workers.alive():
        workers.__exit__(None, None, None)
        return None
    return workers


@atexit.register
def _stop_standby() -> None:
    workers = _take_standby()
    if workers is not None:
        workers.__exit__(None, None, None)


def _worker_error(process: subprocess.Popen) -> RuntimeError:
    code = process.wait()
    return RuntimeError(
        f"normalise worker process {process.pid} exited with code {code} before "
        "returning its results. Its traceback is on stderr; fix that error and rerun."
    )


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


def _sent_emails(emails: list[Any], results: list[tuple[Any, ...]]) -> list[Any]:
    """Return the address to store and send for each distinct source e-mail.

    A valid address becomes the one email-validator returns: the domain
    lower-cased and the local part as written, which RFC 5321 allows. So the
    store, explain and every channel get the same spelling, not the source's
    "Name <addr>", "mailto:" or upper-case domain. An invalid address keeps its
    unwrapped source text, which quarantine and the opt-out checks read.
    """
    return [
        value if display is None else display
        for value, (display, *_) in zip(emails, results, strict=True)
    ]


def _changed_cells(
    column: pd.Series, codes: np.ndarray, source: list[Any], results: list[Any]
) -> pd.Series:
    """Return ``column`` with each distinct ``source`` value replaced by its result.

    Only the rows whose value changes are written, and an Arrow column stays in
    Arrow. Most addresses are sent as written, and an object column of results
    would hold one Python string per row (about 70 bytes, Arrow about 25).
    """
    changed = np.flatnonzero(
        [before != after for before, after in zip(source, results, strict=True)]
    )
    if len(changed) == 0:
        return column
    rows = np.isin(codes, changed)
    table = np.empty(len(results), dtype=object)
    table[:] = results
    return arrowtext.replace_rows(column, rows, table[codes[rows]])


def _name_keys(first: pd.Series, last: pd.Series) -> pd.Series:
    """Join the first and last name keys; None when both are missing."""
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

    email_codes, source_emails = _distinct(_column(frame, "email"))
    emails, _ = unwrap_emails(source_emails)
    phone_codes, phone_pairs = _distinct_pairs(
        _column(frame, "phone"), out["country_code"]
    )
    first_codes, firsts = _distinct(_column(frame, "first_name"))
    last_codes, lasts = _distinct(_column(frame, "last_name"))
    company_codes, companies = _distinct(_column(frame, "company"))
    results = _map_distinct(
        {
            "email": (email_chunk, emails),
            "phone": (phone_chunk, phone_pairs),
            "first": (name_part_chunk, firsts),
            "last": (name_part_chunk, lasts),
            "company": (company_chunk, companies),
        }
    )
    email_results = results["email"]
    if _column(frame, "email").dtype == object:
        # The frame already references these input strings; equal results share them.
        # Strings made from an Arrow column are temporary, so there is nothing to gain.
        email_results = _reuse_inputs(emails, email_results)
    _put_results(out, "email", email_codes, email_results, EmailResult._fields)
    if "email" in frame.columns:
        sent = _sent_emails(emails, email_results)
        out["email"] = _changed_cells(frame["email"], email_codes, source_emails, sent)
    _put_results(out, "phone", phone_codes, results["phone"], ("e164", "ext", "error"))

    out["name_key"] = _name_keys(
        _spread(first_codes, results["first"], out.index),
        _spread(last_codes, results["last"], out.index),
    )
    out["company_key"] = _spread(company_codes, results["company"], out.index)
    # The workers' results and the factorised codes were freed just now.
    release_freed_memory()
    logger.info(
        "Normalised %s (%s, %s)",
        counted(len(frame), "row"),
        counted(len(emails), "distinct email"),
        counted(len(phone_pairs), "distinct phone/country pair"),
    )
    return out
