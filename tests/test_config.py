"""Config validation: an invalid file fails at load with the file, field and fix."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from leadshare.config import EXAMPLE_CONFIG, Rules, ensure_config, load_config
from leadshare.errors import ConfigError


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(EXAMPLE_CONFIG, folder)
    return folder


def _edit_first_partner(config_dir: Path, **changes) -> None:
    path = config_dir / "partners.yaml"
    data = yaml.safe_load(path.read_text())
    data["partners"][0].update(changes)
    path.write_text(yaml.safe_dump(data))


def _first_partner(config_dir: Path) -> dict:
    return yaml.safe_load((config_dir / "partners.yaml").read_text())["partners"][0]


def _load_error(config_dir: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    return str(caught.value)


BAD_PARTNER_FIELDS = [
    ("timezone", "Mars/Olympus", "not an IANA time zone"),
    ("timezone", "Europe", "not an IANA time zone"),
    ("webhook", {"url": "not a url", "secret": "env:X"}, "not a valid http(s) URL"),
    ("webhook", {"url": "http://127.0.0.1:99999/x", "secret": "env:X"}, "port"),
    ("webhook", {"url": "http://127.0.0.1 :80/a b", "secret": "env:X"}, "no spaces"),
    ("template", "nope.j2", "not approved"),
    ("id", "../../evil", "partner id '../../evil' is invalid"),
    ("territory", {"countries": ["UK"]}, "the United Kingdom is 'GB'"),
    ("territory", {"countries": ["Germany"]}, "use 'DE' for Germany"),
    ("fields", [], "the allowlist is empty"),
    (
        "fields",
        ["lead_id", "email", "company", "email"],
        "lead fields ['email'] are listed more than once",
    ),
    (
        "fields",
        ["score", "lead_id", "score", "lead_id", "score"],
        "lead fields ['lead_id', 'score'] are listed more than once",
    ),
    (
        "fields",
        ["lead_id", "emial"],
        "unknown lead fields ['emial']; use fields from this list: ['lead_id',",
    ),
    ("channel", "file_drop", "'webhook' is set but channel is 'file_drop'"),
    ("capacity_per_week", 100, "capacity_per_week (100) is smaller than"),
    ("sla_hours", -1, "sla_hours is -1; use a positive number of hours"),
    ("sla_hours", 0, "sla_hours is 0; use a positive number of hours"),
    ("tier", "Gold", "'Gold' is not one of 'gold', 'silver' or 'bronze'"),
    ("webhook", {"url": "http://127.0.0.1:1/x", "secret": "X"}, "must be a reference"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_PARTNER_FIELDS)
def test_bad_partner_field_named(config_dir, field, value, message):
    partner_id = _first_partner(config_dir)["id"]
    _edit_first_partner(config_dir, **{field: value})
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    text = str(caught.value)
    assert "partners.yaml" in text
    assert message in text
    if field != "id":
        assert f"partners[0] ({partner_id})" in text


@pytest.mark.parametrize(
    "field",
    [
        "email_display",
        "last_activity",
        "status",
        "do_not_email",
        "do_not_call",
        "unsubscribed_at",
    ],
)
def test_allowlist_rejects_undelivered_field(config_dir, field):
    from leadshare.config import DELIVERABLE_FIELDS

    partner_id = _first_partner(config_dir)["id"]
    _edit_first_partner(config_dir, fields=["lead_id", "company", field])

    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)

    text = str(caught.value)
    assert str(config_dir / "partners.yaml") in text
    assert f"partners[0] ({partner_id}).fields" in text
    assert f"lead fields [{field!r}] are not stored with the lead" in text
    assert str(list(DELIVERABLE_FIELDS)) in text


@pytest.mark.parametrize("owner", [None, "  "])
def test_crm_export_needs_owner(config_dir, owner):
    _edit_first_partner(
        config_dir, channel="crm_export", crm_owner_id=owner, webhook=None
    )
    with pytest.raises(ConfigError, match="needs 'crm_owner_id'"):
        load_config(config_dir)


OTHER_CHANNEL_SETTINGS = [
    ({"crm_owner_id": "OWN-1"}, "'crm_owner_id' is set but channel is 'webhook'"),
    (
        {"channel": "file_drop", "webhook": None, "crm_owner_id": "OWN-1"},
        "'crm_owner_id' is set but channel is 'file_drop'",
    ),
    (
        {"channel": "manual", "webhook": None, "template": "intro_brief.j2"},
        "'template' is set but channel is 'manual'",
    ),
    (
        {"channel": "crm_export", "crm_owner_id": "OWN-1"},
        "'webhook' is set but channel is 'crm_export'",
    ),
]


@pytest.mark.parametrize(("changes", "message"), OTHER_CHANNEL_SETTINGS)
def test_setting_of_other_channel_rejected(config_dir, changes, message):
    _edit_first_partner(config_dir, **changes)
    text = _load_error(config_dir)
    assert "partners.yaml: partners[0] (P-NORDWIND): " in text
    assert message in text
    assert "so it would never be used" in text


def test_null_other_channel_setting_accepted(config_dir):
    _edit_first_partner(
        config_dir, channel="file_drop", webhook=None, crm_owner_id=None
    )
    partner = load_config(config_dir).partners[0]
    assert partner.channel == "file_drop"
    assert partner.crm_owner_id is None


def test_partners_as_plain_list(config_dir):
    path = config_dir / "partners.yaml"
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(data["partners"]))
    with pytest.raises(ConfigError, match="must be a mapping with a 'partners:' list"):
        load_config(config_dir)


def test_copied_profile_keeps_old_name(config_dir):
    shutil.copyfile(
        config_dir / "profiles" / "generic.yaml", config_dir / "profiles" / "zz.yaml"
    )
    text = _load_error(config_dir)
    assert "zz.yaml: field name" in text
    assert "profile name 'generic' differs from the file name" in text
    assert "set 'name: zz'" in text


def test_inactive_reason():
    config = load_config(EXAMPLE_CONFIG)
    partner = config.partners[0]
    now = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
    assert partner.inactive_reason(now) is None
    paused = partner.model_copy(update={"status": "paused"})
    assert paused.inactive_reason(now) == "partner status is paused"
    ended = partner.model_copy(update={"agreement_expires": dt.date(2026, 12, 4)})
    assert ended.inactive_reason(now) == "partner agreement expired on 2026-12-04"


def test_agreement_ends_in_partner_time_zone():
    partner = load_config(EXAMPLE_CONFIG).partners[0]
    ends_dec_4 = {"agreement_expires": dt.date(2026, 12, 4)}
    # 2026-12-05 02:00 UTC is still December 4 in New York, already the 5th in Tokyo.
    now = dt.datetime(2026, 12, 5, 2, tzinfo=dt.UTC)
    new_york = partner.model_copy(update={**ends_dec_4, "timezone": "America/New_York"})
    tokyo = partner.model_copy(update={**ends_dec_4, "timezone": "Asia/Tokyo"})
    assert new_york.inactive_reason(now) is None
    assert tokyo.inactive_reason(now) == "partner agreement expired on 2026-12-04"


def test_empty_partners_key(config_dir):
    (config_dir / "partners.yaml").write_text("partners:\n")
    with pytest.raises(ConfigError, match="no partners defined"):
        load_config(config_dir)


def test_repeated_partner_id_named(config_dir):
    path = config_dir / "partners.yaml"
    data = yaml.safe_load(path.read_text())
    data["partners"].append(dict(data["partners"][0]))
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    assert f"['{data['partners'][0]['id']}'] appear more than once" in str(caught.value)


def test_missing_partners_file_not_replaced(config_dir):
    rules = config_dir / "rules.yaml"
    rules.write_text(rules.read_text().replace("threshold:", "threshold: 55 #"))
    own_rules = rules.read_text()
    (config_dir / "partners.yaml").unlink()

    ensure_config(config_dir)

    assert not (config_dir / "partners.yaml").exists()
    assert rules.read_text() == own_rules
    with pytest.raises(ConfigError, match="partners.yaml: file not found"):
        load_config(config_dir)


def test_example_config_in_empty_folder(tmp_path):
    folder = tmp_path / "config"
    folder.mkdir()
    ensure_config(folder)

    assert (folder / "partners.yaml").exists()
    assert load_config(folder).partners


def test_webhook_secret_value_not_repeated(config_dir):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    hook = {"url": "http://127.0.0.1:18765/leads", "secret": secret}
    _edit_first_partner(config_dir, webhook=hook)
    text = _load_error(config_dir)
    assert "partners[0] (P-NORDWIND).webhook.secret" in text
    assert "env:NAME" in text
    assert "block:NAME" in text
    assert secret not in text
    assert "MfKQ9r8G" not in text


def test_secret_hidden_behind_other_error(config_dir):
    # The first error is on the URL, but the secret must not appear in any part.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    _edit_first_partner(config_dir, webhook={"url": "nope", "secret": secret})
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    assert "not a valid http(s) URL" in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    assert secret not in str(caught.value)


@pytest.mark.parametrize(
    "reference", ["env:LEADSHARE_SECRET", "env:_X1", "block:partner-hook-2"]
)
def test_secret_references_accepted(config_dir, reference):
    hook = {"url": "http://127.0.0.1:18765/leads", "secret": reference}
    _edit_first_partner(config_dir, webhook=hook)
    assert load_config(config_dir).partners[0].webhook.secret == reference


@pytest.mark.parametrize("reference", ["env:", "env:1X", "block:Hook_1", "vault:x"])
def test_malformed_secret_reference(config_dir, reference):
    hook = {"url": "http://127.0.0.1:18765/leads", "secret": reference}
    _edit_first_partner(config_dir, webhook=hook)
    assert "must be a reference" in _load_error(config_dir)


def test_missing_field_names_partner_only(config_dir):
    path = config_dir / "partners.yaml"
    data = yaml.safe_load(path.read_text())
    del data["partners"][1]["capacity_per_day"]
    path.write_text(yaml.safe_dump(data))
    text = _load_error(config_dir)
    assert "field partners[1] (P-ALPENRAND).capacity_per_day" in text
    assert "required field is missing; add it" in text
    assert "{" not in text
    assert "Alpenrand Partners" not in text


def test_missing_rules_field_without_mapping(config_dir):
    _edit_rules(config_dir, drop=("threshold",))
    text = _load_error(config_dir)
    assert "rules.yaml: field threshold: required field is missing" in text
    assert "{" not in text


def test_model_error_names_partner_only(config_dir):
    _edit_first_partner(config_dir, channel="crm_export", webhook=None)
    text = _load_error(config_dir)
    place = f"{config_dir / 'partners.yaml'}: partners[0] (P-NORDWIND): "
    assert text.startswith(place + "channel 'crm_export' needs 'crm_owner_id'")
    assert "{" not in text
    assert "Nordwind Consulting" not in text


def test_unknown_top_level_partners_key(config_dir):
    path = config_dir / "partners.yaml"
    data = yaml.safe_load(path.read_text())
    data["defaults"] = {"timezone": "UTC"}
    path.write_text(yaml.safe_dump(data))
    text = _load_error(config_dir)
    assert "partners.yaml: unknown top-level keys ['defaults']" in text


def test_partner_ids_differing_in_case(config_dir):
    path = config_dir / "partners.yaml"
    data = yaml.safe_load(path.read_text())
    data["partners"][0]["id"] = "p-alpenrand"
    path.write_text(yaml.safe_dump(data))
    text = _load_error(config_dir)
    assert "['p-alpenrand', 'P-ALPENRAND'] differ only in case" in text


def _edit_rules(config_dir: Path, drop: tuple[str, ...] = (), **changes) -> None:
    path = config_dir / "rules.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    for key in drop:
        del data[key]
    path.write_text(yaml.safe_dump(data))


PURCHASED_LIST_PENALTY = {
    "field": "lead_source",
    "any_of": ["purchased list"],
    "points": -15,
}
EVENT_POINTS = {"field": "lead_source", "equals": "event", "points": 20}

BAD_RULES = [
    (
        {"required_fields": ["email", "emial"]},
        "field required_fields",
        "unknown lead fields ['emial']; use fields from this list: ['external_id',",
    ),
    ({"freshness_days": -10}, "field freshness_days", "freshness_days is -10"),
    ({"freshness_days": 0}, "field freshness_days", "freshness_days is 0"),
    (
        {"exclusions": {"unsupported_countries": ["Germany", "France"]}},
        "field exclusions.unsupported_countries",
        "country 'Germany' is not an ISO 3166 alpha-2 code such as 'DE'",
    ),
    (
        {"exclusions": {"unsupported_countries": ["DEU"]}},
        "field exclusions.unsupported_countries",
        "use 'DE' for Germany",
    ),
    (
        {"exclusions": {"unsupported_countries": ["UK"]}},
        "field exclusions.unsupported_countries",
        "the United Kingdom is 'GB'",
    ),
    (
        {"points": [{"field": "leadsource", "equals": "web", "points": 5}]},
        "field points[0].field",
        "unknown lead fields ['leadsource']",
    ),
    (
        {"points": [{"field": "company", "points": 50}]},
        "field points[0]:",
        "score rule on 'company' has no condition; add exactly one of equals, "
        "any_of, at_least, present",
    ),
    (
        {
            "points": [
                {"field": "engagement", "at_least": 3, "present": True, "points": 5}
            ]
        },
        "field points[0]:",
        "several conditions ['at_least', 'present']",
    ),
    (
        {"points": [{"field": "lead_source", "any_of": [], "points": 5}]},
        "field points[0]:",
        "empty any_of list",
    ),
    (
        {"tier_weights": {"Gold": 1.0, "silver": 0.8, "bronze": 0.6}},
        "field tier_weights",
        "unknown partner tiers ['Gold']; the tiers are ['gold', 'silver', 'bronze']",
    ),
    (
        {"tier_weights": {"gold": 1.0}},
        "field tier_weights",
        "no weight for tiers ['silver', 'bronze']",
    ),
    (
        {"tier_weights": {"gold": 1.0, "silver": -0.8, "bronze": 0.6}},
        "field tier_weights",
        "negative tier weights {'silver': -0.8}",
    ),
    (
        {"strategic": {"min_company_size": -1}},
        "field strategic.min_company_size",
        "the threshold is -1; use a positive number",
    ),
    (
        {"strategic": {"min_annual_revenue": -5.0}},
        "field strategic.min_annual_revenue",
        "the threshold is -5.0; use a positive number",
    ),
    (
        {"strategic": {"min_company_size": 0}},
        "field strategic.min_company_size",
        "the threshold is 0",
    ),
    ({"thresold": 20}, "field thresold", "unknown field"),
    (
        {"threshold": -5},
        "field threshold",
        "threshold is -5, but no lead can score below 0 because no score rule "
        "gives negative points; use 0 or more",
    ),
    (
        {"threshold": -30, "points": [PURCHASED_LIST_PENALTY, EVENT_POINTS]},
        "field threshold",
        "threshold is -30, but no lead can score below -15, the sum of the "
        "negative points; use -15 or more",
    ),
    (
        {"threshold": 200},
        "field threshold",
        "threshold is 200, but no lead can score above 85, the maximum score "
        "under the score rules; use 85 or less",
    ),
    (
        {"threshold": 1, "points": [PURCHASED_LIST_PENALTY]},
        "field threshold",
        "threshold is 1, but no lead can score above 0 because no score rule "
        "gives positive points; use 0 or less",
    ),
]


@pytest.mark.parametrize(("changes", "place", "message"), BAD_RULES)
def test_bad_rules_field_named(config_dir, changes, place, message):
    _edit_rules(config_dir, **changes)
    text = _load_error(config_dir)
    assert f"rules.yaml: {place}" in text
    assert message in text


@pytest.mark.parametrize("threshold", [-15, -10, 0])
def test_penalties_allow_negative_threshold(config_dir, threshold):
    _edit_rules(
        config_dir, threshold=threshold, points=[PURCHASED_LIST_PENALTY, EVENT_POINTS]
    )
    rules = load_config(config_dir).rules
    assert rules.threshold == threshold
    assert [rule.points for rule in rules.points] == [-15, 20]


def test_zero_threshold_without_penalties(config_dir):
    _edit_rules(config_dir, threshold=0)
    assert load_config(config_dir).rules.threshold == 0


def test_threshold_bound_of_shipped_rules(config_dir):
    # The shipped rules give at most 85: 20 for lead_source, whose two any_of
    # lists share no value, and 65 from the rules on other fields.
    _edit_rules(config_dir, threshold=85)
    assert load_config(config_dir).rules.threshold == 85

    _edit_rules(config_dir, threshold=85.5)
    assert "no lead can score above 85," in _load_error(config_dir)


def _rule(field: str, points: float, **condition) -> dict:
    return {"field": field, "points": points, **condition}


HIGHEST_SCORES = [
    ([], 0),
    ([PURCHASED_LIST_PENALTY, EVENT_POINTS], 20),
    (
        [
            _rule("lead_source", 20, any_of=["referral", "partner"]),
            _rule("lead_source", 10, any_of=["web", "ads"]),
        ],
        20,
    ),
    (
        [
            _rule("lead_source", 20, any_of=["referral", "partner"]),
            _rule("lead_source", 10, any_of=["Referral", "web"]),
        ],
        30,
    ),
    (
        [
            _rule("lead_source", 5, equals="Event"),
            _rule("lead_source", 10, any_of=["event"]),
            _rule("lead_source", 7, equals="web"),
        ],
        15,
    ),
    ([_rule("lead_source", 10, any_of=["Web", "web", "WEB"])], 10),
    (
        [
            _rule("engagement", 10, at_least=3),
            _rule("engagement", 10, at_least=40),
        ],
        20,
    ),
    (
        [
            _rule("company", 10, present=True),
            _rule("company", 4, present=False),
        ],
        10,
    ),
    (
        [
            _rule("company", 15, present=False),
            _rule("company", 10, present=True),
            _rule("company", 3, equals="acme"),
        ],
        15,
    ),
    (
        [
            _rule("company_size", 5, any_of=["500"]),
            _rule("company_size", 3, at_least=100),
            _rule("company_size", 2, present=True),
            _rule("company_size", -8, at_least=1000),
        ],
        10,
    ),
    ([_rule("annual_revenue", 1234567, at_least=1)], 1234567),
]


@pytest.mark.parametrize(("points", "highest"), HIGHEST_SCORES)
def test_threshold_up_to_highest_score(points, highest):
    rules = {"version": "t", "points": points}
    assert Rules.model_validate({**rules, "threshold": highest}).threshold == highest
    with pytest.raises(ValidationError, match=f"no lead can score above {highest}"):
        Rules.model_validate({**rules, "threshold": highest + 1})


def test_highest_score_allows_rounding():
    # A lead that matches all three rules scores (0.01 + 0.03) + 0.06 = 0.1, while
    # summing the points per field gives (0.01 + 0.06) + 0.03 = 0.09999999999999999.
    points = [
        _rule("engagement", 0.01, at_least=1),
        _rule("company", 0.03, present=True),
        _rule("engagement", 0.06, at_least=2),
    ]
    rules = Rules.model_validate({"version": "t", "points": points, "threshold": 0.1})
    assert rules.threshold == 0.1
    with pytest.raises(ValidationError, match="no lead can score above 0.1,"):
        Rules.model_validate({"version": "t", "points": points, "threshold": 0.11})


def test_rules_accept_derived_fields(config_dir):
    points = [
        {"field": "email_key", "present": True, "points": 10},
        {"field": "country_code", "equals": "de", "points": 5},
    ]
    # The shipped threshold of 20 is above the 15 points these rules can give.
    _edit_rules(
        config_dir, required_fields=["email", "phone_e164"], points=points, threshold=15
    )
    rules = load_config(config_dir).rules
    assert rules.required_fields == ["email", "phone_e164"]
    assert [rule.field for rule in rules.points] == ["email_key", "country_code"]


def test_unsupported_countries_upper_cased(config_dir):
    _edit_rules(config_dir, exclusions={"unsupported_countries": ["kp", "IR"]})
    rules = load_config(config_dir).rules
    assert rules.exclusions.unsupported_countries == ["KP", "IR"]


def test_derived_fields_are_normalised_columns():
    from leadshare.config import DERIVED_FIELDS
    from leadshare.normalise import NORMALISED_COLUMNS

    without_errors = [
        name for name in NORMALISED_COLUMNS if not name.endswith("_error")
    ]
    assert sorted(DERIVED_FIELDS) == sorted(without_errors)


def _edit_profile(config_dir: Path, stem: str, changes: dict) -> None:
    path = config_dir / "profiles" / f"{stem}.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))


BAD_PROFILES = [
    ({"name": "generik"}, "field name: profile name 'generik' differs"),
    ({"name": "../escape"}, "field name: profile name '../escape' is invalid"),
    ({"name": "a/b"}, "field name: profile name 'a/b' is invalid"),
    ({"name": ".."}, "field name: profile name '..' is invalid"),
    ({"required_fields": ["emial"]}, "field required_fields: unknown lead fields"),
    (
        {"number_format": "1.234.56"},
        "field number_format: number_format '1.234.56' is not supported. Write "
        "'1,234.56' (in quotes) when the source writes 1,234,567.89, or '1.234,56' "
        "when it writes 1.234.567,89",
    ),
    (
        {"columns": {"email": "email", "consent_share": "c", "citty": "City"}},
        "field columns: unknown lead fields ['citty'] (did you mean city for citty?)",
    ),
    (
        {"columns": {"email": "email", "consent_share": "c", "city": 5}},
        "field columns.city: expected text, got the number 5",
    ),
    ({"number_format": "german"}, "number_format 'german' is not supported"),
    ({"number_format": 1234.56}, "number_format 1234.56 is not supported"),
    ({"number_format": None}, "number_format None is not supported"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_PROFILES)
def test_bad_profile_field_named(config_dir, changes, message):
    _edit_profile(config_dir, "generic", changes)
    text = _load_error(config_dir)
    assert "generic.yaml: " in text
    assert message in text


@pytest.mark.parametrize(
    "name", ["consent_share", "do_not_email", "do_not_call", "unsubscribed_at"]
)
def test_consent_default_on_mapped_column_rejected(config_dir, name):
    _edit_profile(config_dir, "generic", {"defaults": {name: "yes"}})
    text = _load_error(config_dir)

    assert "generic.yaml: field defaults: " in text
    assert f"a default for {name} ('yes') is not allowed" in text
    assert f"maps {name} to column '{name}'" in text
    assert f"Remove {name} from 'defaults'" in text


def test_consent_default_on_absent_column_loads(config_dir):
    profiles = load_config(config_dir).profiles

    assert profiles["xeducation"].defaults["consent_share"] == "yes"
    assert "consent_share" not in profiles["xeducation"].columns
    assert profiles["datablist"].defaults["consent_share"] == "yes"


@pytest.mark.parametrize("number_format", ["1,234.56", "1.234,56"])
def test_profile_number_format_loads(config_dir, number_format):
    _edit_profile(config_dir, "generic", {"number_format": number_format})

    profiles = load_config(config_dir).profiles

    assert profiles["generic"].number_format == number_format


def test_profile_number_format_default(config_dir):
    profiles = load_config(config_dir).profiles

    assert profiles["datablist"].number_format == "1,234.56"


def test_profile_names_differing_in_case(config_dir):
    folder = config_dir / "profiles"
    data = yaml.safe_load((folder / "generic.yaml").read_text())
    data["name"] = "Generic"
    (folder / "Generic.yaml").write_text(yaml.safe_dump(data))
    text = _load_error(config_dir)
    assert "differs only in case" in text


def test_yml_profile_loaded(config_dir):
    folder = config_dir / "profiles"
    data = yaml.safe_load((folder / "generic.yaml").read_text())
    data["name"] = "webform"
    (folder / "webform.yml").write_text(yaml.safe_dump(data))

    profiles = load_config(config_dir).profiles

    assert profiles["webform"].columns == profiles["generic"].columns


def test_profile_in_yaml_and_yml_named(config_dir):
    folder = config_dir / "profiles"
    (folder / "generic.yml").write_text((folder / "generic.yaml").read_text())

    text = _load_error(config_dir)

    assert text == (
        f"{folder / 'generic.yml'}: profile 'generic' is also in "
        f"{folder / 'generic.yaml'}; keep one of the two files"
    )


def _set_value(config_dir: Path, file: str, keys: tuple, value) -> None:
    """Set the value under ``keys`` (mapping keys and list indexes) in ``file``."""
    path = config_dir / file
    data = yaml.safe_load(path.read_text())
    target = data
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    path.write_text(yaml.safe_dump(data))


# YAML 1.1 reads unquoted yes, no, on and off as booleans, and pydantic's lax mode
# would turn them into 1 and 0 in a number field.
NUMBER_FIELDS = [
    ("partners.yaml", ("partners", 0, "capacity_per_day")),
    ("partners.yaml", ("partners", 0, "capacity_per_week")),
    ("partners.yaml", ("partners", 0, "performance")),
    ("partners.yaml", ("partners", 0, "sla_hours")),
    ("rules.yaml", ("threshold",)),
    ("rules.yaml", ("freshness_days",)),
    ("rules.yaml", ("points", 0, "points")),
    ("rules.yaml", ("points", 2, "at_least")),
    ("rules.yaml", ("strategic", "min_company_size")),
    ("rules.yaml", ("strategic", "min_annual_revenue")),
    ("rules.yaml", ("tier_weights", "gold")),
    ("profiles/generic.yaml", ("max_null_rate", "email")),
]


def _place(keys: tuple) -> str:
    """Write ``keys`` as config errors name a field, such as points[0].points."""
    place = ""
    for key in keys:
        place += f"[{key}]" if isinstance(key, int) else f".{key}"
    return place.lstrip(".").replace("partners[0]", "partners[0] (P-NORDWIND)")


@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize(("file", "keys"), NUMBER_FIELDS)
def test_boolean_in_number_field_rejected(config_dir, file, keys, value):
    _set_value(config_dir, file, keys, value)
    text = _load_error(config_dir)
    assert f"{file}: field {_place(keys)}: expected " in text
    assert f"got the boolean {str(value).lower()}" in text
    assert "YAML reads unquoted yes, no, on and off as booleans" in text


def test_freshness_days_yes_rejected(config_dir):
    rules = config_dir / "rules.yaml"
    text = rules.read_text().replace("freshness_days: 45", "freshness_days: yes")
    rules.write_text(text)
    error = _load_error(config_dir)
    assert "rules.yaml: field freshness_days: expected a whole number" in error
    assert "got the boolean true" in error


FLAG_FIELDS = [("exclusions", "b2b_only"), ("points", 4, "present")]
NOT_BOOLEANS = [
    (1, "got 1; write true or false"),
    (0, "got 0; write true or false"),
    ("yes", "got the text 'yes'; write true or false without quotes"),
    ("true", "got the text 'true'; write true or false without quotes"),
]


@pytest.mark.parametrize(("value", "message"), NOT_BOOLEANS)
@pytest.mark.parametrize("keys", FLAG_FIELDS)
def test_non_boolean_flag_rejected(config_dir, keys, value, message):
    _set_value(config_dir, "rules.yaml", keys, value)
    text = _load_error(config_dir)
    assert f"rules.yaml: field {_place(keys)}: expected true or false" in text
    assert message in text


@pytest.mark.parametrize(
    ("keys", "value", "message"),
    [
        (
            ("freshness_days",),
            "45",
            "got the text '45'; write a whole number without quotes",
        ),
        (("freshness_days",), 1.5, "expected a whole number, got 1.5"),
        (("threshold",), "20", "expected a number, got the text '20'"),
    ],
)
def test_text_or_fraction_in_number_rejected(config_dir, keys, value, message):
    _set_value(config_dir, "rules.yaml", keys, value)
    text = _load_error(config_dir)
    assert f"rules.yaml: field {_place(keys)}: " in text
    assert message in text


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize(
    "line", ["threshold: 20", "min_annual_revenue: 50000000", "gold: 1.0"]
)
def test_non_finite_number_rejected(config_dir, line, value):
    rules = config_dir / "rules.yaml"
    name = line.split(":")[0]
    rules.write_text(rules.read_text().replace(line, f"{name}: {value}"))
    text = _load_error(config_dir)
    assert f"{name}: " in text
    assert "Input should be a finite number" in text


def test_numbers_keep_their_types():
    config = load_config(EXAMPLE_CONFIG)
    partner = config.partners[0]
    assert type(partner.capacity_per_day) is int
    assert type(partner.sla_hours) is int
    assert type(config.rules.freshness_days) is int
    assert config.rules.threshold == 20
    assert config.rules.tier_weights["gold"] == 1.0
    assert config.rules.exclusions.b2b_only is False


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET_LINE = "      secret: env:LEADSHARE_DEMO_WEBHOOK_SECRET"

# Each replaces the secret reference line of partners.yaml with a pasted secret that
# breaks the YAML in another way.
BROKEN_SECRET_LINES = [
    f"      secret: {SECRET}: x",  # a second ': ' on the line
    f"      secret: *{SECRET}",  # an alias that is not defined
    f"      secret: !{SECRET} x",  # a tag that safe_load cannot construct
    f'      secret: "{SECRET}',  # a quote that is never closed
    f"      secret: {SECRET}\x07",  # a control character
    f"\tsecret: {SECRET}",  # a tab as indentation
]


def _break_secret_line(config_dir: Path, line: str) -> Path:
    path = config_dir / "partners.yaml"
    text = path.read_text()
    assert SECRET_LINE in text
    path.write_text(text.replace(SECRET_LINE, line))
    return path


@pytest.mark.parametrize("line", BROKEN_SECRET_LINES)
def test_yaml_error_hides_line_text(config_dir, line):
    path = _break_secret_line(config_dir, line)
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    text = str(caught.value)
    fix = "fix the YAML syntax at that position"
    if line.startswith("\t"):
        fix = "indent with spaces, because YAML does not allow tabs there"
    assert text.startswith(f"{path}: invalid YAML at line ")
    assert fix in text
    assert "whsec_" not in text
    assert SECRET[6:14] not in text
    assert "secret:" not in text
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_yaml_error_names_line_and_column(config_dir):
    line = f"      secret: {SECRET}: x"
    path = _break_secret_line(config_dir, line)
    number = path.read_text().splitlines().index(line) + 1
    column = line.index(": x") + 1
    text = _load_error(config_dir)
    assert f"invalid YAML at line {number}, column {column}: " in text
    assert "mapping values are not allowed here" in text


def test_yaml_error_keeps_quoted_character(config_dir):
    path = _break_secret_line(config_dir, f"\tsecret: {SECRET}")
    number = path.read_text().splitlines().index(f"\tsecret: {SECRET}") + 1
    text = _load_error(config_dir)
    assert f"line {number}, column 1: " in text
    assert r"found character '\t' that cannot start any token" in text


def test_yaml_error_names_quote_start(config_dir):
    rules = config_dir / "rules.yaml"
    rules.write_text("version: '2026.12-1\nthreshold: 20\n")
    text = _load_error(config_dir)
    assert "rules.yaml: invalid YAML at line 3, column 1: " in text
    assert "found unexpected end of stream" in text
    assert "while scanning a quoted scalar at line 1, column 10" in text


def test_yaml_error_keeps_token_name(config_dir):
    (config_dir / "rules.yaml").write_text("version: x\nthreshold: [1, 2\n")
    text = _load_error(config_dir)
    assert "expected ',' or ']', but got '<stream end>'" in text
    assert "(while parsing a flow sequence at line 2, column 12)" in text


@pytest.mark.parametrize(("length", "fails"), [(64, False), (65, True), (200, True)])
def test_partner_id_length_limited(config_dir, length, fails):
    _edit_first_partner(config_dir, id="P" + "x" * (length - 1))

    if fails:
        error = _load_error(config_dir)
        assert f"has {length} characters; use at most 64" in error
    else:
        assert load_config(config_dir).partners[0].id == "P" + "x" * (length - 1)


def _line_of(path: Path, line: str) -> int:
    """Return the 1-based number of the first line of ``path`` equal to ``line``."""
    return path.read_text().splitlines().index(line) + 1


def test_repeated_partner_key_rejected(config_dir):
    # The user pauses the partner with a status line above its existing one.
    path = config_dir / "partners.yaml"
    text = path.read_text().replace(
        "  - id: P-NORDWIND\n", "  - id: P-NORDWIND\n    status: paused\n", 1
    )
    text = text.replace(
        "    name: Nordwind Consulting\n",
        "    name: Nordwind Consulting\n    status: active\n",
        1,
    )
    path.write_text(text)
    error = _load_error(config_dir)
    first = _line_of(path, "    status: paused")
    repeat = _line_of(path, "    status: active")
    assert error.startswith(f"{path}: line {repeat}: ")
    assert "key partners[0] (P-NORDWIND).status" in error
    assert f"repeats the key on line {first}" in error
    assert "keep one" in error


def test_repeated_nested_key_rejected(config_dir):
    path = config_dir / "partners.yaml"
    url = "      url: http://127.0.0.1:18765/leads"
    path.write_text(path.read_text().replace(url, f"{url}\n{url}", 1))
    error = _load_error(config_dir)
    first = _line_of(path, url)
    assert f"{path}: line {first + 1}: " in error
    assert "key partners[0] (P-NORDWIND).webhook.url" in error
    assert f"repeats the key on line {first}" in error


def test_repeated_rules_key_rejected(config_dir):
    path = config_dir / "rules.yaml"
    path.write_text(path.read_text() + "threshold: 2000\n")
    error = _load_error(config_dir)
    first = _line_of(path, "threshold: 20")
    repeat = _line_of(path, "threshold: 2000")
    assert f"{path}: line {repeat}: key threshold repeats" in error
    assert f"on line {first}" in error
    assert "keep one" in error


def test_repeated_profile_key_rejected(config_dir):
    path = config_dir / "profiles" / "generic.yaml"
    repeated = "  email: email\n  email: e_mail\n"
    path.write_text(path.read_text().replace("  email: email\n", repeated))
    error = _load_error(config_dir)
    first = _line_of(path, "  email: email")
    assert f"{path}: line {first + 1}: key columns.email repeats" in error
    assert f"on line {first}" in error


def test_repeated_key_in_flow_mapping(config_dir):
    path = config_dir / "partners.yaml"
    line = "    territory: {countries: [DE, AT], countries: [GB]}"
    text = path.read_text()
    path.write_text(text.replace("    territory: {countries: [DE, AT]}", line))
    error = _load_error(config_dir)
    number = _line_of(path, line)
    assert f"{path}: line {number}: " in error
    assert "key partners[1] (P-ALPENRAND).territory.countries" in error
    assert f"repeats the key on line {number}" in error


def _merge_first_webhook(config_dir, line: str) -> None:
    """Make P-ALPENRAND a webhook partner whose settings merge the first webhook's."""
    path = config_dir / "partners.yaml"
    text = path.read_text()
    text = text.replace("    webhook:\n", "    webhook: &hook\n", 1)
    text = text.replace(
        "    channel: file_drop\n",
        f"    channel: webhook\n    webhook:\n      <<: *hook\n      {line}\n",
        1,
    )
    path.write_text(text)


def test_merge_key_may_override(config_dir):
    # A key written next to '<<' replaces the merged value and is no repeat.
    _merge_first_webhook(config_dir, "url: http://127.0.0.1:18766/leads")
    config = load_config(config_dir)
    hook = config.partner("P-ALPENRAND").webhook
    assert hook.url == "http://127.0.0.1:18766/leads"
    assert hook.secret == "env:LEADSHARE_DEMO_WEBHOOK_SECRET"


def test_repeated_merge_key_rejected(config_dir):
    _merge_first_webhook(config_dir, "<<: {url: http://127.0.0.1:18766/leads}")
    error = _load_error(config_dir)
    assert "key partners[1] (P-ALPENRAND).webhook.<<" in error
    assert "keep one" in error


def test_impossible_date_named(config_dir):
    path = config_dir / "partners.yaml"
    text = path.read_text().replace(
        "  - id: P-NORDWIND\n",
        "  - id: P-NORDWIND\n    agreement_expires: 2026-13-01\n",
        1,
    )
    path.write_text(text)

    error = _load_error(config_dir)

    line = _line_of(path, "    agreement_expires: 2026-13-01")
    assert error.startswith(f"{path}: line {line}: ")
    assert "partners[0] (P-NORDWIND).agreement_expires is 2026-13-01" in error
    assert "not a valid date (month must be in 1..12)" in error
    assert error.endswith("write an existing date as YYYY-MM-DD")


def test_negative_capacity_in_words(config_dir):
    _set_value(config_dir, "partners.yaml", ("partners", 0, "capacity_per_day"), -5)

    error = _load_error(config_dir)

    assert error.endswith(
        "partners[0] (P-NORDWIND).capacity_per_day: must be 0 or more, got -5; "
        "change the value"
    )


TEXT_FIELDS_WITH_YAML_TYPES = [
    (
        ("partners", 0, "territory", "countries", 0),
        False,
        'got the boolean false (YAML reads unquoted yes, no, on, off, true and false '
        'as booleans, the country code NO included); write it in quotes, '
        'such as "NO"',
    ),
    (
        ("strategic", "named_accounts", 0),
        True,
        'got the boolean true (YAML reads unquoted yes, no, on, off, true and false '
        'as booleans, here from yes, on or true); write it in quotes, such as "yes"',
    ),
    (("version",), 2026.12, 'got the number 2026.12; write it in quotes'),
    (("version",), dt.date(2026, 12, 1), "got the date 2026-12-01; write it in"),
]


@pytest.mark.parametrize(("keys", "value", "message"), TEXT_FIELDS_WITH_YAML_TYPES)
def test_unquoted_text_value_gets_fix(config_dir, keys, value, message):
    file = "partners.yaml" if keys[0] == "partners" else "rules.yaml"
    _set_value(config_dir, file, keys, value)

    error = _load_error(config_dir)

    assert f"{file}: field {_place(keys)}: expected text, {message}" in error


def test_boolean_vocabulary_key_named(config_dir):
    _edit_profile(
        config_dir, "generic", {"values": {"do_not_email": {True: "yes"}}}
    )

    error = _load_error(config_dir)

    assert "field values.do_not_email: a key of this mapping: expected text" in error
    assert "got the boolean true" in error
    # A vocabulary key is no country code, so the hint names the words instead.
    assert "country code" not in error
    assert 'write it in quotes, such as "yes"' in error


@pytest.mark.parametrize(
    ("file", "typo", "meant"),
    [
        ("partners.yaml", ("partners", 0, "capacty_per_week"), "capacity_per_week"),
        ("rules.yaml", ("freshnes_days",), "freshness_days"),
    ],
)
def test_misspelt_key_named_first(config_dir, file, typo, meant):
    path = config_dir / file
    data = yaml.safe_load(path.read_text())
    target = data["partners"][0] if file == "partners.yaml" else data
    target[typo[-1]] = target.pop(meant)
    path.write_text(yaml.safe_dump(data))

    error = _load_error(config_dir)

    assert f"field {_place(typo)}: unknown field; did you mean {meant}?" in error


@pytest.mark.parametrize("name", ["partners.yaml", "rules.yaml"])
def test_cp1252_config_named_with_line(config_dir, name):
    path = config_dir / name
    text = path.read_text(encoding="utf-8")
    if "è" not in text:
        text += "# Lumière\n"
    number = text[: text.index("è")].count("\n") + 1
    path.write_bytes(text.encode("cp1252"))

    error = _load_error(config_dir)

    assert error.startswith(f"{path}: line {number}: byte 0xE8 is not valid UTF-8")
    assert "save it as UTF-8" in error


def test_utf16_config_named(config_dir):
    path = config_dir / "partners.yaml"
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))

    error = _load_error(config_dir)

    assert error.startswith(f"{path}: the file is saved as UTF-16")


def test_octal_postcode_gets_quoted_fix(config_dir):
    path = config_dir / "partners.yaml"
    data = yaml.safe_load(path.read_text())
    data["partners"][0]["territory"]["postcode_prefixes"] = ["PLACEHOLDER"]
    path.write_text(yaml.safe_dump(data).replace("PLACEHOLDER", "010"))

    error = _load_error(config_dir)

    assert "expected text, got the number 8" in error
    assert 'reads 010 as the octal number 8 (write "010")' in error


def test_exponent_capacity_gets_digits_fix(config_dir):
    _edit_first_partner(config_dir, capacity_per_day="1e9")
    path = config_dir / "partners.yaml"
    path.write_text(path.read_text().replace("'1e9'", "1e9"))

    error = _load_error(config_dir)

    assert "got the text '1e9', because YAML reads a number with an exponent" in error
    assert "write a whole number in full digits" in error
    assert "without quotes" not in error


def test_tab_indent_gets_spaces_fix(config_dir):
    path = config_dir / "rules.yaml"
    lines = path.read_text().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if line.startswith("  "))
    lines[number] = "\t" + lines[number].lstrip(" ")
    path.write_text("".join(lines))

    error = _load_error(config_dir)

    assert "indent with spaces, because YAML does not allow tabs there" in error


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("rules.yaml", "", "top level: the file is empty; copy it from"),
        ("profiles/generic.yaml", "\n", "top level: the file is empty; copy it from"),
        ("rules.yaml", "- a\n", "top level: expected keys and values (key: value"),
    ],
)
def test_empty_or_list_file_named_plainly(config_dir, name, text, message):
    (config_dir / name).write_text(text)

    error = _load_error(config_dir)

    assert error.startswith(f"{config_dir / name}: {message}")
    assert "instance of" not in error


def test_empty_strategic_section_named(config_dir):
    path = config_dir / "rules.yaml"
    data = yaml.safe_load(path.read_text())
    data["strategic"] = None
    path.write_text(yaml.safe_dump(data))

    error = _load_error(config_dir)

    assert "field strategic: is empty; write its keys and values" in error
    assert "instance of" not in error


@pytest.mark.parametrize(
    ("file", "keys", "known"),
    [
        ("rules.yaml", ("exclusions", "free_mail_domain"), "free_mail_domains"),
        ("rules.yaml", ("strategic", "min_companysize"), "min_company_size"),
        ("rules.yaml", ("points", 1, "anyof"), "any_of"),
        (
            "partners.yaml",
            ("partners", 0, "territory", "postcodes"),
            "postcode_prefixes",
        ),
    ],
)
def test_nested_unknown_key_gets_nearest(config_dir, file, keys, known):
    path = config_dir / file
    data = yaml.safe_load(path.read_text())
    node = data
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = ["1"]
    path.write_text(yaml.safe_dump(data))

    error = _load_error(config_dir)

    assert f"unknown field; did you mean {known}? Correct its spelling" in error


def test_single_value_for_list_named(config_dir):
    _edit_rules(config_dir, exclusions={"unsupported_countries": "KP"})

    message = " ".join(_load_error(config_dir).split())

    assert "field exclusions.unsupported_countries" in message
    assert "expected a list, got 'KP'" in message
    assert "such as [KP]" in message


def test_status_in_wrong_case_named(config_dir):
    _edit_first_partner(config_dir, status="Paused")

    message = " ".join(_load_error(config_dir).split())

    assert "'Paused' is not one of" in message
    assert "'active'" in message
    assert "(in this letter case)" in message
