"""tfpix2pix: pix2pix (Isola et al., CVPR 2017) in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
