"""Sentence spans keep their character offsets, quotes and brackets with their sentence."""

from __future__ import annotations

from spladeforge.chunking import sentence_spans


def test_sentence_spans_keep_offsets():
    text = "# Title\nFirst sentence here. Second (with a quote.\") Third!\n\nNew paragraph"
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "# Title", "First sentence here.", "Second (with a quote.\")", "Third!", "New paragraph"]
