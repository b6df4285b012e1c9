"""Claim checking's figures: normalising numbers, units and dates, comparing a claim's figure
with what it attaches to in the evidence, bounds and hedges (tests/unit/test_verify.py has
the evidence, the scorer and the verifier)."""

from __future__ import annotations

import pytest

from assistant.verify.numbers import bounds_hold, compare, quantities, values_close
from tests.unit.test_verify import MALAYSIA


# ---- numbers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("3,000 tonnes", "3000 t"),
        ("a 3,000-tonne plant", "3000 tonnes"),
        ("US$600 million", "$600M"),
        ("USD 600m", "$600 million"),
        ("RM800 billion", "RM 800bn"),
        ("16.1 million tonnes", "16,100,000 tonnes"),
        ("45%", "45 per cent"),
        ("in 2025", "the 2025 plan"),
    ],
)
def test_number_normalisation_equal(a: str, b: str) -> None:
    (qa,), (qb,) = quantities(a), quantities(b)
    assert qa.unit == qb.unit and qa.kind == qb.kind
    assert values_close(qa, qb) and values_close(qb, qa)


def test_units_and_kinds() -> None:
    (q,) = quantities("RM800 billion")
    assert (q.value, q.unit, q.kind) == (800e9, "MYR", "money")
    (q,) = quantities("worth US$600 million")
    assert (q.value, q.unit) == (600e6, "USD")
    (q,) = quantities("in January 1998")
    assert q.kind == "date" and q.value == 1998
    assert quantities("Q3 results, COVID-19 and the G7") == []


def test_money_currencies_differ() -> None:
    assert compare("worth RM800 billion", ["worth US$800 billion"])[0].status != "match"


def test_number_compared_with_what_it_attaches_to() -> None:
    ev = [MALAYSIA]
    assert compare("Malaysia has 16.1 million tonnes of rare earths", ev)[0].status == "match"
    assert compare("Malaysia has 61 million tonnes of rare earths", ev, best=0)[0].status == (
        "mismatch"
    )
    # same value, different unit: not a match
    assert compare("Malaysia has 16.1 million hectares", ev)[0].status != "match"
    # a number about something else entirely is absent, not contradicted
    assert compare("The mine employs 500 workers", ["It opened in 2019."])[0].status == "absent"


def test_bounds_and_hedges() -> None:
    (c,) = quantities("more than 1,800 cases")
    (e,) = quantities("1,950 cases")
    assert c.bound == ">" and values_close(c, e)
    (c,) = quantities("about 16 million tonnes")
    (e,) = quantities("16.1 million tonnes")
    assert values_close(c, e)
    (c,) = quantities("16 million tonnes")
    assert values_close(c, e)  # written to the million: 16.1 rounds to 16
    (c,) = quantities("61 million tonnes")
    assert not values_close(c, e)


COMPARATIVE_BOUNDS = [
    ("a rating lower than 21 % on Rotten Tomatoes", "a rating of 18 % on Rotten Tomatoes",
     "match"),
    ("a rating lower than 21 % on Rotten Tomatoes", "a rating of 35 % on Rotten Tomatoes",
     "mismatch"),
    ("He was born before 1967.", "He was born on July 16, 1964.", "match"),
    ("He was born before 1967.", "He was born in 1970.", "mismatch"),
    ("The series aired after 2005.", "The series first aired in 2007.", "match"),
    ("no more than 5 t of ore", "It shipped 4 t of ore.", "match"),
    ("no more than 5 t of ore", "It shipped 9 t of ore.", "mismatch"),
]

@pytest.mark.parametrize(("claim", "evidence", "holds"), [
    ("There were more than 1,800 deaths in France.", "France counted 1,995 deaths.", True),
    ("It grossed less than $200 million.", "It grossed over $196 million.", True),
    ("The film had more than 115 reviews in 2014.", "It had 116 reviews in 2014.", True),
    # an exact figure is a match but not a bound; a failed bound is a mismatch
    ("France counted 1,995 deaths.", "France counted 1,995 deaths.", False),
    ("There were more than 1,800 deaths in France.", "France counted 1,700 deaths.", False),
    # every number must be stated: a bound that holds beside an absent year does not count
    ("More than 1,800 deaths in France by 2021.", "France counted 1,995 deaths.", False),
])
def test_bounds_hold_only_when_every_number_is_stated(claim: str, evidence: str,
                                                      holds: bool) -> None:
    assert bounds_hold(compare(claim, [evidence], best=0)) is holds


UNITS_PERIODS_AND_DATES = [
    # the same figure in another unit of the same dimension, or for another period
    ("The property covers 4,200 acres.", "The property covers 4,200 hectares.", "mismatch"),
    ("It will make 8,000 tonnes per month.", "It will make 8,000 tonnes per year.", "mismatch"),
    ("Water held 12 mg/L of arsenic.", "Water held 12 micrograms per litre of arsenic.",
     "mismatch"),
    ("The hole reached 900 feet.", "The hole reached 900 metres (2,953 feet).", "mismatch"),
    ("A bag holds 75 pounds of ore.", "A bag holds 75 tons of ore.", "mismatch"),
    # the same quantity written differently
    ("It will make 3,000 tpa of oxide.", "It will make 3,000 tonnes per annum of oxide.",
     "match"),
    ("It will make 3,000 t of oxide.", "It will make 3,000 tonnes a year of oxide.", "match"),
    ("a 1,500-metre drill program", "a 1500-meter drilling program", "match"),
    ("grades of 410 ppm", "grades peaking at 410ppm", "match"),
    ("an NPV of A$20 million", "an NPV of 20 million Australian dollars", "match"),
    # the same bound on both sides states the same quantity
    ("sold for up to US$40 billion", "sold for up to US$40 million", "mismatch"),
    ("sold for up to US$40 million", "sold for up to US$40 million", "match"),
    # the day of a date counts when both sides give one
    ("It closed on June 12, 2025.", "It closed on June 21, 2025.", "mismatch"),
    ("It closed on 12 June 2025.", "It closed on June 12, 2025.", "match"),
    ("It closed in June 2025.", "It closed on June 12, 2025.", "match"),
]


@pytest.mark.parametrize(("claim", "evidence", "status"),
                         COMPARATIVE_BOUNDS + UNITS_PERIODS_AND_DATES)
def test_a_claim_figure_is_compared_with_what_it_attaches_to(claim: str, evidence: str,
                                                            status: str) -> None:
    assert compare(claim, [evidence], best=0)[0].status == status


def test_unit_swap_in_the_closest_sentence_outweighs_a_figure_further_down() -> None:
    (check,) = compare("The well was drilled to 2,400 metres.",
                       ["The well was drilled to 2,400 feet.", "Permits cover 2,400 holes."],
                       best=0)
    assert check.status == "mismatch" and check.sentence == 0 and check.strength == 99.0
    # a bound is checked against the same quantity, not any figure of the same unit
    (check,) = compare("The seam is more than 30 feet thick.",
                       ["The seam is over 30 metres thick.", "Water rose 400 feet."], best=0)
    assert check.status == "mismatch"


def test_mismatch_strength_grows_with_shared_context() -> None:
    evidence = ["The stage two mill will cost $24 million to build"]
    near = compare("The stage two mill will cost $42 million to build", evidence, best=0)[0]
    loose = compare("It is backed by a $42 million grant", evidence, best=0)[0]
    assert near.status == loose.status == "mismatch" and near.strength > loose.strength


def test_ratios_and_numbered_names_are_not_quantities() -> None:
    # "24/7" and "3/4/2020" are a ratio and a date, "5-HT" a compound, "Falcon 9" a name
    assert quantities("It runs 24/7 since 3/4/2020 with 5-HT and the Falcon 9 rocket") == []
    assert [q.value for q in quantities("3/4 of 120 tonnes")] == [120.0]
    # a count before capitalised words is still a count
    assert [q.value for q in quantities("3 Chinese firms and 3,000 Tonnes in 2019")] == [
        3.0, 3000.0, 2019.0
    ]
