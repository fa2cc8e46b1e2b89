"""The pix2pix train step: one discriminator update, then one generator update, per batch (§3.1)."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfpix2pix.models import losses
from tfpix2pix.models.generator import dropout_seed_states

LOSS_NAMES = ("d_total", "d_real", "d_generated", "g_total", "g_gan", "g_l1")
# Every step: D's mean probability of "real" on real and on generated pairs, and its patch accuracy.
D_HEALTH_NAMES = ("p_real", "p_generated", "d_accuracy")
# Steps run with `health=True` (the log steps) also return the gradients' global norms.
GRADIENT_NORM_NAMES = ("g_gradient_norm", "d_gradient_norm")


def per_example_normalization(model: keras.Model) -> bool:
    """True when no layer of `model` mixes the examples of a batch (no batch normalization)."""
    return not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


class Trainer:
    """Holds the models, their optimizers and the distribution strategy; runs train steps.

    Everything is injected: the trainer knows nothing about configs, files or the CLI. Create
    models and optimizers inside `strategy.scope()` before passing them in.
    """

    def __init__(
        self,
        *,
        generator: keras.Model,
        discriminator: keras.Model,
        generator_optimizer: keras.optimizers.Optimizer,
        discriminator_optimizer: keras.optimizers.Optimizer,
        strategy: tf.distribute.Strategy,
        global_batch_size: int,
        gan_mode: str = "vanilla",
        l1_weight: float = 100.0,
        dropout_seed: int = 0,
        jit_compile: bool = False,
        merge_discriminator_passes: bool = False,
    ):
        self.generator = generator
        self.discriminator = discriminator
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.strategy = strategy
        self.global_batch_size = global_batch_size
        self.gan_mode = gan_mode
        self.l1_weight = l1_weight
        self.dropout_seed = dropout_seed
        self._dropout_states = dropout_seed_states(generator)
        if merge_discriminator_passes and not per_example_normalization(discriminator):
            raise ValueError("merge_discriminator_passes needs a discriminator without batch normalization")
        self.merge_discriminator_passes = merge_discriminator_passes
        # No tensor-dependent Python control flow in the step (`health` is a Python bool), so no
        # AutoGraph: tracing skips its source conversion, about 0.5 s off every run's start.
        self._replica_step = tf.function(self._replica_step_eager, jit_compile=jit_compile, autograph=False)
        self.train_step = tf.function(self._distributed_step, autograph=False)

    def build_optimizers(self) -> None:
        """Creates the optimizers' slot variables now, so a checkpoint restores into them exactly."""
        with self.strategy.scope():
            self.generator_optimizer.build(self.generator.trainable_variables)
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def _average(self, per_example):
        # Under a strategy each replica sees global_batch / replicas examples and the gradients of
        # the replicas are summed. Dividing the per-example sum by the *global* batch size makes
        # that sum the gradient of the global mean loss, whatever the replica count.
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)

    def _apply(self, optimizer, gradients, variables):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) and self.strategy.num_replicas_in_sync > 1:
            # Keras' LossScaleOptimizer skips an overflowing float16 step only when the *first*
            # replica's own gradients overflow; an overflow on another replica alone is summed in
            # and applied as inf. So the replicas agree first: one overflow poisons all gradients.
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in gradients])
            overflows = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite), tf.float32)
            )
            poison = tf.where(overflows > 0, float("nan"), 0.0)
            gradients = [g + tf.cast(poison, g.dtype) for g in gradients]
        optimizer.apply_gradients(zip(gradients, variables))

    def _gradient_norm(self, optimizer, gradients):
        """The global norm of the gradients of the global mean loss, divided by the replica count.

        The replicas' gradients are summed first (so the norm is the global gradient's), and the
        replica count cancels the SUM with which `_distributed_step` reduces every output.
        """
        replicas = self.strategy.num_replicas_in_sync
        if replicas > 1:
            gradients = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, gradients)
        norm = tf.linalg.global_norm([tf.cast(g, tf.float32) for g in gradients])
        scale = getattr(optimizer, "dynamic_scale", None)  # a LossScaleOptimizer scales the loss
        if scale is not None:
            norm = norm / tf.cast(scale, tf.float32)
        return norm / replicas

    def _replica_step_eager(self, step, input_image, target, health=False):
        generator, discriminator = self.generator, self.discriminator
        # Dropout masks are a function of (seed, step, layer, replica): a resumed run draws the same
        # masks, and each replica draws its own, as each example of a one-device batch does. The
        # seed states are mirrored variables without aggregation, so a replica's assignment only
        # changes its own copy.
        replica_id = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int64)
        counter = tf.cast(step, tf.int64) * self.strategy.num_replicas_in_sync + replica_id
        for index, state in enumerate(self._dropout_states):
            state.assign(tf.stack([tf.constant(self.dropout_seed * 1000 + index, tf.int64), counter]))
        with tf.GradientTape() as generator_tape:
            generated = generator(input_image, training=True)

        # D step first (§3.1), on the generated image detached from G.
        with tf.GradientTape() as discriminator_tape:
            real_logits, generated_logits = self._judge_real_and_generated(
                input_image, target, tf.stop_gradient(generated)
            )
            d_total, d_real, d_generated = losses.discriminator_loss(
                real_logits, generated_logits, gan_mode=self.gan_mode
            )
            d_loss = self._average(d_total)
            d_scaled = self.discriminator_optimizer.scale_loss(d_loss)
        d_gradients = discriminator_tape.gradient(d_scaled, discriminator.trainable_variables)
        d_health = losses.discriminator_health(real_logits, generated_logits, gan_mode=self.gan_mode)
        norms = {"d_gradient_norm": self._gradient_norm(self.discriminator_optimizer, d_gradients)} if health else {}
        self._apply(self.discriminator_optimizer, d_gradients, discriminator.trainable_variables)

        # Then the G step against the updated D, as the authors' code does.
        with generator_tape:
            generated_logits = discriminator([input_image, generated], training=True)
            g_total, g_gan, g_l1 = losses.generator_loss(
                generated_logits, generated, target, gan_mode=self.gan_mode, l1_weight=self.l1_weight
            )
            g_loss = self._average(g_total)
            g_scaled = self.generator_optimizer.scale_loss(g_loss)
        g_gradients = generator_tape.gradient(g_scaled, generator.trainable_variables)
        if health:
            norms["g_gradient_norm"] = self._gradient_norm(self.generator_optimizer, g_gradients)
        self._apply(self.generator_optimizer, g_gradients, generator.trainable_variables)

        parts = dict(zip(LOSS_NAMES + D_HEALTH_NAMES, (d_total, d_real, d_generated, g_total, g_gan, g_l1, *d_health)))
        return {**{name: self._average(value) for name, value in parts.items()}, **norms}

    def _judge_real_and_generated(self, input_image, target, generated):
        discriminator = self.discriminator
        if not self.merge_discriminator_passes:
            return (discriminator([input_image, target], training=True),
                    discriminator([input_image, generated], training=True))
        # One pass over a batch of 2N (real pairs, then generated pairs) instead of two passes of
        # N: the same logits when every layer treats examples independently, in fewer, larger
        # convolutions. Batch norm would pool statistics over real and generated, so it keeps
        # two passes (the authors' code). Off by default: 0.98x the two passes' speed on a 2-core
        # CPU at 256x256 (docs/PERFORMANCE.md, benchmarks/levers.py).
        logits = discriminator(
            [tf.concat([input_image, input_image], axis=0), tf.concat([target, generated], axis=0)], training=True
        )
        return tf.split(logits, 2, axis=0)

    def _distributed_step(self, step, inputs, health=False):
        """One step on every replica; `health` (a Python bool: one graph each) adds the gradient norms."""
        per_replica = self.strategy.run(self._replica_step, args=(step, *inputs), kwargs={"health": health})
        return {
            name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for name, value in per_replica.items()
        }
