"""Exceptions raised by leadshare.

LeadshareError
├── ConfigError (ValueError)        a config file or setting is invalid
├── IntakeError (ValueError)        a lead file cannot be read as a whole
│   └── GateError                   a batch-level data-quality gate failed
├── FileChangedError                a lead file changed after it was claimed
├── ArchiveError                    processed/ or quarantine/ cannot be written
├── StoreError                      the store failed or is locked by another writer
│   └── RunLockedError              another sharing run holds the run lock
├── DeliveriesFailedError           a partner's delivery task raised; has the summary
└── DeliveryError                   a transfer to a partner failed
    ├── RetryableDeliveryError      5xx, 429, timeout: try again later
    ├── RejectedDeliveryError       other 4xx (400, 413, 422...): no retry
    ├── EndpointRedirectError       3xx: the configured URL is wrong, try later
    ├── EndpointGoneError           410 Gone: disable the endpoint
    └── EndpointAuthError           401/403 (secret or token): disable the endpoint
"""

from __future__ import annotations


class LeadshareError(Exception):
    """Root of every error leadshare raises on purpose."""


class ConfigError(LeadshareError, ValueError):
    """A config file or setting is invalid; the message names the file, field and fix."""


class IntakeError(LeadshareError, ValueError):
    """A lead file is rejected whole; ``reason`` is written next to it in quarantine."""

    def __init__(
        self, path: str, reason: str, line: int | None = None, fix: str = ""
    ) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        self.fix = fix
        where = f"{path}, line {line}" if line is not None else path
        text = f"{where}: {reason}"
        if fix:
            text += f". {fix}"
        super().__init__(text)


class GateError(IntakeError):
    """A batch-level expectation failed (missing column, empty file, null rate)."""


class StoreError(LeadshareError):
    """The store cannot be opened or written."""


class FileChangedError(LeadshareError):
    """A lead file changed between its claim and its read, probably mid-copy.

    The file stays in the inbox for the next run.
    """


class ArchiveError(LeadshareError):
    """A file cannot be moved into processed/ or quarantine/.

    The message names the folder and the fix. The file stays in the inbox, and a
    run after the fix archives it.
    """


class RunLockedError(StoreError):
    """Another sharing run is using the same store, so this one changed nothing."""


class RunLockLostError(StoreError):
    """The database ended the session that held this run's lock (PostgreSQL)."""


class DeliveriesFailedError(LeadshareError):
    """The delivery task of one or more partners raised, so the sharing run failed.

    ``summary`` is the run summary, in which each such partner's row has an
    ``error``. The run's files are committed, and the other partners are delivered.
    """

    def __init__(self, message: str, summary: dict) -> None:
        super().__init__(message)
        self.summary = summary

    def __reduce__(self):
        # Prefect pickles a failed flow's exception, and the default reduce passes
        # only args.
        return (type(self), (str(self), self.summary))


class DeliveryError(LeadshareError):
    """A delivery to a partner failed.

    ``attempts`` is the number of HTTP attempts the failed send made, 1 unless the
    client that raised it retried within the call.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        self.attempts = 1
        super().__init__(message)


class RetryableDeliveryError(DeliveryError):
    """The partner may accept the same message later (5xx, 429, timeout, connection)."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_after_s: float | None = None,
    ):
        self.retry_after_s = retry_after_s
        super().__init__(message, status)


class RejectedDeliveryError(DeliveryError):
    """The partner rejected the message (4xx); sending it again would not help."""


class EndpointGoneError(DeliveryError):
    """The partner returned 410 Gone, so the endpoint is disabled until someone re-enables it."""


class EndpointAuthError(DeliveryError):
    """The partner returned 401 or 403: it rejected the signature or credentials.

    The cause is the endpoint's setup (a signing secret rotated on one side only, an
    expired token in the URL), not the message, so the endpoint is disabled until
    someone fixes the setup and re-enables it.
    """


class EndpointRedirectError(DeliveryError):
    """The partner returned a 3xx redirect, so its webhook URL needs updating.

    Redirects are not followed, because a signed payload should go only to a URL that
    someone configured. ``location`` is the Location header, or None when missing.
    """

    def __init__(
        self, message: str, status: int | None = None, location: str | None = None
    ) -> None:
        self.location = location
        super().__init__(message, status)
