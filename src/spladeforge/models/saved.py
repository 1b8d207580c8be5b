"""Load a trained model folder: a saved SparseEncoder plus its `spladeforge.json` sidecar.

The sidecar records what the folder alone does not say: which base model it was trained from
(`base_model`, for the zero-shot comparison), the architecture, the `max_seq_length` and the
`train` section it was trained with. `reference/initial_weights.safetensors` holds what training
added to the base model before the first step (an inference-free model's IDF query weights, a CSR
model's freshly initialised autoencoder), so `load_base_model` rebuilds the untrained model of
the same architecture: the reference evaluate scores as `base` and the gate compares a first
version with.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from spladeforge.config import TrainConfig
from spladeforge.errors import InputError
from spladeforge.io import read_json
from spladeforge.models.architectures import build_model
from spladeforge.models.build import is_sparse_encoder_folder, load_sparse_encoder
from spladeforge.models.builtin import check_weights, resolve_model

if TYPE_CHECKING:
    import torch
    from sentence_transformers.sparse_encoder import SparseEncoder

SIDECAR = "spladeforge.json"
REQUIRED_KEYS = ("base_model", "max_seq_length")
REFERENCE_WEIGHTS = "reference/initial_weights.safetensors"


def read_sidecar(model_dir: str | Path) -> dict[str, Any]:
    """Return the sidecar of a model folder; InputError if the folder or a key is missing."""
    model_dir = Path(model_dir)
    path = model_dir / SIDECAR
    if not (model_dir / "modules.json").is_file():
        raise InputError(f"{model_dir}: not a saved SparseEncoder folder (no modules.json); "
                         "expected the output folder of `spladeforge train`")
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise InputError(f"{path}: expected a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise InputError(f"{path}: missing key(s) {', '.join(missing)} "
                         f"(a sidecar holds at least {', '.join(REQUIRED_KEYS)})")
    if not isinstance(meta["max_seq_length"], int) or meta["max_seq_length"] < 1:
        raise InputError(f"{path}: max_seq_length must be a positive integer, got {meta['max_seq_length']!r}")
    return meta


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


def check_model_files(model_dir: str | Path) -> None:
    """InputError naming what is missing when a model folder is incomplete (a failed copy or
    sync): every module folder that `modules.json` lists, and at least one weights file."""
    model_dir = Path(model_dir)
    modules = read_json(model_dir / "modules.json")
    if not isinstance(modules, list):
        raise InputError(f"{model_dir / 'modules.json'}: expected a JSON list of modules")
    missing = [f"{entry.get('path')}/" for entry in modules
               if isinstance(entry, dict) and entry.get("path") and not (model_dir / entry["path"]).is_dir()]
    if not any(p.suffix in WEIGHT_SUFFIXES for p in model_dir.rglob("*") if p.is_file()):
        missing.append(f"a weights file ({', '.join('*' + s for s in WEIGHT_SUFFIXES)})")
    if missing:
        raise InputError(f"{model_dir}: incomplete model folder, missing {', '.join(missing)} "
                         "(expected the whole output folder of `spladeforge train`)")
    check_weights(model_dir, str(model_dir))


def load_saved_model(model_dir: str | Path, device: str = "cpu") -> tuple[SparseEncoder, dict[str, Any]]:
    """Load the SparseEncoder in `model_dir` with its training max_seq_length, and its sidecar."""
    meta = read_sidecar(model_dir)
    model = load_sparse_encoder(str(Path(model_dir).resolve()), max_seq_length=meta["max_seq_length"],
                                device=device, key=str(Path(model_dir)))
    return model, meta


def write_initial_weights(model_dir: str | Path, weights: dict[str, torch.Tensor]) -> str | None:
    """Save `architectures.initial_weights` in the model folder; the relative path, or None if empty."""
    if not weights:
        return None
    from safetensors.torch import save_file

    path = Path(model_dir) / REFERENCE_WEIGHTS
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in weights.items()}, str(path))
    return REFERENCE_WEIGHTS


def load_base_model(model_dir: str | Path, meta: dict[str, Any], device: str = "cpu") -> SparseEncoder:
    """The untrained model a trained folder started from, as training built it.

    SPLADE: the base model. Inference-free: the IDF-query Router over the base document model.
    CSR: the base dense model with the autoencoder as it was initialised. A base model that is
    itself a saved SparseEncoder of that architecture is loaded as it is.
    """
    key = f"{Path(model_dir) / SIDECAR}: base_model"
    architecture = meta.get("architecture", "splade")
    if architecture == "splade" or is_sparse_encoder_folder(resolve_model(meta["base_model"], key=key)):
        return load_sparse_encoder(meta["base_model"], max_seq_length=meta["max_seq_length"], device=device,
                                   key=key)
    sidecar = Path(model_dir) / SIDECAR
    if not isinstance(meta.get("train"), dict):
        raise InputError(f"{sidecar}: a {architecture} model needs its `train` section to rebuild the "
                         "untrained reference (retrain it with this version of spladeforge)")
    weights = Path(model_dir) / REFERENCE_WEIGHTS
    if not weights.is_file():
        raise InputError(f"{weights}: not found; a {architecture} model's reference needs the weights "
                         "training started from (retrain it with this version of spladeforge)")
    from safetensors.torch import load_file

    cfg = TrainConfig.model_validate({**meta["train"], "max_seq_length": meta["max_seq_length"]})
    return build_model(cfg, device, [], initial=load_file(str(weights)))


def training_reason(sidecar: dict, reason: str) -> dict[str, str]:
    """train's one-line decision; a gate reason opens with it when train shipped the base's weights."""
    line = sidecar.get("decision")
    opened = {"reason": f"train {line}; {reason}"} if line and sidecar.get("kept") == "initial" else {}
    return {"train_decision": line, **opened} if line else {}
