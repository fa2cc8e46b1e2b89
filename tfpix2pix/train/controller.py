"""The loop around the train step: restore, then step, log, draw samples and save at their intervals.

The shape is orbit's `Controller`: state comes in keyword-only and is restored in the
constructor; `train(until_step)` runs to a global step. Every interval is decided by `is_due`.
"""

from __future__ import annotations

import functools
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from tfpix2pix import config as config_lib, workdir as workdir_lib
from tfpix2pix.progress import Progress
from tfpix2pix.train import checkpoints, samples, strategy as strategy_lib
from tfpix2pix.train.build import TrainingState


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
class Progressed:
    """Where `Controller.train` stopped: the step, the last losses and images/s of the last log window."""

    step: int
    losses: dict[str, float]
    images_per_second: float
    checkpoint: str | None


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
        workdir: the run's work dir, named in messages.
        log: where one-line notes go.
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
        self._window_start, self._window_steps = time.perf_counter(), 0
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
        return Progressed(step=self.step, losses=self._losses, images_per_second=self._rate,
                          checkpoint=self.last_saved)

    def _batches(self, epoch: int, start_step: int):
        """The distributed batches of `epoch` from its step `start_step` (a function of the seed only)."""
        one_epoch = functools.partial(self.dataset, epoch=epoch, start_step=start_step)
        return strategy_lib.distribute(self.state.trainer.strategy, one_epoch,
                                       global_batch_size=self.train_config.batch_size)

    def _train_step(self, inputs) -> int:
        """One step, then whatever falls due at the new step; returns it."""
        step = self.state.step
        current = int(step.numpy())
        outputs = self.state.trainer.train_step(tf.constant(current, tf.int64), inputs)
        losses = {name: float(value) for name, value in outputs.items()}
        self._check_finite(losses, current + 1)
        step.assign_add(1)
        current += 1
        self._losses = losses
        self._window_steps += 1
        config, total = self.train_config, self.total_steps
        if is_due(current, config.log_every, total):
            self._log(current)
        if self.sample_batch is not None and is_due(current, config.sample_every, total):
            samples.write_samples(self.state.trainer.generator, self.sample_batch, current, self.places.samples,
                                  self.writer)
        if is_due(current, config.save_every, total):
            self._save(current)
        return current

    def _log(self, step: int) -> None:
        elapsed = time.perf_counter() - self._window_start
        self._rate = self._window_steps * self.train_config.batch_size / max(elapsed, 1e-9)
        self._window_start, self._window_steps = time.perf_counter(), 0
        with self.writer.as_default(step=step):
            for name, value in self._losses.items():
                tf.summary.scalar(f"loss/{name}", value)
            tf.summary.scalar("learning_rate", float(self.state.schedule(step)))
            tf.summary.scalar("images_per_second", self._rate)

    def _save(self, step: int) -> str:
        self.last_saved = checkpoints.save(self.manager, self.state.checkpoint, step, self.train_config, self.places)
        return self.last_saved

    def _check_finite(self, losses: dict[str, float], step: int) -> None:
        for name, value in losses.items():
            if not math.isfinite(value):
                kept = f"; the last good checkpoint {self.last_saved} is untouched" if self.last_saved else ""
                raise RuntimeError(f"non-finite loss {name}={value} at step {step}: training stopped{kept}")
