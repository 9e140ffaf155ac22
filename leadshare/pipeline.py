"""The sharing run's stages as plain functions over one batch (one lead file).

Each function takes the :class:`RunContext` and a DataFrame, and either returns the
frame with more rows finished (``outcome`` set) or writes to the store. Prefect tasks in
``tasks/`` wrap these one to one; tests call them directly.

Crash safety: nothing about a file is written until :func:`commit_batch`, which writes
leads, row outcomes, decisions, approvals, suppressions, pending transfers and the
replacement of held leads by corrected rows in one transaction, and marks the file
committed. After a crash before the commit, the file is
still in the inbox, so the next run redoes it with the same lead ids. After a crash
past the commit, the next run finds the file committed and only archives it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from leadshare import (
    consent,
    dedup,
    failpoints,
    gates,
    intake,
    normalise,
    replacement,
)
from leadshare.config import Config, Partner, Profile, time_zone
from leadshare.errors import (
    ArchiveError,
    FileChangedError,
    IntakeError,
    LeadshareError,
    StoreError,
)
from leadshare.ids import lead_ids, transfer_ids
from leadshare.match import MatchResult, PartnerState, match_leads
from leadshare.memory import release_freed_memory, use_jemalloc_pool
from leadshare.model import ROW_COLUMN, STORED_FIELDS, Outcome
from leadshare.qualify import QUALIFY_OUTPUTS, qualify, recheck_waiting
from leadshare.settings import Settings
from leadshare.store import LeadStore, StoreTransaction
from leadshare.transfer import filedrop
from leadshare.words import counted

log = logging.getLogger(__name__)

LEAD_FILE_SUFFIXES = {".csv", ".tsv", ".txt", ".jsonl", ".ndjson"}


@dataclass
class RunContext:
    settings: Settings
    config: Config
    store: LeadStore
    run_id: str
    now: dt.datetime
    ready_files: frozenset[str] = frozenset()
    """Inbox paths whose writer is known to be done (the share command's copies),
    so the settle time does not apply to them."""
    errors: list[str] = field(default_factory=list)
    """Errors that need a fix by hand but let the run go on, such as a processed/
    folder that cannot be written. The summary lists them, and the CLI exits 1."""
    warnings: list[str] = field(default_factory=list)
    """Work a run could not do fully and that needs no fix, such as fuzzy dedup
    blocks too large to compare. The summary lists them, and the exit code stays 0."""


@dataclass(frozen=True)
class InboxFile:
    path: Path
    profile: str
    sha256: str
    stat: tuple[int, int] | None = None
    """Size and modification time (ns) seen before hashing; None if not taken."""

    @property
    def file_id(self) -> str:
        return self.sha256[:32]

    @property
    def batch(self) -> str:
        """Short name of the file's batch in decision group ids."""
        return self.sha256[:12]


@dataclass
class BatchCounts:
    file_name: str
    rows_in: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def inbox_file(path: Path, profile: str) -> InboxFile:
    """Hash an inbox file, noting its size and time first to see later changes."""
    stat = _stat(path)
    return InboxFile(path=path, profile=profile, sha256=sha256_file(path), stat=stat)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


TEMPORARY_SUFFIXES = {".part", ".partial", ".filepart", ".tmp", ".crdownload"}
"""Suffixes of files still being copied in. Such files are skipped, as are names
starting with '.'."""


MAX_NAME_BYTES = 255
"""The maximum length of a file name on ext4, XFS and Btrfs, in bytes."""

_REASON_SUFFIX = ".reason.txt"


def _escape_undecodable(name: str) -> str:
    """Write each byte of ``name`` that is not UTF-8 as %XX (``caf\\xe9`` -> ``caf%E9``).

    Python gives such bytes of a file name as lone surrogates, which the store,
    the logs and JSON cannot encode.
    """
    return "".join(
        f"%{ord(char) - 0xDC00:02X}" if 0xDC80 <= ord(char) <= 0xDCFF else char
        for char in name
    )


def _rename_undecodable_files(settings: Settings) -> None:
    """Rename inbox files whose names are not UTF-8, escaping the bad bytes.

    Temporary and hidden files are left alone, because a program may still be
    writing them. The next run renames the file it renames them to.
    """
    files = list_inbox(settings) + list_inbox(settings, lead_files=False)
    for path, _ in files + list_inbox_links(settings):
        escaped = _escape_undecodable(path.name)
        if escaped == path.name:
            continue
        # Each bad byte becomes three characters, which can pass the name limit.
        escaped = _fit_name(escaped, MAX_NAME_BYTES - 4)
        target = path.with_name(escaped)
        number = 1
        while target.exists():
            number += 1
            target = path.with_name(f"{Path(escaped).stem}-{number}{Path(escaped).suffix}")
        path.rename(target)
        log.warning(
            "Renamed inbox file %s: its name was not UTF-8 (bytes shown as %%XX)",
            _escape_undecodable(str(target.relative_to(settings.inbox))),
        )


def _archive_name(file_id: str, name: str) -> str:
    """Return ``<id>-<name>``, shortened so that the name with '.reason.txt' fits."""
    return _fit_name(f"{file_id[:12]}-{name}", MAX_NAME_BYTES - len(_REASON_SUFFIX))


def _fit_name(name: str, limit: int) -> str:
    """Return ``name`` cut to ``limit`` bytes in UTF-8, keeping its suffix after a '~'."""
    if len(os.fsencode(name)) <= limit:
        return name
    suffix = Path(name).suffix
    if len(os.fsencode(suffix)) > 16:
        suffix = ""
    stem = os.fsencode(name[: len(name) - len(suffix)])
    room = limit - len(os.fsencode(suffix)) - 1
    # Cut at a character boundary: drop a partial UTF-8 sequence at the end.
    short = stem[:room].decode("utf-8", "ignore")
    return f"{short}~{suffix}"


def _inbox_entries(settings: Settings) -> list[Path]:
    """Return the inbox's entries, sorted, without following links to folders.

    Entries under a folder whose name starts with '.' and names with a temporary
    suffix are left out.
    """
    found = []
    for folder, dir_names, file_names in os.walk(settings.inbox):
        dir_names[:] = [name for name in dir_names if not name.startswith(".")]
        for name in dir_names + file_names:
            path = Path(folder, name)
            if name.startswith(".") or path.suffix.lower() in TEMPORARY_SUFFIXES:
                continue
            found.append(path)
    return sorted(found)


def _profile_of(settings: Settings, path: Path, default_profile: str) -> str:
    relative = path.relative_to(settings.inbox)
    profile = relative.parts[0] if len(relative.parts) > 1 else default_profile
    return _escape_undecodable(profile)


def list_inbox(
    settings: Settings, default_profile: str = "generic", *, lead_files: bool = True
) -> list[tuple[Path, str]]:
    """Return lead files in the inbox; a sub-folder name selects the source profile.

    With ``lead_files=False``, return the other files instead: those whose type
    leadshare does not read. Temporary files, symbolic links and anything under a
    folder whose name starts with '.' are in neither list.
    """
    found = []
    for path in _inbox_entries(settings):
        if path.is_symlink() or not path.is_file():
            continue
        if (path.suffix.lower() in LEAD_FILE_SUFFIXES) != lead_files:
            continue
        found.append((path, _profile_of(settings, path, default_profile)))
    return found


def list_inbox_links(
    settings: Settings, default_profile: str = "generic"
) -> list[tuple[Path, str]]:
    """Return the symbolic links in the inbox that do not point to a folder.

    Dangling links are included.
    """
    return [
        (path, _profile_of(settings, path, default_profile))
        for path in _inbox_entries(settings)
        if path.is_symlink() and not path.is_dir()
    ]


def report_unreadable_entries(settings: Settings) -> None:
    """Log each inbox entry that runs skip without an outcome, once per run.

    These are links to folders, folders named like lead files, and entries that are
    not regular files (pipes, sockets, devices). Links to files are rejected by
    :func:`reject_links` instead.
    """
    for path in _inbox_entries(settings):
        name = _escape_undecodable(str(path.relative_to(settings.inbox)))
        if path.is_symlink():
            if path.is_dir():
                log.warning(
                    "Skipped inbox entry %s: it is a symbolic link to a folder, and "
                    "links are not followed. Move the files themselves into the inbox",
                    name,
                )
        elif path.is_dir():
            if path.suffix.lower() in LEAD_FILE_SUFFIXES:
                log.warning(
                    "Skipped inbox entry %s: it is a folder, not a lead file (files "
                    "inside it are read as usual)",
                    name,
                )
        elif not path.is_file():
            log.warning(
                "Skipped inbox entry %s: it is not a regular file (a pipe, socket or "
                "device). Put the leads in a regular file",
                name,
            )


def _link_id(path: Path) -> str:
    """Return an id for a symbolic link from its path and the text it points to.

    The target is not opened, so a link to a large or special file costs nothing.
    """
    digest = hashlib.sha256(b"symbolic link\0")
    digest.update(os.fsencode(path) + b"\0" + os.fsencode(os.readlink(path)))
    return digest.hexdigest()


def reject_links(ctx: RunContext) -> None:
    """Quarantine the symbolic links in the inbox with a reason, without reading them.

    The archive must keep the bytes that were read. An archived link would keep only
    the link, whose target can change or disappear later.
    """
    for path, profile in list_inbox_links(ctx.settings):
        item = InboxFile(path=path, profile=profile, sha256=_link_id(path))
        error = IntakeError(
            str(path),
            "the file is a symbolic link, and leadshare does not read links",
            fix="Copy the file into the inbox instead of linking to it",
        )
        reject_file(ctx, item, error)


def reject_unsupported_files(ctx: RunContext, claimed: set[str]) -> None:
    """Quarantine inbox files of a type leadshare does not read, with the reason.

    A file with the same content as a claimed lead file (ids in ``claimed``) is
    left in the inbox, because its rejection would mark that content rejected. A
    later run archives it as a repeat of the committed content.
    """
    for path, profile in list_inbox(ctx.settings, lead_files=False):
        if _recently_modified(ctx, path, report=True):
            continue
        item = inbox_file(path, profile)
        if item.file_id in claimed:
            continue
        known = ctx.store.rows("file_status", file_id=item.file_id)
        if known and known[0]["status"] == "committed":
            skip_file(ctx, item, "committed")
            continue
        error = IntakeError(
            str(path),
            f"files of type {path.suffix or '(no suffix)'!r} are not read; lead "
            f"files end in {', '.join(sorted(LEAD_FILE_SUFFIXES))}",
            fix="Export the leads as CSV (UTF-8) or JSON Lines and drop that file; "
            "copy files in under a temporary name (.part) and rename them when done",
        )
        reject_file(ctx, item, error)


def claim_files(ctx: RunContext) -> list[InboxFile]:
    """Hash inbox files and archive the ones whose content was already processed.

    Of several files with the same content in one profile's folder, only the first
    (by path) is claimed. The others stay in the inbox until
    :func:`skip_processed_files` archives them once the first has its outcome. Copies
    in other profiles' folders are claimed too and follow the first, so that each is
    read under its own profile if the ones before it are rejected. Once a copy is
    committed, :func:`committed_before_read` skips the rest. The files given to
    ``leadshare share`` (``ctx.ready_files``) go before other copies of their content.

    A file in a folder that names no profile is rejected, unless a file in a
    profile's folder has the same content: a rejection records the content's
    status, so it would keep the good copy from being read.
    """
    _rename_undecodable_files(ctx.settings)
    try:
        check_archived_files(ctx.settings)
    except ArchiveError as exc:
        note_archive_error(ctx, exc)
    report_unreadable_entries(ctx.settings)
    reject_links(ctx)
    claimed: dict[tuple[str, str], InboxFile] = {}
    misplaced: list[InboxFile] = []
    for item in _unprocessed_files(ctx, report_recent=True):
        if item.profile not in ctx.config.profiles:
            misplaced.append(item)
            continue
        earlier = claimed.get((item.file_id, item.profile))
        if earlier is not None:
            log.info(
                "File %s has the same content as %s; it is archived after that one",
                item.path.name,
                earlier.path.name,
            )
            continue
        claimed[(item.file_id, item.profile)] = item
    first_copies = {}
    for item in claimed.values():
        first_copies.setdefault(item.file_id, item)
    for item in misplaced:
        if item.file_id in first_copies:
            log.info(
                "File %s in folder %r has the same content as %s; it is archived "
                "after that one",
                item.path.name,
                item.profile,
                first_copies[item.file_id].path.name,
            )
            continue
        reject_file(ctx, item, _unknown_profile_error(ctx, item))
    reject_unsupported_files(ctx, set(first_copies))
    if any(_file_size(item.path) >= EARLY_WORKERS_MIN_BYTES for item in claimed.values()):
        normalise.start_workers_early()
    return _copies_together(ctx, list(claimed.values()))


def _copies_together(ctx: RunContext, items: list[InboxFile]) -> list[InboxFile]:
    """Order ``items`` so that copies of one content follow each other.

    Each content keeps the place of its first file. Among its copies, the files in
    ``ctx.ready_files`` go first, then the others by path.
    """
    first_place: dict[str, int] = {}
    for place, item in enumerate(items):
        first_place.setdefault(item.file_id, place)

    def place(item: InboxFile) -> tuple[int, bool]:
        return first_place[item.file_id], str(item.path) not in ctx.ready_files

    return sorted(items, key=place)


def committed_before_read(ctx: RunContext, item: InboxFile) -> bool:
    """Return whether another copy of ``item``'s content was committed in this run.

    Such a copy is not read. :func:`skip_processed_files` archives it as a repeat.
    """
    known = ctx.store.rows("file_status", file_id=item.file_id)
    if not known or known[0]["status"] != "committed":
        return False
    log.info(
        "File %s was not read: a copy with the same content in another profile's "
        "folder was committed in this run, so it is archived as a repeat",
        item.path.name,
    )
    return True


def mark_run_failed(ctx: RunContext) -> None:
    """Mark the run failed after its flow raised; the caller re-raises the error.

    Without this, ``leadshare status`` would show the run as running or completed.
    """
    try:
        with ctx.store.transaction() as tx:
            tx.execute(
                "mark_run_failed", run_id=ctx.run_id, finished_at=dt.datetime.now(dt.UTC)
            )
            keep_run_warnings(ctx, tx)
    except StoreError as exc:
        log.error("Run %s not marked failed: %s", ctx.run_id, exc)


def keep_run_warnings(ctx: RunContext, tx: StoreTransaction) -> None:
    """Add the warnings stored by earlier attempts of the run to ``ctx.warnings``,
    and store the whole list again.

    A retried flow run does not read again the files that an earlier attempt
    committed, so their warnings (such as fuzzy dedup blocks too large to compare)
    reach its summary only through the store. Earlier warnings come first; a
    warning repeated word for word is kept once.
    """
    stored = tx.rows("run_warnings", run_id=ctx.run_id)
    earlier = json.loads(stored[0]["warnings"] or "[]") if stored else []
    merged = list(dict.fromkeys([*earlier, *ctx.warnings]))
    ctx.warnings[:] = merged
    if stored and merged != earlier:
        tx.execute("set_run_warnings", run_id=ctx.run_id, warnings=json.dumps(merged))


def _unknown_profile_error(ctx: RunContext, item: InboxFile) -> IntakeError:
    folders = ", ".join(f"inbox/{name}/" for name in sorted(ctx.config.profiles))
    if "generic" in ctx.config.profiles:
        folders += " (inbox/ itself means generic)"
    return IntakeError(
        str(item.path),
        f"the inbox folder {item.profile!r} names no source profile",
        fix=f"Move the file into one of {folders}, or add "
        f"config/profiles/{item.profile}.yaml with name: {item.profile}",
    )


def skip_processed_files(ctx: RunContext) -> int:
    """Archive inbox files whose content was processed, in this run or before.

    Returns how many files are left for the next run (new arrivals).
    """
    recent: list[Path] = []
    return sum(1 for _ in _unprocessed_files(ctx, recent=recent)) + len(recent)


def _unprocessed_files(
    ctx: RunContext, *, report_recent: bool = False, recent: list[Path] | None = None
) -> Iterator[InboxFile]:
    """Yield the inbox files whose content has no outcome yet; skip the others.

    A file whose content was committed is skipped. So is one rejected in this run
    (a copy of a file just quarantined). A file rejected by an earlier run is read
    again: the user dropped it anew, usually after fixing the profile or config
    that rejected it. A file modified within the settle time is left unread, and
    appended to ``recent`` if given.
    """
    for path, profile in list_inbox(ctx.settings):
        if _recently_modified(ctx, path, report=report_recent):
            if recent is not None:
                recent.append(path)
            continue
        item = inbox_file(path, profile)
        known = ctx.store.rows("file_status", file_id=item.file_id)
        status = known[0]["status"] if known else None
        if status == "committed" or (
            status == "rejected" and known[0]["run_id"] == ctx.run_id
        ):
            skip_file(ctx, item, status)
            continue
        if status == "rejected":
            log.info("File %s was rejected before; reading it again", path.name)
        yield item


def _recently_modified(ctx: RunContext, path: Path, *, report: bool) -> bool:
    """Return whether ``path`` was modified within the settle time, so may still grow.

    Files in ``ctx.ready_files`` are never recent. With ``report``, a recent file is
    logged as left for the next run.
    """
    settle = ctx.settings.inbox_settle_s
    if settle <= 0 or str(path) in ctx.ready_files:
        return False
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False  # read_lead_file reports the problem
    # NOTE: a modification time more than the settle time in the future (a clock
    # set wrong on a network share) counts as settled, since it would never pass.
    if abs(age) >= settle:
        return False
    if report:
        log.info(
            "Left %s in the inbox for the next run: it was modified %.1f s ago, "
            "within the settle time of %g s (LEADSHARE_INBOX_SETTLE_S), so it may "
            "still be being written",
            _escape_undecodable(path.name),
            max(age, 0.0),
            settle,
        )
    return True


def skip_file(ctx: RunContext, item: InboxFile, earlier_status: str) -> None:
    """Archive, unread, a file whose content was processed before, and record the skip.

    A file that cannot be archived stays in the inbox unrecorded, and the error is
    kept for the run summary.
    """
    log.info(
        "File %s was processed before (status %s); archiving it",
        item.path.name,
        earlier_status,
    )
    try:
        target = archive_file(ctx, item, earlier_status)
    except ArchiveError as exc:
        note_archive_error(ctx, exc, item)
        return
    if earlier_status == "rejected":
        _write_repeat_reason(ctx, item, target)
    with ctx.store.transaction() as tx:
        tx.execute(
            "record_skipped_file",
            run_id=ctx.run_id,
            file_id=item.file_id,
            file_name=item.path.name,
            profile=item.profile,
            earlier_status=earlier_status,
            skipped_at=ctx.now,
        )


def _write_repeat_reason(ctx: RunContext, item: InboxFile, target: Path) -> None:
    """Write the reason beside a quarantined copy of content rejected in this run."""
    known = ctx.store.rows("file_status", file_id=item.file_id)
    earlier = known[0]["reason"] if known else None
    reason = (
        f"{item.path}: not read, because a file with the same content was rejected "
        f"in this run: {earlier}. Fix the cause and drop this file in the inbox again"
    )
    try:
        _write_reason(target, reason)
    except ArchiveError as exc:
        note_archive_error(ctx, exc, item)


def note_archive_error(
    ctx: RunContext, error: ArchiveError, item: InboxFile | None = None
) -> None:
    """Log an archive error once per run and keep it for the run summary."""
    message = str(error)
    if message not in ctx.errors:
        ctx.errors.append(message)
        log.error("%s", message)
    if item is not None:
        log.info(
            "Left %s in the inbox: it cannot be archived",
            _escape_undecodable(item.path.name),
        )


def archive_committed_file(ctx: RunContext, item: InboxFile) -> Path:
    """Move a file out of the inbox after its commit, unless it changed since.

    A file that changed stays in the inbox (FileChangedError): the next run reads
    it whole, and the rows committed now come back as duplicates.
    """
    check_unchanged(item)
    target = archive_file(ctx, item, "committed")
    check_archived_copy(item, target)
    return target


def check_archived_copy(item: InboxFile, target: Path) -> bool:
    """Log a warning and return False if the archived file differs from the read.

    A writer that still had the file open can append to it between the last check
    and the move. Those rows are in no commit, so the warning names the file. Later
    writes to the archived copy are found by :func:`check_archived_files`.
    """
    if item.stat is not None and _stat(target) == item.stat:
        return True
    try:
        if sha256_file(target) == item.sha256:
            return True
    except OSError:
        pass
    log.warning(
        "Archived %s as %s, but it no longer has the content that was committed "
        "(sha256 %s): it was probably still being written. Rows added after the "
        "read have no outcome. Put them in a new file and drop it in the inbox",
        _escape_undecodable(item.path.name),
        _escape_undecodable(str(target)),
        item.sha256[:12],
    )
    return False


_CHECKED_STAMP = ".archive-checked"
"""File in processed/ whose modification time is when the archive was last checked."""

_ARCHIVE_PREFIX = re.compile(r"^([0-9a-f]{12})-")


def check_archived_files(settings: Settings) -> int:
    """Warn about each file in processed/ whose content changed since it was archived.

    Raises ArchiveError if processed/ cannot be written.

    A writer that paused for longer than the settle time can still hold the file
    open, and append to the archived copy after the run that read it. Only files
    modified since the last check are hashed, and each is compared with the sha256
    prefix in its name. Returns the number of changed files found.
    """
    stamp = settings.processed / _CHECKED_STAMP
    started_ns = time.time_ns()
    try:
        checked_ns = stamp.stat().st_mtime_ns
    except FileNotFoundError:
        checked_ns = None
    changed = 0
    if checked_ns is not None:
        for path in sorted(settings.processed.rglob("*")):
            if _archive_changed(path, checked_ns):
                changed += 1
    try:
        stamp.touch()
        os.utime(stamp, ns=(started_ns, started_ns))
    except OSError as exc:
        raise ArchiveError(describe_archive_error(settings.processed, exc)) from exc
    return changed


def _archive_changed(path: Path, checked_ns: int) -> bool:
    prefix = _ARCHIVE_PREFIX.match(path.name)
    if prefix is None or path.is_symlink() or not path.is_file():
        return False
    try:
        if path.stat().st_mtime_ns <= checked_ns:
            return False
        if sha256_file(path).startswith(prefix.group(1)):
            return False
    except OSError:
        return False
    log.warning(
        "Archived file %s changed after a run read it: its sha256 no longer starts "
        "with %s. It was probably still being written, so rows added to it have no "
        "outcome. Put those rows in a new file and drop it in the inbox",
        _escape_undecodable(str(path)),
        prefix.group(1),
    )
    return True


def archived_path(
    settings: Settings, status: str, profile: str, file_id: str, name: str
) -> Path:
    """Return where a file of ``status`` (committed or not) is archived."""
    folder = settings.processed if status == "committed" else settings.quarantine
    return folder / profile / _archive_name(file_id, name)


def archive_file(ctx: RunContext, item: InboxFile, status: str) -> Path:
    """Move a processed file out of the inbox (never delete it).

    Raises ArchiveError, with the file still in the inbox, if the folder of
    processed/ or quarantine/ cannot be created or written.
    """
    target = archived_path(
        ctx.settings, status, item.profile, item.file_id, item.path.name
    )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # lexists: a dangling symbolic link is moved too.
        if os.path.lexists(item.path):
            shutil.move(str(item.path), target)
    except OSError as exc:
        inbox = item.path.parent
        # The move also needs write access to the inbox folder.
        if isinstance(exc, PermissionError) and not os.access(inbox, os.W_OK | os.X_OK):
            raise ArchiveError(describe_inbox_error(inbox, exc)) from exc
        raise ArchiveError(describe_archive_error(target.parent, exc)) from exc
    return target


_ARCHIVED_AFTER_FIX = (
    "The files stay in the inbox, and the first run after the fix archives them"
)


def _not_writable(where: str, error: PermissionError) -> str:
    """Return the problem and fix for a folder named by ``where`` without write access."""
    return (
        f"{where} is not writable for this user ({error.strerror}); fix its owner "
        "and mode, or remove the immutable flag (lsattr, chattr -i)"
    )


def describe_inbox_error(folder: Path, error: PermissionError) -> str:
    """Return why files cannot be moved out of the inbox ``folder``, and the fix."""
    problem = _not_writable("it", error)
    return (
        f"cannot move files out of inbox folder {folder}: {problem}. "
        f"{_ARCHIVED_AFTER_FIX}"
    )


def describe_archive_error(folder: Path, error: OSError) -> str:
    """Return why files cannot be moved into the archive ``folder``, and the fix."""
    blocker = filedrop.nearest_entry(folder)
    where = "it" if blocker == folder else str(blocker)
    if blocker is not None and not blocker.is_dir():
        problem = f"{where} is not a folder; move that file away"
    elif isinstance(error, PermissionError):
        problem = _not_writable(where, error)
    else:
        problem = (
            f"{error.strerror or error}; fix the folder or its disk (free space, a "
            "read-only mount)"
        )
    return f"cannot archive files in {folder}: {problem}. {_ARCHIVED_AFTER_FIX}"


def _write_reason(target: Path, reason: str) -> None:
    try:
        target.with_name(target.name + _REASON_SUFFIX).write_text(
            reason + "\n", encoding="utf-8"
        )
    except OSError as exc:
        raise ArchiveError(describe_archive_error(target.parent, exc)) from exc


def reject_file(
    ctx: RunContext, item: InboxFile, error: IntakeError
) -> Path | None:
    """Record a rejected file, move it to quarantine and write the reason beside it.

    Returns the quarantined path, or None if quarantine/ cannot be written: the
    file then stays in the inbox, and the error is kept for the run summary.
    """
    # A folder name that is not UTF-8 can reach the message through the path.
    reason = _escape_undecodable(str(error))
    with ctx.store.transaction() as tx:
        _check_not_committed(tx, item)
        tx.execute(
            "record_file",
            file_id=item.file_id,
            file_name=item.path.name,
            profile=item.profile,
            encoding=None,
            delimiter=None,
            rows_in=None,
            status="rejected",
            reason=reason,
            run_id=ctx.run_id,
            received_at=ctx.now,
        )
    log.warning(
        "Rejected %s: %s", item.path.name, _escape_undecodable(str(error.reason))
    )
    try:
        target = archive_file(ctx, item, "rejected")
        _write_reason(target, reason)
    except ArchiveError as exc:
        note_archive_error(ctx, exc, item)
        return None
    return target


def check_unchanged(item: InboxFile) -> None:
    """Raise FileChangedError if the file's size or time differs from the claim's.

    Called before the commit and before the archive: rows appended after the read
    would otherwise be archived with the file and never get an outcome.
    """
    if item.stat is not None and _stat(item.path) != item.stat:
        raise _file_changed(item)


def _changed_since_claim(item: InboxFile) -> bool:
    try:
        return sha256_file(item.path) != item.sha256
    except OSError:
        return True


def _file_changed(item: InboxFile) -> FileChangedError:
    if not os.path.lexists(item.path):
        return FileChangedError(
            f"{item.path}: the file was renamed, moved or deleted after this run "
            "claimed it, so this run did not share it. A file that is still in the "
            "inbox under another name is read by the next run"
        )
    return FileChangedError(
        f"{item.path}: the file changed after this run claimed it, so it is probably "
        "still being copied into the inbox. It stays there for the next run. Copy "
        "files in under a temporary name (.part, or starting with '.') and rename "
        "them when complete"
    )


EARLY_WORKERS_MIN_BYTES = 1_000_000
"""Files from this size (about 3,000 leads) have enough distinct values to use the
normalise workers, so claiming or reading one starts them ahead of the stage."""


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # read_lead_file reports the problem


def read_batch(
    ctx: RunContext, item: InboxFile, timings: dict[str, float] | None = None
) -> tuple[pd.DataFrame, dict]:
    """Read and map one file; raise IntakeError (or GateError) to reject it whole.

    With ``timings``, the seconds of the batch-level gates are stored under
    ``"gates_batch"`` (for the benchmark).
    """
    use_jemalloc_pool()
    try:
        frame, meta = _read_and_map(ctx.config.profile(item.profile), item, timings)
    except LeadshareError:
        raise
    except Exception as exc:
        raise _unexpected_read_error(item, exc) from None
    failpoints.hit("after_parse")
    frame["lead_id"] = lead_ids(item.file_id, frame[ROW_COLUMN].to_numpy())
    for column in ("outcome", "rule", "reason"):
        frame[column] = None
    return frame, meta


def _read_and_map(
    profile: Profile, item: InboxFile, timings: dict[str, float] | None
) -> tuple[pd.DataFrame, dict]:
    if _file_size(item.path) >= EARLY_WORKERS_MIN_BYTES:
        normalise.start_workers_early()
    try:
        raw = intake.read_lead_file(item.path)
    except IntakeError:
        if _changed_since_claim(item):
            raise _file_changed(item) from None
        raise
    if raw.sha256 != item.sha256:
        raise _file_changed(item)
    meta = {"encoding": raw.encoding, "delimiter": raw.delimiter, "rows_in": raw.rows}
    frame = intake.apply_profile(raw, profile, release_columns=True)
    del raw
    started = time.perf_counter()
    gates.check_batch(frame, profile, item.path.name)
    if timings is not None:
        timings["gates_batch"] = time.perf_counter() - started
    return frame, meta


def _unexpected_read_error(item: InboxFile, exc: Exception) -> IntakeError:
    """Turn an error that reading a file should not raise into its rejection.

    The message names the error type and the code line but not the error's text,
    which can quote a cell value (a name or an e-mail address) into the logs.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" in {frames[-1].name}, line {frames[-1].lineno}" if frames else ""
    kind = type(exc).__name__
    log.error("Reading %s failed with %s%s", item.path.name, kind, where)
    return IntakeError(
        str(item.path),
        f"reading the file failed with an unexpected {kind}{where}",
        fix="Report this to the leadshare maintainers together with the file. The "
        "other files of the run were read as usual",
    )


def _finish(
    frame: pd.DataFrame,
    mask: pd.Series,
    outcome: Outcome,
    rule: pd.Series | str,
    reason: pd.Series | str,
) -> None:
    mask = mask & frame["outcome"].isna()
    frame.loc[mask, "outcome"] = outcome.value
    frame.loc[mask, "rule"] = rule[mask] if isinstance(rule, pd.Series) else rule
    frame.loc[mask, "reason"] = (
        reason[mask] if isinstance(reason, pd.Series) else reason
    )


def validate_batch(
    ctx: RunContext, frame: pd.DataFrame, profile: Profile
) -> pd.DataFrame:
    """Normalise fields and quarantine rows that fail a row-level expectation."""
    return quarantine_rows(ctx, normalise.normalise_frame(frame), profile)


def quarantine_rows(
    ctx: RunContext, frame: pd.DataFrame, profile: Profile
) -> pd.DataFrame:
    """Run the row-level gates on a normalised frame and quarantine failing rows."""
    required = profile.required_fields
    if required is None:
        required = ctx.config.rules.required_fields
    failures = gates.check_rows(frame, required)
    reasons = failures.map(gates.row_rule_reason, na_action="ignore")
    if "_problem" in frame.columns:
        reasons = frame["_problem"].where(frame["_problem"].notna(), reasons)
    _finish(frame, failures.notna(), Outcome.QUARANTINED, failures, reasons)
    bad_email = frame["email_error"].notna() & frame["email"].notna()
    reason = "invalid e-mail: " + frame["email_error"].fillna("")
    _finish(frame, bad_email, Outcome.QUARANTINED, "email_invalid", reason)
    # A country that is not recognised is never guessed: matching it as missing
    # would offer the lead in vain every run, where a fixed re-import can go out.
    if "country_error" in frame.columns:
        bad_country = frame["country_error"].notna()
        reason = "invalid country: " + frame["country_error"].fillna("")
        _finish(frame, bad_country, Outcome.QUARANTINED, "country_invalid", reason)
    return frame


def dedup_batch(
    ctx: RunContext,
    frame: pd.DataFrame,
    profile: str,
    timings: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Link duplicates (within the batch and against every lead we hold).

    A duplicate row that corrects a held lead still waiting for a partner is
    reopened, so that it replaces that lead (see :func:`reopen_corrected_rows`).
    """
    history = ctx.store.frame("history_keys")
    live = frame["outcome"].isna()
    # find_duplicates skips rows that have an outcome, so no filtered copy is needed.
    skipped: list[dedup.SkippedBlocks] = []
    links = dedup.find_duplicates(
        frame, history, source=profile, timings=timings, skipped=skipped
    )
    for found in skipped:
        ctx.warnings.append(
            f"dedup: {counted(found.rows, 'row')} of this run were in "
            f"{counted(found.blocks, 'block')} of more than "
            f"{dedup.MAX_BLOCK_SIZE:,} leads (largest {found.largest:,}) in blocking "
            f"pass {found.blocking_pass}, so that pass did not compare them by name "
            "and company. Matches by e-mail, phone or source id still apply"
        )
    # The suppression key of a person known only by the source's id (such as the
    # X Education export, which has no e-mail or phone).
    frame["external_key"] = consent.external_keys(frame, profile)
    if not links.empty:
        rows = pd.Index(frame[ROW_COLUMN].astype(int))
        links = links.iloc[rows.get_indexer(links[ROW_COLUMN]).argsort()]
        matched = rows.isin(links[ROW_COLUMN]) & live.to_numpy()
        # find_duplicates names a batch row by its number and a stored lead by its id.
        targets = links["duplicate_of"].to_numpy(dtype=object, copy=True)
        in_batch = ~links["in_history"].to_numpy(dtype=bool)
        positions = rows.get_indexer(targets[in_batch].astype(int))
        targets[in_batch] = frame["lead_id"].to_numpy(dtype=object)[positions]
        frame.loc[matched, "duplicate_of"] = targets
        # Whether the target is a held lead; later stages read this, not the ids.
        frame["duplicate_held"] = False
        frame.loc[matched, "duplicate_held"] = ~in_batch
        frame.loc[matched, "outcome"] = Outcome.DUPLICATE.value
        frame.loc[matched, "rule"] = links["rule"].to_numpy(dtype=object)
        frame.loc[matched, "reason"] = (
            "duplicate of "
            + frame.loc[matched, "duplicate_of"].astype(str)
            + " ("
            + frame.loc[matched, "rule"].astype(str)
            + ")"
        )
        _note_held_keys(frame, matched, links, history)
    reopen_corrected_rows(ctx, frame)
    release_freed_memory()
    failpoints.hit("after_dedup")
    return frame


def _note_held_keys(
    frame: pd.DataFrame, matched: np.ndarray, links: pd.DataFrame, history: pd.DataFrame
) -> None:
    """Copy the e-mail key, phone and external-id key of a linked held lead to the row.

    The consent stage suppresses them too when the row opts out, because the row
    may match the held lead by name or external id alone.
    """
    in_history = links["in_history"].to_numpy(dtype=bool)
    rows = frame.index[matched][in_history]
    keys = history.drop_duplicates("lead_id").set_index("lead_id")
    keys["external_key"] = consent.external_key_values(
        keys["source"], keys["external_id"]
    )
    lead_ids = links.loc[in_history, "duplicate_of"].to_numpy(dtype=object)
    for column in ("email_key", "phone_e164", "external_key"):
        frame[f"held_{column}"] = None
        frame.loc[rows, f"held_{column}"] = keys[column].reindex(lead_ids).to_numpy()


def reopen_corrected_rows(ctx: RunContext, frame: pd.DataFrame) -> pd.DataFrame:
    """Reopen the duplicate rows that correct a held lead still waiting for a partner.

    See :mod:`leadshare.replacement`; :func:`commit_batch` writes the replacement.
    """
    targets = pd.DataFrame({"lead_id": _held_targets(frame)})
    stored = pd.DataFrame(columns=["lead_id"])
    if not targets.empty:
        with ctx.store.transaction() as tx, tx.incoming(targets):
            stored = tx.frame("replaceable_leads")
    # Opt-outs are read only when some row links to a lead that may be replaced.
    opted_out = consent.opted_out(frame) if not stored.empty else None
    replacing = replacement.plan_replacements(frame, stored, opted_out)
    if not replacing.empty:
        log.info(
            "Dedup: %s replace held leads that waited for a partner",
            counted(len(replacing), "corrected row"),
        )
    return frame


def _held_targets(frame: pd.DataFrame) -> list[str]:
    """Return the distinct held lead ids that duplicate rows of ``frame`` link to."""
    if "duplicate_of" not in frame.columns or "duplicate_held" not in frame.columns:
        return []
    held = frame["duplicate_held"].fillna(False).to_numpy(dtype=bool)
    return sorted(set(frame["duplicate_of"].to_numpy(dtype=object)[held]) - {None})


def consent_batch(
    ctx: RunContext, frame: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Suppress opted-out and unconsented rows, and return the new suppression entries.

    The entries are a frame with the ``suppression`` table's columns, because an
    object per entry took 0.5 s for the 216k opt-out keys of a 1M-lead file.
    """
    suppressed = set(ctx.store.frame("suppression_keys")["key"].tolist())
    return consent.apply_consent(
        frame, suppressed, source=f"run {ctx.run_id}", now=ctx.now, as_frame=True
    )


def qualify_batch(
    ctx: RunContext, frame: pd.DataFrame, profile: str
) -> pd.DataFrame:
    """Qualify one file's rows, reading revenue in the format of its ``profile``."""
    number_format = ctx.config.profile(profile).number_format
    return qualify(frame, ctx.config.rules, ctx.now, number_format)


def partner_states(ctx: RunContext) -> list[PartnerState]:
    """Load each partner's use of capacity today and this week, in its own time zone."""
    return load_partner_states(ctx.store, ctx.config.partners, ctx.now)


def load_partner_states(
    store: LeadStore, partners: list[Partner], now: dt.datetime
) -> list[PartnerState]:
    """Load the partners' use of capacity today and this week, in their time zones."""
    usage = store.frame("partner_usage", since=now - dt.timedelta(days=8))
    disabled = {
        row["partner_id"]: row["reason"] for row in store.rows("disabled_endpoints")
    }
    states = []
    for partner in partners:
        local_now = now.astimezone(time_zone(partner.timezone))
        day_start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        week_start = day_start - dt.timedelta(days=day_start.weekday())
        mine = usage[usage["partner_id"] == partner.id]
        quarters = pd.to_datetime(mine["hour"], utc=True) + pd.to_timedelta(
            mine["quarter"].astype("int64") * 15, unit="min"
        )
        states.append(
            PartnerState(
                partner=partner,
                used_today=int(mine.loc[quarters >= day_start, "n"].sum()),
                used_week=int(mine.loc[quarters >= week_start, "n"].sum()),
                disabled_reason=disabled.get(partner.id),
            )
        )
    return states


def _allocate(ctx: RunContext, leads: pd.DataFrame, batch: str) -> MatchResult:
    return match_leads(
        leads,
        partner_states(ctx),
        ctx.config.rules,
        run_id=ctx.run_id,
        batch=batch,
        now=ctx.now,
        seed=ctx.settings.seed,
    )


MATCH_COLUMNS = (
    "lead_id",
    "country_code",
    "region",
    "industry",
    "product",
    "postcode",
    *QUALIFY_OUTPUTS,
)


def match_batch(ctx: RunContext, frame: pd.DataFrame, batch: str) -> MatchResult:
    """Allocate live rows to partners; the result contains the live rows only.

    ``batch`` is the file's id (:attr:`InboxFile.batch`), unique within a run.
    """
    # Copy only the columns that matching reads. All ~50 took ~400 MB at 1M leads.
    columns = [name for name in MATCH_COLUMNS if name in frame.columns]
    live = frame.loc[frame["outcome"].isna(), columns]
    result = _allocate(ctx, live, batch)
    for column in ("outcome", "rule", "reason"):
        frame.loc[result.leads.index, column] = result.leads[column]
    frame["partner_id"] = None
    frame["group_id"] = None
    frame.loc[result.leads.index, "partner_id"] = result.leads["partner_id"]
    frame.loc[result.leads.index, "group_id"] = result.leads["group_id"]
    return result


@dataclass(frozen=True)
class BacklogCounts:
    """Counts of the leads that earlier runs could not place, by this run's result."""

    placed: int = 0
    held: int = 0
    """Strategic accounts now, sent to the approval queue."""
    disqualified: int = 0
    """Failing a rule that changed since they were read."""


def backlog_start(ctx: RunContext) -> dt.datetime:
    """Return the earliest read time of the leads the backlog offers again."""
    return ctx.now - dt.timedelta(days=ctx.config.rules.freshness_days or 30)


def rematch_backlog(ctx: RunContext) -> BacklogCounts:
    """Offer leads that found no partner earlier again, and count what became of them.

    Capacity renews every day and partners change, so a lead that missed out is
    offered again in every run until it is older than the freshness window. Each
    time, the current rules are applied first: a lead that now fails one is
    disqualified, and a strategic account goes to the approval queue.
    """
    backlog = ctx.store.frame("backlog_leads", since=backlog_start(ctx))
    if backlog.empty:
        return BacklogCounts()
    backlog["outcome"] = None
    number_formats = {
        name: profile.number_format for name, profile in ctx.config.profiles.items()
    }
    backlog = recheck_waiting(backlog, ctx.config.rules, ctx.now, number_formats)
    failed = backlog[backlog["outcome"].notna()]
    live = backlog[backlog["outcome"].isna()]
    placed = held = live.iloc[:0]
    groups = pd.DataFrame()
    if not live.empty:
        result = _allocate(ctx, live, "backlog")
        outcome = result.leads["outcome"]
        placed = result.leads[outcome == Outcome.SHARED.value]
        held = result.leads[outcome == Outcome.AWAITING_APPROVAL.value]
        groups = _group_rows(ctx, result)
    columns = ["lead_id", "outcome", "rule", "reason"]
    decided = [part[columns] for part in (placed, held, failed) if not part.empty]
    if not decided:
        return BacklogCounts()
    matched = [part for part in (placed, held) if not part.empty]
    with ctx.store.transaction() as tx:
        if matched:
            tx.insert_frame("decision_groups", groups)
            tx.insert_frame("decisions", _decision_rows(ctx, pd.concat(matched)))
        if not placed.empty:
            tx.insert_frame("transfers", _transfer_rows(ctx, placed))
        if not held.empty:
            tx.insert_frame("approvals", _approval_rows(ctx, held))
        tx.execute_with_frame("mark_backlog_decided", pd.concat(decided))
        tx.execute(
            "add_backlog_counts",
            run_id=ctx.run_id,
            placed=len(placed),
            held=len(held),
            disqualified=len(failed),
        )
    log.info(
        "Backlog: %d of %s placed, %d held for approval, %d disqualified by the "
        "current rules",
        len(placed),
        counted(len(backlog), "waiting lead"),
        len(held),
        len(failed),
    )
    return BacklogCounts(len(placed), len(held), len(failed))


def _approval_rows(ctx: RunContext, waiting: pd.DataFrame) -> pd.DataFrame:
    """Return one pending approval per lead held for a human decision."""
    return pd.DataFrame(
        {
            "lead_id": waiting["lead_id"],
            "proposed_partner": waiting["partner_id"],
            "status": "pending",
            "note": waiting["reason"],
            "created_at": ctx.now,
        }
    )


BATCH_COLUMNS = (
    "lead_id",
    ROW_COLUMN,
    "outcome",
    "rule",
    "reason",
    "duplicate_of",
    "partner_id",
    "group_id",
    *("country_code" if name == "country" else name for name in STORED_FIELDS),
    "email_key",
    "name_key",
    "company_key",
    "do_not_call_flag",
)
"""The batch columns that the insert_batch_*.sql statements read."""


def _suppression_frame(entries: pd.DataFrame | list[dict]) -> pd.DataFrame:
    """Return the entries (a frame, or a list of dicts) with one row per key."""
    frame = pd.DataFrame(entries, columns=consent.ENTRY_COLUMNS)
    return frame.drop_duplicates("key")


def _transfer_rows(ctx: RunContext, shared: pd.DataFrame) -> pd.DataFrame:
    """Return one pending transfer per shared lead; the message id is fixed per pair."""
    channels = {partner.id: partner.channel for partner in ctx.config.partners}
    return pd.DataFrame(
        {
            "transfer_id": transfer_ids(
                shared["lead_id"].to_numpy(), shared["partner_id"].to_numpy()
            ),
            "lead_id": shared["lead_id"],
            "partner_id": shared["partner_id"],
            "channel": shared["partner_id"].map(channels),
            "status": "pending",
            "attempts": 0,
            "failed_sends": 0,
            "next_attempt_at": ctx.now,
            "run_id": ctx.run_id,
            "created_at": ctx.now,
        }
    )


def _decision_rows(ctx: RunContext, decided: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": decided["lead_id"],
            "run_id": ctx.run_id,
            "group_id": decided["group_id"],
            "chosen_partner": decided["partner_id"],
            "outcome": decided["outcome"],
            "reason": decided["reason"],
        }
    )


def _group_rows(ctx: RunContext, match: MatchResult) -> pd.DataFrame:
    if match.groups.empty:
        return match.groups
    return match.groups.assign(
        run_id=ctx.run_id,
        rules_version=ctx.config.rules.version,
        config_digest=ctx.config.digest,
        decided_at=ctx.now,
    )


def _leads_marked(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Return the distinct held lead ids (lead_id) named in ``column`` of the batch."""
    if column not in frame.columns:
        return pd.DataFrame({"lead_id": pd.Series([], dtype=object)})
    ids = frame[column].dropna().drop_duplicates()
    return pd.DataFrame({"lead_id": ids.to_numpy(dtype=object)})


def _consent_holds(frame: pd.DataFrame, item: InboxFile) -> pd.DataFrame:
    """Return lead_id and reason of the held leads whose consent a row made unclear.

    One row per lead: the first row of the file that repeats it with an unknown
    opt-out or consent value.
    """
    if "holds_consent" not in frame.columns:
        return pd.DataFrame(columns=["lead_id", "reason"])
    rows = frame.loc[frame["holds_consent"].notna()]
    rows = rows.drop_duplicates("holds_consent")
    name = _escape_undecodable(item.path.name)
    reasons = [
        f"row {row} of {name} is the same person with an unclear opt-out or "
        f"consent value ({rule}). Check the value: if it is no opt-out, "
        f"`leadshare transfer retry {lead_id}` releases the lead"
        for row, rule, lead_id in zip(
            rows[ROW_COLUMN], rows["rule"], rows["holds_consent"], strict=True
        )
    ]
    return pd.DataFrame(
        {"lead_id": rows["holds_consent"].to_numpy(dtype=object), "reason": reasons}
    )


def _replaced_leads(frame: pd.DataFrame, item: InboxFile) -> pd.DataFrame:
    """Return lead_id, replaces and reason of the rows that replace a held lead."""
    if "replaces" not in frame.columns:
        return pd.DataFrame(columns=["lead_id", "replaces", "reason"])
    replacing = frame.loc[
        frame["replaces"].notna(), ["lead_id", "replaces", "changed_fields", ROW_COLUMN]
    ]
    return replacement.replacement_reasons(replacing, item.path.name)


def commit_batch(
    ctx: RunContext,
    item: InboxFile,
    frame: pd.DataFrame,
    match: MatchResult,
    suppressions: pd.DataFrame | list[dict],
    meta: dict,
) -> BatchCounts:
    """Write everything about one file in one transaction.

    Columns of ``frame`` that no store table keeps are dropped from it.
    """
    failpoints.hit("before_commit")
    check_unchanged(item)
    if frame["outcome"].isna().any():
        missing = frame.loc[frame["outcome"].isna(), ROW_COLUMN].head(5).tolist()
        raise RuntimeError(
            f"rows {missing} of {item.path.name} have no outcome; this is a bug in a stage"
        )
    replaced = _replaced_leads(frame, item)
    withdrawn = _leads_marked(frame, "withdraws")
    consent_holds = _consent_holds(frame, item)
    not_to_call = _leads_marked(frame, "marks_do_not_call")
    # The store reads leads, outcomes and decisions straight from the batch frame
    # (sql/insert_batch_*.sql), so no per-table copies of its columns are made. The
    # columns it does not read go first: the commit is the run's memory peak.
    # del frees a column's memory in place; drop(inplace=True) copies every other
    # column first (0.4 s at 1M leads).
    for name in [name for name in frame.columns if name not in BATCH_COLUMNS]:
        del frame[name]
    release_freed_memory()
    for column in BATCH_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    decided = frame[["lead_id", "partner_id", "group_id", "outcome", "reason"]]
    transfers = _transfer_rows(ctx, decided[decided["outcome"] == Outcome.SHARED.value])
    waiting = decided[decided["outcome"] == Outcome.AWAITING_APPROVAL.value]
    approvals = _approval_rows(ctx, waiting)
    groups = _group_rows(ctx, match)
    columns = list(BATCH_COLUMNS)

    with ctx.store.transaction() as tx:
        _check_not_committed(tx, item)
        tx.execute(
            "record_file",
            file_id=item.file_id,
            file_name=item.path.name,
            profile=item.profile,
            encoding=meta["encoding"],
            delimiter=meta["delimiter"],
            rows_in=meta["rows_in"],
            status="committed",
            reason=None,
            run_id=ctx.run_id,
            received_at=ctx.now,
        )
        # One _incoming for the three statements: PostgreSQL copies the batch once.
        with tx.incoming(frame, columns, keep_order=False):
            tx.execute(
                "insert_batch_leads",
                file_id=item.file_id,
                profile=item.profile,
                created_at=ctx.now,
            )
            tx.execute("insert_batch_outcomes", file_id=item.file_id, run_id=ctx.run_id)
            tx.execute("insert_batch_decisions", run_id=ctx.run_id)
        tx.execute_with_frame("replace_held_leads", replaced)
        tx.execute_with_frame("mark_do_not_call", not_to_call)
        tx.insert_frame("decision_groups", groups)
        tx.insert_frame("approvals", approvals)
        tx.insert_frame("transfers", transfers)
        if len(suppressions) or not withdrawn.empty:
            tx.execute_with_frame("add_suppressions", _suppression_frame(suppressions))
            # Leads queued by earlier runs for the people who just opted out: by
            # their keys, and by id where a row linked to the lead another way.
            with tx.incoming(withdrawn):
                tx.execute_script("withdraw_opted_out", now=ctx.now)
        if not consent_holds.empty:
            with tx.incoming(consent_holds):
                tx.execute_script("hold_unclear_consent", now=ctx.now)
        tx.execute("mark_file_committed", file_id=item.file_id, committed_at=ctx.now)
        keep_run_warnings(ctx, tx)
    failpoints.hit("after_commit")
    counts = BatchCounts(
        file_name=item.path.name,
        rows_in=len(frame),
        outcomes=frame["outcome"].value_counts().to_dict(),
    )
    return counts


def _check_not_committed(tx: StoreTransaction, item: InboxFile) -> None:
    """Raise StoreError if rows of ``item``'s content already have outcomes.

    The tables a commit fills have no primary key (see sql/schema.sql), so this
    check is what stops a second commit of the same content.
    """
    existing = tx.rows("file_outcome_rows", file_id=item.file_id)[0]["n"]
    if existing:
        raise StoreError(
            f"{item.path.name}: {counted(existing, 'row')} of this content already "
            f"have outcomes (file id {item.file_id[:12]}), so it was not written "
            "again. Another leadshare process may have committed it at the same "
            "time. Run `leadshare status` to see that run, and leave the file in "
            "the inbox: the next run skips it as processed before"
        )


def bench_stages(csv_path: Path, workdir: Path) -> dict[str, float]:
    """Run one file through every stage up to the commit, timing each (benchmark hook).

    The stages run as the flow runs them, minus Prefect: the flow adds a fixed number
    of task runs per file and per partner (``task_runs``), not per lead.
    """
    import importlib
    import os

    from leadshare.runtime import build_context

    os.environ["LEADSHARE_HOME"] = str(workdir)
    ctx = build_context()
    item = inbox_file(csv_path, "generic")
    timings: dict[str, float] = {}

    def timed(name, fn, *args):
        started = time.perf_counter()
        result = fn(*args)
        timings[name] = time.perf_counter() - started
        return result

    # As claim_files does for a large file: the workers start while GX imports.
    if _file_size(csv_path) >= EARLY_WORKERS_MIN_BYTES:
        normalise.start_workers_early()
    # Importing Great Expectations takes seconds once per process, whatever the size.
    timed("gx_import", importlib.import_module, "great_expectations")
    parts: dict[str, float] = {}
    frame, meta = timed("read", read_batch, ctx, item, parts)
    timings["read"] -= parts["gates_batch"]
    timings["gates_batch"] = parts["gates_batch"]
    profile = ctx.config.profile("generic")
    frame = timed("validate_normalise", normalise.normalise_frame, frame)
    frame = timed("gates_rows", quarantine_rows, ctx, frame, profile)
    frame = timed("dedup", dedup_batch, ctx, frame, "generic", parts)
    # Fuzzy matching is compared with splink; the rest of dedup is set-based work.
    timings["dedup_fuzzy"] = parts["fuzzy"]
    timings["dedup"] -= parts["fuzzy"]
    frame, entries = timed("consent", consent_batch, ctx, frame)
    frame = timed("qualify", qualify_batch, ctx, frame, "generic")
    match = timed("match", match_batch, ctx, frame, item.batch)
    timed("commit", commit_batch, ctx, item, frame, match, entries, meta)
    timings["placed"] = int((frame["outcome"] == Outcome.SHARED.value).sum())
    # journals + backlog + claim + 8 per-file tasks + archive repeats + a transfer
    # task per partner + report + Slack
    timings["task_runs"] = 3 + 8 + 1 + len(ctx.config.partners) + 2
    return timings
