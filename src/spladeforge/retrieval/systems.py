"""Load the model behind each search system name, as evaluate loads it, with its index cache key.

- `model`: the trained SparseEncoder folder (models/splade), its training max_seq_length, the
  fused head when `evaluate.fused_head` (same outputs, faster document encoding);
- `base`: the untrained model it started from (`models.saved.load_base_model`), or
  `train.base_model` when there is no trained model yet;
- `int8` or any folder holding an ONNX export: `OnnxSparseEncoder` (onnxruntime; an
  inference-free export's queries are a lookup in its idf.json);
- `champion`: the registry's champion version, downloaded with `registry.reference.download_model`;
- `dense`: `evaluate.dense_model`, truncated to the trained model's max_seq_length as evaluate does.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spladeforge.config import Params, load_params
from spladeforge.errors import ConfigError, InputError
from spladeforge.models.builtin import resolve_model
from spladeforge.retrieval.index_cache import model_key

PARAMS_FILE = Path("params.yaml")


@dataclass(frozen=True)
class SparseModel:
    """A loaded sparse encoder and what the index cache and the term explanation need of it."""

    encoder: Any  # SparseEncoder or OnnxSparseEncoder
    key: str  # the index cache's model key
    source: str  # where it came from, for messages and the cache's meta.json
    tokenizer: Any
    latent: bool = False  # CSR: dimensions are autoencoder latents, not vocabulary tokens
    static_queries: Any = None  # StaticQueryEncoder for an inference-free model's query side
    batch_size: int = 32


def default_params() -> Params:
    """params.yaml of the working directory when there is one, else the defaults."""
    return load_params(PARAMS_FILE) if PARAMS_FILE.is_file() else Params()


def _tokenizer(model: Any) -> Any:
    try:
        return model.tokenizer
    except AttributeError:  # a Router without a shared tokenizer: take the document route's
        from spladeforge.models.onnx_export import document_modules

        return getattr(document_modules(model)[0], "tokenizer", None)


def _is_latent(model: Any) -> bool:
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    from spladeforge.models.onnx_export import document_modules

    modules = document_modules(model)
    return bool(modules) and isinstance(modules[-1], SparseAutoEncoder)


def _wrap(model: Any, key: str, source: str, batch_size: int, fused_head: bool) -> SparseModel:
    from spladeforge.models.fused_head import enable_fused_head
    from spladeforge.models.static_query import StaticQueryEncoder, has_static_queries

    if fused_head:
        enable_fused_head(model)
    static = StaticQueryEncoder(model) if has_static_queries(model) else None
    return SparseModel(model, key, source, _tokenizer(model), _is_latent(model), static, batch_size)


def _hub_path(ref: str) -> str | None:
    """The local snapshot folder of a cached hub id, to hash its files."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(ref, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached / not a hub id: keyed by its name instead
        return None


def _ref_key(ref: str, key: str, *extra: object) -> str:
    path = resolve_model(ref, key=key)
    folder = path if Path(path).exists() else _hub_path(path)
    if folder is None:
        import hashlib

        return hashlib.sha256("\x1f".join(["hub", path, *map(str, extra)]).encode()).hexdigest()
    return model_key(folder, *extra)


def _missing_model(model_dir: Path) -> InputError:
    return InputError(f"{model_dir}: no trained model here (train one with `dvc repro`, or pass --model with "
                      "a model folder, builtin:splade-tiny, base, champion, int8 or bm25)")


def saved_model(model_dir: Path, batch_size: int, *, fused_head: bool = True) -> SparseModel:
    """The trained SparseEncoder folder with its spladeforge.json sidecar."""
    from spladeforge.models.saved import load_saved_model

    if not Path(model_dir).is_dir():
        raise _missing_model(model_dir)
    model, meta = load_saved_model(model_dir)
    return _wrap(model, model_key(model_dir), str(model_dir), batch_size, fused_head)


def base_model(model_dir: Path, params: Params, batch_size: int) -> SparseModel:
    """The base the trained model started from; `train.base_model` when nothing is trained yet."""
    from spladeforge.models.build import load_sparse_encoder
    from spladeforge.models.saved import SIDECAR, load_base_model, read_sidecar

    fused = params.evaluate.fused_head
    if (Path(model_dir) / SIDECAR).is_file():
        meta = read_sidecar(model_dir)
        architecture = meta.get("architecture", "splade")
        key_name = f"{Path(model_dir) / SIDECAR}: base_model"
        if architecture == "splade":
            key = _ref_key(meta["base_model"], key_name, "base", meta["max_seq_length"])
        else:  # rebuilt from the folder's reference weights and train section
            key = model_key(model_dir, "base", architecture)
        model = load_base_model(model_dir, meta)
        return _wrap(model, key, f"base of {model_dir} ({meta['base_model']})", batch_size, fused)
    ref, length = params.train.base_model, params.train.max_seq_length
    model = load_sparse_encoder(ref, max_seq_length=length)
    return _wrap(model, _ref_key(ref, "train.base_model", "base", length), ref, batch_size, fused)


def onnx_model(folder: Path, batch_size: int, *, key: str = "model", threads: int | None = None) -> SparseModel:
    """An ONNX export (`spladeforge quantize`'s folder, or `export_onnx`'s) through onnxruntime
    (`threads`: its intra-op threads, default onnxruntime's: one per core)."""
    from spladeforge.models.onnx_encoder import OnnxSparseEncoder
    from spladeforge.models.onnx_export import SIDECAR

    folder = Path(folder)
    if not (folder / SIDECAR).is_file():
        raise InputError(f"{folder}: no INT8 ONNX export here (expected {folder / SIDECAR}; the quantize stage "
                         f"writes it: run `dvc repro quantize`, or pass another --{key})")
    encoder = OnnxSparseEncoder(folder, threads=threads)
    latent = encoder.meta.get("output") == "latent"
    return SparseModel(encoder, model_key(folder), str(folder), encoder.tokenizer, latent, None, batch_size)


def folder_model(folder: Path, batch_size: int, *, fused_head: bool = True) -> SparseModel:
    """Any model: a SparseEncoder folder (sidecar optional), an ONNX export, or builtin:<name>."""
    from spladeforge.models.build import is_sparse_encoder_folder, load_sparse_encoder
    from spladeforge.models.onnx_export import SIDECAR as ONNX_SIDECAR
    from spladeforge.models.saved import SIDECAR, load_saved_model

    text = str(folder)
    if text.startswith("builtin:"):
        model = load_sparse_encoder(text, key="--model")
        return _wrap(model, _ref_key(text, "--model"), text, batch_size, fused_head)
    if not folder.is_dir():
        raise InputError(f"--model {text}: no such folder (accepted: model, base, champion, int8, bm25, dense, "
                         "builtin:<name>, or a model folder)")
    if (folder / ONNX_SIDECAR).is_file() and any(folder.glob("*.onnx")):
        return onnx_model(folder, batch_size)
    if (folder / SIDECAR).is_file():
        model, _ = load_saved_model(folder)
        return _wrap(model, model_key(folder), text, batch_size, fused_head)
    if is_sparse_encoder_folder(str(folder)):
        model = load_sparse_encoder(str(folder), key="--model")
        return _wrap(model, model_key(folder), text, batch_size, fused_head)
    raise InputError(f"--model {text}: not a sparse model folder (expected a saved SparseEncoder with "
                     "modules.json, or an ONNX export with spladeforge.json and a .onnx file)")


def dense_encoder(params: Params, model_dir: Path) -> tuple[Any, str, str]:
    """(SentenceTransformer, cache key, source) of `evaluate.dense_model`."""
    from spladeforge.models.build import load_dense_encoder
    from spladeforge.models.saved import SIDECAR, read_sidecar

    ref = params.evaluate.dense_model
    if not ref:
        raise ConfigError("evaluate.dense_model: null, so there is no dense system (set a model, e.g. "
                          "builtin:minilm-l6)")
    encoder = load_dense_encoder(ref, key="evaluate.dense_model")
    if (Path(model_dir) / SIDECAR).is_file():
        length = read_sidecar(model_dir)["max_seq_length"]
        encoder.max_seq_length = min(encoder.max_seq_length or length, length)
    return encoder, _ref_key(ref, "evaluate.dense_model", "dense", encoder.max_seq_length), ref


def champion_model(params: Params, batch_size: int) -> SparseModel:
    """The champion version of `register.model_name`, downloaded from the registry and loaded."""
    from spladeforge.registry.reference import download_model
    from spladeforge.registry.store import find_champion
    from spladeforge.registry.tracking import HttpBudget, resolve_tracking_uri, tracking_session

    cfg = params.register
    uri = resolve_tracking_uri(cfg.tracking_uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise InputError(f"register.tracking_uri: {uri.removeprefix('sqlite:///')} does not exist, so there is no "
                         "registry and no champion (the register stage creates it: run `dvc repro`)")
    tmp = Path(tempfile.mkdtemp(prefix="spladeforge-champion-"))
    try:
        with tracking_session(cfg.tracking_uri, HttpBudget.of(cfg)):
            from mlflow import MlflowClient

            champion = find_champion(MlflowClient(), cfg.model_name)
            if champion is None:
                raise InputError(f"register.model_name: {cfg.model_name!r} has no champion version in the registry "
                                 "yet (register promotes one when a model passes the gate; `spladeforge registry "
                                 "list` shows the versions)")
            version = champion.version
            folder = download_model(cfg.model_name, version, tmp)
        model = folder_model(folder, batch_size, fused_head=params.evaluate.fused_head)
        return SparseModel(model.encoder, model.key, f"champion v{version} of {cfg.model_name}", model.tokenizer,
                           model.latent, model.static_queries, batch_size)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
