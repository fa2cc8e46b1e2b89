"""Learning-rate schedule: constant, then linear decay to zero (§3.3, the authors' 100 + 100 epochs)."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfpix2pix")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`initial` for `constant_steps`, then linear decay reaching zero after `decay_steps` more.

    A function of the optimizer's own step counter, which the checkpoint restores, so a resumed
    run continues the schedule exactly where it stopped.
    """

    def __init__(self, initial: float, constant_steps: int, decay_steps: int):
        self.initial = float(initial)
        self.constant_steps = int(constant_steps)
        self.decay_steps = int(decay_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        if self.decay_steps <= 0:
            return tf.constant(self.initial, tf.float32)
        progress = tf.clip_by_value((step - self.constant_steps) / float(self.decay_steps), 0.0, 1.0)
        return self.initial * (1.0 - progress)

    def get_config(self):
        return {"initial": self.initial, "constant_steps": self.constant_steps, "decay_steps": self.decay_steps}
