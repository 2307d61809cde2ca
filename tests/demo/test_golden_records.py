"""The golden records, read straight from the SQLite files: exactly the documented values, at any scale."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govgraph.demo import MIN_SCALE, generate_sqlite, golden

ZHANG_WEI = "110101199003071233"
LI_NA = "110101199208152467"
WANG_JIANGUO = "110105196504123312"
EXAMPLE_TECH = "91110101MA01BXQ80Y"
OLD_TOWN_TRADING = "91110105MA00GK2T0A"
PROPERTY = "京(2019)东城区不动产权第0001234号"
ADDRESS = "北京市东城区景山前街4号院2号楼301"


@pytest.fixture(scope="module", params=[MIN_SCALE, 200])
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp(f"golden-{request.param}")
    generate_sqlite(directory, scale=request.param, progress=False)
    return directory


class Department:
    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path)
        self.connection.row_factory = sqlite3.Row

    def one(self, sql: str, *parameters: Any) -> dict[str, Any]:
        rows = self.all(sql, *parameters)
        assert len(rows) == 1, f"{len(rows)} rows for {sql} {parameters}"
        return rows[0]

    def all(self, sql: str, *parameters: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in self.connection.execute(sql, parameters)]


@pytest.fixture
def db(city: Path) -> Iterator[dict[str, Department]]:
    departments = {path.stem: Department(path) for path in city.glob("*.db")}
    yield departments
    for department in departments.values():
        department.connection.close()


def test_the_constants_are_the_documented_keys() -> None:
    assert (golden.ZHANG_WEI, golden.LI_NA, golden.WANG_JIANGUO) == (ZHANG_WEI, LI_NA, WANG_JIANGUO)
    assert (golden.EXAMPLE_TECH, golden.OLD_TOWN_TRADING) == (EXAMPLE_TECH, OLD_TOWN_TRADING)
    assert (golden.GOLDEN_PROPERTY, golden.GOLDEN_ADDRESS) == (PROPERTY, ADDRESS)


def test_zhang_wei(db: dict[str, Department]) -> None:
    assert db["public_security"].one("SELECT * FROM residents WHERE resident_id = ?", ZHANG_WEI) == {
        "resident_id": ZHANG_WEI,
        "full_name": "张伟",
        "sex": "male",
        "birth_date": "1990-03-07",
        "ethnic_group": "Han",
        "hukou_address": ADDRESS,
        "household_no": "H110101000001",
        "deceased": 0,
        "date_of_death": None,
        "criminal_record": "GOLDEN-NOT-SHARED-CRIMINAL-RECORD",
    }
    civil = db["civil_affairs"].one("SELECT * FROM civil_status WHERE id_card_no = ?", ZHANG_WEI)
    assert (civil["marital_state"], civil["spouse_id_card_no"], civil["dibao_status"]) == (
        "married",
        LI_NA,
        None,
    )
    assert db["human_resources"].one("SELECT * FROM insured_persons WHERE aac002 = ?", ZHANG_WEI) == {
        "aac002": ZHANG_WEI,
        "pension_insured": 1,
        "contribution_months": 96,
        "last_paid_month": "2026-10",
        "employer_uscc": EXAMPLE_TECH,
        "medical_diagnosis": "GOLDEN-NOT-SHARED-DIAGNOSIS",
    }
    assert db["taxation"].one("SELECT * FROM individual_taxpayers WHERE taxpayer_id_no = ?", ZHANG_WEI) == {
        "taxpayer_id_no": ZHANG_WEI,
        "annual_income": 186000,
        "tax_compliant": 1,
        "bank_account": "6222020200112233445",
    }
    represented = db["market_regulation"].all(
        "SELECT uniscid FROM enterprises WHERE lerep_id_no = ?", ZHANG_WEI
    )
    assert represented == [{"uniscid": EXAMPLE_TECH}]


def test_li_na(db: dict[str, Department]) -> None:
    assert db["public_security"].one("SELECT * FROM residents WHERE resident_id = ?", LI_NA) == {
        "resident_id": LI_NA,
        "full_name": "李娜",
        "sex": "female",
        "birth_date": "1992-08-15",
        "ethnic_group": "Han",
        "hukou_address": ADDRESS,
        "household_no": "H110101000001",
        "deceased": 0,
        "date_of_death": None,
        "criminal_record": None,
    }
    civil = db["civil_affairs"].one("SELECT * FROM civil_status WHERE id_card_no = ?", LI_NA)
    assert (civil["marital_state"], civil["spouse_id_card_no"]) == ("married", ZHANG_WEI)
    insured = db["human_resources"].one("SELECT * FROM insured_persons WHERE aac002 = ?", LI_NA)
    assert (insured["pension_insured"], insured["contribution_months"]) == (1, 60)
    assert insured["employer_uscc"] not in (None, EXAMPLE_TECH, OLD_TOWN_TRADING)
    db["market_regulation"].one("SELECT 1 FROM enterprises WHERE uniscid = ?", insured["employer_uscc"])
    taxpayer = db["taxation"].one("SELECT * FROM individual_taxpayers WHERE taxpayer_id_no = ?", LI_NA)
    assert (taxpayer["annual_income"], taxpayer["tax_compliant"]) == (54000, 1)


def test_wang_jianguo(db: dict[str, Department]) -> None:
    resident = db["public_security"].one("SELECT * FROM residents WHERE resident_id = ?", WANG_JIANGUO)
    assert (resident["full_name"], resident["sex"], resident["birth_date"], resident["ethnic_group"]) == (
        "王建国",
        "male",
        "1965-04-12",
        "Han",
    )
    assert resident["household_no"] == "H110105000001"
    assert (resident["deceased"], resident["date_of_death"]) == (0, None), "alive until `demo change --death`"
    assert resident["hukou_address"].startswith("北京市朝阳区")
    household = db["public_security"].one("SELECT * FROM households WHERE household_no = 'H110105000001'")
    assert household == {
        "household_no": "H110105000001",
        "address": resident["hukou_address"],
        "head_resident_id": WANG_JIANGUO,
    }
    assert db["public_security"].all(
        "SELECT resident_id FROM residents WHERE household_no = 'H110105000001'"
    ) == [{"resident_id": WANG_JIANGUO}]
    assert db["civil_affairs"].one("SELECT * FROM civil_status WHERE id_card_no = ?", WANG_JIANGUO) == {
        "id_card_no": WANG_JIANGUO,
        "marital_state": "divorced",
        "spouse_id_card_no": None,
        "dibao_status": "active",
        "dibao_monthly_yuan": 1200.0,
        "disability_grade": None,
    }
    taxpayer = db["taxation"].one("SELECT * FROM individual_taxpayers WHERE taxpayer_id_no = ?", WANG_JIANGUO)
    assert (taxpayer["annual_income"], taxpayer["tax_compliant"]) == (0, 1)
    assert db["human_resources"].all("SELECT * FROM insured_persons WHERE aac002 = ?", WANG_JIANGUO) == []
    assert (
        db["natural_resources"].all("SELECT * FROM property_rights WHERE holder_id_no = ?", WANG_JIANGUO)
        == []
    )
    assert db["market_regulation"].all("SELECT * FROM enterprises WHERE lerep_id_no = ?", WANG_JIANGUO) == []


def test_the_golden_household(db: dict[str, Department]) -> None:
    assert db["public_security"].one("SELECT * FROM households WHERE household_no = 'H110101000001'") == {
        "household_no": "H110101000001",
        "address": ADDRESS,
        "head_resident_id": ZHANG_WEI,
    }
    members = db["public_security"].all(
        "SELECT resident_id FROM residents WHERE household_no = 'H110101000001' ORDER BY resident_id"
    )
    assert members == [{"resident_id": ZHANG_WEI}, {"resident_id": LI_NA}]


def test_example_tech(db: dict[str, Department]) -> None:
    assert db["market_regulation"].one("SELECT * FROM enterprises WHERE uniscid = ?", EXAMPLE_TECH) == {
        "uniscid": EXAMPLE_TECH,
        "entname": "北京示例科技有限公司",
        "regstate": "存续",
        "estdate": "2018-05-20",
        "regcap": 1000000.0,
        "opscope": "软件开发；技术服务",
        "abnormal": 0,
        "lerep_id_no": ZHANG_WEI,
        "investigation_note": None,
    }
    assert db["taxation"].one("SELECT * FROM corporate_taxpayers WHERE nsrsbh = ?", EXAMPLE_TECH) == {
        "nsrsbh": EXAMPLE_TECH,
        "credit_rating": "A",
        "arrears_amount": 0.0,
    }
    assert db["human_resources"].one("SELECT * FROM employer_units WHERE unit_uscc = ?", EXAMPLE_TECH) == {
        "unit_uscc": EXAMPLE_TECH,
        "insured_count": 12,
    }
    staff = db["human_resources"].all(
        "SELECT aac002 FROM insured_persons WHERE employer_uscc = ?", EXAMPLE_TECH
    )
    assert len(staff) == 12 and {"aac002": ZHANG_WEI} in staff


def test_old_town_trading(db: dict[str, Department]) -> None:
    enterprise = db["market_regulation"].one("SELECT * FROM enterprises WHERE uniscid = ?", OLD_TOWN_TRADING)
    assert (enterprise["entname"], enterprise["regstate"], enterprise["abnormal"]) == (
        "北京旧城贸易有限公司",
        "吊销",
        1,
    )
    assert enterprise["investigation_note"] is not None
    assert enterprise["lerep_id_no"] not in (ZHANG_WEI, LI_NA, WANG_JIANGUO)
    db["public_security"].one("SELECT 1 FROM residents WHERE resident_id = ?", enterprise["lerep_id_no"])
    assert db["taxation"].one("SELECT * FROM corporate_taxpayers WHERE nsrsbh = ?", OLD_TOWN_TRADING) == {
        "nsrsbh": OLD_TOWN_TRADING,
        "credit_rating": "D",
        "arrears_amount": 35000.50,
    }


def test_the_golden_property(db: dict[str, Department]) -> None:
    assert db["natural_resources"].one("SELECT * FROM real_estate_units WHERE bdcqzh = ?", PROPERTY) == {
        "bdcqzh": PROPERTY,
        "zl": ADDRESS,
        "area_sqm": 89.5,
        "purpose": "住宅",
        "mortgaged": 1,
        "seized": 0,
    }
    owners = db["natural_resources"].all(
        "SELECT holder_id_no, holder_uscc, share_pct FROM property_rights WHERE bdcqzh = ? ORDER BY holder_id_no",
        PROPERTY,
    )
    assert owners == [
        {"holder_id_no": ZHANG_WEI, "holder_uscc": None, "share_pct": 50.0},
        {"holder_id_no": LI_NA, "holder_uscc": None, "share_pct": 50.0},
    ]
