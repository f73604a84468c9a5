#!/usr/bin/env bash
# All of issue 3's GPU rows in one call, for a lent GPU machine (which has jax[cuda], optax and
# chex but not Keras, and no network). Keras travels as wheels in .whl/ (see benchmarks/README.md,
# "On a GPU"); without them the Keras columns are skipped with a note.
#
#   bash benchmarks/gpu_run.sh [OUT_DIR]
#
# FIT_SPEED_ARGS adds arguments to every fit_speed.py call (a CPU dry run of this script, say:
# FIT_SPEED_ARGS="--samples 512 --workload mlp").
#
# Runs every workload and contender of fit_speed.py at its default size, then kerasx again with
# one step per call (--kerasx-spe 1), and writes the tables and raw JSON to OUT_DIR. A worker that
# runs past 180 s is stopped and reported as failed, so one hang cannot spend the device time;
# progress.log keeps each worker's result line as it finishes.
set -u
out=${1:-${OUT:-/tmp/kerasx-gpu}}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import jax, optax; print('jax', jax.__version__, 'optax', optax.__version__, jax.devices())" \
  | tee -a "$out/gpu.txt"
python3 benchmarks/fit_speed.py --epochs 3 --timeout 180 ${FIT_SPEED_ARGS:-} --json "$out/all.json" 2>"$out/progress.log" \
  | tee "$out/all.txt"
python3 benchmarks/fit_speed.py --epochs 3 --contenders kerasx --kerasx-spe 1 --timeout 180 ${FIT_SPEED_ARGS:-} \
  --json "$out/spe1.json" 2>>"$out/progress.log" | tee "$out/spe1.txt"
# Issue 14's memory rows: host RSS and device peak of fit / evaluate / predict on a 2 GB array.
timeout 600 python3 benchmarks/data_memory.py 2>>"$out/progress.log" | tee "$out/data_memory.txt"
# Issue 13's GPU row: the Transformer encoder benchmark (issue 12's sizes) in float32 and in
# mixed_bfloat16 (target: mixed >= 1.6x float32 steps/s on an H100/H200).
for policy in float32 mixed_bfloat16; do
  timeout 420 python3 benchmarks/sequence_speed.py --workload transformer --contenders kerasx,keras \
    --steps 30 --epochs 2 --repeats 1 --timeout 180 --policy $policy \
    --json "$out/transformer_$policy.json" 2>>"$out/progress.log" | tee "$out/transformer_$policy.txt"
done
