"""The spam classifier's arithmetic: features of a text, a score from counts, and why.

Pure functions, no database (the counts live in ``store.quarantine.spam_features``, kept by
:mod:`safereport.services.quarantine`). A naive Bayes over the *presence* of features:

* a feature is a word (``w:``), a character n-gram of a word (``c:``, 3 and 4 characters, the
  word padded with spaces), or one of a few shapes (``x:``: a web link, an email address,
  a long run of digits). Words are found with Unicode's word characters and casefolded, so
  the same code reads Arabic, Polish, Tigrinya or Chinese (where a "word" is a run of
  characters and the n-grams do the work); nothing is language-specific;
* each feature of the text weighs ``log P(f | not real) - log P(f | real)`` with add-one
  smoothing; a word weighs the mean of its features (its n-grams say the same thing many
  times, so they are not counted many times); the text's log-odds are the sum over its
  distinct words and shapes, and the probability their logistic;
* :func:`explain` gives each word's weight, so a caseworker sees which words tipped it.

It is never a judge: the caller only ever routes a report to quarantine (never deletes), only
with enough marks (:data:`MIN_MARKS`) and only above a high probability (:data:`THRESHOLD`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "MIN_MARKS",
    "THRESHOLD",
    "Counts",
    "Weighed",
    "explain",
    "features",
    "hashed",
    "probability",
]

#: A report goes to quarantine only when the classifier is at least this sure.
THRESHOLD = 0.99
#: ...and only once caseworkers of the organisation have marked at least this many reports as
#: "not a real report" (before that, the classifier says nothing).
MIN_MARKS = 10

_WORD = re.compile(r"\w+", re.UNICODE)
_LINK = re.compile(r"https?://|www\.|\.(?:com|net|org|ru|cn|xyz|top|io|biz|info)\b", re.I)
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_DIGITS = re.compile(r"\d{6,}")
_MAX_WORD = 40  # longer runs (a language without spaces) give n-grams of their start only
#: The shapes, in plain words for the explanation.
SHAPES = {"x:link": "a web link", "x:email": "an email address", "x:digits": "a long number"}


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [w for w in _WORD.findall(folded) if len(w) >= 2 or not w.isascii()]


def features(text: str) -> dict[str, frozenset[str]]:
    """Every feature of ``text``, each with the words (or shape names) it came from."""
    found: dict[str, set[str]] = {}
    for word in _words(text):
        found.setdefault("w:" + word, set()).add(word)
        padded = f" {word[:_MAX_WORD]} "
        for size in (3, 4):
            for start in range(len(padded) - size + 1):
                found.setdefault("c:" + padded[start:start + size], set()).add(word)
    for shape, pattern in (("x:link", _LINK), ("x:email", _EMAIL), ("x:digits", _DIGITS)):
        if pattern.search(text):
            found.setdefault(shape, set()).add(SHAPES[shape])
    return {name: frozenset(words) for name, words in found.items()}


def hashed(key: bytes, feature: str) -> str:
    """The stored name of a feature: a keyed hash, so that no word is kept in clear."""
    return hmac.new(key, feature.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Counts:
    """What an organisation's marks say: reports of each kind, and per feature (hashed)."""

    spam_reports: int
    real_reports: int
    #: hashed feature -> (reports marked not real with it, reports released as real with it)
    by_feature: Mapping[str, tuple[int, int]]


@dataclass(frozen=True)
class Weighed:
    """A word or shape of the text and how much it pushed towards "not a real report"."""

    word: str
    weight: float


def _feature_weight(counts: Counts, name: str) -> float:
    spam, real = counts.by_feature.get(name, (0, 0))
    p_spam = (spam + 1) / (counts.spam_reports + 2)
    p_real = (real + 1) / (counts.real_reports + 2)
    return math.log(p_spam) - math.log(p_real)


def _word_weights(found: Mapping[str, frozenset[str]], names: Mapping[str, str],
                  counts: Counts) -> dict[str, float]:
    per_word: dict[str, list[float]] = {}
    for feature, words in found.items():
        weight = _feature_weight(counts, names[feature])
        for word in words:
            per_word.setdefault(word, []).append(weight)
    return {word: sum(ws) / len(ws) for word, ws in per_word.items()}


def probability(found: Mapping[str, frozenset[str]], names: Mapping[str, str],
                counts: Counts) -> float:
    """P(not a real report) for a text's features (``names``: feature -> its hashed name)."""
    if counts.spam_reports == 0 or not found:
        return 0.0
    logit = sum(_word_weights(found, names, counts).values())
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-min(logit, 700.0)))
    return math.exp(max(logit, -700.0)) / (1.0 + math.exp(max(logit, -700.0)))


def explain(found: Mapping[str, frozenset[str]], names: Mapping[str, str], counts: Counts,
            *, top: int = 8) -> tuple[list[Weighed], list[Weighed]]:
    """(the words that weighed most towards "not real", those most towards "real")."""
    weights = _word_weights(found, names, counts)
    ranked = sorted((Weighed(word, round(w, 2)) for word, w in weights.items()),
                    key=lambda item: (-item.weight, item.word))
    towards_spam = [item for item in ranked if item.weight > 0][:top]
    towards_real = [item for item in reversed(ranked) if item.weight < 0][:top]
    return towards_spam, towards_real
