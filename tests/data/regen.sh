#!/usr/bin/env bash
# Regenerates the reference results the fidelity tests compare against, with the book's NumPy
# code (../shared/reference/book_ch01.py; NumPy 2.4.6 was used). Run from the repository root:
#   python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install numpy
#   PY=/tmp/refenv/bin/python bash tests/data/regen.sh
set -euo pipefail
PY=${PY:-python3}
REF=$(realpath "${REF:-../shared/reference/book_ch01.py}")
slim() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); d.pop("params"); d.pop("seconds"); print(json.dumps(d))'; }
cd "$(dirname "$0")"
"$PY" "$REF" spiral --seed 1984 > spiral_1984.json
"$PY" "$REF" spiral --seed 7 > spiral_7.json
"$PY" "$REF" custom_loop --dtype float64 | slim > custom_loop_f64.json
"$PY" "$REF" custom_loop --dtype float32 | slim > custom_loop_f32.json
"$PY" "$REF" custom_loop --dtype float64 --seed 7 --epochs 60 --batch-size 25 --hidden 20 --lr 0.5 | slim > custom_loop_f64_seed7.json
for opt in sgd momentum nesterov adagrad rmsprop adam; do
  lr=1.0; case $opt in momentum|nesterov) lr=0.1;; adagrad|rmsprop|adam) lr=0.01;; esac
  "$PY" "$REF" trainer --dtype float64 --optimizer $opt --lr $lr --epochs 40 | slim > trainer_${opt}_f64.json
done
"$PY" "$REF" trainer --dtype float64 | slim > trainer_f64.json
"$PY" "$REF" trainer --dtype float32 | slim > trainer_f32.json
"$PY" "$REF" trainer --dtype float64 --seed 3 --max-grad 0.5 --eval-interval 3 --batch-size 20 --epochs 50 | slim > trainer_maxgrad_f64.json
# NumPy's random stream itself, for nn-core's RNG test.
"$PY" ../../crates/nn-core/tests/data/rng_stream.py > ../../crates/nn-core/tests/data/rng_stream.json
