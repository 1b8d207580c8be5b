"""Data-parallel training: `train.processes: N` reruns the same `train.run` under torchrun.

Each process trains on its share of every batch (DDP; NCCL on GPUs, gloo on CPU); process 0
alone writes the model, the curves and the summary, which the launching process reads back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from spladeforge.config import TrainConfig
from spladeforge.errors import SpladeforgeError


def inside_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def launch(cfg: TrainConfig, **paths: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="spladeforge-ddp-") as tmp:
        request = Path(tmp) / "request.json"
        result = Path(tmp) / "result.json"
        request.write_text(json.dumps({"cfg": cfg.model_dump(mode="json"), "result": str(result),
                                       **{k: str(v) if isinstance(v, Path) else v for k, v in paths.items()}}))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={cfg.processes}", "-m", "spladeforge.training.launch", str(request)]
        proc = subprocess.run(cmd)
        if proc.returncode != 0 or not result.is_file():
            raise SpladeforgeError(f"data-parallel training with {cfg.processes} processes failed "
                                   f"(exit {proc.returncode}); see the log above")
        return json.loads(result.read_text())


def _worker(request_path: str) -> None:
    from spladeforge.stages import train

    request = json.loads(Path(request_path).read_text())
    cfg = TrainConfig.model_validate(request.pop("cfg"))
    result = Path(request.pop("result"))
    provenance = request.pop("provenance", None)
    seed = request.pop("seed")
    paths = {k: Path(v) if v is not None else None for k, v in request.items()}
    summary = train.run(cfg, seed=seed, provenance=provenance, **paths)
    if is_main_process():
        result.write_text(json.dumps(summary))


if __name__ == "__main__":
    _worker(sys.argv[1])
