"""`coffre`: the command line of the server (English only)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from coffre import bootstrap
from coffre.cli.accounts import accounts_app
from coffre.cli.care import care_app
from coffre.cli.clients import clients_app, tokens_app
from coffre.cli.context import State, err, out, progress, state
from coffre.cli.insurers import insurers_app
from coffre.cli.journal import journal_app
from coffre.cli.keys import keys_app
from coffre.cli.organisations import organisations_app
from coffre.cli.patients import patients_app
from coffre.cli.watch import watch_app
from coffre.config import Environment

app = typer.Typer(
    name="coffre",
    help="Coffre: a health-data vault where every access is decided and journaled.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(patients_app, name="patients")
app.add_typer(keys_app, name="keys")
app.add_typer(organisations_app, name="organisations")
app.add_typer(accounts_app, name="accounts")
app.add_typer(journal_app, name="journal")
app.add_typer(care_app, name="care")
app.add_typer(insurers_app, name="insurers")
app.add_typer(clients_app, name="clients")
app.add_typer(watch_app, name="watch")
app.add_typer(tokens_app, name="tokens")


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", envvar="COFFRE_HOME", help="Directory of config, keys and database."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    # --debug is read by the runner before the command runs (cli/runner.py).
    del debug
    ctx.obj = State(home=home)
    ctx.call_on_close(ctx.obj.close)


@app.command()
def init(
    ctx: typer.Context,
    environment: Annotated[
        Environment, typer.Option(help="demo allows 'coffre demo'; production refuses demo keys.")
    ] = Environment.DEVELOPMENT,
) -> None:
    """Create the home directory, the key-encryption key, the key store and the database."""
    settings = state(ctx).settings().with_overrides(environment=environment)
    home = bootstrap.initialise(settings)
    out.print(f"Initialised Coffre in {home} ({environment.value}).")
    if settings.key_provider == "file":
        out.print(f"Key file: {settings.key_file} — back it up apart from the database.")


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Bring the database schema to the newest revision."""
    settings = state(ctx).settings()
    steps = bootstrap.pending_migrations(settings)
    if not steps:
        revision = bootstrap.migrate(settings)
        out.print(f"The database schema is at revision {revision}; nothing to migrate.")
        return
    titles = [f"{step.revision} {step.title}" for step in steps]
    after = {step.revision: n + 1 for n, step in enumerate(steps)}
    with progress() as bar:
        # A step may take minutes on a large journal: the bar names the one running.
        task = bar.add_task(titles[0], total=len(steps))

        def applied(revision: str) -> None:
            done = after[revision]
            running = titles[done] if done < len(steps) else "Committing"
            bar.update(task, completed=done, description=running)

        revision = bootstrap.migrate(settings, applied=applied)
    out.print(f"The database schema is at revision {revision} ({len(steps)} migrations run).")


@app.command()
def demo(
    ctx: typer.Context,
    patients: Annotated[int, typer.Option(help="How many patients, from 8 to 100,000.")] = 200,
) -> None:
    """Seed demonstration organisations, people, records and documents (demo mode only)."""
    from coffre.cli.patients import UsageError
    from coffre.demo.seed import MAX_PATIENTS, MIN_PATIENTS, seed

    if not MIN_PATIENTS <= patients <= MAX_PATIENTS:
        raise UsageError(
            f"--patients must be from {MIN_PATIENTS} to {MAX_PATIENTS:,}; "
            f"the demo's cases need at least {MIN_PATIENTS}."
        )
    coffre = state(ctx).coffre()
    summary = seed(coffre, patients=patients, console=err)
    out.print(
        f"Seeded {summary.organisations} organisations, {summary.accounts} accounts, "
        f"{summary.patients} patients, {summary.entries} clinical entries and "
        f"{summary.documents} documents."
    )
    out.print(f"Demo login details are in {summary.credentials_file} (readable by you only).")
    out.print(f"Cases to try, and whom to try them as, are in {summary.cases_file}.")


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def origin_notice(public_origin: str, port: int) -> str | None:
    """A warning when the public origin names this machine on another port than the one
    served (links, Location headers and token audiences would name that other port); None
    when it names another host, as behind a reverse proxy."""
    parsed = urlsplit(public_origin)
    try:
        named = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        return None
    if parsed.hostname not in _LOOPBACK or named == port:
        return None
    return (
        f"COFFRE_PUBLIC_ORIGIN is {public_origin}, but Coffre listens on port {port}: links, "
        "Location headers and token audiences name the former; set COFFRE_PUBLIC_ORIGIN to "
        "the address clients use."
    )


def settle_heap() -> None:
    """Before serving: what was built so far (modules, the app, the rules) lives as long as
    the server, so it is moved out of the collector's reach (`gc.freeze`). A full pass of
    the collector otherwise walks all of it and stops every request for that long
    (measured under load: about 67 ms a pass; 1.4 to 1.9 ms frozen)."""
    gc.collect()
    gc.freeze()


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    watching: Annotated[
        bool | None,
        typer.Option(
            "--watch/--no-watch",
            help="Follow the journal with the watch's rules while serving "
            "(default: COFFRE_WATCH_IN_SERVE, true).",
        ),
    ] = None,
) -> None:
    """Serve the web interface and the FHIR API, and watch the journal."""
    import uvicorn

    from coffre.watch.background import Watcher
    from coffre.watch.catalogue import rules_from
    from coffre.web import create_app

    current = state(ctx)
    settings = current.serve_on(port or current.settings().port)
    coffre = current.coffre()
    watcher = None
    if settings.watch_in_serve if watching is None else watching:
        watcher = Watcher(coffre, rules_from(settings.watch_rules))
    application = create_app(coffre)
    bind_host, bind_port = host or settings.host, settings.port
    err.print(f"Coffre listens on http://{bind_host}:{bind_port}/ (Ctrl+C stops it).")
    notice = origin_notice(settings.public_origin, bind_port)
    if notice is not None:
        err.print(notice, markup=False)
    if watcher is not None:
        watcher.start()
        err.print("The watch follows the journal with its rules.")
    settle_heap()
    try:
        uvicorn.run(
            application,
            host=bind_host,
            port=bind_port,
            log_level="warning",
            server_header=False,
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies or None,
        )
    finally:
        if watcher is not None:
            watcher.stop()
