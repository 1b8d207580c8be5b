"""Queries from a transformers text-to-text model (doc2query; Nogueira & Lin, 2019).

Any `AutoModelForSeq2SeqLM` works: a doc2query T5 from the Hub (e.g.
`doc2query/msmarco-t5-base-v1`, with HF_HUB_OFFLINE=0) or a local folder. Chunks are encoded
in batches and `num_return_sequences` queries are sampled per chunk with the top-k / top-p /
temperature in params; the torch generator is seeded, so a rerun on the same machine repeats.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tqdm import tqdm

from spladeforge.config import GenerateQueriesConfig, Seq2SeqConfig
from spladeforge.errors import ConfigError
from spladeforge.models.build import resolve_device
from spladeforge.models.builtin import resolve_model
from spladeforge.querygen.filters import QueryFilter
from spladeforge.querygen.records import query_record
from spladeforge.text import passage


class Seq2SeqGenerator:
    def __init__(self, cfg: Seq2SeqConfig, seed: int) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.cfg = cfg
        self.seed = seed
        self.torch = torch
        ref = resolve_model(cfg.model or "", key="generate_queries.seq2seq.model")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(ref)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(ref)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"generate_queries.seq2seq.model: cannot load {cfg.model!r} as a "
                              f"text-to-text model ({exc})") from None
        self.device = resolve_device(cfg.device)
        self.model.to(self.device).eval()

    def generate(self, chunks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], list[str]]]:
        """Yield (chunk, sampled queries) for every chunk, batch by batch."""
        cfg = self.cfg
        torch = self.torch
        generator_seed = self.seed
        for lo in range(0, len(chunks), cfg.batch_size):
            batch = chunks[lo: lo + cfg.batch_size]
            inputs = self.tokenizer([cfg.prefix + passage(c) for c in batch], truncation=True,
                                    max_length=cfg.max_input_tokens, padding=True, return_tensors="pt")
            inputs.pop("token_type_ids", None)  # BERT-style tokenizers add it; T5 does not take it
            torch.manual_seed(generator_seed + lo)
            with torch.inference_mode():
                out = self.model.generate(
                    **inputs.to(self.device), max_new_tokens=cfg.max_new_tokens, do_sample=cfg.do_sample,
                    top_k=cfg.top_k, top_p=cfg.top_p, temperature=cfg.temperature,
                    num_return_sequences=cfg.num_return_sequences,
                )
            texts = self.tokenizer.batch_decode(out, skip_special_tokens=True)
            n = cfg.num_return_sequences
            for i, chunk in enumerate(batch):
                yield chunk, [" ".join(t.split()) for t in texts[i * n:(i + 1) * n]]


def seq2seq_queries(cfg: GenerateQueriesConfig, chunks: list[dict[str, Any]], seed: int,
                    qfilter: QueryFilter) -> list[dict[str, Any]]:
    """Up to `queries_per_chunk` sampled queries per chunk (type `natural`) that pass the filters."""
    generator = Seq2SeqGenerator(cfg.seq2seq, seed)
    queries = []
    for chunk, candidates in tqdm(generator.generate(chunks), total=len(chunks), desc="generate-queries",
                                  unit=" chunks"):
        kept = [t for t in candidates if qfilter.accept(t, "natural", chunk)][: cfg.queries_per_chunk]
        queries.extend(query_record(chunk, n, t, "natural", "seq2seq") for n, t in enumerate(kept))
    return queries
