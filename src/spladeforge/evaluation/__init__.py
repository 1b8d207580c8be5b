"""Evaluation on local BEIR folders through MTEB.

- `beir`: load and validate a BEIR folder (`load_beir`, `BeirData`).
- `mteb_task`: `LocalRetrievalTask`, an MTEB retrieval task over that data, no hub access.
- `systems`: `evaluate_model` (any sparse encoder or MTEB search model), `bm25_system`.

Nothing is re-exported here: `mteb_task` and `systems` import MTEB (several seconds), which
`beir` users such as data checks should not pay for.
"""
