"""Queries taken from the chunk itself, offline: keywords, questions and sentences.

Three types that mimic how people search:
- `keywords`: 2-4 of the chunk's most distinctive terms (TF-IDF against the whole corpus);
- `question`: a question built from one of the chunk's sentences or its subject;
- `sentence`: one sentence of the chunk, as in the Inverse Cloze Task (Lee et al., 2019).
The type of each query is drawn from `generate_queries.mix` by a generator seeded with the run
seed and the chunk id, so the output does not depend on chunk order.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from typing import Any

from spladeforge.config import GenerateQueriesConfig
from spladeforge.querygen.filters import QueryFilter
from spladeforge.querygen.records import query_record
from spladeforge.text import sentences, stable_hash, words

# Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, Japanese kana and
# CJK ideographs. The extractive queries are made of space-separated words (`text.words`), so a
# chunk in these scripts yields none.
_UNSPACED = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def in_unspaced_script(text: str) -> bool:
    """Whether most letters of `text` belong to scripts written without spaces between words."""
    letters = sum(1 for c in text if c.isalpha())
    return letters > 0 and len(_UNSPACED.findall(text)) > letters / 2


# Docstrings start with an imperative or third-person verb: "Return ...", "Creates ...".
_DOC_VERBS = re.compile(
    r"^(return|create|make|convert|build|get|set|read|write|open|close|add|remove|delete|find|"
    r"parse|load|save|send|receive|compute|calculate|check|test|encode|decode|compress|"
    r"decompress|format|print|start|stop|run|call|register|wait|raise|update|copy|move|split|"
    r"join|search|match|replace|generate|initialize|construct|handle|process|apply|translate)s?\b",
    re.IGNORECASE,
)


class ExtractiveGenerator:
    def __init__(self, cfg: GenerateQueriesConfig, chunks: list[dict[str, Any]], seed: int) -> None:
        self.cfg = cfg
        self.seed = seed
        df: Counter[str] = Counter()
        for chunk in chunks:
            df.update(set(words(chunk["text"])))
        self.idf = {t: math.log(1 + len(chunks) / n) for t, n in df.items()}
        self.types = [t for t, w in cfg.mix.items() if w > 0]
        self.weights = [cfg.mix[t] for t in self.types]

    def distinctive_terms(self, text: str, limit: int = 8) -> list[str]:
        tf = Counter(w for w in words(text) if len(w) > 2 and not w.isdigit())
        ranked = sorted(tf, key=lambda t: (-tf[t] * self.idf.get(t, 0.0), t))
        return ranked[:limit]

    def keywords(self, chunk: dict[str, Any], rng: random.Random) -> str | None:
        terms = self.distinctive_terms(chunk["text"])
        if len(terms) < self.cfg.min_keywords:
            return None
        k = rng.randint(self.cfg.min_keywords, min(self.cfg.max_keywords, len(terms)))
        picked = rng.sample(terms[: max(k, 5)], k)
        return " ".join(sorted(picked, key=terms.index))

    def question(self, chunk: dict[str, Any], rng: random.Random) -> str | None:
        candidates = [s for s in sentences(chunk["text"]) if 20 <= len(s) <= 160 and _DOC_VERBS.match(s)]
        if candidates:
            sentence = rng.choice(candidates).rstrip(".:; ")
            verb, _, rest = sentence.partition(" ")
            verb = verb.lower()
            if verb.endswith("s") and not verb.endswith("ss"):
                verb = verb[:-1]
            return f"how do I {verb} {rest[0].lower() + rest[1:] if rest else ''}".strip() + "?"
        subject = (chunk.get("section") or chunk.get("title") or "").split(" > ")[-1]
        terms = self.distinctive_terms(chunk["text"], limit=3)
        if subject and terms:
            return rng.choice([f"what does {subject} do with {terms[0]}?",
                               f"how is {terms[0]} handled in {subject}?"])
        return None

    def sentence(self, chunk: dict[str, Any], rng: random.Random) -> str | None:
        candidates = [s for s in sentences(chunk["text"]) if 30 <= len(s) <= 200 and s[0].isupper()]
        return rng.choice(candidates) if candidates else None

    def generate(self, chunk: dict[str, Any], qfilter: QueryFilter | None = None) -> list[dict[str, Any]]:
        rng = random.Random(stable_hash(self.seed, chunk["id"]))
        out, used = [], set()
        for _attempt in range(self.cfg.queries_per_chunk * 3):
            if len(out) == self.cfg.queries_per_chunk:
                break
            qtype = rng.choices(self.types, self.weights)[0]
            text = getattr(self, qtype)(chunk, rng)
            if qfilter is not None:
                if not qfilter.accept(text, qtype, chunk):
                    continue
            elif not text or text.lower() in used:
                continue
            used.add(text.lower())
            out.append(query_record(chunk, len(out), text, qtype, "extractive"))
        return out
