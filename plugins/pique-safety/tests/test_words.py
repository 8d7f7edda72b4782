"""Whole-word matching, case- and accent-insensitive."""

from __future__ import annotations

import pytest

from pique_safety.words import contains, tokens


@pytest.mark.parametrize(("text", "word"), [
    ("Cold BEER tonight", "beer"),
    ("Crème brûlée", "creme brulee"),
    ("CAFÉ", "café"),
    ("buy now!", "Buy Now"),
])
def test_words_match_whatever_their_case_and_accents(text, word):
    assert contains(tokens(text), word)


@pytest.mark.parametrize(("text", "word"), [
    ("beers", "beer"),
    ("rootbeer", "beer"),
    ("now buy", "buy now"),
    ("", "beer"),
])
def test_only_whole_words_in_order_match(text, word):
    assert not contains(tokens(text), word)
