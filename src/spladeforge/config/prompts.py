"""Default prompts of the OpenAI-compatible backend, one per query type it asks for.

Placeholders: `{n}` (how many queries), `{title}`, `{text}` (the chunk). Literal braces are
doubled, as `str.format` requires.
"""

from __future__ import annotations

_JSON_ANSWER = 'Answer with JSON only, exactly {{"queries": ["...", ...]}}.\n\nTitle: {title}\nPassage:\n{text}'
DEFAULT_PROMPTS = {
    "question": "Write {n} different questions that a user could type into a search engine and "
                "that this passage answers. " + _JSON_ANSWER,
    "keywords": "Write {n} different keyword queries of 2 to 5 words (no sentences, no question "
                "marks) that should find this passage. " + _JSON_ANSWER,
    "natural": "Write {n} different natural-language search requests (not questions, e.g. "
               "'how to ...' or 'example of ...') that this passage satisfies. " + _JSON_ANSWER,
}


