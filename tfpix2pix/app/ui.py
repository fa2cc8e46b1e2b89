"""The web page of `tfpix2pix app`: a Gradio Blocks app around one runner.

    app = build_app(runners.load_runner("runs/facades"), examples=[...])
    serve(app, host="127.0.0.1", port=7860)

The upload view takes any image (upload, paste, webcam): the file is checked before it is decoded
(`validate.check_image`, as `predict`), translated through the runner at its own size (reflect-pad
to the model's multiple, crop back) and shown beside the input with the latency. A model whose
input is a label map also gets a canvas whose brushes are the dataset's palette (`canvas.py`).
Bad inputs are a message in the page (`gr.Error`); the app keeps serving. Nothing is sent anywhere:
no analytics, fonts and scripts served by the app itself, no public link unless `share`.
"""

from __future__ import annotations

import os
import threading
import time

# Gradio and huggingface_hub read these when they are imported or first used; gradio_client reads only
# the variable. Forced, not defaulted: the app never sends analytics.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

try:
    import gradio as gr
except ImportError:
    raise ImportError('the web app needs Gradio: pip install "tfpix2pix[app]"') from None
import numpy as np

from tfpix2pix.app import canvas as canvas_lib
from tfpix2pix.data import pipeline
from tfpix2pix.errors import UsageError
from tfpix2pix.inference import predict, translation

DEFAULT_PORT = 7860
DEFAULT_MAX_SIDE = 4096
TRANSLATE_API = "translate"  # the upload view's endpoint: Client(url).predict(handle_file(path), api_name="/translate")
DRAWING_API = "translate_drawing"  # the canvas's endpoint, for label-map models


class Translator:
    """The app's calls into one runner: checks, the padding rule, latency; one image at a time."""

    def __init__(self, runner, *, label_canvas: canvas_lib.LabelCanvas | None = None,
                 max_side: int = DEFAULT_MAX_SIDE):
        self.runner = runner
        self.label_canvas = label_canvas
        self.max_side = max_side
        self.min_side = translation.minimum_side(runner.multiple)
        self._lock = threading.Lock()  # a LiteRT interpreter must not run two images at once

    def run(self, pixels: np.ndarray) -> tuple[np.ndarray, float]:
        """uint8 [H, W, 3] -> (uint8 [H, W, 3] output of the same size, seconds the model took)."""
        with self._lock:
            start = time.perf_counter()
            generated = self.runner.run(pipeline.to_float(pixels[np.newaxis]))
            seconds = time.perf_counter() - start
        return pipeline.to_uint8(generated)[0].numpy(), seconds

    def too_small(self, width: int, height: int) -> str:
        return (f"is {width}x{height}: this model needs images of at least {self.min_side}x{self.min_side} "
                f"(it pads their sides to a multiple of {self.runner.multiple}); try a larger image")

    def translate_file(self, payload) -> tuple[np.ndarray | None, str]:
        """The upload view: the uploaded file (Gradio's FileData dict, not decoded yet) -> (output, latency)."""
        if payload is None:
            return None, ""
        path = payload.get("path") if isinstance(payload, dict) else None
        if not path:
            raise gr.Error("no image file arrived: upload a JPEG or PNG file")
        name = payload.get("orig_name") or os.path.basename(path)
        start = time.perf_counter()
        pixels, reason = predict.load_image(path, min_side=self.min_side, max_side=self.max_side)
        if reason is not None:
            if "smaller than" in reason:
                reason = self.too_small(*_declared_size(reason))
            raise gr.Error(f"{name} {reason}", title="Cannot translate this image")
        return self._translate(pixels, start)

    def translate_drawing(self, value) -> tuple[np.ndarray | None, str]:
        """The canvas: the editor's value {background, layers, composite} -> (output, latency)."""
        composite = value.get("composite") if isinstance(value, dict) else None
        if composite is None:
            return None, ""
        start = time.perf_counter()
        drawing = np.asarray(composite)
        if drawing.ndim == 2:
            drawing = np.repeat(drawing[..., np.newaxis], 3, axis=-1)
        if self.label_canvas is not None:
            drawing = self.label_canvas.snap(drawing)
        height, width = drawing.shape[:2]
        if min(height, width) < self.min_side:
            raise gr.Error(f"the drawing {self.too_small(width, height)}", title="Cannot translate this drawing")
        return self._translate(np.ascontiguousarray(drawing[..., :3], np.uint8), start)

    def _translate(self, pixels: np.ndarray, start: float) -> tuple[np.ndarray, str]:
        try:
            output, seconds = self.run(pixels)
        except UsageError as error:
            raise gr.Error(str(error), title="Cannot translate this image") from None
        total = time.perf_counter() - start
        height, width = pixels.shape[:2]
        return output, (f"{width}x{height} px in **{seconds * 1000:.0f} ms** (model), "
                        f"{total * 1000:.0f} ms with decoding and checks")


def _declared_size(reason: str) -> tuple[int, int]:
    """The WxH at the start of `check_image`'s size reasons ('is 10x12, smaller than ...')."""
    width, height = reason.split()[1].rstrip(",:").split("x")
    return int(width), int(height)


def _model_note(runner, label_canvas) -> str:
    facts = f"`{runner.description}`: trained at {runner.image_size}x{runner.image_size}, any size from " \
            f"{translation.minimum_side(runner.multiple)} px a side (reflect-padded to a multiple of {runner.multiple}, " \
            "output cropped back to the input's size)."
    dataset, direction = getattr(runner, "dataset", None), getattr(runner, "direction", None)
    if label_canvas is not None:
        task = f"Input: a **{dataset} label map** ({direction}): draw one with the class colors, or upload one."
    elif dataset:
        task = f"Input: a {dataset} image ({direction})."
    else:
        task = "Input: an image like the model's training inputs."
    return f"{facts}\n\n{task}"


def build_app(runner, *, examples: list[str] = (), max_side: int = DEFAULT_MAX_SIDE) -> gr.Blocks:
    """The page for `runner` (anything `runners.load_runner` returns).

    Args:
        runner: the model; its `dataset` and `direction` (None when unknown) choose the views.
        examples: image files offered one click each in the upload view.
        max_side: uploads with a side over this are refused from their header, before decoding.
    """
    label_canvas = canvas_lib.label_canvas(getattr(runner, "dataset", None), getattr(runner, "direction", None))
    translator = Translator(runner, label_canvas=label_canvas, max_side=max_side)
    with gr.Blocks(title="tfpix2pix", analytics_enabled=False, delete_cache=(600, 3600)) as app:
        gr.Markdown(f"# tfpix2pix\n{_model_note(runner, label_canvas)}")
        with gr.Tabs():
            if label_canvas is not None:
                side = canvas_lib.canvas_side(runner.image_size, runner.multiple)
                with gr.Tab("Draw a label map", id="draw"):
                    with gr.Row(equal_height=True):
                        editor = gr.ImageEditor(
                            # The empty layer makes Gradio's editor count loading as its first change: it
                            # ignores the first one, which would otherwise be the user's first stroke.
                            value={"background": label_canvas.blank(side, side),
                                   "layers": [np.zeros((side, side, 4), np.uint8)],
                                   "composite": label_canvas.blank(side, side)},
                            type="numpy", image_mode="RGBA", sources=(), canvas_size=(side, side),
                            fixed_canvas=True, layers=False, transforms=(), format="png",
                            brush=gr.Brush(colors=label_canvas.hex_colors,
                                           default_color=label_canvas.hex_colors[min(1, len(label_canvas.colors) - 1)],
                                           color_mode="fixed", default_size=8),
                            eraser=gr.Eraser(default_size=12), label=f"label map ({side}x{side})",
                            elem_id="label-canvas",
                        )
                        drawn = gr.Image(label="translated", format="png", interactive=False, elem_id="drawn-output")
                    gr.HTML(label_canvas.legend_html(), elem_id="class-legend")
                    with gr.Row():
                        draw_button = gr.Button("Translate drawing", variant="primary", elem_id="translate-drawing")
                    drawn_latency = gr.Markdown(elem_id="drawing-latency")
                draw_button.click(translator.translate_drawing, inputs=editor, outputs=[drawn, drawn_latency],
                                  api_name=DRAWING_API)
                editor.change(translator.translate_drawing, inputs=editor, outputs=[drawn, drawn_latency],
                              api_visibility="private", trigger_mode="always_last", show_progress="minimal")
            with gr.Tab("Upload an image", id="upload"):
                with gr.Row(equal_height=True):
                    image = gr.Image(
                        type="filepath", sources=("upload", "clipboard", "webcam"), format="png",
                        label="input (upload, paste or webcam)", webcam_options=gr.WebcamOptions(mirror=False),
                        elem_id="input-image",
                    )
                    output = gr.Image(label="translated", format="png", interactive=False, elem_id="output-image")
                with gr.Row():
                    button = gr.Button("Translate", variant="primary", elem_id="translate")
                latency = gr.Markdown(elem_id="latency")
                if examples:
                    gr.Examples(list(examples), inputs=image, label="examples: validation inputs of the dataset")
            # preprocess=False: the handler gets the uploaded file itself, checked before anything decodes it.
            button.click(translator.translate_file, inputs=image, outputs=[output, latency], api_name=TRANSLATE_API,
                         preprocess=False)
            image.change(translator.translate_file, inputs=image, outputs=[output, latency],
                         api_visibility="private", preprocess=False, show_progress="minimal")
    return app


def serve(app: gr.Blocks, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, share: bool = False) -> str:
    """Starts `app` in the background and returns its local URL (and the public one, with `share`)."""
    app.queue(default_concurrency_limit=1)
    app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True, quiet=True,
               show_error=True, inbrowser=False, ssr_mode=False, mcp_server=False, enable_monitoring=False)
    return app.local_url
