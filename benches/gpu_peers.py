"""PyTorch and CuPy figures on the GPU, to set beside nn-cuda's (issue: sgemm n = 4096 within 5%
of cuBLAS as they call it; the MLP step no slower than PyTorch eager; the spiral step in µs).

- sgemm f32, n = 4096: torch.mm and cupy.matmul (TF32 off, so all three compute in f32).
- MLP step: 784 -> 1024 sigmoid -> 10, softmax cross-entropy, batch 256, SGD lr 0.1, in
  PyTorch eager (nn.Linear, autograd, torch.optim.SGD).
- Spiral step: 2 -> 10 sigmoid -> 3, batch 30, SGD lr 1.0, the same way.
- Both steps again captured once as a CUDA graph and replayed (torch.cuda.graph, after three
  warm-up steps on a side stream, as PyTorch's documentation does it): beside nn-cuda's
  `spiral_timing --graph`. GPU only.

Times come from CUDA events around many repetitions after a warm-up; the least of several
rounds is printed, as for the Rust benches. Prints SKIPPED for what is not installed.

`--cpu` runs the PyTorch figures on the CPU instead (timed by the host clock; CuPy is skipped):
the same code paths, so the script can be checked without a GPU, and PyTorch eager's CPU times
to set beside the CPU backend's.

Usage: python3 benches/gpu_peers.py [--cpu]   (bundle/run.sh runs it on the GPU machine)
"""
import sys
import time


def rounds(run, reps, n_rounds=7):
    """Seconds per call of `run`: the least and the median over `n_rounds` rounds of `reps`."""
    per = []
    for _ in range(n_rounds):
        per.append(run(reps) / reps)
    per.sort()
    return per[0], per[len(per) // 2]


def torch_figures(cpu):
    try:
        import torch
    except ImportError:
        print("SKIPPED torch: not installed")
        return
    if cpu:
        dev = torch.device("cpu")
        print(f"torch {torch.__version__} on the CPU ({torch.get_num_threads()} threads)")
    elif not torch.cuda.is_available():
        print("SKIPPED torch: no CUDA device")
        return
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        dev = torch.device("cuda")
        print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}, TF32 off")

    def timed(fn):
        def run(reps):
            if cpu:
                start = time.perf_counter()
                for _ in range(reps):
                    fn()
                return time.perf_counter() - start
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1e3
        return run

    n = 4096
    a = torch.rand(n, n, device=dev)
    b = torch.rand(n, n, device=dev)
    c = torch.empty(n, n, device=dev)
    mm = timed(lambda: torch.mm(a, b, out=c))
    mm(5)
    least, median = rounds(mm, 20)
    flops = 2 * n**3
    print(f"torch sgemm n={n}: least {least*1e3:.3f} ms ({flops/least/1e9:.0f} GFLOP/s), "
          f"median {median*1e3:.3f} ms ({flops/median/1e9:.0f} GFLOP/s)")

    def step_fn(inp, hidden, out, batch, lr):
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(inp, hidden), torch.nn.Sigmoid(), torch.nn.Linear(hidden, out)
        ).to(dev)
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        loss_fn = torch.nn.CrossEntropyLoss()
        x = torch.randn(batch, inp, device=dev)
        t = torch.randint(0, out, (batch,), device=dev)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x), t)
            loss.backward()
            opt.step()
        return step

    mlp = timed(step_fn(784, 1024, 10, 256, 0.1))
    mlp(20)
    least, median = rounds(mlp, 200)
    print(f"torch mlp step (784-1024-10, batch 256, eager): least {least*1e6:.1f} µs, "
          f"median {median*1e6:.1f} µs")
    spiral = timed(step_fn(2, 10, 3, 30, 1.0))
    spiral(20)
    least, median = rounds(spiral, 1000)
    print(f"torch spiral step (2-10-3, batch 30, eager): least {least*1e6:.1f} µs, "
          f"median {median*1e6:.1f} µs")
    if cpu:
        print("SKIPPED torch graphs: --cpu")
        return

    def graphed(step):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(side)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            step()
        return g.replay

    for name, sizes, reps in [("mlp", (784, 1024, 10, 256, 0.1), 200),
                              ("spiral", (2, 10, 3, 30, 1.0), 1000)]:
        run = timed(graphed(step_fn(*sizes)))
        run(20)
        least, median = rounds(run, reps)
        print(f"torch {name} step ({sizes[0]}-{sizes[1]}-{sizes[2]}, batch {sizes[3]}, "
              f"cuda graph): least {least*1e6:.1f} µs, median {median*1e6:.1f} µs")


def cupy_figures():
    try:
        import cupy as cp
    except ImportError:
        print("SKIPPED cupy: not installed")
        return
    try:
        name = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    except Exception as e:  # no device, no driver
        print(f"SKIPPED cupy: {e}")
        return
    print(f"cupy {cp.__version__} on {name}")
    n = 4096
    a = cp.random.rand(n, n, dtype=cp.float32)
    b = cp.random.rand(n, n, dtype=cp.float32)
    c = cp.empty((n, n), dtype=cp.float32)

    def run(reps):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        for _ in range(reps):
            cp.matmul(a, b, out=c)
        end.record()
        end.synchronize()
        return cp.cuda.get_elapsed_time(start, end) / 1e3

    run(5)
    least, median = rounds(run, 20)
    flops = 2 * n**3
    print(f"cupy sgemm n={n}: least {least*1e3:.3f} ms ({flops/least/1e9:.0f} GFLOP/s), "
          f"median {median*1e3:.3f} ms ({flops/median/1e9:.0f} GFLOP/s)")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args not in ([], ["--cpu"]):
        sys.exit(f"usage: {sys.argv[0]} [--cpu]")
    t0 = time.perf_counter()
    torch_figures(cpu=bool(args))
    if args:
        print("SKIPPED cupy: --cpu")
    else:
        cupy_figures()
    print(f"gpu_peers: {time.perf_counter() - t0:.1f} s")
