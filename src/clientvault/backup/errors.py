"""The errors of backups and restores, in the platform's error tree (``clientvault.errors``)."""

from __future__ import annotations

from clientvault.errors import Conflict


class BackupRefused(Conflict):
    """A backup that cannot be trusted or a restore that must not go on: a checksum, a
    signature or a manifest does not match, a file is missing, a target is not empty. The
    message names the file or target at fault; nothing was written to the target database."""

    default_code = "backup_refused"
