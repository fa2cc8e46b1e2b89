"""Is the run going wrong? Statistics of the outputs, and the warnings a run's log gives.

The answers to the questions users of every pix2pix ask: black or white results (saturation),
all outputs the same (mode collapse), "D loss went to 0" (D has won), "can I stop?" (a plateau of
the validation metric) and a run that suddenly crawls (an input or disk stall). Each warning is
raised once when its condition starts and again only after it cleared; none stops the run.
Thresholds are `config.HealthConfig`, each with why its default.
"""

from __future__ import annotations

import statistics

import numpy as np

from tfpix2pix import config as config_lib

SATURATION_MARGIN = 2 / 127.5  # within 2 of 255 levels of -1 or 1 on the [-1, 1] scale


def output_spread(images: np.ndarray) -> float | None:
    """Mean over pixels of the standard deviation across the batch: how much different inputs' outputs differ.

    `images` are float [batch, H, W, C] in [-1, 1]; None for fewer than two images.
    """
    images = np.asarray(images, np.float32)
    return float(np.mean(np.std(images, axis=0))) if len(images) >= 2 else None


def saturated_share(images: np.ndarray) -> float:
    """The share of output values at -1 or 1 (within `SATURATION_MARGIN`): the black or white results."""
    return float(np.mean(np.abs(np.asarray(images, np.float32)) >= 1.0 - SATURATION_MARGIN))


class HealthMonitor:
    """Watches one run's statistics and returns the warnings that fall due, as lines for the log.

    Args:
        health: the thresholds.
        best_metric: the validation metric of the plateau warning (`train.best_metric`).
        log_every: steps per log interval, named in messages.
    """

    def __init__(self, health: config_lib.HealthConfig, *, best_metric: str = "l1", log_every: int = 50):
        self.health = health
        self.best_metric = best_metric
        self.lower_is_better = config_lib.BEST_METRICS[best_metric] == "lower"
        self.log_every = log_every
        self._active: set[str] = set()
        self._d_won_streak = 0
        self._stall_streak = 0
        self._rates: list[float] = []

    def _edge(self, name: str, condition: bool, message: str) -> list[str]:
        """[message] when `condition` starts to hold; it must clear before the warning comes again."""
        if not condition:
            self._active.discard(name)
            return []
        if name in self._active:
            return []
        self._active.add(name)
        return [message]

    def interval(self, step: int, *, d_loss: float, p_generated: float, images_per_second: float) -> list[str]:
        """The warnings of one log interval: D has won, and a stall. Values are the interval's means."""
        health = self.health
        won = d_loss < health.d_won_loss and p_generated < health.d_won_probability
        self._d_won_streak = self._d_won_streak + 1 if won else 0
        warnings = self._edge(
            "d_won", self._d_won_streak >= health.d_won_intervals,
            f"step {step}: D has won: its loss {d_loss:.3g} and its probability {p_generated:.3g} on generated "
            f"pairs stayed under {health.d_won_loss} and {health.d_won_probability} for {health.d_won_intervals} log "
            f"intervals ({health.d_won_intervals * self.log_every} steps), so G gets almost no GAN signal; its "
            "outputs may be blurry or stop improving (try loss.gan_mode=lsgan or a lower train.learning_rate)")
        # The first interval holds the step's tracing; the median of the others is the run's normal speed.
        reference = statistics.median(self._rates[1:]) if len(self._rates) >= 4 else None
        slow = reference is not None and images_per_second < health.stall_ratio * reference
        self._stall_streak = self._stall_streak + 1 if slow else 0
        if reference is not None:
            warnings += self._edge(
                "stall", self._stall_streak >= health.stall_intervals,
                f"step {step}: training slowed to {images_per_second:.3g} img/s, under {health.stall_ratio:g} x the "
                f"run's median {reference:.3g} img/s, for {health.stall_intervals} log intervals: is the input "
                "pipeline or the disk stalled, or is another program using the cores?")
        self._rates.append(images_per_second)
        return warnings

    def outputs(self, step: int, images: np.ndarray, where: str) -> list[str]:
        """The warnings of a set of generated images (`where`: "val outputs", "sample grid"): collapse, saturation."""
        health, warnings = self.health, []
        spread = output_spread(images)
        if spread is not None:
            warnings += self._edge(
                "collapse", spread < health.collapse_spread,
                f"step {step}: the {where} are nearly the same for different inputs (per-pixel spread {spread:.3g}, "
                f"under {health.collapse_spread}): mode collapse; the generator ignores its input")
        share = saturated_share(images)
        warnings += self._edge(
            "saturated", share > health.saturated_share,
            f"step {step}: {share:.0%} of the {where}' values are at -1 or 1 (over {health.saturated_share:.0%}): the "
            "output is saturated, the black or white results; check the data's value range and the learning rate")
        return warnings

    def validation(self, step: int, history: list[tuple[int, float]]) -> list[str]:
        """The plateau warning, from the (step, best-metric value) of every validation so far, this one last."""
        if not history:
            return []
        pick = min if self.lower_is_better else max
        best_step, best_value = pick(history, key=lambda entry: entry[1])
        since = sum(1 for entry_step, _ in history if entry_step > best_step)
        count = self.health.plateau_evaluations
        return self._edge(
            "plateau", since >= count,
            f"step {step}: val {self.best_metric} has not improved for {since} evaluations; the best is "
            f"{best_value:.4g} at step {best_step} (kept in checkpoints/best/): the run may have converged, "
            "or the generator overfits the training pairs")
