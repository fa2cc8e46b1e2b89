"""Folders the tests read: the repository, the bundled sample, the committed golden files, ../shared."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLE = REPO / "tfpix2pix" / "sample_data" / "facades-sample"
GOLDEN = REPO / "tests" / "golden"
ARTIFACTS = REPO / "test-artifacts"  # screenshots and pages a person may want to look at after a run
