"""The model registry for `register`.

- `policy`: the promotion rule (pure); `evidence`: the paired bootstrap over queries;
- `reference`: the champion scored again on this run's sets (or the base model); `gate`: one
  candidate's decision from those;
- `store`: the MLflow run, version and aliases; `tracking`, `champion` (moves and rollback),
  `provenance`, `pyfunc`.
"""

from __future__ import annotations

from spladeforge.registry.policy import CHALLENGER, CHAMPION, NDCG_TAG, Decision, decide

__all__ = ["CHALLENGER", "CHAMPION", "NDCG_TAG", "Decision", "decide"]
