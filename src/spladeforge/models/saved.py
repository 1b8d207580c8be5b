"""Load a trained model folder: a saved SparseEncoder plus its `spladeforge.json` sidecar.

The sidecar records what the folder alone does not say: which base model it was trained from
(`base_model`, for the zero-shot comparison) and the `max_seq_length` it was trained with.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from spladeforge.errors import InputError
from spladeforge.io import read_json
from spladeforge.models.build import load_sparse_encoder
from spladeforge.models.builtin import check_weights

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder import SparseEncoder

SIDECAR = "spladeforge.json"
REQUIRED_KEYS = ("base_model", "max_seq_length")


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


def load_base_model(model_dir: str | Path, meta: dict[str, Any], device: str = "cpu") -> SparseEncoder:
    """Load the base model a trained folder started from, as training built it."""
    return load_sparse_encoder(meta["base_model"], max_seq_length=meta["max_seq_length"], device=device,
                               key=f"{Path(model_dir) / SIDECAR}: base_model")
