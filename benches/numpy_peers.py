"""NumPy figures for the README's Performance table: sgemm (n = 1024, 2048) and the MLP step
(784 -> 1024 sigmoid -> 10, softmax cross-entropy, batch 256, SGD), best of several runs.

Usage: python benches/numpy_peers.py   (needs numpy; the spiral loop is timed by
../shared/reference/book_ch01.py custom_loop, which prints its own seconds)
"""
import time, numpy as np
def best(f, reps):
    t = []
    for _ in range(reps):
        s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
    return min(t)
for n in (1024, 2048):
    a = np.random.rand(n, n).astype(np.float32)
    s = best(lambda: a @ a, 5)
    print(f"numpy sgemm n={n}: {s*1e3:.2f} ms, {2*n**3/s/1e9:.0f} GFLOP/s")
rng = np.random.default_rng(0)
x = rng.standard_normal((256, 784)).astype(np.float32)
t = rng.integers(0, 10, 256)
W1 = (0.01*rng.standard_normal((784, 1024))).astype(np.float32); b1 = np.zeros(1024, np.float32)
W2 = (0.01*rng.standard_normal((1024, 10))).astype(np.float32); b2 = np.zeros(10, np.float32)
def step():
    global W1, b1, W2, b2
    h = x @ W1 + b1; a = 1/(1+np.exp(-h)); s = a @ W2 + b2
    s = s - s.max(axis=1, keepdims=True); y = np.exp(s); y /= y.sum(axis=1, keepdims=True)
    loss = -np.sum(np.log(y[np.arange(256), t] + 1e-7)) / 256
    d = y.copy(); d[np.arange(256), t] -= 1; d /= 256
    dW2 = a.T @ d; db2 = d.sum(0); da = d @ W2.T; dh = da * (1 - a) * a
    dW1 = x.T @ dh; db1 = dh.sum(0)
    for p, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)): p -= 0.1 * g
step()
print(f"numpy mlp step: {best(step, 20)*1e3:.2f} ms")
