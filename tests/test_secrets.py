"""Secret references: environment variables and Prefect Secret blocks."""

from __future__ import annotations

import pytest

from leadshare.errors import ConfigError
from leadshare.settings import resolve_secret


def test_env_reference_resolved(monkeypatch):
    monkeypatch.setenv("TEST_SECRET_VALUE", "s3cret")

    assert resolve_secret("env:TEST_SECRET_VALUE") == "s3cret"
    assert resolve_secret(None) is None


def test_unset_env_reference_named(monkeypatch):
    monkeypatch.delenv("TEST_SECRET_UNSET", raising=False)

    with pytest.raises(ConfigError, match="TEST_SECRET_UNSET is not set"):
        resolve_secret("env:TEST_SECRET_UNSET")


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_env_reference_named(monkeypatch, value):
    monkeypatch.setenv("TEST_SECRET_EMPTY", value)

    with pytest.raises(ConfigError) as caught:
        resolve_secret("env:TEST_SECRET_EMPTY")

    assert str(caught.value) == (
        "secret reference 'env:TEST_SECRET_EMPTY': environment variable "
        "TEST_SECRET_EMPTY is empty; set it to the partner's secret (whsec_...) or "
        "change the reference"
    )


@pytest.mark.parametrize(
    "reference",
    [
        "whsec_dGVzdC1zZWNyZXQ",
        "https://hooks.example/T0/B0/abc",
        "env:",
        "block:",
        "env:http://127.0.0.1:18765/slack/LITERALSLACK77",
        "block:Has Spaces",
    ],
)
def test_invalid_reference_not_repeated(reference):
    with pytest.raises(ConfigError) as caught:
        resolve_secret(reference)

    assert "env:NAME" in str(caught.value)
    if len(reference) > 6:
        assert reference not in str(caught.value)


@pytest.mark.usefixtures("prefect_harness")
def test_block_reference_resolved():
    from prefect.blocks.system import Secret

    Secret(value="block-s3cret").save("test-leadshare-secret", overwrite=True)

    assert resolve_secret("block:test-leadshare-secret") == "block-s3cret"


@pytest.mark.usefixtures("prefect_harness")
def test_missing_block_is_config_error():
    with pytest.raises(ConfigError, match="no Prefect Secret block named 'nope-block'"):
        resolve_secret("block:nope-block")
