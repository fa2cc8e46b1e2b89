import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpix2pix.data import pipeline
from tfpix2pix.models.discriminator import build_patchgan_discriminator
from tfpix2pix.models.generator import build_unet_generator
from tfpix2pix.train.schedule import ConstantThenLinearDecay
from tfpix2pix.train.trainer import D_HEALTH_NAMES, GRADIENT_NORM_NAMES, per_example_normalization, Trainer


def make_trainer(*, dropout=0.5, learning_rate=2e-4, seed=0, norm="instance", merge=False):
    keras.utils.set_random_seed(seed)
    strategy = tf.distribute.get_strategy()
    trainer = Trainer(
        generator=build_unet_generator(image_size=32, base_filters=8, dropout=dropout, norm=norm),
        discriminator=build_patchgan_discriminator(base_filters=8, norm=norm),
        generator_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
        discriminator_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
        strategy=strategy, global_batch_size=4, merge_discriminator_passes=merge,
    )
    trainer.build_optimizers()
    return trainer


def fixed_batch(files):
    return next(iter(pipeline.evaluation_dataset(files[:4], direction="BtoA", image_size=32, batch_size=4)))


def test_tiny_model_overfits_four_pairs(sample_train_files):
    trainer = make_trainer(learning_rate=1e-3)
    batch = fixed_batch(sample_train_files)
    first = float(trainer.train_step(tf.constant(0, tf.int64), batch)["g_l1"])
    for step in range(1, 120):
        losses = trainer.train_step(tf.constant(step, tf.int64), batch)
    last = float(losses["g_l1"])
    assert last <= 0.5 * first, (first, last)
    assert set(losses) == {"d_total", "d_real", "d_generated", "g_total", "g_gan", "g_l1", *D_HEALTH_NAMES}


def test_a_health_step_adds_the_gradient_norms_and_trains_exactly_as_a_plain_step(sample_train_files):
    batch = fixed_batch(sample_train_files)
    outputs, weights = [], []
    for health in (False, True):
        trainer = make_trainer()
        outputs.append({name: float(value) for name, value in trainer.train_step(
            tf.constant(0, tf.int64), batch, health).items()})
        weights.append([variable.numpy() for variable in trainer.generator.trainable_variables])
    plain, with_norms = outputs
    assert set(with_norms) - set(plain) == set(GRADIENT_NORM_NAMES)
    assert all(plain[name] == with_norms[name] for name in plain)
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
    assert all(0.0 <= plain[name] <= 1.0 for name in D_HEALTH_NAMES)
    assert all(with_norms[name] > 0 and np.isfinite(with_norms[name]) for name in GRADIENT_NORM_NAMES)


def test_the_gradient_norm_is_the_norm_of_the_mean_loss_gradient():
    trainer = make_trainer()
    variables = trainer.generator.trainable_variables
    gradients = [tf.fill(variable.shape, 0.5) for variable in variables]
    expected = 0.5 * np.sqrt(sum(int(np.prod(variable.shape)) for variable in variables))
    assert float(trainer._gradient_norm(trainer.generator_optimizer, gradients)) == pytest.approx(expected, rel=1e-5)


def test_train_step_updates_both_models_and_counts_optimizer_steps(sample_train_files):
    trainer = make_trainer()
    before_g = [v.numpy().copy() for v in trainer.generator.trainable_variables]
    before_d = [v.numpy().copy() for v in trainer.discriminator.trainable_variables]
    trainer.train_step(tf.constant(0, tf.int64), fixed_batch(sample_train_files))
    assert any(np.abs(a - b.numpy()).max() > 0 for a, b in zip(before_g, trainer.generator.trainable_variables))
    assert any(np.abs(a - b.numpy()).max() > 0 for a, b in zip(before_d, trainer.discriminator.trainable_variables))
    assert int(trainer.generator_optimizer.iterations.numpy()) == 1
    assert int(trainer.discriminator_optimizer.iterations.numpy()) == 1


def test_one_discriminator_pass_over_real_and_generated_trains_like_two(sample_train_files):
    # A performance lever (docs/PERFORMANCE.md): the same step with D's two passes as one batch.
    batch = fixed_batch(sample_train_files)
    runs = []
    for merge in (False, True):
        trainer = make_trainer(merge=merge)
        losses = [trainer.train_step(tf.constant(step, tf.int64), batch) for step in range(3)]
        runs.append(([{k: float(v) for k, v in step.items()} for step in losses],
                     [v.numpy() for v in trainer.discriminator.trainable_variables]))
    (losses_two, weights_two), (losses_one, weights_one) = runs
    for two, one in zip(losses_two, losses_one):
        np.testing.assert_allclose([two[k] for k in sorted(two)], [one[k] for k in sorted(one)], rtol=1e-4)
    for two, one in zip(weights_two, weights_one):
        np.testing.assert_allclose(two, one, rtol=1e-3, atol=1e-6)


def test_batch_norm_refuses_one_discriminator_pass():
    # Batch norm would pool statistics over the real and generated pairs: a different objective.
    assert not per_example_normalization(build_patchgan_discriminator(base_filters=8, norm="batch"))
    assert per_example_normalization(build_patchgan_discriminator(base_filters=8, norm="instance"))
    with pytest.raises(ValueError, match="batch normalization"):
        make_trainer(norm="batch", merge=True)


def test_dropout_masks_follow_the_step(sample_train_files):
    batch = fixed_batch(sample_train_files)
    results = []
    for _ in range(2):
        trainer = make_trainer(seed=0)
        trainer.train_step(tf.constant(7, tf.int64), batch)
        results.append(trainer.generator.trainable_variables[0].numpy())
    np.testing.assert_array_equal(results[0], results[1])


def test_checkpoint_round_trip_restores_outputs_and_optimizer_state(tmp_path, sample_train_files):
    trainer = make_trainer()
    batch = fixed_batch(sample_train_files)
    for step in range(3):
        trainer.train_step(tf.constant(step, tf.int64), batch)
    checkpoint = tf.train.Checkpoint(
        generator=trainer.generator, discriminator=trainer.discriminator,
        generator_optimizer=trainer.generator_optimizer, discriminator_optimizer=trainer.discriminator_optimizer,
    )
    path = checkpoint.save(str(tmp_path / "ckpt"))
    expected = trainer.generator(batch[0], training=False).numpy()
    expected_slots = [v.numpy() for v in trainer.generator_optimizer.variables]

    fresh = make_trainer(seed=1)
    assert np.abs(fresh.generator(batch[0], training=False).numpy() - expected).max() > 1e-4
    tf.train.Checkpoint(
        generator=fresh.generator, discriminator=fresh.discriminator,
        generator_optimizer=fresh.generator_optimizer, discriminator_optimizer=fresh.discriminator_optimizer,
    ).restore(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(fresh.generator(batch[0], training=False).numpy(), expected)
    for restored, saved in zip(fresh.generator_optimizer.variables, expected_slots):
        np.testing.assert_array_equal(restored.numpy(), saved)
    assert int(fresh.generator_optimizer.iterations.numpy()) == 3


def test_schedule_is_constant_then_linear_to_zero():
    schedule = ConstantThenLinearDecay(2e-4, constant_steps=100, decay_steps=100)
    values = [float(schedule(step)) for step in (0, 99, 100, 150, 200, 250)]
    np.testing.assert_allclose(values, [2e-4, 2e-4, 2e-4, 1e-4, 0.0, 0.0], atol=1e-12)
