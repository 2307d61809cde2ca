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
from govgraph.identifiers import CREDIT_CODE_ALPHABET, credit_code_check_char, id_number_check_char

DEFAULT_SCALE = 10_000
DEFAULT_SEED = 20261124

DISTRICTS = {
    "110101": "东城区",
    "110102": "西城区",
    "110105": "朝阳区",
    "110106": "丰台区",
    "110108": "海淀区",
}
STREETS = (
    "建国路",
    "长安街",
    "中关村大街",
    "学院路",
    "劲松路",
    "方庄路",
    "王府井大街",
    "金融街",
    "望京街",
    "丽泽路",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国红梅鑫宇浩然子涵欣怡俊杰雨萱思远佳琪文博晨阳一诺梓轩"
ETHNIC_GROUPS = ("Han",) * 18 + ("Hui", "Manchu", "Mongol", "Uyghur", "Zhuang", "Miao")
INDUSTRIES = (
    "科技",
    "贸易",
    "餐饮",
    "文化传媒",
    "建筑工程",
    "物流",
    "咨询",
    "医疗器械",
    "教育科技",
    "电子商务",
)
SCOPES = (
    "软件开发；技术服务",
    "日用百货销售",
    "餐饮服务",
    "广告设计；文化交流",
    "建筑工程施工",
    "道路货物运输",
    "企业管理咨询",
)
STATUSES = ("存续",) * 12 + ("在业",) * 5 + ("吊销",) * 2 + ("注销",)
PURPOSES = ("住宅",) * 7 + ("商业", "办公", "工业")
RATINGS = ("A", "A", "B", "B", "B", "M", "C", "D")
CRIMES = ("2015 theft, 1 year", "2011 fraud, 3 years", "2019 assault, 6 months", "2008 smuggling, 2 years")
DIAGNOSES = ("hypertension", "type 2 diabetes", "asthma", "depression")
DISABILITIES = ("grade 1", "grade 2", "grade 3", "grade 4")

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
    if scale < 10:
        raise ValueError("the demo city needs at least 10 persons")
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

    def _couples(self, persons: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        adults = [p for p in persons[3:] if p["birth_date"] <= datetime.date(2004, 1, 1)]
        men = [p for p in adults if p["sex"] == "male"]
        women = [p for p in adults if p["sex"] == "female"]
        self.random.shuffle(men)
        self.random.shuffle(women)
        pairs = int(min(len(men), len(women)) * 0.7)
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

        for husband, wife in couples:
            household = new_household(husband)
            register(husband, household)
            register(wife, household)
        current: dict[str, Any] | None = None
        size = 0
        for person in persons[3:]:
            if person["household_no"]:
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
            state = "married" if spouse else self.random.choice(("single", "single", "divorced", "widowed"))
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
        representatives = [
            p["resident_id"] for p in persons[3:] if p["birth_date"] <= datetime.date(2004, 1, 1)
        ]
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
        li_na = dict(golden.LI_NA_INSURANCE, employer_uscc=employers[0] if employers else None)
        insured.append(li_na)
        candidates = [p for p in persons[3:] if p["birth_date"] <= datetime.date(2006, 1, 1)]
        example_tech_staff = set(p["resident_id"] for p in candidates[: golden.EXAMPLE_TECH_INSURED - 1])
        for person in candidates:
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
                    "bank_account": "6222"
                    + "".join(str(self.random.randrange(10)) for _ in range(self.random.choice((12, 15)))),
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
        owners = [p["resident_id"] for p in persons[3:] if p["birth_date"] <= datetime.date(2006, 1, 1)]
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
                rights.append(
                    {
                        "bdcqzh": certificate,
                        "holder_id_no": husband["resident_id"],
                        "holder_uscc": None,
                        "share_pct": 50.0,
                    }
                )
                rights.append(
                    {
                        "bdcqzh": certificate,
                        "holder_id_no": wife["resident_id"],
                        "holder_uscc": None,
                        "share_pct": 50.0,
                    }
                )
            elif roll < 0.3:
                rights.append(
                    {
                        "bdcqzh": certificate,
                        "holder_id_no": None,
                        "holder_uscc": self.random.choice(companies),
                        "share_pct": 100.0,
                    }
                )
            else:
                rights.append(
                    {
                        "bdcqzh": certificate,
                        "holder_id_no": self.random.choice(owners),
                        "holder_uscc": None,
                        "share_pct": 100.0,
                    }
                )
        for index, row in enumerate(rights, start=1):
            row["id"] = index
        return {"real_estate_units": units, "property_rights": rights}
