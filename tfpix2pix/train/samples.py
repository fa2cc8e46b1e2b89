"""The sample grids a run draws as it trains: a few fixed pairs, input | generated | target per row."""

from __future__ import annotations

import os

import tensorflow as tf

from tfpix2pix import config as config_lib
from tfpix2pix.data import images, pipeline, sources
from tfpix2pix.errors import UsageError

SAMPLE_COUNT = 4


def sample_batch(data_config: config_lib.DataConfig, train_sources: list, log=print):
    """A few fixed evaluation pairs for the grids: from val/ when present, else train/."""
    chosen = train_sources
    if sources.has_split(data_config, "val"):
        try:
            chosen = sources.split_sources(data_config, "val", image_size=data_config.image_size, log=log)
        except UsageError as error:  # The grids are a view on training: never a reason to stop it.
            log(f"note: sample grids use training pairs, as the val split cannot be used: {error}")
    dataset = pipeline.evaluation_dataset(
        chosen[:SAMPLE_COUNT], direction=data_config.direction, image_size=data_config.image_size,
        batch_size=SAMPLE_COUNT,
    )
    return next(iter(dataset))


def write_samples(generator, batch, step: int, folder: str, writer):
    """Draws the grid of `batch` at `step` into `<folder>/step_<step>.png` and TensorBoard.

    Returns:
        (the PNG's path, the generated images: float [batch, H, W, 3] in [-1, 1]).
    """
    input_image, target = batch
    generated = generator(input_image, training=False)
    rows = [
        [pipeline.to_uint8(picture[i]).numpy() for picture in (input_image, generated, target)]
        for i in range(input_image.shape[0])
    ]
    picture = images.grid(rows)
    path = os.path.join(folder, f"step_{step:07d}.png")
    images.save_png(path, picture)
    with writer.as_default(step=step):
        tf.summary.image("samples/input_generated_target", picture[None], max_outputs=1)
    return path, tf.cast(generated, tf.float32).numpy()
