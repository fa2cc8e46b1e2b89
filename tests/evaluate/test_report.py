"""Results page structure (parsed with html.parser) and strict metrics.json."""

import html.parser
import json
import math
import os
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from tfpix2pix.evaluate import report


class PageParser(html.parser.HTMLParser):
    """Collects the image sources, the rows of the results table body, and every tag name."""

    def __init__(self):
        super().__init__()
        self.tags, self.sources, self.result_rows = [], [], []
        self.in_results_body = False
        self.in_results_table = False

    def handle_starttag(self, tag, attributes):
        attributes = dict(attributes)
        self.tags.append(tag)
        if tag == "table":
            self.in_results_table = attributes.get("class") == "results"
        if tag == "tbody" and self.in_results_table:
            self.in_results_body = True
        if tag == "tr" and self.in_results_body:
            self.result_rows.append([])
        if tag == "img":
            self.sources.append(attributes["src"])

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.in_results_body = False

    def handle_data(self, data):
        if self.in_results_body and self.result_rows and data.strip():
            self.result_rows[-1].append(data.strip())


def save_png(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 12, 3), value, np.uint8)).save(path)


def make_rows(out_dir):
    names = ["a", "b c", "<odd&name>"]
    rows = []
    for index, name in enumerate(names):
        for kind in ("input", "generated", "target"):
            save_png(out_dir / "images" / f"{name}_{kind}.png", 40 * index)
        rows.append(report.ResultRow(
            name=name,
            input_path=f"images/{name}_input.png",
            generated_path=f"images/{name}_generated.png",
            target_path=None if index == 2 else f"images/{name}_target.png",
            metrics={"l1": 10.0 * index, "psnr": math.inf if index == 0 else 28.13081, "ssim": 0.5},
        ))
    return rows


def test_page_has_one_row_per_image_with_relative_links_to_existing_files(tmp_path):
    rows = make_rows(tmp_path)
    path = report.write_results_page(
        str(tmp_path), rows, title="facades val", summary={"count": 3, "l1": 10.0, "fid": None}
    )
    assert path == str(tmp_path / "index.html")
    parser = PageParser()
    page = open(path, encoding="utf-8").read()
    parser.feed(page)
    assert len(parser.result_rows) == 3
    assert len(parser.sources) == 3 + 3 + 2  # the third row has no target
    for source in parser.sources:
        assert source.startswith("images/")
        assert os.path.isfile(tmp_path / urllib.parse.unquote(source))
    assert "images/b%20c_input.png" in parser.sources
    # Row cells: name, three captions (two without target), then l1, psnr, ssim.
    assert parser.result_rows[0] == [
        "a", "a_input.png", "a_generated.png", "a_target.png", "0", "∞", "0.5",
    ]
    assert parser.result_rows[2][0] == "<odd&name>"
    assert "no target" in parser.result_rows[2]
    assert parser.result_rows[1][-2] == "28.13"


def test_page_is_self_contained_and_escapes_names(tmp_path):
    rows = make_rows(tmp_path)
    path = report.write_results_page(str(tmp_path), rows, title="<t>", summary={"l1": 1.0})
    page = open(path, encoding="utf-8").read()
    assert "http://" not in page and "https://" not in page
    parser = PageParser()
    parser.feed(page)
    assert not {"script", "link", "iframe", "object"} & set(parser.tags)
    assert "<odd&name>" not in page
    assert "&lt;odd&amp;name&gt;" in page
    assert "<title>&lt;t&gt;</title>" in page


def test_page_rejects_absolute_urls_and_missing_images(tmp_path):
    save_png(tmp_path / "x.png", 0)
    absolute = report.ResultRow("x", str(tmp_path / "x.png"), "x.png", None)
    with pytest.raises(ValueError, match="must be relative, got /"):
        report.write_results_page(str(tmp_path), [absolute], title="t", summary={})
    remote = report.ResultRow("x", "https://example.com/x.png", "x.png", None)
    with pytest.raises(ValueError, match="must be relative, got https://example.com/x.png"):
        report.write_results_page(str(tmp_path), [remote], title="t", summary={})
    missing = report.ResultRow("x", "x.png", "gone.png", None)
    with pytest.raises(ValueError, match="image gone.png not found in"):
        report.write_results_page(str(tmp_path), [missing], title="t", summary={})


def test_format_value():
    assert report.format_value(math.inf) == "∞"
    assert report.format_value(None) == "–"
    assert report.format_value(np.float32(0.123456)) == "0.1235"
    assert report.format_value(3) == "3"


def test_metrics_json_is_strict_and_writes_infinity_as_a_string(tmp_path):
    path = str(tmp_path / "out" / "metrics.json")
    per_image = [{"name": "a", "psnr": math.inf, "l1": np.float32(0.0)}]
    mean = {"count": 1, "psnr": math.inf, "psnr_nonfinite_count": np.int64(1)}
    report.write_metrics_json(path, per_image, mean, {"fid": None, "step": 200})

    def reject_constant(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    document = json.loads(open(path).read(), parse_constant=reject_constant)
    assert document == {
        "mean": {"count": 1, "psnr": "inf", "psnr_nonfinite_count": 1},
        "per_image": [{"name": "a", "psnr": "inf", "l1": 0.0}],
        "fid": None,
        "step": 200,
    }
    assert float(document["mean"]["psnr"]) == math.inf
    assert not os.path.exists(path + ".tmp")
    with pytest.raises(ValueError, match=r"must not redefine \['mean'\]"):
        report.write_metrics_json(path, per_image, mean, {"mean": 1})
