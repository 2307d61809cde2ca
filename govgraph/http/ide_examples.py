"""What GraphiQL opens with in development: example tabs and a role picker with demo tokens.

Only where tokens are verified with the demo secret (development without a
configured secret or key) are tokens offered at all; they are signed per
page, for every demo role and each purpose its grants name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from govgraph.auth.policy import Policy
from govgraph.auth.tokens import DEMO_SECRET, issue_token
from govgraph.demo.golden import EXAMPLE_TECH, WANG_JIANGUO, ZHANG_WEI

HOUSING_SUBSIDY = f"""# Housing-subsidy check at a one-stop window (window_clerk, purpose housing-subsidy):
# the registered address comes masked to the district, the income only as a yes/no answer.
query HousingSubsidy {{
  person(idNumber: "{ZHANG_WEI}") {{
    name
    registeredAddress
    maritalStatus
    spouse {{ name }}
    properties {{ certificateNo address mortgaged }}
    verify {{ incomeBelowLimit: annualIncome(lt: 60000) }}
  }}
}}
"""
ENTERPRISE = f"""# An enterprise by its unified social credit code: public fields need no role.
query Enterprise {{
  enterprise(creditCode: "{EXAMPLE_TECH}") {{ name status establishedDate registeredCapital }}
}}
"""
VERIFY = f"""# A yes/no question: the clerk learns whether the income is under the limit, never the income.
query IncomeCheck {{
  person(idNumber: "{ZHANG_WEI}") {{ verify {{ annualIncome(lt: 60000) }} }}
}}
"""
ACCESS_LOG = """# A citizen's own access log: which department read their record, when, why, and which fields.
query MyAccessLog {
  myAccessLog(first: 10) { occurredAt department roles purpose fields { coordinate decision } }
}
"""

DEATHS = f"""# Civil affairs hears of deaths (civil_affairs_officer, purpose subsistence-review). Run it, then in a
# terminal: .venv/bin/govgraph demo change --death {WANG_JIANGUO}
subscription Deaths {{
  changes(entity: Person, fields: [deceased], purpose: "subsistence-review") {{
    key
    changedFields
    at
    person {{ name deceased dateOfDeath subsistenceAllowance {{ status monthlyAmount }} }}
  }}
}}
"""


@dataclass(frozen=True)
class Choice:
    label: str
    headers: str
    """The headers editor's content: JSON."""


def demo_choices(policy: Policy) -> list[Choice]:
    """A demo token for each role and purpose, and a citizen's (the golden person's)."""
    choices = [Choice("anonymous (no token)", "{}")]
    for name, role in sorted(policy.roles.items()):
        if name == "citizen":
            continue
        purposes = sorted({purpose for grant in role.grants for purpose in grant.purposes or ()}) or [None]
        for purpose in purposes:
            token = issue_token(
                DEMO_SECRET, subject=f"demo-{name}", roles=[name], department=role.department, purpose=purpose
            )
            label = f"{name} · {purpose}" if purpose else name
            choices.append(Choice(label, _headers(token)))
    if "citizen" in policy.roles:
        token = issue_token(DEMO_SECRET, subject=ZHANG_WEI, roles=["citizen"], department=None)
        choices.append(Choice(f"citizen {ZHANG_WEI}", _headers(token)))
    return choices


def demo_tabs(choices: list[Choice]) -> list[dict[str, str]]:
    by_label = {choice.label: choice.headers for choice in choices}
    clerk = by_label.get("window_clerk · housing-subsidy", "{}")
    citizen = next((choice.headers for choice in choices if choice.label.startswith("citizen")), "{}")
    civil_affairs = by_label.get("civil_affairs_officer · subsistence-review", "{}")
    return [
        {"query": HOUSING_SUBSIDY, "headers": clerk},
        {"query": ENTERPRISE, "headers": "{}"},
        {"query": VERIFY, "headers": clerk},
        {"query": ACCESS_LOG, "headers": citizen},
        {"query": DEATHS, "headers": civil_affairs},
    ]


def _headers(token: str) -> str:
    return json.dumps({"Authorization": f"Bearer {token}"}, indent=2)
