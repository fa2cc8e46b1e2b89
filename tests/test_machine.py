"""The machine facts every benchmark figure carries, parsed from /proc/cpuinfo text."""

from tfpix2pix import machine


def test_the_machine_facts_name_the_cpu_and_the_flags_that_matter():
    cpuinfo = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz\n"
               "flags\t\t: fpu sse avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n"
               "processor\t: 1\nmodel name\t: ignored\n")
    facts = machine.cpu_facts(cpuinfo)
    assert facts["cpu"] == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"
    assert facts["flags"] == ["AVX2", "FMA", "AVX512F", "AVX512_VNNI", "AVX512_BF16", "AMX", "AMX_BF16", "AMX_INT8"]
    assert machine.has_native_bfloat16(facts)
    epyc = machine.cpu_facts("model name\t: AMD EPYC\nflags\t\t: fpu avx2 fma\n")
    assert epyc["flags"] == ["AVX2", "FMA"] and not machine.has_native_bfloat16(epyc)
    assert machine.describe(epyc) == f"AMD EPYC, {epyc['cpus']} CPUs, AVX2 FMA"


def test_the_oneDNN_state_is_this_process_tensorflow_s_and_the_description_names_it():
    import tensorflow  # TensorFlow decides at import

    assert tensorflow.__version__
    state = machine.onednn_enabled()
    assert isinstance(state, bool)
    epyc = {**machine.cpu_facts("model name\t: AMD EPYC\nflags\t\t: fpu avx2 fma\n"), "onednn": False}
    assert machine.describe(epyc).endswith("AVX2 FMA, TensorFlow's oneDNN kernels off")
    assert machine.describe({**epyc, "onednn": True}).endswith("oneDNN kernels on")


def test_tensorflow_s_oneDNN_default_follows_the_environment_variable():
    """`TF_ENABLE_ONEDNN_OPTS` = 0 or 1 decides it whatever the CPU; the facts report what the process runs."""
    import os
    import subprocess
    import sys

    script = "from tfpix2pix import machine; import tensorflow; print(machine.onednn_enabled())"
    states = {}
    for value in ("0", "1"):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": value, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        states[value] = result.stdout.strip().splitlines()[-1]
    assert states == {"0": "False", "1": "True"}
