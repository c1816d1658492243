"""The language-model step of `benches/rnnlm.rs` in the book's NumPy code and in PyTorch eager,
to set beside `rnnlm_step/{cpu,cuda}/{simple,lstm}` in the same run:

- simple: ch05's SimpleRnnlm, batch 10, 5 steps, D = H = 100, a vocabulary of 418, SGD lr 0.1;
- lstm: ch06's Rnnlm, batch 20, 35 steps, D = H = 100, a vocabulary of 10 000, SGD lr 20,
  gradients clipped at 0.25.

One step: forward, backward, (clip,) update, on a batch of random ids, f32. NumPy runs the book's
classes from book_ch05.py (`--reference`, default ../shared/reference/book_ch05.py); PyTorch
runs nn.Embedding, nn.RNN (tanh) or nn.LSTM, nn.Linear, F.cross_entropy and torch.optim.SGD,
the hidden state carried and detached between steps (truncated BPTT). Times are the least and
the median per step over 7 rounds; on a GPU CUDA events time them. Prints SKIPPED for what is
not installed.

Usage: python3 benches/rnnlm_peers.py [--reference PATH] [--cpu-only] [--rounds N]
"""
import argparse
import importlib.util
import os
import sys
import time

CONFIGS = {
    "simple": dict(lstm=False, batch=10, time=5, vocab=418, lr=0.1, max_grad=None),
    "lstm": dict(lstm=True, batch=20, time=35, vocab=10_000, lr=20.0, max_grad=0.25),
}


def rounds(run, reps, n_rounds):
    per = sorted(run(reps) / reps for _ in range(n_rounds))
    return per[0], per[len(per) // 2]


def show(who, name, least, median):
    unit, scale = ("ms", 1e3) if least > 1e-3 else ("us", 1e6)
    print(f"{who} rnnlm_step/{name}: least {least * scale:.2f} {unit}, median {median * scale:.2f} {unit}")


def numpy_figures(path, n_rounds):
    try:
        import numpy as np
    except ImportError:
        print("SKIPPED numpy: not installed")
        return
    if not os.path.exists(path):
        print(f"SKIPPED numpy: the book's code is not at {path} (--reference PATH)")
        return
    spec = importlib.util.spec_from_file_location("book_ch05", path)
    book = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(book)
    book.DT = np.float32
    print(f"numpy {np.__version__}, the book's code from {path}")
    for name, c in CONFIGS.items():
        np.random.seed(1984)
        cls = book.Rnnlm if c["lstm"] else book.SimpleRnnlm
        model = cls(c["vocab"], 100, 100)
        opt = book.SGD(lr=c["lr"])
        rs = np.random.RandomState(7)
        xs = rs.randint(0, c["vocab"], (c["batch"], c["time"]))
        ts = rs.randint(0, c["vocab"], (c["batch"], c["time"]))

        def run(reps):
            start = time.perf_counter()
            for _ in range(reps):
                model.forward(xs, ts)
                model.backward()
                params, grads = book.remove_duplicate(model.params, model.grads)
                if c["max_grad"] is not None:
                    book.clip_grads(grads, c["max_grad"])
                opt.update(params, grads)
            return time.perf_counter() - start

        run(2)
        show("numpy", f"cpu/{name}", *rounds(run, 3 if c["lstm"] else 50, n_rounds))


def torch_figures(cpu_only, n_rounds):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print("SKIPPED torch: not installed")
        return
    devices = ["cpu"]
    if not cpu_only and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        devices.append("cuda")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name(0)} (TF32 off)" if "cuda" in devices else ", no GPU"))
    for dev in devices:
        for name, c in CONFIGS.items():
            torch.manual_seed(1984)
            emb = torch.nn.Embedding(c["vocab"], 100).to(dev)
            rnn = (torch.nn.LSTM(100, 100) if c["lstm"] else torch.nn.RNN(100, 100)).to(dev)
            out = torch.nn.Linear(100, c["vocab"]).to(dev)
            params = list(emb.parameters()) + list(rnn.parameters()) + list(out.parameters())
            opt = torch.optim.SGD(params, lr=c["lr"])
            g = torch.Generator().manual_seed(7)
            xs = torch.randint(0, c["vocab"], (c["time"], c["batch"]), generator=g).to(dev)
            ts = torch.randint(0, c["vocab"], (c["time"], c["batch"]), generator=g).to(dev)
            state = [None]

            def step():
                h, st = rnn(emb(xs), state[0])
                loss = F.cross_entropy(out(h).reshape(-1, c["vocab"]), ts.reshape(-1))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if c["max_grad"] is not None:
                    torch.nn.utils.clip_grad_norm_(params, c["max_grad"])
                opt.step()
                # Truncated BPTT: the state goes on, its history does not.
                state[0] = tuple(s.detach() for s in st) if c["lstm"] else st.detach()

            def run(reps):
                if dev == "cpu":
                    start = time.perf_counter()
                    for _ in range(reps):
                        step()
                    return time.perf_counter() - start
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(reps):
                    step()
                end.record()
                torch.cuda.synchronize()
                return start.elapsed_time(end) / 1e3

            run(3)
            reps = (5 if c["lstm"] else 100) if dev == "cpu" else 50
            show("torch eager", f"{dev}/{name}", *rounds(run, reps, n_rounds))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", default=os.path.join(here, "..", "..", "shared", "reference", "book_ch05.py"))
    ap.add_argument("--cpu-only", action="store_true")
    ap.add_argument("--rounds", type=int, default=7)
    o = ap.parse_args()
    numpy_figures(os.path.normpath(o.reference), o.rounds)
    torch_figures(o.cpu_only, o.rounds)


if __name__ == "__main__":
    sys.exit(main())
