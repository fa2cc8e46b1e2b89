"""Adam with one fused kernel per variable (TensorFlow's ResourceApplyAdam).

Keras 3's Adam updates each variable with about ten separate element-wise ops, each reading and
writing the whole tensor; for the 57M-parameter pix2pix models that took about a fifth of a CPU
training step. ResourceApplyAdam does the same arithmetic in one multithreaded pass:

    m <- m + (g - m)(1 - beta_1);  v <- v + (g^2 - v)(1 - beta_2)
    var <- var - lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)

which is exactly `keras.optimizers.Adam.update_step`. Slots, step counter, schedules, loss
scaling and checkpoints are Keras' own: only the update kernel changes.
"""

import keras
import tensorflow as tf


def _tf_variable(variable):
    return variable.value if isinstance(variable, keras.Variable) else variable


@keras.saving.register_keras_serializable(package="tfpix2pix")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose per-variable update is a single fused TensorFlow kernel."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        m = _tf_variable(self._momentums[index])
        v = _tf_variable(self._velocities[index])
        variable = _tf_variable(variable)
        dtype = variable.dtype
        local_step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.handle, v=v.handle,
            beta1_power=tf.pow(beta_1, local_step), beta2_power=tf.pow(beta_2, local_step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype), use_locking=False,
        )


def adam(learning_rate, *, beta_1: float, beta_2: float = 0.999, precision: str = "float32"):
    """The training optimizer: FusedAdam (1.24x faster steps, PERFORMANCE.md), loss-scaled for float16."""
    optimizer = FusedAdam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2)
    if precision == "mixed_float16":
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range and needs none.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
