"""The one place that decides where leadshare keeps its files and how it connects.

Every value comes from the environment with the ``LEADSHARE_`` prefix (Prefect reads
``PREFECT_*`` itself, so the two never mix). Secrets are never read here: a partner's
webhook secret or a Slack token is named by reference (``env:NAME`` or
``block:NAME``) in the partner config and resolved by :func:`resolve_secret`.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadshare.errors import ConfigError


ENV_PREFIX = "LEADSHARE_"

MAX_SECONDS = 86_400.0
"""The upper bound of the time settings, one day. A timeout of 1e30 s overflowed the
date arithmetic of the retry schedule and failed every webhook delivery."""


class Settings(BaseSettings):
    """Runtime settings; the folder layout hangs off ``home``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    home: Path = Field(
        default=Path("var"), description="Folder with store, inbox, outbox, config."
    )
    db_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is a DuckDB file in home."
    )
    outbox_dir: Path | None = Field(
        default=None,
        description="Folder of partner file drops, CRM exports and the manual queue "
        "(default home/outbox). Homes that share one PostgreSQL store must share it.",
    )
    journal_dir: Path | None = Field(
        default=None,
        description="Folder of the webhook journals (default home/journal). Homes "
        "that share one PostgreSQL store must share it.",
    )
    seed: int = Field(
        default=7, description="Seed for deterministic tie-breaks in matching."
    )
    http_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=MAX_SECONDS,
        allow_inf_nan=False,
        description="Timeout of one partner HTTP request, seconds.",
    )
    http_attempts: int = Field(
        default=3, ge=1, description="Attempts per delivery within one run."
    )
    http_deadline_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_SECONDS,
        allow_inf_nan=False,
        description="Total time limit of one partner HTTP request, in seconds. "
        "The default is 3 times http_timeout_s.",
    )
    webhook_budget_s: float = Field(
        default=600.0,
        gt=0,
        le=MAX_SECONDS,
        allow_inf_nan=False,
        description="Time for one partner's webhook deliveries in one run, in "
        "seconds. It is checked before each transfer, so a send in progress "
        "finishes first. Transfers still due after it wait for the next run.",
    )
    inbox_settle_s: float = Field(
        default=5.0,
        ge=0,
        le=MAX_SECONDS,
        allow_inf_nan=False,
        description="Seconds an inbox file must go unmodified before a run claims "
        "it. A file modified more recently is probably still being written, so it "
        "is left for the next run. 0 claims every file.",
    )
    store_wait_s: float = Field(
        default=30.0,
        ge=0,
        le=MAX_SECONDS,
        allow_inf_nan=False,
        description="Seconds a run or command waits for a DuckDB store file that "
        "another process has open, before it fails with a message naming that "
        "process. Ignored on PostgreSQL.",
    )
    slack_webhook: str | None = Field(
        default=None,
        description="Reference to the Slack incoming-webhook URL: env:NAME or block:NAME.",
    )
    slack_reminder_hours: float = Field(
        default=24.0,
        ge=0,
        le=24 * 7,
        allow_inf_nan=False,
        description="Hours after the last Slack post at which a run with nothing "
        "new posts a reminder of the leads in the approval queue. 0 turns the "
        "reminder off.",
    )
    failpoint: str | None = Field(
        default=None, description="Test only: name of a step to crash at."
    )

    @field_validator("home", mode="before")
    @classmethod
    def _home_not_blank(cls, value: object) -> object:
        # Path("") is the current folder, so a blank LEADSHARE_HOME= would fill
        # whatever folder the command runs in.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; set it to a folder, or unset it to use ./var")
        return value

    @field_validator("outbox_dir", "journal_dir", mode="before")
    @classmethod
    def _blank_folder_is_default(cls, value: object) -> object:
        # A blank value means the default folder in home, not the current folder.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @cached_property
    def root(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def processed(self) -> Path:
        return self.root / "processed"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def outbox(self) -> Path:
        """Partner file drops, CRM exports and the manual-handoff queue."""
        if self.outbox_dir is not None:
            return self.outbox_dir.expanduser().resolve()
        return self.root / "outbox"

    @property
    def journal(self) -> Path:
        """Webhooks accepted by partners and not yet recorded in the store."""
        if self.journal_dir is not None:
            return self.journal_dir.expanduser().resolve()
        return self.root / "journal"

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"duckdb:///{self.root / 'leadshare.duckdb'}"

    def ensure_folders(self) -> None:
        """Create the folders of LEADSHARE_HOME, or raise ConfigError naming the one that fails."""
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(
                f"LEADSHARE_HOME {self.root} is a file, not a folder; set "
                "LEADSHARE_HOME to a folder (it is created when missing)"
            )
        for folder in (
            self.inbox,
            self.processed,
            self.quarantine,
            self.outbox,
            self.journal,
            self.config_dir,
        ):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"{folder}: cannot create this folder of LEADSHARE_HOME "
                    f"({exc.strerror}). Remove or rename what is in the way, or set "
                    "LEADSHARE_HOME to a writable folder"
                ) from exc


def get_settings() -> Settings:
    """Read the settings afresh, so a changed environment (tests, CLI) takes effect.

    An invalid value raises ConfigError naming the environment variable. The value
    itself is not repeated, because a store URL can contain a password.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"{ENV_PREFIX}{str(error['loc'][0]).upper()}: "
            + error["msg"].removeprefix("Value error, ")
            for error in exc.errors()
        ]
        raise ConfigError(
            "invalid setting in the environment: " + "; ".join(problems)
            + ". Fix the variable or unset it to use the default"
        ) from None


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Prefect 3.9 accepts block names of lowercase letters, digits and dashes only
# (prefect.types.names).
BLOCK_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
SECRET_REFERENCE = re.compile(f"env:{ENV_NAME.pattern}|block:{BLOCK_NAME.pattern}")


def resolve_secret(reference: str | None) -> str | None:
    """Turn ``env:NAME`` or ``block:NAME`` into the secret value; never log the result.

    Raises ConfigError when the reference does not resolve. Its message never
    repeats a reference of another form, because that may be the secret itself.
    """
    if reference is None:
        return None
    kind, _, name = reference.partition(":")
    if kind == "env" and ENV_NAME.fullmatch(name):
        value = os.environ.get(name)
        if value is None:
            raise ConfigError(
                f"secret reference {reference!r}: environment variable {name} is not set; "
                f"export it or change the reference"
            )
        if not value.strip():
            raise ConfigError(
                f"secret reference {reference!r}: environment variable {name} is "
                "empty; set it to the partner's secret (whsec_...) or change the "
                "reference"
            )
        return value
    if kind == "block" and BLOCK_NAME.fullmatch(name):
        return _secret_block_value(name)
    raise ConfigError(
        "a secret reference is invalid (value not shown, as it may be the secret "
        "itself): write 'env:NAME' or 'block:NAME' and keep the secret in that "
        "environment variable or Prefect Secret block"
    )


def _secret_block_value(name: str) -> str:
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(name).get()
    except ValueError as exc:
        # Prefect raises ValueError when no block of that name exists.
        raise ConfigError(
            f"secret reference 'block:{name}': no Prefect Secret block named {name!r} "
            f"({exc}); create it (prefect block create secret) or change the reference"
        ) from None
    except Exception as exc:  # the Prefect API is down or refused the request
        raise ConfigError(
            f"secret reference 'block:{name}': loading the Prefect Secret block failed "
            f"({type(exc).__name__}); check PREFECT_API_URL and that the server runs"
        ) from None
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"secret reference 'block:{name}': the Prefect Secret block value is not "
            "text or is empty; store the secret as a plain string"
        )
    return value
