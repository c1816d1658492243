#!/usr/bin/env bash
# Runs the bundled CUDA tests, parity and launch-count test, examples, benches and the PyTorch /
# CuPy peers on a GPU machine, each step under a time limit so that one hang cannot spend the
# whole device budget. The CUDA libraries are looked up in python3's nvidia-* pip packages.
set -uo pipefail
cd "$(dirname "$0")"
# The binaries come gzipped (`cargo xtask bundle`), to fit what the device tool carries.
for z in tests/*.gz examples/*.gz benches/*.gz; do
  [ -e "$z" ] || continue
  gunzip -f "$z" && chmod +x "${z%.gz}" || { echo "!! could not unpack $z"; exit 1; }
done
libs=$(python3 - <<'PY'
import glob, os, site
dirs = set()
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    for f in glob.glob(os.path.join(sp, "nvidia", "**", "lib*.so*"), recursive=True):
        # A stub libcuda.so ahead of the driver's would make every CUDA call fail.
        if "stubs" not in f.split(os.sep):
            dirs.add(os.path.dirname(f))
print(":".join(sorted(dirs)))
PY
)
# The driver's usual folders go last, in case the image's loader path lacks them.
export LD_LIBRARY_PATH="${libs}:${LD_LIBRARY_PATH:-}:/usr/local/nvidia/lib64:/usr/local/nvidia/lib"
# A dry run on nn-cuda-emu (`NN_BUNDLE_EMU=DIR`, the directory `cargo xtask cuda-emu` builds):
# the same steps at sizes a CPU emulation finishes, to check this script before a GPU runs it.
if [ -n "${NN_BUNDLE_EMU:-}" ]; then
  # The emulator's stand-in "machine code" is cached apart from the user's kernel cache.
  export LD_LIBRARY_PATH="${NN_BUNDLE_EMU}:${LD_LIBRARY_PATH}" NN_REQUIRE_EMU=1 \
    NN_CUDA_CACHE_DIR="${NN_BUNDLE_EMU}/kernel-cache"
  n=256; bench_filter='cuda(_f32(_graph)?|/(10|64|256)|/simple(_graph)?)$'; mlp_runs=(--runs 1 --iters 4)
  rnn_epochs="--epochs 2"; peer_flags="--cpu-only --rounds 1"
else
  # NN_CUDA_TEST_FILL_GPU: the out-of-memory test fills the GPU with 8 GiB tensors.
  export NN_REQUIRE_GPU=1 NN_CUDA_TEST_FILL_GPU=1
  n=4096; bench_filter=cuda; mlp_runs=(--runs 7 --iters 200)
  rnn_epochs=""; peer_flags=""
fi
log="${OUT:-.}/run.log"
step() { local limit=$1; shift; echo "== $* (limit ${limit}s)"; timeout "$limit" "$@" || { echo "!! failed ($?): $*"; return 1; }; }
steps() {
  local status=0
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  # Which driver, cuBLAS and NVRTC the loader will find first (cudarc asks for lib*.so*).
  for l in cuda cublas nvrtc; do
    found=""
    IFS=: read -ra dirs <<< "$LD_LIBRARY_PATH"
    for d in "${dirs[@]}"; do
      f=$(ls "$d"/lib$l.so* 2>/dev/null | head -1); [ -n "$f" ] && { found=$f; break; }
    done
    [ -z "$found" ] && found=$(ldconfig -p 2>/dev/null | awk -v l="lib$l.so" 'index($1, l) == 1 { print $NF; exit }')
    echo "lib$l: ${found:-NOT FOUND}"
  done
  for t in tests/*; do step 240 "$t" --test-threads=1 --nocapture || status=1; done
  step 60 ./examples/gpu_matmul --n "$n" || status=1
  # The same with the driver's default pool, which hands freed memory back at each
  # synchronisation: what keeping it cached is worth.
  step 60 env NN_CUDA_NO_MEMORY_CACHING=1 ./examples/gpu_matmul --n "$n" || status=1
  # Opening the device with the kernels compiled by NVRTC, not read from the cache.
  step 60 env NN_CUDA_CACHE_DIR= ./examples/gpu_matmul --n 64 --reps 1 || status=1
  for b in cuda cpu; do
    for d in f32 f64; do step 60 ./examples/spiral_timing --backend "$b" --dtype "$d" --runs 20 --iters 1000 || status=1; done
  done
  # The same steps replayed as one CUDA graph each, beside the eager ones above.
  for d in f32 f64; do step 60 ./examples/spiral_timing --backend cuda --dtype "$d" --runs 20 --iters 1000 --graph || status=1; done
  # The MLP step as gpu_peers.py times PyTorch's: the least of 7 rounds of 200 back-to-back steps.
  step 120 ./examples/spiral_timing --backend cuda --net mlp "${mlp_runs[@]}" || status=1
  step 120 ./examples/spiral_timing --backend cuda --net mlp "${mlp_runs[@]}" --graph || status=1
  step 60 ./examples/spiral_timing --backend cpu --net mlp --runs 3 --iters 10 || status=1
  # Section 1.5.1 on the GPU: f64 against f32 training, weights saved and reloaded.
  step 60 ./examples/precision --backend cuda || status=1
  for e in train_custom_loop train; do
    step 60 bash -c "./examples/$e --backend cuda --no-plot --report '${OUT:-.}/${e}_cuda.json' | tail -3" || status=1
  done
  # The language models (ch05 and ch06) on the GPU, on the made-up corpus.
  step 120 bash -c "./examples/train_rnnlm_custom_loop --backend cuda --no-plot $rnn_epochs | tail -3" || status=1
  step 120 bash -c "./examples/train_rnnlm --backend cuda --no-plot $rnn_epochs | tail -3" || status=1
  step 120 bash -c "./examples/train_rnnlm --backend cuda --model lstm --no-plot | tail -3" || status=1
  step 120 bash -c "./examples/train_rnnlm --backend cuda --model lstm --no-plot --graph | tail -4" || status=1
  step 60 bash -c "./examples/train --backend cuda --no-plot --graph | tail -3" || status=1
  for b in benches/*; do step 180 "$b" --bench --warm-up-time 1 --measurement-time 3 "$bench_filter" || status=1; done
  step 180 python3 gpu_peers.py || status=1
  step 300 python3 rnnlm_peers.py --reference book_ch05.py $peer_flags || status=1
  # The machine's own floor for a launch-bound step (launch_floor.cu, CUDA C++ without Rust),
  # built with the GPU machine's nvcc, to set beside `spiral_timing --backend cuda`.
  local nvcc
  nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
  if [ -n "${NN_BUNDLE_EMU:-}" ]; then
    echo "SKIPPED launch_floor: its figures are a GPU's (this is nn-cuda-emu)"
  elif [ -z "$nvcc" ]; then
    echo "SKIPPED launch_floor: nvcc not found"
  else
    local exe="${TMPDIR:-/tmp}/launch_floor"
    { step 120 "$nvcc" -O2 -arch=native -o "$exe" launch_floor.cu -ldl && step 120 "$exe"; } || status=1
  fi
  return $status
}
# Everything goes to $log too (the device tool returns only the last 12 000 characters of the
# output, and files under $OUT); the summary below, the last thing printed, has the figures.
steps 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
echo "== summary (the whole output: $log)"
grep -E '^(== |!! |\| )|^lib(cuda|cublas|nvrtc): |^graph: |test result|FAILED|panicked|SKIPPED|GFLOP/s|per iteration|launches|largest relative|accuracy|^parity |^cuda memory: |^cuda: device opened |^(torch|cupy|numpy|gpu_peers|launch_floor|fill_gpu)|perplexity|s of training|, [0-9]+ MiB$' "$log"
# Criterion's estimates; a long bench name stands on the line before its `time:`.
awk '/^ +time: +\[/ { print prev } /(time|thrpt): +\[/ { print } { prev = $0 }' "$log"
echo "== run.sh: status $status"
exit $status
