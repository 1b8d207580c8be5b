"""Snippets: the ~200-character window with the most query words, cut at word boundaries."""

from __future__ import annotations

from spladeforge.retrieval.snippet import ELLIPSIS, WIDTH, snippet
from tests.retrieval.conftest import LONG_TEXT


def test_the_window_holds_the_matching_words_and_is_marked_as_cut():
    shown = snippet(LONG_TEXT, "how to compress a log file")
    assert "compress a log file" in shown
    assert shown.startswith(ELLIPSIS) and shown.endswith(ELLIPSIS)
    assert len(shown) <= WIDTH + 2
    body = shown.strip(ELLIPSIS)
    assert f" {body.split()[0]} " in f" {LONG_TEXT} " and body.split()[-1] in LONG_TEXT.split()  # whole words


def test_word_starts_match_inflections_case_insensitively():
    assert "gzip.open to compress" in snippet(LONG_TEXT, "GZIP compressing")


def test_short_text_is_shown_whole_with_whitespace_collapsed():
    assert snippet("The  gzip\nmodule.", "gzip") == "The gzip module."


def test_without_query_words_the_anchors_then_the_opening_are_shown():
    assert "Use gzip.open" in snippet(LONG_TEXT, "zzz qqq", anchors=["gzip"])
    opening = snippet(LONG_TEXT, "zzz qqq")
    assert opening.startswith("The logging module records events.") and opening.endswith(ELLIPSIS)
