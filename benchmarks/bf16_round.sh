#!/usr/bin/env bash
# Round two's bfloat16 measurements, for a CPU with AVX512_BF16 or AMX (goal 2 and the bf16 part of
# goal 4, docs/PERFORMANCE.md), in order and resumable. From the repository's root:
#
#   nohup bash benchmarks/bf16_round.sh > /tmp/bf16_round.log 2>&1 &
#
# 1. `side_by_side.py` twice: float32 against the reference (its table in docs/PERFORMANCE.md), then
#    `--bf16` (mixed_bfloat16 and the bf16 SavedModel against the reference at its best in bf16).
# 2. Quality: facades at 256x256 for $STEPS steps (2,000, the goal's length), seeds 0 and 1, in
#    float32 and in mixed_bfloat16, each then scored by `tfpix2pix test` on the val split; the
#    table at the end gives each run's L1, PSNR and SSIM: bf16 must fall within float32's seed spread.
# 3. The exported bf16 SavedModel of the float32 seed-0 run against its float32 SavedModel.
#
# Every step writes under $OUT and is skipped when its result is there; a training stopped halfway
# resumes from its last checkpoint. The four trainings take about 25-35 minutes each on 2 cores.
# Nothing else may run meanwhile: the timings are the point.
set -euo pipefail

OUT=${OUT:-/tmp/bf16_round}
DATA=${DATA:-../shared/data/facades}
REFERENCE=${TFPIX2PIX_REFERENCE:-../shared/reference/torch_pix2pix.py}
PYTHON=${PYTHON:-.venv/bin/python}
STEPS=${STEPS:-2000}
CPUINFO=${CPUINFO:-/proc/cpuinfo}
tfpix2pix() { "$PYTHON" -m tfpix2pix "$@"; }

if ! grep -qwE 'avx512_bf16|amx_bf16' "$CPUINFO"; then
  echo "bf16_round: this CPU has neither AVX512_BF16 nor AMX; bfloat16 is emulated here, so there is nothing to measure" >&2
  exit 2
fi
onednn=$("$PYTHON" -c "import tensorflow; from tfpix2pix import machine; print(machine.onednn_enabled())" 2>/dev/null | tail -n 1)
if [ "$onednn" != "True" ]; then
  echo "bf16_round: TensorFlow's oneDNN kernels are off (TF_ENABLE_ONEDNN_OPTS=0?); bfloat16 needs them" >&2
  exit 2
fi
mkdir -p "$OUT"
date -u
grep -m 1 "model name" "$CPUINFO"

for kind in float32 bf16; do
  if [ ! -s "$OUT/side_by_side_$kind.md" ]; then
    flags=(); [ "$kind" = bf16 ] && flags=(--bf16)
    "$PYTHON" benchmarks/side_by_side.py --reference "$REFERENCE" "${flags[@]}" --raw "$OUT/side_by_side_$kind.json" \
      > "$OUT/side_by_side_$kind.partial"
    mv "$OUT/side_by_side_$kind.partial" "$OUT/side_by_side_$kind.md"
  fi
done

# Seed by seed, bfloat16 first: a round cut short still pairs each finished bf16 run with float32.
for seed in 0 1; do
  for precision in mixed_bfloat16 float32; do
    run="$OUT/facades-$precision-seed$seed"
    [ -s "$run/results/val/metrics.json" ] && continue
    tfpix2pix train --preset facades --data-dir "$DATA" --direction BtoA --steps "$STEPS" --seed "$seed" \
      --precision "$precision" --workdir "$run"
    tfpix2pix test --workdir "$run" --overwrite
  done
done
"$PYTHON" - "$OUT" <<'EOF'
import json, pathlib, sys
print("| run | L1 (0-255) | PSNR | SSIM |\n|---|---|---|---|")
for metrics in sorted(pathlib.Path(sys.argv[1]).glob("facades-*/results/val/metrics.json")):
    mean = json.loads(metrics.read_text())["mean"]
    print(f"| {metrics.parents[2].name} | {mean['l1']:.2f} | {mean['psnr']:.2f} | {mean['ssim']:.3f} |")
EOF

if [ ! -s "$OUT/saved_model_latency.md" ]; then
  [ -d "$OUT/export/saved_model_bf16" ] || tfpix2pix export --workdir "$OUT/facades-float32-seed0" --out "$OUT/export" --bf16
  "$PYTHON" benchmarks/saved_model_latency.py "$OUT/export" --rounds 25 > "$OUT/saved_model_latency.partial"
  mv "$OUT/saved_model_latency.partial" "$OUT/saved_model_latency.md"
fi
cat "$OUT/saved_model_latency.md"
date -u
