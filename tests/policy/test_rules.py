"""Every rule id of every regime, in both directions: where it decides, and a near miss."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.policy_helpers import REGIMES, guard, req

from safereport.policy.regimes import load_pack

PO_TO_IE = {"action": "disclose", "recipient": "immigration_enforcement"}
CW = {"actor_role": "caseworker", "holder": "support_service"}
TO_IE_REGULARISE = {
    **PO_TO_IE,
    "purpose": "regularisation_support",
    "victim_initiated": True,
    "consent": True,
    "data": ["identity", "immigration_status"],
}

# (rule, regime, request that the rule decides, effect, obligations,
#  near miss where the rule is not among the deciding rules, near-miss effect)
CASES: list[tuple[str, str, dict[str, Any], str, set[str], dict[str, Any], str]] = [
    (
        "C-default",
        "firewall",
        {
            "action": "disclose",
            "recipient": "support_service",
            "purpose": "support",
            "crime_type": "domestic_abuse",
        },
        "deny",
        set(),
        {
            "action": "disclose",
            "recipient": "support_service",
            "purpose": "support",
            "crime_type": "domestic_abuse",
            "consent": True,
        },
        "allow",
    ),
    (
        "C-self",
        "firewall",
        {
            "actor_role": "victim",
            "same_org": False,
            "purpose": "subject_access",
            "data": ["identity", "nationality"],
        },
        "allow",
        set(),
        {"actor_role": "victim", "same_org": False, "purpose": "support"},
        "deny",
    ),
    (
        "C-casework",
        "firewall",
        {**CW, "purpose": "support", "data": ["immigration_status"]},
        "allow",
        set(),
        {**CW, "purpose": "support", "same_org": False},
        "deny",
    ),
    (
        "C-casework",
        "npcc-2020",
        {**CW, "actor_role": "supervisor", "action": "erase", "purpose": "support"},
        "allow",
        set(),
        {**CW, "action": "erase", "purpose": "support"},
        "deny",
    ),
    (
        "C-policework",
        "npcc-2020",
        {"purpose": "prosecution"},
        "allow",
        set(),
        {"purpose": "support"},
        "deny",
    ),
    (
        "C-victim-directed",
        "firewall",
        {
            **CW,
            "action": "disclose",
            "recipient": "housing",
            "purpose": "support",
            "victim_initiated": True,
            "consent": True,
        },
        "allow",
        set(),
        {
            **CW,
            "action": "disclose",
            "recipient": "public",
            "purpose": "support",
            "victim_initiated": True,
            "consent": True,
        },
        "deny",
    ),
    (
        "C-safeguarding",
        "firewall",
        {**CW, "action": "disclose", "recipient": "marac", "purpose": "marac"},
        "conditional",
        {"record_justification", "supervisor_approval"},
        {**CW, "action": "disclose", "recipient": "marac", "purpose": "safeguarding"},
        "deny",
    ),
    (
        "C-safeguarding",
        "npcc-2020",
        {
            **CW,
            "action": "disclose",
            "recipient": "health",
            "purpose": "safeguarding",
            "emergency": True,
        },
        "conditional",
        {"record_justification", "notify_subject"},
        {
            **CW,
            "action": "disclose",
            "recipient": "court",
            "purpose": "safeguarding",
            "emergency": True,
        },
        "deny",
    ),
    (
        "C-safeguarding",
        "firewall-consent",
        {"action": "disclose", "recipient": "police", "purpose": "safeguarding", "consent": True},
        "allow",
        set(),
        {
            "action": "disclose",
            "recipient": "police",
            "purpose": "safeguarding",
            "consent": True,
            "same_org": False,
        },
        "deny",
    ),
    (
        "C-victims-code",
        "npcc-2020-rec1",
        {"action": "disclose", "recipient": "support_service", "purpose": "support"},
        "allow",
        set(),
        {
            "action": "disclose",
            "recipient": "support_service",
            "purpose": "support",
            "crime_type": "sexual_offence",
        },
        "deny",
    ),
    (
        "C-court",
        "firewall",
        {"action": "disclose", "recipient": "court", "purpose": "prosecution"},
        "conditional",
        {"record_justification"},
        {"action": "disclose", "recipient": "court", "purpose": "investigation"},
        "deny",
    ),
    (
        "C-court",
        "npcc-2020",
        {**CW, "action": "disclose", "recipient": "court", "purpose": "court_order"},
        "conditional",
        {"supervisor_approval", "record_justification", "notify_subject"},
        {**CW, "action": "disclose", "recipient": "court", "purpose": "prosecution"},
        "deny",
    ),
    (
        "C-checks",
        "npcc-2020",
        {"action": "database_check", "data": ["nationality"]},
        "allow",
        set(),
        {"action": "database_check", "purpose": "support"},
        "deny",
    ),
    (
        "F-redacted-checks",
        "firewall",
        {"action": "database_check", "purpose": "safeguarding"},
        "conditional",
        {"redact_immigration"},
        {"action": "database_check", "purpose": "prosecution"},
        "deny",
    ),
    (
        "C-no-status-checks",
        "npcc-2020",
        {
            "action": "database_check",
            "purpose": "immigration_status_check",
            "subject_role": "suspect",
        },
        "deny",
        set(),
        {"action": "database_check", "subject_role": "suspect"},
        "allow",
    ),
    (
        "C-no-automation",
        "npcc-2020",
        {
            **PO_TO_IE,
            "purpose": "immigration_enforcement",
            "subject_role": "suspect",
            "automated": True,
        },
        "deny",
        set(),
        {**PO_TO_IE, "purpose": "immigration_enforcement", "subject_role": "suspect"},
        "conditional",
    ),
    (
        "C-no-automation",
        "npcc-2020",
        {
            "actor_role": "police_system",
            "action": "disclose",
            "recipient": "support_service",
            "purpose": "support",
        },
        "deny",
        set(),
        {"action": "disclose", "recipient": "support_service", "purpose": "support"},
        "allow",
    ),
    (
        "C-statistics",
        "firewall",
        {
            "actor_role": "analyst",
            "same_org": False,
            "action": "publish_statistics",
            "recipient": "public",
            "purpose": "statistics",
            "data": ["aggregate"],
        },
        "allow",
        set(),
        {
            "actor_role": "analyst",
            "same_org": False,
            "action": "publish_statistics",
            "recipient": "public",
            "purpose": "support",
            "data": ["aggregate"],
        },
        "deny",
    ),
    (
        "C-statistics",
        "npcc-2020",
        {"purpose": "investigation", "data": ["aggregate"]},
        "deny",
        set(),
        {"purpose": "investigation", "data": ["case_notes"]},
        "allow",
    ),
    (
        "C-no-direct-ie",
        "npcc-2020",
        {"actor_role": "immigration_officer", "holder": "police"},
        "deny",
        set(),
        {"actor_role": "police_officer"},
        "allow",
    ),
    (
        "C-suspect",
        "firewall",
        {
            **PO_TO_IE,
            "purpose": "immigration_enforcement",
            "subject_role": "suspect",
            "data": ["identity", "nationality"],
        },
        "conditional",
        {"record_justification", "supervisor_approval"},
        {**PO_TO_IE, "purpose": "investigation", "subject_role": "suspect"},
        "deny",
    ),
    (
        "N-contact-ie",
        "npcc-2020",
        {
            **PO_TO_IE,
            "purpose": "immigration_enforcement",
            "status_evidence": "suspected",
            "subject_role": "witness",
            "data": ["identity", "address"],
        },
        "conditional",
        {"record_justification"},
        {
            **PO_TO_IE,
            "purpose": "immigration_enforcement",
            "status_evidence": "suspected",
            "data": ["identity", "case_notes"],
        },
        "deny",
    ),
    (
        "N-no-police-enforcement",
        "npcc-2020",
        {
            "action": "enforcement_action",
            "purpose": "immigration_enforcement",
            "harm_intelligence": True,
        },
        "conditional",
        {"supervisor_approval", "record_justification"},
        {"action": "enforcement_action", "purpose": "immigration_enforcement"},
        "deny",
    ),
    (
        "N-holder",
        "npcc-2020",
        {**CW, **TO_IE_REGULARISE, "victim_initiated": False},
        "deny",
        set(),
        {**CW, **TO_IE_REGULARISE},
        "conditional",
    ),
    (
        "R1-doubts",
        "npcc-2020-rec1",
        {
            **PO_TO_IE,
            "purpose": "immigration_enforcement",
            "crime_type": "domestic_abuse",
            "status_evidence": "doubts_only",
            "data": ["identity"],
        },
        "deny",
        set(),
        {
            **PO_TO_IE,
            "purpose": "immigration_enforcement",
            "crime_type": "domestic_abuse",
            "status_evidence": "suspected",
            "data": ["identity"],
        },
        "conditional",
    ),
    (
        "F-firewall",
        "firewall",
        {**TO_IE_REGULARISE, "data": ["identity"]},
        "deny",
        set(),
        {**CW, **TO_IE_REGULARISE},
        "conditional",
    ),
    (
        "C-abuse-evidence",
        "firewall",
        {**CW, **TO_IE_REGULARISE, "victim_initiated": False, "data": ["immigration_abuse"]},
        "deny",
        set(),
        {**CW, **TO_IE_REGULARISE, "data": ["immigration_abuse"]},
        "conditional",
    ),
    (
        "C-abuse-evidence",
        "npcc-2020",
        {**PO_TO_IE, "purpose": "immigration_enforcement", "status_evidence": "confirmed",
         "data": ["identity", "immigration_abuse"]},
        "deny",
        set(),
        {**PO_TO_IE, "purpose": "immigration_enforcement", "status_evidence": "confirmed",
         "data": ["identity"]},
        "conditional",
    ),
    (
        "F-purpose",
        "firewall",
        {**CW, "purpose": "immigration_status_check"},
        "deny",
        set(),
        {**PO_TO_IE, "purpose": "immigration_enforcement", "subject_role": "suspect"},
        "conditional",
    ),
    (
        "F-no-enforcement",
        "firewall-consent",
        {"action": "enforcement_action", "harm_intelligence": True},
        "deny",
        set(),
        {"action": "enforcement_action", "subject_role": "suspect"},
        "deny",
    ),
    (
        "F-sealed",
        "firewall",
        {"data": ["crime_details", "nationality"]},
        "deny",
        set(),
        {**CW, "purpose": "support", "data": ["nationality"]},
        "allow",
    ),
    (
        "C-consent",
        "firewall-consent",
        {
            **PO_TO_IE,
            "purpose": "immigration_enforcement",
            "consent": True,
            "data": ["identity", "nationality", "crime_details"],
        },
        "conditional",
        {"record_justification", "notify_subject"},
        {**PO_TO_IE, "purpose": "immigration_enforcement", "data": ["identity"]},
        "deny",
    ),
]


@pytest.mark.parametrize(
    ("rule", "regime", "fires", "effect", "obligations", "miss", "miss_effect"),
    CASES,
    ids=[f"{case[0]}-{case[1]}-{n}" for n, case in enumerate(CASES)],
)
def test_rule_both_directions(
    rule: str,
    regime: str,
    fires: dict[str, Any],
    effect: str,
    obligations: set[str],
    miss: dict[str, Any],
    miss_effect: str,
) -> None:
    decided = guard(regime).decide(req(**fires))
    assert rule in decided.rules, decided
    assert decided.effect == effect, decided
    assert {str(ob) for ob in decided.obligations} == obligations
    assert decided.reasons, "every decision carries plain-English reasons"
    missed = guard(regime).decide(req(**miss))
    assert rule not in missed.rules, missed
    assert missed.effect == miss_effect, missed


def test_every_rule_id_has_cases() -> None:
    covered = {case[0] for case in CASES}
    for regime in REGIMES:
        missing = set(load_pack(regime).rule_ids()) - covered
        assert not missing, f"{regime}: rules without a test: {missing}"


def test_c_consent_only_in_firewall_consent() -> None:
    request = req(**PO_TO_IE, purpose="immigration_enforcement", consent=True)
    assert guard("firewall-consent").decide(request).effect == "conditional"
    assert guard("firewall").decide(request).effect == "deny"


def test_police_never_send_a_victims_identity_to_ie_under_firewall() -> None:
    request = req(**{**TO_IE_REGULARISE, "data": ["identity"]})
    decided = guard("firewall").decide(request)
    assert decided.effect == "deny"
    assert "F-firewall" in decided.rules


def test_multi_category_combination_denies_if_any_category_is_denied() -> None:
    # police may view crime details, but F-sealed denies nationality: the whole request is denied
    decided = guard("firewall").decide(req(data=["crime_details", "nationality"]))
    assert decided.effect == "deny"
    assert decided.rules == ("F-sealed",)
    assert decided.releasable_categories == frozenset()


def test_obligations_are_the_union_over_categories() -> None:
    request = req(action="database_check", data=["identity", "address"])
    decided = guard("firewall").decide(request)
    assert decided.effect == "conditional"
    assert decided.rules == ("C-checks", "F-redacted-checks")
    assert decided.releasable_categories == {"identity", "address"}
