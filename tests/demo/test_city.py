"""The demo generator: deterministic, golden records always present, valid keys, consistent links."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest

from govgraph.demo import build_city, generate_sqlite, golden
from govgraph.demo.layout import DEPARTMENTS
from govgraph.identifiers import validate_credit_code, validate_id_number


def test_same_seed_and_scale_give_the_same_city() -> None:
    assert build_city(300, seed=7).rows == build_city(300, seed=7).rows
    assert build_city(300, seed=7).rows != build_city(300, seed=8).rows


@pytest.mark.parametrize("scale", [10, 300, 2000])
def test_golden_records_are_present_at_every_scale(scale: int) -> None:
    rows = build_city(scale).rows
    residents = {row["resident_id"]: row for row in rows["public_security"]["residents"]}
    assert residents[golden.ZHANG_WEI]["full_name"] == "张伟"
    assert residents[golden.ZHANG_WEI]["criminal_record"] == "GOLDEN-NOT-SHARED-CRIMINAL-RECORD"
    civil = {row["id_card_no"]: row for row in rows["civil_affairs"]["civil_status"]}
    assert civil[golden.ZHANG_WEI]["spouse_id_card_no"] == golden.LI_NA
    assert civil[golden.WANG_JIANGUO]["dibao_monthly_yuan"] == 1200.0
    income = {row["taxpayer_id_no"]: row["annual_income"] for row in rows["taxation"]["individual_taxpayers"]}
    assert (income[golden.ZHANG_WEI], income[golden.LI_NA], income[golden.WANG_JIANGUO]) == (186000, 54000, 0)
    units = {row["unit_uscc"]: row["insured_count"] for row in rows["human_resources"]["employer_units"]}
    assert units[golden.EXAMPLE_TECH] == min(12, units[golden.EXAMPLE_TECH]) and (
        scale < 100 or units[golden.EXAMPLE_TECH] == 12
    )
    holders = [
        row
        for row in rows["natural_resources"]["property_rights"]
        if row["holder_id_no"] == golden.WANG_JIANGUO
    ]
    assert holders == []
    representatives = [
        row for row in rows["market_regulation"]["enterprises"] if row["lerep_id_no"] == golden.WANG_JIANGUO
    ]
    assert representatives == []


def test_keys_are_valid_and_unique_and_links_consistent() -> None:
    rows = build_city(2000).rows
    persons = [row["resident_id"] for row in rows["public_security"]["residents"]]
    assert len(persons) == len(set(persons)) == 2000
    for id_number in persons:
        validate_id_number(id_number)
    codes = [row["uniscid"] for row in rows["market_regulation"]["enterprises"]]
    assert len(codes) == len(set(codes)) == 400
    for code in codes:
        validate_credit_code(code)

    spouses = {row["id_card_no"]: row["spouse_id_card_no"] for row in rows["civil_affairs"]["civil_status"]}
    for person, spouse in spouses.items():
        if spouse is not None:
            assert spouses[spouse] == person
    shares: dict[str, float] = defaultdict(float)
    for right in rows["natural_resources"]["property_rights"]:
        shares[right["bdcqzh"]] += right["share_pct"]
    assert set(shares.values()) == {100.0}
    households = {row["household_no"] for row in rows["public_security"]["households"]}
    assert {row["household_no"] for row in rows["public_security"]["residents"]} <= households


def test_generate_sqlite_writes_six_databases_and_a_manifest(tmp_path: Path) -> None:
    generate_sqlite(tmp_path, scale=200, progress=False)

    assert sorted(path.stem for path in tmp_path.glob("*.db")) == sorted(DEPARTMENTS)
    assert (tmp_path / "MANIFEST.json").exists()
    assert not list(tmp_path.glob(".*partial"))
    with sqlite3.connect(tmp_path / "taxation.db") as connection:
        assert connection.execute(
            "SELECT bank_account FROM individual_taxpayers WHERE taxpayer_id_no = ?", (golden.ZHANG_WEI,)
        ).fetchone() == ("6222020200112233445",)
    with sqlite3.connect(tmp_path / "public_security.db") as connection:
        assert connection.execute("SELECT count(*) FROM residents").fetchone() == (200,)


def test_scale_below_ten_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 10 persons"):
        build_city(5)
