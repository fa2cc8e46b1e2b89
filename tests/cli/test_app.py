"""`tfpix2pix app` on the command line: help, a missing Gradio, flags and ports refused before the model loads."""

import socket
import sys

import pytest

import tfpix2pix.app
from tfpix2pix import cli


def run_main(argv):
    try:
        return cli.main(argv)
    except SystemExit as exit_info:  # argparse's own errors and --help
        return exit_info.code


def test_app_is_a_command_with_help_and_examples(capsys):
    assert run_main(["--help"]) == 0
    assert "app       a local web app" in capsys.readouterr().out
    assert run_main(["app", "--help"]) == 0
    text = capsys.readouterr().out
    for fragment in ("--model PATH", "--host ADDRESS", "default 127.0.0.1", "--port N", "default 7860", "--share",
                     "Gradio's share servers", "--max-side PX", 'pip install "tfpix2pix[app]"', "examples:",
                     "tfpix2pix app --model runs/facades", "no\nanalytics"):
        assert fragment in text, fragment


def test_a_missing_gradio_is_one_line_naming_the_install_command(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` raises ImportError
    # Forget a ui module that other tests imported, so the command imports it again.
    monkeypatch.delitem(sys.modules, "tfpix2pix.app.ui", raising=False)
    monkeypatch.delattr(tfpix2pix.app, "ui", raising=False)
    assert run_main(["app", "--model", "/nonexistent/run"]) == 2
    err = capsys.readouterr().err
    assert err == 'tfpix2pix app: error: the web app needs Gradio: pip install "tfpix2pix[app]"\n'


@pytest.mark.parametrize("flags, fragment", [
    (["--port", "70000"], "a port is 1 to 65535, got 70000"),
    (["--port", "0"], "must be at least 1, got 0"),
    (["--max-side", "0"], "must be at least 1, got 0"),
    (["--examples", "-1"], "must be 0 or more, got -1"),
])
def test_bad_flags_are_argparse_errors(flags, fragment, capsys):
    pytest.importorskip("gradio")
    assert run_main(["app", "--model", "/nonexistent/run", *flags]) == 2
    assert fragment in capsys.readouterr().err


def test_a_missing_model_and_a_taken_port_are_one_line_each(capsys):
    pytest.importorskip("gradio")
    assert run_main(["app", "--model", "/nonexistent/run"]) == 2
    assert capsys.readouterr().err == "tfpix2pix app: error: --model /nonexistent/run does not exist\n"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # The port is checked first: a taken port is the answer even before a missing model.
        assert run_main(["app", "--model", "/nonexistent/run", "--port", str(port)]) == 2
    assert capsys.readouterr().err == (f"tfpix2pix app: error: cannot serve on 127.0.0.1:{port}: the port is taken; "
                                       "choose another --port\n")
    assert run_main(["app", "--model", "/nonexistent/run", "--host", "host.invalid"]) == 2
    assert "--host host.invalid: not an address of this machine" in capsys.readouterr().err
