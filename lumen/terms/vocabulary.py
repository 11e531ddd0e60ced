"""The medical vocabulary: drugs, clinical conditions and user lists, offline.

* **Drugs** come from the dictionary shipped in the PyPI package
  ``drug-named-entity-recognition`` (MIT; DrugBank open data, MeSH, MedlinePlus,
  NHS names: ~107,000 names and brand names of ~20,000 drugs).  Its data file
  is read directly: the package's finder module also imports network clients
  for optional look-ups that Lumen never makes.  ``code`` is the DrugBank id,
  else the MeSH id.
* **Conditions** come from ICD-10-CM through ``simple-icd-10-cm`` (MIT; the
  2025 code set).  Its descriptions are written for coders ("Type 2 diabetes
  mellitus without complications"), not speech, so each code of chapters
  A–R and U gives the phrases a clinician would say: the description up to
  its first comma, without parenthesised words and with them in place
  ("Essential (primary) hypertension" gives "essential hypertension" and
  "essential primary hypertension"), without
  trailing qualifiers ("without complications", "with …", "unspecified"),
  plus its inclusion terms; phrases of more than six words are not spoken
  and are skipped, and a phrase keeps the shortest (most general) code that
  gives it.  :data:`SPOKEN_CONDITIONS` adds everyday names ("heart attack",
  "high blood pressure") that no description contains.
* **User lists**: a text file of ``term[,category[,code]]`` lines (``#``
  comments); they override the built-in names.

Words of everyday English are kept out of the index (the drug package's own
stop-word list plus :data:`EXCLUDED`), as are drug names shorter than five
letters ("alli", "aman"), which are mostly homophones of ordinary words.

Building reads ~600 MB of source data for ~10 s, so it runs once, in a
subprocess, into Lumen's cache directory (next to the prepared models); a
server then loads the compact result once, on first use, in a thread
(:class:`SharedVocabulary`; figures in ``scripts/bench_terms.py``).
"""

from __future__ import annotations

import bz2
import hashlib
import logging
import pickle
import re
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import Future
from importlib.resources import files
from pathlib import Path
from typing import Iterator

from lumen.errors import ConfigError
from lumen.terms.matcher import Term, TermIndex, normalize

log = logging.getLogger(__name__)

#: Everyday names of conditions, absent from ICD-10-CM's descriptions.
SPOKEN_CONDITIONS: dict[str, str] = {
    "high blood pressure": "I10", "hypertension": "I10",
    "diabetes": "E08-E13", "diabetes mellitus": "E08-E13", "sugar diabetes": "E08-E13",
    "type 1 diabetes": "E10", "type 2 diabetes": "E11",
    "heart attack": "I21", "myocardial infarction": "I21", "stroke": "I63",
    "atrial fibrillation": "I48", "a fib": "I48", "afib": "I48",
    "copd": "J44.9", "emphysema": "J43", "acid reflux": "K21", "gerd": "K21",
    "gastroesophageal reflux disease": "K21", "gastroesophageal reflux": "K21",
    "high cholesterol": "E78.0", "uti": "N39.0", "kidney stones": "N20.0",
    "flu": "J11", "influenza": "J11", "covid": "U07.1", "covid 19": "U07.1",
    "depression": "F32.A", "anxiety": "F41.9", "dementia": "F03", "alzheimers": "G30",
    "chronic kidney disease": "N18", "ckd": "N18", "heart failure": "I50",
    "congestive heart failure": "I50", "sleep apnea": "G47.3", "obesity": "E66",
    "back pain": "M54", "low back pain": "M54.5", "chest pain": "R07.9", "shortness of breath": "R06.02",
}

#: Common words that are also a drug or condition name somewhere in the sources.
EXCLUDED = frozenset({
    "other", "pain", "disease", "disorder", "injury", "contact", "exposure", "encounter",
    "history", "problem", "finding", "symptom", "sequela", "complication", "abnormal",
    "observation", "examination", "screening", "supervision", "status", "presence", "absence",
    "care", "fall", "effect", "condition", "syndrome", "infection", "lesion", "mass", "growth",
    "today", "tomorrow", "country", "american", "fellow", "world", "freedom", "family", "plan",
    "change", "color", "control", "total", "gas", "energy", "water", "air", "balance", "order",
    "thing", "yankee", "jersey", "chicago", "texa", "new", "kind", "difference",
})

_PARENTHESES = re.compile(r"\s*\(([^)]*)\)")
_QUALIFIER = re.compile(r"\s+(?:without|with|due to|in diseases classified elsewhere|not elsewhere classified"
                        r"|NOS|unspecified|site not specified)\b.*$", re.IGNORECASE)
_LEADING = re.compile(r"^(?:other and unspecified|other specified|other|unspecified)\s+", re.IGNORECASE)
#: Words a spoken phrase neither starts nor ends with (what is left of a cut description).
_DANGLING = frozenset({"and", "or", "of", "in", "on", "to", "with", "without", "due", "the", "a", "by", "for"})
MAX_PHRASE_WORDS = 6
MIN_DRUG_LETTERS = 5
CONDITION_CHAPTERS = tuple("ABCDEFGHIJKLMNOPQRU")


def drug_terms() -> Iterator[tuple[str, Term]]:
    """(name as written, term) for every drug name and brand name in the drug package."""
    data_file = files("drug_named_entity_recognition").joinpath("drug_ner_dictionary.pkl.bz2")
    with bz2.open(str(data_file), "rb") as f:
        data = pickle.load(f)  # the installed package's own data file
    canonical = data["drug_canonical_to_data"]
    terms: dict[str, Term] = {}  # one Term per drug, shared by its names
    for variant, names in data["drug_variant_to_canonical"].items():
        if names[0] not in terms:
            info = canonical.get(names[0], {})
            terms[names[0]] = Term(info.get("name", names[0]), "drug",
                                   info.get("drugbank_id") or info.get("mesh_id"))
        yield variant, terms[names[0]]


def spoken_phrases(description: str) -> list[tuple[str, int]]:
    """(phrase, rank) pairs a clinician would say for an ICD-10-CM description
    (see the module doc); rank 0 when taken as written, 1 when it lost
    trailing qualifiers, 2 when it also lost a leading "Other"."""
    head = description.split(",")[0]
    variants = {_PARENTHESES.sub("", head)}
    for inner in _PARENTHESES.findall(head):
        variants.add(_PARENTHESES.sub("", head.replace(f"({inner})", inner, 1)))
    phrases = []
    for variant in sorted(variants):
        cut = _QUALIFIER.sub("", variant).strip()
        bare = _LEADING.sub("", cut).strip()
        words = bare.lower().split()
        if words and len(words) <= MAX_PHRASE_WORDS and words[0] not in _DANGLING and words[-1] not in _DANGLING:
            phrases.append((bare, 0 if bare == variant.strip() else 1 if bare == cut else 2))
    return phrases


def _icd():  # noqa: ANN202 - the simple_icd_10_cm module
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the package's own use of deprecated importlib APIs
        import simple_icd_10_cm
    return simple_icd_10_cm


def condition_terms() -> Iterator[tuple[str, Term]]:
    """(phrase, term) from ICD-10-CM, one term per phrase.

    Where several codes give a phrase, the best source wins: a description
    over an inclusion term, a phrase taken as written over one cut from a
    longer description, then the shortest (most general) code.
    """
    icd = _icd()
    best: dict[str, tuple[tuple[int, int, int, str], str, Term]] = {}
    for code in icd.get_all_codes(with_dots=True):
        if code[0] not in CONDITION_CHAPTERS or not icd.is_category_or_subcategory(code):
            continue
        description = icd.get_description(code)
        term = Term(description, "condition", code)
        sources = [(description, 0)] + [(inclusion, 1) for inclusion in icd.get_inclusion_term(code)]
        for source, inclusion in sources:
            for phrase, cut in spoken_phrases(source):
                key = " ".join(normalize(phrase))
                rank = (inclusion, cut, len(code), code)
                if key and (key not in best or rank < best[key][0]):
                    best[key] = (rank, phrase, term)
    for _, phrase, term in best.values():
        yield phrase, term


def custom_terms(path: Path) -> Iterator[tuple[str, Term]]:
    """``term[,category[,code]]`` lines of a user list; :class:`ConfigError` for a bad file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the term list {path}: {exc}") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) > 3 or not normalize(fields[0]):
            raise ConfigError(f"{path}:{number}: expected 'term[,category[,code]]', got {line!r}")
        category = fields[1] if len(fields) > 1 and fields[1] else "custom"
        code = fields[2] if len(fields) > 2 and fields[2] else None
        yield fields[0], Term(fields[0], category, code)


def build_builtin() -> TermIndex:
    """Drugs and conditions (see the module docstring); needs ~600 MB while it runs."""
    stopwords = _drug_stopwords()
    index = TermIndex()

    def allowed(phrase: str) -> bool:
        key = normalize(phrase)
        return not (len(key) == 1 and (key[0] in EXCLUDED or key[0] in stopwords or key[0].isdigit()))

    for phrase, term in condition_terms():
        if allowed(phrase):
            index.add(phrase, term)
    icd = _icd()
    for phrase, code in SPOKEN_CONDITIONS.items():  # everyday names win over what the codes gave
        index.add(phrase, Term(icd.get_description(code), "condition", code), replace=True)
    for phrase, term in drug_terms():
        if sum(c.isalpha() for c in phrase) >= MIN_DRUG_LETTERS and allowed(phrase):
            index.add(phrase, term)
    return index


def _drug_stopwords() -> frozenset[str]:
    text = files("drug_named_entity_recognition").joinpath("util.py").read_text(encoding="utf-8")
    # util.py holds only the stop-word set; read it as data rather than importing
    # the package (whose __init__ pulls in network clients).
    return frozenset(" ".join(normalize(w)) for w in re.findall(r"'([a-z]+)'", text))


def prepared_path() -> Path:
    """Where the built-in index is kept: keyed by the source packages' versions and
    by this file (whose rules make the index), so a change to either rebuilds it."""
    from importlib.metadata import version

    from lumen.asr.models import cache_dir

    rules = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    tag = f"{version('drug-named-entity-recognition')}-{version('simple-icd-10-cm')}-{rules}"
    return cache_dir().parent / "terms" / f"medical-{tag}.pkl"


def save(index: TermIndex, path: Path) -> None:
    """Write an index compactly: each term once, phrases as indices into them."""
    terms: dict[Term, int] = {}
    phrases = {key: terms.setdefault(term, len(terms)) for key, term in index.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as f:
        pickle.dump({"terms": [(t.name, t.category, t.code) for t in terms], "phrases": phrases}, f,
                    protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)


def load(path: Path) -> TermIndex:
    with open(path, "rb") as f:
        data = pickle.load(f)  # written by save() into Lumen's own cache directory
    terms = [Term(*fields) for fields in data["terms"]]
    index = TermIndex()
    for key, number in data["phrases"].items():
        index.add_key(key, terms[number])
    return index


def load_index(terms_file: str | None = None) -> TermIndex:
    """The built-in index (prepared once in a subprocess, then loaded) plus a user list."""
    started = time.perf_counter()
    path = prepared_path()
    if not path.exists():
        # A subprocess: building touches ~600 MB that a server would keep.
        log.info("preparing the medical vocabulary in %s", path)
        subprocess.run([sys.executable, "-m", "lumen.terms", str(path)], check=True)
        for stale in path.parent.glob("medical-*.pkl"):
            if stale != path:
                stale.unlink()  # made by other versions or rules
    index = load(path)
    if terms_file:
        for phrase, term in custom_terms(Path(terms_file)):
            index.add(phrase, term, replace=True)
    log.info("term vocabulary: %d phrases in %.1f s", len(index), time.perf_counter() - started)
    return index


class SharedVocabulary:
    """One index per server, built in a thread on first use.

    :meth:`get` returns a future; the first call starts the build.  A bad
    user list fails the future (and every session that asks) with its
    :class:`ConfigError`, so ``lumen serve`` checks it at start.
    """

    def __init__(self, terms_file: str | None) -> None:
        self.terms_file = terms_file
        self._future: Future[TermIndex] | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        """Read the user list now: :class:`ConfigError` if it is unreadable or malformed."""
        if self.terms_file:
            for _ in custom_terms(Path(self.terms_file)):
                pass

    def get(self) -> Future[TermIndex]:
        with self._lock:
            if self._future is None:
                self._future = Future()
                threading.Thread(target=self._build, name="lumen-terms", daemon=True).start()
            return self._future

    def _build(self) -> None:
        assert self._future is not None
        try:
            self._future.set_result(load_index(self.terms_file))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
            self._future.set_exception(exc)
