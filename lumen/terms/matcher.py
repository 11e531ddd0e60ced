"""Finding known terms in a transcript's words: normalisation and longest match.

Both the vocabulary and the transcript go through :func:`normalize`, so a
phrase matches whatever its case, punctuation, possessive or plural:
"Statins", "asthma's", "Type two diabetes" and "type-2 diabetes" all reach
the same tokens.  :class:`TermIndex` maps token sequences to terms and
:meth:`TermIndex.find` scans a final's words once, taking the longest phrase
that starts at each position (so "chronic obstructive pulmonary disease"
wins over "pulmonary disease"), in O(words × longest phrase) dictionary
lookups.

Thread-safety: an index is built once (:meth:`add`) and then only read;
:meth:`find` may run on any number of threads at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

_WORD = re.compile(r"[^\W_]+")
_POSSESSIVE = re.compile(r"['’]s\b")
_NUMBERS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
            "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
            "nineteen": "19"}


def _stem(token: str) -> str:
    """A crude, consistent plural stripper: the same on both sides is all it needs to be."""
    if token in _NUMBERS:
        return _NUMBERS[token]
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 4 and token.endswith(("ches", "shes", "xes", "sses", "zes")):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def normalize(text: str) -> tuple[str, ...]:
    """Lower-cased word tokens without punctuation, possessives or plural ``s``; number words as digits."""
    text = _POSSESSIVE.sub("", text.lower()).replace("'", "").replace("’", "")
    return tuple(_stem(token) for token in _WORD.findall(text))


@dataclass(frozen=True)
class Term:
    """What a phrase stands for."""

    name: str
    """Canonical name (e.g. "Acetaminophen" for "Tylenol")."""
    category: str
    """``drug``, ``condition`` or a user list's own category (default ``custom``)."""
    code: str | None
    """DrugBank or MeSH id for drugs, ICD-10-CM code (or block) for conditions; None if unknown."""


@dataclass(frozen=True)
class TimedWord:
    """A transcript word: its text and its times in seconds."""

    text: str
    start: float
    end: float


class TermIndex:
    """Token sequences → :class:`Term`; see the module docstring."""

    def __init__(self) -> None:
        # Keys are the normalized tokens joined by spaces: a str per phrase
        # costs a third of a tuple of str (the index has ~100,000 phrases).
        self._phrases: dict[str, Term] = {}
        self.longest = 0

    def __len__(self) -> int:
        return len(self._phrases)

    def add(self, phrase: str, term: Term, replace: bool = False) -> bool:
        """Index ``phrase``; an existing phrase is kept unless ``replace``.  False if not added."""
        tokens = normalize(phrase)
        key = " ".join(tokens)
        if not key or (key in self._phrases and not replace):
            return False
        self._phrases[key] = term
        self.longest = max(self.longest, len(tokens))
        return True

    def lookup(self, phrase: str) -> Term | None:
        return self._phrases.get(" ".join(normalize(phrase)))

    def items(self) -> Iterable[tuple[str, Term]]:
        """(normalized key, term) pairs, for saving an index."""
        return self._phrases.items()

    def add_key(self, key: str, term: Term) -> None:
        """Index an already normalized key (from :meth:`items`)."""
        self._phrases[key] = term
        self.longest = max(self.longest, key.count(" ") + 1)

    def find(self, words: Sequence[TimedWord]) -> list[dict[str, object]]:
        """The terms in ``words``, in order, as protocol dicts ``{text, start, end, category, code, name}``."""
        tokens: list[str] = []
        owner: list[int] = []  # word index of each token
        for i, word in enumerate(words):
            for token in normalize(word.text):
                tokens.append(token)
                owner.append(i)
        found: list[dict[str, object]] = []
        position = 0
        while position < len(tokens):
            for length in range(min(self.longest, len(tokens) - position), 0, -1):
                term = self._phrases.get(" ".join(tokens[position:position + length]))
                if term is not None:
                    first, last = owner[position], owner[position + length - 1]
                    found.append(_match(words[first:last + 1], term))
                    position += length
                    break
            else:
                position += 1
        return found


def _match(words: Iterable[TimedWord], term: Term) -> dict[str, object]:
    chosen = list(words)
    text = " ".join(w.text.strip() for w in chosen).strip(" .,;:!?\"()[]")
    return {"text": text, "start": round(chosen[0].start, 3), "end": round(chosen[-1].end, 3),
            "category": term.category, "code": term.code, "name": term.name}
