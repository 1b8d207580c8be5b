"""One process of a data-parallel training run, started by torchrun from `training.launch`.

Every process fits; process 0 then saves the outputs and writes the summary where the launching
process reads it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from spladeforge.config import TrainConfig
from spladeforge.training.fit import fit
from spladeforge.training.outputs import save_outputs


def main(request_path: str) -> None:
    request = json.loads(Path(request_path).read_text())
    cfg = TrainConfig.model_validate(request["cfg"])
    output, reports, checkpoints = Path(request["output"]), Path(request["reports"]), Path(request["checkpoints"])
    seed, provenance = request["seed"], request["provenance"] or {}
    result = fit(cfg, Path(request["tuples_path"]), Path(request["dev_dir"]), seed,
                 checkpoints=checkpoints, provenance=provenance, tensorboard_dir=reports.parent / "tensorboard")
    if result.is_main_process:
        summary = save_outputs(result, cfg, output=output, reports=reports, checkpoints=checkpoints, seed=seed,
                               provenance=provenance)
        Path(request["result"]).write_text(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1])
