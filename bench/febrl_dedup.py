"""Compare leadshare's record linkage with splink on the FEBRL benchmark files.

Usage: python bench/febrl_dedup.py [FEBRL_DIR]

FEBRL_DIR defaults to ../shared/data/febrl beside the checkout. The script prints
precision, recall, F1 and seconds for dataset2 (deduplication, 5,000 records) and
dataset4a + dataset4b (linking two files of 5,000), for both methods.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from leadshare.dedup import (
    FEBRL_BLOCKS,
    FEBRL_FIELDS,
    FEBRL_SWAPS,
    FEBRL_THRESHOLD,
    cluster_labels,
    link_records,
)

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "febrl"
SPLINK_THRESHOLD = 0.9


def read_febrl(path: Path) -> pd.DataFrame:
    """Read a FEBRL file: ", "-delimited, a single space for a missing value."""
    frame = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    frame.columns = [name.strip() for name in frame.columns]
    return frame.apply(lambda column: column.str.strip())


def read_truth(path: Path) -> set[frozenset[str]]:
    pairs = pd.read_csv(path, dtype=str)
    first, second = (pairs[name].str.strip() for name in pairs.columns[:2])
    return {frozenset(pair) for pair in zip(first, second, strict=True)}


def metrics(found: set[frozenset[str]], truth: set[frozenset[str]]) -> dict:
    hits = len(found & truth)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"pairs": len(found), "precision": precision, "recall": recall, "f1": f1}


def cluster_pairs(ids: np.ndarray, left: np.ndarray, right: np.ndarray) -> set:
    """Return every pair inside the clusters that the matched pairs form."""
    labels = cluster_labels(len(ids), left, right)
    members = pd.Series(ids).groupby(labels).agg(list)
    found = set()
    for group in members[members.str.len() > 1]:
        found |= {
            frozenset((a, b)) for i, a in enumerate(group) for b in group[i + 1 :]
        }
    return found


def leadshare_dedup(records: pd.DataFrame) -> tuple[set, set]:
    indexed = records.set_index("rec_id")
    pairs = link_records(
        indexed, FEBRL_FIELDS, FEBRL_BLOCKS, FEBRL_THRESHOLD, swaps=FEBRL_SWAPS
    )
    direct = {frozenset(pair) for pair in zip(pairs["left"], pairs["right"])}
    position = pd.Series(np.arange(len(indexed)), index=indexed.index)
    clustered = cluster_pairs(
        indexed.index.to_numpy(),
        position[pairs["left"]].to_numpy(),
        position[pairs["right"]].to_numpy(),
    )
    return direct, clustered


def leadshare_link(first: pd.DataFrame, second: pd.DataFrame) -> set:
    both = pd.concat(
        [first.assign(file="a"), second.assign(file="b")], ignore_index=True
    ).set_index("rec_id")
    pairs = link_records(
        both,
        FEBRL_FIELDS,
        FEBRL_BLOCKS,
        FEBRL_THRESHOLD,
        swaps=FEBRL_SWAPS,
        groups="file",
    )
    return {frozenset(pair) for pair in zip(pairs["left"], pairs["right"])}


def splink_settings(link_type: str):
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="rec_id",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8]),
            cl.LevenshteinAtThresholds("postcode", [1, 2]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.8]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("postcode"),
            block_on("soc_sec_id"),
            block_on("date_of_birth"),
            block_on("substr(surname, 1, 3)", "substr(given_name, 1, 1)"),
            block_on("substr(given_name, 1, 3)", "substr(surname, 1, 1)"),
        ],
    )


def splink_pairs(tables: list[pd.DataFrame], link_type: str) -> set:
    """Train a splink model without labels (u by sampling, m by EM) and predict."""
    from splink import DuckDBAPI, Linker, block_on

    db_api = DuckDBAPI()
    registered = [
        db_api.register(table.replace("", None), dataset_display_name=f"t{number}")
        for number, table in enumerate(tables)
    ]
    linker = Linker(
        registered if len(registered) > 1 else registered[0],
        splink_settings(link_type),
        log_level=logging.WARNING,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    for rule in (block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(
        threshold_match_probability=SPLINK_THRESHOLD
    ).as_pandas_dataframe()
    return {
        frozenset(pair)
        for pair in zip(predictions["rec_id_l"], predictions["rec_id_r"], strict=True)
    }


def timed(function: Callable, *args) -> tuple[object, float]:
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def print_row(task: str, method: str, scores: dict, seconds: float) -> None:
    print(
        f"{task:<22} {method:<26} {scores['pairs']:>6} {scores['precision']:>9.4f} "
        f"{scores['recall']:>7.4f} {scores['f1']:>7.4f} {seconds:>8.2f}"
    )


def main(folder: Path) -> None:
    dataset2 = read_febrl(folder / "dataset2.csv")
    truth2 = read_truth(folder / "true_pairs_dataset2.csv")
    file_a = read_febrl(folder / "dataset4a.csv")
    file_b = read_febrl(folder / "dataset4b.csv")
    truth4 = read_truth(folder / "true_pairs_dataset4a_dataset4b.csv")

    header = ("task", "method", "pairs", "precision", "recall", "F1", "seconds")
    print("{:<22} {:<26} {:>6} {:>9} {:>7} {:>7} {:>8}".format(*header))
    (direct, clustered), seconds = timed(leadshare_dedup, dataset2)
    print_row("dataset2 dedup", "leadshare (pairs)", metrics(direct, truth2), seconds)
    scores = metrics(clustered, truth2)
    print_row("dataset2 dedup", "leadshare (clusters)", scores, seconds)
    found, seconds = timed(splink_pairs, [dataset2], "dedupe_only")
    splink_name = f"splink p>={SPLINK_THRESHOLD}"
    print_row("dataset2 dedup", splink_name, metrics(found, truth2), seconds)

    found, seconds = timed(leadshare_link, file_a, file_b)
    print_row("dataset4a+4b link", "leadshare (pairs)", metrics(found, truth4), seconds)
    found, seconds = timed(splink_pairs, [file_a, file_b], "link_only")
    print_row("dataset4a+4b link", splink_name, metrics(found, truth4), seconds)

if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR)
