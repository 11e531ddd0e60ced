"""The medical vocabulary and the matcher: real vocabularies, real transcript text."""

from __future__ import annotations

import pytest

from lumen.errors import ConfigError
from lumen.terms import TermIndex, TimedWord, load_index
from lumen.terms.matcher import Term, normalize
from lumen.terms.vocabulary import SharedVocabulary, spoken_phrases


@pytest.fixture(scope="module")
def index() -> TermIndex:
    return load_index()


def words(text: str) -> list[TimedWord]:
    return [TimedWord(w, i * 0.5, i * 0.5 + 0.4) for i, w in enumerate(text.split())]


def found(index: TermIndex, text: str) -> list[tuple[str, str, str | None]]:
    return [(m["text"], m["category"], m["code"]) for m in index.find(words(text))]


def test_normalize_is_case_punctuation_possessive_plural_and_number_blind():
    assert normalize("Statins,") == normalize("statin")
    assert normalize("asthma's") == normalize("Asthma")
    assert normalize("Type two diabetes") == normalize("type-2 Diabetes.")
    assert normalize("arthritis") == ("arthritis",) and normalize("lupus") == ("lupus",)


@pytest.mark.parametrize("text, expected", [
    ("The patient with type two diabetes takes Metformin and lisinopril.",
     [("type two diabetes", "condition", "E11"), ("Metformin", "drug", "DB00331"),
      ("lisinopril", "drug", "DB00722")]),
    ("History of chronic obstructive pulmonary disease, on Statins and aspirin.",
     [("chronic obstructive pulmonary disease", "condition", "J44.9"),
      ("Statins", "drug", "D006903"), ("aspirin", "drug", "DB00945")]),
    ("High blood pressure, and asthma's been worse; Tylenol for the fever.",
     [("High blood pressure", "condition", "I10"), ("asthma's", "condition", "J45"),
      ("Tylenol", "drug", "DB00316"), ("fever", "condition", "R50.9")]),
    ("essential hypertension, migraines, COVID-19 and a urinary tract infection",
     [("essential hypertension", "condition", "I10"), ("migraines", "condition", "G43"),
      ("COVID-19", "condition", "U07.1"), ("urinary tract infection", "condition", "N39.0")]),
])
def test_drugs_and_conditions_in_clinical_speech(index, text, expected):
    assert found(index, text) == expected


def test_longest_phrase_wins_and_times_come_from_the_words(index):
    matches = index.find(words("a heart attack then atrial fibrillation"))
    assert [(m["text"], m["code"]) for m in matches] == [("heart attack", "I21"), ("atrial fibrillation", "I48")]
    assert (matches[0]["start"], matches[0]["end"]) == (0.5, 1.4)
    assert matches[0]["name"] == "Acute myocardial infarction"


@pytest.mark.parametrize("name", ["jfk.txt", "sample.stm", "ami-ES2011a-headset-40s-46s.jsonl"])
def test_no_terms_in_everyday_speech(index, testdata, name):
    text = (testdata / name).read_text()
    assert found(index, text) == []


def test_generic_words_and_cut_descriptions_are_not_terms(index):
    assert found(index, "other pain and unspecified problems in the family today") == []
    assert spoken_phrases("Other and unspecified syphilis") == []  # nothing speakable is left
    assert spoken_phrases("Essential (primary) hypertension") == [
        ("Essential hypertension", 0), ("Essential primary hypertension", 0)]


def test_a_user_list_adds_and_overrides(tmp_path):
    terms = tmp_path / "terms.txt"
    terms.write_text("# our formulary\nZorblax,drug,LOCAL-1\nmetformin,drug,OURS-7\nward round\n")
    index = load_index(str(terms))
    assert found(index, "zorblax and Metformin on the ward round") == [
        ("zorblax", "drug", "LOCAL-1"), ("Metformin", "drug", "OURS-7"), ("ward round", "custom", None)]


def test_a_malformed_user_list_is_a_clear_error(tmp_path):
    bad = tmp_path / "terms.txt"
    bad.write_text("fine,drug\na,b,c,d\n")
    with pytest.raises(ConfigError, match=r"terms.txt:2: expected 'term\[,category\[,code\]\]'"):
        SharedVocabulary(str(bad)).check()
    with pytest.raises(ConfigError, match="cannot read the term list"):
        SharedVocabulary(str(tmp_path / "missing.txt")).check()


def test_shared_vocabulary_builds_once():
    shared = SharedVocabulary(None)
    assert shared.get() is shared.get()
    assert isinstance(shared.get().result(60), TermIndex)


def test_a_small_index_by_hand():
    index = TermIndex()
    index.add("kidney stones", Term("Calculus of kidney", "condition", "N20.0"))
    assert not index.add("Kidney stone", Term("x", "custom", None)), "same phrase once normalized"
    assert index.lookup("KIDNEY-STONES").code == "N20.0"
