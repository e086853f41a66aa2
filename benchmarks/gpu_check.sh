#!/usr/bin/env bash
# The pipeline on a GPU in one command: throughput beside the published anchors, and the tiny config
# end to end on the GPU against a CPU run of it. Every figure comes from benchmarks/bench.py.
#
#   benchmarks/gpu_check.sh                 # on a CUDA machine: resnet50 224 px (target: < 8 min on one H100)
#   benchmarks/gpu_check.sh --device cpu    # the same stages at tiny sizes on the CPU, with the CUDA code
#                                           # paths taken there (tests/workflow/test_gpu_check.py runs it)
#
# Stages (each a bench.py call; a stage that fails is reported and the others still run):
#   train     1. the project's training epoch against a bare loop (AMP, channels_last), anchors beside it
#   compile   1. the same with training.compile (torch.compile; CUDA only: on a CPU it takes minutes)
#   proxy     2. the proxy step against the bare batched GradCAM++, the thesis's figure beside it
#   augment   5. every augmentation arm's training throughput
#   e2e       8. tests/configs/tiny.yaml end to end with training.device set to the device, then to cpu,
#                runs.csv side by side
# Exit status: 0 when every stage ran, 1 when one failed, 2 for bad arguments or no GPU.
# PYTHON (default: python) is the interpreter; PYTHONPATH gets this checkout's src/ in front.
set -u

DEVICE=cuda
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE="${2:-}"; shift 2 ;;
        --device=*) DEVICE="${1#--device=}"; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument $1 (use --device cuda|cuda:N|cpu)" >&2; exit 2 ;;
    esac
done
case "$DEVICE" in
    cpu|cuda|cuda:[0-9]*) ;;
    *) echo "gpu_check.sh: --device must be cuda, cuda:N or cpu, not '$DEVICE'" >&2; exit 2 ;;
esac

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python}"
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1  # each figure as soon as it is measured
BENCH=("$PY" "$REPO/benchmarks/bench.py")
CORES="$(nproc 2>/dev/null || echo 2)"

if [ "$DEVICE" = cpu ]; then
    # tiny sizes; the CUDA paths on the CPU: bf16 autocast and channels_last for 1 (a CPU without
    # native bf16 runs it 5-25 times slower than fp32), channels_last alone for the arms
    COMMON=(--device cpu --cuda-paths --anchors --model resnet18 --img-size 32 --batch-size 16 --threads 1
            --cam-layer layer3 --repeats 1)
    TRAIN=(--train-images 32)
    PROXY=(--proxy-images 32)
    ARMS=(--train-images 32 --amp none)
    E2E=(--e2e-small --cores "$CORES")
else
    if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        echo "gpu_check.sh: torch sees no CUDA device here; run it on a GPU machine, or use --device cpu" >&2
        exit 2
    fi
    # timm's anchors are resnet50 at 224 px with AMP and channels_last (the Trainer's defaults on CUDA)
    COMMON=(--device "$DEVICE" --anchors --model resnet50 --img-size 224 --batch-size 256 --cam-layer layer4)
    TRAIN=(--train-images 2560 --repeats 3)
    COMPILE=(--train-images 1280 --repeats 2)
    PROXY=(--proxy-images 512 --batch-size 64 --repeats 3)
    ARMS=(--train-images 1024 --repeats 2)
    E2E=(--cores "$CORES")
fi

echo "# gpu_check.sh --device $DEVICE, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'), load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
if [ "$DEVICE" != cpu ] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/# GPU: /'
fi

STATUS=()
FAILED=0
START=$SECONDS
stage() {  # stage NAME ARGS...: one bench.py call, its wall time and whether it ran
    local name="$1" t0=$SECONDS rc
    shift
    echo
    echo "== $name: bench.py $*"
    "${BENCH[@]}" "$@"
    rc=$?
    if [ $rc -eq 0 ]; then
        STATUS+=("$(printf '%-8s ok      %5d s' "$name" $((SECONDS - t0)))")
    else
        STATUS+=("$(printf '%-8s FAILED  %5d s  (exit %d)' "$name" $((SECONDS - t0)) $rc)")
        FAILED=1
    fi
}

stage train "${COMMON[@]}" --only train "${TRAIN[@]}"
if [ "$DEVICE" = cpu ]; then
    STATUS+=("$(printf '%-8s skipped (a CPU compile takes minutes: tests/workflow/test_cuda_paths.py compiles a round)' compile)")
else
    stage compile "${COMMON[@]}" --only train --compile "${COMPILE[@]}"
fi
stage proxy "${COMMON[@]}" --only proxy "${PROXY[@]}"
stage augment "${COMMON[@]}" --only augment "${ARMS[@]}"
stage e2e --device "$DEVICE" --only e2e "${E2E[@]}"

echo
echo "== summary ($((SECONDS - START)) s in all; target on one H100: < 480 s)"
printf '   %s\n' "${STATUS[@]}"
exit $FAILED
