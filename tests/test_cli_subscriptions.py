"""``govgraph subscriptions``: list, pause, resume, replay and remove webhook subscriptions, on SQLite and
PostgreSQL stores; an unknown id or a missing store is one sentence and a non-zero exit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from govgraph.cli import main
from govgraph.events.outbox import Outbox
from govgraph.events.registration import Registration
from tests.conftest import require_service

PG = "postgresql://postgres@127.0.0.1:5432"
DEATHS = Registration(
    id="sub_0123456789abcdef01234567",
    subject="clerk-7",
    department="civil_affairs",
    roles=("subsistence_officer",),
    purpose="subsistence-review",
    entity="Person",
    fields=("deceased", "dateOfDeath"),
    document="subscription { changes(entity: Person, fields: [deceased, dateOfDeath]) { key } }",
    callback_url="https://receiver.example:8443/hooks/deaths?token=receiver-token",
    secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    created_at="2026-12-01T08:00:00.000000Z",
)
TIMES = {1: "2026-12-03T09:00:00Z", 2: "2026-12-03T10:00:00Z", 3: "2026-12-03T11:00:00Z"}


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(f"{PG}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/audit.db"
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    database = f"govgraph_test_cli_subs_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def seed(url: str) -> None:
    """One subscription owed three changes: the first two delivered, the third failed."""

    async def run() -> None:
        outbox = Outbox(url)
        await outbox.open()
        try:
            await outbox.register(DEATHS)
            for change_id, at in TIMES.items():
                await outbox.enqueue(
                    "public_security",
                    change_id,
                    "Person",
                    "110101199003071233",
                    {DEATHS.id: ("deceased",)},
                    at,
                )
            first, second, third = await outbox.claim("cli-test", 10, 60)
            await outbox.delivered(first.id, 200)
            await outbox.delivered(second.id, 204)
            await outbox.give_up(third.id, 500, "HTTP 500")
        finally:
            await outbox.close()

    asyncio.run(run())


def stored(url: str) -> tuple[Registration | None, dict[str, dict[str, int]]]:
    async def run() -> tuple[Registration | None, dict[str, dict[str, int]]]:
        outbox = Outbox(url)
        await outbox.open()
        try:
            return await outbox.get(DEATHS.id), await outbox.counts()
        finally:
            await outbox.close()

    return asyncio.run(run())


def test_list_shows_each_subscription_with_its_deliveries_by_state(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(store_url)

    assert main(["subscriptions", "list", "--url", store_url]) == 0

    header, row = capsys.readouterr().out.strip().splitlines()
    assert header.split() == [
        "ID", "STATE", "ENTITY", "FIELDS", "PURPOSE", "DEPARTMENT", "CALLBACK", "PENDING", "DELIVERED", "FAILED",
    ]  # fmt: skip
    assert row.split() == [
        DEATHS.id,
        "active",
        "Person",
        "deceased,dateOfDeath",
        "subsistence-review",
        "civil_affairs",
        "https://receiver.example:8443/hooks/deaths",
        "0",
        "2",
        "1",
    ]
    assert "receiver-token" not in row and DEATHS.secret not in row


def test_pause_resume_replay_and_remove(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(store_url)

    assert main(["subscriptions", "pause", DEATHS.id, "--url", store_url]) == 0
    assert capsys.readouterr().out == f"paused {DEATHS.id}: its deliveries wait until it is resumed\n"
    assert stored(store_url)[0].state == "paused"  # type: ignore[union-attr]

    assert (
        main(["subscriptions", "replay", DEATHS.id, "--from", "2026-12-03T10:00:00Z", "--url", store_url])
        == 0
    )
    assert capsys.readouterr().out == (
        f"put back 2 deliveries of {DEATHS.id} since 2026-12-03T10:00:00.000000Z; "
        "they go out once it is resumed (it is paused)\n"
    )
    assert stored(store_url)[1][DEATHS.id] == {"pending": 2, "delivered": 1, "failed": 0}

    assert main(["subscriptions", "resume", DEATHS.id, "--url", store_url]) == 0
    assert capsys.readouterr().out == f"resumed {DEATHS.id}\n"
    assert stored(store_url)[0].state == "active"  # type: ignore[union-attr]

    # A time with an offset is read as the moment it names: 12:00+02:00 is 10:00 UTC, so the replayed two
    # (pending again) are left alone and nothing more is put back.
    assert (
        main(
            ["subscriptions", "replay", DEATHS.id, "--from", "2026-12-03T12:00:00+02:00", "--url", store_url]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith(
        f"put back 0 deliveries of {DEATHS.id} since 2026-12-03T10:00:00"
    )

    assert main(["subscriptions", "remove", DEATHS.id, "--url", store_url]) == 0
    assert capsys.readouterr().out == f"removed {DEATHS.id} and the deliveries it was owed\n"
    assert stored(store_url) == (None, {})
    assert main(["subscriptions", "list", "--url", store_url]) == 0
    assert capsys.readouterr().out == "no subscriptions\n"


@pytest.mark.parametrize(
    "command",
    [["pause"], ["resume"], ["remove"], ["replay", "--from", "2026-12-03"]],
    ids=["pause", "resume", "remove", "replay"],
)
def test_an_unknown_subscription_is_one_sentence_and_exit_2(
    command: list[str], store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(store_url)

    assert main(["subscriptions", command[0], "sub_unknown", *command[1:], "--url", store_url]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "govgraph: no subscription sub_unknown; `govgraph subscriptions list` shows them\n"
    assert stored(store_url)[1][DEATHS.id] == {"pending": 0, "delivered": 2, "failed": 1}


def test_the_store_is_the_servers_from_its_setting_and_a_missing_one_is_said(tmp_path: Path) -> None:
    """Run as the server is: from its directory, reading GOVGRAPH_AUDIT_URL or the default var/audit.db."""
    environ = {key: value for key, value in os.environ.items() if key != "GOVGRAPH_AUDIT_URL"}

    def govgraph(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "govgraph.cli", "subscriptions", *arguments],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )

    missing = govgraph("list")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith(f"govgraph: no audit store at {tmp_path.resolve()}/var/audit.db")
    assert not (tmp_path / "var").exists(), "a read command creates no store"

    (tmp_path / "var").mkdir()
    seed(f"sqlite+aiosqlite:///{tmp_path}/var/audit.db")
    listed = govgraph("list")
    assert listed.returncode == 0, listed.stderr
    assert DEATHS.id in listed.stdout

    unknown = govgraph("pause", "sub_unknown")
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert (
        unknown.stderr.strip()
        == "govgraph: no subscription sub_unknown; `govgraph subscriptions list` shows them"
    )


@pytest.mark.postgres
def test_a_store_that_cannot_be_reached_is_named_by_its_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"govgraph_missing_{uuid.uuid4().hex[:8]}"

    assert (
        main(["subscriptions", "list", "--url", f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"]) == 2
    )

    assert capsys.readouterr().err == (
        f'govgraph: the audit store (--url) cannot be read: database "{name}" does not exist\n'
    )
