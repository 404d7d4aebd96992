"""The extractive answer's refusal rules, on hand-made cases and on the seed corpus."""

from __future__ import annotations

import pytest

from rag.answer import NOT_FOUND, answers_type


@pytest.mark.parametrize(
    ("question", "sentences", "ok"),
    [
        ("When did Tillerson travel to Mexico City?", ["He will travel to Mexico City, February 22–23, 2017."], True),
        ("In what year was NORAD founded?", ["NORTHCOM was put on a par with NORAD."], False),
        ("Which year saw the reform?", ["The reform came in the 1990s."], True),
        ("When did the treaty start?", ["It started in March."], True),
        ("When the Pentagon redrew its map, which command took Mexico?", ["Northern Command took Mexico."], True),  # not a date question
        ("Who leads the army?", ["The secretary of national defense leads it."], True),
        ("When was it signed?", ["It was signed after long talks.", "The talks began in 1992."], True),
    ],
)
def test_a_date_question_needs_a_date_in_the_answer(question, sentences, ok):
    assert answers_type(question, sentences) is ok


def test_near_topic_date_question_is_refused(seed_index):
    engine, _ = seed_index
    a = engine.ask("In what year was NORAD founded, and which agreement created it?", generate=False)
    assert not a.grounded and a.answer == NOT_FOUND
    assert engine.ask("When did Tillerson travel to Mexico City?", generate=False).grounded
