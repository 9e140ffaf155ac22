"""Generate realistic, messy example leads in the generic source format.

Names, cities, regions, company suffixes, job titles and free-mail domains come from
Faker's locale word lists, read once per process. Rows are then drawn with numpy and
assembled with pyarrow compute functions, so a million leads take about 10 s on 2
cores (measured with bench/bench.py) where Faker's row-by-row API takes minutes.
Output is deterministic for a given ``seed`` and ``start``.

Run ``python -m leadshare.generate OUT.csv --rows N --seed S`` to write a file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib
import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from leadshare.model import LEAD_FIELDS
from leadshare.words import counted

logger = logging.getLogger(__name__)

INDUSTRIES = (
    "software",
    "manufacturing",
    "healthcare",
    "finance",
    "retail",
    "logistics",
    "education",
)
PRODUCTS = ("analytics", "crm", "erp", "security")
LEAD_SOURCES = ("web", "event", "referral", "partner", "ads")
ACTIVITIES = (
    "form_submit",
    "demo_request",
    "webinar",
    "email_click",
    "email_open",
    "page_visit",
    "event_visit",
)
STATUSES = ("new", "working", "nurturing", "qualified", "unqualified")
CONSENT_SOURCES = (
    "web_form",
    "event_badge_scan",
    "webinar_registration",
    "partner_form",
    "phone_call",
)
PLACEHOLDERS = ("Select", "N/A", "n/a", "-", "null")
COMPETITOR_DOMAINS = ("rivalcorp.example", "competitor.example")
"""Email domains of competitors, used by a few generated leads."""
STRATEGIC_ACCOUNTS = ("Globex", "Initech", "Umbrella")
"""Named accounts that a few generated leads work for, with a legal suffix added."""

ACTIVITY_WINDOW_DAYS = 60
"""last_activity_at falls within this many days before ``start``."""

_B2B_TITLES = (
    "CTO",
    "CIO",
    "CFO",
    "Head of IT",
    "IT Manager",
    "IT Director",
    "Head of Operations",
    "Operations Manager",
    "Procurement Manager",
    "Purchasing Lead",
    "Data Analyst",
    "Head of Data",
    "Sales Director",
    "VP Sales",
    "Marketing Manager",
    "Finance Manager",
    "Controller",
    "Security Officer",
    "Plant Manager",
    "Supply Chain Manager",
    "Office Manager",
    "Managing Director",
    "Founder",
    "Software Engineer",
    "Solutions Architect",
)
_COMPANY_STEMS = (
    "Nord",
    "Blue",
    "Alpha",
    "Data",
    "Green",
    "Bright",
    "Terra",
    "Nova",
    "Silver",
    "Vertex",
    "Quantum",
    "Pixel",
    "Iron",
    "Summit",
    "Cedar",
    "Orbit",
)
_COMPANY_TAILS = (
    "tech",
    "soft",
    "works",
    "logic",
    "labs",
    " Systems",
    "ware",
    "net",
    "med",
    " Logistics",
    " Solutions",
    " Digital",
)
_NOTES = (
    "Asked for a demo next week",
    "Met at the booth, wants pricing",
    "Budget approved for Q3, decision by the CFO",
    'Said "call after 3pm", prefers email',
    "Evaluating two other vendors",
    "Existing customer of a partner",
    "Needs a German-speaking contact",
    "Downloaded the whitepaper twice",
    "Follow-up:\ncall back on Monday",
    "Interested in a pilot, 50 seats",
)
_UNKNOWN_COUNTRIES = ("Atlantis", "XX", "EU", "Europe", "Other")


@dataclass(frozen=True)
class _CountrySpec:
    code: str
    weight: float
    locale: str
    tld: str
    names: tuple[str, ...]
    postcodes: tuple[str, ...]
    """Patterns: '#' any digit, '%' a digit 1-9, '?' an upper-case letter."""
    cities: tuple[str, ...] = ()
    """Used when Faker's locale has no city list."""
    regions: tuple[str, ...] = ()
    """Used when Faker's locale has no list of states, regions or provinces."""
    suffixes: tuple[str, ...] = ()
    free_mail: tuple[str, ...] = ()


_COUNTRIES = (
    _CountrySpec("DE", 0.27, "de_DE", "de", ("Germany", "Deutschland"), ("#####",)),
    _CountrySpec(
        "US",
        0.17,
        "en_US",
        "com",
        ("United States", "USA", "U.S."),
        ("#####", "#####", "#####-####"),
        cities=("New York", "Chicago", "Austin", "Boston", "Denver", "Seattle"),
    ),
    _CountrySpec(
        "GB",
        0.13,
        "en_GB",
        "co.uk",
        ("United Kingdom", "UK", "Great Britain"),
        ("?# #??", "??# #??", "??## #??"),
        cities=("London", "Manchester", "Leeds", "Bristol", "Glasgow", "Cardiff"),
        regions=("England", "Scotland", "Wales", "Northern Ireland"),
        suffixes=("Ltd", "Limited", "PLC", "LLP"),
    ),
    _CountrySpec(
        "FR",
        0.10,
        "fr_FR",
        "fr",
        ("France",),
        ("#####",),
        cities=("Paris", "Lyon", "Marseille", "Toulouse", "Lille", "Nantes"),
    ),
    _CountrySpec(
        "NL",
        0.07,
        "nl_NL",
        "nl",
        ("Netherlands", "Holland", "The Netherlands"),
        ("%### ??",),
        free_mail=("gmail.com", "hotmail.com", "outlook.com", "ziggo.nl", "kpnmail.nl"),
    ),
    _CountrySpec("AT", 0.06, "de_AT", "at", ("Austria", "Österreich"), ("%###",)),
    _CountrySpec(
        "CH",
        0.06,
        "de_CH",
        "ch",
        ("Switzerland", "Schweiz"),
        ("%###",),
        free_mail=("gmail.com", "bluewin.ch", "gmx.ch", "hotmail.com"),
    ),
    _CountrySpec(
        "ES",
        0.05,
        "es_ES",
        "es",
        ("Spain", "España"),
        ("#####",),
        cities=("Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Zaragoza"),
    ),
    _CountrySpec("IT", 0.05, "it_IT", "it", ("Italy", "Italia"), ("#####",)),
    _CountrySpec("SE", 0.04, "sv_SE", "se", ("Sweden", "Sverige"), ("%## ##",)),
)


@dataclass(frozen=True)
class _Rates:
    """Shares of rows that get each kind of mess, all zero for a clean file."""

    exact_duplicates: float
    fuzzy_duplicates: float
    blanks: float
    placeholders: float
    invalid_phones: float
    invalid_emails: float
    case_noise: float
    whitespace: float
    country_names: float
    unknown_countries: float
    lost_leading_zeros: float


_MESSY = _Rates(0.03, 0.02, 1.0, 1.0, 0.02, 0.005, 0.05, 0.02, 0.10, 0.005, 0.3)
_CLEAN = _Rates(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

_MISSING_SHARES = {
    # column: (share left blank, share holding a placeholder such as "Select")
    "email": (0.01, 0.0),
    "first_name": (0.01, 0.0),
    "last_name": (0.005, 0.0),
    "company": (0.01, 0.005),
    "job_title": (0.05, 0.02),
    "phone": (0.04, 0.01),
    "country": (0.02, 0.005),
    "region": (0.08, 0.02),
    "postcode": (0.03, 0.0),
    "city": (0.03, 0.0),
    "industry": (0.04, 0.03),
    "product": (0.02, 0.02),
    "company_size": (0.10, 0.02),
    "annual_revenue": (0.20, 0.01),
    "lead_source": (0.03, 0.01),
    "engagement": (0.03, 0.005),
    "last_activity": (0.05, 0.01),
    "last_activity_at": (0.01, 0.0),
    "status": (0.05, 0.02),
    "website": (0.0, 0.01),
}

Columns = dict[str, Any]
"""Column name -> pyarrow string array, or numpy array for internal columns."""


@dataclass(frozen=True)
class _Vocabulary:
    """Word lists of one country as Arrow arrays, with weights where Faker has them."""

    first_names: pa.Array
    first_ascii: pa.Array
    first_weights: np.ndarray | None
    last_names: pa.Array
    last_ascii: pa.Array
    last_weights: np.ndarray | None
    suffixes: pa.Array
    cities: pa.Array
    regions: pa.Array
    free_mail: pa.Array
    phone_templates: tuple[tuple[str, ...], ...]
    """Per number type: national, international, E.164, 00-prefixed, dotted and
    "+49 (0)30" styles, each with its last six digits as '#'."""


def _strings(values: Any) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _faker_list(kind: str, locale: str, attribute: str) -> Any:
    try:
        module = importlib.import_module(f"faker.providers.{kind}.{locale}")
    except ImportError:
        return None
    return getattr(module.Provider, attribute, None)


def _first_list(kind: str, locale: str, *attributes: str) -> Any:
    for attribute in attributes:
        raw = _faker_list(kind, locale, attribute)
        if raw:
            return raw
    return None


def _words(raw: Any) -> tuple[list[str], np.ndarray | None]:
    """Split a Faker list (a sequence, or a value -> weight mapping) into values and
    normalised weights. Pairs such as Swiss cantons ('AG', 'Aargau') give the name."""
    if isinstance(raw, dict):
        weights = np.array(list(raw.values()), dtype=float)
        return list(raw), weights / weights.sum()
    return [item[1] if isinstance(item, tuple) else item for item in raw], None


@functools.cache
def _ascii_fold(text: str) -> str:
    """Spell a name the way it appears in an email address: 'Müller' -> 'mueller'."""
    text = text.lower()
    for source, target in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(source, target)
    text = text.replace("ø", "o").replace("ł", "l").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if char.isalnum() and char.isascii())


@functools.cache
def _vocabulary(code: str) -> _Vocabulary:
    spec = _spec(code)
    locale = spec.locale
    first, first_weights = _words(_faker_list("person", locale, "first_names"))
    last, last_weights = _words(_faker_list("person", locale, "last_names"))
    suffixes = spec.suffixes or _faker_list("company", locale, "company_suffixes")
    # Faker builds some city lists from a set, whose order changes with the hash
    # seed of each process. Sorted, the same seed gives the same file in any process.
    cities = spec.cities or sorted(_faker_list("address", locale, "cities") or ())
    regions = spec.regions or _first_list(
        "address", locale, "states", "regions", "provinces", "cantons"
    )
    free_mail = spec.free_mail or _faker_list("internet", locale, "free_email_domains")
    return _Vocabulary(
        first_names=_strings(first),
        first_ascii=_strings(_ascii_fold(name) for name in first),
        first_weights=first_weights,
        last_names=_strings(last),
        last_ascii=_strings(_ascii_fold(name) for name in last),
        last_weights=last_weights,
        suffixes=_strings(_words(suffixes)[0]),
        cities=_strings(_words(cities)[0]),
        regions=_strings(_words(regions)[0]),
        free_mail=_strings(sorted(set(free_mail) | {"gmail.com"})),
        phone_templates=_phone_templates(code),
    )


@functools.cache
def _job_titles() -> pa.Array:
    faker_jobs = _faker_list("job", "en_US", "jobs")
    return _strings(list(_B2B_TITLES) * 30 + list(faker_jobs))


@functools.cache
def _invented_company_names() -> tuple[pa.Array, pa.Array]:
    """List every stem + tail name ('Nordtech', 'Blue Systems') and its domain label."""
    names = [stem + tail for stem in _COMPANY_STEMS for tail in _COMPANY_TAILS]
    return _strings(names), _strings(_ascii_fold(name) for name in names)


@functools.cache
def _clock_times() -> pa.Array:
    """List 'HH:MM:SS' for every second of a day, indexed by second of the day."""
    return _strings(
        f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        for second in range(86_400)
    )


def _spec(code: str) -> _CountrySpec:
    for spec in _COUNTRIES:
        if spec.code == code:
            return spec
    raise KeyError(f"no country spec for {code!r}")


def _phone_templates(code: str) -> tuple[tuple[str, ...], ...]:
    """Format phonenumbers' example numbers of one region in the styles people type.

    Replacing the last six digits of an example number kept it valid in every region
    above (phonenumbers 9.0.43, 300 random tries per region and type).
    """
    templates = []
    for number_type in (
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
    ):
        example = phonenumbers.example_number_for_type(code, number_type)
        formats = phonenumbers.PhoneNumberFormat
        national = phonenumbers.format_number(example, formats.NATIONAL)
        international = phonenumbers.format_number(example, formats.INTERNATIONAL)
        e164 = phonenumbers.format_number(example, formats.E164)
        dotted = national.replace(" ", ".").replace("-", ".")
        country_code, rest = international.split(" ", 1)
        # "+49 (0)30 ..." mixes the international and the national prefix.
        trunk = (
            f"{country_code} (0){rest}" if national.startswith("0") else international
        )
        styles = (national, international, e164, "00" + e164[1:], dotted, trunk)
        templates.append(tuple(_mask_last_digits(style, 6) for style in styles))
    return tuple(templates)


def _mask_last_digits(text: str, count: int) -> str:
    chars = list(text)
    for position in range(len(chars) - 1, -1, -1):
        if count == 0:
            break
        if chars[position].isdigit():
            chars[position] = "#"
            count -= 1
    return "".join(chars)


def _fixed_width(matrix: np.ndarray) -> pa.Array:
    """Turn an (n, width) matrix of ASCII bytes into n strings without a Python loop."""
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _pick(rng: np.random.Generator, values: Any, n: int, p: Any = None) -> pa.Array:
    pool = (
        values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    )
    if p is not None:
        p = np.asarray(p, dtype=float)
        p = p / p.sum()
    return pool.take(rng.choice(len(pool), size=n, p=p))


def _join(*parts: Any) -> pa.Array:
    """Concatenate arrays and literal strings row by row. A null part gives null."""
    return pc.binary_join_element_wise(*parts, "")


def _rows(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    return rng.random(n) < share


def _present(values: pa.Array) -> np.ndarray:
    """Rows that hold a real value: not null, not a placeholder."""
    placeholder = pc.is_in(values, value_set=_strings(PLACEHOLDERS))
    return np.asarray(
        pc.and_(values.is_valid(), pc.invert(placeholder)).fill_null(False)
    )


def _map_rows(
    values: pa.Array, mask: np.ndarray, change: Any, extra: np.ndarray | None = None
) -> pa.Array:
    """Replace the masked, non-null values by change(value) or change(value, extra).

    Runs in Python, so keep the mask to a few per cent of the rows.
    """
    mask = mask & np.asarray(values.is_valid())
    if not mask.any():
        return values
    selected = values.filter(mask).to_pylist()
    if extra is None:
        changed = [change(value) for value in selected]
    else:
        changed = [
            change(v, e) for v, e in zip(selected, extra[mask].tolist(), strict=True)
        ]
    return pc.replace_with_mask(values, pa.array(mask), _strings(changed))


def _company_cores(
    rng: np.random.Generator, vocabulary: _Vocabulary, n: int
) -> tuple[pa.Array, pa.Array]:
    """Draw company names without suffix and the matching domain labels."""
    first = rng.integers(0, len(vocabulary.last_names), n)
    second = rng.integers(0, len(vocabulary.last_names), n)
    invented_names, invented_labels = _invented_company_names()
    invented = rng.integers(0, len(invented_names), n)
    style = rng.choice(3, n, p=[0.45, 0.15, 0.40]).astype(np.int8)

    core = pc.choose(
        pa.array(style),
        vocabulary.last_names.take(first),
        _join(
            vocabulary.last_names.take(first), " & ", vocabulary.last_names.take(second)
        ),
        invented_names.take(invented),
    )
    label = pc.choose(
        pa.array(style),
        vocabulary.last_ascii.take(first),
        _join(
            vocabulary.last_ascii.take(first), "-", vocabulary.last_ascii.take(second)
        ),
        invented_labels.take(invented),
    )
    return core, label


def _special_companies(
    rng: np.random.Generator, spec: _CountrySpec
) -> tuple[list[str], list[str]]:
    """Names and domains of the strategic accounts and the competitor in US and DE."""
    if spec.code not in ("US", "DE"):
        return [], []
    suffixes = _pick(rng, _vocabulary(spec.code).suffixes, len(STRATEGIC_ACCOUNTS))
    names = [
        f"{account} {suffix}"
        for account, suffix in zip(
            STRATEGIC_ACCOUNTS, suffixes.to_pylist(), strict=True
        )
    ]
    domains = [f"{account.lower()}.{spec.tld}" for account in STRATEGIC_ACCOUNTS]
    if spec.code == "US":
        return names + ["RivalCorp Inc"], domains + [COMPETITOR_DOMAINS[0]]
    return names + ["Competitor Example GmbH"], domains + [COMPETITOR_DOMAINS[1]]


def _draw_companies(
    rng: np.random.Generator, spec: _CountrySpec, count: int
) -> Columns:
    """Draw the companies of one country, with the special ones last."""
    vocabulary = _vocabulary(spec.code)
    core, label = _company_cores(rng, vocabulary, count)
    special_names, special_domains = _special_companies(rng, spec)
    total = count + len(special_names)
    names = _join(core, " ", _pick(rng, vocabulary.suffixes, count))
    domains = _join(label, "." + spec.tld)
    sizes = np.round(rng.lognormal(4.0, 1.5, count)).astype(np.int64)
    special_sizes = rng.integers(2_000, 50_000, len(special_names))
    industry_weights = [0.3, 0.2, 0.12, 0.12, 0.1, 0.1, 0.06]
    return {
        "name": pa.concat_arrays([names, _strings(special_names)]),
        "domain": pa.concat_arrays([domains, _strings(special_domains)]),
        "size": np.concatenate([np.clip(sizes, 1, 200_000), special_sizes]),
        "industry": _pick(rng, INDUSTRIES, total, industry_weights),
        "special": np.arange(total) >= count,
    }


def _assign_companies(
    rng: np.random.Generator, n: int, regular: int, total: int
) -> np.ndarray:
    """Map each lead to a company, 1.5 % of them to the special ones if there are any.

    Small company indices get more leads, so some companies have many contacts.
    """
    index = (regular * rng.random(n) ** 1.6).astype(np.int64)
    if total > regular:
        special = _rows(rng, n, 0.015)
        index[special] = rng.integers(regular, total, int(special.sum()))
    return index


@dataclass(frozen=True)
class _Pool:
    """One word list of every country, concatenated in _COUNTRIES order."""

    values: pa.Array
    starts: np.ndarray
    sizes: np.ndarray
    cdfs: tuple[np.ndarray | None, ...]
    """Cumulative weights per country, or None to draw uniformly."""


@functools.cache
def _pool(attribute: str, weights: str | None = None) -> _Pool:
    vocabularies = [_vocabulary(spec.code) for spec in _COUNTRIES]
    lists = [getattr(vocabulary, attribute) for vocabulary in vocabularies]
    sizes = np.array([len(values) for values in lists], dtype=np.int64)
    cdfs = []
    for vocabulary in vocabularies:
        country_weights = getattr(vocabulary, weights) if weights else None
        cdfs.append(None if country_weights is None else np.cumsum(country_weights))
    return _Pool(
        values=pa.concat_arrays(lists),
        starts=np.concatenate([[0], np.cumsum(sizes)[:-1]]),
        sizes=sizes,
        cdfs=tuple(cdfs),
    )


def _pool_indices(
    rng: np.random.Generator, groups: list[np.ndarray], pool: _Pool
) -> np.ndarray:
    """Draw, for every row, an index into pool from the row's own country's list."""
    uniform = rng.random(sum(len(rows) for rows in groups))
    index = np.empty(len(uniform), dtype=np.int64)
    for country, rows in enumerate(groups):
        draws = uniform[rows]
        cdf = pool.cdfs[country]
        if cdf is None:
            local = (draws * pool.sizes[country]).astype(np.int64)
        else:
            local = np.searchsorted(cdf, draws * cdf[-1], side="right")
        index[rows] = pool.starts[country] + np.minimum(local, pool.sizes[country] - 1)
    return index


def _fill_templates(
    rng: np.random.Generator, templates: tuple[str, ...], which: np.ndarray
) -> pa.Array:
    """Fill templates[which[i]] for every row i: '#' a digit, '%' 1-9, '?' A-Z.

    Builds all rows in one padded byte matrix and drops the padding, so a million
    values need no Python loop. Templates must be ASCII.
    """
    width = max(len(template) for template in templates)
    table = np.zeros((len(templates), width), dtype=np.uint8)
    for row, template in enumerate(templates):
        table[row, : len(template)] = np.frombuffer(template.encode("ascii"), np.uint8)
    matrix = table[which]
    for marker, low, high in (
        (b"#", b"0", b"9"),
        (b"%", b"1", b"9"),
        (b"?", b"A", b"Z"),
    ):
        if any(marker.decode() in template for template in templates):
            drawn = rng.integers(low[0], high[0] + 1, matrix.shape, dtype=np.uint8)
            matrix = np.where(matrix == marker[0], drawn, matrix)
    lengths = np.array([len(template) for template in templates])[which]
    data = matrix[np.arange(width) < lengths[:, None]]
    offsets = np.zeros(len(which) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.StringArray.from_buffers(
        len(which), pa.py_buffer(offsets), pa.py_buffer(data)
    )


@functools.cache
def _all_phone_templates() -> tuple[str, ...]:
    """List every country's phone templates (2 types x 6 styles) in _COUNTRIES order."""
    return tuple(
        template
        for spec in _COUNTRIES
        for styles in _vocabulary(spec.code).phone_templates
        for template in styles
    )


def _draw_phones(
    rng: np.random.Generator, country: np.ndarray, messy: bool
) -> pa.Array:
    """Draw valid numbers of each row's country in national and international styles."""
    if messy:
        style_weights = [0.40, 0.33, 0.12, 0.05, 0.05, 0.05]
    else:
        style_weights = [0.0, 0.5, 0.5, 0.0, 0.0, 0.0]
    n = len(country)
    style = rng.choice(len(style_weights), n, p=style_weights)
    number_type = rng.integers(0, 2, n)
    which = country * 2 * len(style_weights) + number_type * len(style_weights) + style
    return _fill_templates(rng, _all_phone_templates(), which)


def _draw_postcodes(rng: np.random.Generator, country: np.ndarray) -> pa.Array:
    patterns = tuple(pattern for spec in _COUNTRIES for pattern in spec.postcodes)
    counts = np.array([len(spec.postcodes) for spec in _COUNTRIES])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    local = (rng.random(len(country)) * counts[country]).astype(np.int64)
    return _fill_templates(rng, patterns, starts[country] + local)


def _draw_employers(rng: np.random.Generator, groups: list[np.ndarray]) -> Columns:
    """Draw each country's companies and give every lead one of its country's."""
    tables: list[Columns] = []
    index = np.empty(sum(len(rows) for rows in groups), dtype=np.int64)
    start = 0
    for spec, rows in zip(_COUNTRIES, groups, strict=True):
        if not len(rows):
            continue
        companies = _draw_companies(rng, spec, max(3, len(rows) // 4))
        total = len(companies["special"])
        regular = int((~companies["special"]).sum())
        index[rows] = start + _assign_companies(rng, len(rows), regular, total)
        tables.append(companies)
        start += total
    table = _concat_parts(tables)
    return {
        "company": table["name"].take(index),
        "domain": table["domain"].take(index),
        "company_size": table["size"][index],
        "industry": table["industry"].take(index),
        "special": table["special"][index],
    }


def _draw_people(rng: np.random.Generator, n: int, messy: bool) -> Columns:
    """Draw n leads in random country order: person, employer, address and phone."""
    weights = np.array([spec.weight for spec in _COUNTRIES])
    country = rng.choice(len(_COUNTRIES), n, p=weights / weights.sum())
    groups = [np.flatnonzero(country == index) for index in range(len(_COUNTRIES))]
    first = _pool_indices(rng, groups, _pool("first_names", "first_weights"))
    last = _pool_indices(rng, groups, _pool("last_names", "last_weights"))
    columns = {
        "country": _strings(spec.code for spec in _COUNTRIES).take(country),
        "first_name": _pool("first_names").values.take(first),
        "last_name": _pool("last_names").values.take(last),
        "first_ascii": _pool("first_ascii").values.take(first),
        "last_ascii": _pool("last_ascii").values.take(last),
        "free_mail": _pool("free_mail").values.take(
            _pool_indices(rng, groups, _pool("free_mail"))
        ),
        "city": _pool("cities").values.take(
            _pool_indices(rng, groups, _pool("cities"))
        ),
        "region": _pool("regions").values.take(
            _pool_indices(rng, groups, _pool("regions"))
        ),
        "postcode": _draw_postcodes(rng, country),
        "phone": _draw_phones(rng, country, messy),
    }
    columns.update(_draw_employers(rng, groups))
    return columns


def _concat_parts(parts: list[Columns]) -> Columns:
    columns: Columns = {}
    for name, first in parts[0].items():
        pieces = [part[name] for part in parts]
        if isinstance(first, np.ndarray):
            columns[name] = np.concatenate(pieces)
        else:
            columns[name] = pa.concat_arrays(pieces)
    return columns


def _business_locals(
    rng: np.random.Generator, first: pa.Array, last: pa.Array
) -> pa.Array:
    """Build the local part the way company mail servers do: jane.doe, jdoe, ..."""
    initial = pc.utf8_slice_codeunits(first, 0, 1)
    which = rng.choice(5, len(first), p=[0.55, 0.2, 0.1, 0.05, 0.1]).astype(np.int8)
    return pc.choose(
        pa.array(which),
        _join(first, ".", last),
        _join(initial, last),
        first,
        _join(first, "_", last),
        _join(initial, ".", last),
    )


def _free_mail_locals(
    rng: np.random.Generator, first: pa.Array, last: pa.Array
) -> pa.Array:
    """Build private local parts. Most carry digits, as common names are taken."""
    n = len(first)
    separator = _pick(rng, [".", "", "_"], n, [0.6, 0.3, 0.1])
    digits = pa.array(rng.integers(1, 100, n)).cast(pa.string())
    local = _join(first, separator, last)
    return pc.if_else(_rows(rng, n, 0.7), _join(local, digits), local)


def _vary_gmail(email: str, variant: int) -> str:
    """Add a plus tag, move a dot or switch to googlemail.com.

    Gmail delivers all three variants to the same mailbox.
    """
    local, _, domain = email.partition("@")
    if variant == 0:
        return f"{local}+news@{domain}"
    if variant == 1:
        plain = local.replace(".", "")
        return f"{plain[:2]}.{plain[2:]}@{domain}"
    return f"{local}@googlemail.com"


def _draw_emails(rng: np.random.Generator, people: Columns) -> pa.Array:
    """Draw business addresses at the company domain or private free-mail ones.

    Leads of strategic and competitor companies always use the company domain.
    """
    n = len(people["domain"])
    first, last = people["first_ascii"], people["last_ascii"]
    business = _join(_business_locals(rng, first, last), "@", people["domain"])
    private = _join(_free_mail_locals(rng, first, last), "@", people["free_mail"])
    use_private = _rows(rng, n, 0.28) & ~people["special"]
    emails = pc.if_else(use_private, private, business)

    is_gmail = np.asarray(pc.ends_with(emails, "@gmail.com"))
    tweaked = is_gmail & _rows(rng, n, 0.35)
    return _map_rows(emails, tweaked, _vary_gmail, rng.integers(0, 3, n))


def _as_of(start: dt.datetime | None) -> dt.datetime:
    if start is None:
        now = dt.datetime.now(dt.UTC)
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if start.tzinfo is None:
        raise ValueError(
            f"start {start.isoformat()} has no time zone; pass an aware datetime, "
            "for example datetime(2025, 3, 1, tzinfo=UTC)"
        )
    return start.astimezone(dt.UTC)


def _date_and_time(epoch_s: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Split Unix seconds into 'YYYY-MM-DD' and 'HH:MM:SS' strings (UTC).

    Dates are formatted once per distinct day and times come from a table of all
    86,400 seconds, so no per-row formatting is needed.
    """
    days, second_of_day = np.divmod(epoch_s, 86_400)
    distinct_days, day_index = np.unique(days, return_inverse=True)
    day_text = np.datetime_as_string(distinct_days.astype("datetime64[D]"))
    dates = _strings(day_text.tolist()).take(day_index)
    return dates, _clock_times().take(second_of_day)


def _timestamps(
    rng: np.random.Generator, as_of: dt.datetime, ages_s: np.ndarray, messy: bool
) -> pa.Array:
    """Format as_of minus each age in ISO 8601 (UTC, 'Z').

    Messy rows also use +01:00 or +02:00 offsets (same instant), milliseconds, or a
    naive 'YYYY-MM-DD HH:MM:SS' without zone.
    """
    moments = int(as_of.timestamp()) - ages_s
    date, clock = _date_and_time(moments)
    text = _join(date, "T", clock, "Z")
    if not messy:
        return text
    style = rng.choice(4, len(ages_s), p=[0.85, 0.10, 0.03, 0.02])

    offset = style == 1
    hours = rng.integers(1, 3, int(offset.sum()))
    local_date, local_clock = _date_and_time(moments[offset] + 3600 * hours)
    suffix = pa.array(np.where(hours == 1, "+01:00", "+02:00"))
    text = _replace_rows(text, offset, _join(local_date, "T", local_clock, suffix))

    naive = style == 2
    text = _replace_rows(
        text, naive, _join(date.filter(naive), " ", clock.filter(naive))
    )

    millis = style == 3
    digits = pc.utf8_lpad(_as_text(rng.integers(0, 1000, int(millis.sum()))), 3, "0")
    with_ms = _join(date.filter(millis), "T", clock.filter(millis), ".", digits, "Z")
    return _replace_rows(text, millis, with_ms)


def _activity_ages(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds before as_of: 70 % within 30 days, the rest 30 to 60 days back."""
    day = 86_400
    recent = rng.integers(0, 30 * day, n)
    older = rng.integers(30 * day, ACTIVITY_WINDOW_DAYS * day, n)
    return np.where(_rows(rng, n, 0.7), recent, older)


def _as_text(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())


def _draw_sales_fields(
    rng: np.random.Generator, company_size: np.ndarray, messy: bool
) -> Columns:
    """Draw product, revenue, source, engagement, title, status and notes."""
    n = len(company_size)
    revenue = _as_text(company_size * rng.integers(60, 300, n) * 1000)
    if messy:
        revenue = pc.if_else(_rows(rng, n, 0.1), _join(revenue, ".00"), revenue)
    engagement = np.clip(np.round(rng.beta(2, 3, n) * 100), 0, 100).astype(np.int64)
    notes = pc.if_else(_rows(rng, n, 0.15), _pick(rng, _NOTES, n), None)
    return {
        "product": _pick(rng, PRODUCTS, n, [0.3, 0.3, 0.2, 0.2]),
        "company_size": _as_text(company_size),
        "annual_revenue": revenue,
        "lead_source": _pick(rng, LEAD_SOURCES, n, [0.4, 0.2, 0.1, 0.1, 0.2]),
        "engagement": _as_text(engagement),
        "last_activity": _pick(rng, ACTIVITIES, n),
        "status": _pick(rng, STATUSES, n, [0.5, 0.2, 0.15, 0.1, 0.05]),
        "job_title": _pick(rng, _job_titles(), n),
        "notes": notes,
    }


def _draw_websites(rng: np.random.Generator, domains: pa.Array) -> pa.Array:
    which = rng.choice(5, len(domains), p=[0.5, 0.15, 0.15, 0.05, 0.15])
    return pc.choose(
        pa.array(which.astype(np.int8)),
        _join("https://www.", domains),
        domains,
        _join("www.", domains),
        _join("http://", domains, "/"),
        pa.nulls(len(domains), pa.string()),
    )


def _sparse_timestamps(
    rng: np.random.Generator,
    as_of: dt.datetime,
    mask: np.ndarray,
    max_age_s: int,
    messy: bool,
) -> pa.Array:
    """Timestamps up to max_age_s before as_of in the masked rows, null elsewhere."""
    count = int(mask.sum())
    values = _timestamps(rng, as_of, rng.integers(0, max_age_s, count), messy)
    return _replace_rows(pa.nulls(len(mask), pa.string()), mask, values)


def _draw_consent(
    rng: np.random.Generator, n: int, as_of: dt.datetime, messy: bool
) -> Columns:
    """Draw consent to share and opt-outs. In messy files 5 % of the consent values
    (yes or no) come without source and time."""
    day = 86_400
    answer = rng.choice(3, n, p=[0.6, 0.2, 0.2])
    share = pc.if_else(answer < 2, _strings(["yes", "no", ""]).take(answer), None)
    evidence = (answer < 2) & ~_rows(rng, n, 0.05 if messy else 0.0)
    consent_at = _sparse_timestamps(rng, as_of, evidence, 400 * day, messy)

    if messy:
        flag_values = ["false", "true", "no", "yes", "FALSE", "True", None]
        flag_weights = [0.55, 0.04, 0.15, 0.02, 0.05, 0.01, 0.18]
    else:
        flag_values, flag_weights = ["false", "true"], [0.95, 0.05]
    do_not_email = _pick(rng, flag_values, n, flag_weights)
    opted_out = pc.is_in(do_not_email, value_set=_strings(["true", "yes", "True"]))
    unsubscribed = (np.asarray(opted_out) & _rows(rng, n, 0.6)) | _rows(rng, n, 0.005)
    return {
        "consent_share": share,
        "consent_source": pc.if_else(evidence, _pick(rng, CONSENT_SOURCES, n), None),
        "consent_at": consent_at,
        "do_not_email": do_not_email,
        "do_not_call": _pick(rng, flag_values, n, flag_weights),
        "unsubscribed_at": _sparse_timestamps(
            rng, as_of, unsubscribed, 200 * day, messy
        ),
    }


def _draw_base(
    rng: np.random.Generator, n: int, as_of: dt.datetime, messy: bool
) -> Columns:
    """Draw n distinct, well-formed leads. Mess and duplicates are added later."""
    columns = _draw_people(rng, n, messy)
    columns["email"] = _draw_emails(rng, columns)
    columns["website"] = _draw_websites(rng, columns.pop("domain"))
    del columns["free_mail"], columns["special"]
    columns.update(_draw_sales_fields(rng, columns.pop("company_size"), messy))
    activity_ages = _activity_ages(rng, n)
    columns["last_activity_at"] = _timestamps(rng, as_of, activity_ages, messy)
    columns.update(_draw_consent(rng, n, as_of, messy))
    return columns


def _break_phone(phone: str) -> str:
    """Make a phone number invalid the ways forms do: cut short or typed as words."""
    if len(phone) % 3 == 0:
        return phone[: len(phone) // 2]
    if len(phone) % 3 == 1:
        return "12345"
    return "call me"


def _break_email(email: str) -> str:
    """Make an address invalid: no domain, a doubled '@', or spaces in it."""
    local, _, domain = email.partition("@")
    if len(local) % 3 == 0:
        return local + "@"
    if len(local) % 3 == 1:
        return f"{local}@@{domain}"
    return f"{local.replace('.', ' ')}@{domain} x"


def _replace_rows(
    values: pa.Array, mask: np.ndarray, replacements: pa.Array
) -> pa.Array:
    """Put replacements (one per true mask entry, in order) into the masked rows."""
    if not mask.any():
        return values
    return pc.replace_with_mask(values, pa.array(mask), replacements)


def _sometimes(
    rng: np.random.Generator, values: pa.Array, share: float, transform: Any
) -> pa.Array:
    """Apply an Arrow transform to about share of the rows, chosen at random."""
    mask = _rows(rng, len(values), share)
    return _replace_rows(values, mask, transform(values.filter(mask)))


def _display_countries(
    rng: np.random.Generator, codes: pa.Array, rates: _Rates
) -> pa.Array:
    """Write some countries as names or aliases ('Holland'), lower case or unknown."""
    n = len(codes)
    by_name = _rows(rng, n, rates.country_names)
    shown = codes
    for spec in _COUNTRIES:
        mask = by_name & np.asarray(pc.equal(codes, spec.code))
        shown = _replace_rows(shown, mask, _pick(rng, spec.names, int(mask.sum())))
    lower = _rows(rng, n, rates.case_noise / 2) & ~by_name
    shown = _replace_rows(shown, lower, pc.utf8_lower(shown.filter(lower)))
    unknown = _rows(rng, n, rates.unknown_countries)
    return _replace_rows(
        shown, unknown, _pick(rng, _UNKNOWN_COUNTRIES, int(unknown.sum()))
    )


def _add_case_noise(rng: np.random.Generator, columns: Columns, share: float) -> None:
    columns["email"] = _sometimes(rng, columns["email"], share / 2, pc.utf8_upper)
    columns["email"] = _sometimes(rng, columns["email"], share / 2, pc.utf8_title)
    columns["first_name"] = _sometimes(
        rng, columns["first_name"], share / 5, pc.utf8_lower
    )
    columns["last_name"] = _sometimes(
        rng, columns["last_name"], share / 5, pc.utf8_upper
    )
    # 'Mueller' for 'Müller': the spelling people use on keyboards without umlauts.
    folded = _rows(rng, len(columns["last_name"]), share / 5)
    replacements = pc.utf8_capitalize(columns["last_ascii"].filter(folded))
    columns["last_name"] = _replace_rows(columns["last_name"], folded, replacements)
    columns["company"] = _sometimes(rng, columns["company"], share / 5, pc.utf8_lower)
    for name in ("industry", "lead_source", "consent_share"):
        columns[name] = _sometimes(rng, columns[name], share, pc.utf8_capitalize)
    columns["product"] = _sometimes(rng, columns["product"], share, pc.utf8_upper)


def _add_missing(rng: np.random.Generator, columns: Columns, rates: _Rates) -> None:
    """Blank some cells and put placeholders such as 'Select' or 'N/A' in others."""
    for name, (blank_share, placeholder_share) in _MISSING_SHARES.items():
        values = columns[name]
        draw = rng.random(len(values))
        blank = draw < blank_share * rates.blanks
        placeholder_limit = (blank_share + placeholder_share) * rates.placeholders
        placeholder = ~blank & (draw < placeholder_limit)
        placeholders = _pick(rng, PLACEHOLDERS, int(placeholder.sum()))
        values = _replace_rows(values, placeholder, placeholders)
        columns[name] = pc.if_else(blank, None, values)


def _pad_with_spaces(values: pa.Array) -> pa.Array:
    return _join(" ", values, " ")


def _strip_zeros(values: pa.Array) -> pa.Array:
    return pc.utf8_ltrim(values, "0")


def _add_mess(rng: np.random.Generator, columns: Columns, rates: _Rates) -> None:
    """Add the noise real exports carry, in place. A clean file stays unchanged."""
    if rates == _CLEAN:
        return
    n = len(columns["email"])
    columns["country"] = _display_countries(rng, columns["country"], rates)
    _add_case_noise(rng, columns, rates.case_noise)
    for name in ("email", "company", "first_name"):
        columns[name] = _sometimes(
            rng, columns[name], rates.whitespace, _pad_with_spaces
        )
    broken = _rows(rng, n, rates.invalid_phones)
    columns["phone"] = _map_rows(columns["phone"], broken, _break_phone)
    broken = _rows(rng, n, rates.invalid_emails)
    columns["email"] = _map_rows(columns["email"], broken, _break_email)
    # A spreadsheet turns the postcode '01067' into the number 1067.
    postcode = columns["postcode"]
    lost = np.asarray(pc.starts_with(postcode, "0")) & _rows(
        rng, n, rates.lost_leading_zeros
    )
    columns["postcode"] = _replace_rows(
        postcode, lost, _strip_zeros(postcode.filter(lost))
    )
    _add_missing(rng, columns, rates)


def _change_case(email: str) -> str:
    """Return the address in another letter case, so only a case-blind match hits."""
    if len(email) % 2 == 0 and email.title() != email:
        return email.title()
    return email.upper() if email != email.upper() else email.lower()


def _typo(text: str, position: int) -> str:
    """Swap two neighbouring letters, or drop one from a short word."""
    if len(text) < 3:
        return text + text[-1:]
    position = 1 + position % (len(text) - 2)
    dropped = text[:position] + text[position + 1 :]
    swapped = (
        text[:position] + text[position + 1] + text[position] + text[position + 2 :]
    )
    if len(text) < 5 or swapped == text:
        return dropped
    return swapped


def _take_rows(columns: Columns, rows: np.ndarray) -> Columns:
    return {
        name: values[rows] if isinstance(values, np.ndarray) else values.take(rows)
        for name, values in columns.items()
    }


def _pick_duplicates(
    rng: np.random.Generator, columns: Columns, rates: _Rates
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose which rows become copies, and of which source rows.

    Returns the source row of every row (itself for an original) and the rows of
    exact and of fuzzy copies. Exact copies need an email; fuzzy copies need a
    phone and a last name. Sources are never copies themselves.
    """
    n = len(columns["email"])
    exact_count = round(n * rates.exact_duplicates)
    fuzzy_count = round(n * rates.fuzzy_duplicates)
    copies = rng.choice(n, exact_count + fuzzy_count, replace=False)
    exact, fuzzy = copies[:exact_count], copies[exact_count:]
    original = np.ones(n, dtype=bool)
    original[copies] = False
    has_email = np.flatnonzero(original & _present(columns["email"]))
    has_phone = np.flatnonzero(
        original & _present(columns["phone"]) & _present(columns["last_name"])
    )
    source = np.arange(n)
    if exact_count:
        source[exact] = rng.choice(has_email, exact_count)
    if fuzzy_count:
        source[fuzzy] = rng.choice(has_phone, fuzzy_count)
    return source, exact, fuzzy


def _change_exact_copies(columns: Columns, exact: np.ndarray) -> None:
    """Write the email of each exact copy (mask) in another letter case."""
    columns["email"] = _map_rows(columns["email"], exact, _change_case)


def _change_fuzzy_copies(
    rng: np.random.Generator, columns: Columns, fuzzy: np.ndarray
) -> None:
    """Add a typo to a name or the company of each fuzzy copy (mask); keep the phone.

    The copy gets a private gmail address, or none, so an email match misses it.
    """
    n = len(columns["email"])
    field = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    positions = rng.integers(0, 1000, n)
    for field_index, name in enumerate(("last_name", "company", "first_name")):
        mask = fuzzy & (field == field_index) & _present(columns[name])
        columns[name] = _map_rows(columns[name], mask, _typo, positions)
    count = int(fuzzy.sum())
    first, last = (
        columns["first_ascii"].filter(fuzzy),
        columns["last_ascii"].filter(fuzzy),
    )
    digits = _as_text(rng.integers(1, 100, count))
    private = _join(first, ".", last, digits, "@gmail.com")
    private = pc.if_else(_rows(rng, count, 0.7), private, None)
    columns["email"] = _replace_rows(columns["email"], fuzzy, private)


def _add_copies(rng: np.random.Generator, columns: Columns, rates: _Rates) -> Columns:
    """Overwrite some rows with exact or fuzzy copies of other rows."""
    n = len(columns["email"])
    if not (rates.exact_duplicates or rates.fuzzy_duplicates):
        return columns
    source, exact_rows, fuzzy_rows = _pick_duplicates(rng, columns, rates)
    exact, fuzzy = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    exact[exact_rows] = True
    fuzzy[fuzzy_rows] = True
    copied = _take_rows(columns, source)
    _change_exact_copies(copied, exact)
    _change_fuzzy_copies(rng, copied, fuzzy)
    return copied


def _external_ids(n: int, seed: int) -> pa.Array:
    """Number the rows 'LD-<seed>-00000001', 'LD-<seed>-00000002', ... in file order.

    The seed keeps the ids of files made with different seeds apart, so dedup does
    not link their rows as the same source record.
    """
    numbers = np.arange(1, n + 1, dtype=np.int64)
    template = f"LD-{seed}-00000000".encode()
    matrix = np.tile(np.frombuffer(template, dtype=np.uint8), (n, 1))
    for position in range(len(template) - 1, len(template) - 9, -1):
        numbers, digit = np.divmod(numbers, 10)
        matrix[:, position] = 48 + digit
    return _fixed_width(matrix)


def _generate_table(
    n: int, seed: int, messy: bool, start: dt.datetime | None
) -> pa.Table:
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    as_of = _as_of(start)
    schema = pa.schema([(name, pa.string()) for name in LEAD_FIELDS])
    if n == 0:
        return schema.empty_table()
    rates = _MESSY if messy else _CLEAN
    rng = np.random.default_rng(seed)
    columns = _draw_base(rng, n, as_of, messy)
    _add_mess(rng, columns, rates)
    columns = _add_copies(rng, columns, rates)
    del columns["first_ascii"], columns["last_ascii"]
    columns["external_id"] = _external_ids(n, seed)
    return pa.Table.from_arrays([columns[name] for name in LEAD_FIELDS], schema=schema)


def generate_leads(
    n: int, seed: int, messy: bool = True, start: dt.datetime | None = None
) -> pd.DataFrame:
    """Generate n leads with LEAD_FIELDS as columns, each cell a str or None.

    ``start`` is the export time: last_activity_at falls within the 60 days before it
    (about 30 % more than 30 days back). It must be timezone-aware and defaults to
    midnight UTC of the current day. With ``messy`` the rows carry placeholders,
    blanks, case and whitespace noise, country names, invalid phones and emails, 3 %
    exact duplicates (email in another case) and 2 % fuzzy duplicates (a typo, the
    same phone). The same n, seed, messy and start give the same frame.
    """
    return _generate_table(n, seed, messy, start).to_pandas()


def write_leads(path: Path, n: int, seed: int, fmt: str = "csv", **kwargs: Any) -> Path:
    """Generate leads and write them as CSV (header = LEAD_FIELDS) or JSON Lines.

    Missing values are empty CSV cells or JSON nulls. ``kwargs`` go to
    :func:`generate_leads` (``messy``, ``start``). Returns ``path``.
    """
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown format {fmt!r}; use 'csv' or 'jsonl'")
    table = _generate_table(
        n, seed, kwargs.pop("messy", True), kwargs.pop("start", None)
    )
    if kwargs:
        raise TypeError(f"unexpected arguments {sorted(kwargs)}; use messy or start")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        frame = table.to_pandas()
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
        return path
    with path.open("wb") as handle:
        handle.write((",".join(LEAD_FIELDS) + "\n").encode("utf-8"))
        options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
        pa_csv.write_csv(table, handle, options)
    return path


def _parse_start(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--start {text!r} is not an ISO 8601 time; use e.g. 2025-03-01T00:00:00Z"
        ) from exc


def main(argv: list[str] | None = None) -> Path:
    """Run the command line: write generated leads to the given file."""
    parser = argparse.ArgumentParser(
        prog="python -m leadshare.generate",
        description="Write generated example leads.",
    )
    parser.add_argument("out", type=Path, help="output file (.csv or .jsonl)")
    parser.add_argument("--rows", type=int, default=10_000, help="number of leads")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--clean", action="store_true", help="no mess, no duplicates")
    parser.add_argument(
        "--start",
        type=_parse_start,
        default=None,
        help="export time with zone; activity falls in the 60 days before it "
        "(default: today 00:00 UTC)",
    )
    parser.add_argument(
        "--format", choices=("csv", "jsonl"), default=None, help="default: from suffix"
    )
    args = parser.parse_args(argv)
    fmt = args.format or ("jsonl" if args.out.suffix == ".jsonl" else "csv")
    path = write_leads(
        args.out, args.rows, args.seed, fmt=fmt, messy=not args.clean, start=args.start
    )
    logger.info("Wrote %s to %s", counted(args.rows, "lead"), path)
    return path


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
