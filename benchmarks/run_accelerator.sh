#!/usr/bin/env bash
# One prepared run for a (time-limited) accelerator machine: the machine, the
# self-check `jaxnn check` in float32 and float64, then the benchmarks.
#
#   benchmarks/run_accelerator.sh OUT [GRID_BUDGET_S]
#
# Needs jax (with the accelerator's plugin), numpy, scikit-learn, safetensors, rich
# and matplotlib importable by $PYTHON (default python3); torch is optional. Runs
# from the repository root without installing jaxnn. Each part writes its own files
# under OUT, so a run stopped early keeps what it finished (results.json is rewritten
# after every grid cell). GRID (default gpu), the per-cell BUDGET (default 1.5 s),
# CHECK_TIMEOUT (default 300 s), CELLS (a part of the grid, START:STOP: a lease too
# short for the whole grid measures the next part, e.g. CELLS=15:60), SKIP (parts
# to skip: check, memory, bench = all of benchmarks.backprop, or its dispatch,
# throughput, fd), MEMORY_TIMEOUT (default 240 s) and MEMORY_CELLS (default: the
# whole grid) can be set in the environment. The memory
# part compiles grid cells without running them, for the temp-memory target
# (benchmarks/memory.py; its JSON is rewritten after every cell). With AUTOTUNE_DUMP
# set, XLA also writes the GEMM choices its autotuner made for those cells to
# OUT/memory_autotune.textproto, for compile-only runs elsewhere
# (XLA_FLAGS=--xla_gpu_load_autotune_results_from=FILE python -m benchmarks.memory
# --gpu-target ...).
set -u
out=${1:?usage: benchmarks/run_accelerator.sh OUT [GRID_BUDGET_S]}
grid_budget=${2:-240}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

skip=",${SKIP:-},"
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  $py -c "import jax, jaxlib; print('jax', jax.__version__, 'jaxlib', jaxlib.__version__, jax.devices())"
  if [[ $skip != *,check,* ]]; then
    echo "== jaxnn check --dtype both"
    timeout "${CHECK_TIMEOUT:-300}" $py -m jaxnn check --dtype both --json "$out/check.json"
    echo "check exit code $?"
  fi
} >"$out/run.log" 2>&1
skip=${skip//,check,/,}

if [[ $skip != *,memory,* ]]; then
  flags=${XLA_FLAGS:-}
  if [[ -n ${AUTOTUNE_DUMP:-} ]]; then
    flags="$flags --xla_gpu_dump_autotune_results_to=$out/memory_autotune.textproto"
  fi
  env ${flags:+XLA_FLAGS="$flags"} \
  timeout "${MEMORY_TIMEOUT:-240}" $py -m benchmarks.memory --grid "${GRID:-gpu}" \
    ${MEMORY_CELLS:+--cells "$MEMORY_CELLS"} --out "$out/memory.json" \
    >"$out/memory.log" 2>&1
  echo "memory exit code $?" >>"$out/memory.log"
fi
skip=${skip//,memory,/,}
if [[ $skip == *,bench,* ]]; then
  exit 0
fi
skip=${skip#,}
skip=${skip%,}

$py -m benchmarks.backprop --grid "${GRID:-gpu}" --grid-budget "$grid_budget" \
  --budget "${BUDGET:-1.5}" --compile-repeats 1 --out "$out/bench" \
  ${CELLS:+--cells "$CELLS"} ${skip:+--skip "$skip"} >"$out/bench.log" 2>&1
echo "benchmark exit code $?" >>"$out/bench.log"
