"""`tfpix2pix app`: a local web app (Gradio) that translates uploaded or drawn images with a trained model."""

from __future__ import annotations

import argparse
import errno
import signal
import socket
import sys
import tempfile
import threading

from tfpix2pix.cli.flags import non_negative_int, positive_int
from tfpix2pix.errors import UsageError

DEFAULT_PORT = 7860  # also tfpix2pix.app.ui.DEFAULT_PORT, which needs Gradio to import


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, got {value}")
    return value


def check_port(host: str, port: int) -> None:
    """UsageError unless `host`:`port` can be bound now (the address exists and the port is free)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UsageError(f"--host {host}: not an address of this machine ({error.strerror})") from None
    family, kind, _, _, address = infos[0]
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise UsageError(f"cannot serve on {host}:{port}: the port is taken; choose another --port") from None
            raise UsageError(f"cannot serve on {host}:{port}: {error.strerror}; check --host") from None


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "app", help="a local web app: upload or draw an image, see the model's output",
        description=(
            "Serve a trained model as a web page on this machine (Gradio: pip install \"tfpix2pix[app]\").\n\n"
            "Upload, paste or take a webcam picture and see the translated image beside it, at the input's\n"
            "size (sides reflect-padded to the model's multiple and the output cropped back, as predict\n"
            "does), with the latency. Models whose input is a label map (facades or cityscapes BtoA) also\n"
            "get a drawing canvas whose brushes are the dataset's class colors, starting from a blank map\n"
            "of the background class. A few validation inputs of the model's dataset are offered as\n"
            "examples when they are on disk. Bad uploads (not an image, a side over --max-side, too small\n"
            "for the model) are a message in the page.\n\n"
            "The page binds to 127.0.0.1 (this machine only) unless --host says otherwise, sends no\n"
            "analytics and needs no network; --share alone makes a public URL through Gradio's servers.\n"
            "Ctrl-C or SIGTERM stops it."
        ),
        epilog="examples:\n  tfpix2pix app --model runs/facades                 # prints http://127.0.0.1:7860\n"
        "  tfpix2pix app --model export/facades --port 8080\n"
        "  tfpix2pix app --model export/facades/facades_int8.tflite\n"
        "  tfpix2pix app --model runs/facades --host 0.0.0.0  # reachable from your network",
    )
    parser.add_argument("--model", required=True, metavar="PATH",
                        help="a work dir (latest checkpoint), a SavedModel or export folder, or a .tflite file")
    parser.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT, metavar="N",
                        help=f"port to listen on (default {DEFAULT_PORT})")
    parser.add_argument("--share", action="store_true",
                        help="also make a temporary public URL: every request and image then goes through "
                        "Gradio's share servers on the internet (off by default)")
    parser.add_argument("--max-side", type=positive_int, default=4096, metavar="PX",
                        help="refuse images with a side over PX, before decoding (default 4096)")
    parser.add_argument("--examples", type=non_negative_int, default=4, metavar="N",
                        help="validation inputs of the model's dataset offered as examples, when on disk "
                        "(default 4; 0 for none)")
    parser.add_argument("--data-root", default=None, metavar="DIR",
                        help="where the official datasets live, for the examples (default: the work dir's "
                        "data root, else data/)")
    parser.set_defaults(handler=run_app)


def run_app(args) -> int:
    from tfpix2pix.app import ui  # first: a missing Gradio is one line, before the model loads
    from tfpix2pix.app.examples import example_inputs
    from tfpix2pix.inference import runners

    check_port(args.host, args.port)  # before the model loads: a taken port is an answer within a second
    runner = runners.load_runner(args.model)
    config = getattr(runner, "config", None)  # a work dir's runner has the run's config
    data_root = args.data_root or (config.data.data_root if config is not None else "data")
    print(f"model: {runner.description}")
    # Ctrl-C and SIGTERM both set the event, so the main thread leaves its wait and closes Gradio in
    # order: a KeyboardInterrupt raised inside a lock's wait could leave the server's threads unjoined.
    stop = threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in (signal.SIGINT, signal.SIGTERM)}
    with tempfile.TemporaryDirectory(prefix="tfpix2pix-app-") as scratch:
        examples = example_inputs(runner.dataset, runner.direction, data_root, scratch, count=args.examples)
        app = ui.build_app(runner, examples=examples, max_side=args.max_side)
        try:
            # Ctrl-C may come while Gradio still finishes its start-up, the page already served: the loop
            # below then ends at once.
            try:
                url = ui.serve(app, host=args.host, port=args.port, share=args.share)
            except OSError as error:  # taken since check_port, or refused by Gradio
                taken = "Cannot find empty port" in str(error)
                raise UsageError(f"cannot serve on {args.host}:{args.port}" + (": the port is taken" if taken else
                                 f" ({error})") + "; choose another --port") from None
            print(f"serving on {url}" + (f" and {app.share_url} (public, through Gradio's servers)"
                                         if args.share and app.share_url else ""))
            print("Ctrl-C stops it", flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            app.close()
    print("stopped", file=sys.stderr)
    return 0
