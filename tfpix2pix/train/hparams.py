"""The run's resolved config as TensorBoard HParams, so runs with different settings compare in its HParams view.

Every config field is one hyperparameter (`train.learning_rate`, `model.norm`, ...); the metrics
are the val/ scalars the run logs, whose last values the HParams view shows per run.
"""

from __future__ import annotations

import dataclasses

from tensorboard.plugins.hparams import api as hp

from tfpix2pix import config as config_lib


def flat_config(config: config_lib.Config) -> dict[str, bool | int | float | str]:
    """`section.field` -> value; None (an unset optional field) becomes the string "None", as HParams takes no None."""
    flat = {}
    for section in dataclasses.fields(config):
        for name, value in dataclasses.asdict(getattr(config, section.name)).items():
            flat[f"{section.name}.{name}"] = "None" if value is None else value
    return flat


def write(writer, config: config_lib.Config, metric_names: tuple[str, ...], *, trial: str) -> None:
    """Writes the HParams experiment (fields and val metrics) and this run's values into `writer`'s folder."""
    values = flat_config(config)
    with writer.as_default():
        hp.hparams_config(hparams=[hp.HParam(name) for name in values],
                          metrics=[hp.Metric(f"val/{name}", display_name=f"val {name}") for name in metric_names])
        hp.hparams(values, trial_id=trial)
    writer.flush()
