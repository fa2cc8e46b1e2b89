"""The machine a figure was measured on: CPU model, cores and the instruction sets that change the speed.

Training speed differs 3-4x between the CPUs this runs on, and bfloat16 is fast on some and slow
on others, so every benchmark figure carries these facts (`bench --json`, docs/PERFORMANCE.md).
So does whether TensorFlow runs its oneDNN kernels: it turns them on by itself only on CPUs with
the newer neural-network instructions (AVX512_VNNI, AVX512_BF16, AMX and the like), and on an
AVX2-only CPU its convolutions are Eigen's unless `TF_ENABLE_ONEDNN_OPTS=1` says otherwise.
"""

from __future__ import annotations

import os
import platform

# /proc/cpuinfo flag -> the name the tables use. VNNI and AMX speed up int8 (TFLite) and bfloat16.
FLAGS = {"avx2": "AVX2", "fma": "FMA", "avx512f": "AVX512F", "avx512_vnni": "AVX512_VNNI", "avx_vnni": "AVX_VNNI",
         "avx512_bf16": "AVX512_BF16", "amx_tile": "AMX", "amx_bf16": "AMX_BF16", "amx_int8": "AMX_INT8"}


def cpu_facts(cpuinfo: str | None = None) -> dict:
    """{"cpu": model name, "cpus": logical CPUs, "flags": the FLAGS present} of this machine (or of `cpuinfo` text)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as file:
                cpuinfo = file.read()
        except OSError:
            cpuinfo = ""
    model, flags = "", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return {"cpu": model or platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "flags": [name for flag, name in FLAGS.items() if flag in flags]}


def bfloat16_flags(facts: dict) -> list[str]:
    """Which of AVX512_BF16 and AMX_BF16, the flags of bfloat16 math in hardware, the CPU has."""
    return [flag for flag in facts["flags"] if flag in ("AVX512_BF16", "AMX_BF16")]


def has_native_bfloat16(facts: dict) -> bool:
    """AVX512_BF16 or AMX: bfloat16 math in hardware (elsewhere it is emulated, and slower than float32)."""
    return bool(bfloat16_flags(facts))


def onednn_enabled() -> bool | None:
    """Whether this process's TensorFlow runs its oneDNN kernels (None where TensorFlow cannot say).

    TensorFlow decides once, at import, from the CPU and `TF_ENABLE_ONEDNN_OPTS`; bfloat16 is fast
    only with them (docs/PERFORMANCE.md).
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def this_machine() -> dict:
    """`cpu_facts()` of this machine and `onednn`, whether this process's TensorFlow runs oneDNN."""
    return {**cpu_facts(), "onednn": onednn_enabled()}


def describe(facts: dict) -> str:
    """One line for a table's heading: `AMD EPYC, 2 CPUs, AVX2 FMA` (then `, oneDNN off` where the facts say)."""
    line = f"{facts['cpu']}, {facts['cpus']} CPUs, {' '.join(facts['flags']) or 'no AVX2'}"
    if facts.get("onednn") is not None:
        line += f", TensorFlow's oneDNN kernels {'on' if facts['onednn'] else 'off'}"
    return line
