"""The health statistics and the warnings' rules: each raised when its condition starts, once, and not otherwise."""

import numpy as np
import pytest

from tfpix2pix import config as config_lib
from tfpix2pix.train.health import HealthMonitor, output_spread, saturated_share

HEALTH = config_lib.HealthConfig()


def test_the_spread_is_zero_for_identical_outputs_and_none_for_one_image():
    same = np.tile(np.linspace(-1, 1, 48, dtype=np.float32).reshape(1, 4, 4, 3), (5, 1, 1, 1))
    assert output_spread(same) == pytest.approx(0.0, abs=1e-6)
    assert output_spread(same[:1]) is None
    different = np.random.default_rng(0).uniform(-1, 1, (5, 4, 4, 3))
    assert output_spread(different) > 0.4


def test_the_saturated_share_counts_values_at_either_end():
    images = np.array([-1.0, 1.0, 0.999, -0.995, 0.0, 0.5, -0.5, 0.9], np.float32).reshape(1, 2, 4, 1)
    assert saturated_share(images) == pytest.approx(4 / 8)


def test_d_has_won_after_k_intervals_in_a_row_once_per_streak():
    monitor = HealthMonitor(HEALTH, log_every=50)
    won = dict(d_loss=0.01, p_generated=0.01, images_per_second=1.0)
    raised = [monitor.interval(50 * i, **won) for i in range(1, HEALTH.d_won_intervals + 4)]
    assert [bool(lines) for lines in raised] == [False] * (HEALTH.d_won_intervals - 1) + [True] + [False] * 3
    assert "D has won" in raised[HEALTH.d_won_intervals - 1][0]
    # A healthy interval breaks the streak; the warning comes again only after K more.
    assert monitor.interval(1000, d_loss=0.5, p_generated=0.4, images_per_second=1.0) == []
    again = [monitor.interval(1050 + 50 * i, **won) for i in range(HEALTH.d_won_intervals)]
    assert [bool(lines) for lines in again] == [False] * (HEALTH.d_won_intervals - 1) + [True]


def test_a_low_loss_with_d_still_fooled_is_not_d_winning():
    monitor = HealthMonitor(HEALTH)
    for step in range(10):
        assert monitor.interval(step, d_loss=0.01, p_generated=0.3, images_per_second=1.0) == []


def test_a_stall_is_several_intervals_under_half_the_median_and_the_first_interval_does_not_count():
    monitor = HealthMonitor(HEALTH)
    healthy = dict(d_loss=0.5, p_generated=0.4)
    # The first interval (tracing) is slow; it is neither a stall nor part of the reference.
    for rate in (0.1, 1.0, 1.1, 0.9, 1.0):
        assert monitor.interval(0, images_per_second=rate, **healthy) == []
    slow = [monitor.interval(0, images_per_second=0.3, **healthy) for _ in range(HEALTH.stall_intervals)]
    assert [bool(lines) for lines in slow] == [False] * (HEALTH.stall_intervals - 1) + [True]
    assert "slowed to 0.3 img/s" in slow[-1][0]
    assert monitor.interval(0, images_per_second=0.45, **healthy) == []  # still slow: said once
    assert monitor.interval(0, images_per_second=1.0, **healthy) == []


def test_one_slow_interval_is_a_hiccup():
    monitor = HealthMonitor(HEALTH)
    for rate in (0.1, 1.0, 1.0, 1.0, 0.2, 1.0, 0.2, 1.0):
        assert monitor.interval(0, d_loss=0.5, p_generated=0.4, images_per_second=rate) == []


def test_collapse_and_saturation_are_raised_by_such_outputs_and_not_by_varied_ones():
    monitor = HealthMonitor(HEALTH)
    rng = np.random.default_rng(0)
    varied = rng.uniform(-0.8, 0.8, (6, 16, 16, 3)).astype(np.float32)
    assert monitor.outputs(100, varied, "val outputs") == []
    constant = np.full((6, 16, 16, 3), 0.2, np.float32)
    (collapse,) = monitor.outputs(200, constant, "val outputs")
    assert "mode collapse" in collapse and "step 200" in collapse
    black = np.full((6, 16, 16, 3), -1.0, np.float32) + rng.uniform(0, 0.001, (6, 16, 16, 3)).astype(np.float32)
    (saturated,) = monitor.outputs(300, black, "val outputs")  # collapse is still on: said once
    assert "saturated" in saturated and "100%" in saturated
    assert monitor.outputs(400, varied, "val outputs") == []


def test_label_map_outputs_with_pure_colors_are_not_saturated():
    # Facades' palette has about 2/3 of its channel values at 0 or 255.
    palette = np.array([[0, 0, 170], [0, 0, 255], [255, 85, 0], [0, 255, 255]], np.float32) / 127.5 - 1
    labels = palette[np.random.default_rng(0).integers(0, 4, (4, 16, 16))]
    assert saturated_share(labels) > 0.5
    assert HealthMonitor(HEALTH).outputs(0, labels, "val outputs") == []


@pytest.mark.parametrize("metric, values", [("l1", [5.0, 4.0] + [4.5] * 10), ("psnr", [20.0, 21.0] + [20.5] * 10)])
def test_a_plateau_is_m_evaluations_without_a_better_value_and_names_the_best_step(metric, values):
    monitor = HealthMonitor(HEALTH, best_metric=metric)
    history, raised = [], []
    for index, value in enumerate(values):
        history.append((100 * (index + 1), value))
        raised.append(monitor.validation(100 * (index + 1), history))
    count = HEALTH.plateau_evaluations
    assert [bool(lines) for lines in raised] == [False] * (1 + count) + [True]
    assert f"best is {values[1]:.4g} at step 200" in raised[-1][0]
    history.append((1300, 1.0 if metric == "l1" else 30.0))  # a new best ends the plateau
    assert monitor.validation(1300, history) == []
