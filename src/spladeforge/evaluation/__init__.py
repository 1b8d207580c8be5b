"""Evaluation on local BEIR folders and named MTEB tasks, scored by MTEB.

- `beir`: load and validate a BEIR folder (`load_beir`, `BeirData`).
- `mteb_task`: `LocalRetrievalTask`, an MTEB retrieval task over that data, no hub access.
- `tasks`: the tasks of one run (held-out, `evaluate.beir_datasets`, `evaluate.mteb_tasks`).
- `systems`: `evaluate_model` (any sparse encoder or MTEB search model), `bm25_system`.
- `search`: MTEB search models over spladeforge's indexes (`IndexedSearch`) and their hybrid.
- `fusion`: min-max score fusion; `efficiency`: active dims, sparsity, FLOPS, latency.
- `errors`: the worst queries; `report`: report tables, plots, baseline comparison.

Nothing is re-exported here: `mteb_task`, `systems` and `search` import MTEB (several seconds),
which `beir` users such as data checks should not pay for.
"""
