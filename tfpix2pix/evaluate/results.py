"""`tfpix2pix test`: a split of A|B pairs -> generated images, metrics.json and an HTML page."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from tfpix2pix import files, workdir as workdir_lib
from tfpix2pix.data import datasets, images, pipeline, sources
from tfpix2pix.errors import UsageError
from tfpix2pix.evaluate import fid, metrics, report
from tfpix2pix.inference import memory, restore, runners, translation
from tfpix2pix.models.generator import required_multiple


def label_palette(data_config):
    """The dataset's label palette when the generator's output is the label-map half, else None."""
    info = datasets.REGISTRY.get(data_config.dataset)
    if info is None or info.palette is None:
        return None
    output_side = "B" if data_config.direction == "AtoB" else "A"
    return info.palette if info.palette_side == output_side else None


@dataclass(frozen=True)
class TestResult:
    """What `run_test` wrote and measured.

    Attributes:
        page: the results page (index.html).
        metrics_json: metrics.json, mean and per image.
        mean: metric name -> mean over the split (and `count`).
        count: images evaluated.
        skipped: one line per unusable input file, which was left out.
        step: the checkpoint's training step.
        mode: the inference semantics in words (deterministic or stochastic).
    """

    page: str
    metrics_json: str
    mean: dict
    count: int
    skipped: tuple[str, ...]
    step: int
    mode: str


def run_test(
    workdir: str,
    *,
    split: str = "val",
    stochastic: bool = False,
    seed: int = 0,
    out_dir: str | None = None,
    fid_weights: str | None = None,
    overwrite: bool = False,
    checkpoint: str = "latest",
    log=print,
) -> TestResult:
    """Runs the work dir's generator of `checkpoint` (latest, best or a step) over `split` and writes the results.

    Files that cannot be used are reported by name and skipped (`skipped` in the result).
    """
    for flag, path in (("--workdir", workdir), ("--out", out_dir)):
        if path:
            files.check(path, flag)
    generator, config, step = restore.load_generator(workdir, checkpoint=checkpoint)
    data_config = config.data
    skipped: list[str] = []
    split_sources = sources.split_sources(
        _skip_bad(data_config), split, image_size=data_config.image_size,
        log=lambda line: (skipped.append(line), log(line)), download=False,
    )
    mode = translation.mode_note(config.model.norm, stochastic)
    if stochastic:
        translation.seed_dropout(generator, seed)
    size = data_config.image_size
    # The generator as predict runs it: the decoder in phase form, one graph (a quarter of eager's memory).
    runner = runners.KerasRunner(generator, multiple=required_multiple(config.model.generator, size),
                                 image_size=size, norm=config.model.norm)
    needed, available = memory.estimate_peak_bytes(runner.memory_bytes_per_pixel, size, size, 1,
                                                   multiple=runner.multiple), memory.available_bytes()
    if needed > available:
        raise UsageError(f"test translates {size}x{size} images, which needs about {memory.readable_size(needed)}; "
                         f"{memory.readable_size(available)} are available")
    suffix = "-stochastic" if stochastic else ""
    out_dir = out_dir or os.path.join(workdir, "results", f"{split}{suffix}")
    sources.check_outside_data(out_dir, "--out", split_sources)
    if not overwrite and _holds_other_files(out_dir):
        raise UsageError(f"--out {out_dir} holds files that are not an earlier test result (no metrics.json); "
                         "nothing was written: pass --overwrite to write into it, or choose another --out")
    workdir_lib.make_writable_folder(out_dir, "--out")
    scores = metrics.SetScores(label_palette(data_config))
    dataset = pipeline.evaluation_dataset(
        split_sources, direction=data_config.direction, image_size=data_config.image_size, batch_size=1
    )
    rows, generated_all, target_all = [], [], []
    for source, (input_image, target) in zip(split_sources, dataset):
        name = os.path.splitext(os.path.basename(source[0] if isinstance(source, tuple) else source))[0]
        generated = runner.run(input_image, stochastic=stochastic)
        pictures = {
            "input": pipeline.to_uint8(input_image[0]).numpy(),
            "generated": pipeline.to_uint8(generated[0]).numpy(),
            "target": pipeline.to_uint8(target[0]).numpy(),
        }
        for kind, picture in pictures.items():
            images.save_png(os.path.join(out_dir, "images", f"{name}_{kind}.png"), picture)
        values = scores.add(pictures["generated"], pictures["target"], name=name)
        if fid_weights:
            generated_all.append(pictures["generated"])
            target_all.append(pictures["target"])
        rows.append(report.ResultRow(
            name=name, input_path=f"images/{name}_input.png", generated_path=f"images/{name}_generated.png",
            target_path=f"images/{name}_target.png", metrics=values,
        ))
    mean, per_image = scores.mean(), scores.per_image
    extra = {"step": step, "split": split, "mode": mode, "seed": seed if stochastic else None,
             "workdir": files.abspath(workdir), "skipped": skipped}
    extra.update(fid.frechet_inception_distance(generated_all, target_all, fid_weights))
    json_path = report.write_metrics_json(os.path.join(out_dir, "metrics.json"), per_image, mean, extra)
    title = f"{config.data.dataset or 'custom data'} {split}, step {step}, {mode.split(':')[0]}"
    curves = None
    if files.isfile(os.path.join(workdir, workdir_lib.CURVES_FILE)):  # `tfpix2pix curves` drew the run's training
        curves = workdir_lib.CURVES_FILE
        files.copy(os.path.join(workdir, workdir_lib.CURVES_FILE), os.path.join(out_dir, workdir_lib.CURVES_FILE))
    page = report.write_results_page(out_dir, rows, title=title, summary={**mean, "mode": mode}, curves=curves)
    return TestResult(page=page, metrics_json=json_path, mean=mean, count=len(per_image), skipped=tuple(skipped),
                      step=step, mode=mode)


def _holds_other_files(folder: str) -> bool:
    """A non-empty folder that is not a results folder `test` wrote (which a new test replaces)."""
    return files.isdir(folder) and bool(files.listdir(folder)) and not files.isfile(
        os.path.join(folder, "metrics.json"))


def _skip_bad(data_config):
    """Test reports unusable files by name and skips them (the command then exits non-zero)."""
    return dataclasses.replace(data_config, skip_bad=True)
