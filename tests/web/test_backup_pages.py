"""The Backups page in Debian's chromium: an admin drills and verifies a chosen backup as
background tasks; the task page shows the task running, updates itself (``console.js`` polls
its status), and ends with what was checked.

The tasks' rules (permissions, one at a time, targets refused) are checked over HTTP in
``tests/api/test_backup_tasks_api.py``; here, the browser side.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from clientvault.backup.create import create_backup
from clientvault.demo.generator import generate_demo
from clientvault.migrations.schema import load_holders
from clientvault.settings import Settings
from support.backups import fresh_database, remove_default_backups, with_backups
from support.browser import sign_in_with_totp

pytestmark = pytest.mark.web

#: Enough customers that a drill takes about a second: the task page is first seen running.
CUSTOMERS = 1000
#: A drill or a verification of that many customers, on a busy machine.
TASK_TIMEOUT_MS = 45_000


@pytest.fixture
def db_settings(db_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The live server's settings with local backup targets of the test's own (and, on
    PostgreSQL, an empty database for drills); the task records (in the data dir, shared on
    PostgreSQL) removed before and after."""
    remove_default_backups(db_settings)
    with fresh_database(db_settings, tmp_path, "drill") as scratch:
        sqlite = db_settings.database_url.startswith("sqlite")
        drill_url = None if sqlite else scratch
        yield with_backups(db_settings, tmp_path / "backups", drill_url=drill_url)
    remove_default_backups(db_settings)


def _backups_page(page: Any) -> None:
    page.wait_for_load_state("networkidle")
    nav = page.get_by_role("navigation", name="Console")
    nav.get_by_role("link", name="Backups").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Backups")


def test_an_admin_drills_and_verifies_a_backup_and_watches_the_tasks_progress(
    page: Any, live_server: Any
) -> None:
    load_holders()
    generate_demo(live_server.store, customers=CUSTOMERS, seed=7, default_region="FR")
    made = create_backup(live_server.settings, "data")
    rows = sum(made.manifest["tables"].values())
    sign_in_with_totp(
        page, live_server, email="admin@example.com", role="admin", display_name="Ada Admin"
    )

    _backups_page(page)
    row = page.locator(f'tr[data-backup="{made.backup_id}"]')
    expect(row).to_have_attribute("data-complete", "true")
    row.locator('form[data-task="drill"]').get_by_role("button", name="Drill").click()

    # The task page, first while the drill runs: a page that polls, the state and percent.
    expect(page).to_have_url(re.compile(r"/console/security/backups/tasks/[0-9T]+Z-[0-9a-f]{8}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Restore drill of backup {made.backup_id}"
    )
    progress = page.get_by_role("region", name="Progress")
    expect(progress.locator('[data-field="state"]')).to_have_text(re.compile("^(queued|running)$"))
    expect(progress).to_have_attribute("data-poll", re.compile(r"/status$"))
    expect(progress.locator('[data-field="percent"]')).to_have_text(re.compile(r"^\d{1,2} %$"))

    # Then, without a click: the page reloads itself once the drill is done.
    state = progress.locator('[data-field="state"]')
    expect(state).to_have_text("done", timeout=TASK_TIMEOUT_MS)
    expect(page.get_by_text("The drill passed.")).to_be_visible()
    expect(progress).not_to_have_attribute("data-poll", re.compile(".*"))
    expect(progress.locator("progress")).to_have_attribute("value", "100")
    expect(progress.locator('[data-list="steps"] li').first).to_be_visible()
    expect(progress).to_contain_text(f"{made.stored_bytes:,} of {made.stored_bytes:,} bytes")
    checked = page.get_by_role("region", name="What was checked")
    expect(checked.locator('[data-result="rows_checked"]')).to_contain_text(f"{rows:,} rows")
    expect(checked.locator('[data-result="audit_entries"]')).to_have_text(re.compile(r"^[1-9]"))
    expect(checked.locator('[data-result="sample_decrypted"]')).to_have_text("done")
    expect(checked.locator('[data-result="rto"]')).to_have_text(re.compile(r"^\d+\.\d s$"))

    _backups_page(page)
    row = page.locator(f'tr[data-backup="{made.backup_id}"]')
    row.locator('form[data-task="verify"]').get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Verification of backup {made.backup_id}"
    )
    state = page.get_by_role("region", name="Progress").locator('[data-field="state"]')
    expect(state).to_have_text("done", timeout=TASK_TIMEOUT_MS)
    expect(page.get_by_text("The backup verified on every copy.")).to_be_visible()
    checked = page.get_by_role("region", name="What was checked")
    chunks = str(len(made.manifest["chunks"]))
    expect(checked.locator('[data-result="chunks"]')).to_have_text(chunks)
    expect(checked.locator('[data-result="rows"]')).to_have_text(f"{rows:,}")

    _backups_page(page)
    tasks = page.locator('[data-table="tasks"] tbody tr')
    expect(tasks).to_have_count(2)
    expect(tasks.nth(0)).to_have_attribute("data-state", "done")
    expect(tasks.nth(0)).to_contain_text("verify")
    expect(tasks.nth(1)).to_have_attribute("data-state", "done")
    expect(tasks.nth(1)).to_contain_text("drill")
