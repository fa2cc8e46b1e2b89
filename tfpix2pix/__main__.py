"""`python -m tfpix2pix` runs the same command line as `tfpix2pix`."""

from tfpix2pix.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
