"""Input pipelines: A|B pair files (or two folders of matching names) -> batches in [-1, 1].

Training order and jitter are pure functions of (seed, epoch, position): the file order of an
epoch is a seeded permutation and each example's crop and mirror use stateless random ops
seeded by its place in that order. A resumed run therefore rebuilds exactly the batches it
would have seen, from the global step alone, and any number of workers and replicas split the
same global batches between them (see `training_dataset`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# A split is a list of sources: a path (an A|B side-by-side file) or an (a_path, b_path) tuple.


def decode(contents) -> tf.Tensor:
    """Decodes JPEG or PNG bytes to uint8 RGB (grayscale, RGBA and palette images become RGB)."""
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def read_pair(a_path, b_path, *, direction: str):
    """Reads one example as (input, target) uint8 images.

    With `b_path` None, `a_path` holds the pair side by side: left half A, right half B (§6.2).
    `direction` says which of A and B is the input.
    """
    image_a = decode(tf.io.read_file(a_path))
    if b_path is None:
        half = tf.shape(image_a)[1] // 2
        image_a, image_b = image_a[:, :half], image_a[:, half : 2 * half]
    else:
        image_b = decode(tf.io.read_file(b_path))
    return (image_a, image_b) if direction == "AtoB" else (image_b, image_a)


def to_float(image) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


def to_uint8(image) -> tf.Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounding to nearest."""
    return tf.cast(tf.clip_by_value(tf.round((tf.cast(image, tf.float32) + 1.0) * 127.5), 0, 255), tf.uint8)


def resize(image, size: int) -> tf.Tensor:
    """Bicubic resize to size x size (as the authors' code), float32 output, values clipped to [0, 255]."""
    image = tf.image.resize(tf.cast(image, tf.float32), [size, size], method="bicubic")
    return tf.clip_by_value(image, 0.0, 255.0)


def jitter(input_image, target, seed, *, image_size: int, load_size: int, flip: bool):
    """Random jitter (§6.2): resize both to load_size, the same random crop, the same mirror.

    `seed` is a stateless seed (shape [2] int): the same seed gives the same crop and flip.
    """
    both = tf.concat([resize(input_image, load_size), resize(target, load_size)], axis=-1)
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    both = tf.image.stateless_random_crop(both, [image_size, image_size, 6], seed=crop_seed)
    if flip:
        both = tf.image.stateless_random_flip_left_right(both, seed=flip_seed)
    return to_float(both[..., :3]), to_float(both[..., 3:])


def _paths(sources: list) -> tuple[list[str], list[str] | None]:
    if sources and isinstance(sources[0], tuple):
        return [a for a, _ in sources], [b for _, b in sources]
    return list(sources), None


def steps_per_epoch(num_examples: int, global_batch_size: int) -> int:
    """Full global batches per epoch (the remainder is dropped so every replica gets equal work)."""
    return num_examples // global_batch_size


def epoch_order(num_examples: int, *, seed: int, epoch: int) -> np.ndarray:
    """The file order of `epoch`: a permutation seeded by (seed, epoch) only."""
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def training_dataset(
    sources: list,
    *,
    direction: str,
    image_size: int,
    load_size: int,
    flip: bool,
    seed: int,
    epoch: int,
    start_step: int,
    global_batch_size: int,
    num_pipelines: int = 1,
    pipeline_index: int = 0,
) -> tf.data.Dataset:
    """One epoch of jittered training batches, from `start_step` (within the epoch) to its end.

    Global step s of the epoch uses the examples order[s*B : (s+1)*B] (B = global batch size).
    Input pipeline p of P (one per worker) reads only its share order[s*B + p*B/P : s*B + (p+1)*B/P]
    of every global batch, and yields it in per-replica batches; the replicas of that worker
    take consecutive batches. The global batch is thus the same for any P and replica count.
    """
    a_paths, b_paths = _paths(sources)
    steps = steps_per_epoch(len(a_paths), global_batch_size)
    share = global_batch_size // num_pipelines
    order = epoch_order(len(a_paths), seed=seed, epoch=epoch)[: steps * global_batch_size]
    positions = np.arange(len(order)).reshape(steps, global_batch_size)
    positions = positions[start_step:, pipeline_index * share : (pipeline_index + 1) * share].reshape(-1)
    chosen = order[positions]
    example_seeds = np.stack([np.full_like(positions, seed), epoch * len(a_paths) + positions], axis=1)
    columns = (
        np.array(a_paths, dtype=object)[chosen].astype(str),
        (np.array(b_paths, dtype=object)[chosen].astype(str) if b_paths else np.full(len(chosen), "")),
        example_seeds.astype(np.int64),
    )
    paired_files = b_paths is None

    def load(a_path, b_path, example_seed):
        input_image, target = read_pair(a_path, None if paired_files else b_path, direction=direction)
        return jitter(input_image, target, example_seed, image_size=image_size, load_size=load_size, flip=flip)

    dataset = tf.data.Dataset.from_tensor_slices(columns)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(share, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(sources: list, *, direction: str, image_size: int, batch_size: int = 1) -> tf.data.Dataset:
    """(input, target) batches resized to image_size without jitter (§6.2), in file order."""
    a_paths, b_paths = _paths(sources)
    paired_files = b_paths is None

    def load(a_path, b_path):
        input_image, target = read_pair(a_path, None if paired_files else b_path, direction=direction)
        return to_float(resize(input_image, image_size)), to_float(resize(target, image_size))

    columns = (a_paths, b_paths if b_paths else [""] * len(a_paths))
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
