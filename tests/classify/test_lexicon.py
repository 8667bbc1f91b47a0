"""The `minor` rules (ages, school stages, relatives, developmental terms) and the severity pair rule.

Every example is benign: the rules are checked on everyday text about children, and the severity
rules on score dicts, never on text (nothing here pairs sexual content with a minor).
"""

from __future__ import annotations

import pytest

from ringbreaker.classify import LABELS, classify, severity
from ringbreaker.classify.lexicon import (
    MEDIUM_MINOR,
    STRONG_MINOR,
    WEAK_MINOR,
    minor_evidence,
    minor_score,
    real_person_score,
)
from ringbreaker.classify.normalise import STRIDE, normalise


def score(text: str) -> float:
    return minor_score(normalise(text))


STRONG = [
    # age statements
    "I am 14 and I love chess",
    "I'm 13.",
    "im 15 and bored, any hobby ideas?",
    "I just turned 12",
    "she's 15 and plays the violin",
    "my son is 14 and wants a bike",
    "my daughter, 12, likes painting",
    "a 14-year-old playing chess",
    "a 14 year old learning to swim",
    "14yo skater at the park",
    "a 14 yo skater at the park",
    "a 12 y/o reading a book",
    "a 12 year girl reading a book",
    "children aged 12 play football",
    "kids aged 4-8 at the museum",
    "age: 15",
    '{"name": "Sam", "age": 15}',
    "at the age of 9 she moved to Leeds",
    "a fourteen years old boy",
    "a fourteen-year-old reading in the library",
    "a four year old child at the zoo",
    "my 6-month-old sleeps well",
    "can I feed a two month old mashed banana?",
    # school stages
    "my daughter is in 8th grade and loves chess",
    "a seventh grader's science project",
    "a 3rd-grade classroom",
    "she is in first grade",
    "grade 5 students visit a farm",
    "he is in grade 8",
    "she is in middle school",
    "an elementary school play",
    "a high school freshman",
    "a high school sophomore",
    "a sophomore in high school",
    "kindergarten art class",
    "year 9 pupils at our school",
    "in year 9 at school she took up drama",
    "a junior high band concert",
    # developmental terms
    "a prepubescent growth chart",
    "a toddler building a sandcastle",
    "an infant car seat",
    "an underage drinking campaign",
    "a preteen summer camp",
    "a tween clothing store",
    # minor, the noun
    "a shop may not sell alcohol to a minor.",
    "he is a minor, so a parent must sign",
    "unaccompanied minors travel with airline staff",
    "the form asks whether any minor is in the household",
    # relatives with a child's cue
    "my little son likes trains",
    "my daughter's daycare closes early",
    "my nephew's homework is on fractions",
]

MEDIUM = [
    "my daughter loves chess",
    "my son plays the cello",
    "a mother and her son at the beach",
    "my stepdaughter bakes bread",
    "my niece is visiting",
    "my nephew collects stamps",
    "how does puberty change sleep?",
    "a lesson plan for high school students",
]

NONE = [
    "minor changes to the layout",
    "a minor bug in the parser",
    "a sonata in A minor",
    "play the melody in a minor key",
    "a minor or major release",
    "is it a minor issue?",
    "a computer science major with a minor in Chinese",
    "majors and minors at the college fair",
    "he was called up from the minors",
    "grade A beef",
    "grade 8 bolts",
    "write at an 8th grade reading level",
    "keep the reading level at 8th-10th grade",
    "first grade olive oil",
    "high school musical songs",
    "a high school diploma is required",
    "a friend since high school",
    "18 years old",
    "an 18-year-old chess champion",
    "a 25 year old teacher",
    "a twenty-four year old teacher",
    "age of empires",
    "ice age 2",
    "son of a gun",
    "back in 2014",
    "it took 14 days",
    "I'm 14 minutes late",
    "I'm 5'10",
    "you are one of the best",
    "stage 1: discovery",
    "image 2 and page 3",
    "error: message 7",
    "10 years of experience with Python",
    "over 12 years, students have used it",
    "a 3-year roadmap",
    "the next 2-3 years",
    "a 10-year-old laptop",
    "my car is 12 years old",
    "the data is no more than one year old",
    "a scotch aged 12 years",
    "two goat kids in a field",
    "juvenile giraffes by a tree",
    "a newborn sheep in the hay",
    "kill the child process",
    "render props.children",
    '{"children": []}',
    "child's pose for five breaths",
    "temperatures in the low teens",
    "my son-in-law is a pilot",
    "UK year 9 of the fiscal plan",
]


@pytest.mark.parametrize("text", STRONG)
def test_strong_minor_evidence(text: str) -> None:
    assert score(text) == STRONG_MINOR


@pytest.mark.parametrize("text", MEDIUM)
def test_medium_minor_evidence(text: str) -> None:
    assert score(text) == MEDIUM_MINOR


@pytest.mark.parametrize("text", NONE)
def test_no_minor_evidence(text: str) -> None:
    assert score(text) == 0.0


def test_weak_terms_and_adult_relatives_stay_below_threshold() -> None:
    assert score("a girl with an umbrella") == WEAK_MINOR
    assert score("my son is 25 and lives in Oslo") == WEAK_MINOR  # an adult's age beside the relative
    assert score("my married daughter") == WEAK_MINOR
    assert score("an 18-year-old teenage boy") == STRONG_MINOR  # "teenage" still counts: recall first


def test_evidence_names_the_rule() -> None:
    hits = minor_evidence(normalise("my daughter is in 8th grade and she is 13"))
    assert {h.kind for h in hits if h.score >= 0.5} == {"relative", "grade", "age"}
    assert {h.kind for h in hits if h.score < 0.5} == {"term"}  # the weak word "daughter"
    assert [h.kind for h in minor_evidence(normalise("a shop may not sell to a minor."))] == ["noun"]
    assert minor_evidence(normalise("a minor bug")) == []


def test_classify_reads_the_rules_without_window_artefacts() -> None:
    # a long text is also scored in windows; a window that starts inside "between" reads "tween"
    filler = "the cat sat on the mat and looked at the garden. "
    text = (filler * 20)[: STRIDE - 2] + "between the trees. " + filler * 40
    assert normalise(text)[STRIDE : STRIDE + 5] == "tween"
    assert classify([text])[0].minor < 0.5
    assert classify(["a toddler building a sandcastle"])[0].minor >= STRONG_MINOR


TH = {"bypass": 0.5, "sexual": 0.5, "real_person": 0.5, "minor": 0.5}


def s(**kw: float) -> dict[str, float]:
    return {k: kw.get(k, 0.0) for k in LABELS}


def test_pair_threshold_prefers_recall_for_sexual_with_minor() -> None:
    th = {**TH, "sexual_with_minor": 0.2}
    assert severity(s(sexual=0.25, minor=0.95), th) == "critical"
    assert severity(s(sexual=0.2, minor=0.5), th) == "critical"
    assert severity(s(sexual=0.19, minor=0.95), th) == "low"
    # the lower threshold is used only with the minor label hit
    assert severity(s(sexual=0.25, minor=0.49), th) == "none"
    assert severity(s(sexual=0.25, real_person=0.95), th) == "low"
    assert severity(s(sexual=0.25, bypass=0.9), th) == "medium"


def test_pair_threshold_falls_back_to_sexual_and_never_exceeds_it() -> None:
    assert severity(s(sexual=0.25, minor=0.95), TH) == "low"  # key absent: sexual's threshold
    assert severity(s(sexual=0.5, minor=0.5), TH) == "critical"
    th = {**TH, "sexual_with_minor": 0.8}  # a pair threshold above sexual's cannot undo critical
    assert severity(s(sexual=0.6, minor=0.9), th) == "critical"


def test_real_person_portraits_stay_below_high() -> None:
    # a named public figure is low; high needs sexual content too (unchanged by the pair rule)
    th = {**TH, "sexual_with_minor": 0.2}
    assert real_person_score("A portrait of Bernie Sanders at a desk") >= 0.9
    assert severity(s(real_person=0.95, sexual=0.3), th) == "low"
    assert severity(s(real_person=0.95, sexual=0.5), th) == "high"


def test_names_are_masked_for_the_learned_heads_but_still_counted_as_real_people() -> None:
    from ringbreaker.classify.lexicon import PERSON_MASK, mask_people, real_person_score

    text = "A portrait of Ada Lovelace at her desk, art by John Smith"
    masked = mask_people(text)
    assert masked == f"A portrait of {PERSON_MASK} at her desk, art by {PERSON_MASK}"
    assert "Ada" not in masked
    assert "Smith" not in masked
    assert real_person_score(text) >= 0.5  # the subject counts; the style credit alone would not
    assert real_person_score("a landscape, art by John Smith") < 0.5
    assert mask_people("A bicycle parked next to a bench.") == "A bicycle parked next to a bench."


def test_a_named_portrait_and_an_unnamed_one_get_the_same_learned_scores() -> None:
    from ringbreaker.classify import default_model

    named, plain = default_model().classify(
        ["A photo of Ada Lovelace smiling on a beach", "A photo of  smiling on a beach"]
    )
    assert named.real_person >= 0.5 > plain.real_person
    assert (named.bypass, named.sexual) == (plain.bypass, plain.sexual)


def test_spans_found_once_serve_the_mask_and_the_rule() -> None:
    from ringbreaker.classify.lexicon import mask_people, people, person_spans, real_person_score

    pp = people()
    for text in [
        "A portrait of Bernie Sanders at a desk, art by John Smith",
        "Mr Smith and Dr Jones, by the sea",
        "A bicycle parked next to a bench.",
        "",
    ]:
        spans = person_spans(text, pp)
        assert mask_people(text, pp, spans) == mask_people(text)
        assert real_person_score(text, pp, spans) == real_person_score(text)
    assert person_spans("A bicycle parked next to a bench.") == []
    assert len(person_spans("A portrait of Bernie Sanders at a desk, art by John Smith")) == 2
