"""``/usage``: how shared data has been used, charted from the audit store, for oversight only.

Who sees it: a principal the policy lets read ``Query.usage``, decided by
the authorizer exactly as the GraphQL ``usage`` field is (in the demo, the
auditor with purpose ``oversight``). Anyone else signed in gets 403 and no
number; no token, 401 and the token form.

What it shows, over the last ``days`` days (``?days=``, 1 to 366, 30 by
default; anything else is a 400 saying so): records per hour (up to two
days) or per day, with those that had a field denied; a provider ×
consumer department heat table; the top fields and purposes; the most
denied fields by role. Every query is aggregated in the database and
bounded (``TOP``, ``TOP_DENIALS``, the window), so the page costs the same
however large the trail grows. Counts only: never a subject, a key or a
value.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from govgraph.audit.store import AuditStore
from govgraph.errors import AuditUnavailable
from govgraph.http.pages.access import granting
from govgraph.http.pages.gate import links, page, who
from govgraph.http.pages.layout import esc, render
from govgraph.http.pages.svg import bars, columns, heat
from govgraph.http.pages.viewer import USAGE, Refused, Viewer

DEFAULT_DAYS = 30
MAX_DAYS = 366
HOURLY_UP_TO = 2
"""Windows of up to this many days are charted per hour, longer ones per day."""
TOP = 10
TOP_DENIALS = 20
WINDOWS = (1, 7, 30, 90, 366)
_DAYS = re.compile(r"[0-9]{1,3}")
NONE = "(none)"


def parse_days(raw: str | None) -> int:
    """The window in days, or ``Refused`` (400) naming what is allowed."""
    if raw is None or raw == "":
        return DEFAULT_DAYS
    text = raw.strip()
    if _DAYS.fullmatch(text) and 1 <= int(text) <= MAX_DAYS:
        return int(text)
    raise Refused(
        400,
        "Bad request",
        f"days must be a whole number of days from 1 to {MAX_DAYS} (how far back from now to chart); "
        f"got {raw[:40]!r}.",
    )


def _raw_days(request: Request, viewer: Viewer | None = None) -> str | None:
    if viewer is not None and "days" in viewer.form:
        return viewer.form["days"]
    given = request.query_params.getlist("days")
    if len(given) > 1:
        raise Refused(400, "Bad request", "days is given more than once.")
    return given[0] if given else None


def _days_field(request: Request) -> str:
    """The token form's own field: the window asked for (when it is one), kept across signing in."""
    try:
        days = parse_days(request.query_params.get("days"))
    except Refused:
        days = DEFAULT_DAYS
    return (
        f'<label for="days">Days</label><input id="days" name="days" type="number" min="1" '
        f'max="{MAX_DAYS}" value="{days}">'
    )


def _iso(moment: datetime.datetime) -> str:
    """As ``occurred_at`` is written (``recorder.utc_now``), so text comparison orders by time."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _periods(since: datetime.datetime, now: datetime.datetime, hourly: bool) -> list[str]:
    """Every hour or day from ``since`` to ``now``, as the store names them."""
    if hourly:
        moment, step, shape = (
            since.replace(minute=0, second=0, microsecond=0),
            datetime.timedelta(hours=1),
            "%Y-%m-%dT%H",
        )
    else:
        moment, step, shape = (
            since.replace(hour=0, minute=0, second=0, microsecond=0),
            datetime.timedelta(days=1),
            "%Y-%m-%d",
        )
    periods = []
    while moment <= now:
        periods.append(moment.strftime(shape))
        moment += step
    return periods


async def render_usage(request: Request, viewer: Viewer) -> Response:
    """The usage dashboard, for whoever the policy lets read usage."""
    if not viewer.sees_usage:
        raise Refused(403, "Forbidden", _forbidden(request, viewer), sign_in=True)
    days = parse_days(_raw_days(request, viewer))
    now = datetime.datetime.now(datetime.UTC)
    since = now - datetime.timedelta(days=days)
    hourly = days <= HOURLY_UP_TO
    store: AuditStore = request.app.state.audit_store
    start = _iso(since)
    try:
        over_time = await store.usage_over_time(start, None, "hour" if hourly else "day")
        matrix = await store.usage(start, None, ["provider", "consumer"])
        fields = await store.usage_ranking(start, None, "field", TOP)
        purposes = await store.usage_ranking(start, None, "purpose", TOP)
        denials = await store.denials(start, None, TOP_DENIALS)
    except (AuditUnavailable, SQLAlchemyError, OSError, TimeoutError):
        raise Refused(
            503, "Audit store unavailable", "The audit store did not answer; try again shortly."
        ) from None
    counted = {row["period"]: (int(row["records"]), int(row["denied"])) for row in over_time}
    points = [(period, *counted.get(period, (0, 0))) for period in _periods(since, now, hourly)]
    records, denied = sum(point[1] for point in points), sum(point[2] for point in points)
    windows = " · ".join(
        f"<b>{window}</b>" if window == days else f'<a href="/usage?days={window}">{window}</a>'
        for window in WINDOWS
    )
    body = (
        who(viewer)
        + f'<div class="note"><p>From <code>{esc(start[:16])}</code> UTC to now (the last {days} days; '
        f"window in days: {windows}): <b>{records}</b> audited records, <b>{denied}</b> with a field denied. "
        "Counts only: never a subject, a key or a value.</p></div>"
        + f"<h2>Records per {'hour' if hourly else 'day'}</h2>"
        + columns(points, label=f"Audited records per {'hour' if hourly else 'day'}")
        + '<p class="muted">Red: records with a field denied.</p>'
        + "<h2>Provider × consumer</h2>"
        + _matrix(matrix)
        + f"<h2>Top {TOP} fields</h2>"
        + bars([(row["field"], int(row["records"])) for row in fields], label="Records served per field")
        + f"<h2>Top {TOP} purposes</h2>"
        + bars(
            [(row["purpose"] or "none stated", int(row["records"])) for row in purposes],
            label="Records served per purpose",
        )
        + "<h2>Denials by field and role</h2>"
        + _denials(denials)
    )
    return render("Usage", body, links=links(request, viewer))


usage_page = page(render_usage, _days_field)


def _forbidden(request: Request, viewer: Viewer) -> str:
    reason = viewer.authorizer.decide(viewer.principal, USAGE).reason or "not granted"
    message = f"The usage dashboard is for oversight: the policy must let your token read {USAGE} ({reason})."
    if request.app.state.settings.environment == "development":
        hints = [
            f"govgraph token --role {role}" + (f" --purpose {purpose}" if purpose else "")
            for role, purpose in granting(viewer.authorizer, USAGE)
        ]
        if hints:
            message += f" In development, a token from `{hints[0]}` may."
    return message


def _matrix(rows: list[dict[str, Any]]) -> str:
    """Providers down, consumers across, records in each cell."""
    if not rows:
        return '<p class="muted">Nothing in this window.</p>'
    providers = sorted({row["provider"] for row in rows})
    consumers = sorted({row["consumer"] or NONE for row in rows})
    cells = {(row["provider"], row["consumer"] or NONE): int(row["records"]) for row in rows}
    most = max(cells.values())
    header = "".join(f"<th>{esc(consumer)}</th>" for consumer in consumers)
    body = "".join(
        f'<tr data-provider="{esc(provider)}"><th>{esc(provider)}</th>'
        + "".join(
            f'<td class="n" style="{heat(cells.get((provider, consumer), 0), most)}" '
            f'data-consumer="{esc(consumer)}">{cells.get((provider, consumer), 0)}</td>'
            for consumer in consumers
        )
        + "</tr>"
        for provider in providers
    )
    return (
        '<table class="matrix"><tr><th>provider \\ consumer</th>'
        f"{header}</tr>{body}</table>"
        '<p class="muted">Records (requests) in which the provider served the consumer department; '
        "denied fields not counted.</p>"
    )


def _denials(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="muted">No denial in this window.</p>'
    labelled = [
        (f"{row['coordinate']} · {', '.join(row['roles']) or 'anonymous'}", int(row["records"]))
        for row in rows
    ]
    table = "".join(
        f'<tr data-coordinate="{esc(row["coordinate"])}"><td><code>{esc(row["coordinate"])}</code></td>'
        f"<td>{esc(', '.join(row['roles']) or 'anonymous')}</td><td>{esc(row['consumer'] or NONE)}</td>"
        f'<td class="n">{int(row["records"])}</td></tr>'
        for row in rows
    )
    return (
        bars(labelled, label="Denied records per field and role", css="denied")
        + '<table class="denials"><tr><th>Field</th><th>Roles</th><th>Department</th><th>Records</th></tr>'
        + table
        + "</table>"
    )
