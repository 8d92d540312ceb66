"""The list of domains wires every domain in: the app mounts each domain's API and console
routers, the worker runs its consumers and jobs, the CLI offers its command groups, and its
personal-data holders are registered; a customer table without a holder is still refused."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import pytest
from fastapi import APIRouter
from sqlalchemy import Column, ForeignKey, Integer, Table, Uuid
from starlette.routing import BaseRoute
from typer.testing import CliRunner

from clientvault.api.install import ROUTERS as API_ROUTERS
from clientvault.app import create_app
from clientvault.cli.app import GROUPS
from clientvault.cli.app import app as cli
from clientvault.domains import (
    DOMAINS,
    HOLDER_MODULES,
    MODEL_MODULES,
    build_worker,
    consumers_of,
    for_domains,
)
from clientvault.errors import ConfigurationError
from clientvault.migrations.schema import DATA_METADATA, load_holders
from clientvault.privacy.holders.registry import Holder, check_coverage
from clientvault.settings import Settings
from clientvault.store.base import Base
from clientvault.store.context import Store
from clientvault.store.domain import Domain
from clientvault.web.console import ROUTERS as CONSOLE_ROUTERS

NAMES = [domain.name for domain in DOMAINS]


def _mounted_routers(routes: Iterable[BaseRoute]) -> Iterator[APIRouter]:
    """Every router included in the app, nested ones too (FastAPI keeps an included router as
    one route holding it)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield inner
            yield from _mounted_routers(inner.routes)


def test_domain_names_are_unique_and_name_real_settings_sections() -> None:
    assert len(set(NAMES)) == len(NAMES)
    for domain in DOMAINS:
        assert domain.settings is None or domain.settings in Settings.model_fields


@pytest.mark.parametrize("registry", [API_ROUTERS, CONSOLE_ROUTERS, GROUPS])
def test_face_registries_name_only_listed_domains(registry: dict[str, object]) -> None:
    assert set(registry) <= set(NAMES)


def test_a_face_part_for_an_unlisted_domain_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown domains: segmnets"):
        for_domains({"privacy": 1, "segmnets": 2})


def test_the_app_mounts_every_domain_router(db: Store, db_settings: Settings) -> None:
    app = create_app(db_settings, store=db)
    mounted = {id(router) for router in _mounted_routers(app.routes)}
    for name in NAMES:
        for router in (*API_ROUTERS.get(name, ()), *CONSOLE_ROUTERS.get(name, ())):
            assert id(router) in mounted, (name, router.prefix)
    assert API_ROUTERS
    assert CONSOLE_ROUTERS


def test_the_worker_runs_every_domain_consumer_and_job(db: Store, db_settings: Settings) -> None:
    worker = build_worker(db, db_settings)
    for domain in DOMAINS:
        assert set(domain.consumers) <= set(worker.consumers), domain.name
        assert set(domain.jobs) <= set(worker.jobs), domain.name
    assert {consumer.name for consumer in worker.consumers} >= {"commerce", "groups"}
    assert len({job.name for job in worker.jobs}) == len(worker.jobs) >= 5


def test_a_consumer_that_is_not_an_event_log_consumer_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'broken' declares a consumer"):
        consumers_of([*DOMAINS, Domain(name="broken", consumers=(print,))])


def test_the_cli_offers_every_domain_group() -> None:
    registered = {(group.name, group.typer_instance) for group in cli.registered_groups}
    runner = CliRunner()
    for name in NAMES:
        for command, group in GROUPS.get(name, ()):
            assert (command, group) in registered, (name, command)
            assert runner.invoke(cli, [command, "--help"]).exit_code == 0, command


def test_every_domain_holder_module_registers_its_holders() -> None:
    registered = load_holders()
    declared = {
        name: [value for value in vars(sys.modules[name]).values() if isinstance(value, Holder)]
        for name in HOLDER_MODULES
    }
    assert all(declared.values()), declared  # each listed module declares holders...
    # ...and every registered holder is one a listed module declares.
    assert {id(holder) for holder in registered} == {id(h) for hs in declared.values() for h in hs}
    check_coverage()  # every listed domain's tables naming customers are covered


def test_every_domain_model_module_is_in_the_migrated_metadata() -> None:
    declared = {
        value.__table__.name
        for module in MODEL_MODULES
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Base) and hasattr(value, "__table__")
    }
    assert declared
    assert declared <= set(DATA_METADATA.tables)


def test_a_customer_table_without_a_holder_still_fails_the_coverage_check() -> None:
    load_holders()
    table = Table(
        "loyalty_cards",
        Base.metadata,
        Column("id", Integer, primary_key=True),
        Column("owner", Uuid, ForeignKey("customers.id")),
    )
    try:
        with pytest.raises(ConfigurationError, match="loyalty_cards"):
            check_coverage()
    finally:
        Base.metadata.remove(table)
    check_coverage()
