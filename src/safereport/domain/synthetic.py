"""Deterministic synthetic cases: invented people, places and stories, never real ones.

Names are drawn from short invented lists; phone numbers come from Ofcom's drama range
(07700 900000-900999), emails from example.org, streets are "Example" streets. Narratives are
assembled from neutral phrases in several languages. The same seed gives the same cases.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from safereport.domain.case import CaseStatus, IntakeKind
from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import CrimeType, Purpose, Recipient, SubjectRole

__all__ = ["SyntheticCase", "synthetic_cases"]

_FIRST = [
    "Amara",
    "Lucia",
    "Joanna",
    "Fatima",
    "Ines",
    "Marta",
    "Nadia",
    "Rosa",
    "Selam",
    "Ana",
    "Mariam",
    "Zofia",
    "Carla",
    "Layla",
    "Beatriz",
    "Hana",
    "Teresa",
    "Yasmin",
]
_LAST = [
    "Testwood",
    "Samplefield",
    "Demoson",
    "Fictiva",
    "Inventa",
    "Placeholder",
    "Mockley",
    "Exampleton",
    "Synthia",
    "Notreal",
]
_NATIONALITIES = [
    "Brazilian",
    "Polish",
    "Spanish",
    "Moroccan",
    "Eritrean",
    "Bangladeshi",
    "Romanian",
    "Colombian",
    "Syrian",
    "Portuguese",
]
_STATUSES = [
    "unknown",
    "visa holder",
    "visa expired",
    "asylum seeker",
    "EU settled status",
    "no recourse to public funds",
    "pending application",
]
_TOWNS = ["Northshire", "Easton Vale", "Westmere", "Southby", "Midtown"]

_PHRASES: dict[str, list[str]] = {
    "en": [
        "My partner shouts at me and takes my money.",
        "He said he would call the Home Office if I leave.",
        "I am afraid to go home tonight.",
        "My employer keeps my passport.",
        "Someone follows me after work every day.",
    ],
    "es": [
        "Mi pareja me grita y me quita el dinero.",
        "Dijo que llamaría a inmigración si me voy.",
        "Tengo miedo de volver a casa esta noche.",
    ],
    "pt": [
        "O meu companheiro grita comigo e fica com o meu dinheiro.",
        "Ele disse que chamaria a imigração se eu sair.",
        "Tenho medo de voltar para casa hoje.",
    ],
    "ar": [
        "زوجي يصرخ علي ويأخذ نقودي.",
        "قال إنه سيتصل بالهجرة إذا غادرت.",
        "أخاف أن أعود إلى البيت الليلة.",
    ],
    "pl": [
        "Mój partner krzyczy na mnie i zabiera mi pieniądze.",
        "Powiedział, że zadzwoni do urzędu imigracyjnego, jeśli odejdę.",
        "Boję się dziś wrócić do domu.",
    ],
}
_CRIMES = [
    (CrimeType.DOMESTIC_ABUSE, 55),
    (CrimeType.SEXUAL_OFFENCE, 10),
    (CrimeType.MODERN_SLAVERY, 8),
    (CrimeType.STALKING_HARASSMENT, 12),
    (CrimeType.HATE_CRIME, 7),
    (CrimeType.OTHER, 8),
]
_CONSENTS = [
    (Recipient.POLICE, Purpose.INVESTIGATION),
    (Recipient.HEALTH, Purpose.SAFEGUARDING),
    (Recipient.HOUSING, Purpose.SAFEGUARDING),
    (Recipient.MARAC, Purpose.MARAC),
    (Recipient.SUPPORT_SERVICE, Purpose.SUPPORT),
]
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SyntheticCase:
    """One invented case, ready to be sealed and stored."""

    number: int
    holder_index: int
    crime_type: CrimeType
    subject_role: SubjectRole
    intake: IntakeKind
    status: CaseStatus
    language: str
    created_at: datetime
    fields: dict[CaseField, str] = field(default_factory=dict)
    consents: tuple[tuple[Recipient, Purpose], ...] = ()


def _fields(
    rng: random.Random, language: str, intake: IntakeKind, when: datetime
) -> dict[CaseField, str]:
    story = " ".join(rng.sample(_PHRASES[language], k=min(2, len(_PHRASES[language]))))
    values = {
        CaseField.NARRATIVE: story,
        CaseField.OCCURRED: (when - timedelta(days=rng.randint(0, 60))).date().isoformat(),
        CaseField.LOCATION: f"near {rng.choice(_TOWNS)} town centre",
        CaseField.SAFE_CONTACT: rng.choice(["text only", "call after 6pm", "email only", "none"]),
    }
    if intake in (IntakeKind.IDENTIFIED, IntakeKind.THIRD_PARTY):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        values |= {
            CaseField.NAME: f"{first} {last}",
            CaseField.PHONE: f"07700 900{rng.randint(0, 999):03d}",
            CaseField.EMAIL: f"{first.lower()}.{last.lower()}{rng.randint(1, 999)}@example.org",
            CaseField.ADDRESS: f"{rng.randint(1, 200)} Example Street, {rng.choice(_TOWNS)}",
            CaseField.NATIONALITY: rng.choice(_NATIONALITIES),
            CaseField.IMMIGRATION_STATUS: rng.choice(_STATUSES),
        }
    if rng.random() < 0.2:
        values[CaseField.HEALTH_NEEDS] = rng.choice(
            ["pregnant", "needs an interpreter", "injury to the arm"]
        )
    return values


def synthetic_cases(seed: int, count: int, holders: int) -> Iterator[SyntheticCase]:
    """``count`` cases spread over ``holders`` organisations, generated lazily."""
    rng = random.Random(seed)
    crimes, weights = zip(*_CRIMES, strict=True)
    languages = list(_PHRASES)
    for number in range(count):
        intake = rng.choice(list(IntakeKind))
        language = rng.choice(languages)
        created = _EPOCH + timedelta(minutes=rng.randint(0, 60 * 24 * 320))
        yield SyntheticCase(
            number=number,
            holder_index=rng.randrange(holders),
            crime_type=rng.choices(crimes, weights)[0],
            subject_role=SubjectRole.WITNESS if rng.random() < 0.1 else SubjectRole.VICTIM,
            intake=intake,
            status=rng.choice(
                [CaseStatus.NEW, CaseStatus.IN_PROGRESS, CaseStatus.REFERRED, CaseStatus.CLOSED]
            ),
            language=language,
            created_at=created,
            fields=_fields(rng, language, intake, created),
            consents=tuple(c for c in _CONSENTS if rng.random() < 0.25),
        )
