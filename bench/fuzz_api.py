"""Explore the API with schemathesis beyond the suite's bounded run (not a benchmark).

Usage: ``python bench/fuzz_api.py [EXAMPLES_PER_OPERATION] [FILTER]``. Makes a throw-away
installation (SQLite; PostgreSQL databases on the server of ``CLIENTVAULT_TEST_PG_URL`` when
it is set) with an administrator's token, generates that many requests for every operation
of the OpenAPI document (whose label contains FILTER), sends them in-process and prints the
cases run and each distinct server error (a 5xx answer or an exception) with one request that
caused it, as a curl command.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from clientvault.app import create_app
from clientvault.migrations.install import initialise
from clientvault.settings import DatabaseSettings, KeystoreSettings, SecuritySettings, Settings
from support.fuzzing import fuzzing_admin_token
from support.postgres import PG_URL, create_pg_database, drop_pg_database

BASE_URL = "https://testserver"


def main() -> int:
    """Run the exploration; exit 1 if any server error was found."""
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    wanted = sys.argv[2] if len(sys.argv) > 2 else ""
    security = SecuritySettings(
        argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1, intrusion_prevention=False
    )
    app_settings = Settings(env="test", data_dir=Path(tempfile.mkdtemp()), security=security)
    databases = [f"cv_fuzz_{uuid.uuid4().hex[:10]}{suffix}" for suffix in ("", "_keys")]
    if PG_URL:
        urls = [create_pg_database(name) for name in databases]
        app_settings = app_settings.model_copy(
            update={
                "database": DatabaseSettings(url=urls[0]),
                "keystore": KeystoreSettings(url=urls[1]),
            }
        )
    try:
        return _explore(app_settings, examples, wanted)
    finally:
        for name in databases if PG_URL else []:
            drop_pg_database(name)


def _explore(app_settings: Settings, examples: int, wanted: str) -> int:
    store = initialise(app_settings)
    token = fuzzing_admin_token(store, app_settings)
    app = create_app(app_settings, store=store)
    schema = schemathesis.openapi.from_dict(app.openapi())
    headers = {"authorization": f"Bearer {token}"}
    errors: Counter[tuple[str, str]] = Counter()
    example_of: dict[tuple[str, str], str] = {}
    cases = 0
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=True) as client:
        for result in schema.get_all_operations():
            operation = result.ok()
            if wanted not in operation.label:
                continue

            @given(case=operation.as_strategy())
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def explore(case: Any) -> None:
                nonlocal cases
                cases += 1
                kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
                client.cookies = kwargs.pop("cookies", None) or {}
                try:
                    response = client.request(**kwargs)
                    found = f"{response.status_code}" if response.status_code >= 500 else ""
                except Exception as exc:  # the server's own exception, raised by the client
                    frame = traceback.extract_tb(exc.__traceback__)[-1]
                    found = f"{type(exc).__name__} at {frame.filename}:{frame.lineno}"
                if found:
                    key = (operation.label, found)  # noqa: B023 - used at once
                    errors[key] += 1
                    example_of.setdefault(key, case.as_curl_command())

            explore()
    backend = "postgresql" if PG_URL else "sqlite"
    print(f"{backend}: cases: {cases}, distinct server errors: {len(errors)}")
    for key, count in errors.items():
        print(f"{count} x {key[0]}: {key[1]}\n    {example_of[key][:400]}")
    store.close()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
