"""The golden records: always generated, whatever the scale. Docs and tests use them."""

from __future__ import annotations

import datetime

ZHANG_WEI = "110101199003071233"
LI_NA = "110101199208152467"
WANG_JIANGUO = "110105196504123312"
EXAMPLE_TECH = "91110101MA01BXQ80Y"
OLD_TOWN_TRADING = "91110105MA00GK2T0A"
GOLDEN_PROPERTY = "京(2019)东城区不动产权第0001234号"
GOLDEN_HOUSEHOLD = "H110101000001"
WANG_HOUSEHOLD = "H110105000001"
GOLDEN_ADDRESS = "北京市东城区景山前街4号院2号楼301"
WANG_ADDRESS = "北京市朝阳区劲松南路12号院5号楼204"

NOT_SHARED_SENTINELS = {
    "criminal_record": "GOLDEN-NOT-SHARED-CRIMINAL-RECORD",
    "bank_account": "6222020200112233445",
    "medical_diagnosis": "GOLDEN-NOT-SHARED-DIAGNOSIS",
    "disability_grade": "GOLDEN-NOT-SHARED-DISABILITY",
    "investigation_note": "GOLDEN-NOT-SHARED-INVESTIGATION",
}

PERSONS = [
    {
        "resident_id": ZHANG_WEI,
        "full_name": "张伟",
        "sex": "male",
        "birth_date": datetime.date(1990, 3, 7),
        "ethnic_group": "Han",
        "hukou_address": GOLDEN_ADDRESS,
        "household_no": GOLDEN_HOUSEHOLD,
        "deceased": False,
        "date_of_death": None,
        "criminal_record": NOT_SHARED_SENTINELS["criminal_record"],
    },
    {
        "resident_id": LI_NA,
        "full_name": "李娜",
        "sex": "female",
        "birth_date": datetime.date(1992, 8, 15),
        "ethnic_group": "Han",
        "hukou_address": GOLDEN_ADDRESS,
        "household_no": GOLDEN_HOUSEHOLD,
        "deceased": False,
        "date_of_death": None,
        "criminal_record": None,
    },
    {
        "resident_id": WANG_JIANGUO,
        "full_name": "王建国",
        "sex": "male",
        "birth_date": datetime.date(1965, 4, 12),
        "ethnic_group": "Han",
        "hukou_address": WANG_ADDRESS,
        "household_no": WANG_HOUSEHOLD,
        "deceased": False,
        "date_of_death": None,
        "criminal_record": None,
    },
]
HOUSEHOLDS = [
    {"household_no": GOLDEN_HOUSEHOLD, "address": GOLDEN_ADDRESS, "head_resident_id": ZHANG_WEI},
    {"household_no": WANG_HOUSEHOLD, "address": WANG_ADDRESS, "head_resident_id": WANG_JIANGUO},
]
CIVIL_STATUS = [
    {
        "id_card_no": ZHANG_WEI,
        "marital_state": "married",
        "spouse_id_card_no": LI_NA,
        "dibao_status": None,
        "dibao_monthly_yuan": None,
        "disability_grade": NOT_SHARED_SENTINELS["disability_grade"],
    },
    {
        "id_card_no": LI_NA,
        "marital_state": "married",
        "spouse_id_card_no": ZHANG_WEI,
        "dibao_status": None,
        "dibao_monthly_yuan": None,
        "disability_grade": None,
    },
    {
        "id_card_no": WANG_JIANGUO,
        "marital_state": "divorced",
        "spouse_id_card_no": None,
        "dibao_status": "active",
        "dibao_monthly_yuan": 1200.0,
        "disability_grade": None,
    },
]
INSURED = [
    {
        "aac002": ZHANG_WEI,
        "pension_insured": True,
        "contribution_months": 96,
        "last_paid_month": "2026-10",
        "employer_uscc": EXAMPLE_TECH,
        "medical_diagnosis": NOT_SHARED_SENTINELS["medical_diagnosis"],
    },
]
LI_NA_INSURANCE = {
    "aac002": LI_NA,
    "pension_insured": True,
    "contribution_months": 60,
    "last_paid_month": "2026-10",
    "medical_diagnosis": None,
}
TAXPAYERS = [
    {
        "taxpayer_id_no": ZHANG_WEI,
        "annual_income": 186000,
        "tax_compliant": True,
        "bank_account": NOT_SHARED_SENTINELS["bank_account"],
    },
    {
        "taxpayer_id_no": LI_NA,
        "annual_income": 54000,
        "tax_compliant": True,
        "bank_account": "6222020200998877665",
    },
    {
        "taxpayer_id_no": WANG_JIANGUO,
        "annual_income": 0,
        "tax_compliant": True,
        "bank_account": "6222020200554433221",
    },
]
ENTERPRISES = [
    {
        "uniscid": EXAMPLE_TECH,
        "entname": "北京示例科技有限公司",
        "regstate": "存续",
        "estdate": datetime.date(2018, 5, 20),
        "regcap": 1000000.0,
        "opscope": "软件开发；技术服务",
        "abnormal": False,
        "lerep_id_no": ZHANG_WEI,
        "investigation_note": None,
    },
    {
        "uniscid": OLD_TOWN_TRADING,
        "entname": "北京旧城贸易有限公司",
        "regstate": "吊销",
        "estdate": datetime.date(2009, 11, 3),
        "regcap": 500000.0,
        "opscope": "日用百货销售；进出口贸易",
        "abnormal": True,
        "lerep_id_no": None,
        "investigation_note": NOT_SHARED_SENTINELS["investigation_note"],
    },
]
CORPORATE_TAXPAYERS = [
    {"nsrsbh": EXAMPLE_TECH, "credit_rating": "A", "arrears_amount": 0.0},
    {"nsrsbh": OLD_TOWN_TRADING, "credit_rating": "D", "arrears_amount": 35000.50},
]
EXAMPLE_TECH_INSURED = 12
REAL_ESTATE = [
    {
        "bdcqzh": GOLDEN_PROPERTY,
        "zl": GOLDEN_ADDRESS,
        "area_sqm": 89.5,
        "purpose": "住宅",
        "mortgaged": True,
        "seized": False,
    },
]
PROPERTY_RIGHTS = [
    {"bdcqzh": GOLDEN_PROPERTY, "holder_id_no": ZHANG_WEI, "holder_uscc": None, "share_pct": 50.0},
    {"bdcqzh": GOLDEN_PROPERTY, "holder_id_no": LI_NA, "holder_uscc": None, "share_pct": 50.0},
]
RESERVED_PERSONS = frozenset({ZHANG_WEI, LI_NA, WANG_JIANGUO})
