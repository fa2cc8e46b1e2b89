"""Each warning raised by a real run built to trigger it, and none by a healthy one (tiny models, 32 px)."""

import time

import keras
import tensorflow as tf

from tests.train import runs
from tfpix2pix.evaluate.validation import Validator


def warnings_of(config, tmp_path, **changes):
    notes = []
    progressed = runs.run(config, str(tmp_path / "run"), evaluator=Validator(config, log=notes.append),
                          log=notes.append, **changes)
    logged = [note for note in notes if note.startswith("warning:")]
    assert [f"warning: {line}" for line in progressed.warnings] == logged  # each one is one log line
    return progressed.warnings


def test_a_healthy_tiny_run_raises_no_warning(tmp_path):
    assert warnings_of(runs.tiny("train.steps=60"), tmp_path) == ()


def test_a_generator_forced_to_a_constant_output_raises_collapse_and_then_a_plateau(tmp_path):
    def constant_output(state):
        layer = runs.output_layer(state.trainer.generator)
        kernel, bias = layer.weights
        kernel.assign(tf.zeros_like(kernel))
        bias.assign(tf.fill(bias.shape, 0.3))

    # A learning rate near 0 keeps the output constant: every validation scores the same.
    config = runs.tiny("train.steps=30", "train.learning_rate=1e-12", "health.plateau_evaluations=2")
    raised = warnings_of(config, tmp_path, edit=constant_output)
    assert any("mode collapse" in line and line.startswith("step 10:") for line in raised), raised
    assert any("has not improved for 2 evaluations" in line and "at step 10" in line for line in raised), raised
    assert not any("saturated" in line for line in raised)


def test_a_saturating_tanh_input_raises_saturation(tmp_path):
    def saturate(state):
        kernel = runs.output_layer(state.trainer.generator).weights[0]
        kernel.assign(kernel * 1000.0)

    raised = warnings_of(runs.tiny("train.steps=10", "train.learning_rate=1e-12"), tmp_path, edit=saturate)
    assert any("saturated" in line and line.startswith("step 10:") for line in raised), raised


def test_a_discriminator_with_a_much_higher_learning_rate_wins_and_is_reported(tmp_path):
    def fast_discriminator(state):
        trainer = state.trainer
        trainer.discriminator_optimizer = keras.optimizers.Adam(5e-3, beta_1=0.5)  # 2,500x the generator's
        trainer.build_optimizers()

    config = runs.tiny("train.steps=300", "train.learning_rate=2e-6", "train.eval_every=0", "health.d_won_intervals=3")
    raised = warnings_of(config, tmp_path, edit=fast_discriminator)
    assert any("D has won" in line for line in raised), raised


def test_an_input_pipeline_that_slows_down_is_reported_as_a_stall(tmp_path):
    served = []

    def slow_after_40(*pair):
        served.append(None)
        if len(served) > 40:
            time.sleep(0.25)
        return pair

    def wrap(dataset):
        specs = dataset.element_spec
        slowed = dataset.map(lambda a, b: tf.numpy_function(slow_after_40, [a, b], [tf.float32, tf.float32],
                                                            stateful=True))
        return slowed.map(lambda a, b: (tf.ensure_shape(a, specs[0].shape), tf.ensure_shape(b, specs[1].shape)))

    # A 0.25 s sleep per image is ~15x slower than a tiny step; a ratio of 0.2 keeps a loaded CI machine's 2x
    # swings (an epoch's start, another process) from counting as a stall before the real one.
    config = runs.tiny("train.steps=70", "train.eval_every=0", "health.stall_ratio=0.2")
    raised = warnings_of(config, tmp_path, wrap_dataset=wrap)
    stalls = [int(line.split(":")[0].removeprefix("step ")) for line in raised if "slowed to" in line]
    assert len(stalls) == 1 and stalls[0] > 40, raised
