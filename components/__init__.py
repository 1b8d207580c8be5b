"""Kubeflow components: one per stage, each a thin wrapper around `stages.<stage>.run`.

The wrappers are plain functions (testable directly); `build(image, gpu_image, gpu)` turns them into
KFP components running in the project's images, with nothing installed at run time.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from kfp import dsl

from spladeforge.components.data import chunk, generate_queries, ingest, mine, mine_shard, split
from spladeforge.components.evaluate import encode_shard, evaluate, quantize
from spladeforge.components.params import check_params
from spladeforge.components.release import promote, promoted, publish, register
from spladeforge.components.train import train

# One per dvc.yaml stage; `mine` collects the `mine_shard` fan-out.
STAGES = (ingest, chunk, generate_queries, split, mine, train, evaluate, quantize, register, publish)
# Not stages of their own: the up-front validation of every section, the shard tasks of the two
# fan-outs, the gate's verdict for dsl.If and the champion move inside it.
HELPERS = (check_params, mine_shard, encode_shard, promoted, promote)

__all__ = ["Components", "STAGES", "build"]


@dataclass(frozen=True)
class Components:
    check_params: dsl.PythonComponent
    ingest: dsl.PythonComponent
    chunk: dsl.PythonComponent
    generate_queries: dsl.PythonComponent
    split: dsl.PythonComponent
    mine_shard: dsl.PythonComponent
    mine: dsl.PythonComponent
    train: dsl.PythonComponent
    encode_shard: dsl.PythonComponent
    evaluate: dsl.PythonComponent
    quantize: dsl.PythonComponent
    register: dsl.PythonComponent
    promoted: dsl.PythonComponent
    promote: dsl.PythonComponent
    publish: dsl.PythonComponent


def build(image: str, gpu_image: str | None = None, gpu: Collection[str] = ("train",)) -> Components:
    """The stage components in `image`; the tasks named in `gpu` (DAG names, e.g. `encode-shard`)
    in `gpu_image`, the CUDA build, when given: the CPU image's torch cannot use a GPU."""
    made = {}
    for func in (*HELPERS, *STAGES):
        on_gpu = func.__name__.replace("_", "-") in gpu
        base = gpu_image if on_gpu and gpu_image else image
        # install_kfp_package=False: the image already holds kfp; a pod never runs pip.
        made[func.__name__] = dsl.component(func, base_image=base, install_kfp_package=False)
    return Components(**made)
