"""Training engine: typed config, fit / evaluate loop, checkpoints, distributed, costs.

Example:
    >>> from attnvision.engine import load_config, fit  # doctest: +SKIP
    >>> result = fit(load_config("configs/digits_cnn.yaml", ["train.epochs=1"]))  # doctest: +SKIP
"""

from __future__ import annotations

from .bench import bench, count_flops, count_params, measure_latency, profile
from .checkpoint import (
    CHECKPOINT_NAME,
    FORMAT_VERSION,
    LoadedRun,
    load_checkpoint,
    load_model_state,
    load_run,
    save_checkpoint,
)
from .config import (
    Config,
    DataConfig,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    load_config,
    save_config,
)
from .data import build_datasets, build_model
from .distributed import DistributedError
from .fit import fit
from .trainer import FitResult, evaluate

__all__ = [
    "CHECKPOINT_NAME",
    "FORMAT_VERSION",
    "LoadedRun",
    "bench",
    "load_run",
    "Config",
    "DataConfig",
    "DistributedError",
    "FitResult",
    "ModelConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "apply_overrides",
    "build_datasets",
    "build_model",
    "config_from_dict",
    "count_flops",
    "count_params",
    "evaluate",
    "fit",
    "load_checkpoint",
    "load_config",
    "load_model_state",
    "measure_latency",
    "profile",
    "save_checkpoint",
    "save_config",
]
