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
