"""The model card (README.md) of an exported model, in the Hugging Face Hub's format.

YAML front matter (library, tags, base model) for the Hub's widgets and search, then what a user
needs to trust and use the model: how it scored against its base model and BM25, what it was
trained on and with, its INT8 variant, and a snippet that loads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from spladeforge.redaction import redact_params, redact_text

SYSTEMS = (("model", "This model"), ("base", "Base model"), ("bm25", "BM25"))
# Shown first, in this order; any other `<system>_<metric>` key in metrics.json follows.
KEY_METRICS = ("ndcg_at_10", "mrr_at_10", "recall_at_100", "query_active_dims", "doc_active_dims")
_UPPER = {"ndcg": "NDCG", "mrr": "MRR", "map": "MAP", "recall": "Recall", "precision": "Precision"}
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
DATA_SECTIONS = ("data", "chunk", "generate_queries", "split", "mine")


def metric_label(name: str) -> str:
    """`ndcg_at_10` -> `NDCG@10`, `doc_active_dims` -> `Doc active dims`."""
    match = re.fullmatch(r"([a-z]+)_at_(\d+)", name)
    if match:
        return f"{_UPPER.get(match[1], match[1])}@{match[2]}"
    return name.replace("_", " ").capitalize()


def _fmt(value: Any) -> str:
    """Table cell: metrics to four places (so a column compares), settings as written."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, str):
        return value.replace("|", "\\|").replace("\n", " ")
    return _fmt(json.dumps(value))


def _fmt_setting(value: Any) -> str:
    return _fmt(f"{value:g}" if isinstance(value, float) else value)


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]], fmt=_fmt) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def evaluation_table(metrics: Mapping[str, Any]) -> str:
    """Rows: metrics; columns: the trained model, the base model, BM25 (– where not measured)."""
    prefixes = tuple(f"{system}_" for system, _ in SYSTEMS)
    found = {key.split("_", 1)[1] for key in metrics if key.startswith(prefixes)}
    names = [m for m in KEY_METRICS if m in found] + sorted(found - set(KEY_METRICS))
    def cell(name: str, value: Any) -> Any:
        return f"{value:.1f}" if name.endswith("_dims") and isinstance(value, float) else value

    rows = [
        (metric_label(name), *(cell(name, metrics.get(f"{system}_{name}")) for system, _ in SYSTEMS))
        for name in names
    ]
    return _table(("Metric", *(label for _, label in SYSTEMS)), rows)


def _flat(section: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in section.items():
        if isinstance(value, Mapping) and value:
            rows += _flat(value, f"{prefix}{key}.")
        else:
            rows.append((f"`{prefix}{key}`", value))
    return rows


# What a text becomes, by `train.architecture`.
DESCRIPTIONS = {
    "splade": "A SPLADE sparse retrieval model",
    "inference-free": "An inference-free SPLADE sparse retrieval model (documents through a masked-LM, "
                      "queries through a learned token-weight table, no model at query time)",
    "csr": "A CSR sparse retrieval model (a dense encoder followed by a sparse autoencoder; its "
           "dimensions are autoencoder latents, not vocabulary terms)",
}


def _front_matter(base_model: str | None, architecture: str = "splade") -> str:
    meta: dict[str, Any] = {
        "library_name": "sentence-transformers",
        "pipeline_tag": "feature-extraction",
        "tags": ["sentence-transformers", "sparse-encoder", "csr" if architecture == "csr" else "splade",
                 "sparse"],
    }
    if base_model and _HUB_ID.match(base_model):
        meta["base_model"] = base_model  # the Hub links only real repo ids, not builtin:/paths
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n"


def _int8_section(quantize: Mapping[str, Any] | None, int8: Mapping[str, Any]) -> str:
    status = ("Included in `onnx-int8/`" if int8["included"] else "Not included") + f": {int8['reason']}."
    if not quantize:
        return f"## INT8 ONNX\n\n{status}\n"
    sizes = (f"{quantize[k] / 2**20:.1f}" if k in quantize else None
             for k in ("fp32_size_bytes", "int8_size_bytes"))
    rows = [
        ("NDCG@10", quantize.get("fp32_ndcg_at_10"), quantize.get("int8_ndcg_at_10")),
        ("Size (MiB)", *sizes),
    ]
    if "pruned_int8_ndcg_at_10" in quantize:  # quantize.prune_vocabulary
        pruned_size = quantize.get("pruned_int8_size_bytes")
        rows.append(("Pruned INT8 NDCG@10", None, quantize["pruned_int8_ndcg_at_10"]))
        rows.append(("Pruned INT8 size (MiB)", None,
                     f"{pruned_size / 2**20:.1f}" if pruned_size is not None else None))
    facts = []
    if "pruned_encode_speed_ratio" in quantize:
        facts.append(f"the vocabulary-pruned INT8 model ({int(quantize.get('pruned_vocab_size', 0))} "
                     f"tokens) encodes {quantize['pruned_encode_speed_ratio']:.2f}x the speed of fp32")
    if "ndcg_at_10_change" in quantize:
        facts.append(f"NDCG@10 change {quantize['ndcg_at_10_change']:+.4f}")
    if "encode_speed_ratio" in quantize:
        facts.append(f"encoding {quantize['encode_speed_ratio']:.2f}x the speed of fp32")
    return (
        "## INT8 ONNX\n\n" + _table(("", "fp32", "INT8"), rows) + "\n\n"
        + (", ".join(facts) + ". " if facts else "") + status + "\n"
    )


def _gate_section(decision: Mapping[str, Any]) -> str:
    """How the gate decided: the gain over the reference with its interval, on which set."""
    interval = decision.get("interval")
    reference = decision.get("reference", "the reference")
    if interval:
        text = (f"Against {reference}, scored in the same run on the same {interval['queries']} queries: mean "
                f"NDCG@10 gain {interval['mean_delta']:+.4f}, {interval['confidence']:.0%} interval "
                f"[{interval['low']:+.4f}, {interval['high']:+.4f}] (paired bootstrap over queries, "
                f"{interval['samples']} resamples). The gate promotes only when the interval's lower end "
                "is above `register.min_delta`.")
    elif decision.get("stale_reference"):
        text = (f"Against {reference}'s recorded figure (its model could not be scored in this run, "
                "`register.allow_stale_reference`): no interval, and the two figures come from different sets.")
    else:
        return ""
    digest = decision.get("candidate_set_sha256")
    if digest:
        text += f" Set sha256 `{digest[:16]}`."
    guards = decision.get("guards") or []
    if guards:
        text += " Guards: " + "; ".join(f"{g['metric']} {g['candidate']:.4f} against {g['reference']:.4f} "
                                         f"(max drop {g['max_drop']:g})" for g in guards) + "."
    return "## Promotion evidence\n\n" + text + "\n"


def _usage(model_ref: str) -> str:
    return f"""## Usage

```python
from sentence_transformers import SparseEncoder

model = SparseEncoder("{model_ref}")
queries = model.encode_query(["how do I decode a json string"])
documents = model.encode_document(["The json module decodes JSON text into Python objects."])
print(model.similarity(queries, documents))
print(model.decode(queries[0], top_k=10))  # the query's heaviest vocabulary terms
```
"""


def render_card(
    *,
    decision: Mapping[str, Any],
    metrics: Mapping[str, Any],
    sidecar: Mapping[str, Any],
    params: Mapping[str, Any] | None,
    quantize: Mapping[str, Any] | None,
    int8: Mapping[str, Any],
    model_ref: str,
) -> str:
    """The card of a promoted model. Training parameters and data provenance come from the
    model's `spladeforge.json` sidecar, else from the run configuration; every value shown passes
    through `redaction` (the card is pushed to the Hub as the model folder's README.md)."""
    params = redact_params(params or {})
    sidecar = redact_params(sidecar)
    base = sidecar.get("base_model") or params.get("train", {}).get("base_model")
    train = sidecar.get("train") or params.get("train") or {}
    data = sidecar.get("data") or {k: params[k] for k in DATA_SECTIONS if k in params}
    name, version = decision["model_name"], decision["version"]
    architecture = sidecar.get("architecture", "splade")
    parts = [
        _front_matter(base, architecture),
        f"# {name} v{version}\n",
        f"{DESCRIPTIONS.get(architecture, DESCRIPTIONS['splade'])} (sentence-transformers `SparseEncoder`, "
        f"architecture `{architecture}`) fine-tuned from `{base}` by spladeforge. Each text becomes a "
        f"sparse weighted vector that an inverted index can search.\n",
        f"Promoted to `champion` of MLflow model `{name}`: {redact_text(str(decision['reason']))}.\n",
        "## Evaluation\n",
        (f"On {int(metrics['num_queries'])} test queries, searched against the whole chunk corpus. "
         if "num_queries" in metrics else "")
        + "Active dims: non-zero weights per text (fewer is cheaper to index and search).\n",
        evaluation_table(metrics) + "\n",
        _gate_section(decision),
        _int8_section(quantize, int8),
        "## Training\n",
        (_table(("Parameter", "Value"), _flat(train), _fmt_setting) if train else "Not recorded.") + "\n",
        "## Data\n",
        (_table(("Setting", "Value"), _flat(data), _fmt_setting) if data else "Not recorded.") + "\n",
        _usage(model_ref),
        "## Provenance\n",
        f"MLflow run `{decision.get('run_id')}`, registered model `{name}` version {version}; "
        f"model folder sha256 `{decision.get('model_sha256', 'not recorded')}`.\n",
    ]
    return "\n".join(parts)


def render_not_promoted(decision: Mapping[str, Any]) -> str:
    """The note left in the export folder when the gate kept the champion."""
    champion = decision.get("champion_version")
    # `candidate_value`/`reference_value` since the gate metric became configurable; the older
    # `*_ndcg_at_10` keys are still read from decisions written before.
    rows = [
        ("Candidate", f"v{decision['version']}",
         decision.get("candidate_value", decision.get("candidate_ndcg_at_10"))),
        ("Reference", decision.get("reference", "–"),
         decision.get("reference_value", decision.get("reference_ndcg_at_10"))),
    ]
    metric = metric_label(decision.get("metric", "model_ndcg_at_10").removeprefix("model_"))
    return (
        f"# {decision['model_name']} v{decision['version']}: not promoted\n\n"
        f"Nothing was exported: {decision['reason']}.\n\n"
        + _table(("", "Version", metric), rows) + "\n\n"
        + (f"The champion is still v{champion}.\n" if champion else "There is no champion yet.\n")
    )
