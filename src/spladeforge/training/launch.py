"""Data-parallel training: `train.processes: N` runs the training in N processes under torchrun.

Each process trains on its share of every batch (DDP; NCCL on GPUs, gloo on CPU). The launching
process only writes the request and starts torchrun on `training.worker`; process 0 alone writes
the model, the curves and the summary, which the launching process reads back. The launching
process needs neither torch nor sentence-transformers, which is why the worker is its own module.
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

WORKER = "spladeforge.training.worker"


def inside_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def launch(cfg: TrainConfig, *, tuples_path: Path, dev_dir: Path, output: Path, reports: Path,
           seed: int, checkpoints: Path, provenance: dict[str, Any] | None) -> dict[str, Any]:
    """Run `training.worker` in `cfg.processes` processes; return process 0's summary."""
    with tempfile.TemporaryDirectory(prefix="spladeforge-ddp-") as tmp:
        request = Path(tmp) / "request.json"
        result = Path(tmp) / "result.json"
        request.write_text(json.dumps({
            "cfg": cfg.model_dump(mode="json"), "result": str(result), "tuples_path": str(tuples_path),
            "dev_dir": str(dev_dir), "output": str(output), "reports": str(reports),
            "seed": seed, "checkpoints": str(checkpoints), "provenance": provenance}))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={cfg.processes}", "-m", WORKER, str(request)]
        proc = subprocess.run(cmd)
        if proc.returncode != 0 or not result.is_file():
            raise SpladeforgeError(f"data-parallel training with {cfg.processes} processes failed "
                                   f"(exit {proc.returncode}); see the log above")
        return json.loads(result.read_text())
