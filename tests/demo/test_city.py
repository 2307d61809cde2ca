"""The demo city's rows: deterministic, golden records at every scale, valid keys, consistent links."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from govgraph.demo import build_city, golden
from govgraph.demo.vocabulary import DISTRICTS
from govgraph.identifiers import validate_credit_code, validate_id_number

GOLDEN_PERSONS = {golden.ZHANG_WEI, golden.LI_NA, golden.WANG_JIANGUO}
GOLDEN_ENTERPRISES = {golden.EXAMPLE_TECH, golden.OLD_TOWN_TRADING}


def test_same_seed_and_scale_give_the_same_city() -> None:
    assert build_city(300, seed=7).rows == build_city(300, seed=7).rows
    assert build_city(300, seed=7).rows != build_city(300, seed=8).rows


@pytest.mark.parametrize("scale", [20, 300, 2000])
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
    assert units[golden.EXAMPLE_TECH] == 12
    staff = [
        row["aac002"]
        for row in rows["human_resources"]["insured_persons"]
        if row["employer_uscc"] == golden.EXAMPLE_TECH
    ]
    assert len(staff) == 12 and golden.ZHANG_WEI in staff
    li_na = next(row for row in rows["human_resources"]["insured_persons"] if row["aac002"] == golden.LI_NA)
    assert li_na["employer_uscc"] not in (None, golden.EXAMPLE_TECH, golden.OLD_TOWN_TRADING)
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


def test_keys_are_valid_unique_and_never_collide_with_the_golden_ones() -> None:
    rows = build_city(2000).rows
    persons = [row["resident_id"] for row in rows["public_security"]["residents"]]
    assert len(persons) == len(set(persons)) == 2000
    for id_number in persons:
        validate_id_number(id_number)
        assert id_number[:6] in DISTRICTS
    assert sum(id_number in GOLDEN_PERSONS for id_number in persons) == 3

    codes = [row["uniscid"] for row in rows["market_regulation"]["enterprises"]]
    assert len(codes) == len(set(codes)) == 400
    for code in codes:
        validate_credit_code(code)
        assert code.startswith("91") and code[2:8] in DISTRICTS and code[8:10] == "MA"
    assert sum(code in GOLDEN_ENTERPRISES for code in codes) == 2

    households = [row["household_no"] for row in rows["public_security"]["households"]]
    assert len(households) == len(set(households))
    assert all(re.fullmatch(r"H(\d{6})\d{6}", number)[1] in DISTRICTS for number in households)
    certificates = [row["bdcqzh"] for row in rows["natural_resources"]["real_estate_units"]]
    assert len(certificates) == len(set(certificates)) == 1200
    assert certificates.count("京(2019)东城区不动产权第0001234号") == 1
    assert all(
        re.fullmatch(r"京\(\d{4}\)(东城|西城|朝阳|丰台|海淀)区不动产权第\d{7}号", c) for c in certificates
    )


def test_links_are_consistent() -> None:
    rows = build_city(2000).rows
    residents = {row["resident_id"]: row for row in rows["public_security"]["residents"]}
    enterprises = {row["uniscid"] for row in rows["market_regulation"]["enterprises"]}

    spouses = {row["id_card_no"]: row["spouse_id_card_no"] for row in rows["civil_affairs"]["civil_status"]}
    married = [person for person, spouse in spouses.items() if spouse is not None]
    assert married
    for person in married:
        assert spouses[spouses[person]] == person
        assert residents[person]["household_no"] == residents[spouses[person]]["household_no"]

    households = {row["household_no"]: row for row in rows["public_security"]["households"]}
    for resident in residents.values():
        household = households[resident["household_no"]]
        assert resident["hukou_address"] == household["address"]
        assert residents[household["head_resident_id"]]["household_no"] == resident["household_no"]
        assert resident["hukou_address"].startswith("北京市" + DISTRICTS[household["household_no"][1:7]])

    shares: dict[str, float] = defaultdict(float)
    for right in rows["natural_resources"]["property_rights"]:
        shares[right["bdcqzh"]] += right["share_pct"]
        assert (right["holder_id_no"] is None) != (right["holder_uscc"] is None)
        assert right["holder_id_no"] is None or right["holder_id_no"] in residents
        assert right["holder_uscc"] is None or right["holder_uscc"] in enterprises
    assert set(shares.values()) == {100.0}
    assert set(shares) == {row["bdcqzh"] for row in rows["natural_resources"]["real_estate_units"]}

    for enterprise in rows["market_regulation"]["enterprises"]:
        assert enterprise["lerep_id_no"] in residents
    for insured in rows["human_resources"]["insured_persons"]:
        assert insured["aac002"] in residents
        assert insured["employer_uscc"] is None or insured["employer_uscc"] in enterprises
    units = {row["unit_uscc"]: row["insured_count"] for row in rows["human_resources"]["employer_units"]}
    employed = Counter(row["employer_uscc"] for row in rows["human_resources"]["insured_persons"])
    assert units == {code: count for code, count in employed.items() if code is not None}
    for taxpayer in rows["taxation"]["corporate_taxpayers"]:
        assert taxpayer["nsrsbh"] in enterprises
        assert (taxpayer["arrears_amount"] > 0) == (taxpayer["credit_rating"] in ("C", "D"))


def test_the_city_has_the_documented_shape() -> None:
    rows = build_city(6000).rows
    counts = {table: len(table_rows) for tables in rows.values() for table, table_rows in tables.items()}
    assert counts["residents"] == counts["civil_status"] == 6000
    assert 0.8 < counts["insured_persons"] / 6000 < 0.9
    assert 0.85 < counts["individual_taxpayers"] / 6000 < 0.95
    assert counts["enterprises"] == counts["corporate_taxpayers"] == 1200
    assert counts["real_estate_units"] == 3600
    assert 1700 < counts["households"] < 2300

    holders = Counter(row["holder_id_no"] for row in rows["natural_resources"]["property_rights"])
    assert {1, 2} <= set(holders.values())
    assert holders[None] > 0
    assert {row["share_pct"] for row in rows["natural_resources"]["property_rights"]} >= {100.0, 50.0, 60.0}
    civil = rows["civil_affairs"]["civil_status"]
    assert {row["marital_state"] for row in civil} == {"single", "married", "divorced", "widowed"}
    assert {row["dibao_status"] for row in civil} == {None, "active", "suspended", "terminated"}
    assert {row["regstate"] for row in rows["market_regulation"]["enterprises"]} == {
        "存续",
        "在业",
        "吊销",
        "注销",
    }


def test_scale_below_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 20 persons"):
        build_city(19)


def test_almost_everyone_is_alive_and_the_golden_persons_are() -> None:
    residents = build_city(2000).rows["public_security"]["residents"]
    by_id = {person["resident_id"]: person for person in residents}

    assert (by_id[golden.WANG_JIANGUO]["deceased"], by_id[golden.WANG_JIANGUO]["date_of_death"]) == (
        False,
        None,
    )
    dead = [person for person in residents if person["deceased"]]
    assert 0 < len(dead) < len(residents) * 0.03
    assert all(person["birth_date"] <= person["date_of_death"] for person in dead)
    assert all(person["date_of_death"] is None for person in residents if not person["deceased"])
    assert build_city(2000).rows["public_security"]["residents"] == residents
