"""How much memory translating a batch needs, estimated before running it, and how much there is.

    per_pixel = activation_bytes_per_pixel(model, multiple)       # once per model, symbolically
    needed = estimate_peak_bytes(per_pixel, height, width, batch, multiple=multiple)
    if needed > available_bytes(): ...                             # shrink the batch or skip the image

A generator's activations grow with the padded pixel count, so one figure per pixel, taken from
the model's graph at its smallest input (multiple x multiple), scales to any size and batch. The
figure is the *simulated* peak of live tensors: the ops of the traced graph in order, each output
alive until its last reader, which is how a `tf.function` / SavedModel graph frees memory (eager
Keras frees nothing until the output and needs about four times more). `SAFETY_FACTOR` and
`ALLOCATOR_SLACK_BYTES` cover what the simulation cannot see (allocator slack, kernel scratch,
tracing), calibrated against measured peaks (docs/RELIABILITY.md, "Memory of predict").

`TFPIX2PIX_MEMORY_LIMIT_MB` caps what `available_bytes` reports, to share a machine or to test the
refusals without filling the memory.
"""

from __future__ import annotations

import math
import os
import sys

import tensorflow as tf

# Calibration (fresh processes, 2-core AVX2 EPYC; docs/RELIABILITY.md, "Memory of predict"): the
# measured peak RSS increase of one translation is about the simulated peak plus the copies, plus
# 50-170 MB that stops growing at about 1 MP (allocator arenas, kernel caches). With these two
# values every estimate was above its measurement, by 1.2-1.8x from 1 to 16.8 MP for U-Nets of 16
# and 64 filters from a work dir, a SavedModel and a .tflite file (2.4x for TFLite at 1 MP, which
# has no such slack).
SAFETY_FACTOR = 1.25
ALLOCATOR_SLACK_BYTES = 192 * 2**20
# Copies outside the generator's graph. Per image pixel: the uint8 batch and output (3 bytes each),
# the float32 batch and the cropped float32 output (12 each). Per pixel the model runs at (padded,
# or the training size with --resize): the padded float32 input and the model's output (12 each).
IMAGE_COPY_BYTES = 3 + 3 + 12 + 12
MODEL_COPY_BYTES = 12 + 12
LIMIT_VARIABLE = "TFPIX2PIX_MEMORY_LIMIT_MB"
_CONSTANT_OPS = ("Const", "ReadVariableOp", "Placeholder", "VarHandleOp")


def base_filters(kernel_shapes) -> int:
    """The generator's base filter count from its kernels' shapes (HWIO): the smallest output count
    of a kernel reading the 3 image channels. 64, the paper's and the largest preset's, if none does."""
    counts = [shape[3] for shape in kernel_shapes if len(shape) == 4 and shape[2] == 3]
    return min(counts) if counts else 64


def peak_live_bytes(steps: list[tuple[list, list]], sizes: dict) -> int:
    """The largest sum of live tensor bytes while running `steps` in order.

    Args:
        steps: (input keys, output keys) of each op, in execution order.
        sizes: bytes of each tensor that counts (activations); keys absent count zero.

    A tensor is live from the step that writes it through the last step that reads it (or to the
    end when nothing reads it: the outputs).
    """
    last_read = {key: index for index, (inputs, _) in enumerate(steps) for key in inputs}
    live = peak = 0
    for index, (inputs, outputs) in enumerate(steps):
        live += sum(sizes.get(key, 0) for key in outputs)
        peak = max(peak, live)
        live -= sum(sizes.get(key, 0) for key in set(inputs) if last_read[key] == index)
    return peak


def activation_bytes_per_pixel(model, multiple: int, *, training: bool = False) -> float:
    """Simulated peak of live activations of one image through `model`, per padded input pixel.

    The model is traced at [1, multiple, multiple, 3], never run. Weights, constants and the input
    are left out: the weights are resident before any image, the input is counted by the caller.
    """
    function = tf.function(lambda images: model(images, training=training))
    graph = function.get_concrete_function(tf.TensorSpec([1, multiple, multiple, 3], tf.float32)).graph
    operations = graph.get_operations()
    sizes = {
        output.ref(): output.shape.num_elements() * output.dtype.size
        for operation in operations if operation.type not in _CONSTANT_OPS
        for output in operation.outputs
        if output.dtype.is_floating and output.shape.is_fully_defined()
    }
    steps = [([tensor.ref() for tensor in operation.inputs], [tensor.ref() for tensor in operation.outputs])
             for operation in operations]
    return peak_live_bytes(steps, sizes) / multiple**2


def padded_pixels(height: int, width: int, multiple: int) -> int:
    """Pixels of an image after reflect padding to the model's multiple."""
    return math.ceil(height / multiple) * multiple * math.ceil(width / multiple) * multiple


def estimate_peak_bytes(
    bytes_per_pixel: float, height: int, width: int, batch: int, *, multiple: int,
    model_size: tuple[int, int] | None = None, images_per_call: int | None = None,
) -> int:
    """Estimated peak memory increase of translating `batch` images of height x width.

    Args:
        bytes_per_pixel: the runner's activation peak per padded pixel (`activation_bytes_per_pixel`).
        height, width: the images' size; the outputs have it too.
        batch: images translated together.
        multiple: the model pads sides to multiples of this.
        model_size: (height, width) the model runs at when it differs (`--resize`).
        images_per_call: how many images the model runs at once (1 for TFLite); default the batch.

    Returns:
        Bytes: SAFETY_FACTOR x the activations of the images run at once, plus the batch's input
        and output copies, plus ALLOCATOR_SLACK_BYTES.
    """
    model_height, model_width = model_size or (height, width)
    at_once = min(batch, images_per_call or batch)
    activations = bytes_per_pixel * padded_pixels(model_height, model_width, multiple) * at_once
    copies = (IMAGE_COPY_BYTES * height * width + MODEL_COPY_BYTES * padded_pixels(model_height, model_width, multiple)) * batch
    return math.ceil(SAFETY_FACTOR * activations + copies + ALLOCATOR_SLACK_BYTES)


def _read_int(path: str, key: str | None = None) -> int | None:
    """An integer file (or the `key value` line of one), None when absent, unreadable or 'max'."""
    try:
        with open(path) as file:
            text = file.read()
    except OSError:
        return None
    if key is not None:
        text = next((line.split()[1] for line in text.splitlines() if line.split()[:1] == [key]), "")
    return int(text) if text.strip().isdigit() else None


def _cgroup_available() -> int | None:
    """Limit minus usage of this process's memory cgroup (v2, else v1), not counting inactive page
    cache, which the kernel reclaims before it kills (as `docker stats` counts); None without a limit."""
    for folder, limit, usage, cache in (
        ("/sys/fs/cgroup", "memory.max", "memory.current", "inactive_file"),
        ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
    ):
        maximum, current = _read_int(os.path.join(folder, limit)), _read_int(os.path.join(folder, usage))
        if maximum is not None and current is not None and maximum < 2**60:  # v1 writes ~2**63 for no limit
            reclaimable = _read_int(os.path.join(folder, "memory.stat"), cache) or 0
            return max(0, maximum - current + reclaimable)
    return None


def available_bytes() -> int:
    """Memory this process can still allocate without being killed, in bytes.

    The smallest of /proc/meminfo's MemAvailable, the memory cgroup's limit minus its usage and
    `TFPIX2PIX_MEMORY_LIMIT_MB`; the physical memory when /proc is unreadable (not Linux).
    """
    meminfo_kb, cgroup = _read_int("/proc/meminfo", "MemAvailable:"), _cgroup_available()
    candidates = [value for value in (meminfo_kb and meminfo_kb * 1024, cgroup) if value is not None]
    if os.environ.get(LIMIT_VARIABLE, "").strip():
        candidates.append(int(float(os.environ[LIMIT_VARIABLE]) * 2**20))
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            candidates.append(sys.maxsize)
    return min(candidates)


def peak_increase(function) -> int | None:
    """Measured peak resident memory increase of calling `function()`, in bytes.

    Resets the kernel's high-water mark first (/proc/self/clear_refs), so an earlier, larger peak
    of the process does not hide this one; this also resets `ru_maxrss`. None off Linux.
    """
    def status(key: str) -> int:
        with open("/proc/self/status") as file:
            return next(int(line.split()[1]) * 1024 for line in file if line.startswith(key))

    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")  # 5: reset the peak RSS to the current RSS.
        before = status("VmRSS:")
    except (OSError, StopIteration):
        return None
    function()
    return status("VmHWM:") - before


def readable_size(value: float) -> str:
    """Bytes as the problem lines write them: '18.5 GB', '215 MB' (2**30 and 2**20 bytes, as bench)."""
    return f"{value / 2**30:.1f} GB" if value >= 2**30 else f"{value / 2**20:.0f} MB"
