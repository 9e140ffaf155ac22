"""Config validation: an invalid file fails at load with the file, field and fix."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from leadshare.config import EXAMPLE_CONFIG, ensure_config, load_config
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


@pytest.mark.parametrize("owner", [None, "  "])
def test_crm_export_needs_owner(config_dir, owner):
    _edit_first_partner(
        config_dir, channel="crm_export", crm_owner_id=owner, webhook=None
    )
    with pytest.raises(ConfigError, match="needs 'crm_owner_id'"):
        load_config(config_dir)


def test_partners_as_plain_list(config_dir):
    path = config_dir / "partners.yaml"
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(data["partners"]))
    with pytest.raises(ConfigError, match="must be a mapping with a 'partners:' list"):
        load_config(config_dir)


def test_duplicate_profile_name(config_dir):
    shutil.copyfile(
        config_dir / "profiles" / "generic.yaml", config_dir / "profiles" / "zz.yaml"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    assert "zz.yaml" in str(caught.value)
    assert "already used by" in str(caught.value)


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


def _edit_rules(config_dir: Path, drop: tuple[str, ...] = (), **changes) -> None:
    path = config_dir / "rules.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    for key in drop:
        del data[key]
    path.write_text(yaml.safe_dump(data))
