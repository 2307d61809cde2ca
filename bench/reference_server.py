"""The reference for throughput: a plain graphql-core server over the same rows.

No authorization, no audit, no cache: only what any competent GraphQL server
does. A graphql-core schema for the golden-person portal query, resolvers
that ask PostgreSQL through asyncpg, one DataLoader per department table per
request (so each department is asked once per level), orjson responses.
govgraph, with authorization, audit and caching on, must reach at least its
throughput.

Run: ``BENCH_DATABASE_URL=postgresql://... python -m bench.reference_server --workers 2``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from graphql import build_schema, execute, parse, validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.dataloader import DataLoader

SDL = """
type Query {
  person(idNumber: String!): Person
  persons(idNumbers: [String!]!): [Person]
}
type Household { householdId: String }
type Enterprise { creditCode: String name: String status: String }
type SocialInsurance { pensionInsured: Boolean contributionMonths: Int lastPaidMonth: String employer: Enterprise }
type Owner { share: Float person: Person }
type Property { certificateNo: String mortgaged: Boolean owners: [Owner] }
type Person {
  idNumber: String name: String gender: String birthDate: String ethnicity: String
  household: Household maritalStatus: String spouse: Person socialInsurance: SocialInsurance
  annualIncome: Int taxCompliant: Boolean enterprises: [Enterprise] properties: [Property]
}
"""

QUERIES = {
    "residents": "SELECT resident_id, full_name, sex, birth_date, ethnic_group, household_no "
    "FROM public_security.residents WHERE resident_id = ANY($1)",
    "civil_status": "SELECT id_card_no, marital_state, spouse_id_card_no FROM civil_affairs.civil_status "
    "WHERE id_card_no = ANY($1)",
    "insured": "SELECT aac002, pension_insured, contribution_months, last_paid_month, employer_uscc "
    "FROM human_resources.insured_persons WHERE aac002 = ANY($1)",
    "taxpayers": "SELECT taxpayer_id_no, annual_income, tax_compliant FROM taxation.individual_taxpayers "
    "WHERE taxpayer_id_no = ANY($1)",
    "enterprises": "SELECT uniscid, entname, regstate, lerep_id_no FROM market_regulation.enterprises "
    "WHERE uniscid = ANY($1)",
    "represented": "SELECT lerep_id_no, uniscid FROM market_regulation.enterprises WHERE lerep_id_no = ANY($1)",
    "rights_of_person": "SELECT holder_id_no, bdcqzh FROM natural_resources.property_rights "
    "WHERE holder_id_no = ANY($1)",
    "units": "SELECT bdcqzh, mortgaged FROM natural_resources.real_estate_units WHERE bdcqzh = ANY($1)",
    "rights_of_unit": "SELECT bdcqzh, holder_id_no, share_pct FROM natural_resources.property_rights "
    "WHERE bdcqzh = ANY($1)",
}
ONE_PER_KEY = {"residents", "civil_status", "insured", "taxpayers", "enterprises", "units"}


class Loaders:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._loaders: dict[str, DataLoader[Any, Any]] = {}

    def __getitem__(self, name: str) -> DataLoader[Any, Any]:
        loader = self._loaders.get(name)
        if loader is None:

            async def load(keys: list[Any], name: str = name) -> list[Any]:
                async with self.pool.acquire() as connection:
                    rows = await connection.fetch(QUERIES[name], list(keys))
                if name in ONE_PER_KEY:
                    found = {row[0]: row for row in rows}
                    return [found.get(key) for key in keys]
                grouped: dict[Any, list[Any]] = {}
                for row in rows:
                    grouped.setdefault(row[0], []).append(row)
                return [grouped.get(key, []) for key in keys]

            loader = self._loaders[name] = DataLoader(load)
        return loader


async def person(keys: Loaders, id_number: str | None) -> dict[str, Any] | None:
    if id_number is None:
        return None
    row = await keys["residents"].load(id_number)
    return None if row is None else {"_key": id_number, "_row": row}


async def resolve_person(root: Any, info: Any, idNumber: str) -> Any:
    return await person(info.context, idNumber)


async def resolve_persons(root: Any, info: Any, idNumbers: list[str]) -> Any:
    rows = await info.context["residents"].load_many(idNumbers)
    return [
        None if row is None else {"_key": key, "_row": row} for key, row in zip(idNumbers, rows, strict=True)
    ]


async def resolve_person_field(root: dict[str, Any], info: Any) -> Any:
    loaders: Loaders = info.context
    name, key = info.field_name, root["_key"]
    if name == "idNumber":
        return key
    row = root["_row"]
    if row is None and name in ("name", "gender", "ethnicity", "birthDate", "household"):
        row = root["_row"] = await loaders["residents"].load(key)
        if row is None:
            return None
    if name in ("name", "gender", "ethnicity"):
        return row[{"name": "full_name", "gender": "sex", "ethnicity": "ethnic_group"}[name]]
    if name == "birthDate":
        return row["birth_date"].isoformat()
    if name == "household":
        return {"householdId": row["household_no"]}
    if name in ("maritalStatus", "spouse"):
        status = await loaders["civil_status"].load(key)
        if status is None:
            return None
        return (
            status["marital_state"]
            if name == "maritalStatus"
            else await person(loaders, status["spouse_id_card_no"])
        )
    if name == "socialInsurance":
        insured = await loaders["insured"].load(key)
        if insured is None:
            return None
        employer = (
            await loaders["enterprises"].load(insured["employer_uscc"]) if insured["employer_uscc"] else None
        )
        return {
            "pensionInsured": insured["pension_insured"],
            "contributionMonths": insured["contribution_months"],
            "lastPaidMonth": insured["last_paid_month"],
            "employer": None if employer is None else _enterprise(employer),
        }
    if name in ("annualIncome", "taxCompliant"):
        taxpayer = await loaders["taxpayers"].load(key)
        if taxpayer is None:
            return None
        return taxpayer["annual_income"] if name == "annualIncome" else taxpayer["tax_compliant"]
    if name == "enterprises":
        codes = [row["uniscid"] for row in await loaders["represented"].load(key)]
        return [_enterprise(row) for row in await loaders["enterprises"].load_many(codes) if row is not None]
    if name == "properties":
        certificates = [row["bdcqzh"] for row in await loaders["rights_of_person"].load(key)]
        units = await loaders["units"].load_many(certificates)
        owners = await loaders["rights_of_unit"].load_many(certificates)
        return [
            {
                "certificateNo": unit["bdcqzh"],
                "mortgaged": unit["mortgaged"],
                "owners": [
                    {"share": right["share_pct"], "person": {"_key": right["holder_id_no"], "_row": None}}
                    if right["holder_id_no"]
                    else {"share": right["share_pct"], "person": None}
                    for right in rights
                ],
            }
            for unit, rights in zip(units, owners, strict=True)
            if unit is not None
        ]
    return None


def _enterprise(row: Any) -> dict[str, Any]:
    return {"creditCode": row["uniscid"], "name": row["entname"], "status": row["regstate"]}


schema = build_schema(SDL)
for graphql_field in schema.type_map["Person"].fields.values():  # type: ignore[attr-defined]
    graphql_field.resolve = resolve_person_field
schema.query_type.fields["person"].resolve = resolve_person  # type: ignore[union-attr]
schema.query_type.fields["persons"].resolve = resolve_persons  # type: ignore[union-attr]


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ["BENCH_DATABASE_URL"]
    app.state.pool = await asyncpg.create_pool(
        url, min_size=4, max_size=int(os.environ.get("BENCH_POOL_SIZE", "8"))
    )
    try:
        yield
    finally:
        await app.state.pool.close()


documents: dict[str, Any] = {}


async def endpoint(request: Request) -> Response:
    body = orjson.loads(await request.body())
    query = body["query"]
    document = documents.get(query)
    if document is None:
        document = parse(query)
        errors = validate(schema, document)
        if errors:
            return Response(orjson.dumps({"errors": [error.formatted for error in errors]}), status_code=400)
        documents[query] = document
    result = await execute(
        schema, document, context_value=Loaders(request.app.state.pool), variable_values=body.get("variables")
    )
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    return Response(orjson.dumps(payload), media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(
    routes=[Route("/graphql", endpoint, methods=["POST"]), Route("/healthz", healthz)], lifespan=lifespan
)


def main() -> None:
    """Serve it the way ``govgraph serve`` serves govgraph: the same workers, one listening socket each."""
    import argparse

    import uvicorn

    from govgraph.http.workers import BalancedWorkers, reuse_port_supported

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    config = uvicorn.Config(
        "bench.reference_server:app",
        host=arguments.host,
        port=arguments.port,
        workers=arguments.workers,
        log_level="warning",
        server_header=False,
    )
    if arguments.workers > 1 and reuse_port_supported():
        BalancedWorkers(config).run()
    else:
        uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
