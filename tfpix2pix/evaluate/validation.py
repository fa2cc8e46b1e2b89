"""Validation while a run trains: the generator over the first val pairs, scored as `tfpix2pix test` scores them.

`train` calls a `Validator` every `train.eval_every` steps (the controller's evaluator). It runs
the generator as `test` does (deterministic, `runners.KerasRunner`, one pair at a time) and scores
with the same `metrics.SetScores`, so the last line of metrics.jsonl equals what `test` reports
for that checkpoint on those pairs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfpix2pix import config as config_lib
from tfpix2pix.data import pipeline, sources
from tfpix2pix.errors import UsageError
from tfpix2pix.evaluate import metrics, results
from tfpix2pix.inference import runners
from tfpix2pix.models.generator import required_multiple
from tfpix2pix.train.controller import Validation

IMAGE_METRICS = ("l1", "psnr", "ssim")
LABEL_METRICS = ("pixel_accuracy", "class_accuracy", "class_iou")


class Validator:
    """The first `train.eval_images` pairs of the val split, decoded once, and how to score a generator on them.

    A run without a val split gets an empty validator (falsy): one note says so, and it trains on.
    Unusable val files are named once and left out, as `test` does. The pairs are read on first
    use (`train` asks once its strategy exists); the config is checked at once.

    Raises:
        UsageError: `train.best_metric` is a label score but the run's outputs are not label maps.
    """

    def __init__(self, config: config_lib.Config, *, log=print):
        data = config.data
        self.config = config
        self.palette = results.label_palette(data)
        self.metric_names = IMAGE_METRICS + (LABEL_METRICS if self.palette else ())
        metric = config.train.best_metric
        if metric not in self.metric_names:
            raise UsageError(f"train.best_metric={metric} needs label-map outputs (photo -> labels on a dataset with "
                             f"a palette); this run's val metrics are {', '.join(self.metric_names)}")
        self._log = log
        self._pairs: list[tuple[np.ndarray, np.ndarray]] | None = None

    @property
    def pairs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The decoded pairs, read on first use: after `train` has made its strategy, which
        MultiWorkerMirroredStrategy needs before TensorFlow starts (tf.data would start it)."""
        if self._pairs is None:
            self._pairs = self._read_pairs()
        return self._pairs

    def _read_pairs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        data, log = self.config.data, self._log
        if not sources.has_split(data, "val"):
            log("note: no val split: training without validation metrics or a best checkpoint")
            return []
        val = sources.split_sources(dataclasses.replace(data, skip_bad=True), "val", image_size=data.image_size,
                                    log=log, download=False)[:self.config.train.eval_images]
        dataset = pipeline.evaluation_dataset(val, direction=data.direction, image_size=data.image_size, batch_size=1)
        pairs = [(input_image.numpy(), target.numpy()) for input_image, target in dataset]
        if not pairs:
            log("note: the val split has no usable pairs: training without validation metrics or a best checkpoint")
        return pairs

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def __call__(self, generator, step: int) -> Validation:
        """Scores `generator` (the live training model) on the pairs."""
        size, model = self.config.data.image_size, self.config.model
        # As `test`: the decoder in phase form, one graph; its phase kernels are copied now, from this step.
        runner = runners.KerasRunner(generator, multiple=required_multiple(model.generator, size), image_size=size,
                                     norm=model.norm)
        scores, outputs = metrics.SetScores(self.palette), []
        for input_image, target in self.pairs:
            generated = runner.run(input_image)
            outputs.append(generated[0])
            scores.add(pipeline.to_uint8(generated[0]).numpy(), pipeline.to_uint8(target[0]).numpy())
        return Validation(metrics=scores.mean(), generated=np.stack(outputs))
