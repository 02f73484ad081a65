#!/usr/bin/env bash
# One prepared session on a CUDA machine, a few minutes of GPU time (5.5 min on an H100):
#  1. times the torch engine on CUDA with the shipped voice (B = 1, 8, 64), beside the native
#     engine on the same machine's CPU (B = 1, 8);
#  2. trains three voices of the shipped voice's real-time shape at once on the one GPU (a
#     model this small leaves the GPU idle between kernel launches, so the runs share it well);
#  3. evaluates the last kept checkpoints of every run, seed 0 (EVAL_SEEDS="0 1" for more), on
#     all CPU cores, newest first, for at most EVAL_SECONDS;
#  4. ranks them in summary.tsv (goals met over the seeds, then notes within 25 cents, then
#     clipping). Re-evaluate the best few with more seeds before shipping one (assets/README.md).
#
# Usage: scripts/gpu_train.sh DATA OUT
#   DATA: a dataset from `trainer dataset` (the shipped voice's: see assets/README.md).
#   TRAINER: the trainer binary (default target/release/trainer, built by the README's setup).
#   DEVICE=cpu, STEPS=24 and EVAL_LAST=1 make a quick dry run of the script itself on a machine
#   without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
data=$1
out=$2
trainer=${TRAINER:-target/release/trainer}
voice=assets/trombone.voice.safetensors
mkdir -p "$out"
log() { echo "== $(date +%T) $*"; }

command -v nvidia-smi >/dev/null && nvidia-smi -L || echo "gpu_train: nvidia-smi not found"
log "bench: torch on CUDA (B = 1, 8, 64) and the native engine (B = 1, 8), shipped voice"
[ "${DEVICE:-cuda}" = cpu ] || "$trainer" bench --voice "$voice" --engines torch-cuda --batches 1,8,64 --rounds 3 --samples 1024
"$trainer" bench --voice "$voice" --engines native --batches 1,8 --rounds 3 --samples 1024

# The recipe of the shipped voice (assets/README.md): the real-time shape, 4200 steps with the
# rate falling along a cosine, three runs side by side. Each run keeps a checkpoint every 350
# steps: the lowest NLL is not the best-sounding voice, so checkpoints are chosen by eval.
steps=${STEPS:-4200}
rt=(--preset small --top-dim 512 --top-ratio 8)
declare -A shape=(
  [rt-b64-s3]="${rt[*]} --batch 64 --seed 3"
  [rt-b64-s5]="${rt[*]} --batch 64 --seed 5"
  [rt-b16-s3]="${rt[*]} --batch 16 --seed 3"
)
names=(rt-b64-s3 rt-b64-s5 rt-b16-s3)
common=(--data "$data" --lr 1e-3 --lr-final 1e-4 --device "${DEVICE:-cuda}" --threads 1 --no-preview --onset-lead-ms 16
  --steps "$steps" --eval-every $((steps / 12)) --eval-examples 34 --keep-checkpoints --name "FluidR3 trombone")

log "training ${names[*]}, $steps steps each, side by side"
for n in "${names[@]}"; do
  # shellcheck disable=SC2086
  "$trainer" train "${common[@]}" ${shape[$n]} --out "$out/$n" > "$out/train-$n.log" 2>&1 &
done
wait
for n in "${names[@]}"; do tail -n 2 "$out/train-$n.log"; done

eval_last=${EVAL_LAST:-6}
log "eval: the last $eval_last checkpoints of every run, seeds ${EVAL_SEEDS:-0}, $(nproc) at a time"
mkdir -p "$out/evals"
# Newest checkpoints of every run first, so that a cut-off evaluation still covers every run.
for n in "${names[@]}"; do
  k=0
  for f in $(ls -r "$out/$n/checkpoints/"*.voice.safetensors 2>/dev/null | head -n "$eval_last"); do
    step=$(basename "$f" .voice.safetensors)
    for seed in ${EVAL_SEEDS:-0}; do echo "$k $f $out/evals/$n-$step-s$seed $seed"; done
    k=$((k + 1))
  done
done | sort -s -n -k1,1 | cut -d' ' -f2- > "$out/evals.todo"
# Bounded, so a slow machine still reaches the summary with the evaluations that finished.
timeout "${EVAL_SECONDS:-300}" xargs -P "$(nproc)" -n 3 \
  sh -c '"$0" eval --voice "$1" --seed "$3" --out "$2" > "$2.txt" 2>&1' "$trainer" < "$out/evals.todo" ||
  log "eval: stopped after ${EVAL_SECONDS:-300} s; the summary has the evaluations that finished"

log "summary"
python3 - "$out" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = {}
for rep in sorted(out.glob("evals/*/report.json")):
    run_step, seed = rep.parent.name.rsplit("-s", 1)
    r = json.loads(rep.read_text())
    goals = r["goals"]
    rows.setdefault(run_step, {})[seed] = {
        "met": sum(x["pass"] for x in goals),
        "stable_missing": goals[0]["value"], "median_c": goals[1]["value"], "within25": goals[3]["value"],
        "clip": goals[4]["value"], "after_db": goals[6]["value"], "onset_ms": goals[7]["value"],
        "end_ms": goals[8]["value"],
    }
keys = ["met", "stable_missing", "median_c", "within25", "clip", "after_db", "onset_ms", "end_ms"]
ranked = sorted(rows.items(), key=lambda kv: (-sum(s["met"] for s in kv[1].values()),
                -sum(s["within25"] or 0 for s in kv[1].values()), sum(s["clip"] or 0 for s in kv[1].values())))
seeds_seen = sorted({s for r in rows.values() for s in r})
lines = ["run_step\t" + "\t".join(f"{k}_s{s}" for k in keys for s in seeds_seen)]
for name, seeds in ranked:
    value = lambda s, k: seeds.get(s, {}).get(k)
    lines.append(name + "\t" + "\t".join("-" if value(s, k) is None else f"{value(s, k):.3g}" for k in keys for s in seeds_seen))
(out / "summary.tsv").write_text("\n".join(lines) + "\n")
print("\n".join(lines[:16]))
EOF
