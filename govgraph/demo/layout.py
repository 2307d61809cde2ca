"""The six demo departments' own table layouts: different systems, different column names.

SQLAlchemy Core tables without a schema, so the same definitions serve the
SQLite files and, under ``schema_translate_map``, a PostgreSQL schema per
department.
"""

from __future__ import annotations

import sqlalchemy as sa


def department_tables() -> dict[str, sa.MetaData]:
    tables: dict[str, sa.MetaData] = {}

    public_security = sa.MetaData()
    sa.Table(
        "residents",
        public_security,
        sa.Column("resident_id", sa.Text, primary_key=True),
        sa.Column("full_name", sa.Text, nullable=False),
        sa.Column("sex", sa.Text, nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("ethnic_group", sa.Text, nullable=False),
        sa.Column("hukou_address", sa.Text, nullable=False),
        sa.Column("household_no", sa.Text, nullable=False, index=True),
        sa.Column("deceased", sa.Boolean, nullable=False),
        sa.Column("date_of_death", sa.Date),
        sa.Column("criminal_record", sa.Text),
    )
    sa.Table(
        "households",
        public_security,
        sa.Column("household_no", sa.Text, primary_key=True),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("head_resident_id", sa.Text),
    )
    tables["public_security"] = public_security

    civil_affairs = sa.MetaData()
    sa.Table(
        "civil_status",
        civil_affairs,
        sa.Column("id_card_no", sa.Text, primary_key=True),
        sa.Column("marital_state", sa.Text, nullable=False),
        sa.Column("spouse_id_card_no", sa.Text),
        sa.Column("dibao_status", sa.Text),
        sa.Column("dibao_monthly_yuan", sa.Float),
        sa.Column("disability_grade", sa.Text),
    )
    tables["civil_affairs"] = civil_affairs

    human_resources = sa.MetaData()
    sa.Table(
        "insured_persons",
        human_resources,
        sa.Column("aac002", sa.Text, primary_key=True),
        sa.Column("pension_insured", sa.Boolean, nullable=False),
        sa.Column("contribution_months", sa.Integer, nullable=False),
        sa.Column("last_paid_month", sa.Text, nullable=False),
        sa.Column("employer_uscc", sa.Text, index=True),
        sa.Column("medical_diagnosis", sa.Text),
    )
    sa.Table(
        "employer_units",
        human_resources,
        sa.Column("unit_uscc", sa.Text, primary_key=True),
        sa.Column("insured_count", sa.Integer, nullable=False),
    )
    tables["human_resources"] = human_resources

    taxation = sa.MetaData()
    sa.Table(
        "individual_taxpayers",
        taxation,
        sa.Column("taxpayer_id_no", sa.Text, primary_key=True),
        sa.Column("annual_income", sa.Integer, nullable=False),
        sa.Column("tax_compliant", sa.Boolean, nullable=False),
        sa.Column("bank_account", sa.Text),
    )
    sa.Table(
        "corporate_taxpayers",
        taxation,
        sa.Column("nsrsbh", sa.Text, primary_key=True),
        sa.Column("credit_rating", sa.Text, nullable=False),
        sa.Column("arrears_amount", sa.Float, nullable=False),
    )
    tables["taxation"] = taxation

    market_regulation = sa.MetaData()
    sa.Table(
        "enterprises",
        market_regulation,
        sa.Column("uniscid", sa.Text, primary_key=True),
        sa.Column("entname", sa.Text, nullable=False),
        sa.Column("regstate", sa.Text, nullable=False, index=True),
        sa.Column("estdate", sa.Date, nullable=False),
        sa.Column("regcap", sa.Float, nullable=False),
        sa.Column("opscope", sa.Text, nullable=False),
        sa.Column("abnormal", sa.Boolean, nullable=False),
        sa.Column("lerep_id_no", sa.Text, index=True),
        sa.Column("investigation_note", sa.Text),
    )
    tables["market_regulation"] = market_regulation

    natural_resources = sa.MetaData()
    sa.Table(
        "real_estate_units",
        natural_resources,
        sa.Column("bdcqzh", sa.Text, primary_key=True),
        sa.Column("zl", sa.Text, nullable=False),
        sa.Column("area_sqm", sa.Float, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("mortgaged", sa.Boolean, nullable=False),
        sa.Column("seized", sa.Boolean, nullable=False),
    )
    sa.Table(
        "property_rights",
        natural_resources,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("bdcqzh", sa.Text, nullable=False, index=True),
        sa.Column("holder_id_no", sa.Text, index=True),
        sa.Column("holder_uscc", sa.Text, index=True),
        sa.Column("share_pct", sa.Float, nullable=False),
    )
    tables["natural_resources"] = natural_resources
    return tables


def create_tables(connection: sa.Connection, metadata: sa.MetaData) -> None:
    """Tables only: load the rows first, then ``create_indexes``."""
    for table in metadata.sorted_tables:
        connection.execute(sa.schema.CreateTable(table))


def create_indexes(connection: sa.Connection, metadata: sa.MetaData) -> None:
    # Table.indexes is a set; a fixed order keeps the SQLite files byte-identical from run to run.
    for table in metadata.sorted_tables:
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            index.create(connection)


DEPARTMENTS = (
    "public_security",
    "civil_affairs",
    "human_resources",
    "taxation",
    "market_regulation",
    "natural_resources",
)
