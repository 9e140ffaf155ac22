"""Find duplicate leads: exact keys first, then fuzzy name and company matches.

:func:`link_records` is a general record-linkage core: blocking passes propose
candidate pairs, and a weighted mean of per-field similarities (computed with
rapidfuzz on whole arrays) scores them. :func:`find_duplicates` applies exact keys
and that core to a batch and the leads already stored, and resolves the matches
into clusters whose earliest record is kept.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import process
from rapidfuzz.distance import Indel, JaroWinkler, Levenshtein

from leadshare import arrowtext
from leadshare.model import ROW_COLUMN
from leadshare.words import counted

logger = logging.getLogger(__name__)

Scorer = Literal["jaro_winkler", "levenshtein", "token_sort", "exact"]
KeyFunction = Callable[[pd.DataFrame], pd.Series]
BlockKey = str | KeyFunction | Sequence[str | KeyFunction]
"""A column, a key function, or several of them that must all be equal."""

MAX_BLOCK_SIZE = 1_000
"""Blocks with more records than this are skipped: they would add n² / 2 pairs."""

_SCORERS = {
    "jaro_winkler": JaroWinkler.normalized_similarity,
    "levenshtein": Levenshtein.normalized_similarity,
    "token_sort": Indel.normalized_similarity,
}


@dataclass(frozen=True)
class Field:
    """One compared column and its weight in the record score.

    ``scorer`` is a normalised rapidfuzz similarity: Jaro-Winkler, Levenshtein,
    "token_sort" (Indel similarity of the words in sorted order), or "exact".
    """

    column: str
    weight: float = 1.0
    scorer: Scorer = "jaro_winkler"


# Blocking keys


@dataclass(frozen=True)
class ValueKey:
    """A blocking key derived from one column, computed once per distinct value."""

    column: str
    function: Callable[[str], str]
    name: str

    def __call__(self, frame: pd.DataFrame) -> pd.Series:
        return by_distinct(frame[self.column], self.function)


def prefix(column: str, length: int) -> ValueKey:
    """Block on the first ``length`` characters of ``column``."""
    return ValueKey(column, lambda value: value[:length], f"prefix({column},{length})")


_SOUNDEX_CODES = str.maketrans(
    "abcdefghijklmnopqrstuvwxyz", "01230120022455012623010202"
)


def soundex(value: str) -> str:
    """Return the American Soundex code of ``value`` ("" when it has no letters)."""
    letters = [char for char in value.lower() if "a" <= char <= "z"]
    if not letters:
        return ""
    digits = "".join(letters).translate(_SOUNDEX_CODES)
    code = [letters[0].upper()]
    previous = digits[0]
    for letter, digit in zip(letters[1:], digits[1:], strict=True):
        if digit != "0" and digit != previous:
            code.append(digit)
        if letter not in "hw":
            previous = digit
    return "".join(code)[:4].ljust(4, "0")


# Many distinct full names share a first or last word, so codes are cached per word.
_cached_soundex = functools.lru_cache(maxsize=200_000)(soundex)


def soundex_of(column: str, word: int = 0) -> ValueKey:
    """Block on the Soundex code of one word of ``column`` (word -1 is the last)."""

    def code_of_word(value: str) -> str:
        words = value.split()
        return _cached_soundex(words[word]) if words else ""

    return ValueKey(column, code_of_word, f"soundex({column},{word})")


def by_distinct(values: pd.Series, function: Callable[[str], str]) -> pd.Series:
    """Apply ``function`` once per distinct stripped text; missing values become ""."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    results = [function(str(value).strip()) for value in _python_values(uniques)]
    table = np.array([*results, ""], dtype=object)
    return pd.Series(table[codes], index=values.index)


def _python_values(uniques: Any) -> list[Any]:
    """Return factorized uniques as Python objects in one conversion.

    Iterating an Arrow-backed array makes one pandas scalar per value, about
    0.6 s for the million uniques of a 1M-lead batch.
    """
    return np.asarray(uniques, dtype=object).tolist()


def _text(values: pd.Series) -> pd.Series:
    """Return ``values`` as stripped strings with "" for missing."""
    return by_distinct(values, lambda value: value)


Factorized = dict[str, tuple[np.ndarray, np.ndarray]]
"""Cache of ``pd.factorize`` results by column name, shared by the blocking passes."""


def _factorize(frame: pd.DataFrame, column: str, cache: Factorized) -> tuple:
    if column not in cache:
        cache[column] = pd.factorize(frame[column], use_na_sentinel=True)
    return cache[column]


def _part_codes(
    frame: pd.DataFrame, part: str | KeyFunction, cache: Factorized
) -> np.ndarray:
    """Return an integer code per row for one key part, -1 where it is empty."""
    if isinstance(part, ValueKey):
        codes, uniques = _factorize(frame, part.column, cache)
        function = part.function
    elif callable(part):
        codes, uniques = pd.factorize(part(frame), use_na_sentinel=True)
        function = str
    else:
        codes, uniques = _factorize(frame, part, cache)
        function = str
    keys = [function(str(value).strip()) for value in _python_values(uniques)]
    key_codes, _ = pd.factorize(pd.Series(keys, dtype=object).replace("", None))
    table = np.append(key_codes, -1).astype(np.int64)
    return table[codes]


def _block_codes(frame: pd.DataFrame, block: BlockKey, cache: Factorized) -> np.ndarray:
    """Return an integer block code per row, -1 where any key part is empty."""
    parts = [block] if callable(block) or isinstance(block, str) else list(block)
    codes = _part_codes(frame, parts[0], cache)
    for part in parts[1:]:
        other = _part_codes(frame, part, cache)
        present = (codes >= 0) & (other >= 0)
        combined = codes * (int(other.max(initial=-1)) + 1) + other
        codes = np.full(len(frame), -1, dtype=np.int64)
        codes[present] = pd.factorize(combined[present])[0]
    return codes


def _block_name(block: BlockKey) -> str:
    parts = [block] if callable(block) or isinstance(block, str) else list(block)
    names = [getattr(part, "name", getattr(part, "__name__", part)) for part in parts]
    return "+".join(str(name) for name in names)


# Candidate pairs

PAIR_CHUNK_SIZE = 2_000_000
"""Candidate pairs scored at once outside matrix blocks; bounds a pass's memory."""

MATRIX_MIN_BLOCK_SIZE = 16
"""Blocks with at least this many records are scored as one similarity matrix.

rapidfuzz's ``cdist`` converts each string once per block, while ``cpdist``
converts both strings of every pair. So large blocks are cheaper as a matrix, even
though the matrix contains each pair twice.
"""


@dataclass(frozen=True)
class SkippedBlocks:
    """Blocks of one blocking pass that were too large to compare."""

    blocking_pass: str
    blocks: int
    """Blocks over the size limit that contain a row to be checked."""
    rows: int
    """Rows to be checked in those blocks, not compared in this pass."""
    largest: int
    """Records in the largest of those blocks."""


def _usable_block_codes(
    frame: pd.DataFrame,
    block: BlockKey,
    max_block_size: int,
    cache: Factorized,
    focus: np.ndarray,
    skipped: list[SkippedBlocks] | None = None,
) -> np.ndarray:
    """Return block codes, -1 for rows alone in their block or in an oversized one.

    An oversized block that contains a row of ``focus`` is logged and, when given,
    added to ``skipped``. Other oversized blocks contain only records checked before.
    """
    codes = _block_codes(frame, block, cache)
    keyed = codes >= 0
    sizes = np.bincount(codes[keyed]) if keyed.any() else np.zeros(0, np.int64)
    row_sizes = sizes[codes[keyed]]
    oversized = np.zeros(len(codes), dtype=bool)
    oversized[keyed] = row_sizes > max_block_size
    missed = oversized & focus
    if missed.any():
        # NOTE: pairs only found inside an oversized block are missed. The run
        # summary warns with these counts; a narrower blocking pass would help.
        found = SkippedBlocks(
            blocking_pass=_block_name(block),
            blocks=len(np.unique(codes[missed])),
            rows=int(missed.sum()),
            largest=int(sizes[np.unique(codes[missed])].max()),
        )
        logger.warning(
            "Skipped %s over %d records in blocking pass %s: %s in them not compared",
            counted(found.blocks, "block"),
            max_block_size,
            found.blocking_pass,
            counted(found.rows, "row"),
        )
        if skipped is not None:
            skipped.append(found)
    usable = np.zeros(len(codes), dtype=bool)
    usable[keyed] = (row_sizes >= 2) & (row_sizes <= max_block_size)
    return np.where(usable, codes, -1)


def _blocks(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group the keyed positions by block code.

    Returns ``members`` (positions block after block, ascending within a block) and
    ``ends``: block i is ``members[ends[i - 1]:ends[i]]``.
    """
    keyed = np.flatnonzero(codes >= 0)
    members = keyed[np.argsort(codes[keyed], kind="stable")]
    if not len(members):
        return members, np.zeros(0, dtype=np.int64)
    sorted_codes = codes[members]
    changes = np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1
    return members, np.append(changes, len(members))


def _pair_chunks(
    members: np.ndarray, ends: np.ndarray, chunk_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield each pair of positions that share a block once, as (low, high) arrays."""
    sizes = np.diff(ends, prepend=0)
    later = np.repeat(ends, sizes) - np.arange(len(members)) - 1
    cumulative = np.cumsum(later)
    first = 0
    while first < len(members):
        before = cumulative[first] - later[first]
        last = int(np.searchsorted(cumulative, before + chunk_size, side="right"))
        last = max(last, first + 1)
        counts = later[first:last]
        left = np.repeat(np.arange(first, last), counts)
        starts = np.repeat(cumulative[first:last] - counts - before, counts)
        right = left + np.arange(len(left)) - starts + 1
        yield members[left], members[right]
        first = last


# Scoring

THREADED_MATRIX_SIZE = 250_000
"""Similarity matrices with fewer cells are computed on one thread.

Starting rapidfuzz's worker threads for each small block costs more than they
save: on 2 cores with rapidfuzz 3.14, 2,000 blocks of 16 to 187 names took 0.55 s
on one thread and 1.1 s with threads.
"""


@dataclass(frozen=True)
class _Prepared:
    """Compared columns as codes into one table of distinct prepared strings.

    Equal codes mean equal strings in any two columns, so equal values score 1.0
    without a rapidfuzz call. Code -1 is an empty value.
    """

    codes: dict[str, np.ndarray]
    values: np.ndarray
    """Distinct strings, with "" appended so that code -1 indexes an empty string."""
    fields: tuple[Field, ...]
    swaps: tuple[tuple[str, str], ...]


def _sorted_tokens(value: str) -> str:
    return " ".join(sorted(value.split()))


def _prepare(
    frame: pd.DataFrame,
    fields: Sequence[Field],
    swaps: Sequence[tuple[str, str]],
    cache: Factorized,
) -> _Prepared:
    """Strip each compared column (and sort the words of "token_sort" ones)."""
    scorers = {field.column: field.scorer for field in fields}
    row_codes, texts = {}, []
    for column, scorer in scorers.items():
        codes, uniques = _factorize(frame, column, cache)
        function = _sorted_tokens if scorer == "token_sort" else str
        prepared = [
            function(str(value).strip()) or None for value in _python_values(uniques)
        ]
        row_codes[column] = (codes, len(texts), len(prepared))
        texts.extend(prepared)
    shared, values = pd.factorize(np.array(texts, dtype=object), use_na_sentinel=True)
    columns = {}
    for column, (codes, offset, count) in row_codes.items():
        table = np.append(shared[offset : offset + count], -1).astype(np.int64)
        columns[column] = table[codes]
    values = np.append(values.astype(object), "")
    return _Prepared(columns, values, tuple(fields), tuple(swaps))


def _pair_similarity(
    prepared: _Prepared,
    columns: tuple[str, str],
    scorer: Scorer,
    left: np.ndarray,
    right: np.ndarray,
) -> np.ndarray:
    """Similarity in [0, 1] of aligned pairs; NaN where either side is empty."""
    a = prepared.codes[columns[0]][left]
    b = prepared.codes[columns[1]][right]
    present = (a >= 0) & (b >= 0)
    scores = (a == b).astype(np.float64)
    compare = present & (a != b)
    if scorer != "exact" and compare.any():
        scores[compare] = process.cpdist(
            prepared.values[a[compare]],
            prepared.values[b[compare]],
            scorer=_SCORERS[scorer],
            workers=-1,
            dtype=np.float64,
        )
    return np.where(present, scores, np.nan)


def _matrix_similarity(
    prepared: _Prepared,
    columns: tuple[str, str],
    scorer: Scorer,
    queries: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """Similarity of every query with every row, flattened row-major; NaN if empty."""
    a = prepared.codes[columns[0]][queries]
    b = prepared.codes[columns[1]][rows]
    if scorer == "exact":
        scores = (a[:, None] == b[None, :]).astype(np.float64)
    else:
        scores = process.cdist(
            prepared.values[a],
            prepared.values[b],
            scorer=_SCORERS[scorer],
            workers=-1 if len(a) * len(b) >= THREADED_MATRIX_SIZE else 1,
            dtype=np.float64,
        )
    present = (a >= 0)[:, None] & (b >= 0)[None, :]
    return np.where(present, scores, np.nan).ravel()


def _mean_present(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Element-wise mean that ignores NaN, without numpy's empty-slice warning."""
    both = (first + second) / 2
    return np.where(np.isnan(first), second, np.where(np.isnan(second), first, both))


SimilarityFunction = Callable[[tuple[str, str], Scorer], np.ndarray]


def _weighted_scores(
    prepared: _Prepared, similarity: SimilarityFunction, size: int
) -> np.ndarray:
    """Combine field similarities into the weighted mean; see :func:`score_pairs`."""
    scorers = {field.column: field.scorer for field in prepared.fields}
    sims = {name: similarity((name, name), scorer) for name, scorer in scorers.items()}
    for first, second in prepared.swaps:
        crossed_first = similarity((first, second), scorers[first])
        crossed_second = similarity((second, first), scorers[second])
        straight = _mean_present(sims[first], sims[second])
        crossed = _mean_present(crossed_first, crossed_second)
        better = crossed > straight
        sims[first] = np.where(better, crossed_first, sims[first])
        sims[second] = np.where(better, crossed_second, sims[second])

    total = np.zeros(size)
    weights = np.zeros(size)
    for field in prepared.fields:
        similarity_values = sims[field.column]
        present = ~np.isnan(similarity_values)
        total += np.where(present, field.weight * similarity_values, 0.0)
        weights += np.where(present, field.weight, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weights > 0, total / weights, np.nan)


def _pair_scores(
    prepared: _Prepared, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    def similarity(columns: tuple[str, str], scorer: Scorer) -> np.ndarray:
        return _pair_similarity(prepared, columns, scorer, left, right)

    return _weighted_scores(prepared, similarity, len(left))


def score_pairs(
    frame: pd.DataFrame,
    fields: Sequence[Field],
    left: np.ndarray,
    right: np.ndarray,
    swaps: Sequence[tuple[str, str]] = (),
) -> np.ndarray:
    """Score record pairs (given as positions) by the weighted mean field similarity.

    Fields empty on either side are left out of the mean. For each ``(a, b)`` in
    ``swaps``, the pair also compares a with b crosswise and keeps the better
    alignment, which catches given name and surname typed in each other's column.
    """
    return _pair_scores(_prepare(frame, fields, swaps, {}), left, right)


# Matches per blocking pass

Matches = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Positions ``low`` < ``high`` of matched pairs and their scores."""


def _matrix_matches(
    prepared: _Prepared, rows: np.ndarray, focus: np.ndarray, threshold: float
) -> tuple[Matches, int]:
    """Score one block as a matrix of its focus rows against all its rows."""
    queries = rows[focus[rows]]
    if not len(queries):
        return _no_matches(), 0

    def similarity(columns: tuple[str, str], scorer: Scorer) -> np.ndarray:
        return _matrix_similarity(prepared, columns, scorer, queries, rows)

    scores = _weighted_scores(prepared, similarity, len(queries) * len(rows))
    hits = np.flatnonzero(scores >= threshold)
    a, b = queries[hits // len(rows)], rows[hits % len(rows)]
    # A pair of two focus rows appears twice in the matrix; keep it once.
    keep = (a != b) & (~focus[b] | (a < b))
    low, high = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    return (low, high, scores[hits][keep]), len(queries) * (len(rows) - 1)


def _no_matches() -> Matches:
    empty = np.zeros(0, dtype=np.int64)
    return empty, empty, np.zeros(0)


def _pass_matches(
    prepared: _Prepared,
    codes: np.ndarray,
    focus: np.ndarray,
    groups: np.ndarray | None,
    threshold: float,
) -> tuple[list[Matches], int]:
    """Find the pairs of one blocking pass that score at least ``threshold``.

    Large blocks are scored as matrices, the others as lists of pairs.
    Returns the matches and the number of pairs compared.
    """
    members, ends = _blocks(codes)
    sizes = np.diff(ends, prepend=0)
    large = sizes >= MATRIX_MIN_BLOCK_SIZE
    found, compared = [], 0
    for start, end in zip(ends[large] - sizes[large], ends[large], strict=True):
        matches, count = _matrix_matches(prepared, members[start:end], focus, threshold)
        found.append(matches)
        compared += count

    small = np.repeat(~large, sizes)
    small_ends = np.cumsum(sizes[~large])
    for low, high in _pair_chunks(members[small], small_ends, PAIR_CHUNK_SIZE):
        keep = focus[low] | focus[high]
        if groups is not None:
            keep &= groups[low] != groups[high]
        low, high = low[keep], high[keep]
        scores = _pair_scores(prepared, low, high)
        matched = scores >= threshold
        found.append((low[matched], high[matched], scores[matched]))
        compared += len(low)
    return found, compared


def link_records(
    df: pd.DataFrame,
    fields: Sequence[Field],
    blocks: Sequence[BlockKey],
    threshold: float,
    *,
    swaps: Sequence[tuple[str, str]] = (),
    groups: str | None = None,
    focus: Sequence[bool] | np.ndarray | None = None,
    max_block_size: int = MAX_BLOCK_SIZE,
    skipped: list[SkippedBlocks] | None = None,
) -> pd.DataFrame:
    """Find record pairs whose score is at least ``threshold``.

    Each blocking pass in ``blocks`` proposes the pairs that share its key, and each
    proposed pair is scored as in :func:`score_pairs`. ``groups`` names a column:
    pairs within one group are skipped (linking two files). ``focus`` marks the rows
    every pair must include (a new batch against stored records). Blocks over
    ``max_block_size`` records are not compared; those with a ``focus`` row are
    added to ``skipped`` when it is given.

    Returns a frame with ``left`` and ``right`` (index labels of ``df``, left before
    right in ``df`` order) and ``score``, sorted by left and right.
    """
    focus_mask = np.ones(len(df), bool) if focus is None else np.asarray(focus, bool)
    group_values = None if groups is None else df[groups].to_numpy()
    cache: Factorized = {}
    prepared = _prepare(df, fields, swaps, cache)
    found, compared = [_no_matches()], 0
    for block in blocks:
        codes = _usable_block_codes(
            df, block, max_block_size, cache, focus_mask, skipped
        )
        matches, count = _pass_matches(
            prepared, codes, focus_mask, group_values, threshold
        )
        found += matches
        compared += count
    low, high, scores = (np.concatenate(parts) for parts in zip(*found, strict=True))
    if group_values is not None:
        across = group_values[low] != group_values[high]
        low, high, scores = low[across], high[across], scores[across]
    # Passes can propose the same pair; np.unique also sorts by low, then high.
    _, first = np.unique(low * len(df) + high, return_index=True)
    logger.info(
        "Compared %s of %s; %d at or above %.2f",
        counted(compared, "record pair"),
        counted(len(df), "record"),
        len(first),
        threshold,
    )
    labels = df.index.to_numpy()
    return pd.DataFrame(
        {
            "left": labels[low[first]],
            "right": labels[high[first]],
            "score": scores[first],
        }
    )


def cluster_labels(size: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Label each position with the lowest position in its connected component.

    ``left`` and ``right`` are the edges. With records ordered oldest first, the
    label is the earliest record of the cluster: the one to keep.
    """
    labels = np.arange(size)
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    while True:
        previous = labels.copy()
        low = np.minimum(labels[left], labels[right])
        np.minimum.at(labels, left, low)
        np.minimum.at(labels, right, low)
        labels = labels[labels]
        if np.array_equal(labels, previous):
            return labels


# Lead duplicates

LEAD_FUZZY_FIELDS = (
    Field("name_key", 0.6, "token_sort"),
    Field("company_key", 0.4, "token_sort"),
)
LEAD_FUZZY_BLOCKS: tuple[BlockKey, ...] = (
    ("company_key", prefix("name_key", 1)),
    (soundex_of("name_key", -1), soundex_of("name_key", 0), prefix("company_key", 1)),
)
FUZZY_THRESHOLD = 0.9
"""Lowest fuzzy name+company score that counts as the same lead.

"jo doe" and "jay doe" at the same company score 0.86, and stay apart.
"""

_EXACT_RULES = (
    ("email_key", "same email key"),
    ("phone_e164", "same phone"),
    ("_external_key", "same source and external id"),
)


_KEY_COLUMNS = ("email_key", "phone_e164", "name_key", "company_key")


def _records(
    batch: pd.DataFrame, history: pd.DataFrame | None, source: str | None
) -> tuple[pd.DataFrame, int]:
    """Stack stored leads (oldest first) above the open batch rows.

    Returns the records and the number of stored leads. Records carry ``_label``:
    the lead id for stored leads, the batch row number for batch rows.
    """
    # Only the key columns are copied: a batch can have a million rows of 40 columns.
    used = [name for name in (*_KEY_COLUMNS, "external_id") if name in batch.columns]
    if "outcome" in batch.columns:
        # Each column is copied once, already filtered. Selecting the columns and
        # then the rows copied every column twice.
        open_mask = batch["outcome"].isna().to_numpy()
        open_rows = pd.DataFrame(
            {name: batch[name][open_mask] for name in (*used, ROW_COLUMN)}, copy=False
        )
    else:
        open_rows = batch[[*used, ROW_COLUMN]]
    new = _key_arrays(open_rows, source or "")
    rows = open_rows[ROW_COLUMN].to_numpy().astype(np.int64)
    new["_label"] = rows.astype(object)
    if history is None or history.empty:
        return pd.DataFrame(new), 0

    stored = history
    if "created_at" in history.columns:
        stored = history.sort_values("created_at", kind="stable")
    old = _key_arrays(stored, None)
    old["_label"] = stored["lead_id"].astype(str).to_numpy(dtype=object)
    records = {name: np.concatenate([old[name], new[name]]) for name in new}
    return pd.DataFrame(records), len(stored)


def _key_arrays(frame: pd.DataFrame, source: str | None) -> dict[str, np.ndarray]:
    """Return the key columns as object arrays with None for missing values.

    ``source`` is the batch's source name; None means "read the ``source`` column",
    and external ids of rows without a source are not matched.
    """
    keys = {name: _optional_column(frame, name) for name in _KEY_COLUMNS}
    if source is not None and arrowtext.is_arrow_text(frame.get("external_id")):
        keys["_external_key"] = _arrow_external_keys(frame["external_id"], source)
        return keys
    external = _optional_column(frame, "external_id")
    sources = (
        np.full(len(frame), source, dtype=object)
        if source is not None
        else _optional_column(frame, "source")
    )
    external_keys = np.full(len(frame), None, dtype=object)
    present = pd.notna(sources) & pd.notna(external)
    if present.any():
        external_keys[present] = sources[present] + "\x1f" + external[present]
    keys["_external_key"] = external_keys
    return keys


_VISIBLE_ASCII_ENDS = r"(?s)^[!-~](.*[!-~])?$"
"""A value that matches starts and ends with a visible ASCII character, so
``str.strip()`` returns it unchanged."""


def _arrow_external_keys(column: pd.Series, source: str) -> np.ndarray:
    """Return ``source + "\x1f" + external id`` per row of an Arrow-backed column.

    Gives the same keys as the object path of :func:`_key_arrays`: the id is
    stripped as ``str.strip()`` strips it, and a missing or blank id gives None.
    Arrow builds the keys, so only the ids that may need stripping become Python
    strings first. On the benchmark's 1M-lead file (2 cores) this took 0.15 s,
    and the path through ``by_distinct`` 1.4 s.
    """
    values = pa.array(column.array)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    plain = pc.match_substring_regex(values, _VISIBLE_ASCII_ENDS).fill_null(True)
    others = ~plain.to_numpy(zero_copy_only=False)
    if others.any():
        stripped = [
            value.strip()
            for value in values.filter(pa.array(others)).to_pylist()
        ]
        values = pc.replace_with_mask(
            values, pa.array(others), pa.array(stripped, type=values.type)
        )
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)
    keys = pc.binary_join_element_wise(
        pa.scalar(source, values.type), values, pa.scalar("\x1f", values.type)
    )
    return keys.to_numpy(zero_copy_only=False)


def _optional_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Return a column as an object array with None for missing or blank values.

    Only ``external_id`` is stripped: the other keys come stripped from normalisation.
    """
    if name not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    if name == "external_id":
        values = _text(frame[name]).to_numpy(dtype=object)
    else:
        values = frame[name].astype(object).to_numpy(copy=True)
        values[pd.isna(values)] = None
    values[values == ""] = None
    return values


def _exact_edges(records: pd.DataFrame, stored: int) -> list[pd.DataFrame]:
    """Link each record to the first record with the same key, for keys in the batch."""
    edges = []
    for rank, (column, rule) in enumerate(_EXACT_RULES):
        # factorize numbers the keys in order of first appearance, so a code's
        # first position is where the running maximum of the codes first reaches it.
        codes, uniques = pd.factorize(records[column], use_na_sentinel=True)
        previous_max = np.maximum.accumulate(np.append(-1, codes[:-1]))
        first_of_code = np.flatnonzero(codes > previous_max)
        batch_codes = codes[stored:]
        # One extra False entry, so that code -1 (no key) indexes it.
        in_batch = np.zeros(len(uniques) + 1, dtype=bool)
        in_batch[batch_codes[batch_codes >= 0]] = True
        positions = np.flatnonzero(in_batch[codes])
        first = first_of_code[codes[positions]]
        linked = positions != first
        edges.append(
            pd.DataFrame(
                {
                    "a": first[linked],
                    "b": positions[linked],
                    "rank": rank,
                    "rule": rule,
                    "score": 1.0,
                }
            )
        )
    return edges


def _fuzzy_edges(
    records: pd.DataFrame,
    stored: int,
    threshold: float,
    max_block_size: int,
    skipped: list[SkippedBlocks] | None,
) -> pd.DataFrame:
    keys = records[["name_key", "company_key"]]
    subset = keys[keys["name_key"].notna() & keys["company_key"].notna()]
    focus = subset.index.to_numpy() >= stored
    pairs = link_records(
        subset,
        LEAD_FUZZY_FIELDS,
        LEAD_FUZZY_BLOCKS,
        threshold,
        focus=focus,
        max_block_size=max_block_size,
        skipped=skipped,
    )
    pairs = pairs[_same_numbers(subset["company_key"], pairs)]
    pairs = pairs[~_different_contacts(records, pairs)]
    return pd.DataFrame(
        {
            "a": pairs["left"].to_numpy(dtype=np.int64),
            "b": pairs["right"].to_numpy(dtype=np.int64),
            "rank": len(_EXACT_RULES),
            "rule": [f"fuzzy name+company {score:.2f}" for score in pairs["score"]],
            "score": pairs["score"].to_numpy(),
        }
    )


def _same_numbers(companies: pd.Series, pairs: pd.DataFrame) -> np.ndarray:
    """Return a mask of the pairs whose company names contain the same numbers.

    "firm 1 gmbh" and "firm 3 gmbh" score above the threshold as text, but a number
    in a company name distinguishes companies, so such a pair is not a duplicate.
    """
    numbers = by_distinct(companies, lambda value: " ".join(_DIGITS.findall(value)))
    # The pairs name records by index label.
    left = numbers.loc[pairs["left"]].to_numpy(dtype=object)
    right = numbers.loc[pairs["right"]].to_numpy(dtype=object)
    return left == right


_DIGITS = re.compile(r"\d+")


def _different_contacts(records: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """Mark the pairs that differ in an e-mail key or a phone that both records have,
    unless their name and company keys are the same.

    Similar names at similar companies ("jan schmidt" and "jana schmidt" at one
    firm, or one name at "bauer gmbh" and "bayer gmbh") with different addresses
    are often two people, and a fuzzy match would keep one of them from ever being
    shared. The same name at the same company with a second address is taken as
    one person who signed up twice.
    """
    left = pairs["left"].to_numpy(dtype=np.int64)
    right = pairs["right"].to_numpy(dtype=np.int64)
    different = np.zeros(len(pairs), dtype=bool)
    for column in ("email_key", "phone_e164"):
        values = records[column].to_numpy(dtype=object)
        a, b = values[left], values[right]
        different |= pd.notna(a) & pd.notna(b) & (a != b)
    same_person = np.ones(len(pairs), dtype=bool)
    for column in ("name_key", "company_key"):
        values = records[column].to_numpy(dtype=object)
        same_person &= values[left] == values[right]
    return different & ~same_person


def find_duplicates(
    batch: pd.DataFrame,
    history: pd.DataFrame | None = None,
    *,
    source: str | None = None,
    fuzzy_threshold: float = FUZZY_THRESHOLD,
    max_block_size: int = MAX_BLOCK_SIZE,
    timings: dict[str, float] | None = None,
    skipped: list[SkippedBlocks] | None = None,
) -> pd.DataFrame:
    """Find the open batch rows that repeat a stored lead or an earlier batch row.

    ``batch`` needs ``_row`` and the key columns from normalisation (``email_key``,
    ``phone_e164``, ``name_key``, ``company_key``; ``external_id`` is optional).
    ``history`` has ``lead_id`` and the same keys. Its optional ``source`` column is
    needed to match external ids, and its optional ``created_at`` orders the stored
    leads. Without it, the frame's order is taken as oldest first. ``source`` is the
    batch's source name.

    Matches are resolved transitively into clusters, and the earliest record of each
    cluster is kept: a stored lead before any batch row, then the lowest row.
    Returns one row per duplicate batch row: ``_row``, ``duplicate_of`` (lead id, or
    batch row number), ``in_history``, ``rule`` (why) and ``score`` (1.0 if exact).
    When ``timings`` is given, the seconds spent on fuzzy matching are added to its
    ``"fuzzy"`` entry (for the benchmark, which compares that part with splink).
    Fuzzy blocks too large to compare that contain batch rows go to ``skipped``.
    """
    records, stored = _records(batch, history, source)
    exact = _exact_edges(records, stored)
    started = time.perf_counter()
    fuzzy = _fuzzy_edges(records, stored, fuzzy_threshold, max_block_size, skipped)
    if timings is not None:
        timings["fuzzy"] = timings.get("fuzzy", 0.0) + time.perf_counter() - started
    edges = pd.concat([*exact, fuzzy], ignore_index=True)
    labels = cluster_labels(len(records), edges["a"], edges["b"])
    positions = np.arange(len(records))
    duplicates = positions[(positions >= stored) & (labels != positions)]
    names = records["_label"].to_numpy()
    explained = _explain(edges, labels, duplicates, names, stored)
    keepers = labels[duplicates]
    result = pd.DataFrame(
        {
            ROW_COLUMN: names[duplicates],
            "duplicate_of": names[keepers],
            "in_history": keepers < stored,
            "rule": explained["rule"].to_numpy(),
            "score": explained["score"].to_numpy(),
        }
    )
    logger.info(
        "Found %s among %s (%d of stored leads)",
        counted(len(result), "duplicate"),
        counted(len(records) - stored, "open batch row"),
        int(result["in_history"].sum()),
    )
    return result


def _explain(
    edges: pd.DataFrame,
    labels: np.ndarray,
    duplicates: np.ndarray,
    names: np.ndarray,
    stored: int,
) -> pd.DataFrame:
    """Pick, per duplicate, the edge that best explains its match.

    An edge to the kept record wins, then exact keys before fuzzy, then the higher
    score. An edge to another member of the cluster is named in the rule.
    """
    both_ways = pd.concat(
        [
            edges.rename(columns={"a": "row", "b": "other"}),
            edges.rename(columns={"b": "row", "a": "other"}),
        ],
        ignore_index=True,
    )
    both_ways = both_ways[both_ways["row"].isin(duplicates)].copy()
    both_ways["indirect"] = labels[both_ways["row"]] != both_ways["other"]
    best = both_ways.sort_values(
        ["row", "indirect", "rank", "score"], ascending=[True, True, True, False]
    ).drop_duplicates("row")
    best = best.set_index("row").loc[duplicates]
    rules = []
    for rule, other, indirect in zip(
        best["rule"], best["other"], best["indirect"], strict=True
    ):
        if indirect:
            rule = f"{rule} (linked through {_describe(other, names, stored)})"
        rules.append(rule)
    return pd.DataFrame({"rule": rules, "score": best["score"].to_numpy()})


def _describe(position: int, names: np.ndarray, stored: int) -> str:
    if position < stored:
        return f"lead {names[position]}"
    return f"row {names[position]}"


# FEBRL person records

FEBRL_FIELDS = (
    Field("given_name", 1.0),
    Field("surname", 1.5),
    Field("street_number", 0.5, "levenshtein"),
    Field("address_1", 1.0),
    Field("address_2", 0.5),
    Field("suburb", 1.0),
    Field("postcode", 1.0, "levenshtein"),
    Field("state", 0.3, "levenshtein"),
    Field("date_of_birth", 1.5, "levenshtein"),
    Field("soc_sec_id", 2.0, "levenshtein"),
)
"""Fields and weights for FEBRL's synthetic person records.

NOTE: the weights are set by hand and FEBRL_THRESHOLD was picked on FEBRL
dataset2, then checked on dataset4a/4b; other person data needs its own check.
"""
FEBRL_BLOCKS: tuple[BlockKey, ...] = (
    "postcode",
    "soc_sec_id",
    "date_of_birth",
    (prefix("surname", 3), prefix("given_name", 1)),
    (prefix("given_name", 3), prefix("surname", 1)),
    (prefix("suburb", 4), "street_number"),
)
FEBRL_SWAPS = (("given_name", "surname"),)
FEBRL_THRESHOLD = 0.65
