"""Measure leadshare's stages against floors: the cost of the same work done plainly.

    python bench/bench.py --sizes 10000,100000,1000000

For each size the script generates a lead file (timed, not counted) and runs, each in
a fresh subprocess so that peak RSS belongs to one part:

1. floor_pipeline: bench/floor_pipeline.sql, the set-based stages as one DuckDB
   statement on 2 threads, in a new database file. floor_pipeline_stored runs
   the same statement on a table loaded with every column of the file and also
   writes one outcome row per lead, as the product stores every lead.
2. floor_fields: email_validator and phonenumbers over the distinct emails and
   phones, split over 2 processes.
3. floor_gx: Great Expectations on pandas, with the product's batch and row suites
   over every row of the columns they check.
4. product: ``leadshare.pipeline.bench_stages(csv_path, workdir)`` if it exists.

floor_fuzzy (splink on FEBRL dataset2) runs once. The table goes to stdout and, as
JSON, to bench/out/results.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SQL_PATH = Path(__file__).with_name("floor_pipeline.sql")
OUT_DIR = Path(__file__).with_name("out")
FEBRL_DIR = ROOT.parent / "shared" / "data" / "febrl"
DEFAULT_SIZES = "10000,100000,1000000"
SEED = 42
THREADS = 2
FRESH_DAYS = 30
THRESHOLD = 40
FUZZY_THRESHOLD = 0.9
POLL_S = 0.05
RESULT_PREFIX = "RESULT "

# Each product stage is compared with the floor that does the same kind of work.
# Stage names containing these words map to floor_fields, floor_fuzzy or floor_gx,
# and all other stages count as set-based work (floor_pipeline).
FIELD_STAGE_WORDS = ("normal", "validat")
FUZZY_STAGE_WORDS = ("fuzzy",)
GATE_STAGE_WORDS = ("gate",)
# Fixed costs per process (library imports): shown and counted in the total, but
# compared with no floor, because they do not depend on the number of leads.
FIXED_STAGE_WORDS = ("import",)

TARGETS = {
    "floor_pipeline": 2.0,
    "floor_fields": 1.3,
    "floor_fuzzy": 1.0,
    "floor_gx": 2.0,
    "rss_mb": 2048,
    "scaling": 11.0,
}

# Used when config/partners.yaml cannot be loaded: (id, countries, industries
# (empty = any), capacity per day, tier weight).
BUILT_IN_PARTNERS = (
    (
        "B-NORD",
        ["DE", "AT", "CH"],
        ["manufacturing", "software", "logistics"],
        400,
        1.0,
    ),
    ("B-ALPEN", ["DE", "AT"], [], 300, 0.8),
    ("B-RHEIN", ["DE"], ["finance", "healthcare"], 200, 0.6),
    ("B-THAMES", ["GB"], [], 400, 1.0),
    ("B-LIBERTY", ["US"], [], 2000, 1.0),
    ("B-PRAIRIE", ["US"], ["healthcare", "finance", "retail"], 1000, 0.6),
    ("B-LUMIERE", ["FR"], [], 300, 0.8),
    ("B-POLDER", ["NL"], [], 200, 0.8),
    ("B-IBERIA", ["ES", "IT"], [], 300, 0.6),
    ("B-NORDIC", ["SE"], [], 150, 0.8),
    ("B-HELVETIA", ["CH"], ["finance", "software"], 150, 1.0),
    ("B-EDU", ["DE", "GB", "US", "FR"], ["education"], 250, 0.6),
)


def partner_rows() -> tuple[list[tuple], str]:
    """Return the partner table rows and where they came from.

    The active partners of config/partners.yaml are used so that the floor places
    leads against the same capacities as the product. Capacity is the smaller of the
    daily and weekly caps, weight the tier weight from config/rules.yaml.
    """
    from leadshare.config import EXAMPLE_CONFIG, load_config
    from leadshare.errors import ConfigError

    try:
        config = load_config(EXAMPLE_CONFIG)
    except (ConfigError, OSError) as exc:
        print(f"config not loaded ({exc}); using the built-in partners")
        return [tuple(row) for row in BUILT_IN_PARTNERS], "built-in"
    today = dt.datetime.now(dt.UTC).date()
    rows = []
    for partner in config.partners:
        expired = partner.agreement_expires and partner.agreement_expires < today
        if partner.status != "active" or expired:
            continue
        rows.append(
            (
                partner.id,
                list(partner.territory.countries),
                list(partner.industries),
                min(partner.capacity_per_day, partner.capacity_per_week),
                config.rules.tier_weights.get(partner.tier, 1.0),
            )
        )
    return rows, "config/partners.yaml"


def own_peak_rss_mb() -> dict[str, float]:
    """Return this process's and its waited-for children's peak RSS (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self_rss_mb": own, "children_rss_mb": children}


# Parts run in their own subprocess (see run_part) and return a dict.


def _floor_pipeline(
    csv_path: Path, workdir: Path, as_of: dt.datetime, stored: bool
) -> dict:
    """Run floor_pipeline.sql on a view over the file, or on a table loaded from it.

    With ``stored``, the clock also covers loading every column of the file into a
    table and writing one outcome row per lead (its partner or none): the writes
    the product makes when it keeps every lead and every row's outcome.
    """
    import duckdb

    database = workdir / f"floor_{csv_path.stem}.duckdb"
    database.unlink(missing_ok=True)
    rows, source = partner_rows()
    relation = "table" if stored else "view"
    with duckdb.connect(str(database)) as con:
        con.execute(f"set threads = {THREADS}")
        con.execute(
            "create table bench_partners (partner_id varchar, countries varchar[], "
            "industries varchar[], capacity integer, weight double)"
        )
        con.executemany("insert into bench_partners values (?, ?, ?, ?, ?)", rows)
        parameters = {
            "as_of": as_of,
            "fresh_days": FRESH_DAYS,
            "threshold": THRESHOLD,
        }
        started = time.perf_counter()
        # A view cannot take a bound parameter, so the path is a quoted literal.
        path = "'" + str(csv_path).replace("'", "''") + "'"
        con.execute(
            f"create {relation} raw_source as select * from read_csv({path}, "
            "delim = ',', quote = '\"', escape = '\"', header = true, "
            "all_varchar = true)"
        )
        con.execute(SQL_PATH.read_text(encoding="utf-8"), parameters)
        if stored:
            con.execute(
                "create table lead_outcomes as select raw_source.external_id, "
                "placements.partner_id from raw_source left join placements "
                "using (external_id)"
            )
        seconds = time.perf_counter() - started
        placed = con.execute("select count(*) from placements").fetchone()[0]
    database.unlink(missing_ok=True)
    return {"seconds": seconds, "placed": placed, "partners": source}


def part_floor_pipeline(csv_path: Path, workdir: Path, as_of: dt.datetime) -> dict:
    return _floor_pipeline(csv_path, workdir, as_of, stored=False)


def part_floor_pipeline_stored(
    csv_path: Path, workdir: Path, as_of: dt.datetime
) -> dict:
    return _floor_pipeline(csv_path, workdir, as_of, stored=True)


def _distinct_fields(csv_path: Path) -> tuple[list[str], list[tuple[str, str | None]]]:
    """Read the distinct emails and (phone, ISO country or None) pairs of a file."""
    import duckdb

    source = (
        "read_csv(?, delim = ',', quote = '\"', escape = '\"', header = true, "
        "all_varchar = true)"
    )
    with duckdb.connect() as con:
        emails = con.execute(
            f"select distinct email from {source} where email is not null",
            [str(csv_path)],
        ).fetchall()
        phones = con.execute(
            "select distinct phone, case when regexp_full_match(upper(trim(country)), "
            f"'[A-Z]{{2}}') then upper(trim(country)) end from {source} "
            "where phone is not null",
            [str(csv_path)],
        ).fetchall()
    return [row[0] for row in emails], [(row[0], row[1]) for row in phones]


def warm_up_validators() -> None:
    """Import the validators and load phonenumbers' metadata of the common regions."""
    import phonenumbers
    from email_validator import EmailNotValidError, validate_email

    for region in ("DE", "US", "GB", "FR", "NL", "AT", "CH", "ES", "IT", "SE"):
        example = phonenumbers.example_number(region)
        phonenumbers.is_valid_number(example)
    try:
        validate_email("warm.up@example.com", check_deliverability=False)
    except EmailNotValidError:
        pass


def validate_chunk(
    emails: list[str], phones: list[tuple[str, str | None]]
) -> tuple[int, int]:
    """Validate emails and phones and return how many of each were valid."""
    import phonenumbers
    from email_validator import EmailNotValidError, validate_email

    valid_emails = 0
    for email in emails:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            continue
        valid_emails += 1

    valid_phones = 0
    for phone, region in phones:
        try:
            number = phonenumbers.parse(phone, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            valid_phones += 1
    return valid_emails, valid_phones


def part_floor_fields(csv_path: Path, workdir: Path, as_of: dt.datetime) -> dict:
    emails, phones = _distinct_fields(csv_path)
    chunks = [(emails[0::2], phones[0::2]), (emails[1::2], phones[1::2])]
    with ProcessPoolExecutor(THREADS, initializer=warm_up_validators) as pool:
        # Start both workers and load the libraries before the clock starts.
        list(pool.map(time.sleep, [0.2] * THREADS))
        started = time.perf_counter()
        results = list(pool.map(validate_chunk, *zip(*chunks, strict=True)))
        seconds = time.perf_counter() - started
    # One row is one email plus one phone, the unit of the per-core reference rate.
    rows = (len(emails) + len(phones)) / 2
    return {
        "seconds": seconds,
        "distinct_emails": len(emails),
        "distinct_phones": len(phones),
        "valid_emails": sum(result[0] for result in results),
        "valid_phones": sum(result[1] for result in results),
        "rows_per_s_per_core": rows / seconds / THREADS,
    }


def _gate_suites(header: list[str]):
    """Build GX's row suite and batch suite as the product's gates check them.

    The row suite starts with one not-null check per required field of the generic
    profile, followed by the checks of expectations/leads_rows.json on the columns
    in ``header``. The batch suite checks the row count, the profile's required
    columns and its null-rate limits.
    """
    import great_expectations as gx

    from leadshare.config import EXAMPLE_CONFIG, load_config

    config = load_config(EXAMPLE_CONFIG)
    profile = config.profile("generic")
    required = profile.required_fields
    if required is None:
        required = config.rules.required_fields
    stored = json.loads((ROOT / "expectations" / "leads_rows.json").read_text("utf-8"))
    listed = gx.ExpectationSuite(**stored).expectations
    rows = gx.ExpectationSuite(name="floor_rows", expectations=[])
    for field in required:
        rows.add_expectation(
            gx.expectations.ExpectColumnValuesToNotBeNull(column=field)
        )
    for expectation in listed:
        if expectation.column in header:
            rows.add_expectation(expectation)
    batch = gx.ExpectationSuite(name="floor_batch", expectations=[])
    batch.add_expectation(gx.expectations.ExpectTableRowCountToBeBetween(min_value=1))
    batch.add_expectation(
        gx.expectations.ExpectTableColumnsToMatchSet(
            column_set=list(profile.required_columns), exact_match=False
        )
    )
    for field, rate in sorted(profile.max_null_rate.items()):
        batch.add_expectation(
            gx.expectations.ExpectColumnValuesToNotBeNull(column=field, mostly=1 - rate)
        )
    return rows, batch


def part_floor_gx(csv_path: Path, workdir: Path, as_of: dt.datetime) -> dict:
    """Time Great Expectations on pandas, given only the columns its suites check.

    Not timed: reading those columns (blank cells become None, as the product's
    mapping leaves them), importing GX and building its context and suites. Timed:
    the batch suite and the row suite over every row, the row suite returning the
    failing rows' indexes, which quarantine needs.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import duckdb
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # Not counted as validation: GX's fingerprint of every cell, which labels the
    # batch, and its progress bars. The product turns both off as well.
    pandas_execution_engine.HASH_THRESHOLD = 0
    # Suites can be built only once a context exists.
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    with csv_path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    rows_suite, batch_suite = _gate_suites(header)
    expectations = [*rows_suite.expectations, *batch_suite.expectations]
    # Table-level expectations have no column.
    checked = {getattr(expectation, "column", None) for expectation in expectations}
    selected = ", ".join(
        f'case when trim("{name}") = \'\' then null else "{name}" end as "{name}"'
        for name in sorted(checked & set(header))
    )
    with duckdb.connect() as con:
        frame = con.execute(
            f"select {selected} from read_csv(?, delim = ',', quote = '\"', "
            "escape = '\"', header = true, all_varchar = true)",
            [str(csv_path)],
        ).df()

    source = context.data_sources.add_pandas("floor")
    asset = source.add_dataframe_asset("leads")
    definition = asset.add_batch_definition_whole_dataframe("whole")
    started = time.perf_counter()
    batch = definition.get_batch(batch_parameters={"dataframe": frame})
    batch_result = batch.validate(batch_suite)
    row_result = batch.validate(
        rows_suite,
        result_format={
            "result_format": "COMPLETE",
            "exclude_unexpected_values": True,
            "return_unexpected_index_query": False,
        },
    )
    seconds = time.perf_counter() - started
    failed_rows = set()
    for result in row_result.results:
        failed_rows.update(result.result.get("unexpected_index_list") or [])
    return {
        "seconds": seconds,
        "columns": len(frame.columns),
        "expectations": len(expectations),
        "batch_passed": bool(batch_result.success),
        "failed_rows": len(failed_rows),
    }


def _read_febrl(path: Path):
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    frame.columns = [column.strip() for column in frame.columns]
    frame = frame.apply(lambda column: column.str.strip())
    return frame.replace("", None)


def _fuzzy_settings():
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="rec_id",
        comparisons=[
            # Scores swapped given name and surname as a near match.
            cl.ForenameSurnameComparison("given_name", "surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            block_on("surname", "date_of_birth"),
            block_on("given_name", "date_of_birth"),
            block_on("soc_sec_id"),
            block_on("postcode", "street_number"),
            block_on("surname", "postcode"),
            block_on("given_name", "postcode"),
            block_on("address_1"),
            "l.given_name = r.surname and l.surname = r.given_name",
        ],
        retain_matching_columns=False,
    )


def _f1(predicted: set, truth: set) -> dict[str, float]:
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(truth) if truth else 0.0
    total = precision + recall
    f1 = 2 * precision * recall / total if total else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def part_floor_fuzzy(csv_path: Path, workdir: Path, as_of: dt.datetime) -> dict:
    import logging

    from splink import DuckDBAPI, Linker, block_on

    records = FEBRL_DIR / "dataset2.csv"
    pairs_path = FEBRL_DIR / "true_pairs_dataset2.csv"
    if not records.exists():
        raise FileNotFoundError(f"{records} not found; put shared/ beside the checkout")
    started = time.perf_counter()
    frame = _read_febrl(records)
    database = DuckDBAPI()
    linker = Linker(
        database.register(frame), _fuzzy_settings(), log_level=logging.ERROR
    )
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id", "date_of_birth")], recall=0.6
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=SEED)
    for rule in (block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(threshold_match_probability=FUZZY_THRESHOLD)
    found = predictions.as_pandas_dataframe()[["rec_id_l", "rec_id_r"]]
    seconds = time.perf_counter() - started

    truth_frame = _read_febrl(pairs_path)
    truth = {frozenset(pair) for pair in truth_frame.itertuples(index=False)}
    predicted = {frozenset(pair) for pair in found.itertuples(index=False)}
    return {
        "seconds": seconds,
        "records": len(frame),
        "true_pairs": len(truth),
        "predicted_pairs": len(predicted),
        **_f1(predicted, truth),
    }


def part_product(csv_path: Path, workdir: Path, as_of: dt.datetime) -> dict:
    try:
        pipeline = importlib.import_module("leadshare.pipeline")
    except ModuleNotFoundError:
        return {"available": False, "reason": "leadshare.pipeline not found"}
    bench_stages = getattr(pipeline, "bench_stages", None)
    if bench_stages is None:
        return {"available": False, "reason": "leadshare.pipeline.bench_stages missing"}
    product_dir = workdir / f"product_{csv_path.stem}"
    # A store left by an earlier run would turn every lead into a duplicate.
    shutil.rmtree(product_dir, ignore_errors=True)
    product_dir.mkdir(parents=True)
    started = time.perf_counter()
    measured = bench_stages(csv_path, product_dir)
    seconds = time.perf_counter() - started
    stages = {
        name: float(value)
        for name, value in measured.items()
        if name not in ("placed", "task_runs")
    }
    return {
        "available": True,
        "seconds": seconds,
        "stages": stages,
        "stages_total": sum(stages.values()),
        "placed": measured.get("placed"),
        "task_runs": measured.get("task_runs"),
    }


PARTS = {
    "floor_pipeline": part_floor_pipeline,
    "floor_pipeline_stored": part_floor_pipeline_stored,
    "floor_fields": part_floor_fields,
    "floor_fuzzy": part_floor_fuzzy,
    "floor_gx": part_floor_gx,
    "product": part_product,
}


def run_child(part: str, csv_path: Path, workdir: Path, as_of: dt.datetime) -> None:
    """Run one part in this process and print its result as one JSON line."""
    result = PARTS[part](csv_path, workdir, as_of)
    result.update(own_peak_rss_mb())
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def run_part(part: str, csv_path: Path, workdir: Path, as_of: dt.datetime) -> dict:
    """Run a part in a fresh subprocess and add its peak RSS (process tree, MiB).

    The tree is polled every 50 ms and summed, so two worker processes count
    together. The child's own getrusage peak covers spikes shorter than a poll.
    """
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--part",
        part,
        "--csv",
        str(csv_path),
        "--workdir",
        str(workdir),
        "--as-of",
        as_of.isoformat(),
    ]
    load_before = os.getloadavg()[0]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    watched = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        try:
            peak = max(peak, _tree_rss(watched))
        except psutil.NoSuchProcess:
            break
        time.sleep(POLL_S)
    output = child.stdout.read() if child.stdout else ""
    lines = [line for line in output.splitlines() if line.startswith(RESULT_PREFIX)]
    if child.returncode != 0 or not lines:
        return {"error": f"{part} failed with exit code {child.returncode}"}
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    polled_mb = peak / 2**20
    result["peak_rss_mb"] = max(polled_mb, result["self_rss_mb"])
    result["load_before"] = load_before
    return result


def wait_for_idle(max_wait_s: float) -> None:
    """Wait until the 1-minute load average drops below half the cores, or time out.

    Other processes on a 2-core machine can double every figure, so a run waits a
    little for them to finish rather than measure them.
    """
    limit = (os.cpu_count() or 1) / 2
    deadline = time.monotonic() + max_wait_s
    while os.getloadavg()[0] > limit and time.monotonic() < deadline:
        time.sleep(5)


def generate_file(size: int, workdir: Path, as_of: dt.datetime) -> tuple[Path, float]:
    """Write the lead file in a subprocess and return its path and seconds.

    Generating 1M leads takes about 1 GB. On Linux a child process reports the peak
    RSS of its parent at fork as its own (getrusage survives exec), so this process
    must stay small for the parts' peaks to be their own.
    """
    path = workdir / f"leads_{size}.csv"
    script = (
        "import datetime as dt, sys, time\n"
        "from pathlib import Path\n"
        "from leadshare.generate import write_leads\n"
        "started = time.perf_counter()\n"
        "write_leads(Path(sys.argv[1]), int(sys.argv[2]), seed=int(sys.argv[3]),\n"
        "            start=dt.datetime.fromisoformat(sys.argv[4]))\n"
        "print(time.perf_counter() - started)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), str(size), str(SEED)]
        + [as_of.isoformat()],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return path, float(done.stdout.strip().splitlines()[-1])


def floor_for(stage: str) -> str:
    name = stage.lower()
    if any(word in name for word in FIXED_STAGE_WORDS):
        return "fixed"
    if any(word in name for word in FUZZY_STAGE_WORDS):
        return "floor_fuzzy"
    if any(word in name for word in GATE_STAGE_WORDS):
        return "floor_gx"
    if any(word in name for word in FIELD_STAGE_WORDS):
        return "floor_fields"
    return "floor_pipeline"


def _row(size: int, part: str, seconds: float | None) -> dict:
    leads_per_s = size / seconds if seconds else None
    return {"size": size, "part": part, "seconds": seconds, "leads_per_s": leads_per_s}


def _check(ok: bool) -> str:
    return "ok" if ok else "MISS"


def floor_rows(size: int, measured: dict) -> list[dict]:
    rows = []
    parts = ("floor_pipeline", "floor_pipeline_stored", "floor_fields", "floor_gx")
    for part in parts:
        result = measured[part]
        row = _row(size, part, result.get("seconds"))
        row["rss_mb"] = result.get("peak_rss_mb")
        row["placed"] = result.get("placed")
        row["note"] = result.get("error", "")
        if part == "floor_fields" and "rows_per_s_per_core" in result:
            row["note"] = f"{result['rows_per_s_per_core']:,.0f} rows/s per core"
        if part == "floor_gx" and "expectations" in result:
            row["note"] = (
                f"{result['expectations']} expectations on {result['columns']} "
                f"columns, {result['failed_rows']:,} rows failed"
            )
        if "load_before" in result:
            row["note"] += f" (load {result['load_before']:.1f} at start)"
        rows.append(row)
    return rows


def _ratio_row(
    size: int, label: str, seconds: float, floor_seconds: float | None, target: float
) -> dict:
    row = _row(size, label, seconds)
    if floor_seconds:
        row["ratio"] = seconds / floor_seconds
        row["target"] = f"<= {target:g}x {_check(row['ratio'] <= target)}"
    return row


def product_rows(size: int, measured: dict, fuzzy: dict | None) -> list[dict]:
    """Rows for the product's stages: per stage, per floor group, and the total."""
    product = measured["product"]
    if not product.get("available"):
        return []

    stages = product["stages"]
    floors = {
        "floor_pipeline": measured["floor_pipeline"].get("seconds"),
        "floor_fields": measured["floor_fields"].get("seconds"),
        "floor_gx": measured["floor_gx"].get("seconds"),
    }
    if fuzzy and fuzzy.get("seconds"):
        # splink's time per FEBRL record, scaled to this many leads.
        # NOTE: only speed is compared. bench_stages reports no F1, so "at equal F1"
        # has to be checked by the fuzzy dedup stage's own tests.
        floors["floor_fuzzy"] = fuzzy["seconds"] / fuzzy["records"] * size

    rows = []
    for stage, seconds in stages.items():
        floor = floor_for(stage)
        rows.append(
            _ratio_row(
                size, f"  {stage}", seconds, floors.get(floor), TARGETS.get(floor, 0)
            )
        )
    for floor in ("floor_pipeline", "floor_fields", "floor_gx", "floor_fuzzy"):
        group = [
            seconds for stage, seconds in stages.items() if floor_for(stage) == floor
        ]
        if group:
            label = f"  all vs {floor}"
            rows.append(
                _ratio_row(size, label, sum(group), floors.get(floor), TARGETS[floor])
            )
        if group and floor == "floor_pipeline":
            # The same stages against the floor that also stores every column.
            rows.append(
                _ratio_row(
                    size,
                    "  all vs floor_pipeline_stored",
                    sum(group),
                    measured["floor_pipeline_stored"].get("seconds"),
                    TARGETS[floor],
                )
            )

    total = _row(size, "product total", sum(stages.values()))
    total["product"] = True
    total["rss_mb"] = product.get("peak_rss_mb")
    total["placed"] = product.get("placed")
    total["task_runs"] = product.get("task_runs")
    floor_placed = measured["floor_pipeline"].get("placed")
    if product.get("placed") is not None and floor_placed is not None:
        enough = _check(product["placed"] >= floor_placed)
        total["note"] = f"placed >= floor {floor_placed}: {enough}"
    if "load_before" in product:
        total["note"] = total.get("note", "") + f" (load {product['load_before']:.1f})"
    rows.append(total)
    return rows


def scaling_rows(results: dict[int, dict]) -> list[dict]:
    """Rows for t(1M) / t(100k) of each floor and of the product total."""
    if 100_000 not in results or 1_000_000 not in results:
        return []
    rows = []
    small, large = results[100_000], results[1_000_000]
    limit = TARGETS["scaling"]
    for part, key in (
        ("floor_pipeline", "seconds"),
        ("floor_pipeline_stored", "seconds"),
        ("floor_fields", "seconds"),
        ("floor_gx", "seconds"),
        ("product", "stages_total"),
    ):
        before, after = small[part].get(key), large[part].get(key)
        if before and after:
            ratio = after / before
            rows.append(
                {
                    "size": 1_000_000,
                    "part": f"t(1M)/t(100k) {part}",
                    "ratio": ratio,
                    "target": f"<= {limit:g} {_check(ratio <= limit)}",
                }
            )
    return rows


def _cell(value: Any, spec: str) -> str:
    if value is None:
        return ""
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def print_table(rows: list[dict]) -> str:
    header = (
        f"{'size':>9}  {'part':<32} {'seconds':>8} {'leads/s':>10} {'ratio':>6} "
        f"{'target':<10} {'RSS MB':>7} {'placed':>7} {'tasks':>5}  note"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        rss = row.get("rss_mb")
        rss_text = _cell(rss, ",.0f")
        # The memory target applies to the product, so a floor may use more.
        if rss is not None and rss >= TARGETS["rss_mb"] and row.get("product"):
            rss_text += " MISS"
        lines.append(
            f"{_cell(row.get('size'), ',d'):>9}  {row['part']:<32} "
            f"{_cell(row.get('seconds'), '.2f'):>8} "
            f"{_cell(row.get('leads_per_s'), ',.0f'):>10} "
            f"{_cell(row.get('ratio'), '.2f'):>6} {row.get('target', ''):<10} "
            f"{rss_text:>7} {_cell(row.get('placed'), 'd'):>7} "
            f"{_cell(row.get('task_runs'), 'd'):>5}  {row.get('note', '')}"
        )
    text = "\n".join(lines)
    print(text)
    return text


def machine() -> dict[str, Any]:
    memory = psutil.virtual_memory().total / 2**30
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def fuzzy_rows(fuzzy: dict) -> list[dict]:
    if "error" in fuzzy:
        return [{"part": "floor_fuzzy (FEBRL dataset2)", "note": fuzzy["error"]}]
    note = (
        f"F1 {fuzzy['f1']:.3f} (P {fuzzy['precision']:.3f}, R {fuzzy['recall']:.3f}) "
        f"at p >= {FUZZY_THRESHOLD}"
    )
    return [
        {
            "size": fuzzy["records"],
            "part": "floor_fuzzy (FEBRL dataset2)",
            "seconds": fuzzy["seconds"],
            "leads_per_s": fuzzy["records"] / fuzzy["seconds"],
            "rss_mb": fuzzy.get("peak_rss_mb"),
            "note": note,
        }
    ]


def measure_size(
    size: int, workdir: Path, as_of: dt.datetime, idle_wait_s: float
) -> dict:
    csv_path, generate_s = generate_file(size, workdir, as_of)
    print(f"generated {size:,} leads in {generate_s:.1f} s (not counted)", flush=True)
    measured: dict[str, Any] = {"generate_s": generate_s}
    parts = ("floor_pipeline", "floor_pipeline_stored", "floor_fields", "floor_gx")
    for part in (*parts, "product"):
        wait_for_idle(idle_wait_s)
        measured[part] = run_part(part, csv_path, workdir, as_of)
    product = measured["product"]
    if not product.get("available"):
        reason = product.get("reason") or product.get("error", "")
        print(f"product stages: not available ({reason})", flush=True)
    csv_path.unlink(missing_ok=True)
    return measured


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help="comma-separated lead counts"
    )
    parser.add_argument("--workdir", type=Path, default=OUT_DIR / "work")
    parser.add_argument("--skip-fuzzy", action="store_true", help="skip floor_fuzzy")
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=120.0,
        help="max seconds to wait before each part for the load average to drop "
        "below half the cores (0: do not wait)",
    )
    parser.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--as-of", type=dt.datetime.fromisoformat, help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.part:
        run_child(args.part, args.csv, args.workdir, args.as_of)
        return 0

    sizes = [int(text.replace("_", "")) for text in args.sizes.split(",")]
    args.workdir.mkdir(parents=True, exist_ok=True)
    # The export time of the generated files; the product reads them "now".
    as_of = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    started = dt.datetime.now(dt.UTC)
    fuzzy = None
    if not args.skip_fuzzy:
        wait_for_idle(args.idle_wait)
        fuzzy = run_part("floor_fuzzy", Path("-"), args.workdir, as_of)
    results = {
        size: measure_size(size, args.workdir, as_of, args.idle_wait) for size in sizes
    }

    rows: list[dict] = fuzzy_rows(fuzzy) if fuzzy else []
    for size, measured in results.items():
        rows += floor_rows(size, measured)
        rows += product_rows(size, measured, fuzzy)
    rows += scaling_rows(results)
    print(f"\nleadshare bench, {started:%Y-%m-%d %H:%M} UTC, {machine()['cpus']} cores")
    table = print_table(rows)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    report = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "fuzzy": fuzzy,
        "sizes": {str(size): measured for size, measured in results.items()},
        "rows": rows,
        "table": table,
    }
    out = OUT_DIR / "results.json"
    out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
