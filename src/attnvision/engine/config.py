"""Typed run configuration: YAML file + dotted ``key=value`` overrides.

A run is described by :class:`Config` (sections :class:`DataConfig`, :class:`ModelConfig`,
:class:`OptimConfig`, :class:`ScheduleConfig`, :class:`TrainConfig`). Every value is
type-checked, unknown keys are rejected by name with close matches, and the resolved
configuration is written next to the results (``config.yaml``) so a run can be repeated.

Example:
    >>> from attnvision.engine.config import load_config
    >>> cfg = load_config(None, ["optim.lr=0.05", "train.epochs=2"])
    >>> cfg.optim.lr, cfg.train.epochs
    (0.05, 2)
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._utils import atomic_write, close_matches


@dataclass
class DataConfig:
    """Dataset section (see :func:`attnvision.data.create_dataset`).

    ``name``: ``digits`` (built-in), ``mnist``, ``cifar10`` or ``folder``; ``root`` the
    folder for real data; ``distortion`` e.g. ``cluttered``; ``options`` extra keyword
    arguments for the dataset; ``limit_train`` / ``limit_test`` keep only the first items
    (0 keeps all); ``val_fraction`` of the training items (drawn with ``seed``) are held
    out as the validation split that scores every epoch and picks ``best.pt`` (0: no
    validation; the last epoch is kept). The test split is scored once, at the end.
    """

    name: str = "digits"
    root: str | None = None
    distortion: str | None = "cluttered"
    seed: int = 0
    batch_size: int = 64
    eval_batch_size: int = 256
    num_workers: int = 0
    limit_train: int = 0
    limit_test: int = 0
    val_fraction: float = 0.1
    copies: int = 1
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """Model section: ``name`` from :func:`attnvision.models.list_models`, ``attention``
    from :func:`attnvision.layers.list_attention` (or ``none``), ``options`` for the builder.
    ``num_classes`` 0 means: take it from the dataset. ``transformer``: put a spatial
    transformer in front of the model (:class:`attnvision.models.spatial.TransformerFront`;
    the mapping holds its options, ``{}`` its defaults, ``identity: true`` the frozen
    control); ``None`` for none."""

    name: str = "cnn"
    attention: str | None = None
    attention_options: dict[str, Any] = field(default_factory=dict)
    num_classes: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    transformer: dict[str, Any] | None = None


@dataclass
class OptimConfig:
    """Optimiser: ``sgd`` (with ``momentum``, ``nesterov``) or ``adamw`` (``betas``)."""

    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = False
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class ScheduleConfig:
    """Learning-rate schedule per step: ``cosine``, ``step`` (``step_epochs``, ``gamma``)
    or ``constant``, after a linear warm-up of ``warmup_epochs`` (fractions allowed)."""

    name: str = "cosine"
    warmup_epochs: float = 0.0
    step_epochs: int = 30
    gamma: float = 0.1
    min_lr: float = 0.0


@dataclass
class TrainConfig:
    """Training loop: ``epochs``; ``label_smoothing``; ``amp`` ``off``/``bf16``/``fp16``
    (GPU only, fp16 with a GradScaler); ``device`` ``auto``/``cpu``/``cuda``; ``seed``;
    ``deterministic`` (torch deterministic algorithms); ``checkpoint_every`` steps (0: only
    at the end of each epoch); ``grad_clip`` (0: off); ``progress`` bar on/off;
    ``dist_timeout`` seconds for collective operations under torchrun;
    ``restart_schedule``: when a resumed run is given more epochs than it was planned
    for, run a fresh schedule (no warm-up) over the added epochs instead of stretching the
    original one; ``channels_last``: keep 4-D weights and image batches in the NHWC memory
    layout, which oneDNN's CPU convolutions, pooling and batch norm run faster than NCHW
    (1.5x per training step of the demo network; BENCHMARKS.md, "The main job"). The
    layout changes the order of floating-point sums, not the function computed."""

    epochs: int = 5
    label_smoothing: float = 0.0
    amp: str = "off"
    device: str = "auto"
    seed: int = 0
    deterministic: bool = True
    checkpoint_every: int = 0
    grad_clip: float = 0.0
    progress: bool = True
    dist_timeout: float = 60.0
    restart_schedule: bool = False
    channels_last: bool = True


@dataclass
class CompareConfig:
    """``attnvision compare`` (see :mod:`attnvision.engine.compare`): the rows in
    ``attention`` (``none``, block names, ``stn``, ``stn_identity``), each trained
    ``seeds`` times with ``train.seed + k``; ``stn_options`` are the
    :class:`~attnvision.layers.stn.SpatialTransformer` options of the ``stn`` rows;
    ``workers`` processes train runs at once (0: one per CPU); ``gallery`` test images in
    the attention-map pictures; ``latency_repeats`` forward passes (batch 1, CPU) per
    latency figure."""

    attention: list[str] = field(
        default_factory=lambda: ["none", "se", "eca", "cbam", "coordatt", "stn", "stn_identity"]
    )
    seeds: int = 3
    workers: int = 0
    stn_options: dict[str, Any] = field(default_factory=dict)
    gallery: int = 6
    latency_repeats: int = 30


@dataclass
class Config:
    """A whole run: ``out`` is the run folder (checkpoints, logs, resolved config).

    In a YAML file a relative ``out`` is relative to the current folder, except ``.``,
    which names the folder of the file itself: a run's saved ``config.yaml`` says
    ``out: .``, so a run folder can be moved or copied and resumed from where it lies.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    out: str = "runs/train"

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML / JSON / checkpoint friendly)."""
        return dataclasses.asdict(self)


_CHOICES: dict[str, tuple[str, ...]] = {
    "optim.name": ("sgd", "adamw"),
    "schedule.name": ("cosine", "step", "constant"),
    "train.amp": ("off", "bf16", "fp16"),
    "train.device": ("auto", "cpu", "cuda"),
}


#: allowed ranges (inclusive; ``None``: open) of numeric keys
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "data.batch_size": (1, None),
    "data.eval_batch_size": (1, None),
    "data.num_workers": (0, None),
    "data.limit_train": (0, None),
    "data.limit_test": (0, None),
    "data.copies": (1, None),
    "model.num_classes": (0, None),
    "optim.lr": (0, None),
    "optim.weight_decay": (0, None),
    "schedule.warmup_epochs": (0, None),
    "schedule.step_epochs": (1, None),
    "schedule.min_lr": (0, None),
    "train.epochs": (1, None),
    "train.label_smoothing": (0, 1),
    "train.checkpoint_every": (0, None),
    "train.grad_clip": (0, None),
    "train.dist_timeout": (1e-3, None),
    "compare.gallery": (0, None),
    "compare.seeds": (1, None),
    "compare.workers": (0, None),
    "compare.latency_repeats": (1, None),
}


def _check_range(key: str, value: Any) -> None:
    if key == "data.val_fraction":
        if not 0.0 <= value < 1.0:
            raise ValueError(f"config key {key!r} expected a fraction in [0, 1), got {value!r}")
        return
    low, high = _RANGES.get(key, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"config key {key!r} expected a value {bounds}, got {value!r}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check_value(key: str, value: Any, tp: Any) -> Any:
    """Return ``value`` converted to ``tp`` or raise ``TypeError`` naming the key."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_value(key, value, arg)
            except TypeError as exc:
                errors.append(str(exc))
        raise TypeError(
            f"config key {key!r} expected {_type_name(tp)}, got {type(value).__name__} {value!r}"
        )
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise TypeError(f"config key {key!r} expected a mapping, got {type(value).__name__}")
        return dict(value)
    if origin is list or tp is list:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"config key {key!r} expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp) or (Any,)
        if item is Any:
            return list(value)
        return [_check_value(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise TypeError(f"config key {key!r} expected bool, got {type(value).__name__} {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError(f"config key {key!r} expected int, got {type(value).__name__} {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError(f"config key {key!r} expected float, got {type(value).__name__} {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise TypeError(f"config key {key!r} expected str, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        where = f"section {prefix.rstrip('.')!r}" if prefix else "the config file"
        raise TypeError(f"{where} expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise ValueError(
                f"unknown config key {prefix + str(key)!r}"
                f"{close_matches(str(key), names)}; expected one of: {', '.join(names)}"
            )
    kwargs = {}
    for name in names:
        if name not in data:
            continue
        tp = hints[name]
        full = prefix + name
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, data[name], full + ".")
        else:
            value = _check_value(full, data[name], tp)
            choices = _CHOICES.get(full)
            if choices and value not in choices:
                raise ValueError(
                    f"config key {full!r} expected one of {', '.join(choices)}, got {value!r}"
                    f"{close_matches(str(value), list(choices))}"
                )
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                _check_range(full, value)
            kwargs[name] = value
    return cls(**kwargs)


def _parse_scalar(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply dotted ``key=value`` overrides (values parsed as YAML scalars) to ``data``.

    Raises:
        ValueError: for an override without ``=``.
    """
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"expected an override of the form key=value, got {item!r}")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"override {key!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = _parse_scalar(text)
    return data


def config_from_dict(data: dict[str, Any]) -> Config:
    """Validate a nested dict into a :class:`Config` (unknown keys and bad types raise)."""
    return _build(Config, data, "")


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> Config:
    """Read a YAML config (or start from ``base`` / the defaults), apply overrides, validate.

    Args:
        path: YAML file; ``None`` uses only ``base`` and overrides.
        overrides: dotted ``key=value`` strings, e.g. ``["optim.lr=0.1", "data.name=mnist"]``.
        base: a starting dict merged under the file's values.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError / TypeError: unreadable YAML, unknown keys, wrong value types.
    """
    import copy

    import yaml

    data: dict[str, Any] = copy.deepcopy(base) if base else {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ValueError(f"config file {p} is not valid YAML: {exc}".splitlines()[0]) from exc
        if not isinstance(loaded, dict):
            raise TypeError(f"config file {p} expected a mapping, got {type(loaded).__name__}")
        if loaded.get("out") == ".":  # a run's own config: the run is the file's folder
            loaded["out"] = str(p.resolve().parent)
        _merge(data, loaded)
    apply_overrides(data, list(overrides or []))
    return config_from_dict(data)


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def save_config(config: Config, path: str | os.PathLike[str]) -> Path:
    """Write the resolved config as YAML, atomically. Saved into its own run folder
    (``config.out``), it says ``out: .`` (see :class:`Config`)."""
    import yaml

    data = config.to_dict()
    if Path(path).resolve().parent == Path(config.out).resolve():
        data["out"] = "."
    with atomic_write(path, "w") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    return Path(path)
