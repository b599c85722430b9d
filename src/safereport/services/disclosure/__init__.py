"""The disclosure workflow: request, decision with reasons, obligations enforced, release.

1. A request (recipient organisation, purpose, data categories, the POLICY.md context facts,
   optionally a written justification) is decided by the guard and recorded in the ledger
   whatever the answer. A denial is stored with its rule ids and reasons; nothing is released.
2. Obligations are enforced, not displayed:
   * ``record_justification``: nothing is released until a written reason is recorded (sealed
     under the case's data key);
   * ``supervisor_approval``: a supervisor of the holding organisation, other than the person
     who asked, must approve;
   * ``notify_subject``: the release puts a message on the victim's return page;
   * ``redact_immigration``: the vault removes nationality and immigration status.
3. Release is decided again at that moment (consent may have been withdrawn, the regime may
   have changed) through :func:`~safereport.services.access.access_case` with the fulfilled
   obligations; the opened fields are sealed to the recipient organisation's X25519 key and
   stored; the release is a ledger entry of its own.

A recipient takes a package into its own casework with :func:`accept_package`: the fields are
sealed under a new case of the recipient's, and read from then on through the guard.

The parts, by what they are:

* :mod:`.forms`: the request form, checked;
* :mod:`.requests`: asking, the justification, approval, and the ends (refuse, send back,
  withdraw);
* :mod:`.release`: releasing once nothing is owed;
* :mod:`.views`: the holder's read views (lists, one request with its history, the
  justification);
* :mod:`.recipient`: the recipient's side (inbox, reading a package, taking it in);
* :mod:`.asking`: asks from another organisation;
* :mod:`.workflow`: where a request stands (statuses, recorded ends, what is still owed).

Their queries are in :mod:`safereport.store.disclosures`.
"""

from __future__ import annotations

from safereport.services.disclosure.asking import (
    AskView,
    answer_ask,
    ask_for_disclosure,
    asks,
    decline_ask,
)
from safereport.services.disclosure.forms import (
    CONTEXT_FLAGS,
    MAX_JUSTIFICATION_CHARS,
    DisclosureForm,
    consent_on_record,
    parse_disclosure_form,
    recipient_organisations,
)
from safereport.services.disclosure.recipient import (
    MAY_DO,
    MAY_DO_ALWAYS,
    InboxItem,
    PackageExpired,
    PackageView,
    accept_package,
    inbox,
    open_released_package,
    package_expiry,
    read_package,
)
from safereport.services.disclosure.release import release_waiting
from safereport.services.disclosure.requests import (
    add_justification,
    approve,
    refuse,
    request_disclosure,
    send_back,
    withdraw,
)
from safereport.services.disclosure.views import (
    DisclosureView,
    awaiting_approval,
    disclosures_for_case,
    disclosures_in,
    justification_text,
    view_disclosure,
)
from safereport.services.disclosure.views import _view as _view  # the case page's one read
from safereport.services.disclosure.workflow import (
    EVENT_LABELS,
    FINAL_STATUSES,
    JUSTIFICATION_LABEL,
    MAX_REASON_CHARS,
    DisclosureStatus,
    EventKind,
    WorkflowEvent,
)

__all__ = [
    "CONTEXT_FLAGS",
    "EVENT_LABELS",
    "FINAL_STATUSES",
    "JUSTIFICATION_LABEL",
    "MAX_JUSTIFICATION_CHARS",
    "MAX_REASON_CHARS",
    "MAY_DO",
    "MAY_DO_ALWAYS",
    "AskView",
    "DisclosureForm",
    "DisclosureStatus",
    "DisclosureView",
    "EventKind",
    "InboxItem",
    "PackageExpired",
    "PackageView",
    "WorkflowEvent",
    "accept_package",
    "add_justification",
    "answer_ask",
    "approve",
    "ask_for_disclosure",
    "asks",
    "awaiting_approval",
    "consent_on_record",
    "decline_ask",
    "disclosures_for_case",
    "disclosures_in",
    "inbox",
    "justification_text",
    "open_released_package",
    "package_expiry",
    "parse_disclosure_form",
    "read_package",
    "recipient_organisations",
    "refuse",
    "release_waiting",
    "request_disclosure",
    "send_back",
    "view_disclosure",
    "withdraw",
]
