"""Countries named by demonym, capital or code (rag/places.py, from the bundled table)."""

from __future__ import annotations

import pytest

from rag.places import mentions_place, place_pattern, places


@pytest.mark.parametrize(
    ("word", "text", "found"),
    [
        ("American", "the U.S. Army", True),
        ("Americans", "the United States", True),  # plural demonym
        ("american", "US forces", True),  # the code, upper case
        ("american", "let us go", False),  # not the pronoun
        ("american", "Washington objected", True),  # the capital
        ("Ottawa", "Canada objected", True),
        ("Mexican", "in Mexico City", True),
        ("mexico", "Mexicans protested", True),
        ("Guatemalan", "in Mexico", False),
        ("British", "the UK and Mexico", True),
        ("Indian", "SECURITY IN MEXICO", False),  # a code that is a common word ("IN") is left out
        ("Calderón", "Mexico", False),  # not a place
    ],
)
def test_a_country_is_found_under_its_other_names(word, text, found):
    assert mentions_place(word, text) is found


def test_a_shared_demonym_names_the_most_populous_country():
    assert places()["american"].names[0] == "United States"
    assert place_pattern("dominican") is not None and place_pattern("dominican").search("the Dominican Republic")
    assert place_pattern("senate") is None
