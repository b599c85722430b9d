"""Service refusals: what each ``S-`` rule means, and which rule every recorded failure takes.

A refusal that happens outside the policy's request space (no such case, an erased one, a
vault failure, an expired package, a declined ask...) is a deny on the ledger under its own
:class:`~safereport.domain.vocabulary.ServiceRule`, with the real reason in plain English
(docs/spec/POLICY.md section 6). :data:`FAILURES` is the one closed table from the failure
names the services record (``record_failure``) to a rule and that reason; a test scans
``src/`` and fails on any failure name missing from it.
"""

from __future__ import annotations

from collections.abc import Mapping

from safereport.domain.vocabulary import ServiceRule

__all__ = ["ACCOUNT_REFUSALS", "FAILURES", "SERVICE_RULE_MEANINGS", "refusal_for"]

S = ServiceRule

#: Each service rule in plain English, for staff, auditors and the docs.
SERVICE_RULE_MEANINGS: dict[ServiceRule, str] = {
    S.CONFLICT: "Refused because of where things stand: answered, confirmed or claimed "
                "already, changed meanwhile, or it would leave no administrator.",
    S.DECLINED: "A person said no: an ask was declined, or she withdrew her consent or her "
                "request before the release.",
    S.ERASED: "The case (or the case a package came from) was erased at her request.",
    S.EXPIRED: "The disclosure package had expired.",
    S.MALFORMED: "The request could not be built: a malformed id, an unknown fact, a case row "
                 "that cannot be read, or a failure the service does not know.",
    S.NOT_HELD: "Not held by the asker's organisation (or not the asker's own), or no such "
                "thing for them.",
    S.NOT_OFFERED: "This role or area is not offered this action at all.",
    S.OBLIGATION_UNMET: "Allowed only with conditions that were not met, so no Grant was made "
                        "and nothing opened.",
    S.STEP: "Not a refusal: a recorded staff step that opens no case data (an account or "
            "token change, for example).",
    S.UNKNOWN_CASE: "No case has this id.",
    S.VAULT_FAILURE: "The vault could not open or seal the protected data; nothing was "
                     "released.",
}

_STEP = "A staff step that opens no case data, recorded as it happened (not a refusal)."

#: failure name (``detail.outcome`` of the entry) -> (rule, the real reason in plain English).
FAILURES: dict[str, tuple[ServiceRule, str]] = {
    "account_added": (S.STEP, _STEP),
    "account_change_refused": (S.CONFLICT, "The account change was refused; nothing changed."),
    "account_disabled": (S.STEP, _STEP),
    "account_enabled": (S.STEP, _STEP),
    "accounts_not_offered": (S.NOT_OFFERED, "Account administration is offered only to "
                                            "administrators."),
    "api_token_added": (S.STEP, _STEP),
    "api_token_revoked": (S.STEP, _STEP),
    "ask_answer_refused": (S.CONFLICT, "The answer does not fit the ask (answered already, "
                                       "another case, or more than was asked)."),
    "ask_decline_refused": (S.CONFLICT, "The ask had been answered already."),
    "ask_declined": (S.DECLINED, "The ask was declined by the organisation asked."),
    "ask_not_held": (S.NOT_HELD, "No such ask for this organisation."),
    "claim_code_refused": (S.CONFLICT, "No claim code can be issued for this report as it "
                                       "stands (claimed, erased, or not filed for someone)."),
    "confirmation_by_recorder": (S.NOT_OFFERED, "A second person must confirm: not the one "
                                                "who recorded it."),
    "confirmation_not_held": (S.NOT_HELD, "There is nothing here to confirm."),
    "confirmation_not_needed": (S.CONFLICT, "She gave this herself; it needs no confirmation."),
    "confirmation_of_withdrawn": (S.CONFLICT, "She has withdrawn this; it cannot be confirmed."),
    "confirmation_raced": (S.CONFLICT, "This changed meanwhile: confirmed or withdrawn "
                                       "already."),
    "confirmation_repeated": (S.CONFLICT, "This has been confirmed already."),
    "consent_withdrawn": (S.DECLINED, "She withdrew her consent before the release; nothing "
                                      "was sent."),
    "disclosure_not_held": (S.NOT_HELD, "No such disclosure request for this organisation."),
    "factor_reset_cancelled": (S.STEP, _STEP),
    "factor_reset_confirmed": (S.STEP, _STEP),
    "factor_reset_requested": (S.STEP, _STEP),
    "grant_refused": (S.OBLIGATION_UNMET, "Allowed only with conditions that were not met (or "
                                          "the decision could not be confirmed): no Grant, "
                                          "nothing opened."),
    "malformed_case_id": (S.MALFORMED, "The case id asked for is malformed."),
    "no_door_to_notify": (S.OBLIGATION_UNMET, "She must be told of this disclosure and this "
                                              "report has no way for her to read a notice; "
                                              "nothing was sent."),
    "package_expired": (S.EXPIRED, "The disclosure package had expired."),
    "package_not_held": (S.NOT_HELD, "No such package for this organisation."),
    "package_unreadable": (S.VAULT_FAILURE, "The package could not be opened."),
    "password_reset": (S.STEP, _STEP),
    "receipt_refused": (S.NOT_HELD, "No ledger entry of this integration has that index."),
    "release_failed": (S.VAULT_FAILURE, "The release was opened but could not be stored; "
                                        "nothing was sent."),
    "request_error": (S.MALFORMED, "The request could not be built from the case record."),
    "request_withdrawn": (S.DECLINED, "She withdrew her request before the release; nothing "
                                      "was sent."),
    "role_cannot_confirm": (S.NOT_OFFERED, "Only caseworkers, supervisors and officers "
                                           "confirm this."),
    "role_cannot_record": (S.NOT_OFFERED, "Only caseworkers, supervisors and officers record "
                                          "this."),
    "role_changed": (S.STEP, _STEP),
    "scope_refused": (S.NOT_OFFERED, "The integration's token does not have this scope."),
    "source_erased": (S.ERASED, "The case the package came from was erased at her request."),
    "update_denied": (S.NOT_OFFERED, "The policy refused this change (its decision rolled "
                                     "back with the change); nothing changed."),
    "vault_error": (S.VAULT_FAILURE, "The vault could not open or seal the protected data; "
                                     "nothing was released."),
}

#: ``account_change_refused``, more precisely, by the reason its entry names
#: (services/users.py ``_Refused``).
ACCOUNT_REFUSALS: dict[str, tuple[ServiceRule, str]] = {
    "account_unknown": (S.NOT_HELD, "No staff account has that name."),
    "admin_not_identified": (S.NOT_OFFERED, "This step needs a named administrator."),
    "already_requested": (S.CONFLICT, "A reset of this second factor is waiting already."),
    "invalid_input": (S.MALFORMED, "The account details could not be accepted."),
    "last_admin": (S.CONFLICT, "It would leave no administrator."),
    "no_factor": (S.CONFLICT, "The account has no second factor to reset."),
    "no_reason": (S.MALFORMED, "No reason was given for the reset."),
    "nothing_to_cancel": (S.CONFLICT, "No reset is waiting to be cancelled."),
    "nothing_to_confirm": (S.CONFLICT, "No reset is waiting to be confirmed."),
    "own_account": (S.NOT_OFFERED, "An administrator does not do this to their own account."),
    "reason_too_long": (S.MALFORMED, "The reason given is too long."),
    "role_not_allowed": (S.NOT_OFFERED, "That role cannot be given here."),
    "same_admin": (S.NOT_OFFERED, "A different administrator must confirm."),
}


def refusal_for(
    failure: str, detail: Mapping[str, str] | None = None
) -> tuple[ServiceRule, str] | None:
    """The rule and reason for a recorded failure; None for a name not in the table."""
    found = FAILURES.get(failure)
    if failure == "account_change_refused" and detail:
        return ACCOUNT_REFUSALS.get(str(detail.get("reason")), found)
    return found
