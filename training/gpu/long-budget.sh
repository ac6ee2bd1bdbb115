#!/usr/bin/env bash
# The survey systems at budgets the 2-core build machines cannot give them, on one CUDA GPU
# (training/README.md, "Cross-modal attention and SimMIM at long budgets on a GPU"): the
# `crossmodal` comparison (image-only student vs cross-modal attention) and SimMIM on the
# ConvNeXt at 10 % of the labels, with the committed recipes and only the step counts raised.
# Runs are independent processes sharing the GPU (each small network leaves it mostly idle):
# one per (row recipe's learning rate, seed), so the learning rate is chosen afterwards on the
# first seed's validation split, as the single-process runs' `lr_grid` does.
#   [XM_STEPS=4000 SM_PRE=4000 SM_FT=4000 LIMIT=490] training/gpu/long-budget.sh OUTDIR   (the measured run)
# Writes OUTDIR/{summary.md (training/gpu/summarize.py: the tables, learning rates chosen on the
# first seed's validation), runs.tgz (every run's .md/.json/train.log and SimMIM's reconstruction),
# env.txt}. DEVICE=cpu runs the same on the CPU (a smoke test at tiny step counts).
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${1:?usage: long-budget.sh OUTDIR}"
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}" XM_STEPS="${XM_STEPS:-4000}" SM_PRE="${SM_PRE:-4000}" SM_FT="${SM_FT:-4000}" LIMIT="${LIMIT:-490}"
work="${WORK:-/tmp/long-budget}"
rm -rf "$work" && mkdir -p "$work" "$out"

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
  nproc
  echo "DEVICE=$DEVICE XM_STEPS=$XM_STEPS SM_PRE=$SM_PRE SM_FT=$SM_FT LIMIT=$LIMIT"
} >"$out/env.txt" 2>&1
cat "$out/env.txt"

data="$work/data"
t0=$(date +%s)
"$PY" -c "from dataclasses import replace; from training.fine_data import fine_data; from training.data.shapes import generate
generate(replace(fine_data(), root='$data'), log=lambda s: None)" || exit 1
echo "data: $(( $(date +%s) - t0 )) s" | tee -a "$out/env.txt"

export OMP_NUM_THREADS=1 TRAINING_THREADS=1 PYTHONUNBUFFERED=1
pids=()
for lr in 0.001 0.004; do
  for seed in 0 1 2; do
    d="$work/xm-lr$lr-s$seed"
    timeout "$LIMIT" "$PY" -m training crossmodal --config training/configs/crossmodal.yaml --out "$d" \
      --data "$data" --set device="$DEVICE" --set steps="$XM_STEPS" --set "seeds=[$seed]" --set 'lr_grid=[]' \
      --set lr="$lr" --set miniclip= --set export_onnx=false --set log_every_steps=500 >"$d.out" 2>&1 &
    pids+=($!)
    d="$work/sm-lr$lr-s$seed"
    timeout "$LIMIT" "$PY" -m training simmim --config training/configs/simmim-convnext.yaml --out "$d" \
      --data "$data" --set device="$DEVICE" --set pretrain_steps="$SM_PRE" --set finetune_steps="$SM_FT" \
      --set "seeds=[$seed]" --set 'finetune_lr_grid=[]' --set finetune_lr="$lr" --set 'label_fractions=[0.1]' \
      --set log_every_steps=500 >"$d.out" 2>&1 &
    pids+=($!)
  done
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=$((fail + 1)); done
echo "runs: $(( $(date +%s) - t0 )) s, $fail of ${#pids[@]} failed or timed out" | tee -a "$out/env.txt"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >>"$out/env.txt" 2>&1
"$PY" training/gpu/summarize.py "$work" >"$out/summary.md"
(cd "$work" && tar czf "$out/runs.tgz" --exclude=data --exclude='*.pt' --exclude='*.onnx' .)
tail -n 3 "$work"/*.out
exit "$fail"
