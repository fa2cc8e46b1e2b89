"""benchmarks/bf16_round.sh refuses, before writing anything, a CPU or a TensorFlow where bfloat16 is emulated."""

import os
import subprocess
import sys

from tests.paths import REPO

SCRIPT = REPO / "benchmarks" / "bf16_round.sh"


def run(tmp_path, flags: str, **env) -> subprocess.CompletedProcess:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"model name\t: Some CPU\nflags\t\t: fpu {flags}\n")
    out = tmp_path / "round"
    environment = {**os.environ, "CPUINFO": str(cpuinfo), "OUT": str(out), "PYTHON": sys.executable,
                   "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, cwd=REPO, env=environment,
                            timeout=300)
    assert not out.exists()  # refused before writing
    return result


def test_it_refuses_a_cpu_without_native_bfloat16(tmp_path):
    result = run(tmp_path, "avx2 fma avx512f avx512_vnni")
    assert result.returncode == 2
    assert "neither AVX512_BF16 nor AMX" in result.stderr and "emulated" in result.stderr


def test_it_refuses_a_tensorflow_without_its_onednn_kernels(tmp_path):
    result = run(tmp_path, "avx2 fma avx512f avx512_bf16", TF_ENABLE_ONEDNN_OPTS="0")
    assert result.returncode == 2
    assert "oneDNN kernels are off" in result.stderr
