"""The demo city's rows: a seeded, deterministic generator.

``build_city(scale, seed)`` returns every department's rows; the SQLite and
PostgreSQL writers both take them, so both stores hold identical data. The
same scale and seed always give the same city. All of it is synthetic.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field
from typing import Any

from govgraph.demo import golden
from govgraph.demo.vocabulary import (
    CRIMES,
    DIAGNOSES,
    DISABILITIES,
    DISTRICTS,
    ETHNIC_GROUPS,
    GIVEN,
    INDUSTRIES,
    PURPOSES,
    RATINGS,
    SCOPES,
    STATUSES,
    STREETS,
    SURNAMES,
)
from govgraph.identifiers import CREDIT_CODE_ALPHABET, credit_code_check_char, id_number_check_char

DEFAULT_SCALE = 10_000
DEFAULT_SEED = 20261124
# The golden records need the first generated persons: eleven colleagues of 张伟 and a representative.
MIN_SCALE = 20
MARRIAGEABLE_BORN_BY = datetime.date(2004, 1, 1)
DEATH_RATE = 0.01
LAST_DEATH = datetime.date(2026, 11, 1)

Rows = dict[str, dict[str, list[dict[str, Any]]]]


@dataclass
class City:
    scale: int
    seed: int
    rows: Rows = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            department: {table: len(rows) for table, rows in tables.items()}
            for department, tables in self.rows.items()
        }


def build_city(scale: int = DEFAULT_SCALE, seed: int = DEFAULT_SEED) -> City:
    if scale < MIN_SCALE:
        raise ValueError(f"the demo city needs at least {MIN_SCALE} persons")
    return _Builder(scale, seed).build()


class _Builder:
    def __init__(self, scale: int, seed: int) -> None:
        self.scale = scale
        self.seed = seed
        self.random = random.Random(seed)
        self.id_numbers: set[str] = set(golden.RESERVED_PERSONS)
        self.credit_codes: set[str] = {golden.EXAMPLE_TECH, golden.OLD_TOWN_TRADING}

    def build(self) -> City:
        persons = self._persons()
        self._deaths(persons)
        couples = self._couples(persons)
        households = self._households(persons, couples)
        enterprises = self._enterprises(persons)
        city = City(self.scale, self.seed)
        city.rows = {
            "public_security": {"residents": persons, "households": households},
            "civil_affairs": {"civil_status": self._civil_status(persons, couples)},
            "human_resources": self._insurance(persons, enterprises),
            "taxation": {
                "individual_taxpayers": self._taxpayers(persons),
                "corporate_taxpayers": self._corporate_taxpayers(enterprises),
            },
            "market_regulation": {"enterprises": enterprises},
            "natural_resources": self._properties(persons, couples, enterprises),
        }
        return city

    def _id_number(self, area: str, birth: datetime.date, male: bool) -> str:
        while True:
            sequence = self.random.randrange(1, 999)
            if sequence % 2 != int(male):
                sequence += 1
            first17 = f"{area}{birth:%Y%m%d}{sequence:03d}"
            value = first17 + id_number_check_char(first17)
            if value not in self.id_numbers:
                self.id_numbers.add(value)
                return value

    def _credit_code(self, area: str) -> str:
        while True:
            body = "".join(self.random.choice(CREDIT_CODE_ALPHABET) for _ in range(7))
            first17 = f"91{area}MA{body}"
            value = first17 + credit_code_check_char(first17)
            if value not in self.credit_codes:
                self.credit_codes.add(value)
                return value

    def _address(self, area: str) -> str:
        street = self.random.choice(STREETS)
        return (
            f"北京市{DISTRICTS[area]}{street}{self.random.randint(1, 300)}号院"
            f"{self.random.randint(1, 20)}号楼{self.random.randint(1, 30)}{self.random.randint(1, 4):02d}"
        )

    def _bank_account(self) -> str:
        digits = self.random.choice((12, 15))
        return f"6222{self.random.randrange(10**digits):0{digits}d}"

    def _persons(self) -> list[dict[str, Any]]:
        persons = [dict(person) for person in golden.PERSONS]
        areas = list(DISTRICTS)
        while len(persons) < self.scale:
            area = self.random.choice(areas)
            male = self.random.random() < 0.5
            birth = datetime.date(1940, 1, 1) + datetime.timedelta(days=self.random.randrange(0, 68 * 365))
            given = "".join(self.random.choice(GIVEN) for _ in range(self.random.choice((1, 2, 2))))
            persons.append(
                {
                    "resident_id": self._id_number(area, birth, male),
                    "full_name": self.random.choice(SURNAMES) + given,
                    "sex": "male" if male else "female",
                    "birth_date": birth,
                    "ethnic_group": self.random.choice(ETHNIC_GROUPS),
                    "hukou_address": "",
                    "household_no": "",
                    "criminal_record": self.random.choice(CRIMES) if self.random.random() < 0.03 else None,
                }
            )
        return persons

    def _deaths(self, persons: list[dict[str, Any]]) -> None:
        """A few generated persons have died, after birth and before the demo's day.

        A generator of its own, so that adding deaths left the rest of the city as it was."""
        deaths = random.Random(f"{self.seed}:deaths")
        for person in persons[3:]:
            person["deceased"] = False
            person["date_of_death"] = None
            if deaths.random() < DEATH_RATE:
                span = (LAST_DEATH - person["birth_date"]).days
                person["deceased"] = True
                person["date_of_death"] = person["birth_date"] + datetime.timedelta(
                    days=deaths.randrange(max(span, 1))
                )

    def _couples(self, persons: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        adults = [p for p in persons[3:] if p["birth_date"] <= MARRIAGEABLE_BORN_BY]
        men = [p for p in adults if p["sex"] == "male"]
        women = [p for p in adults if p["sex"] == "female"]
        self.random.shuffle(men)
        self.random.shuffle(women)
        pairs = int(min(len(men), len(women)) * 0.6)
        return list(zip(men[:pairs], women[:pairs], strict=True))

    def _households(
        self, persons: list[dict[str, Any]], couples: list[tuple[dict[str, Any], dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        households = [dict(household) for household in golden.HOUSEHOLDS]
        numbers = {area: 1 for area in DISTRICTS}
        numbers["110101"] = numbers["110105"] = 2

        def new_household(head: dict[str, Any]) -> dict[str, Any]:
            area = head["resident_id"][:6]
            number = f"H{area}{numbers[area]:06d}"
            numbers[area] += 1
            household = {
                "household_no": number,
                "address": self._address(area),
                "head_resident_id": head["resident_id"],
            }
            households.append(household)
            return household

        def register(person: dict[str, Any], household: dict[str, Any]) -> None:
            person["household_no"] = household["household_no"]
            person["hukou_address"] = household["address"]

        families = []
        for husband, wife in couples:
            household = new_household(husband)
            register(husband, household)
            register(wife, household)
            families.append(household)
        current: dict[str, Any] | None = None
        size = 0
        for person in persons[3:]:
            if person["household_no"]:
                continue
            if families and self.random.random() < 0.75:
                register(person, self.random.choice(families))
                continue
            if current is None or size >= self.random.choice((1, 2, 3)):
                current, size = new_household(person), 0
            register(person, current)
            size += 1
        return households

    def _civil_status(
        self, persons: list[dict[str, Any]], couples: list[tuple[dict[str, Any], dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        spouses = {}
        for husband, wife in couples:
            spouses[husband["resident_id"]] = wife["resident_id"]
            spouses[wife["resident_id"]] = husband["resident_id"]
        rows = [dict(row) for row in golden.CIVIL_STATUS]
        for person in persons[3:]:
            id_number = person["resident_id"]
            spouse = spouses.get(id_number)
            if spouse:
                state = "married"
            elif person["birth_date"] > MARRIAGEABLE_BORN_BY:
                state = "single"
            else:
                state = self.random.choice(("single", "single", "divorced", "widowed"))
            on_allowance = self.random.random() < 0.03
            rows.append(
                {
                    "id_card_no": id_number,
                    "marital_state": state,
                    "spouse_id_card_no": spouse,
                    "dibao_status": self.random.choice(("active", "active", "suspended", "terminated"))
                    if on_allowance
                    else None,
                    "dibao_monthly_yuan": float(self.random.randrange(600, 1600, 50))
                    if on_allowance
                    else None,
                    "disability_grade": self.random.choice(DISABILITIES)
                    if self.random.random() < 0.02
                    else None,
                }
            )
        return rows

    def _enterprises(self, persons: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = [dict(row) for row in golden.ENTERPRISES]
        representatives = [p["resident_id"] for p in persons[3:] if p["birth_date"] <= MARRIAGEABLE_BORN_BY]
        rows[1]["lerep_id_no"] = self.random.choice(representatives)
        areas = list(DISTRICTS)
        for _ in range(max(self.scale // 5, 2) - 2):
            area = self.random.choice(areas)
            status = self.random.choice(STATUSES)
            rows.append(
                {
                    "uniscid": self._credit_code(area),
                    "entname": f"北京{self.random.choice(SURNAMES)}{self.random.choice(GIVEN)}"
                    f"{self.random.choice(INDUSTRIES)}有限公司",
                    "regstate": status,
                    "estdate": datetime.date(1995, 1, 1)
                    + datetime.timedelta(days=self.random.randrange(0, 30 * 365)),
                    "regcap": float(self.random.choice((10, 50, 100, 200, 500, 1000, 5000)) * 10_000),
                    "opscope": self.random.choice(SCOPES),
                    "abnormal": status == "吊销" or self.random.random() < 0.04,
                    "lerep_id_no": self.random.choice(representatives),
                    "investigation_note": "inspection pending" if self.random.random() < 0.03 else None,
                }
            )
        return rows

    def _insurance(
        self, persons: list[dict[str, Any]], enterprises: list[dict[str, Any]]
    ) -> dict[str, list[dict[str, Any]]]:
        employers = [e["uniscid"] for e in enterprises[2:] if e["regstate"] in ("存续", "在业")]
        insured = [dict(row) for row in golden.INSURED]
        li_na_employer = employers[0] if employers else enterprises[2]["uniscid"]
        insured.append(dict(golden.LI_NA_INSURANCE, employer_uscc=li_na_employer))
        # Every generated person is of working age (born by 2007), so the first eleven can be 张伟's colleagues.
        example_tech_staff = {p["resident_id"] for p in persons[3 : 3 + golden.EXAMPLE_TECH_INSURED - 1]}
        for person in persons[3:]:
            id_number = person["resident_id"]
            if id_number not in example_tech_staff and self.random.random() > 0.85:
                continue
            if id_number in example_tech_staff:
                employer = golden.EXAMPLE_TECH
            else:
                employer = (
                    self.random.choice(employers) if employers and self.random.random() < 0.75 else None
                )
            insured.append(
                {
                    "aac002": id_number,
                    "pension_insured": self.random.random() < 0.9,
                    "contribution_months": self.random.randint(1, 480),
                    "last_paid_month": f"{self.random.choice((2024, 2025, 2026))}-{self.random.randint(1, 10):02d}",
                    "employer_uscc": employer,
                    "medical_diagnosis": self.random.choice(DIAGNOSES)
                    if self.random.random() < 0.05
                    else None,
                }
            )
        counts: dict[str, int] = {}
        for row in insured:
            if row["employer_uscc"]:
                counts[row["employer_uscc"]] = counts.get(row["employer_uscc"], 0) + 1
        units = [{"unit_uscc": code, "insured_count": count} for code, count in sorted(counts.items())]
        return {"insured_persons": insured, "employer_units": units}

    def _taxpayers(self, persons: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = [dict(row) for row in golden.TAXPAYERS]
        for person in persons[3:]:
            if self.random.random() > 0.9:
                continue
            income = (
                0 if self.random.random() < 0.1 else int(self.random.lognormvariate(11.0, 0.7)) // 100 * 100
            )
            rows.append(
                {
                    "taxpayer_id_no": person["resident_id"],
                    "annual_income": income,
                    "tax_compliant": self.random.random() < 0.93,
                    "bank_account": self._bank_account(),
                }
            )
        return rows

    def _corporate_taxpayers(self, enterprises: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = [dict(row) for row in golden.CORPORATE_TAXPAYERS]
        for enterprise in enterprises[2:]:
            rating = self.random.choice(RATINGS)
            arrears = round(self.random.uniform(1_000, 200_000), 2) if rating in ("C", "D") else 0.0
            rows.append({"nsrsbh": enterprise["uniscid"], "credit_rating": rating, "arrears_amount": arrears})
        return rows

    def _properties(
        self,
        persons: list[dict[str, Any]],
        couples: list[tuple[dict[str, Any], dict[str, Any]]],
        enterprises: list[dict[str, Any]],
    ) -> dict[str, list[dict[str, Any]]]:
        units = [dict(row) for row in golden.REAL_ESTATE]
        rights = [dict(row) for row in golden.PROPERTY_RIGHTS]
        owners = [p["resident_id"] for p in persons[3:]]
        companies = [e["uniscid"] for e in enterprises]
        serial = 1
        for _ in range(int(self.scale * 0.6) - 1):
            area = self.random.choice(list(DISTRICTS))
            serial += 1
            certificate = f"京({self.random.randint(2005, 2025)}){DISTRICTS[area]}不动产权第{serial:07d}号"
            if serial == 1234:
                serial += 1
                certificate = (
                    f"京({self.random.randint(2005, 2025)}){DISTRICTS[area]}不动产权第{serial:07d}号"
                )
            units.append(
                {
                    "bdcqzh": certificate,
                    "zl": self._address(area),
                    "area_sqm": round(self.random.uniform(35, 220), 1),
                    "purpose": self.random.choice(PURPOSES),
                    "mortgaged": self.random.random() < 0.35,
                    "seized": self.random.random() < 0.02,
                }
            )
            roll = self.random.random()
            if roll < 0.2 and couples:
                husband, wife = self.random.choice(couples)
                rights.append(_right(certificate, 50.0, person=husband["resident_id"]))
                rights.append(_right(certificate, 50.0, person=wife["resident_id"]))
            elif roll < 0.25:
                first, second = self.random.sample(owners, 2)
                rights.append(_right(certificate, 60.0, person=first))
                rights.append(_right(certificate, 40.0, person=second))
            elif roll < 0.35:
                rights.append(_right(certificate, 100.0, enterprise=self.random.choice(companies)))
            else:
                rights.append(_right(certificate, 100.0, person=self.random.choice(owners)))
        for index, row in enumerate(rights, start=1):
            row["id"] = index
        return {"real_estate_units": units, "property_rights": rights}


def _right(
    certificate: str, share: float, person: str | None = None, enterprise: str | None = None
) -> dict[str, Any]:
    return {"bdcqzh": certificate, "holder_id_no": person, "holder_uscc": enterprise, "share_pct": share}
