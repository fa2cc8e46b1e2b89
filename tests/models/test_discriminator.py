import keras
import numpy as np
import pytest

from tfpix2pix.models.discriminator import build_patchgan_discriminator


def trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def test_70x70_patchgan_matches_paper_parameter_count():
    assert trainable_count(build_patchgan_discriminator()) == 2_768_705


@pytest.mark.parametrize("norm", ["instance", "batch"])
@pytest.mark.parametrize(
    "num_layers,size,patches",
    [(3, 256, 30), (0, 256, 256), (1, 256, 126), (5, 256, 6), (3, 128, 14)],
)
def test_patchgan_output_shapes(num_layers, size, patches, norm):
    model = build_patchgan_discriminator(base_filters=4, num_layers=num_layers, norm=norm)
    zeros = np.zeros((2, size, size, 3), np.float32)
    assert model([zeros, zeros]).shape == (2, patches, patches, 1)


def receptive_field(model):
    """Receptive field of one output logit, from the conv kernels and strides."""
    field, jump = 1, 1
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            field += (layer.kernel_size[0] - 1) * jump
            jump *= layer.strides[0]
    return field


@pytest.mark.parametrize("num_layers,field", [(0, 1), (1, 16), (3, 70), (5, 286)])
def test_receptive_fields(num_layers, field):
    assert receptive_field(build_patchgan_discriminator(base_filters=2, num_layers=num_layers)) == field


def test_discriminator_is_conditional_on_the_input():
    model = build_patchgan_discriminator(base_filters=4)
    rng = np.random.default_rng(1)
    judged = rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    first = model([rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32), judged])
    second = model([rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32), judged])
    assert np.abs(first.numpy() - second.numpy()).max() > 1e-4
