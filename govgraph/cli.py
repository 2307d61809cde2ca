"""The ``govgraph`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import traceback
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from govgraph.errors import GovgraphError


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command. A mistake in the settings, the arguments or the catalog ends in one sentence on
    standard error and exit status 2 (``catalog check`` finding problems: 1); ``--debug`` adds the
    traceback."""
    parser = _parser()
    given = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in given:  # accepted anywhere on the line, not only before the command
        given = ["--debug", *(argument for argument in given if argument != "--debug")]
    arguments = parser.parse_args(given)
    if not hasattr(arguments, "run"):
        parser.print_help()
        return 2
    try:
        return arguments.run(arguments) or 0
    except Exception as error:
        if arguments.debug:
            traceback.print_exc()
        print(f"govgraph: {_sentence(error)}", file=sys.stderr)
        return 1 if arguments.run is _catalog_check and isinstance(error, GovgraphError) else 2


def _sentence(error: Exception) -> str:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from govgraph.diagnostics import describe
    from govgraph.settings_errors import describe_settings_error

    if isinstance(error, ValidationError | SettingsError):
        return describe_settings_error(error)
    if isinstance(error, GovgraphError | UsageError):
        return str(error)
    return f"{describe(error)} (run again with --debug for the traceback)"


class UsageError(Exception):
    """A command's arguments or environment cannot work; the message says what to do instead."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govgraph", description="GraphQL over the city's departments.")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    commands = parser.add_subparsers(title="commands")

    demo = commands.add_parser("demo", help="the demo city's data").add_subparsers(title="demo commands")
    generate = demo.add_parser("generate", help="write the six department SQLite databases")
    generate.add_argument("--scale", type=_positive, default=None, help="number of persons (default 10000)")
    generate.add_argument("--out", type=Path, default=Path(os.environ.get("GOVGRAPH_DEMO_DIR", "var/demo")))
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.set_defaults(run=_demo_generate)
    change = demo.add_parser("change", help="change a record of the demo city, as its department would")
    what = change.add_mutually_exclusive_group(required=True)
    what.add_argument("--death", metavar="ID", help="the person dies today")
    what.add_argument("--revoke", metavar="CREDITCODE", help="the enterprise's licence is revoked")
    what.add_argument("--seize", metavar="CERTIFICATE", help="a court seizes the property")
    where = change.add_mutually_exclusive_group()
    where.add_argument("--dir", type=Path, default=Path(os.environ.get("GOVGRAPH_DEMO_DIR", "var/demo")))
    where.add_argument(
        "--url", help="the PostgreSQL demo, e.g. postgresql://postgres@127.0.0.1:5432/govgraph_demo"
    )
    change.set_defaults(run=_demo_change)
    load = demo.add_parser("load", help="load the demo city into PostgreSQL, one schema per department")
    load.add_argument("--url", required=True, help="e.g. postgresql://postgres@127.0.0.1:5432/govgraph_demo")
    load.add_argument("--scale", type=_positive, default=None)
    load.add_argument("--seed", type=int, default=None)
    load.add_argument("--quiet", action="store_true")
    load.set_defaults(run=_demo_load)
    api = demo.add_parser(
        "api", help="serve one demo department's records as a JSON API (see docs/onboarding.md)"
    )
    api.add_argument("--department", required=True, help="e.g. taxation")
    api.add_argument("--dir", type=Path, default=Path(os.environ.get("GOVGRAPH_DEMO_DIR", "var/demo")))
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=9100)
    api.add_argument(
        "--token-env",
        default=None,
        help="environment variable holding the bearer token callers must send (default: none required)",
    )
    api.set_defaults(run=_demo_api)
    receiver = demo.add_parser(
        "receiver",
        help="a webhook receiver that verifies and prints each delivery once (docs/subscriptions.md)",
    )
    receiver.add_argument("--host", default="127.0.0.1")
    receiver.add_argument("--port", type=int, default=9000)
    receiver.add_argument(
        "--secret-env",
        default="GOVGRAPH_WEBHOOK_SECRET",
        help="environment variable holding the subscription's whsec_ secret (default: %(default)s)",
    )
    receiver.set_defaults(run=_demo_receiver)

    serve = commands.add_parser("serve", help="serve GraphQL")
    serve.add_argument("--catalog", type=Path, default=None, help="catalog directory (default: the demo's)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=_positive, default=1)
    serve.add_argument(
        "--startup-timeout",
        type=_positive,
        default=60,
        help="seconds a worker may take to start and to answer the supervisor's health check (default 60)",
    )
    serve.set_defaults(run=_serve)

    token = commands.add_parser("token", help="print a demo token (HS256, development only)")
    token.add_argument("--role", action="append", required=True, help="a role from policy.yaml; repeatable")
    token.add_argument("--purpose", default=None, help="e.g. housing-subsidy")
    token.add_argument("--sub", default=None, help="subject (default: demo-<role>)")
    token.add_argument("--dept", default=None, help="department (default: the role's, from policy.yaml)")
    token.add_argument(
        "--ttl", type=_positive, default=8 * 3600, help="seconds the token is valid (default 8h)"
    )
    token.set_defaults(run=_token)

    explain = commands.add_parser(
        "explain",
        help="what an operation will ask each department, expose and record, for a role; without running it",
    )
    explain.add_argument(
        "query", help="the GraphQL document; @FILE reads it from a file, - from standard input"
    )
    explain.add_argument("--role", action="append", required=True, help="a role from policy.yaml; repeatable")
    explain.add_argument("--purpose", default=None, help="the purpose stated for the request")
    explain.add_argument("--dept", default=None, help="department (default: the role's, from policy.yaml)")
    explain.add_argument("--variables", default=None, help="variables as a JSON object")
    explain.add_argument("--operation-name", default=None)
    explain.add_argument("--json", action="store_true", help="print JSON instead of text")
    explain.set_defaults(run=_explain)

    cache = commands.add_parser("cache", help="the shared cache").add_subparsers(title="cache commands")
    invalidate = cache.add_parser("invalidate", help="drop cached rows of a department, or of one key")
    invalidate.add_argument("--department", required=True)
    invalidate.add_argument("--entity", default=None, help="with --key: the entity the key belongs to")
    invalidate.add_argument("--key", default=None)
    invalidate.set_defaults(run=_cache_invalidate)

    audit = commands.add_parser("audit", help="the audit trail").add_subparsers(title="audit commands")
    verify = audit.add_parser(
        "verify", help="walk the hash chain; exit 1 at the first broken or missing link"
    )
    verify.add_argument(
        "--url", default=None, help="audit store URL (default: GOVGRAPH_AUDIT_URL or the SQLite file)"
    )
    verify.set_defaults(run=_audit_verify)
    export = audit.add_parser("export", help="write audit records as JSON Lines to standard output")
    export.add_argument("--url", default=None)
    export.add_argument(
        "--from", dest="occurred_from", type=_moment, default=None, help="ISO date or time, UTC"
    )
    export.add_argument(
        "--to", dest="occurred_to", type=_moment, default=None, help="ISO date or time, UTC (exclusive)"
    )
    export.set_defaults(run=_audit_export)

    events = commands.add_parser("events", help="change detection").add_subparsers(title="events commands")
    events_sql = events.add_parser(
        "sql", help="print the change table and triggers to install into a department (docs/changes.md)"
    )
    events_sql.add_argument("--department", required=True)
    events_sql.add_argument(
        "--catalog", type=Path, default=None, help="catalog directory (default: the demo's)"
    )
    events_sql.add_argument("--dialect", choices=("postgresql", "sqlite"), default="postgresql")
    events_sql.add_argument("--schema", default=None, help="PostgreSQL schema (default: the department's id)")
    events_sql.set_defaults(run=_events_sql)
    send = events.add_parser(
        "send",
        help="report a change of a department behind a service to govgraph, signed (docs/changes.md)",
    )
    send.add_argument("--department", required=True)
    send.add_argument("--entity", required=True, help="e.g. Person")
    send.add_argument("--key", required=True, help="the record's key")
    send.add_argument("--columns", required=True, help="the catalog columns that changed, comma-separated")
    send.add_argument("--at", default=None, help="when, ISO 8601 (default: now)")
    send.add_argument("--catalog", type=Path, default=None, help="catalog directory (default: the demo's)")
    send.add_argument("--url", default="http://127.0.0.1:8000", help="govgraph's address")
    send.add_argument("--id", dest="message_id", default=None, help="webhook-id (default: a new one)")
    send.set_defaults(run=_events_send)

    subscriptions = commands.add_parser(
        "subscriptions", help="webhook subscriptions and their deliveries"
    ).add_subparsers(title="subscriptions commands")
    store_help = "audit store URL (default: GOVGRAPH_AUDIT_URL or the SQLite file)"
    listed = subscriptions.add_parser("list", help="every subscription, with its deliveries by state")
    listed.add_argument("--url", default=None, help=store_help)
    listed.set_defaults(run=_subscriptions_list)
    for name, what in (
        ("pause", "hold a subscription's deliveries until it is resumed"),
        ("resume", "send a paused subscription's deliveries again, the held ones first"),
        ("remove", "delete a subscription and the deliveries it is owed"),
    ):
        command = subscriptions.add_parser(name, help=what)
        command.add_argument("id", help="the subscription, sub_...")
        command.add_argument("--url", default=None, help=store_help)
        command.set_defaults(run=_subscriptions_change, change=name)
    replay = subscriptions.add_parser(
        "replay", help="send a subscription's delivered and failed deliveries of changes since a time again"
    )
    replay.add_argument("id", help="the subscription, sub_...")
    replay.add_argument(
        "--from",
        dest="replay_from",
        metavar="TIME",
        type=_moment,
        required=True,
        help="ISO date or time of the first change, UTC",
    )
    replay.add_argument("--url", default=None, help=store_help)
    replay.set_defaults(run=_subscriptions_replay)
    catalog = commands.add_parser("catalog", help="the catalog").add_subparsers(title="catalog commands")
    check = catalog.add_parser("check", help="validate a catalog directory and its policy")
    check.add_argument("directory", type=Path)
    check.add_argument(
        "--strict", action="store_true", help="exit 1 when a warning is found (for deployment gates)"
    )
    check.add_argument(
        "--sources",
        action="store_true",
        help="also connect to every department and check the tables and columns the catalog names; "
        "exit 1 on any problem",
    )
    check.set_defaults(run=_catalog_check)
    policy = commands.add_parser("policy", help="the sharing policy").add_subparsers(title="policy commands")
    policy_diff = policy.add_parser(
        "diff", help="who gains or loses which field, mode and purpose; exit 1 when access widens"
    )
    policy_diff.add_argument("old", type=Path, help="the policy deployed now")
    policy_diff.add_argument("new", type=Path, help="the policy to deploy")
    policy_diff.add_argument(
        "--catalog", type=Path, default=None, help="catalog directory (default: the demo's)"
    )
    policy_diff.set_defaults(run=_policy_diff)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _demo_options(arguments: argparse.Namespace) -> dict[str, object]:
    options: dict[str, object] = {"progress": not arguments.quiet}
    if arguments.scale is not None:
        options["scale"] = arguments.scale
    if arguments.seed is not None:
        options["seed"] = arguments.seed
    return options


def _demo_generate(arguments: argparse.Namespace) -> int:
    from govgraph.demo import generate_sqlite

    generate_sqlite(arguments.out, **_demo_options(arguments))  # type: ignore[arg-type]
    print(f"demo city written to {arguments.out}", file=sys.stderr)
    return 0


def _demo_api(arguments: argparse.Namespace) -> int:
    import uvicorn

    from govgraph.demo.api import department_api
    from govgraph.demo.layout import DEPARTMENTS

    if arguments.department not in DEPARTMENTS:
        print(
            f"govgraph: unknown department {arguments.department!r}; one of {', '.join(DEPARTMENTS)}",
            file=sys.stderr,
        )
        return 2
    database = arguments.dir / f"{arguments.department}.db"
    if not database.is_file():
        print(f"govgraph: {database} not found; run `govgraph demo generate` first", file=sys.stderr)
        return 2
    token = None
    if arguments.token_env:
        token = os.environ.get(arguments.token_env)
        if not token:
            print(f"govgraph: {arguments.token_env} is not set", file=sys.stderr)
            return 2
    from govgraph.catalog.loader import load_catalog
    from govgraph.settings import DEMO_CATALOG

    published = load_catalog(DEMO_CATALOG, env={}).departments[arguments.department].tables
    app = department_api(database, published=published, token=token)
    uvicorn.run(app, host=arguments.host, port=arguments.port, log_level="warning")
    return 0


def _demo_change(arguments: argparse.Namespace) -> int:
    from govgraph.demo.changes import UnknownRecord, make_change

    kind, key = next(
        (kind, getattr(arguments, kind)) for kind in ("death", "revoke", "seize") if getattr(arguments, kind)
    )
    try:
        change = asyncio.run(make_change(kind, key, arguments.dir, arguments.url))
    except (UnknownRecord, FileNotFoundError) as error:
        raise UsageError(str(error)) from None
    print(f"{change.department}: {change.entity} {key} changed {', '.join(change.fields)}")
    return 0


def _demo_receiver(arguments: argparse.Namespace) -> int:
    import uvicorn

    from govgraph.demo.receiver import receiver_app

    secret = os.environ.get(arguments.secret_env, "")
    if not secret.startswith("whsec_"):
        raise UsageError(
            f"set {arguments.secret_env} to the secret POST /subscriptions answered with (whsec_...)"
        )
    print(f"receiving webhooks on http://{arguments.host}:{arguments.port}/", flush=True)
    uvicorn.run(receiver_app(secret), host=arguments.host, port=arguments.port, log_level="warning")
    return 0


def _events_sql(arguments: argparse.Namespace) -> int:
    from govgraph.catalog.loader import load_catalog
    from govgraph.events.triggers import change_sql
    from govgraph.settings import DEMO_CATALOG

    catalog = load_catalog(arguments.catalog or DEMO_CATALOG, env={})
    if arguments.department not in catalog.departments:
        known = ", ".join(sorted(catalog.departments))
        raise UsageError(f"unknown department {arguments.department!r}; one of {known}")
    try:
        statements = change_sql(catalog, arguments.department, arguments.dialect, arguments.schema)
    except ValueError as error:
        raise UsageError(str(error)) from None
    for statement in statements:
        print(f"{statement};\n")
    return 0


def _events_send(arguments: argparse.Namespace) -> int:
    import httpx

    from govgraph.catalog.loader import load_catalog
    from govgraph.catalog.specs import SqlSourceSpec
    from govgraph.events.report import report_changes
    from govgraph.settings import DEMO_CATALOG

    catalog = load_catalog(arguments.catalog or DEMO_CATALOG)
    department = catalog.departments.get(arguments.department)
    if department is None:
        known = ", ".join(sorted(catalog.departments))
        raise UsageError(f"unknown department {arguments.department!r}; one of {known}")
    source = department.source
    if isinstance(source, SqlSourceSpec) or source.changes is None:
        raise UsageError(
            f"department {department.id} has no source.changes block: "
            + (
                "its triggers record its changes"
                if isinstance(source, SqlSourceSpec)
                else "it reports no changes"
            )
        )
    secret = os.environ.get(source.changes.secret_env, "")
    if not secret:
        raise UsageError(f"set {source.changes.secret_env} to the secret govgraph holds for {department.id}")
    change: dict[str, Any] = {
        "entity": arguments.entity,
        "key": arguments.key,
        "columns": [column.strip() for column in arguments.columns.split(",") if column.strip()],
    }
    if arguments.at:
        change["at"] = arguments.at
    try:
        status, answer = asyncio.run(
            report_changes(arguments.url, department.id, secret, [change], message_id=arguments.message_id)
        )
    except httpx.HTTPError as error:
        print(f"govgraph at {arguments.url} cannot be reached: {type(error).__name__}", file=sys.stderr)
        return 1
    except ValueError as error:  # a secret that is not whsec_ and base64
        raise UsageError(f"{source.changes.secret_env}: {error}") from None
    if status != 200:
        for problem in answer.get("errors", []):
            print(f"govgraph refused the change ({status}): {problem.get('message')}", file=sys.stderr)
        return 1
    duplicate = " (already taken: a duplicate webhook-id)" if answer.get("duplicate") else ""
    print(
        f"{department.id}: {answer.get('recorded', 0)} of {answer.get('received', 0)} change(s) recorded{duplicate}"
    )
    return 0


def _demo_load(arguments: argparse.Namespace) -> int:
    from govgraph.demo import load_postgres

    asyncio.run(load_postgres(arguments.url, **_demo_options(arguments)))  # type: ignore[arg-type]
    print("demo city loaded; serve it with, for each department D:", file=sys.stderr)
    print("  GOVGRAPH_<D>_URL=postgresql+asyncpg://... (e.g. GOVGRAPH_TAXATION_URL)", file=sys.stderr)
    return 0


def _serve(arguments: argparse.Namespace) -> int:
    import uvicorn

    from govgraph.catalog.loader import load_catalog

    if arguments.catalog is not None:
        os.environ["GOVGRAPH_CATALOG"] = str(arguments.catalog.resolve())
    from govgraph import connections
    from govgraph.logs.setup import log_config
    from govgraph.settings import Settings

    settings = Settings()
    catalog = load_catalog(settings.catalog)
    lines, problems = connections.check(catalog, settings, arguments.workers)
    for line in lines:
        print(f"govgraph: {line}", file=sys.stderr)
    if problems:
        for problem in problems:
            print(f"govgraph: refusing to start: {problem}", file=sys.stderr)
        return 2
    options: dict[str, Any] = {
        "factory": True,
        "host": arguments.host,
        "port": arguments.port,
        "workers": arguments.workers,
        # Forwarded headers are govgraph's to judge (GOVGRAPH_TRUSTED_PROXIES), not uvicorn's: it would
        # believe X-Forwarded-For from loopback by default.
        "proxy_headers": False,
        "server_header": False,
        "timeout_worker_healthcheck": arguments.startup_timeout,
        "log_config": log_config(settings.log_level.upper(), settings.log_format),
        "access_log": False,  # govgraph's own access line leaves the query string (documents, keys) out
    }
    from govgraph.http.workers import BalancedWorkers, reuse_port_supported
    from govgraph.metrics.multiprocess import shared_directory

    # Set before the workers start, so each worker's Prometheus samples go where every scrape reads them.
    with shared_directory(arguments.workers):
        if arguments.workers > 1 and reuse_port_supported():
            with contextlib.suppress(KeyboardInterrupt):
                BalancedWorkers(uvicorn.Config("govgraph.server:create_served_app", **options)).run()
            return 0
        uvicorn.run("govgraph.server:create_served_app", **options)
    return 0


def _explain(arguments: argparse.Namespace) -> int:
    import json

    from govgraph.auth.principal import Principal
    from govgraph.plan.explain import ExplainError, explain
    from govgraph.server import create_app
    from govgraph.settings import Settings

    query = _document(arguments.query)
    try:
        variables = json.loads(arguments.variables) if arguments.variables else {}
    except json.JSONDecodeError as error:
        print(f"govgraph: --variables is not JSON: {error.msg} at character {error.pos}", file=sys.stderr)
        return 2
    if not isinstance(variables, dict):
        print("govgraph: --variables must be a JSON object", file=sys.stderr)
        return 2
    app = create_app(Settings())
    policy = app.state.policy
    unknown = [role for role in arguments.role if role not in policy.roles]
    if unknown:
        print(f"govgraph: unknown role {unknown[0]}; roles: {', '.join(policy.roles)}", file=sys.stderr)
        return 2
    if arguments.purpose is not None and arguments.purpose not in policy.purposes:
        print(
            f"govgraph: unknown purpose {arguments.purpose}; purposes: {', '.join(policy.purposes)}",
            file=sys.stderr,
        )
        return 2
    department = arguments.dept or policy.roles[arguments.role[0]].department
    principal = Principal("explain", department, tuple(arguments.role), arguments.purpose, True)
    try:
        explained = explain(
            app.state, query, principal, variables=variables, operation_name=arguments.operation_name
        )
    except ExplainError as error:
        for problem in error.errors:
            print(f"govgraph: {problem.message}", file=sys.stderr)
        return 2
    print(
        json.dumps(explained.as_dict(), ensure_ascii=False, indent=2)
        if arguments.json
        else explained.render()
    )
    return 0


def _document(argument: str) -> str:
    if argument == "-":
        return sys.stdin.read()
    if argument.startswith("@"):
        return Path(argument[1:]).read_text(encoding="utf-8")
    return argument


def _token(arguments: argparse.Namespace) -> int:
    import datetime

    from govgraph.auth.policy import load_policy
    from govgraph.auth.tokens import DEMO_SECRET, issue_token
    from govgraph.catalog.loader import load_catalog
    from govgraph.settings import Settings

    settings = Settings()
    if settings.environment == "production":
        print(
            "govgraph: token issues development tokens only; production tokens come from your identity provider",
            file=sys.stderr,
        )
        return 2
    policy = load_policy(settings.policy_path, load_catalog(settings.catalog))
    unknown = [role for role in arguments.role if role not in policy.roles]
    if unknown:
        print(f"govgraph: unknown role {unknown[0]}; roles: {', '.join(policy.roles)}", file=sys.stderr)
        return 2
    if arguments.purpose is not None and arguments.purpose not in policy.purposes:
        print(
            f"govgraph: unknown purpose {arguments.purpose}; purposes: {', '.join(policy.purposes)}",
            file=sys.stderr,
        )
        return 2
    department = arguments.dept or policy.roles[arguments.role[0]].department
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else DEMO_SECRET
    print(
        issue_token(
            secret,
            subject=arguments.sub or f"demo-{arguments.role[0]}",
            roles=arguments.role,
            department=department,
            purpose=arguments.purpose,
            ttl=datetime.timedelta(seconds=arguments.ttl),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )
    return 0


def _cache_invalidate(arguments: argparse.Namespace) -> int:
    from prometheus_client import CollectorRegistry

    from govgraph.cache.backend import CacheUnavailable, RedisBackend
    from govgraph.cache.metrics import CacheMetrics
    from govgraph.cache.policy import CachePolicy
    from govgraph.cache.rows import RowCache
    from govgraph.catalog.loader import load_catalog
    from govgraph.settings import Settings

    settings = Settings()
    catalog = load_catalog(settings.catalog)
    if arguments.department not in catalog.departments:
        print(
            f"govgraph: unknown department {arguments.department}; departments: {', '.join(catalog.departments)}",
            file=sys.stderr,
        )
        return 2
    if (arguments.entity is None) != (arguments.key is None):
        print("govgraph: --entity and --key go together", file=sys.stderr)
        return 2
    if arguments.entity is not None and arguments.entity not in catalog.entities:
        print(
            f"govgraph: unknown entity {arguments.entity}; entities: {', '.join(catalog.entities)}",
            file=sys.stderr,
        )
        return 2
    if settings.cache_url is None:
        print(
            "govgraph: the cache is the in-process memory cache (GOVGRAPH_CACHE_URL is unset), which lives inside "
            "each server process; set GOVGRAPH_CACHE_URL=redis://... to share and invalidate it, "
            "or use GOVGRAPH_CACHE_LISTEN with PostgreSQL triggers",
            file=sys.stderr,
        )
        return 2

    async def run() -> int:
        from govgraph.auth.policy import load_policy
        from govgraph.server import consumer_departments

        policy = load_policy(settings.policy_path, catalog)
        cache = RowCache(
            RedisBackend(settings.cache_url),
            CachePolicy(catalog),
            CacheMetrics(CollectorRegistry()),
            partitions=consumer_departments(catalog, policy),
        )
        try:
            deleted = await cache.invalidate(arguments.department, arguments.key)
        except CacheUnavailable:
            print(
                "govgraph: the shared cache (GOVGRAPH_CACHE_URL) cannot be reached; nothing was invalidated",
                file=sys.stderr,
            )
            return 2
        finally:
            await cache.backend.close()
        what = f"{arguments.entity} {arguments.key}" if arguments.key else "all entries"
        print(f"invalidated {what} of {arguments.department}: {deleted} cache entries dropped")
        return 0

    return asyncio.run(run())


def _moment(text: str) -> str:
    import datetime

    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO date or time such as 2026-11-24 or 2026-11-24T08:00:00, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _audit_store(url: str | None):  # type: ignore[no-untyped-def]
    """The store to read, refusing to create one: a missing SQLite file means the wrong directory or
    setting, not an empty trail."""
    from govgraph.audit.store import AuditStore
    from govgraph.settings import Settings, audit_url_problem

    name = "--url" if url else "GOVGRAPH_AUDIT_URL"
    url = url or Settings().audit_url
    try:
        audit_url_problem(name, url)
    except ValueError as error:
        raise UsageError(str(error)) from None
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        path = Path(url[len(prefix) :].split("?")[0]).resolve()
        if not path.is_file():
            raise UsageError(
                f"no audit store at {path}: run from the directory govgraph serve runs in "
                "(the default is var/audit.db under it), or set GOVGRAPH_AUDIT_URL or --url"
            )
    return AuditStore(url, create_database=False)


@contextlib.asynccontextmanager
async def _opened_audit_store(url: str | None) -> AsyncIterator[Any]:
    """The store, open; one that cannot be reached is named by its setting, never by its URL."""
    from sqlalchemy.exc import DBAPIError

    from govgraph.diagnostics import describe

    store = _audit_store(url)
    try:
        await store.open()
        yield store
    except (OSError, DBAPIError) as error:
        name = "--url" if url else "GOVGRAPH_AUDIT_URL"
        raise UsageError(f"the audit store ({name}) cannot be read: {describe(error)}") from error
    finally:
        await store.close()


def _audit_verify(arguments: argparse.Namespace) -> int:
    async def run() -> int:
        async with _opened_audit_store(arguments.url) as store:
            checked, broken = await store.verify()
        if broken is None:
            print(f"audit chain ok: {checked} records")
            return 0
        print(
            f"audit chain broken at position {broken.position}: {broken.problem} ({checked} records verified before it)"
        )
        return 1

    return asyncio.run(run())


def _audit_export(arguments: argparse.Namespace) -> int:
    import dataclasses

    import orjson

    async def run() -> int:
        exported = 0
        async with _opened_audit_store(arguments.url) as store:
            async for stored in store.scan():
                occurred = stored.record.occurred_at
                if arguments.occurred_from and occurred < arguments.occurred_from:
                    continue
                if arguments.occurred_to and occurred >= arguments.occurred_to:
                    continue
                line = {
                    "position": stored.position,
                    **dataclasses.asdict(stored.record),
                    "contentHash": stored.content_hash,
                    "previousHash": stored.previous_hash,
                    "recordHash": stored.record_hash,
                }
                sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
                exported += 1
        print(f"exported {exported} records", file=sys.stderr)
        return 0

    return asyncio.run(run())


@contextlib.asynccontextmanager
async def _opened_outbox(url: str | None) -> AsyncIterator[Any]:
    """The webhook subscriptions, in the audit store's database: checked and refused as ``audit`` commands
    check the store, and named by its setting, never by its URL."""
    from govgraph.errors import AuditStoreError
    from govgraph.events.outbox import Outbox
    from govgraph.settings import Settings

    _audit_store(url)  # the same checks of the URL and of the SQLite file; that store is never opened
    outbox = Outbox(url or Settings().audit_url)
    try:
        await outbox.open(retry_later=False)
        yield outbox
    except AuditStoreError as error:
        name = "--url" if url else "GOVGRAPH_AUDIT_URL"
        raise UsageError(f"the audit store ({name}) cannot be read: {error.problem}") from None
    finally:
        await outbox.close()


SUBSCRIPTION_COLUMNS = (
    "ID",
    "STATE",
    "ENTITY",
    "FIELDS",
    "PURPOSE",
    "DEPARTMENT",
    "CALLBACK",
    "PENDING",
    "DELIVERED",
    "FAILED",
)


def _no_subscription(identifier: str) -> UsageError:
    return UsageError(f"no subscription {identifier[:40]}; `govgraph subscriptions list` shows them")


def _subscriptions_list(arguments: argparse.Namespace) -> int:
    from govgraph.events.dispatcher import callback_location

    async def run() -> int:
        async with _opened_outbox(arguments.url) as outbox:
            registrations = await outbox.registrations()
            counts = await outbox.counts()
        if not registrations:
            print("no subscriptions")
            return 0
        rows = [SUBSCRIPTION_COLUMNS]
        for registration in registrations:
            counted = counts.get(registration.id, {})
            rows.append(
                (
                    registration.id,
                    registration.state,
                    registration.entity,
                    ",".join(registration.fields),
                    registration.purpose,
                    registration.department or "-",
                    callback_location(registration.callback_url),
                    *(str(counted.get(state, 0)) for state in ("pending", "delivered", "failed")),
                )
            )
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        return 0

    return asyncio.run(run())


def _subscriptions_change(arguments: argparse.Namespace) -> int:
    async def run() -> int:
        async with _opened_outbox(arguments.url) as outbox:
            if arguments.change == "remove":
                found = await outbox.remove(arguments.id)
            else:
                found = await outbox.set_state(
                    arguments.id, "paused" if arguments.change == "pause" else "active"
                )
        if not found:
            raise _no_subscription(arguments.id)
        done = {
            "pause": "paused {}: its deliveries wait until it is resumed",
            "resume": "resumed {}",
            "remove": "removed {} and the deliveries it was owed",
        }
        print(done[arguments.change].format(arguments.id))
        return 0

    return asyncio.run(run())


def _subscriptions_replay(arguments: argparse.Namespace) -> int:
    async def run() -> int:
        async with _opened_outbox(arguments.url) as outbox:
            registration = await outbox.get(arguments.id)
            if registration is None:
                raise _no_subscription(arguments.id)
            replayed = await outbox.replay(arguments.id, arguments.replay_from)
        then = "once it is resumed (it is paused)" if registration.state == "paused" else "oldest first"
        print(
            f"put back {replayed} deliveries of {arguments.id} since {arguments.replay_from}; they go out {then}"
        )
        return 0

    return asyncio.run(run())


def _catalog_check(arguments: argparse.Namespace) -> int:
    from govgraph.auth.exposure import find_exposures
    from govgraph.auth.policy import load_policy
    from govgraph.catalog.loader import load_catalog

    catalog = load_catalog(arguments.directory)
    fields = catalog.fields()
    policy_file = arguments.directory / "policy.yaml"
    warnings = []
    if policy_file.exists():
        policy = load_policy(policy_file, catalog)
        print(f"policy ok: {len(policy.roles)} roles, {len(policy.purposes)} purposes")
        warnings = [exposure.message for exposure in find_exposures(catalog, policy)]
    print(
        f"catalog ok: {len(catalog.departments)} departments, {len(catalog.entities)} entities, "
        f"{len(fields)} shared fields, {len(catalog.hidden)} not shared"
    )
    for warning in warnings:
        print(f"warning: {warning}")
    not_ready = 0
    if arguments.sources:
        from govgraph.server import build_sources
        from govgraph.settings import Settings
        from govgraph.sources.engines import Engines
        from govgraph.sources.schema_check import DepartmentReport, check_sources

        settings = Settings()

        async def check() -> dict[str, DepartmentReport]:
            engines = Engines(settings.pool_size, settings.connect_timeout)
            sources = build_sources(catalog, settings, engines)
            await asyncio.gather(*(source.open() for source in sources.values()))
            try:
                return await check_sources(
                    catalog,
                    sources,
                    timeout=settings.connect_timeout + settings.readiness_timeout,
                    connect_timeout=settings.connect_timeout,
                )
            finally:
                await asyncio.gather(*(source.close() for source in sources.values()))

        reports = asyncio.run(check())
        for report in reports.values():
            if report.status == "ok":
                print(f"source ok: {report.department} ({report.checked})")
            for problem in report.problems:
                print(f"error: {problem}")
        not_ready = sum(report.status != "ok" for report in reports.values())
        print(
            f"sources: {not_ready} of {len(reports)} departments not ready"
            if not_ready
            else f"sources ok: {len(reports)} departments"
        )
    return 1 if (warnings and arguments.strict) or not_ready else 0


def _policy_diff(arguments: argparse.Namespace) -> int:
    from govgraph.auth.policy import load_policy
    from govgraph.auth.policy_diff import diff
    from govgraph.catalog.loader import load_catalog
    from govgraph.errors import CatalogError, PolicyError
    from govgraph.settings import DEMO_CATALOG

    try:
        catalog = load_catalog(arguments.catalog or DEMO_CATALOG)
        old, new = load_policy(arguments.old, catalog), load_policy(arguments.new, catalog)
    except (CatalogError, PolicyError) as error:
        print(f"govgraph: {error}", file=sys.stderr)
        return 2
    changes = diff(old, new)
    for change in changes:
        print(change.line)
    widened = [change for change in changes if change.widens]
    summary = f"{len(widened)} widening, {len(changes) - len(widened)} narrowing"
    print(
        f"{summary}; access widens" if widened else f"{summary}; no access widens" if changes else "no change"
    )
    return 1 if widened else 0


if __name__ == "__main__":
    sys.exit(main())
