import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfpix2pix.data import pipeline


def write_pair(path, left_color, right_color, size=(8, 4), mode="RGB"):
    width, height = size
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = left_color
    image[:, width // 2 :] = right_color
    converted = Image.fromarray(image)
    converted = converted.convert("P", palette=Image.ADAPTIVE) if mode == "P" else converted.convert(mode)
    converted.save(path)
    return str(path)


@pytest.mark.parametrize("direction,expected", [("AtoB", (10, 200)), ("BtoA", (200, 10))])
def test_read_pair_splits_halves_by_direction(tmp_path, direction, expected):
    path = write_pair(tmp_path / "p.png", 10, 200)
    input_image, target = pipeline.read_pair(path, None, direction=direction)
    assert input_image.shape == (4, 4, 3) and target.shape == (4, 4, 3)
    assert (int(input_image[0, 0, 0]), int(target[0, 0, 0])) == expected


@pytest.mark.parametrize("mode,suffix", [("L", "png"), ("RGBA", "png"), ("P", "png"), ("L", "jpg"), ("RGB", "jpg")])
def test_decoding_other_channel_counts_gives_rgb(tmp_path, mode, suffix):
    path = write_pair(tmp_path / f"p.{suffix}", 30, 220, size=(16, 8), mode=mode)
    input_image, target = pipeline.read_pair(path, None, direction="AtoB")
    assert input_image.shape == (8, 8, 3) and input_image.dtype == tf.uint8
    assert abs(int(input_image[4, 4, 1]) - 30) <= 3 and abs(int(target[4, 4, 2]) - 220) <= 3


def test_read_pair_from_two_files(tmp_path):
    Image.new("RGB", (4, 4), (1, 2, 3)).save(tmp_path / "a.png")
    Image.new("RGB", (4, 4), (9, 8, 7)).save(tmp_path / "b.png")
    input_image, target = pipeline.read_pair(str(tmp_path / "a.png"), str(tmp_path / "b.png"), direction="BtoA")
    assert input_image.numpy()[0, 0].tolist() == [9, 8, 7] and target.numpy()[0, 0].tolist() == [1, 2, 3]


def gradient_pair():
    """Input and target with the same horizontal ramp: any crop/flip shows as a different pattern."""
    ramp = np.tile(np.arange(0, 240, 6, dtype=np.float32)[None, :, None], (40, 1, 3))
    ramp[:, :, 1] = np.arange(0, 240, 6, dtype=np.float32)[:, None]  # vertical ramp in green
    return tf.constant(ramp.astype(np.uint8)), tf.constant((255 - ramp).astype(np.uint8))


def test_jitter_crops_and_flips_input_and_target_identically_eagerly():
    input_image, target = gradient_pair()
    flips = set()
    for index in range(12):
        seed = tf.constant([0, index], tf.int64)
        jittered_input, jittered_target = pipeline.jitter(input_image, target, seed, image_size=32, load_size=36, flip=True)
        assert jittered_input.shape == (32, 32, 3)
        assert float(tf.reduce_min(jittered_input)) >= -1.0 and float(tf.reduce_max(jittered_input)) <= 1.0
        # The target is the inverse image: same crop and flip <=> input + target == 0 everywhere.
        np.testing.assert_allclose(jittered_input.numpy() + jittered_target.numpy(), 0.0, atol=1e-5)
        red = jittered_input.numpy()[0, :, 0]
        flips.add(bool(red[0] > red[-1]))
    assert flips == {True, False}  # both mirrored and not happened


def test_jitter_inside_tf_data_matches_eager_and_is_seeded():
    input_image, target = gradient_pair()
    seeds = tf.constant([[0, 1], [0, 2], [0, 1]], tf.int64)
    dataset = tf.data.Dataset.from_tensor_slices(seeds).map(
        lambda seed: pipeline.jitter(input_image, target, seed, image_size=32, load_size=36, flip=True)
    )
    results = list(dataset)
    eager = pipeline.jitter(input_image, target, seeds[0], image_size=32, load_size=36, flip=True)
    np.testing.assert_array_equal(results[0][0].numpy(), eager[0].numpy())
    np.testing.assert_array_equal(results[0][0].numpy(), results[2][0].numpy())
    np.testing.assert_allclose(results[1][0].numpy() + results[1][1].numpy(), 0.0, atol=1e-5)


def test_training_dataset_is_a_function_of_seed_epoch_and_step(sample_train_files):
    kwargs = dict(direction="BtoA", image_size=32, load_size=36, flip=True, seed=3, global_batch_size=2)
    full = [batch[0].numpy() for batch in pipeline.training_dataset(sample_train_files, epoch=1, start_step=0, **kwargs)]
    assert len(full) == len(sample_train_files) // 2 and full[0].shape == (2, 32, 32, 3)
    resumed = [batch[0].numpy() for batch in pipeline.training_dataset(sample_train_files, epoch=1, start_step=5, **kwargs)]
    for a, b in zip(full[5:], resumed):
        np.testing.assert_array_equal(a, b)
    other_epoch = next(iter(pipeline.training_dataset(sample_train_files, epoch=2, start_step=0, **kwargs)))[0].numpy()
    assert np.abs(other_epoch - full[0]).max() > 0.1
    # Two pipelines (workers) split each global batch: their halves make the same global batch.
    halves = [
        next(iter(pipeline.training_dataset(sample_train_files, epoch=1, start_step=0, num_pipelines=2,
                                        pipeline_index=index, **kwargs)))[0].numpy()
        for index in range(2)
    ]
    np.testing.assert_array_equal(np.concatenate(halves), full[0])


def test_evaluation_dataset_resizes_without_jitter(sample_train_files):
    batch = next(iter(pipeline.evaluation_dataset(sample_train_files[:3], direction="AtoB", image_size=64, batch_size=3)))
    input_image, target = batch
    assert input_image.shape == (3, 64, 64, 3)
    again = next(iter(pipeline.evaluation_dataset(sample_train_files[:3], direction="AtoB", image_size=64, batch_size=3)))
    np.testing.assert_array_equal(input_image.numpy(), again[0].numpy())


def test_uint8_round_trip():
    values = tf.constant([0, 1, 127, 128, 254, 255], tf.uint8)
    np.testing.assert_array_equal(pipeline.to_uint8(pipeline.to_float(values)).numpy(), values.numpy())
