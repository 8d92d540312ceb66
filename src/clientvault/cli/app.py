"""``clientvault``: set up, migrate, serve, and fill an installation with demo data."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import typer
import uvicorn
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from starlette.types import ASGIApp

from clientvault.cli.analytics import analytics_app
from clientvault.cli.audit import audit_app
from clientvault.cli.backup import backup_app, refuse_unfinished_restore, restore_app
from clientvault.cli.campaigns import campaign_app
from clientvault.cli.common import (
    DataDirOption,
    console,
    load_settings,
    opened_store,
    reported_errors,
)
from clientvault.cli.customers import customers_app
from clientvault.cli.dsr import dsr_app
from clientvault.cli.identity import identity_app
from clientvault.cli.imports import imports_app
from clientvault.cli.jobs import jobs_app
from clientvault.cli.journeys import journey_app
from clientvault.cli.keys import keys_app
from clientvault.cli.personalize import personalize_app
from clientvault.cli.predict import predict_app
from clientvault.cli.privacy import privacy_app
from clientvault.cli.segments import segment_app
from clientvault.cli.sources import sources_app
from clientvault.cli.support import support_app
from clientvault.domains import for_domains
from clientvault.messaging.catcher import catching_mail
from clientvault.migrations.install import initialise, migrate
from clientvault.security.accounts import create_first_admin
from clientvault.security.certificates import DevCertificate, create_self_signed
from clientvault.security.passwords import hasher_for
from clientvault.settings import Settings
from clientvault.store.collector import settle_after_startup
from clientvault.store.context import Store, open_store

#: Builds the HTTP app for some settings: handed in by the composition root
#: (``clientvault.app.main``), since the CLI does not import the HTTP faces.
AppBuilder = Callable[[Settings], ASGIApp]

#: The server's GIL switch interval in seconds (Python's default is 0.005); see ``_serve``.
SWITCH_INTERVAL = 0.0005

app = typer.Typer(
    name="clientvault",
    help="A privacy-first customer data platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

#: Each domain's command groups (name, group), keyed by its name in ``clientvault.domains`` and
#: listed in this order; a domain with commands adds one line here for its ``cli/<domain>.py``.
GROUPS: dict[str, tuple[tuple[str, typer.Typer], ...]] = {
    "security": (("audit", audit_app), ("keys", keys_app)),
    "privacy": (("dsr", dsr_app), ("privacy", privacy_app)),
    "ingest": (("import", imports_app), ("sources", sources_app)),
    "identity": (("identity", identity_app),),
    "customers": (("customers", customers_app),),
    "automation": (
        ("campaign", campaign_app),
        ("jobs", jobs_app),
        ("journey", journey_app),
        ("personalize", personalize_app),
    ),
    "support": (("support", support_app),),
    "segments": (("segment", segment_app),),
    "analytics": (("analytics", analytics_app),),
    "backup": (("backup", backup_app), ("restore", restore_app)),
    "predict": (("predict", predict_app),),
}
for groups in for_domains(GROUPS):
    for name, group in groups:
        app.add_typer(group, name=name)


AdminEmailOption = typer.Option(
    "admin@clientvault.invalid", "--admin-email", help="Sign-in e-mail of the first admin."
)
SelfSignedOption = typer.Option(
    False,
    "--self-signed",
    help="Also create a development TLS certificate and key (tls-cert.pem, tls-key.pem).",
)


@app.command("init")
def init_command(
    data_dir: Path | None = DataDirOption,
    admin_email: str = AdminEmailOption,
    self_signed: bool = SelfSignedOption,
) -> None:
    """Create a new installation: data directory, key file (mode 0600), both databases and
    the first administrator, whose one-time password is printed once; with ``--self-signed``
    also a development TLS certificate, since the console's cookie is only sent over HTTPS."""
    settings = load_settings(data_dir)
    with reported_errors():
        store = initialise(settings)
        try:
            _create_first_admin(store, settings, admin_email)
        finally:
            store.close()
        certificate = create_self_signed(settings.data_dir) if self_signed else None
    console.print(f"Initialised clientvault in [bold]{settings.data_dir}[/bold].")
    if settings.keystore.key_material is None:
        console.print(
            f"Key file: [bold]{settings.key_file}[/bold] — back it up apart from the data; "
            "without it the data cannot be read."
        )
    if certificate is not None:
        _describe_certificate(certificate)


def _describe_certificate(certificate: DevCertificate) -> None:
    console.print(
        f"Development TLS certificate: [bold]{certificate.cert_path}[/bold], key "
        f"[bold]{certificate.key_path}[/bold] (mode 0600), valid until "
        f"{certificate.not_after:%Y-%m-%d}; browsers will warn about it."
    )
    console.print(f"  SHA-256 fingerprint {certificate.sha256_fingerprint}", soft_wrap=True)
    console.print(
        f"  Serve over HTTPS: clientvault serve --tls-cert {certificate.cert_path} "
        f"--tls-key {certificate.key_path}",
        soft_wrap=True,
        highlight=False,
    )


def _create_first_admin(store: Store, settings: Settings, email: str) -> None:
    with store.sessions.begin() as session:
        admin = create_first_admin(session, email=email, ph=hasher_for(settings.security))
    if admin is not None:
        # One value per line, never wrapped or highlighted, so each copies cleanly.
        console.print("First administrator (the password is shown once; change it at first")
        console.print("sign-in, then set up the second factor):")
        for label, value in (("e-mail", admin.user.email), ("password", admin.one_time_password)):
            console.print(
                f"  {label + ':':<10}{value}", soft_wrap=True, highlight=False, markup=False
            )


@app.command("migrate")
def migrate_command(data_dir: Path | None = DataDirOption) -> None:
    """Bring the database and keystore to the newest schema."""
    settings = load_settings(data_dir)
    with reported_errors():
        store = open_store(settings)
        try:
            migrate(store, settings.audit)
        finally:
            store.close()
    console.print("Database and keystore are at the newest schema.")


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    data_dir: Path | None = DataDirOption,
    host: str | None = typer.Option(None, help="Address to listen on."),
    port: int | None = typer.Option(None, min=1, max=65535, help="Port to listen on."),
    tls_cert: Path | None = typer.Option(None, exists=True, dir_okay=False, help="PEM cert."),
    tls_key: Path | None = typer.Option(None, exists=True, dir_okay=False, help="PEM key."),
) -> None:
    """Serve the API and the console with uvicorn."""
    settings = load_settings(data_dir)
    server = settings.server.model_copy(
        update={
            key: value
            for key, value in {
                "host": host,
                "port": port,
                "tls_cert": tls_cert,
                "tls_key": tls_key,
            }.items()
            if value is not None
        }
    )
    _serve(settings.model_copy(update={"server": server}), ctx.obj)


def _serve(settings: Settings, build_app: AppBuilder | None) -> None:
    if build_app is None:
        raise typer.BadParameter("serving needs the app: run the clientvault command")
    server = settings.server
    if (server.tls_cert is None) != (server.tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    with reported_errors():
        refuse_unfinished_restore(settings)
        open_store(settings).close()  # fail fast, with a clear message, before binding
    scheme = "https" if server.tls_cert else "http"
    console.print(f"Console: {scheme}://{server.host}:{server.port}/console")
    console.print(f"API docs: {scheme}://{server.host}:{server.port}/api/docs")
    # A request thread that has waited on the database takes the GIL back only when the
    # thread holding it lets go, by default after up to 5 ms. Tracking calls alternate short
    # database waits with CPU work in other threads, so those hand-backs added up: at 0.5 ms
    # the tracking benchmark stored 10-15% more events per second (bench/bench_ingest.py).
    sys.setswitchinterval(SWITCH_INTERVAL)
    # In dev, e-mail goes to a local sink the console's dev mailbox shows (messaging.catcher).
    with catching_mail(settings) as serving:
        if serving.smtp is not settings.smtp:
            console.print(
                f"Dev mailbox: {scheme}://{server.host}:{server.port}/console/dev/mailbox "
                f"(e-mail caught on {serving.smtp.host}:{serving.smtp.port}, never sent)"
            )
        application = build_app(serving)
        settle_after_startup()  # the app's routes, schemas and models live as the server
        uvicorn.run(
            application,
            host=server.host,
            port=server.port,
            ssl_certfile=str(server.tls_cert) if server.tls_cert else None,
            ssl_keyfile=str(server.tls_key) if server.tls_key else None,
            server_header=False,  # no "server: uvicorn" banner (ASVS 14.3.3)
            log_level="info",
            access_log=False,  # access lines carry client addresses and paths: no PII in logs
        )


@app.command("worker")
def worker_command(
    data_dir: Path | None = DataDirOption,
    poll: float = typer.Option(0.5, min=0.05, max=60, help="Seconds to wait when idle."),
) -> None:
    """Run the event-log consumers and the scheduled jobs in the foreground until Ctrl-C."""
    from clientvault.domains import build_worker
    from clientvault.migrations.schema import load_holders

    load_holders()

    settings = load_settings(data_dir)
    with reported_errors():
        refuse_unfinished_restore(settings)
    with opened_store(settings) as store:
        console.print("Worker running; Ctrl-C to stop.")
        worker = build_worker(store, settings, poll_seconds=poll)
        settle_after_startup()  # start-up's objects live as long as the worker
        try:
            worker.run_forever()
        except KeyboardInterrupt:
            console.print("Worker stopped.")


@app.command("demo")
def demo_command(
    ctx: typer.Context,
    data_dir: Path | None = DataDirOption,
    customers: int = typer.Option(2000, min=1, max=10_000_000, help="How many customers."),
    seed: int = typer.Option(42, help="Random seed: the same seed gives the same data."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve once generated."),
    port: int | None = typer.Option(None, min=1, max=65535, help="Port to serve on."),
) -> None:
    """Initialise if needed, generate demo data with a progress bar, then serve.

    Generating is skipped when this seed's data is there already, so ``make demo`` can be
    run again. The generation writes with SQLite's ``synchronous=NORMAL``: it acknowledges
    nothing to anybody, and a crash would only mean generating again.
    """
    from clientvault.demo.generator import generate_demo, has_demo_data
    from clientvault.demo.showcase import run_showcase

    settings = load_settings(data_dir)
    writing = settings.model_copy(
        update={"database": settings.database.model_copy(update={"sqlite_synchronous": "NORMAL"})}
    )
    with reported_errors():
        fresh = not settings.key_file.exists()
        store = initialise(writing) if fresh else open_store(writing)
        try:
            migrate(store)
            if fresh:
                _create_first_admin(store, settings, "admin@example.com")
            else:
                console.print(
                    f"Installation {settings.data_dir} exists: sign in as admin@example.com "
                    "with your password (the one-time one was printed on the first run)."
                )
            if has_demo_data(store, seed=seed):
                console.print(f"Demo data for seed {seed} is there already.")
                summary = None
            else:
                with Progress(
                    TextColumn("[progress.description]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=console,
                ) as progress:
                    task = progress.add_task("Generating customers", total=customers)
                    summary = generate_demo(
                        store,
                        customers=customers,
                        seed=seed,
                        default_region=settings.default_phone_region,
                        progress=lambda n: progress.advance(task, n),
                        truth_path=settings.data_dir / "demo" / "duplicates.csv",
                    )
                for line in run_showcase(store, settings):
                    # Not re-wrapped: write keys and snippets must copy as one line.
                    console.print(line, soft_wrap=True)
        finally:
            store.close()
    if summary is not None:
        console.print(summary.describe())
    if serve:
        if port is not None:
            settings = settings.model_copy(
                update={"server": settings.server.model_copy(update={"port": port})}
            )
        _serve(settings, ctx.obj)


def run_cli(*, build_app: AppBuilder) -> None:
    """Run the command line; ``serve`` and ``demo`` serve the app ``build_app`` makes."""
    app(obj=build_app)
