"""generate-queries: make training queries for each chunk.

Backends (`generate_queries.backend`):
- `extractive` (default, offline) writes three query types that mimic how people search:
  `keywords`: 2-4 of the chunk's most distinctive terms (TF-IDF against the whole corpus);
  `question`: a question built from one of the chunk's sentences or its subject;
  `sentence`: one sentence of the chunk, as in the Inverse Cloze Task (Lee et al., 2019).
- `seq2seq`: a doc2query text-to-text model samples queries (type `natural`); see
  `spladeforge.querygen.seq2seq`.
- `openai`: an OpenAI-compatible chat endpoint writes `question`, `keywords` and `natural`
  queries from per-type prompts, cached on disk; see `spladeforge.querygen.openai_chat`.
  `sentence` queries in its mix stay extractive: they are chunk sentences by design.
The type of each query is drawn from `generate_queries.mix`. Every draw is seeded by the run
seed and the chunk id, so the output does not depend on chunk order. Every backend's queries
pass the filters of `spladeforge.querygen.filters`; what they rejected, per filter and type,
goes to `<output stem>.report.json` (`queries.report.json`). The round-trip filter only flags
queries (`round_trip_ok`); `split` drops the flagged ones from training, not from validation.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from spladeforge.config import GenerateQueriesConfig
from spladeforge.errors import InputError
from spladeforge.io import iter_jsonl, write_json, write_jsonl
from spladeforge.querygen.filters import QueryFilter
from spladeforge.text import sentences, stable_hash, words

LLM_TYPES = ("question", "keywords", "natural")


def report_path(output: Path) -> Path:
    """`queries.jsonl` -> `queries.report.json`."""
    return output.with_name(output.name.split(".")[0] + ".report.json")

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
            out.append(_query(chunk, len(out), text, qtype, "extractive"))
        return out


def _query(chunk: dict[str, Any], n: int, text: str, qtype: str, backend: str) -> dict[str, Any]:
    return {"id": f"{chunk['id']}/q{n}", "chunk_id": chunk["id"], "doc_id": chunk["doc_id"],
            "text": text, "type": qtype, "backend": backend}


def _seq2seq(cfg: GenerateQueriesConfig, chunks: list[dict[str, Any]], seed: int,
             qfilter: QueryFilter) -> list[dict[str, Any]]:
    from spladeforge.querygen.seq2seq import Seq2SeqGenerator

    generator = Seq2SeqGenerator(cfg.seq2seq, seed)
    queries = []
    for chunk, candidates in tqdm(generator.generate(chunks), total=len(chunks), desc="generate-queries",
                                  unit=" chunks"):
        kept = [t for t in candidates if qfilter.accept(t, "natural", chunk)][: cfg.queries_per_chunk]
        queries.extend(_query(chunk, n, t, "natural", "seq2seq") for n, t in enumerate(kept))
    return queries


def _openai(cfg: GenerateQueriesConfig, chunks: list[dict[str, Any]], seed: int, qfilter: QueryFilter,
            extractive: ExtractiveGenerator) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from spladeforge.querygen.openai_chat import OpenAIChatClient

    client = OpenAIChatClient(cfg.openai)
    types = [t for t, w in cfg.mix.items() if w > 0]
    weights = [cfg.mix[t] for t in types]
    plans, prompts = [], []
    for chunk in chunks:
        rng = random.Random(stable_hash(seed, chunk["id"]))
        wanted = Counter(rng.choices(types, weights, k=cfg.queries_per_chunk))
        for qtype in (t for t in LLM_TYPES if wanted[t]):
            # One more than needed: the filters may reject one.
            prompts.append(cfg.openai.prompts[qtype].format(n=wanted[qtype] + 1, title=chunk.get("title", ""),
                                                            text=chunk["text"]))
            plans.append((chunk, qtype, wanted[qtype]))
        if wanted["sentence"]:
            plans.append((chunk, "sentence", wanted["sentence"]))
            prompts.append(None)
    llm_prompts = [p for p in prompts if p is not None]
    answers = iter(client.map(llm_prompts))
    queries, per_chunk = [], Counter()
    for (chunk, qtype, count), prompt in zip(plans, prompts, strict=True):
        if prompt is None:
            rng = random.Random(stable_hash(seed, "sentence", chunk["id"]))
            texts = [extractive.sentence(chunk, rng) for _ in range(count * 3)]
            backend = "extractive"
        else:
            texts = next(answers) or []
            backend = "openai"
        kept = 0
        for text in texts:
            if kept < count and qfilter.accept(text, qtype, chunk):
                queries.append(_query(chunk, per_chunk[chunk["id"]], text, qtype, backend))
                per_chunk[chunk["id"]] += 1
                kept += 1
    return queries, client.report()


def run(cfg: GenerateQueriesConfig, chunks_path: Path, output: Path, seed: int) -> dict[str, Any]:
    chunks = list(iter_jsonl(chunks_path, required=("id", "doc_id", "text")))
    if not chunks:
        raise InputError(f"{chunks_path}: no chunks to generate queries for")
    generator = ExtractiveGenerator(cfg, chunks, seed)
    qfilter = QueryFilter(cfg.filters)
    extra: dict[str, Any] = {}
    if cfg.backend == "extractive":
        queries = []
        for chunk in tqdm(chunks, desc="generate-queries", unit=" chunks"):
            queries.extend(generator.generate(chunk, qfilter))
    elif cfg.backend == "seq2seq":
        queries = _seq2seq(cfg, chunks, seed, qfilter)
    else:
        queries, extra["openai"] = _openai(cfg, chunks, seed, qfilter, generator)
    queries = qfilter.round_trip(qfilter.dedupe_global(queries), chunks)
    if not queries:
        raise InputError(f"{chunks_path}: no query could be generated or none passed the filters "
                         f"(generated {dict(qfilter.generated)}, rejected "
                         f"{ {k: sum(v.values()) for k, v in qfilter.rejected.items()} }); "
                         "see generate_queries.filters")
    by_type = Counter(q["type"] for q in queries)
    summary = {"backend": cfg.backend, "chunks": len(chunks), "queries": len(queries),
               "by_type": dict(by_type),
               "chunks_without_query": len(chunks) - len({q["chunk_id"] for q in queries}),
               "round_trip_failed": sum(not q.get("round_trip_ok", True) for q in queries)}
    write_jsonl(output, queries)
    write_json(report_path(output), {**summary, **qfilter.report(queries), **extra})
    return {**summary, "rejected": sum(sum(v.values()) for v in qfilter.rejected.values()),
            "output": str(output), "report": str(report_path(output))}
