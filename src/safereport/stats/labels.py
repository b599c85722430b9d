"""Plain words for the codes of the statistics tables, for the public pages and downloads.

Each label is marked with ``N_`` so that the web layer's catalogs can translate it where it is
shown; the codes themselves stay in the signed release (they are the data).
"""

from __future__ import annotations

from safereport.domain.vocabulary import ActorRole, Effect, Purpose, Recipient

__all__ = ["N_", "TABLE_TITLES", "label"]


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


_OTHER = N_("Something else")

_ROLES: dict[str, str] = {
    ActorRole.ADMIN: N_("Administrator of this service"),
    ActorRole.ANALYST: N_("Analyst"),
    ActorRole.AUDITOR: N_("Auditor"),
    ActorRole.CASEWORKER: N_("Support worker"),
    ActorRole.IMMIGRATION_OFFICER: N_("Immigration officer"),
    ActorRole.MARAC_MEMBER: N_("Member of a MARAC (risk conference)"),
    ActorRole.POLICE_OFFICER: N_("Police officer"),
    ActorRole.POLICE_SYSTEM: N_("A police computer system"),
    ActorRole.SUPERVISOR: N_("Supervisor"),
    ActorRole.VICTIM: N_("The victim herself"),
}

_RECIPIENTS: dict[str, str] = {
    Recipient.COURT: N_("A court"),
    Recipient.HEALTH: N_("Health services"),
    Recipient.HOUSING: N_("Housing"),
    Recipient.IMMIGRATION_ENFORCEMENT: N_("Immigration Enforcement (Home Office)"),
    Recipient.LOCAL_AUTHORITY: N_("The council"),
    Recipient.MARAC: N_("A MARAC (risk conference)"),
    Recipient.NONE: N_("Nobody else (looked at only)"),
    Recipient.POLICE: N_("The police"),
    Recipient.PUBLIC: N_("The public (statistics)"),
    Recipient.SUPPORT_SERVICE: N_("A support service"),
}

_PURPOSES: dict[str, str] = {
    Purpose.COURT_ORDER: N_("A court order"),
    Purpose.IMMIGRATION_ENFORCEMENT: N_("Immigration enforcement"),
    Purpose.IMMIGRATION_STATUS_CHECK: N_("Checking immigration status"),
    Purpose.INVESTIGATION: N_("A police investigation"),
    Purpose.MARAC: N_("A MARAC (risk conference)"),
    Purpose.PROSECUTION: N_("A prosecution"),
    Purpose.REGULARISATION_SUPPORT: N_("Help with her immigration application"),
    Purpose.SAFEGUARDING: N_("Keeping someone safe"),
    Purpose.STATISTICS: N_("Statistics"),
    Purpose.SUBJECT_ACCESS: N_("The victim's own use of her report"),
    Purpose.SUPPORT: N_("Supporting the victim"),
}

_EFFECTS: dict[str, str] = {
    Effect.ALLOW: N_("Allowed"),
    Effect.CONDITIONAL: N_("Allowed, with conditions"),
    Effect.DENY: N_("Refused"),
}

#: Each rule in a few words (the rule ids are the guard's, from docs/spec/POLICY.md).
_RULES: dict[str, str] = {
    "C-abuse-evidence": N_("Evidence of abuse never goes to immigration enforcement"),
    "C-casework": N_("A support service working on the case"),
    "C-checks": N_("Police database checks to keep people safe or to investigate"),
    "C-consent": N_("The victim's clear consent"),
    "C-court": N_("A court case, with extra checks"),
    "C-default": N_("No rule allows it, so it was refused"),
    "C-no-automation": N_("Computer systems never pass data on by themselves"),
    "C-no-direct-ie": N_("Immigration officers never see records kept here"),
    "C-no-status-checks": N_("No searches only to find someone's immigration status"),
    "C-policework": N_("The police using their own record"),
    "C-safeguarding": N_("Keeping the victim or someone else safe"),
    "C-self": N_("The victim using her own report"),
    "C-statistics": N_("Only numbers about many people are published"),
    "C-suspect": N_("About a suspect, with a supervisor's approval"),
    "C-victim-directed": N_("Because the victim asked for it and agreed"),
    "C-victims-code": N_("Referral to a support service (Victims' Code)"),
    "F-firewall": N_("The firewall: no data to immigration enforcement"),
    "F-no-enforcement": N_("No immigration action against a victim or witness"),
    "F-purpose": N_("Data never used for immigration control"),
    "F-redacted-checks": N_("Checks only without nationality and immigration status"),
    "F-sealed": N_("Nationality and immigration status are sealed"),
    "N-contact-ie": N_("Police may pass basic information to the Home Office (older rules)"),
    "N-holder": N_("A support service never passes data to the Home Office"),
    "N-no-police-enforcement": N_("Police take no immigration action against victims"),
    "R1-doubts": N_("Doubts about status alone are no reason to pass data on"),
    "S-conflict": N_("Refused: already done, or changed in the meantime"),
    "S-declined": N_("Refused: a person said no"),
    "S-erased": N_("Refused: the report had been erased"),
    "S-expired": N_("Refused: it had expired"),
    "S-malformed": N_("Refused: the request could not be read"),
    "S-not-held": N_("Refused: not held by the organisation that asked"),
    "S-not-offered": N_("Refused: not something this role may do"),
    "S-obligation-unmet": N_("Refused: its conditions were not met"),
    "S-step": N_("A staff step that opened no report (not a refusal)"),
    "S-unknown-case": N_("Refused: there is no such report"),
    "S-vault-failure": N_("Refused: the protected data could not be opened"),
}

#: The titles of the tables, by the release's dimension key.
TABLE_TITLES: dict[str, str] = {
    "requester": N_("Who asked"),
    "recipient": N_("Where the data would go"),
    "purpose": N_("What for"),
    "effect": N_("What was decided"),
    "rule": N_("Which rule decided"),
    "immigration": N_("Requests that would pass a victim's data to Immigration Enforcement, "
                      "by decision"),
}

_BY_TABLE: dict[str, dict[str, str]] = {
    "requester": _ROLES,
    "recipient": _RECIPIENTS,
    "purpose": _PURPOSES,
    "effect": _EFFECTS,
    "immigration": _EFFECTS,
    "rule": _RULES,
}


def label(table: str, category: str) -> str:
    """The plain words for ``category`` of ``table`` (untranslated English msgid)."""
    if category == "other":
        return _OTHER
    return _BY_TABLE.get(table, {}).get(category, category)
