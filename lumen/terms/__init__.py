"""Medical terminology highlighting on final transcripts (see docs/terms.md)."""

from lumen.terms.matcher import Term, TermIndex, TimedWord, normalize
from lumen.terms.vocabulary import SharedVocabulary, load_index

__all__ = ["SharedVocabulary", "Term", "TermIndex", "TimedWord", "load_index", "normalize"]
