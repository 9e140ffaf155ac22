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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import Indel, JaroWinkler, Levenshtein

from leadshare.model import ROW_COLUMN

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
        return _by_distinct(frame[self.column], self.function)


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


def _by_distinct(values: pd.Series, function: Callable[[str], str]) -> pd.Series:
    """Apply ``function`` once per distinct stripped text; missing values become ""."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    results = [function(str(value).strip()) for value in uniques]
    table = np.array([*results, ""], dtype=object)
    return pd.Series(table[codes], index=values.index)


def _text(values: pd.Series) -> pd.Series:
    """Return ``values`` as stripped strings with "" for missing."""
    return _by_distinct(values, lambda value: value)


def _part_codes(frame: pd.DataFrame, part: str | KeyFunction) -> np.ndarray:
    """Return an integer code per row for one key part, -1 where it is empty."""
    if isinstance(part, ValueKey):
        values, function = frame[part.column], part.function
    elif callable(part):
        values, function = part(frame), str
    else:
        values, function = frame[part], str
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    keys = [function(str(value).strip()) for value in uniques]
    key_codes, _ = pd.factorize(pd.Series(keys, dtype=object).replace("", None))
    table = np.append(key_codes, -1).astype(np.int64)
    return table[codes]


def _block_codes(frame: pd.DataFrame, block: BlockKey) -> np.ndarray:
    """Return an integer block code per row, -1 where any key part is empty."""
    parts = [block] if callable(block) or isinstance(block, str) else list(block)
    codes = _part_codes(frame, parts[0])
    for part in parts[1:]:
        other = _part_codes(frame, part)
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


def _block_pairs(
    keys: np.ndarray, focus: np.ndarray, max_block_size: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Return (low, high) positions of records sharing a key, and the blocks skipped."""
    keyed = np.flatnonzero(keys >= 0)
    codes = keys[keyed]
    sizes = np.bincount(codes) if len(codes) else np.zeros(0, dtype=np.int64)
    small = sizes[codes] <= max_block_size
    skipped = int((sizes > max_block_size).sum())
    table = pd.DataFrame({"pos": keyed[small], "key": codes[small]})
    left = table[focus[table["pos"].to_numpy()]]
    merged = left.merge(table, on="key", suffixes=("_l", "_r"))
    a = merged["pos_l"].to_numpy()
    b = merged["pos_r"].to_numpy()
    keep = a != b
    return np.minimum(a, b)[keep], np.maximum(a, b)[keep], skipped


def _candidate_pairs(
    frame: pd.DataFrame,
    blocks: Sequence[BlockKey],
    focus: np.ndarray,
    groups: np.ndarray | None,
    max_block_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    size = len(frame)
    codes: list[np.ndarray] = []
    for block in blocks:
        keys = _block_codes(frame, block)
        low, high, skipped = _block_pairs(keys, focus, max_block_size)
        if skipped:
            # NOTE: pairs only found inside an oversized block are missed; add a
            # narrower blocking pass if this shows up often.
            logger.warning(
                "Skipped %d blocks over %d records in blocking pass %s",
                skipped,
                max_block_size,
                _block_name(block),
            )
        if groups is not None:
            across = groups[low] != groups[high]
            low, high = low[across], high[across]
        codes.append(low.astype(np.int64) * size + high)
    unique = np.unique(np.concatenate(codes)) if codes else np.zeros(0, np.int64)
    return unique // size, unique % size


# Scoring


def _similarity(left: np.ndarray, right: np.ndarray, scorer: Scorer) -> np.ndarray:
    """Similarity in [0, 1] of aligned values; NaN where either side is empty."""
    present = (left != "") & (right != "")
    if scorer == "exact":
        scores = (left == right).astype(float)
    else:
        scores = process.cpdist(
            left, right, scorer=_SCORERS[scorer], workers=-1, dtype=np.float64
        )
    return np.where(present, scores, np.nan)


def _sorted_tokens(value: str) -> str:
    return " ".join(sorted(value.split()))


def _prepared_columns(
    frame: pd.DataFrame, fields: Sequence[Field]
) -> dict[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    for field in fields:
        if field.scorer == "token_sort":
            values = _by_distinct(frame[field.column], _sorted_tokens)
        else:
            values = _text(frame[field.column])
        columns[field.column] = values.to_numpy(dtype=object)
    return columns


def _mean_present(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Element-wise mean that ignores NaN, without numpy's empty-slice warning."""
    both = (first + second) / 2
    return np.where(np.isnan(first), second, np.where(np.isnan(second), first, both))


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
    columns = _prepared_columns(frame, fields)
    scorers = {field.column: field.scorer for field in fields}
    sims = {
        name: _similarity(values[left], values[right], scorers[name])
        for name, values in columns.items()
    }
    for first, second in swaps:
        crossed_first = _similarity(
            columns[first][left], columns[second][right], scorers[first]
        )
        crossed_second = _similarity(
            columns[second][left], columns[first][right], scorers[second]
        )
        straight = _mean_present(sims[first], sims[second])
        crossed = _mean_present(crossed_first, crossed_second)
        better = crossed > straight
        sims[first] = np.where(better, crossed_first, sims[first])
        sims[second] = np.where(better, crossed_second, sims[second])

    total = np.zeros(len(left))
    weights = np.zeros(len(left))
    for field in fields:
        similarity = sims[field.column]
        present = ~np.isnan(similarity)
        total += np.where(present, field.weight * similarity, 0.0)
        weights += np.where(present, field.weight, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weights > 0, total / weights, np.nan)


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
) -> pd.DataFrame:
    """Find record pairs whose score is at least ``threshold``.

    Each blocking pass in ``blocks`` proposes the pairs that share its key; the
    union of all passes is scored with :func:`score_pairs`. ``groups`` names a
    column: pairs within one group are skipped (linking two files). ``focus`` marks
    the rows every pair must include (a new batch against stored records).

    Returns a frame with ``left`` and ``right`` (index labels of ``df``, left before
    right in ``df`` order) and ``score``, sorted by left and right.
    """
    focus_mask = np.ones(len(df), bool) if focus is None else np.asarray(focus, bool)
    group_values = None if groups is None else df[groups].to_numpy()
    left, right = _candidate_pairs(df, blocks, focus_mask, group_values, max_block_size)
    scores = score_pairs(df, fields, left, right, swaps)
    matched = scores >= threshold
    logger.info(
        "Scored %d candidate pairs of %d records; %d at or above %.2f",
        len(left),
        len(df),
        int(matched.sum()),
        threshold,
    )
    return pd.DataFrame(
        {
            "left": df.index.to_numpy()[left[matched]],
            "right": df.index.to_numpy()[right[matched]],
            "score": scores[matched],
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
    open_rows = batch
    if "outcome" in batch.columns:
        open_rows = batch[batch["outcome"].isna()]
    new = _key_arrays(open_rows, source or "")
    new["_label"] = np.array([int(row) for row in open_rows[ROW_COLUMN]], object)
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
    external = _optional_column(frame, "external_id")
    sources = (
        np.full(len(frame), source, dtype=object)
        if source is not None
        else _optional_column(frame, "source")
    )
    keys["_external_key"] = np.array(
        [
            None if src is None or value is None else f"{src}\x1f{value}"
            for src, value in zip(sources, external, strict=True)
        ],
        dtype=object,
    )
    return keys


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
        values = records[column]
        in_batch = set(values.iloc[stored:].dropna())
        candidates = values.notna() & values.isin(in_batch)
        positions = np.flatnonzero(candidates.to_numpy())
        codes, _ = pd.factorize(values.iloc[positions])
        _, first_index = np.unique(codes, return_index=True)
        first = positions[first_index][codes]
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
    records: pd.DataFrame, stored: int, threshold: float, max_block_size: int
) -> pd.DataFrame:
    usable = records["name_key"].notna() & records["company_key"].notna()
    subset = records[usable]
    focus = subset.index.to_numpy() >= stored
    pairs = link_records(
        subset,
        LEAD_FUZZY_FIELDS,
        LEAD_FUZZY_BLOCKS,
        threshold,
        focus=focus,
        max_block_size=max_block_size,
    )
    return pd.DataFrame(
        {
            "a": pairs["left"].to_numpy(dtype=np.int64),
            "b": pairs["right"].to_numpy(dtype=np.int64),
            "rank": len(_EXACT_RULES),
            "rule": [f"fuzzy name+company {score:.2f}" for score in pairs["score"]],
            "score": pairs["score"].to_numpy(),
        }
    )


def find_duplicates(
    batch: pd.DataFrame,
    history: pd.DataFrame | None = None,
    *,
    source: str | None = None,
    fuzzy_threshold: float = FUZZY_THRESHOLD,
    max_block_size: int = MAX_BLOCK_SIZE,
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
    """
    records, stored = _records(batch, history, source)
    edges = pd.concat(
        [
            *_exact_edges(records, stored),
            _fuzzy_edges(records, stored, fuzzy_threshold, max_block_size),
        ],
        ignore_index=True,
    )
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
        "Found %d duplicates among %d open batch rows (%d of stored leads)",
        len(result),
        len(records) - stored,
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
