#!/usr/bin/env bash
# Regenerates the language-model reference runs the fidelity tests compare against, with the
# book's NumPy code (../shared/reference/book_ch05.py; NumPy 2.4.6 was used). From the repository
# root:
#   python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install numpy
#   PY=/tmp/refenv/bin/python bash tests/data/regen_rnnlm.sh
# Without --corpus the reference trains on its made-up corpus (400 sentences, seed 0), which the
# library's `made_up_corpus(400, 0)` reproduces byte for byte (made_up.txt, checked by a test).
set -euo pipefail
PY=${PY:-python3}
REF=$(realpath "${REF:-../shared/reference/book_ch05.py}")
cd "$(dirname "$0")/rnnlm"
# Every recorded perplexity and every iteration's loss; not the timing.
slim() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); d.pop("seconds"); print(json.dumps(d))'; }
"$PY" "$REF" corpus > made_up.txt
# A test file of words the training file has: its last 100 sentences.
tail -n 100 made_up.txt > eval.txt
# ch05/train_custom_loop.py: the book's values, in f64 and f32, and other sizes and seeds.
"$PY" "$REF" custom_loop --dtype float64 | slim > custom_loop_f64.json
"$PY" "$REF" custom_loop --dtype float32 | slim > custom_loop_f32.json
"$PY" "$REF" custom_loop --dtype float64 --seed 7 --batch-size 6 --time-size 8 --corpus-size 800 --wordvec 30 --hidden 40 --lr 0.2 --epochs 40 | slim > custom_loop_f64_seed7.json
# RnnlmTrainer.fit as ch05/train.py calls it (SimpleRnnlm) and as ch06/train_rnnlm.py does
# (Rnnlm, the LSTM: the whole file, its vocabulary, batch 20, time 35, lr 20, clipping at 0.25),
# with the test perplexity after training.
"$PY" "$REF" trainer --dtype float64 | slim > trainer_simple_f64.json
"$PY" "$REF" trainer --dtype float32 | slim > trainer_simple_f32.json
CH06="--model lstm --corpus-size 0 --vocab file --batch-size 20 --time-size 35 --lr 20 --max-grad 0.25"
"$PY" "$REF" trainer --dtype float64 $CH06 --epochs 4 --eval-corpus eval.txt | slim > trainer_lstm_f64.json
"$PY" "$REF" trainer --dtype float32 $CH06 --epochs 4 --eval-corpus eval.txt | slim > trainer_lstm_f32.json
# Adam, clipping, other intervals, sizes and seeds, for both models.
"$PY" "$REF" trainer --dtype float64 --optimizer adam --lr 0.005 --max-grad 2.0 --eval-interval 5 --seed 3 --batch-size 8 --time-size 6 --wordvec 20 --hidden 30 --epochs 40 | slim > trainer_simple_adam_f64.json
"$PY" "$REF" trainer --dtype float64 --model lstm --optimizer adam --lr 0.01 --max-grad 1.0 --eval-interval 3 --seed 7 --batch-size 7 --time-size 9 --epochs 30 | slim > trainer_lstm_adam_f64.json
"$PY" "$REF" trainer --dtype float64 --model lstm --seed 11 --wordvec 16 --hidden 24 --lr 0.3 --max-grad 1.0 --epochs 100 | slim > trainer_lstm_sgd_f64.json
