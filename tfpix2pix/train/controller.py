"""The loop around the train step: restore, then step, log, draw samples, validate and save at their intervals.

The shape is orbit's `Controller`: state and an evaluator come in keyword-only, the state is
restored in the constructor; `train(until_step)` runs to a global step. Every interval is decided
by `is_due`. Health statistics and warnings are `health.py`; the validations' record `history.py`.
"""

from __future__ import annotations

import functools
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from tfpix2pix import config as config_lib, workdir as workdir_lib
from tfpix2pix.progress import Progress
from tfpix2pix.train import checkpoints, health as health_lib, history as history_lib, samples, strategy as strategy_lib
from tfpix2pix.train.build import TrainingState
from tfpix2pix.train.trainer import D_HEALTH_NAMES, GRADIENT_NORM_NAMES, LOSS_NAMES


def is_due(step: int, every: int, total: int) -> bool:
    """True at each `every`-th global step and at the last one (big_vision's `itstime`)."""
    return step % every == 0 or step == total


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was saved at `step` before stopping."""

    def __init__(self, signal_number: int, step: int, path: str):
        super().__init__(f"stopped by signal {signal_number} at step {step}; checkpoint saved to {path}")
        self.signal_number = signal_number


class _SignalFlag:
    """Records SIGINT/SIGTERM instead of dying mid-step; the loop saves, then stops."""

    def __init__(self):
        self.received = None
        self._previous = {}

    def __enter__(self):
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number, frame):
        self.received = number

    def __exit__(self, *exc):
        for number, handler in self._previous.items():
            signal.signal(number, handler)


@dataclass(frozen=True)
class Validation:
    """What an evaluator returns: the val metrics (`metrics.SetScores.mean`) and the generated images.

    Attributes:
        metrics: metric name -> mean over the val pairs, and `count`.
        generated: float [pairs, H, W, 3] in [-1, 1], for the collapse and saturation checks.
    """

    metrics: dict
    generated: object


@dataclass(frozen=True)
class Progressed:
    """Where `Controller.train` stopped.

    Attributes:
        step, losses, images_per_second, checkpoint: the step reached, the loss parts of its last step,
            images/s of the last log window and the newest checkpoint.
        validation: the last validation's line of metrics.jsonl (None: no validation ran).
        best: the best validation so far (None: none).
        warnings: the warnings raised in this call, as logged.
    """

    step: int
    losses: dict[str, float]
    images_per_second: float
    checkpoint: str | None
    validation: dict | None = None
    best: dict | None = None
    warnings: tuple[str, ...] = ()


class Controller:
    """Owns the intervals of one run; the step itself is `state.trainer.train_step`.

    Args:
        state: trainer, checkpoint, global step and lr schedule (`build.build_training`).
        train_config: the intervals (log_every, sample_every, save_every) and what to keep.
        places: where this worker writes and restores from (`checkpoints.destinations`).
        dataset: `dataset(epoch=, start_step=, num_pipelines=, pipeline_index=)` -> one input
            pipeline's share of an epoch's training batches from a step (`pipeline.training_dataset`
            with the run's data settings bound).
        steps_per_epoch: global steps per epoch.
        total_steps: the run's last step, at which every interval fires.
        sample_batch: the fixed pairs of the sample grids, or None (a non-chief worker draws none).
        workers: agreement and barriers between workers (`strategy.WorkerSync`).
        workdir: the run's work dir, named in messages; the chief writes metrics.jsonl into it.
        evaluator: `evaluator(generator, step) -> Validation` over the val split, or None for none
            (`tfpix2pix.evaluate.validation.Validator`; the chief alone calls it).
        eval_every: steps between validations (`config.eval_interval`); 0 is none.
        health: the warnings' thresholds.
        log: where one-line notes and warnings go.
    """

    def __init__(
        self,
        *,
        state: TrainingState,
        train_config: config_lib.TrainConfig,
        places: checkpoints.Destinations,
        dataset: Callable[..., tf.data.Dataset],
        steps_per_epoch: int,
        total_steps: int,
        sample_batch,
        workers: strategy_lib.WorkerSync,
        workdir: str,
        evaluator: Callable[..., Validation] | None = None,
        eval_every: int = 0,
        health: config_lib.HealthConfig = config_lib.HealthConfig(),
        log: Callable[[str], None] = print,
    ):
        self.state = state
        self.train_config = train_config
        self.places = places
        self.dataset = dataset
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps
        self.sample_batch = sample_batch
        self.workers = workers
        # Every worker restores the chief's checkpoint: a non-chief's own saves are scratch. The chief,
        # the run's one writer, repairs an unusable index first, so the manager below reads a good one.
        self.restored = workdir_lib.restore_latest(state.checkpoint, places.restore_from, repair=places.is_chief,
                                                   log=log)
        self.manager = checkpoints.checkpoint_manager(state.checkpoint, places.checkpoints, train_config)
        self.last_saved = self.restored
        workers.check_same_step(self.step, workdir)
        if self.restored:
            log(f"resumed from {self.restored} at step {self.step} (epoch {self.step // steps_per_epoch})")
        self.writer = tf.summary.create_file_writer(places.logs)
        self.log = log
        self.evaluator = evaluator
        self.eval_every = eval_every if evaluator is not None else 0
        self.monitor = health_lib.HealthMonitor(health, best_metric=train_config.best_metric,
                                                log_every=train_config.log_every)
        self.lower_is_better = config_lib.BEST_METRICS[train_config.best_metric] == "lower"
        self.history = (history_lib.MetricsHistory(workdir_lib.metrics_path(workdir), restored_step=self.step, log=log)
                        if self.eval_every and places.is_chief else None)
        # Every worker takes part in a save (it may run collectives); only the chief's is kept.
        trainer = state.trainer
        self.best = checkpoints.BestCheckpoint(
            os.path.join(places.checkpoints, workdir_lib.BEST), generator=trainer.generator,
            discriminator=trainer.discriminator, step=state.step) if self.eval_every else None
        self._progress = None

    @property
    def step(self) -> int:
        return int(self.state.step.numpy())

    def train(self, until_step: int, *, interactive: bool | None = None) -> Progressed:
        """Trains from the restored step to `until_step`; saves and raises `Interrupted` on SIGINT/SIGTERM."""
        start = self.step
        progress = Progress(until_step - start, description=f"train from step {start}" if start else "train",
                            unit="step", interactive=interactive, every=self.train_config.log_every)
        self._losses: dict[str, float] = {}
        self._rate = 0.0
        self._validation = None
        self._warnings: list[str] = []
        self._progress = progress
        self._start_window()
        with _SignalFlag() as flag, progress, strategy_lib.peer_failures(
                self.state.step, lambda: self.last_saved, self.workers):
            while self.step < until_step:
                epoch, in_epoch = divmod(self.step, self.steps_per_epoch)
                for inputs in self._batches(epoch, in_epoch):
                    if self.step >= until_step:
                        break
                    current = self._train_step(inputs)
                    progress.update(1, step=current, epoch=current / self.steps_per_epoch,
                                    d=self._losses["d_total"], g_gan=self._losses["g_gan"],
                                    g_l1=self._losses["g_l1"], img_s=self._rate)
                    # Workers stop together: a save and the next step are collectives for all of them.
                    # A signal on the last step needs nothing more: the run is complete and saved.
                    if self.workers.any(flag.received is not None) and current < until_step:
                        saved_now = is_due(current, self.train_config.save_every, self.total_steps)
                        path = self.last_saved if saved_now else self._save(current)
                        self.writer.flush()
                        raise Interrupted(flag.received or signal.SIGTERM, current, path)
            self.workers.sum([0])  # a barrier: the chief, which hosts the coordination service, ends last
        self.writer.flush()
        self._progress = None
        return Progressed(step=self.step, losses=self._losses, images_per_second=self._rate,
                          checkpoint=self.last_saved, validation=self._validation, best=self._best_so_far(),
                          warnings=tuple(self._warnings))

    def _batches(self, epoch: int, start_step: int):
        """The distributed batches of `epoch` from its step `start_step` (a function of the seed only)."""
        one_epoch = functools.partial(self.dataset, epoch=epoch, start_step=start_step)
        return strategy_lib.distribute(self.state.trainer.strategy, one_epoch,
                                       global_batch_size=self.train_config.batch_size)

    def _start_window(self) -> None:
        """A new log window: its sums of the per-step values, its steps, and its time spent outside steps."""
        self._window_start, self._window_steps, self._window_chores = time.perf_counter(), 0, 0.0
        self._window_sums = dict.fromkeys(LOSS_NAMES + D_HEALTH_NAMES, 0.0)

    def _train_step(self, inputs) -> int:
        """One step, then whatever falls due at the new step; returns it."""
        step = self.state.step
        current = int(step.numpy())
        config, total = self.train_config, self.total_steps
        # The step before a log also measures the gradients' norms (a second graph, run at log steps only).
        with_norms = is_due(current + 1, config.log_every, total)
        outputs = self.state.trainer.train_step(tf.constant(current, tf.int64), inputs, with_norms)
        values = {name: float(value) for name, value in outputs.items()}
        losses = {name: values[name] for name in LOSS_NAMES}
        self._check_finite(losses, current + 1)
        step.assign_add(1)
        current += 1
        self._losses = losses
        self._window_steps += 1
        for name in self._window_sums:
            self._window_sums[name] += values[name]
        chores_start = time.perf_counter()
        if is_due(current, config.log_every, total):
            self._log(current, {name: values[name] for name in GRADIENT_NORM_NAMES if name in values})
        if self.sample_batch is not None and is_due(current, config.sample_every, total):
            _, generated = samples.write_samples(self.state.trainer.generator, self.sample_batch, current,
                                                 self.places.samples, self.writer)
            if not self.eval_every:  # with validation, its outputs are the better view
                self._warn(current, self.monitor.outputs(current, generated, "sample grid outputs"))
        if self.eval_every and is_due(current, self.eval_every, total):
            self._validate(current)
        if is_due(current, config.save_every, total):
            self._save(current)
        self._window_chores += time.perf_counter() - chores_start
        return current

    def _log(self, step: int, norms: dict[str, float]) -> None:
        # Images/s of the steps alone: the window's time less its samples, validations and saves.
        elapsed = time.perf_counter() - self._window_start - self._window_chores
        self._rate = self._window_steps * self.train_config.batch_size / max(elapsed, 1e-9)
        means = {name: total / max(self._window_steps, 1) for name, total in self._window_sums.items()}
        self._start_window()
        with self.writer.as_default(step=step):
            for name, value in self._losses.items():
                tf.summary.scalar(f"loss/{name}", value)
            tf.summary.scalar("learning_rate", float(self.state.schedule(step)))
            tf.summary.scalar("images_per_second", self._rate)
            # D's probabilities and accuracy are the window's means; the gradient norms this step's.
            for name in D_HEALTH_NAMES:
                tf.summary.scalar(f"health/{name}", means[name])
            for name, value in norms.items():
                tf.summary.scalar(f"health/{name}", value)
        if self.places.is_chief:
            self._warn(step, self.monitor.interval(step, d_loss=means["d_total"], p_generated=means["p_generated"],
                                                   images_per_second=self._rate))

    def _validate(self, step: int) -> None:
        """The chief scores the val pairs; then every worker saves the best checkpoint if this step is the best."""
        metric = self.train_config.best_metric
        is_best, value = False, math.nan
        if self.places.is_chief:
            previous = self._best_so_far()
            started = time.perf_counter()
            result = self.evaluator(self.state.trainer.generator, step)
            entry = {"step": step, **result.metrics, "seconds": round(time.perf_counter() - started, 3)}
            self.history.add(entry)
            self._validation = entry
            with self.writer.as_default(step=step):
                for name, number in result.metrics.items():
                    if name != "count" and isinstance(number, float) and math.isfinite(number):
                        tf.summary.scalar(f"val/{name}", number)
            value = float(result.metrics[metric])
            is_best = math.isfinite(value) and (previous is None or (
                value < previous[metric] if self.lower_is_better else value > previous[metric]))
            self._warn(step, self.monitor.outputs(step, result.generated, "val outputs"))
            self._warn(step, self.monitor.validation(step, self.history.values(metric)))
        if self.workers.any(is_best):
            self.best.save(step, metric, value)

    def _best_so_far(self) -> dict | None:
        if self.history is None:
            return None
        return history_lib.best(self.history.entries, self.train_config.best_metric, self.lower_is_better)

    def _warn(self, step: int, lines: list[str]) -> None:
        """Each warning as one log line and a TensorBoard text summary; never a stop."""
        for line in lines:
            if self._progress is not None:
                self._progress.clear()
            self.log(f"warning: {line}")
            self._warnings.append(line)
            with self.writer.as_default(step=step):
                tf.summary.text("warnings", line)

    def _save(self, step: int) -> str:
        self.last_saved = checkpoints.save(self.manager, self.state.checkpoint, step, self.train_config, self.places)
        return self.last_saved

    def _check_finite(self, losses: dict[str, float], step: int) -> None:
        for name, value in losses.items():
            if not math.isfinite(value):
                kept = f"; the last good checkpoint {self.last_saved} is untouched" if self.last_saved else ""
                raise RuntimeError(f"non-finite loss {name}={value} at step {step}: training stopped{kept}")
