"""Results written by `test`: a self-contained HTML page and `metrics.json`.

The page opens from disk with no server and no network: inline CSS, no scripts, no fonts, and
every image linked by a path relative to the page. JSON has no infinity, and Python's default
`Infinity` token is rejected by strict parsers (JavaScript's `JSON.parse`), so non-finite numbers
(the PSNR of identical images) are written as the strings "inf", "-inf" and "nan", which
`float()` reads back.
"""

from __future__ import annotations

import html
import json
import math
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tfpix2pix import files

PAGE_NAME = "index.html"

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: center; vertical-align: top; }
th { background: #f2f2f2; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0; }
figure img { max-width: 256px; max-height: 256px; display: block; margin: 0 auto; }
figcaption { font-size: 0.8em; color: #555; word-break: break-all; max-width: 256px; }
figure.curves { margin-bottom: 1.5em; }
figure.curves img { max-width: 100%; max-height: none; margin: 0; }
figure.curves figcaption { max-width: none; }
"""


@dataclass(frozen=True)
class ResultRow:
    """One image of the results page.

    Attributes:
        name: the image's name (usually the source file's stem).
        input_path: input image, relative to the page's folder.
        generated_path: generated image, relative to the page's folder.
        target_path: target image relative to the page's folder, or None without a target.
        metrics: per-image metric values, e.g. `{"l1": 12.3, "psnr": 21.0, "ssim": 0.61}`.
    """

    name: str
    input_path: str
    generated_path: str
    target_path: str | None
    metrics: Mapping[str, float] = field(default_factory=dict)


def format_value(value) -> str:
    """Text for one table cell: 4 significant digits, `∞` for infinity, `–` for None."""
    if value is None:
        return "–"
    if isinstance(value, (float, np.floating)):
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(item) for item in value)
    return str(value)


def _image_link(out_dir: str, relative_path: str) -> str:
    if os.path.isabs(relative_path) or "://" in relative_path or relative_path.startswith("//"):
        raise ValueError(f"image paths on the results page must be relative, got {relative_path}")
    if not files.isfile(os.path.join(out_dir, relative_path)):
        raise ValueError(f"image {relative_path} not found in {out_dir}")
    # Quote each part so names with spaces, '#' or '?' still resolve as file:// links.
    return urllib.parse.quote(relative_path.replace(os.sep, "/"))


def _figure(out_dir: str, relative_path: str | None, label: str) -> str:
    if relative_path is None:
        return f"<td>no {label}</td>"
    source = html.escape(_image_link(out_dir, relative_path))
    caption = html.escape(os.path.basename(relative_path))
    return (
        f'<td><figure><img src="{source}" alt="{html.escape(label)} {caption}">'
        f"<figcaption>{caption}</figcaption></figure></td>"
    )


def _curves_figure(out_dir: str, relative_path: str | None) -> str:
    if relative_path is None:
        return ""
    source = html.escape(_image_link(out_dir, relative_path))
    return (f'<figure class="curves"><img src="{source}" alt="training curves: losses, discriminator health and '
            f'validation metrics against steps"><figcaption>training curves ({html.escape(relative_path)})'
            "</figcaption></figure>\n")


def _summary_table(summary: Mapping) -> str:
    rows = "".join(
        f'<tr><th scope="row">{html.escape(str(key))}</th>'
        f'<td class="number">{html.escape(format_value(value))}</td></tr>'
        for key, value in summary.items()
    )
    return f'<table class="summary"><tbody>{rows}</tbody></table>'


def write_results_page(
    out_dir: str,
    rows: Sequence[ResultRow],
    *,
    title: str,
    summary: Mapping,
    curves: str | None = None,
) -> str:
    """Writes `<out_dir>/index.html`: a summary table, then one table row per image.

    Args:
        out_dir: folder of the page; the images must already be there.
        rows: one `ResultRow` per image, with paths relative to `out_dir`.
        title: page heading, e.g. "facades val, step 20000, deterministic".
        summary: mean metrics and notes shown above the images (e.g. `summarize(...)` plus FID).
        curves: the run's training curves picture (`tfpix2pix curves`), relative to `out_dir`, shown at the top.

    Returns:
        The path of the written page.

    Raises:
        ValueError: if an image path is absolute or a URL, or the file is not in `out_dir`.
    """
    metric_names = list(dict.fromkeys(name for row in rows for name in row.metrics))
    header = "".join(
        f"<th>{html.escape(text)}</th>"
        for text in ["name", "input", "generated", "target", *metric_names]
    )
    body = []
    for row in rows:
        cells = [
            f"<td>{html.escape(row.name)}</td>",
            _figure(out_dir, row.input_path, "input"),
            _figure(out_dir, row.generated_path, "generated"),
            _figure(out_dir, row.target_path, "target"),
            *(
                f'<td class="number">{html.escape(format_value(row.metrics.get(name)))}</td>'
                for name in metric_names
            ),
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    escaped_title = html.escape(title)
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escaped_title}</title><style>{_STYLE}</style></head>\n"
        f"<body><h1>{escaped_title}</h1>\n"
        f"{_curves_figure(out_dir, curves)}"
        f"{_summary_table(summary)}\n"
        f'<table class="results"><thead><tr>{header}</tr></thead>\n'
        f"<tbody>\n{chr(10).join(body)}\n</tbody></table>\n"
        "</body></html>\n"
    )
    path = os.path.join(out_dir, PAGE_NAME)
    files.write_bytes(path, page)
    return path


def json_safe(value):
    """Converts metric values for strict JSON: numpy to Python, non-finite floats to strings."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else str(value)  # "inf", "-inf", "nan"
    return value


def write_metrics_json(
    path: str,
    per_image: Sequence[Mapping],
    mean: Mapping,
    extra: Mapping | None = None,
) -> str:
    """Writes `{"mean": ..., "per_image": [...], **extra}` as strict JSON and returns the path.

    `extra` carries run facts (checkpoint step, inference mode, FID and its note, problems).
    """
    extra = dict(extra or {})
    clashing = {"mean", "per_image"} & extra.keys()
    if clashing:
        raise ValueError(f"extra must not redefine {sorted(clashing)}")
    document = json_safe({"mean": mean, "per_image": list(per_image), **extra})
    # Readers see the old file or the new one: an interrupted run never leaves half a file behind.
    files.write_bytes(path, json.dumps(document, indent=2, allow_nan=False) + "\n")
    return path
