"""YAML configuration: partners, qualification rules, strategic accounts, source profiles.

Each file is validated with pydantic when it is loaded; an invalid file raises
:class:`ConfigError` naming the file, the field path and what to change.
"""

from __future__ import annotations

import ast
import codecs
import datetime as dt
import difflib
import functools
import hashlib
import math
import shutil
from pathlib import Path
import re
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
import yaml
from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from leadshare.errors import ConfigError
from leadshare.model import LEAD_FIELDS, STORED_FIELDS
from leadshare.settings import SECRET_REFERENCE
from leadshare.templates import approved_templates

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "config"
EXPECTATIONS_DIR = Path(__file__).resolve().parent.parent / "expectations"
PARTNER_ID_MAX = 64
"""Maximum length of a partner id, which names outbox folders and files."""
PARTNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
PROFILE_NAME = re.compile(r"[A-Za-z0-9_-]+")

Tier = Literal["gold", "silver", "bronze"]
TIERS: tuple[str, ...] = get_args(Tier)

NumberFormat = Literal["1,234.56", "1.234,56"]
"""The number format of a source's amounts: comma or dot between thousands."""
NUMBER_FORMATS: tuple[str, ...] = get_args(NumberFormat)
DEFAULT_NUMBER_FORMAT = "1,234.56"

CHANNEL_SETTINGS: dict[str, str] = {
    "webhook": "webhook",
    "template": "webhook",
    "crm_owner_id": "crm_export",
}
"""Partner settings that only one channel reads, each mapped to that channel.

Only webhook deliveries carry a rendered intro, and only CRM exports assign an owner.
"""

DERIVED_FIELDS: tuple[str, ...] = (
    "email_display",
    "email_ascii",
    "email_key",
    "phone_e164",
    "phone_ext",
    "country_code",
    "name_key",
    "company_key",
)
"""Normalised columns that every batch gets before the row gates and qualification.

These are the ``NORMALISED_COLUMNS`` of :mod:`leadshare.normalise` without the
``*_error`` columns. They are listed here so that loading the config does not
import pandas.
"""

RULE_FIELDS: tuple[str, ...] = LEAD_FIELDS + DERIVED_FIELDS
"""Fields that score rules and required-field checks can read."""

DELIVERABLE_FIELDS: tuple[str, ...] = ("lead_id", *STORED_FIELDS)
"""Lead fields that a transfer fills, and so the only fields an allowlist may name.

These are the lead columns that ``sql/due_transfers.sql`` reads for each transfer,
except ``do_not_call``, which delivery reads to remove phone numbers from the notes
and never sends. The other ``RULE_FIELDS`` are used during intake and are not stored
with the lead.
"""

# Number and flag fields use strict types. YAML 1.1 (PyYAML) reads unquoted yes, no,
# on and off as booleans, which pydantic's lax mode would turn into 1 and 0. Lax mode
# would also read 1, 0 and the text "yes" as flags, and accept quoted numbers.
StrictFiniteFloat = Annotated[float, Strict(), AllowInfNan(False)]
"""A finite int or float, stored as a float."""


@functools.cache
def time_zone(name: str) -> ZoneInfo:
    """Return the time zone ``name``, loaded once per process.

    Matching needs a partner's zone once per group of leads. ZoneInfo caches only a
    few zones that no object references, so it used to read the zone file each time.
    """
    return ZoneInfo(name)

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Territory(_Strict):
    countries: list[str] = Field(
        default_factory=list, description="ISO alpha-2; empty = any"
    )
    regions: list[str] = Field(default_factory=list)
    postcode_prefixes: list[str] = Field(default_factory=list)

    @field_validator("countries")
    @classmethod
    def _upper_codes(cls, codes: list[str]) -> list[str]:
        return _alpha_2_codes(codes)


def _alpha_2_codes(codes: list[str]) -> list[str]:
    """Return the codes in upper case, or raise on the first that is not ISO alpha-2."""
    for code in codes:
        if pycountry.countries.get(alpha_2=code.upper()) is None:
            raise ValueError(_country_code_problem(code))
    return [code.upper() for code in codes]


def _country_code_problem(code: str) -> str:
    """Describe an invalid country code and suggest the alpha-2 code when one fits."""
    problem = (
        f"country {code!r} is not an ISO 3166 alpha-2 code such as 'DE' "
        "(the United Kingdom is 'GB')"
    )
    try:
        country = pycountry.countries.lookup(code)
    except LookupError:
        return problem
    return f"{problem}; use {country.alpha_2!r} for {country.name}"


def _known_rule_fields(names: list[str]) -> list[str]:
    unknown = [name for name in names if name not in RULE_FIELDS]
    if unknown:
        raise ValueError(
            f"unknown lead fields {unknown}; use fields from this list: "
            f"{list(RULE_FIELDS)}"
        )
    return names


class WebhookConfig(_Strict):
    url: str
    secret: str = Field(
        description="Reference to the signing secret: env:NAME or block:NAME"
    )

    @field_validator("secret")
    @classmethod
    def _secret_reference(cls, reference: str) -> str:
        # The value may be the secret itself, so the message must not repeat it.
        if not SECRET_REFERENCE.fullmatch(reference):
            raise ValueError(
                "the secret must be a reference such as env:NAME (an environment "
                "variable) or block:NAME (a Prefect Secret block), never the secret "
                "value itself"
            )
        return reference

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
        if (
            parts.scheme not in {"http", "https"}
            or not parts.hostname
            or not port_ok
            or any(character.isspace() for character in url)
        ):
            raise ValueError(
                f"webhook URL {url!r} is not a valid http(s) URL (scheme, host, "
                "port 1-65535, no spaces); use a form such as "
                "https://partner.example/leads"
            )
        return url


class Partner(_Strict):
    id: str
    name: str
    tier: Tier = "silver"
    status: Literal["active", "paused"] = "active"
    agreement_expires: dt.date | None = None
    territory: Territory = Field(default_factory=Territory)
    industries: list[str] = Field(default_factory=list, description="empty = any")
    products: list[str] = Field(default_factory=list, description="empty = any")
    capacity_per_day: StrictInt = Field(ge=0)
    capacity_per_week: StrictInt = Field(ge=0)
    performance: StrictFiniteFloat = Field(
        default=0.5, ge=0, le=1, description="Prior acceptance rate"
    )
    timezone: str = "UTC"
    sla_hours: StrictInt = 48
    channel: Literal["webhook", "file_drop", "crm_export", "manual"]
    webhook: WebhookConfig | None = None
    crm_owner_id: str | None = None
    fields: list[str] = Field(
        description="Allowlist: only these lead fields leave the system"
    )
    template: str = "intro_default.j2"

    @field_validator("id")
    @classmethod
    def _safe_id(cls, partner_id: str) -> str:
        # The id names outbox folders and files, so it must not contain a path.
        if not PARTNER_ID.fullmatch(partner_id):
            raise ValueError(
                f"partner id {partner_id!r} is invalid; use letters, digits, '-', '_' "
                "and '.', starting with a letter or digit, such as P-NORD"
            )
        if len(partner_id) > PARTNER_ID_MAX:
            raise ValueError(
                f"partner id {partner_id[:20]!r}... has {len(partner_id)} characters; "
                f"use at most {PARTNER_ID_MAX}"
            )
        return partner_id

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # A region such as "Europe" is a folder of the time zone database.
            raise ValueError(
                f"time zone {name!r} is not an IANA time zone name such as "
                "'Europe/Berlin' or 'UTC'"
            ) from None
        return name

    @field_validator("template")
    @classmethod
    def _approved_template(cls, name: str) -> str:
        approved = approved_templates()
        if name not in approved:
            raise ValueError(
                f"intro template {name!r} is not approved; use one of {approved}"
            )
        return name

    def inactive_reason(self, now: dt.datetime) -> str | None:
        """Return why the partner must not receive leads at ``now``, or None.

        The agreement runs to the end of its expiry date in the partner's time zone.
        """
        if self.status != "active":
            return f"partner status is {self.status}"
        if self.agreement_expires is None:
            return None
        today = now.astimezone(time_zone(self.timezone)).date()
        if self.agreement_expires < today:
            return f"partner agreement expired on {self.agreement_expires.isoformat()}"
        return None

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: list[str]) -> list[str]:
        if not fields:
            raise ValueError(
                "the allowlist is empty, so the partner would receive empty records; "
                "list the lead fields it may receive, such as [lead_id, company, email]"
            )
        known = set(RULE_FIELDS)
        not_sent = [
            name for name in fields if name in known and name not in DELIVERABLE_FIELDS
        ]
        if not_sent:
            raise ValueError(
                f"lead fields {not_sent} are not stored with the lead, so no transfer "
                f"sends them; remove them or use fields from this list: "
                f"{list(DELIVERABLE_FIELDS)}"
            )
        unknown = [name for name in fields if name not in DELIVERABLE_FIELDS]
        if unknown:
            raise ValueError(
                f"unknown lead fields {unknown}; use fields from this list: "
                f"{list(DELIVERABLE_FIELDS)}"
            )
        # The allowlist is also the column list of the partner's CSV files.
        repeated = sorted({name for name in fields if fields.count(name) > 1})
        if repeated:
            raise ValueError(
                f"lead fields {repeated} are listed more than once; list each field "
                "once"
            )
        return fields

    @field_validator("sla_hours")
    @classmethod
    def _positive_sla(cls, hours: int) -> int:
        if hours <= 0:
            raise ValueError(
                f"sla_hours is {hours}; use a positive number of hours, such as 48"
            )
        return hours

    @model_validator(mode="after")
    def _consistent_channel_and_capacity(self) -> Partner:
        if self.channel == "webhook" and self.webhook is None:
            raise ValueError(
                "channel 'webhook' needs a 'webhook' section with 'url' and 'secret'"
            )
        self._check_channel_settings()
        if self.channel == "crm_export" and not (self.crm_owner_id or "").strip():
            raise ValueError(
                "channel 'crm_export' needs 'crm_owner_id', the "
                "CRM user that the exported leads are assigned to"
            )
        if self.capacity_per_week < self.capacity_per_day:
            raise ValueError(
                f"capacity_per_week ({self.capacity_per_week}) is "
                f"smaller than capacity_per_day ({self.capacity_per_day}); raise "
                "capacity_per_week to at least the daily capacity"
            )
        return self

    def _check_channel_settings(self) -> None:
        """Raise ValueError on a setting that only another channel reads.

        A setting that is left out or null passes, so the default template does too.
        """
        for name, channel in CHANNEL_SETTINGS.items():
            if channel == self.channel or name not in self.model_fields_set:
                continue
            if getattr(self, name) is None:
                continue
            raise ValueError(
                f"{name!r} is set but channel is {self.channel!r}, so it would never "
                f"be used; remove {name!r} or set 'channel: {channel}'"
            )


SCORE_CONDITIONS = ("equals", "any_of", "at_least", "present")


class ScoreRule(_Strict):
    field: str
    points: StrictFiniteFloat = Field(description="Negative points are a penalty")
    equals: str | None = None
    any_of: list[str] | None = None
    at_least: StrictFiniteFloat | None = None
    present: StrictBool | None = None

    @field_validator("field")
    @classmethod
    def _known_field(cls, name: str) -> str:
        _known_rule_fields([name])
        return name

    @model_validator(mode="after")
    def _one_condition(self) -> ScoreRule:
        # Scoring applies only the first condition it finds, in SCORE_CONDITIONS order.
        conditions = [
            name for name in SCORE_CONDITIONS if getattr(self, name) is not None
        ]
        if not conditions:
            raise ValueError(
                f"score rule on {self.field!r} has no condition; add exactly one of "
                f"{', '.join(SCORE_CONDITIONS)}"
            )
        if len(conditions) > 1:
            raise ValueError(
                f"score rule on {self.field!r} has several conditions {conditions} "
                "but only one is applied; split it into one rule per condition"
            )
        if self.any_of == []:
            raise ValueError(
                f"score rule on {self.field!r} has an empty any_of list, so it never "
                "matches; list the values that earn the points"
            )
        return self


def highest_score(rules: list[ScoreRule]) -> float:
    """Return an upper bound of the score that one lead can reach under ``rules``.

    Rules on different fields are counted as if one lead could match them all. The
    bound is never below a score that a lead can reach. It can be above the true
    maximum, because penalties are left out and a value that matches an ``equals``
    or ``any_of`` rule is assumed to pass every ``at_least`` rule on its field.
    """
    by_field: dict[str, list[ScoreRule]] = {}
    for rule in rules:
        by_field.setdefault(rule.field, []).append(rule)
    return sum(_highest_field_score(field_rules) for field_rules in by_field.values())


def _highest_field_score(rules: list[ScoreRule]) -> float:
    """Return the maximum sum of positive points that one value of a field can match.

    A missing value matches only ``present: false`` rules. Any other value matches
    every ``present: true`` rule, can match every ``at_least`` rule, and matches the
    ``equals`` and ``any_of`` rules that list it, compared case-insensitively as
    scoring does. Two text rules therefore count together only when they share a
    value.
    """
    gains = [rule for rule in rules if rule.points > 0]
    when_missing = sum(rule.points for rule in gains if rule.present is False)
    when_present = sum(
        rule.points
        for rule in gains
        if rule.present is True or rule.at_least is not None
    )
    points_by_value: dict[str, float] = {}
    for rule in gains:
        listed = [rule.equals] if rule.equals is not None else rule.any_of or []
        for value in {text.casefold() for text in listed}:
            points_by_value[value] = points_by_value.get(value, 0) + rule.points
    when_present += max(points_by_value.values(), default=0)
    return max(when_missing, when_present)


class Exclusions(_Strict):
    competitor_domains: list[str] = Field(default_factory=list)
    unsupported_countries: list[str] = Field(default_factory=list)
    free_mail_domains: list[str] = Field(default_factory=list)
    b2b_only: StrictBool = False

    @field_validator("unsupported_countries")
    @classmethod
    def _upper_codes(cls, codes: list[str]) -> list[str]:
        return _alpha_2_codes(codes)


class Strategic(_Strict):
    named_accounts: list[str] = Field(default_factory=list)
    min_company_size: StrictInt | None = None
    min_annual_revenue: StrictFiniteFloat | None = None

    @field_validator("min_company_size", "min_annual_revenue")
    @classmethod
    def _positive_threshold(cls, value: float | None) -> float | None:
        # A threshold of 0 or less would flag every lead that has a value.
        if value is not None and value <= 0:
            raise ValueError(
                f"the threshold is {value}; use a positive number, or remove the "
                "line to flag no leads by this value"
            )
        return value


class Rules(_Strict):
    version: str
    # points comes before threshold so that the threshold check can read it.
    points: list[ScoreRule] = Field(default_factory=list)
    threshold: StrictFiniteFloat = Field(
        description="Leads that score below this are disqualified"
    )
    required_fields: list[str] = Field(default_factory=list)
    exclusions: Exclusions = Field(default_factory=Exclusions)
    freshness_days: StrictInt | None = None
    strategic: Strategic = Field(default_factory=Strategic)
    tier_weights: dict[str, StrictFiniteFloat] = Field(
        default_factory=lambda: {"gold": 1.0, "silver": 0.8, "bronze": 0.6}
    )

    @field_validator("required_fields")
    @classmethod
    def _known_required_fields(cls, names: list[str]) -> list[str]:
        return _known_rule_fields(names)

    @field_validator("threshold")
    @classmethod
    def _reachable_threshold(cls, threshold: float, info: ValidationInfo) -> float:
        # A score is the sum of the points of the matching rules, so it is never
        # below the sum of the negative points or above highest_score(). A threshold
        # outside that range disqualifies every lead or none, and is taken as a typo.
        rules = info.data.get("points")
        if rules is None:  # invalid points are reported on their own
            return threshold
        _check_highest_threshold(threshold, highest_score(rules))
        lowest = sum(rule.points for rule in rules if rule.points < 0)
        if threshold >= lowest:
            return threshold
        if lowest == 0:
            raise ValueError(
                f"threshold is {threshold:g}, but no lead can score below 0 because "
                "no score rule gives negative points; use 0 or more"
            )
        raise ValueError(
            f"threshold is {threshold:g}, but no lead can score below {lowest:g}, "
            f"the sum of the negative points; use {lowest:g} or more"
        )

    @field_validator("freshness_days")
    @classmethod
    def _positive_days(cls, days: int | None) -> int | None:
        if days is not None and days <= 0:
            raise ValueError(
                f"freshness_days is {days}; use a positive number of days, or remove "
                "the line to share leads however long ago they engaged"
            )
        return days

    @field_validator("tier_weights")
    @classmethod
    def _weight_per_tier(cls, weights: dict[str, float]) -> dict[str, float]:
        # Matching gives a tier without a weight the weight 0, so gaps must not load.
        unknown = [tier for tier in weights if tier not in TIERS]
        if unknown:
            raise ValueError(
                f"unknown partner tiers {unknown}; the tiers are {list(TIERS)}, "
                "written in lowercase"
            )
        missing = [tier for tier in TIERS if tier not in weights]
        if missing:
            raise ValueError(
                f"no weight for tiers {missing}; give every tier a weight, such as "
                "{gold: 1.0, silver: 0.8, bronze: 0.6}"
            )
        negative = {tier: weight for tier, weight in weights.items() if weight < 0}
        if negative:
            raise ValueError(
                f"negative tier weights {negative}; use weights of 0 or more"
            )
        return weights


def _check_highest_threshold(threshold: float, highest: float) -> None:
    """Raise ValueError when ``threshold`` is above the highest reachable score."""
    # Scoring adds the points in rule order, and highest_score() adds them by field,
    # so the two sums can differ in the last bits of a float.
    if threshold <= highest or math.isclose(threshold, highest, rel_tol=1e-9):
        return
    # 15 significant digits show every digit of large scores, where :g rounds
    # 1234567 to 1.23457e+06, and drop float noise such as 0.30000000000000004.
    threshold_text = format(threshold, ".15g")
    if highest == 0:
        raise ValueError(
            f"threshold is {threshold_text}, but no lead can score above 0 because "
            "no score rule gives positive points; use 0 or less"
        )
    highest_text = format(highest, ".15g")
    raise ValueError(
        f"threshold is {threshold_text}, but no lead can score above "
        f"{highest_text}, the maximum score under the score rules; use "
        f"{highest_text} or less"
    )


TRUE_WORDS = frozenset({"true", "yes", "1", "y"})
"""The values of a flag that mean yes, as the consent stage reads them."""

CONSENT_FIELDS = ("consent_share", "do_not_email", "do_not_call", "unsubscribed_at")
"""Lead fields that decide whether a person may be shared or contacted."""


class Profile(_Strict):
    """A source mapping profile: its columns and values mapped onto the lead model."""

    name: str = Field(description="The profile's file name without '.yaml'")
    columns: dict[str, str | list[str]] = Field(
        description="lead field -> source column header, or a list of accepted headers"
    )
    placeholders: list[str] = Field(
        default_factory=lambda: ["", "select", "n/a", "null", "-"]
    )
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    defaults: dict[str, str] = Field(default_factory=dict)
    required_columns: list[str] = Field(default_factory=list)
    required_fields: list[str] | None = Field(
        default=None,
        description="Row-level required lead fields; None = the rules' list",
    )
    suite: str = "leads_batch"
    max_null_rate: dict[str, StrictFiniteFloat] = Field(default_factory=dict)
    opt_out_list: bool = Field(
        default=False,
        description="Every row is an opt-out; a file needs an e-mail or phone "
        "column and must have no consent column",
    )
    number_format: NumberFormat = Field(
        default=DEFAULT_NUMBER_FORMAT,
        description="How the source writes annual revenue: '1,234.56' or '1.234,56'",
    )

    @field_validator("number_format", mode="before")
    @classmethod
    def _known_number_format(cls, value: object) -> object:
        if value in NUMBER_FORMATS:
            return value
        raise ValueError(
            f"number_format {value!r} is not supported. Write '1,234.56' (in "
            "quotes) when the source writes 1,234,567.89, or '1.234,56' when it "
            "writes 1.234.567,89"
        )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        # The name is also a folder of the inbox, so it must not contain a path.
        if not PROFILE_NAME.fullmatch(name):
            raise ValueError(
                f"profile name {name!r} is invalid; use letters, digits, '-' and '_' "
                "only, the same as the file name without '.yaml'"
            )
        return name

    @field_validator("required_fields")
    @classmethod
    def _known_required_fields(cls, names: list[str] | None) -> list[str] | None:
        return None if names is None else _known_rule_fields(names)

    @field_validator("columns", "defaults", "values")
    @classmethod
    def _lead_fields(cls, mapping: dict[str, Any]) -> dict[str, Any]:
        unknown = [name for name in mapping if name not in LEAD_FIELDS]
        if unknown:
            guesses = [
                f"{close[0]} for {name}"
                for name in unknown
                if (close := difflib.get_close_matches(name, LEAD_FIELDS, n=1))
            ]
            hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
            raise ValueError(
                f"unknown lead fields {unknown}{hint}; allowed: {list(LEAD_FIELDS)}"
            )
        return mapping

    @field_validator("defaults")
    @classmethod
    def _no_consent_default_on_mapped_column(
        cls, defaults: dict[str, str], info: ValidationInfo
    ) -> dict[str, str]:
        # A default fills a field only when the file lacks its column. A profile
        # that maps the column reads the value from the file, so a default there
        # is a leftover that would make a file without the column look consented.
        columns = info.data.get("columns") or {}
        for name in CONSENT_FIELDS:
            if name in defaults and name in columns:
                raise ValueError(
                    f"a default for {name} ({defaults[name]!r}) is not allowed "
                    f"because the profile maps {name} to column {columns[name]!r}. "
                    f"Remove {name} from 'defaults', or remove it from 'columns' "
                    "if the source has no such column"
                )
        return defaults

    @field_validator("suite")
    @classmethod
    def _suite_exists(cls, suite: str) -> str:
        known = sorted(path.stem for path in EXPECTATIONS_DIR.glob("*.json"))
        if suite not in known:
            raise ValueError(
                f"expectation suite {suite!r} not found; use one of {known}"
            )
        return suite

    @field_validator("max_null_rate")
    @classmethod
    def _null_rates(cls, rates: dict[str, float]) -> dict[str, float]:
        _known_rule_fields(list(rates))
        wrong = {field: rate for field, rate in rates.items() if not 0.0 <= rate <= 1.0}
        if wrong:
            raise ValueError(
                f"null rates {wrong} are out of range; use a share between 0 and 1"
            )
        return rates

    @model_validator(mode="after")
    def _opt_out_list_reads_keys(self) -> Profile:
        if not self.opt_out_list:
            return self
        if not {"email", "phone"} & set(self.columns):
            raise ValueError(
                "an opt_out_list profile must map email or phone under 'columns', "
                "because those are the keys it suppresses"
            )
        if self.defaults.get("do_not_email", "").strip().lower() not in TRUE_WORDS:
            raise ValueError(
                "an opt_out_list profile needs 'do_not_email: \"yes\"' under "
                "'defaults', so that every row opts out"
            )
        return self

    @model_validator(mode="after")
    def _required_columns_mapped(self) -> Profile:
        unmapped = [name for name in self.required_columns if name not in self.columns]
        if unmapped:
            raise ValueError(
                f"required_columns {unmapped} are not mapped under 'columns'; map "
                "them or remove them from required_columns"
            )
        return self


class Config(BaseModel):
    partners: list[Partner]
    rules: Rules
    profiles: dict[str, Profile]
    digest: str = Field(
        description="sha256 of the config files, stored with each decision"
    )

    def partner(self, partner_id: str) -> Partner:
        for partner in self.partners:
            if partner.id == partner_id:
                return partner
        raise ConfigError(f"partner {partner_id!r} is not in partners.yaml")

    def partner_id_as_configured(self, typed: str) -> str:
        """Return the id of the one partner whose id matches ``typed`` in any case.

        The loader rejects ids that differ only in case, so a loaded config has at
        most one match. Raise ConfigError when no partner, or more than one, matches.
        """
        requested_id = typed.strip()
        if any(partner.id == requested_id for partner in self.partners):
            return requested_id
        matches = [
            partner.id
            for partner in self.partners
            if partner.id.casefold() == requested_id.casefold()
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ConfigError(
                f"partner {typed!r} matches {matches} in partners.yaml, which differ "
                "only in case. Type the id exactly as partners.yaml spells it"
            )
        known = ", ".join(partner.id for partner in self.partners)
        raise ConfigError(
            f"partner {typed!r} is not in partners.yaml; the partner ids are {known}"
        )

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise ConfigError(
                f"source profile {name!r} not found; known profiles: {sorted(self.profiles)}. "
                f"Add config/profiles/{name}.yaml or pass one of these with --profile"
            ) from None


MERGE_TAG = "tag:yaml.org,2002:merge"
VALUE_TAG = "tag:yaml.org,2002:value"
"""Tags that PyYAML's resolver gives the plain keys '<<' and '='."""


class RepeatedKeyError(yaml.constructor.ConstructorError):
    """Error for a key written twice in one mapping of a YAML document.

    ``place`` names the key as config errors name a field, such as
    ``partners[0] (P-NORD).status``.
    """

    def __init__(self, place: str, first: yaml.Mark, repeat: yaml.Mark) -> None:
        super().__init__(problem="found a repeated key", problem_mark=repeat)
        self.place = place
        self.first = first
        self.repeat = repeat

    def describe(self) -> str:
        """Describe the repeat by its line, its key and the line of the first key."""
        return (
            f"line {self.repeat.line + 1}: key {self.place} repeats the key on line "
            f"{self.first.line + 1}, and only one of the two values can apply; keep "
            "one of the two lines and delete the other"
        )


class InvalidDateError(yaml.constructor.ConstructorError):
    """Error for an unquoted value that YAML reads as a date but that is not one.

    PyYAML raises a plain ValueError for such a value (2026-13-01), which names
    neither the file nor the line.
    """

    def __init__(self, place: str, value: str, reason: str, mark: yaml.Mark) -> None:
        super().__init__(problem="found an invalid date", problem_mark=mark)
        self.place = place
        self.value = value
        self.reason = reason

    def describe(self) -> str:
        """Describe the date by its line, its field and what is wrong with it."""
        return (
            f"line {self.problem_mark.line + 1}: {self.place} is {self.value}, which "
            f"is not a valid date ({self.reason}); write an existing date as "
            "YYYY-MM-DD"
        )


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that raises :class:`RepeatedKeyError` on a repeated key.

    ``yaml.safe_load`` keeps the last of two equal keys without a warning, so a line
    such as a second ``status:`` in a partner would silently replace the first.
    """

    _root: yaml.Node | None = None

    def construct_document(self, node: yaml.Node) -> Any:
        self._root = node
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        # The check runs before SafeConstructor.flatten_mapping, which puts the
        # entries of a '<<' merge into node.value next to the keys that override
        # them. Only keys written in this mapping are compared.
        if isinstance(node, yaml.MappingNode):
            self._check_unique_keys(node)
        return super().construct_mapping(node, deep=deep)

    def _check_unique_keys(self, node: yaml.MappingNode) -> None:
        first_marks: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            # Sequence and mapping keys are unhashable, and SafeConstructor rejects
            # them when it builds the mapping.
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.tag == MERGE_TAG:
                key: Any = MERGE_TAG
            elif key_node.tag == VALUE_TAG:
                # No constructor exists for this tag, and flatten_mapping turns the
                # key into the text '='.
                key = key_node.value
            else:
                key = self.construct_object(key_node)
            if key not in first_marks:
                first_marks[key] = key_node.start_mark
                continue
            place = _key_place(self._root or node, node, key_node.value)
            raise RepeatedKeyError(place, first_marks[key], key_node.start_mark)

    def construct_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError as exc:
            root = self._root or node
            place = _path_place(root, _node_path(root, node))
            raise InvalidDateError(
                place or "a value", node.value, str(exc), node.start_mark
            ) from None


_UniqueKeyLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _UniqueKeyLoader.construct_timestamp
)


def _node_path(root: yaml.Node, target: yaml.Node) -> list[str | int]:
    """Return the keys and indexes that lead from ``root`` to ``target``.

    An anchored node may be reached by several paths; the first in document order
    is returned. A key that is not a scalar appears as '?'.
    """
    visited: set[int] = set()

    def search(node: yaml.Node, path: list[str | int]) -> list[str | int] | None:
        if node is target:
            return path
        if id(node) in visited:
            return None
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            children = [(index, item) for index, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            children = [
                (key.value if isinstance(key, yaml.ScalarNode) else "?", value)
                for key, value in node.value
            ]
        else:
            return None
        for step, child in children:
            found = search(child, [*path, step])
            if found is not None:
                return found
        return None

    return search(root, []) or []


def _partner_id_at(root: yaml.Node, path: list[str | int]) -> str | None:
    """Return the id of the partner that ``path`` lies in, or None if there is none.

    None is also returned when the partner has no id or repeats the 'id' key.
    """
    if len(path) < 2 or path[0] != "partners" or not isinstance(path[1], int):
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    partner_lists = [
        value
        for key, value in root.value
        if isinstance(key, yaml.ScalarNode) and key.value == "partners"
    ]
    if len(partner_lists) != 1 or not isinstance(partner_lists[0], yaml.SequenceNode):
        return None
    partner = partner_lists[0].value[path[1]]
    if not isinstance(partner, yaml.MappingNode):
        return None
    ids = [
        value.value
        for key, value in partner.value
        if isinstance(key, yaml.ScalarNode)
        and key.value == "id"
        and isinstance(value, yaml.ScalarNode)
    ]
    return ids[0] if len(ids) == 1 else None


def _key_place(root: yaml.Node, mapping: yaml.MappingNode, key: str) -> str:
    """Name ``key`` of ``mapping`` by its path, and by its partner's id if known."""
    return _path_place(root, [*_node_path(root, mapping), key])


def _path_place(root: yaml.Node, path: list[str | int]) -> str:
    """Name the node at ``path`` as config errors name a field."""
    place = ""
    for step in path:
        place += f"[{step}]" if isinstance(step, int) else f".{step}"
    place = place.lstrip(".")
    partner_id = _partner_id_at(root, path)
    if partner_id is not None and len(partner_id) <= PARTNER_ID_MAX:
        index = f"partners[{path[1]}]"
        place = place.replace(index, f"{index} ({partner_id})", 1)
    return place


def _read_yaml(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found; copy it from {EXAMPLE_CONFIG}"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read this config file ({exc.strerror}); make it a "
            "readable file for this user"
        ) from None
    text = _decode_config(path, data)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except (RepeatedKeyError, InvalidDateError) as exc:
        raise ConfigError(f"{path}: {exc.describe()}") from None
    except yaml.YAMLError as exc:
        # PyYAML's message repeats the line, which may hold a pasted secret, so
        # neither that message nor the exception is passed on.
        raise ConfigError(f"{path}: {_yaml_error_message(exc, text)}") from None


def _decode_config(path: Path, data: bytes) -> str:
    """Return the text of a config file, or raise ConfigError if it is not UTF-8."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(
            f"{path}: the file is saved as UTF-16; save it as UTF-8 (the encoding "
            "option of the editor's Save As)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line}: byte 0x{data[exc.start]:02X} is not valid UTF-8, "
            "so the file was probably saved in another encoding such as cp1252; "
            "save it as UTF-8 (the encoding option of the editor's Save As)"
        ) from None


def _yaml_error_message(error: yaml.YAMLError, text: str) -> str:
    """Describe a YAML error by line, column and problem, without text of the file."""
    fix = "fix the YAML syntax at that position"
    if isinstance(error, yaml.reader.ReaderError):
        before = text[: error.position]
        line_start = before.rfind("\n") + 1
        place = _text_position(before.count("\n"), error.position - line_start)
        return (
            f"invalid YAML at {place}: the character U+{error.character:04X} is not "
            f"allowed; {fix}"
        )
    mark = None
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
    if mark is None:
        return f"invalid YAML ({type(error).__name__}); {fix}"
    problem = _without_document_text(error.problem or error.context or "")
    if "'\\t'" in problem:
        fix = "indent with spaces, because YAML does not allow tabs there"
    message = f"invalid YAML at {_text_position(mark.line, mark.column)}"
    if problem:
        message += f": {problem}"
    if error.problem and error.context and error.context_mark is not None:
        # For an unclosed quote or bracket, the problem mark is at the end of the
        # file and the context mark is where the quote or bracket opens.
        context = _without_document_text(error.context)
        start = _text_position(error.context_mark.line, error.context_mark.column)
        message += f" ({context} at {start})"
    return f"{message}; {fix}"


def _text_position(line: int, column: int) -> str:
    """Name a 0-based line and column the way editors count them, from 1."""
    return f"line {line + 1}, column {column + 1}"


QUOTED_TEXT = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')
YAML_TOKEN_NAME = re.compile(r"<[a-z ]+>")


def _without_document_text(message: str) -> str:
    """Replace what a PyYAML message quotes from the document with "(text omitted)".

    PyYAML quotes tags, anchors and aliases as written, and they may be part of a
    pasted secret. A quoted single character, such as '\\t', and a token name, such
    as '<stream end>', stay because they tell what to fix.
    """

    def keep_or_omit(match: re.Match[str]) -> str:
        quoted = match.group()
        try:
            value = ast.literal_eval(quoted)
        except (SyntaxError, ValueError):
            return "(text omitted)"
        if len(value) == 1 or YAML_TOKEN_NAME.fullmatch(value):
            return quoted
        return "(text omitted)"

    return QUOTED_TEXT.sub(keep_or_omit, message)


UNION_MEMBERS = frozenset({"str", "list[str]", "int", "float", "bool"})
"""The loc parts that pydantic adds for the members of a union type."""


def _validate(model: type[BaseModel], data: Any, path: Path, prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key also makes the key it was meant to be missing. The unknown
        # key is reported first, because it is the line to correct.
        first = min(errors, key=lambda error: error["type"] != "extra_forbidden")
        location = first["loc"]
        if location[-1:] == ("[key]",):
            # A mapping key of the wrong type: pydantic appends '[key]' to its loc.
            location = location[:-2]
        # A union field's errors name the union member tried, such as 'str' or
        # 'list[str]', which is no key of the file.
        location = tuple(part for part in location if part not in UNION_MEMBERS)
        field = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in location
        ).lstrip(".")
        message = _error_message(first)
        if first["type"] == "extra_forbidden":
            message = _unknown_field_message(first, errors, model)
        elif first["loc"][-1:] == ("[key]",):
            message = f"a key of this mapping: {message}"
        raise ConfigError(
            f"{path}: {_error_place(prefix, field)}: {message}"
        ) from None  # ValidationError repeats every input, webhook secrets included


def _unknown_field_message(
    error: Any, errors: list[Any], model: type[BaseModel]
) -> str:
    """Describe an unknown key and name the known key it is closest to, if any.

    The known keys are the model's fields for a top-level key, and the missing
    keys of the same mapping for a nested one.
    """
    parent = error["loc"][:-1]
    known = [
        str(other["loc"][-1])
        for other in errors
        if other["type"] == "missing" and other["loc"][:-1] == parent
    ]
    known += _field_names_at(model, parent)
    close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
    if close:
        return f"unknown field; did you mean {close[0]}? Correct its spelling"
    return "unknown field; correct its spelling or remove it"


def _field_names_at(model: type[BaseModel], location: tuple) -> list[str]:
    """Return the field names of the mapping at ``location`` inside ``model``.

    List indexes in ``location`` are stepped over. Returns [] when the location
    does not lead to a model, such as a free-form mapping of vocabulary values.
    """
    current: type[BaseModel] | None = model
    for part in location:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part)) if current else None
        current = _model_in(field.annotation) if field else None
        if current is None:
            return []
    return list(current.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """Return the model class in a field's type: ``X``, ``list[X]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _error_place(prefix: str, field: str) -> str:
    if field:
        return f"field {prefix}{field}"
    return prefix.rstrip(".") or "top level"


EXPECTED_TYPES = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
}
"""Accepted values of a strict number or flag field, by pydantic error type."""


def _error_message(error: Any) -> str:
    """Format one pydantic error, with its input only when short and not a secret.

    The validators of this module raise messages that already name the value and
    the fix, so those are returned unchanged.
    """
    if error["type"] == "value_error":
        return error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return "required field is missing; add it"
    if error["type"] == "extra_forbidden":
        return "unknown field; correct its spelling or remove it"
    value = error.get("input")
    show_value = _printable(value) and not _secret(error["loc"])
    if error["type"] in ("model_type", "dict_type"):
        # pydantic names its model class here ("instance of Rules"), which means
        # nothing to someone editing YAML.
        if value is None and not error["loc"]:
            return f"the file is empty; copy it from {EXAMPLE_CONFIG} and edit it"
        if value is None:
            return (
                "is empty; write its keys and values (key: value lines), as in "
                f"the example config in {EXAMPLE_CONFIG}"
            )
        return (
            f"expected keys and values (key: value lines), got "
            f"{_yaml_kind(value)}; write it as in the example config in "
            f"{EXAMPLE_CONFIG}"
        )
    if error["type"] == "string_type" and value is None:
        return (
            "expected text, got an empty value (or null); write the text, or "
            "remove the line"
        )
    if error["type"] in EXPECTED_TYPES and show_value:
        return _wrong_type_message(EXPECTED_TYPES[error["type"]], value)
    if error["type"] == "string_type" and isinstance(value, int | float | dt.date):
        return _unquoted_text_message(value, show_value, error["loc"])
    if error["type"] == "list_type":
        given = f"{value!r}" if show_value else "a single value"
        example = f"[{value}]" if show_value and isinstance(value, str) else "[A, B]"
        return (
            f"expected a list, got {given}; write the values in square brackets, "
            f"such as {example}, or one '- value' line each"
        )
    if error["type"] in ("literal_error", "enum") and show_value:
        expected = error.get("ctx", {}).get("expected", "")
        return (
            f"{value!r} is not one of {expected} (in this letter case); write one "
            "of them"
        )
    bound = _BOUND_WORDS.get(error["type"])
    if bound is not None and show_value:
        limit = next(iter(error.get("ctx", {}).values()), None)
        return f"must be {bound.format(limit)}, got {value!r}; change the value"
    message = error["msg"]
    if show_value:
        message += f" (got {value!r})"
    return f"{message}; fix this field and run again"


_BOUND_WORDS = {
    "greater_than_equal": "{} or more",
    "greater_than": "more than {}",
    "less_than_equal": "{} or less",
    "less_than": "less than {}",
}
"""The words for pydantic's number bound errors, by error type."""


def _yaml_kind(value: Any) -> str:
    """Name the kind of a YAML value, such as "a list" or "the text 'x'"."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str) and _printable(value):
        return f"the text {value!r}"
    return "a single value"


EXPONENT_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")
"""A number such as 1e9, which YAML 1.1 (PyYAML) reads as text without a dot."""


def _wrong_type_message(expected: str, value: Any) -> str:
    """Describe a value of the wrong type in a strict number or flag field."""
    if isinstance(value, bool):
        return (
            f"expected {expected}, got the boolean {str(value).lower()} (YAML reads "
            "unquoted yes, no, on and off as booleans); write a number"
        )
    if isinstance(value, str) and EXPONENT_NUMBER.fullmatch(value.strip()):
        return (
            f"expected {expected}, got the text {value!r}, because YAML reads a "
            f"number with an exponent as text; write {expected} in full digits"
        )
    if isinstance(value, str):
        return (
            f"expected {expected}, got the text {value!r}; write {expected} "
            "without quotes"
        )
    return f"expected {expected}, got {value!r}; write {expected}"


def _unquoted_text_message(
    value: int | float | dt.date, show_value: bool, location: tuple = ()
) -> str:
    """Describe a value that YAML read as a flag, number or date in a text field.

    Unquoted yes, no, on, off, true and false are booleans in YAML 1.1, which
    PyYAML follows, so Norway's country code NO reads as false. The code NO is
    named only in a field about countries; elsewhere the words that read as the
    same boolean are.
    """
    if not show_value:
        return "expected text, got a value that is not text; write it in quotes"
    if isinstance(value, bool):
        about_countries = any("countr" in str(part) for part in location)
        if about_countries:
            example = 'the country code NO included); write it in quotes, such as "NO"'
        elif value:
            example = 'here from yes, on or true); write it in quotes, such as "yes"'
        else:
            example = 'here from no, off or false); write it in quotes, such as "no"'
        return (
            f"expected text, got the boolean {str(value).lower()} (YAML reads "
            f"unquoted yes, no, on, off, true and false as booleans, {example}"
        )
    if isinstance(value, dt.date):
        return (
            f"expected text, got the date {value}; write it in quotes as you mean "
            f'it, such as "{value}"'
        )
    return (
        f"expected text, got the number {value}; write it in quotes exactly as it "
        "should read, because unquoted YAML drops leading zeros and reads 010 as "
        'the octal number 8 (write "010")'
    )


def _printable(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= 80
    return value is None or isinstance(value, int | float | dt.date)


def _secret(location: tuple[str | int, ...]) -> bool:
    """Return whether an error location is in a webhook section, outside its URL."""
    if "webhook" not in location:
        return False
    inside = location[location.index("webhook") + 1 :]
    return inside[:1] != ("url",)


def _partner_prefix(index: int, item: Any) -> str:
    """Name a partner in errors by position and, when it has one, by id."""
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        return f"partners[{index}] ({item['id']})."
    return f"partners[{index}]."


def _check_unique_ids(partners: list[Partner], path: Path) -> None:
    """Reject partner ids that repeat, also when they differ only in case.

    Each id names outbox folders, and on a case-insensitive file system
    P-NORD and p-nord are the same folder.
    """
    ids = [partner.id for partner in partners]
    repeated = sorted({partner_id for partner_id in ids if ids.count(partner_id) > 1})
    if repeated:
        raise ConfigError(
            f"{path}: partner ids must be unique; {repeated} appear more "
            "than once. Rename or remove the repeated partners"
        )
    by_folded: dict[str, list[str]] = {}
    for partner_id in ids:
        by_folded.setdefault(partner_id.casefold(), []).append(partner_id)
    clashes = [group for group in by_folded.values() if len(group) > 1]
    if clashes:
        raise ConfigError(
            f"{path}: partner ids {clashes[0]} differ only in case, so they share "
            "outbox folders on case-insensitive disks; rename one of them"
        )


def ensure_config(config_dir: Path) -> None:
    """Copy the example config into a missing or empty config folder.

    A folder with any file in it is the user's: a file missing there is reported
    by :func:`load_config`, never replaced by an example that would send real
    leads to example partners.
    """
    if config_dir.exists() and any(config_dir.iterdir()):
        return
    try:
        config_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(EXAMPLE_CONFIG, config_dir, dirs_exist_ok=True)
    except (OSError, shutil.Error) as exc:
        raise ConfigError(
            f"{config_dir}: cannot copy the example config into this empty folder "
            f"({_copy_failure(exc)}). Make it writable for this user (check its "
            "owner, mode and immutable flag: lsattr, chattr -i), or put your own "
            "config files there"
        ) from None


def _copy_failure(error: OSError | shutil.Error) -> str:
    """Return the first reason of a failed copy, without the paths it lists."""
    if isinstance(error, shutil.Error) and error.args and error.args[0]:
        # shutil.Error carries a list of (source, target, reason) triples.
        return str(error.args[0][0][2])
    return error.strerror or str(error)


def load_config(config_dir: Path) -> Config:
    digest = hashlib.sha256()
    paths = sorted(config_dir.glob("*.yaml")) + _profile_paths(config_dir / "profiles")
    for path in paths:
        digest.update(path.read_bytes())

    partners_path = config_dir / "partners.yaml"
    raw_partners = _read_yaml(partners_path) or {}
    if not isinstance(raw_partners, dict):
        raise ConfigError(
            f"{partners_path}: the file must be a mapping with a 'partners:' list, "
            f"got a {type(raw_partners).__name__}; put 'partners:' on the first line "
            "and indent the list under it"
        )
    unknown = sorted(str(key) for key in raw_partners if key != "partners")
    if unknown:
        raise ConfigError(
            f"{partners_path}: unknown top-level keys {unknown}; the file contains "
            "only a 'partners:' list, so set each value on every partner that needs it"
        )
    raw_list = raw_partners.get("partners") or []
    if not isinstance(raw_list, list):
        raise ConfigError(
            f"{partners_path}: 'partners:' must be a list of partners, each starting "
            f"with '- id: ...', got a {type(raw_list).__name__}"
        )
    partners = [
        _validate(Partner, item, partners_path, _partner_prefix(index, item))
        for index, item in enumerate(raw_list)
    ]
    if not partners:
        raise ConfigError(
            f"{partners_path}: no partners defined under 'partners:'; add at least "
            f"one partner, as in the example config in {EXAMPLE_CONFIG}"
        )
    _check_unique_ids(partners, partners_path)

    rules_path = config_dir / "rules.yaml"
    rules = _validate(Rules, _read_yaml(rules_path), rules_path)

    profiles = _load_profiles(config_dir / "profiles")
    return Config(
        partners=partners,
        rules=rules,
        profiles=profiles,
        digest=digest.hexdigest()[:12],
    )


def _profile_paths(folder: Path) -> list[Path]:
    """Return the profile files in ``folder``: ``*.yaml`` and ``*.yml``, by name."""
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def _load_profiles(folder: Path) -> dict[str, Profile]:
    """Load every ``*.yaml`` and ``*.yml`` in ``folder``, keyed by profile name."""
    profiles: dict[str, Profile] = {}
    paths_by_folded_name: dict[str, Path] = {}
    for path in _profile_paths(folder):
        profile = _validate(Profile, _read_yaml(path), path)
        if profile.name != path.stem:
            raise ConfigError(
                f"{path}: field name: profile name {profile.name!r} differs from the "
                f"file name; set 'name: {path.stem}' or rename the file to "
                f"{profile.name}.yaml"
            )
        # The name is an inbox folder, and case-insensitive disks merge Web and web.
        clash = paths_by_folded_name.get(profile.name.casefold())
        if clash is not None:
            if clash.stem == path.stem:
                raise ConfigError(
                    f"{path}: profile {profile.name!r} is also in {clash}; keep one "
                    "of the two files"
                )
            raise ConfigError(
                f"{path}: profile name {profile.name!r} differs only in case from the "
                f"profile in {clash}; rename one of the two files and its 'name:'"
            )
        profiles[profile.name] = profile
        paths_by_folded_name[profile.name.casefold()] = path
    return profiles
