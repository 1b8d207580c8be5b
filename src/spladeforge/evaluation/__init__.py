"""Evaluation on local BEIR folders and named MTEB tasks, scored by MTEB.

- `beir`: load and validate a BEIR folder (`load_beir`, `BeirData`).
- `mteb_task`: `LocalRetrievalTask`, an MTEB retrieval task over that data, no hub access.
- `tasks`: the tasks of one run (held-out, `evaluate.beir_datasets`, `evaluate.mteb_tasks`).
- `systems`: `evaluate_model` (any sparse encoder or MTEB search model), `bm25_system`, and
  `build_systems`, the line-up an evaluate run compares.
- `search`: MTEB search models over spladeforge's indexes (`IndexedSearch`) and their hybrid.
- `compare`: every system on every task (`evaluate_all`), with latency and active dimensions.
- `metrics`: the flat metrics.json; `report`: report.md, plots, the baseline comparison.
- `embeddings`: document vectors encoded in shards, the file format between the Kubeflow fan-out
  and evaluate.
- `fusion`: min-max score fusion; `efficiency`: active dims, sparsity, FLOPS, latency.
- `error_analysis`: the worst queries; `quantized`: what INT8 costs against fp32.

Nothing is re-exported here: `mteb_task`, `systems`, `search`, `compare` and `quantized` import
MTEB (several seconds), which `beir` users such as data checks should not pay for.
"""
