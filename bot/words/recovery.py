"""Cloud-recovery readiness in words: the ``/azs backup dr`` card and the one line per stamp on App Home.

What is decided (which backup, the one-version rule, what is missing) is :func:`bot.model.recovery.readiness`;
this module only says it, with every value from the stamp escaped.
"""

from __future__ import annotations

from bot.model.recovery import Gap, KeepKey, Readiness, VersionSource
from bot.model.update import Release, Verdict, VersionCheck
from bot.words.backups import status_label
from bot.words.mrkdwn import Message, context, escape, fields, section, when, without_query

RULE = (
    "Cloud recovery is not supported from a backup more than one version older than the stamp being recovered "
    "(one version read as one release, 1.YYMM)."
)

_GAPS = {
    Gap.NO_BACKUPS: "The stamp lists no backup at all: start one with `/azs backup`.",
    Gap.NONE_SUCCEEDED: "No backup on the stamp succeeded: recovery needs one with status Succeeded.",
    Gap.NOT_RECOVERY_READY: (
        "Backups succeeded, but none says it is ready for cloud recovery (`isCloudRecoveryReady` is not true)."
    ),
    Gap.NOT_COMPLETELY_UPLOADED: (
        "The recovery-ready backups are not completely uploaded (`completelyUploaded` is false): wait for the "
        "upload, or check the share."
    ),
    Gap.VERSION_TOO_OLD: (
        "Every recovery-ready backup is more than one version older than the stamp: take a backup on the "
        "current version."
    ),
    Gap.VERSION_UNKNOWN: "The backup's or the stamp's version cannot be compared, so support cannot be confirmed.",
    Gap.VERSION_BEHIND: (
        "The backup is one version older than the stamp: supported now, too old after the next update. Take a "
        "backup on the current version."
    ),
    Gap.THUMBPRINT_CHANGED: "The encryption certificate changed: backups made with the old one still need its key.",
    Gap.NO_TARGET: "The backup location (share path or blob container) is not known.",
}

_SHORT = {
    Gap.NO_BACKUPS: "no backup",
    Gap.NONE_SUCCEEDED: "no backup succeeded",
    Gap.NOT_RECOVERY_READY: "no recovery-ready backup",
    Gap.NOT_COMPLETELY_UPLOADED: "not completely uploaded",
    Gap.VERSION_TOO_OLD: "backups more than one version old",
    Gap.VERSION_UNKNOWN: "version cannot be compared",
}


def gap_text(gap: Gap) -> str:
    return _GAPS[gap]


def _release(version: str | None) -> str:
    release = Release.of(version)
    return f"{escape(version or 'unknown')} (release {release})" if release else escape(version or "unknown")


def version_text(check: VersionCheck) -> str:
    """The backup's version against the stamp's, and what the one-version rule says of them."""
    pair = f"Backup {_release(check.backup_version)} on a stamp at {_release(check.stamp_version)}"
    verdict = {
        Verdict.SAME: "the same release: supported.",
        Verdict.PREVIOUS: "one release older: supported, until the stamp's next update.",
        Verdict.TOO_OLD: f"more than one release older ({_between(check)}): not supported.",
        Verdict.NEWER: "the backup names a later release than the stamp: one of the two readings is out of date.",
        Verdict.UNKNOWN: "a version is missing or not shaped like 1.YYMM.P.B: support cannot be confirmed.",
    }[check.verdict]
    if check.unsure_between:
        verdict = (
            "more than a year apart, past the newest release the bot knows of: it cannot tell whether a release "
            "came between, so support cannot be confirmed."
        )
    return f"{pair}: {verdict}"


def _between(check: VersionCheck) -> str:
    """The releases between, the first three and the last when there are many."""
    names = [str(r) for r in check.between]
    shown = ", ".join(names) if len(names) <= 4 else f"{', '.join(names[:3])}, ... {names[-1]}"
    return f"release {shown} came between" if len(names) == 1 else f"{len(names)} releases came between: {shown}"


def keep_key_text(key: KeepKey) -> str:
    return (
        f":key: Keep the private key of certificate `{escape(key.thumbprint)}` until {when(key.keep_until)}: "
        f"backup `{escape(key.last_backup_id)}` made {when(key.last_created)} with it is kept until then."
    )


def _stamp_version(result: Readiness) -> str:
    source = {
        VersionSource.UPDATE_LOCATION: "from the update location",
        VersionSource.NEWEST_BACKUP: "from the newest backup: the update location was not read",
        VersionSource.NONE: "unknown",
    }[result.version_source]
    return f"{escape(result.stamp_version or 'unknown')} ({source})"


def _backup_fields(result: Readiness) -> list[tuple[str, str]]:
    backup = result.backup
    assert backup is not None
    return [
        ("Backup id", f"`{escape(backup.backup_id)}`"),
        ("Status", status_label(backup.status)),
        ("Created", when(backup.created)),
        ("Cloud recovery ready", {True: "yes", False: "no", None: "not reported"}[backup.is_cloud_recovery_ready]),
        ("Completely uploaded", {True: "yes", False: "no", None: "not reported"}[backup.completely_uploaded]),
        ("Backup version", escape(backup.stamp_version or "unknown")),
        ("Stamp version", _stamp_version(result)),
        ("Share path", escape(without_query(result.share_path)) if result.share_path else "unknown"),
        ("Encryption certificate", f"`{escape(result.thumbprint or 'unknown')}`"),
    ]


def _headline(stamp: str, result: Readiness) -> str:
    if result.ready and result.backup is not None:
        return f":white_check_mark: *{stamp}* can be recovered from backup `{escape(result.backup.backup_id)}`."
    if result.backup is not None:
        return f":warning: *{stamp}*: backup `{escape(result.backup.backup_id)}` may not be usable for cloud recovery."
    return f":x: *{stamp}* has no backup usable for cloud recovery."


def dr_card(stamp: str, result: Readiness, update: str) -> Message:
    """The ``/azs backup dr`` card: the backup to recover from, its version against the stamp's, what is missing."""
    stamp = escape(stamp)
    headline = _headline(stamp, result)
    blocks = [section(headline)]
    if result.backup is not None:
        blocks.append(fields(_backup_fields(result)))
    else:
        share = escape(without_query(result.share_path)) if result.share_path else "unknown"
        blocks.append(fields([("Stamp version", _stamp_version(result)), ("Share path", share)]))
    rule = version_text(result.version) if result.version is not None else "No backup to compare with the stamp."
    blocks.append(section(f"*Version*: {rule}\n{RULE}"))
    missing = [f"• {_GAPS[g]}" for g in result.gaps]
    if missing:
        blocks.append(section("*What is missing or worth knowing*\n" + "\n".join(missing)))
    keys = [keep_key_text(k) for k in result.keep_keys]
    if keys:
        blocks.append(section("\n".join(keys)))
    notes = f"Update state: {update}. Recovery also needs the backup id, the share path and the private key of "
    notes += "the encryption certificate, kept outside the stamp."
    blocks.append(context(notes))
    text = headline.replace("*", "") + (" Missing: " + " ".join(_GAPS[g] for g in result.gaps) if missing else "")
    return Message(text=text, blocks=blocks)


def readiness_line(result: Readiness) -> str:
    """The stamp's readiness in one line, for App Home."""
    backup = result.backup
    if result.ready and backup is not None:
        behind = " (one version behind the stamp)" if Gap.VERSION_BEHIND in result.gaps else ""
        keys = f"; keep {len(result.keep_keys)} older key(s)" if result.keep_keys else ""
        return (
            f":white_check_mark: Cloud recovery: ready from `{escape(backup.backup_id)}`, "
            f"{when(backup.created)}, version {escape(backup.stamp_version or 'unknown')}{behind}{keys}."
        )
    blocking = next((g for g in result.gaps if g.blocking), None)
    why = _SHORT[blocking] if blocking is not None else "see `/azs backup dr`"
    return f":x: Cloud recovery: not ready ({why}). See `/azs backup dr`."
