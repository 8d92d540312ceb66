"""Backups and restores: encrypted snapshots of the data database and of the keystore on
local and S3 targets, verified restores that re-apply erasures, and scheduled drills.

Layout (``docs/architecture.md``, "backup"): ``keys`` (the backup key file), ``snapshot``
(consistent copies of a database), ``archive`` (chunks: zstd then age, and the signed
manifest), ``targets`` (local and S3), ``catalogue`` (what the targets hold, retention),
``create``, ``restore``, ``drills`` and ``health`` (alerts), ``jobs`` and ``domain``.
"""
