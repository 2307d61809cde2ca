"""Verify-only grants give yes or no, never the value: not through the band, not by bisecting over requests."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import httpx
import pytest

from tests.auth_helpers import bearer
from tests.conftest import AppFactory, graphql, require_service
from tests.security.corpus import LI_NA, ZHANG_WEI

INCOME = "query($id: IdNumber!, $lt: Int!) { person(idNumber: $id) { verify { annualIncome(lt: $lt) } } }"


def clerk() -> dict[str, str]:
    return bearer("window_clerk", "housing-subsidy", subject=f"clerk-{uuid.uuid4().hex[:8]}")


async def test_the_band_needs_a_mask_or_read_grant(client: httpx.AsyncClient) -> None:
    for role, purpose in (
        ("civil_affairs_officer", "subsistence-review"),
        ("window_clerk", "housing-subsidy"),
    ):
        response = await client.post(
            "/graphql",
            json={
                "query": '{ person(idNumber: "%s") { annualIncomeBand band: annualIncomeBand } }' % ZHANG_WEI
            },
            headers=bearer(role, purpose),
        )
        body = response.json()
        assert body["data"]["person"] == {"annualIncomeBand": None, "band": None}
        assert "100000-200000" not in response.text and "186000" not in response.text
        reasons = {error["extensions"]["reason"] for error in body["errors"]}
        assert reasons == {"verify only: the band is a masked view and needs a mask or read grant"}


async def ask(
    client: httpx.AsyncClient, headers: dict[str, str], threshold: int, person: str = ZHANG_WEI
) -> Any:
    return await graphql(client, INCOME, {"id": person, "lt": threshold}, headers)


async def test_a_principal_cannot_bisect_an_income_over_many_requests(app_factory: AppFactory) -> None:
    _, client = await app_factory(max_verify_questions_per_window=3, verify_window=3600)
    headers = clerk()
    low, high, answered = 0, 1_000_000, 0
    for _ in range(20):
        middle = (low + high) // 2
        body = await ask(client, headers, middle)
        answer = body["data"]["person"]["verify"]["annualIncome"]
        if answer is None:
            [error] = body["errors"]
            assert error["extensions"]["code"] == "FORBIDDEN"
            assert error["path"] == ["person", "verify", "annualIncome"]
            reason = error["extensions"]["reason"]
            assert reason.startswith(
                "at most 3 different yes/no questions about Person.annualIncome of one record per 1 h"
            )
            resets = datetime.datetime.strptime(reason.rsplit(" ", 1)[1], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.UTC
            )
            assert (
                datetime.timedelta(0)
                < resets - datetime.datetime.now(datetime.UTC)
                <= datetime.timedelta(hours=1)
            )
            break
        answered += 1
        if answer:
            high = middle
        else:
            low = middle
    assert answered == 3
    assert high - low >= 1_000_000 // 2**3, "three answers narrow the value to an eighth, not to the value"


async def test_asking_the_same_question_again_is_free_and_other_records_have_their_own_budget(
    app_factory: AppFactory,
) -> None:
    _, client = await app_factory(max_verify_questions_per_window=2, verify_window=3600)
    headers = clerk()
    for threshold in (60_000, 100_000, 60_000, 100_000, 60_000):
        assert (await ask(client, headers, threshold))["data"]["person"]["verify"]["annualIncome"] is not None
    assert (await ask(client, headers, 70_000))["data"]["person"]["verify"]["annualIncome"] is None
    assert (await ask(client, headers, 70_000, LI_NA))["data"]["person"]["verify"]["annualIncome"] is True
    other_clerk = clerk()
    assert (await ask(client, other_clerk, 70_000))["data"]["person"]["verify"]["annualIncome"] is False


async def test_roles_that_may_read_the_value_are_not_budgeted(app_factory: AppFactory) -> None:
    _, client = await app_factory(max_verify_questions_per_window=1, verify_window=3600)
    tax = bearer("tax_officer", "tax-audit", subject="auditor-7")
    answers = [
        (await ask(client, tax, threshold))["data"]["person"]["verify"]["annualIncome"]
        for threshold in range(100_000, 300_000, 20_000)
    ]
    assert None not in answers


async def test_refusals_are_in_the_audit_trail(app_factory: AppFactory) -> None:
    app, client = await app_factory(max_verify_questions_per_window=1, verify_window=3600)
    headers = clerk()
    await ask(client, headers, 60_000)
    refused = await ask(client, headers, 100_000)
    assert refused["data"]["person"]["verify"]["annualIncome"] is None
    await app.state.audit_writer.flush()
    log = await graphql(
        client,
        "query($f: AuditLogFilter) { auditLog(filter: $f, first: 5) { entries { requestId fields { coordinate decision } } } }",
        {"f": {"field": "Person.annualIncome"}},
        bearer("auditor", "oversight"),
    )
    entries = {entry["requestId"]: entry for entry in log["data"]["auditLog"]["entries"]}
    fields = {
        (item["coordinate"], item["decision"])
        for item in entries[refused["extensions"]["requestId"]]["fields"]
    }
    assert ("Person.annualIncome", "refused") in fields


async def test_the_budget_is_shared_by_processes_through_redis(app_factory: AppFactory) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    options = {
        "rate_limit_url": "redis://127.0.0.1:6379/0",
        "max_verify_questions_per_window": 2,
        "verify_window": 600,
    }
    _, first = await app_factory(**options)
    _, second = await app_factory(**options)
    headers = clerk()
    assert (await ask(first, headers, 60_000))["data"]["person"]["verify"]["annualIncome"] is False
    assert (await ask(second, headers, 200_000))["data"]["person"]["verify"]["annualIncome"] is True
    for client in (first, second):
        body = await ask(client, headers, 190_000)
        assert body["data"]["person"]["verify"]["annualIncome"] is None
        assert "per 10 min" in body["errors"][0]["extensions"]["reason"]
    assert (await ask(second, headers, 60_000))["data"]["person"]["verify"]["annualIncome"] is False


@pytest.mark.parametrize("count", [2, 5])
async def test_a_list_of_persons_draws_one_question_per_person(app_factory: AppFactory, count: int) -> None:
    _, client = await app_factory(max_verify_questions_per_window=1, verify_window=3600)
    headers = clerk()
    ids = [ZHANG_WEI, LI_NA, "110105196504123312"][: min(count, 3)]
    query = "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { verify { annualIncome(lt: 60000) } } }"
    first = await graphql(client, query, {"ids": ids}, headers)
    assert [person["verify"]["annualIncome"] for person in first["data"]["persons"]] == [False, True, True][
        : len(ids)
    ]
    second = await graphql(client, query.replace("60000", "50000"), {"ids": ids}, headers)
    assert all(person["verify"]["annualIncome"] is None for person in second["data"]["persons"])
