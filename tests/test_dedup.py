"""Duplicate detection: exact keys, fuzzy name and company, FEBRL linkage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from leadshare.dedup import (
    FEBRL_BLOCKS,
    FEBRL_FIELDS,
    FEBRL_SWAPS,
    FEBRL_THRESHOLD,
    Field,
    SkippedBlocks,
    cluster_labels,
    find_duplicates,
    link_records,
    soundex,
)
from leadshare.normalise import normalise_frame


def _expected(shared_dir: Path, case: str) -> dict:
    text = (shared_dir / "cases" / case / "expected.json").read_text("utf-8")
    return json.loads(text)


def _batch(path: Path) -> pd.DataFrame:
    """Read a case file as a normalised batch with 1-based ``_row`` numbers."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame.astype(object).where(frame != "", None)
    frame = normalise_frame(frame)
    frame["_row"] = range(1, len(frame) + 1)
    return frame


def _leads(**columns: list) -> pd.DataFrame:
    size = len(next(iter(columns.values())))
    frame = normalise_frame(pd.DataFrame(columns))
    frame["_row"] = range(1, size + 1)
    return frame


def _links(result: pd.DataFrame) -> dict:
    return dict(zip(result["_row"], result["duplicate_of"], strict=True))


# Acceptance cases


def test_history_match_case_and_spaces(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B01")
    history = _batch(shared_dir / "cases/B01/history.csv")
    batch = _batch(shared_dir / "cases/B01/new_import.csv")
    result = find_duplicates(batch, history)
    matches = {m["import_row"]: m["lead_id"] for m in expected["matches"]}

    assert len(history) == expected["history_rows"]
    assert len(batch) == expected["import_rows_read"]
    assert _links(result) == matches
    assert result["in_history"].all()
    assert len(batch) - len(result) == expected["new_leads"]
    assert result["rule"].eq("same email key").all()


def test_provider_aliases_cluster(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B02")
    batch = _batch(shared_dir / "cases/B02/leads.csv")
    links = _links(find_duplicates(batch))

    for cluster in expected["probable_duplicate_clusters"]:
        first, *others = cluster["rows"]
        for row in others:
            assert links.get(row) == first, cluster["rule"]
    for first, second in expected["not_duplicates"]:
        assert first not in links
        assert second not in links


def test_idn_and_full_width_duplicates(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B25")
    batch = _batch(shared_dir / "cases/B25/leads.csv")
    batch["outcome"] = batch["email_error"].map(lambda e: None if e is None else "x")
    links = _links(find_duplicates(batch))
    open_rows = batch["outcome"].isna().sum()

    for number, facts in expected["rows"].items():
        if facts.get("lead") == "duplicate":
            assert links.get(int(number)) == facts["duplicate_of_row"], number
        if facts.get("lead") == "new":
            assert int(number) not in links, number
    assert open_rows - len(links) == expected["leads_created"]


# Exact and fuzzy rules


def test_transitive_cluster_keeps_first() -> None:
    batch = _leads(
        email=["a@example.com", "b@example.com", "b@example.com"],
        phone=["+49 30 1234567", "+49 30 1234567", None],
    )
    result = find_duplicates(batch).set_index("_row")

    assert result.loc[2, "duplicate_of"] == 1
    assert result.loc[2, "rule"] == "same phone"
    assert result.loc[3, "duplicate_of"] == 1
    assert result.loc[3, "rule"] == "same email key (linked through row 2)"


def test_fuzzy_name_and_company() -> None:
    history = _leads(
        first_name=["Mara"], last_name=["Quist"], company=["Quist Tooling GmbH"]
    )
    history["lead_id"] = ["H-1"]
    batch = _leads(
        first_name=["Mara", "Jo"],
        last_name=["Quisst", "Doe"],
        company=["Quist Tooling", "Quist Tooling"],
    )
    result = find_duplicates(batch, history)

    assert _links(result) == {1: "H-1"}
    assert result.loc[0, "rule"].startswith("fuzzy name+company 0.9")
    assert 0.9 <= result.loc[0, "score"] < 1.0


def test_fuzzy_company_numbers_differ() -> None:
    batch = _leads(
        first_name=["Lena", "Lena", "Lena"],
        last_name=["Vogt", "Vogt", "Vogt"],
        company=["Firm 1 GmbH", "Firm 3 GmbH", "Firm 1 GmbH."],
        email=["lena@firm1.example", "lena@firm3.example", "l.vogt@firm1.example"],
    )
    empty = _leads(first_name=["-"], last_name=["-"], company=["-"]).iloc[:0]
    empty["lead_id"] = []
    result = find_duplicates(batch, empty)

    # Rows 1 and 3 name the same firm, and row 2 names a different one.
    assert _links(result) == {3: 1}


def test_fuzzy_match_needs_same_contacts() -> None:
    # Three pairs of two people each: a similar name or company, and a different
    # e-mail and phone. None may hide the other. The last pair is one person with
    # a second address (same name, same company), which stays a duplicate.
    batch = _leads(
        first_name=["Thomas", "Thomas", "Jan", "Jana", "Peter", "Petra", "Ida", "Ida"],
        last_name=["Müller", "Müller", "Schmidt", "Schmidt", "Klein", "Klein"]
        + ["Berg", "Berg"],
        company=["Bauer GmbH", "Bayer GmbH", "Acme GmbH", "Acme GmbH"]
        + ["Klein & Partner", "Klein & Partner", "Berg AG", "Berg AG"],
        email=[
            "thomas.mueller@bauer-bau.de",
            "thomas.mueller@bayer-chemie.de",
            "jan.schmidt@acme.de",
            "jana.schmidt@acme.de",
            "peter@klein-partner.de",
            "petra@klein-partner.de",
            "ida@berg.de",
            "ida.berg@gmail.com",
        ],
        phone=["+49 30 1110001", "+49 30 1110002", None, None]
        + ["+49 40 2220001", "+49 40 2220002", None, None],
        country=["DE"] * 8,
    )

    result = find_duplicates(batch)

    assert _links(result) == {8: 7}
    assert result["rule"].tolist() == ["fuzzy name+company 1.00"]


def test_same_source_external_id() -> None:
    history = _leads(external_id=["42", "42"], source=["crm", "webform"])
    history["lead_id"] = ["L-crm", "L-web"]
    batch = _leads(external_id=["42", "43"])
    result = find_duplicates(batch, history, source="webform")

    assert _links(result) == {1: "L-web"}
    assert result.loc[0, "rule"] == "same source and external id"


def test_external_id_arrow_column_stripped() -> None:
    # Intake keeps mostly distinct columns such as external ids as Arrow strings.
    ids = ["42", " 42\u00a0", "\u300043", "43", " ", None, "a\nb", "a\nb "]
    batch = pd.DataFrame(
        {"external_id": pd.Series(ids, dtype="string[pyarrow]"), "_row": range(1, 9)}
    )
    as_objects = batch.astype({"external_id": object})

    links = _links(find_duplicates(batch, source="crm"))

    assert links == {2: 1, 4: 3, 8: 7}
    assert links == _links(find_duplicates(as_objects, source="crm"))


def test_history_created_at_order() -> None:
    history = _leads(
        email=["a@example.com", "a@example.com"],
        created_at=["2025-02-01T00:00:00Z", "2024-01-01T00:00:00Z"],
    )
    history["lead_id"] = ["newer", "older"]
    batch = _leads(email=["A@example.com"])

    assert _links(find_duplicates(batch, history)) == {1: "older"}


def test_finished_rows_ignored() -> None:
    batch = _leads(email=["a@example.com", "a@example.com", "a@example.com"])
    batch["outcome"] = ["quarantined", None, None]

    assert _links(find_duplicates(batch)) == {3: 2}


def test_no_keys_no_duplicates() -> None:
    batch = _leads(email=[None, None], company=["Acme", "Acme"])

    assert find_duplicates(batch).empty


def test_blank_keys_not_matched() -> None:
    batch = pd.DataFrame(
        {"email_key": ["", ""], "external_id": [" ", " "], "_row": [1, 2]}
    )

    assert find_duplicates(batch).empty


# Linkage core


def test_soundex_codes() -> None:
    codes = {name: soundex(name) for name in ["Robert", "Rupert", "Ashcraft"]}
    codes |= {name: soundex(name) for name in ["Tymczak", "Pfister", "Lee", "123"]}

    assert codes == {
        "Robert": "R163",
        "Rupert": "R163",
        "Ashcraft": "A261",
        "Tymczak": "T522",
        "Pfister": "P236",
        "Lee": "L000",
        "123": "",
    }


def test_link_records_groups_only_across() -> None:
    frame = pd.DataFrame(
        {"name": ["anna berg", "anna berg", "anna berg"], "file": ["a", "a", "b"]},
        index=["a1", "a2", "b1"],
    )
    pairs = link_records(frame, [Field("name")], ["name"], 0.9, groups="file")

    assert sorted(zip(pairs["left"], pairs["right"])) == [("a1", "b1"), ("a2", "b1")]


def test_link_records_key_function() -> None:
    def folded_name(data: pd.DataFrame) -> pd.Series:
        return data["name"].str.lower().str.split().str.join(" ")

    frame = pd.DataFrame({"name": ["Anna Berg", "anna  berg ", "Ben Berg"]})
    pairs = link_records(frame, [Field("name")], [folded_name], 0.5)

    assert list(zip(pairs["left"], pairs["right"])) == [(0, 1)]


def test_link_records_skips_big_blocks() -> None:
    frame = pd.DataFrame({"name": ["x"] * 5 + ["y"] * 6 + ["z"] * 2})
    skipped: list[SkippedBlocks] = []
    pairs = link_records(
        frame,
        [Field("name")],
        ["name"],
        0.5,
        max_block_size=4,
        focus=[False] * 5 + [True] * 8,
        skipped=skipped,
    )

    assert list(zip(pairs["left"], pairs["right"])) == [(11, 12)]
    # The block of x has no focus row, so only the block of y is reported.
    assert skipped == [
        SkippedBlocks(blocking_pass="name", blocks=1, rows=6, largest=6)
    ]


def test_febrl_dataset2_f1(shared_dir: Path) -> None:
    folder = shared_dir / "data/febrl"
    records = _read_febrl(folder / "dataset2.csv").set_index("rec_id")
    truth = _read_truth(folder / "true_pairs_dataset2.csv")
    pairs = link_records(
        records, FEBRL_FIELDS, FEBRL_BLOCKS, FEBRL_THRESHOLD, swaps=FEBRL_SWAPS
    )
    found = {frozenset(pair) for pair in zip(pairs["left"], pairs["right"])}

    assert len(records) == 5000
    assert len(truth) == 1934
    assert _f1(found, truth) >= 0.99


def test_febrl_link_4a_4b_f1(shared_dir: Path) -> None:
    folder = shared_dir / "data/febrl"
    first = _read_febrl(folder / "dataset4a.csv").assign(file="a")
    second = _read_febrl(folder / "dataset4b.csv").assign(file="b")
    records = pd.concat([first, second], ignore_index=True).set_index("rec_id")
    truth = _read_truth(folder / "true_pairs_dataset4a_dataset4b.csv")
    pairs = link_records(
        records,
        FEBRL_FIELDS,
        FEBRL_BLOCKS,
        FEBRL_THRESHOLD,
        swaps=FEBRL_SWAPS,
        groups="file",
    )
    found = {frozenset(pair) for pair in zip(pairs["left"], pairs["right"])}

    assert len(truth) == 5000
    assert _f1(found, truth) >= 0.99


def _read_febrl(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    frame.columns = [name.strip() for name in frame.columns]
    return frame.apply(lambda column: column.str.strip())


def _read_truth(path: Path) -> set[frozenset[str]]:
    pairs = pd.read_csv(path, dtype=str)
    first, second = (pairs[name].str.strip() for name in pairs.columns[:2])
    return {frozenset(pair) for pair in zip(first, second, strict=True)}


def _f1(found: set, truth: set) -> float:
    hits = len(found & truth)
    if not hits:
        return 0.0
    precision = hits / len(found)
    recall = hits / len(truth)
    return 2 * precision * recall / (precision + recall)


# Properties


@given(
    st.integers(min_value=1, max_value=40).flatmap(
        lambda size: st.tuples(
            st.just(size),
            st.lists(
                st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)),
                max_size=60,
            ),
        )
    )
)
def test_cluster_labels_components(graph: tuple[int, list]) -> None:
    size, edges = graph
    left = np.array([a for a, _ in edges], dtype=np.int64)
    right = np.array([b for _, b in edges], dtype=np.int64)
    labels = cluster_labels(size, left, right)

    assert (labels <= np.arange(size)).all()
    assert (labels[left] == labels[right]).all()
    assert labels.tolist() == _component_minimum(size, edges)


def _component_minimum(size: int, edges: list[tuple[int, int]]) -> list[int]:
    """Reference: the lowest position reachable from each position."""
    neighbours: dict[int, set[int]] = {position: set() for position in range(size)}
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    result = []
    for start in range(size):
        seen, stack = {start}, [start]
        while stack:
            for other in neighbours[stack.pop()] - seen:
                seen.add(other)
                stack.append(other)
        result.append(min(seen))
    return result
