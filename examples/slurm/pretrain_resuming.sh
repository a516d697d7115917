#!/usr/bin/env bash
# Run condenser-pretrain with the given flags, resuming from the newest checkpoint-N in --output_dir when there is one.
#
# condenser-pretrain resumes only from the checkpoint named by --resume_from_checkpoint, and torchrun restarts a failed
# worker with the very command it was started with: run this script under `torchrun --no-python --max-restarts N` so
# that every (re)start looks for the newest checkpoint itself. Every process of a job sees the same --output_dir (a
# shared file system), hence picks the same checkpoint. PYTHON (default: python) is the interpreter to run.
set -euo pipefail

output_dir=""
previous=""
for arg in "$@"; do
    if [[ "$previous" == "--output_dir" ]]; then
        output_dir="$arg"
    elif [[ "$arg" == --output_dir=* ]]; then
        output_dir="${arg#--output_dir=}"
    elif [[ "$arg" == "--resume_from_checkpoint" || "$arg" == --resume_from_checkpoint=* ]]; then
        echo "pretrain_resuming.sh: error: do not pass --resume_from_checkpoint; the newest checkpoint of --output_dir is used" >&2
        exit 2
    fi
    previous="$arg"
done
if [[ -z "$output_dir" ]]; then
    echo "pretrain_resuming.sh: error: pass --output_dir" >&2
    exit 2
fi

resume=()
# The newest complete checkpoint: the highest N among checkpoint-N folders holding trainer_state.json (written last).
last=""
last_step=-1
for folder in "$output_dir"/checkpoint-*; do
    step="${folder##*/checkpoint-}"
    if [[ "$step" =~ ^[0-9]+$ && -f "$folder/trainer_state.json" ]] && (( step > last_step )); then
        last="$folder"
        last_step="$step"
    fi
done
if [[ -n "$last" ]]; then
    echo "pretrain_resuming.sh: resuming from $last" >&2
    resume=(--resume_from_checkpoint "$last")
fi
exec "${PYTHON:-python}" -m transformers_condenser.pretrain "$@" "${resume[@]}"
