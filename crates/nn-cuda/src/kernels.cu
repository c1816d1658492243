// The nn-cuda kernels: every Backend op but the products larger than matmul_small takes
// (cuBLAS), for T = float (suffix _f32) and T = double (suffix _f64). Compiled at run time by
// NVRTC, once per device, for its compute capability. Sizes are unsigned 32-bit (the backend
// refuses larger tensors).
//
// Formulas follow the book's NumPy code term by term, so rounding matches the CPU backend's.

typedef unsigned int u32;

// Block-shared arrays are declared with SHARED_ARRAY: nn-cuda-emu, the CPU emulator the tests
// can also run on (emu/emu.cpp), defines it to fill the array with NaN at every block's start.
#ifndef SHARED_ARRAY
#define SHARED_ARRAY(T, name, n) __shared__ T name[n]
#endif

#define GRID_STRIDE(i, n) for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

template <typename T> __device__ __forceinline__ T t_exp(T x);
template <> __device__ __forceinline__ float t_exp<float>(float x) { return expf(x); }
template <> __device__ __forceinline__ double t_exp<double>(double x) { return exp(x); }
template <typename T> __device__ __forceinline__ T t_log(T x);
template <> __device__ __forceinline__ float t_log<float>(float x) { return logf(x); }
template <> __device__ __forceinline__ double t_log<double>(double x) { return log(x); }
template <typename T> __device__ __forceinline__ T t_sqrt(T x);
template <> __device__ __forceinline__ float t_sqrt<float>(float x) { return sqrtf(x); }
template <> __device__ __forceinline__ double t_sqrt<double>(double x) { return sqrt(x); }
template <typename T> __device__ __forceinline__ T t_tanh(T x);
template <> __device__ __forceinline__ float t_tanh<float>(float x) { return tanhf(x); }
template <> __device__ __forceinline__ double t_tanh<double>(double x) { return tanh(x); }
template <typename T> __device__ __forceinline__ T t_sigmoid(T x) { return T(1) / (T(1) + t_exp<T>(-x)); }

// ---- elementwise -------------------------------------------------------------------------
template <typename T> __device__ void add_row(const T* a, const T* row, T* out, u32 rows, u32 cols) {
    GRID_STRIDE(i, rows * cols) { out[i] = a[i] + row[i % cols]; }
}
template <typename T> __device__ void mul(const T* a, const T* b, T* out, u32 n) {
    GRID_STRIDE(i, n) { out[i] = a[i] * b[i]; }
}
template <typename T> __device__ void sigmoid(const T* x, T* out, u32 n) {
    GRID_STRIDE(i, n) { out[i] = T(1) / (T(1) + t_exp<T>(-x[i])); }
}
template <typename T> __device__ void sigmoid_backward(const T* y, const T* d, T* out, u32 n) {
    GRID_STRIDE(i, n) { out[i] = d[i] * (T(1) - y[i]) * y[i]; }
}
template <typename T> __device__ void relu(const T* x, T* out, u32 n) {
    GRID_STRIDE(i, n) { out[i] = x[i] > T(0) ? x[i] : T(0); }
}
template <typename T> __device__ void relu_backward(const T* x, const T* d, T* out, u32 n) {
    GRID_STRIDE(i, n) { out[i] = x[i] > T(0) ? d[i] : T(0); }
}

// ---- small products ----------------------------------------------------------------------
// Row-major out (rows × cols) = op(a) · op(b), one thread per output summing its k terms in
// order; a and b are row-major with lda and ldb columns, read transposed where ta or tb is set.
// For products too small for a cuBLAS call to pay (SMALL_PRODUCT in ops.rs).
template <typename T>
__device__ void matmul_small(const T* a, const T* b, T* out, u32 rows, u32 cols, u32 k, u32 lda, u32 ldb, u32 ta, u32 tb) {
    GRID_STRIDE(i, rows * cols) {
        u32 r = i / cols, c = i % cols;
        T s = T(0);
        for (u32 p = 0; p < k; ++p) {
            s += (ta ? a[p * lda + r] : a[r * lda + p]) * (tb ? b[c * ldb + p] : b[p * ldb + c]);
        }
        out[i] = s;
    }
}

// ---- in-place updates --------------------------------------------------------------------
template <typename T> __device__ void axpby(T* y, const T* x, T alpha, T beta, u32 n) {
    GRID_STRIDE(i, n) { y[i] = beta * y[i] + alpha * x[i]; }
}
template <typename T> __device__ void axpy(T* y, const T* x, T alpha, u32 n) {
    GRID_STRIDE(i, n) { y[i] += alpha * x[i]; }
}
template <typename T> __device__ void scale(T* y, T alpha, u32 n) {
    GRID_STRIDE(i, n) { y[i] *= alpha; }
}
template <typename T> __device__ void lerp(T* y, const T* x, T c, u32 n) {
    GRID_STRIDE(i, n) { y[i] += c * (x[i] - y[i]); }
}
template <typename T> __device__ void lerp_square(T* y, const T* x, T c, u32 n) {
    GRID_STRIDE(i, n) { y[i] += c * (x[i] * x[i] - y[i]); }
}
template <typename T> __device__ void add_square(T* y, const T* x, T c, u32 n) {
    GRID_STRIDE(i, n) { y[i] += c * x[i] * x[i]; }
}
template <typename T> __device__ void adaptive_step(T* p, const T* num, const T* den, T lr, T eps, u32 n) {
    GRID_STRIDE(i, n) { p[i] -= lr * num[i] / (t_sqrt<T>(den[i]) + eps); }
}

// a^b by squaring, the products in the order of Rust's powi (compiler-builtins), so that the
// device's Adam rate is the host's bit for bit; __dmul_rn keeps each product rounded on its own.
__device__ double powi_rn(double a, int b) {
    unsigned p = b < 0 ? 0u - (unsigned)b : (unsigned)b;
    double r = 1.0;
    for (;;) {
        if (p & 1u) r = __dmul_rn(r, a);
        p >>= 1;
        if (p == 0) break;
        a = __dmul_rn(a, a);
    }
    return b < 0 ? 1.0 / r : r;
}
// Adam's step count and bias-corrected rate (Backend::adam_rate), one thread.
template <typename T> __device__ void adam_rate(T* step, T* lr_t, double lr, double b1, double b2) {
    if (blockIdx.x * blockDim.x + threadIdx.x != 0) return;
    T t = *step + T(1);
    *step = t;
    int it = (int)t;
    *lr_t = (T)(__dmul_rn(lr, sqrt(1.0 - powi_rn(b2, it))) / (1.0 - powi_rn(b1, it)));
}

// ---- rows --------------------------------------------------------------------------------
// One thread per column: the book's matrices have few rows per column sum (a batch).
template <typename T> __device__ void sum_rows(const T* a, T* out, u32 rows, u32 cols) {
    GRID_STRIDE(j, cols) {
        T s = T(0);
        for (u32 r = 0; r < rows; ++r) s += a[r * cols + j];
        out[j] = s;
    }
}
// One thread per row: the book's rows are a handful of classes wide.
template <typename T> __device__ void softmax_row(const T* x, T* y, u32 cols) {
    T m = x[0];
    for (u32 j = 1; j < cols; ++j) m = x[j] > m ? x[j] : m;
    T s = T(0);
    for (u32 j = 0; j < cols; ++j) { y[j] = t_exp<T>(x[j] - m); s += y[j]; }
    for (u32 j = 0; j < cols; ++j) y[j] /= s;
}
template <typename T> __device__ void softmax(const T* x, T* y, u32 rows, u32 cols) {
    GRID_STRIDE(r, rows) { softmax_row(x + r * cols, y + r * cols, cols); }
}
// Softmax, then each row's -log(y[t] + 1e-7) into `row_loss` (summed by `reduce_sum`).
template <typename T> __device__ void softmax_ce(const T* x, const u32* t, T* y, T* row_loss, u32 rows, u32 cols) {
    GRID_STRIDE(r, rows) {
        softmax_row(x + r * cols, y + r * cols, cols);
        row_loss[r] = -t_log<T>(y[r * cols + t[r]] + T(1e-7));
    }
}
// (y - onehot(t)) * dout / n, written as the book does: dx = y; dx[t] -= 1; dx *= dout; dx / n.
template <typename T> __device__ void softmax_ce_backward(const T* y, const u32* t, T* out, T dout, T n, u32 rows, u32 cols) {
    GRID_STRIDE(i, rows * cols) {
        u32 r = i / cols, j = i % cols;
        T v = y[i];
        if (t[r] == j) v -= T(1);
        out[i] = v * dout / n;
    }
}
template <typename T> __device__ void bce(const T* y, const u32* t, T* row_loss, u32 n) {
    GRID_STRIDE(i, n) {
        T p = t[i] == 1 ? y[i] + T(1e-7) : T(1) - y[i] + T(1e-7);
        row_loss[i] = -t_log<T>(p);
    }
}
template <typename T> __device__ void bce_backward(const T* y, const u32* t, T* out, T dout, T n, u32 len) {
    GRID_STRIDE(i, len) { out[i] = (y[i] - T(t[i])) * dout / n; }
}
template <typename T> __device__ void argmax_rows(const T* x, u32* out, u32 rows, u32 cols) {
    GRID_STRIDE(r, rows) {
        const T* row = x + r * cols;
        u32 best = 0;
        for (u32 j = 1; j < cols; ++j) if (row[j] > row[best]) best = j;
        out[r] = best;
    }
}

// ---- gathers -------------------------------------------------------------------------------
template <typename T> __device__ void gather_rows(const T* src, const u32* idx, T* out, u32 start, u32 len, u32 cols) {
    GRID_STRIDE(i, len * cols) {
        u32 r = i / cols, j = i % cols;
        out[i] = src[idx[start + r] * cols + j];
    }
}

// ---- reductions: one block of 1024 threads ------------------------------------------------
// The sum of every thread's `s` over the block, returned to thread 0. Each thread's `s` adds
// its elements in index order, then a tree adds the threads' sums: the same order wherever it
// is used, so a fused kernel rounds exactly as the separate launches it replaces. The barrier
// on entry lets a kernel call it again while slow threads are still leaving the previous call.
template <typename T> __device__ T block_sum(T s) {
    SHARED_ARRAY(T, part, 1024);
    __syncthreads();
    part[threadIdx.x] = s;
    __syncthreads();
    for (u32 w = blockDim.x / 2; w > 0; w /= 2) {
        if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    return part[0];
}

// ---- sequences: time-major blocks of rows -------------------------------------------------
template <typename T> __device__ void tanh_k(const T* x, T* out, u32 n) {
    GRID_STRIDE(i, n) { out[i] = t_tanh<T>(x[i]); }
}
template <typename T> __device__ void tanh_backward(const T* y, const T* d, T* out, u32 n) {
    GRID_STRIDE(i, n) { out[i] = d[i] * (T(1) - y[i] * y[i]); }
}
// out = tanh((hw + xw) + b), rows × cols, b one row.
template <typename T> __device__ void rnn_step(const T* hw, const T* xw, const T* b, T* out, u32 rows, u32 cols) {
    GRID_STRIDE(i, rows * cols) { out[i] = t_tanh<T>((hw[i] + xw[i]) + b[i % cols]); }
}
// out = (dh + dn) · (1 - h²), dn left out when has_next is 0.
template <typename T> __device__ void rnn_step_backward(const T* dh, const T* dn, const T* h, T* out, u32 n, int has_next) {
    GRID_STRIDE(i, n) {
        T d = has_next ? dh[i] + dn[i] : dh[i];
        out[i] = d * (T(1) - h[i] * h[i]);
    }
}
// One LSTM step, a thread per (row, unit): the gates f, g, i, o of a row are 4·hh wide.
template <typename T>
__device__ void lstm_step(const T* xw, const T* hw, const T* b, const T* c_prev, T* gates, T* c, T* h, u32 rows, u32 hh) {
    GRID_STRIDE(k, rows * hh) {
        u32 r = k / hh, j = k % hh, base = r * 4 * hh + j;
        T f = t_sigmoid<T>((xw[base] + hw[base]) + b[j]);
        T g = t_tanh<T>((xw[base + hh] + hw[base + hh]) + b[hh + j]);
        T i = t_sigmoid<T>((xw[base + 2 * hh] + hw[base + 2 * hh]) + b[2 * hh + j]);
        T o = t_sigmoid<T>((xw[base + 3 * hh] + hw[base + 3 * hh]) + b[3 * hh + j]);
        gates[base] = f;
        gates[base + hh] = g;
        gates[base + 2 * hh] = i;
        gates[base + 3 * hh] = o;
        T cn = f * c_prev[k] + g * i;
        c[k] = cn;
        h[k] = o * t_tanh<T>(cn);
    }
}
// The LSTM step's backward, a thread per (row, unit), in the book's order of operations.
template <typename T>
__device__ void lstm_step_backward(const T* dh, const T* dn, int has_next, const T* c_prev, const T* c, const T* gates, T* dc, T* da, u32 rows, u32 hh) {
    GRID_STRIDE(k, rows * hh) {
        u32 r = k / hh, j = k % hh, base = r * 4 * hh + j;
        T f = gates[base], g = gates[base + hh], i = gates[base + 2 * hh], o = gates[base + 3 * hh];
        T d = has_next ? dh[k] + dn[k] : dh[k];
        T tc = t_tanh<T>(c[k]);
        T ds = dc[k] + (d * o) * (T(1) - tc * tc);
        dc[k] = ds * f;
        da[base] = (ds * c_prev[k]) * (f * (T(1) - f));
        da[base + hh] = (ds * i) * (T(1) - g * g);
        da[base + 2 * hh] = (ds * g) * (i * (T(1) - i));
        da[base + 3 * hh] = (d * tc) * (o * (T(1) - o));
    }
}
// dst[idx[i], :] += src[i, :] for rows i in order (np.add.at), without atomics: the thread of
// (i, j) whose i is the first row naming its destination adds every row naming it, in order,
// so that the sums round as the CPU's do, whatever the order the threads run in.
template <typename T> __device__ void scatter_add_rows(T* dst, const u32* idx, const T* src, u32 rows, u32 cols) {
    GRID_STRIDE(k, rows * cols) {
        u32 i = k / cols, j = k % cols, d = idx[i];
        bool first = true;
        for (u32 p = 0; p < i; ++p) if (idx[p] == d) { first = false; break; }
        if (first) {
            T acc = dst[d * cols + j];
            for (u32 p = i; p < rows; ++p) if (idx[p] == d) acc += src[p * cols + j];
            dst[d * cols + j] = acc;
        }
    }
}
// The maximum of every thread's `m` over the block, as block_sum.
template <typename T> __device__ T block_max(T m) {
    SHARED_ARRAY(T, part, 1024);
    __syncthreads();
    part[threadIdx.x] = m;
    __syncthreads();
    for (u32 w = blockDim.x / 2; w > 0; w /= 2) {
        if (threadIdx.x < w && part[threadIdx.x + w] > part[threadIdx.x]) part[threadIdx.x] = part[threadIdx.x + w];
        __syncthreads();
    }
    return part[0];
}
// Softmax of each row (a block per row, rows stepped by the grid) into y (over x itself when x
// is null), and -log y[t] into row_loss (0 for a row labelled `ignore`).
template <typename T> __device__ void softmax_masked_rows(const T* x, const u32* t, T* y, T* row_loss, u32 rows, u32 cols, u32 ignore) {
    if (!x) x = y;
    for (u32 r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + (size_t)r * cols;
        T* yr = y + (size_t)r * cols;
        T m = xr[0];
        for (u32 j = threadIdx.x; j < cols; j += blockDim.x) m = xr[j] > m ? xr[j] : m;
        m = block_max(m);
        T s = T(0);
        for (u32 j = threadIdx.x; j < cols; j += blockDim.x) { T e = t_exp<T>(xr[j] - m); yr[j] = e; s += e; }
        s = block_sum(s);
        for (u32 j = threadIdx.x; j < cols; j += blockDim.x) yr[j] /= s;
        __syncthreads();
        if (threadIdx.x == 0) row_loss[r] = t[r] == ignore ? T(0) : -t_log<T>(yr[t[r]]);
    }
}
// The number of labels other than `ignore`, over the block.
template <typename T> __device__ T block_count(const u32* t, u32 rows, u32 ignore) {
    T n = T(0);
    for (u32 r = threadIdx.x; r < rows; r += blockDim.x) n += t[r] != ignore ? T(1) : T(0);
    return block_sum(n);
}
// loss[0] = Σ row_loss / (the number of labels other than `ignore`). One block.
template <typename T> __device__ void masked_loss_sum(const T* row_loss, const u32* t, T* loss, u32 rows, u32 ignore) {
    T s = T(0);
    for (u32 r = threadIdx.x; r < rows; r += blockDim.x) s += row_loss[r];
    T total = block_sum(s);
    T count = block_count<T>(t, rows, ignore);
    if (threadIdx.x == 0) loss[0] = total / count;
}
// (y - onehot(t)) · dout / count on rows not labelled `ignore`, 0 on the others; over y itself
// (in out) when y is null.
template <typename T> __device__ void softmax_masked_backward(const T* y, const u32* t, T* out, T dout, u32 rows, u32 cols, u32 ignore) {
    if (!y) y = out;
    T count = block_count<T>(t, rows, ignore);
    GRID_STRIDE(i, rows * cols) {
        u32 r = i / cols, j = i % cols;
        if (t[r] == ignore) { out[i] = T(0); continue; }
        T v = y[i];
        if (t[r] == j) v -= T(1);
        out[i] = v * dout / count;
    }
}

// `out[0] = Σ (square ? x² : x) / div` (a division, as NumPy's `sum(...) / batch_size`).
template <typename T> __device__ void reduce_sum(const T* x, T* out, u32 n, T div, int square) {
    T s = T(0);
    for (u32 i = threadIdx.x; i < n; i += blockDim.x) s += square ? x[i] * x[i] : x[i];
    T total = block_sum(s);
    if (threadIdx.x == 0) out[0] = total / div;
}
// softmax_ce and the reduce_sum of its row losses in one launch (for batches a block covers).
template <typename T> __device__ void softmax_ce_sum(const T* x, const u32* t, T* y, T* loss, u32 rows, u32 cols, T div) {
    T s = T(0);
    for (u32 r = threadIdx.x; r < rows; r += blockDim.x) {
        softmax_row(x + r * cols, y + r * cols, cols);
        s += -t_log<T>(y[r * cols + t[r]] + T(1e-7));
    }
    T total = block_sum(s);
    if (threadIdx.x == 0) loss[0] = total / div;
}
// bce and the reduce_sum of its row losses in one launch.
template <typename T> __device__ void bce_sum(const T* y, const u32* t, T* loss, u32 n, T div) {
    T s = T(0);
    for (u32 i = threadIdx.x; i < n; i += blockDim.x) {
        T p = t[i] == 1 ? y[i] + T(1e-7) : T(1) - y[i] + T(1e-7);
        s += -t_log<T>(p);
    }
    T total = block_sum(s);
    if (threadIdx.x == 0) loss[0] = total / div;
}

// ---- several tensors per launch (a step's parameters) ---------------------------------------
#define MANY 8
// Up to MANY tensors, passed by value: `y` written (may be null), `x` read, `n` elements each.
template <typename T> struct Many {
    T* y[MANY];
    const T* x[MANY];
    u32 n[MANY];
    u32 count;
};
// `y[k] += alpha · x[k]` for every k: blockIdx.y picks the tensor.
template <typename T> __device__ void axpy_many(Many<T> m, T alpha) {
    u32 k = blockIdx.y;
    if (k >= m.count) return;
    T* y = m.y[k];
    const T* x = m.x[k];
    GRID_STRIDE(i, m.n[k]) { y[i] += alpha * x[i]; }
}
// The book's clip_grads, given the squared norm on the device: rate = max_norm / (norm + 1e-6)
// in double (as the CPU backend computes it), and y[k] *= rate when rate < 1.
template <typename T> __device__ void clip_scale_many(Many<T> m, const T* squares, double max_norm) {
    u32 k = blockIdx.y;
    if (k >= m.count) return;
    double rate = max_norm / (sqrt((double)squares[0]) + 1e-6);
    if (!(rate < 1.0)) return;
    T r = T(rate);
    T* y = m.y[k];
    GRID_STRIDE(i, m.n[k]) { y[i] *= r; }
}
// `out[0] = (accumulate ? out[0] : 0) + Σ_k Σ x[k]²`, adding one tensor's sum at a time (as
// `sum_squares` then `axpy` per tensor would). One block.
template <typename T> __device__ void sum_squares_many(Many<T> m, T* out, int accumulate) {
    T total = accumulate ? out[0] : T(0);
    for (u32 k = 0; k < m.count; ++k) {
        const T* x = m.x[k];
        T s = T(0);
        for (u32 i = threadIdx.x; i < m.n[k]; i += blockDim.x) s += x[i] * x[i];
        T sk = block_sum(s);
        if (threadIdx.x == 0) total = total + sk;
    }
    if (threadIdx.x == 0) out[0] = total;
}

// ---- a batch: rows of `src` and their labels, gathered by `idx[start..start + len]` ---------
template <typename T> __device__ void gather_batch(const T* src, const u32* labels, const u32* idx, T* out, u32* out_t, u32 start, u32 len, u32 cols) {
    GRID_STRIDE(i, len * cols) {
        u32 r = i / cols, j = i % cols, row = idx[start + r];
        out[i] = src[row * cols + j];
        if (j == 0) out_t[r] = labels[row];
    }
}

// Kernels launched as one block of 1024 threads: the bound keeps them within 64 registers a
// thread, so that the whole block fits one multiprocessor's 65 536 registers.
#define BLOCK_KERNEL __launch_bounds__(1024)

#define INSTANTIATE(T, S)                                                                                 \
extern "C" __global__ void add_row_##S(const T* a, const T* r, T* o, u32 rows, u32 cols) { add_row<T>(a, r, o, rows, cols); } \
extern "C" __global__ void matmul_small_##S(const T* a, const T* b, T* o, u32 r, u32 c, u32 k, u32 lda, u32 ldb, u32 ta, u32 tb) { matmul_small<T>(a, b, o, r, c, k, lda, ldb, ta, tb); } \
extern "C" __global__ void mul_##S(const T* a, const T* b, T* o, u32 n) { mul<T>(a, b, o, n); }          \
extern "C" __global__ void sigmoid_##S(const T* x, T* o, u32 n) { sigmoid<T>(x, o, n); }               \
extern "C" __global__ void sigmoid_backward_##S(const T* y, const T* d, T* o, u32 n) { sigmoid_backward<T>(y, d, o, n); } \
extern "C" __global__ void relu_##S(const T* x, T* o, u32 n) { relu<T>(x, o, n); }                     \
extern "C" __global__ void relu_backward_##S(const T* x, const T* d, T* o, u32 n) { relu_backward<T>(x, d, o, n); } \
extern "C" __global__ void axpby_##S(T* y, const T* x, T a, T b, u32 n) { axpby<T>(y, x, a, b, n); }    \
extern "C" __global__ void axpy_##S(T* y, const T* x, T a, u32 n) { axpy<T>(y, x, a, n); }              \
extern "C" __global__ void scale_##S(T* y, T a, u32 n) { scale<T>(y, a, n); }                           \
extern "C" __global__ void lerp_##S(T* y, const T* x, T c, u32 n) { lerp<T>(y, x, c, n); }              \
extern "C" __global__ void lerp_square_##S(T* y, const T* x, T c, u32 n) { lerp_square<T>(y, x, c, n); } \
extern "C" __global__ void add_square_##S(T* y, const T* x, T c, u32 n) { add_square<T>(y, x, c, n); }  \
extern "C" __global__ void adaptive_step_##S(T* p, const T* g, const T* h, T lr, T eps, u32 n) { adaptive_step<T>(p, g, h, lr, eps, n); } \
extern "C" __global__ void adaptive_step_at_##S(T* p, const T* g, const T* h, const T* lr, T eps, u32 n) { adaptive_step<T>(p, g, h, *lr, eps, n); } \
extern "C" __global__ void adam_rate_##S(T* s, T* l, double lr, double b1, double b2) { adam_rate<T>(s, l, lr, b1, b2); } \
extern "C" __global__ void sum_rows_##S(const T* a, T* o, u32 rows, u32 cols) { sum_rows<T>(a, o, rows, cols); } \
extern "C" __global__ void softmax_##S(const T* x, T* y, u32 rows, u32 cols) { softmax<T>(x, y, rows, cols); } \
extern "C" __global__ void softmax_ce_##S(const T* x, const u32* t, T* y, T* l, u32 rows, u32 cols) { softmax_ce<T>(x, t, y, l, rows, cols); } \
extern "C" __global__ void softmax_ce_backward_##S(const T* y, const u32* t, T* o, T d, T n, u32 rows, u32 cols) { softmax_ce_backward<T>(y, t, o, d, n, rows, cols); } \
extern "C" __global__ void bce_##S(const T* y, const u32* t, T* l, u32 n) { bce<T>(y, t, l, n); }      \
extern "C" __global__ void bce_backward_##S(const T* y, const u32* t, T* o, T d, T n, u32 len) { bce_backward<T>(y, t, o, d, n, len); } \
extern "C" __global__ void argmax_rows_##S(const T* x, u32* o, u32 rows, u32 cols) { argmax_rows<T>(x, o, rows, cols); } \
extern "C" __global__ void gather_rows_##S(const T* s, const u32* i, T* o, u32 st, u32 len, u32 cols) { gather_rows<T>(s, i, o, st, len, cols); } \
extern "C" __global__ void BLOCK_KERNEL reduce_sum_##S(const T* x, T* o, u32 n, T dv, int sq) { reduce_sum<T>(x, o, n, dv, sq); } \
extern "C" __global__ void BLOCK_KERNEL softmax_ce_sum_##S(const T* x, const u32* t, T* y, T* l, u32 rows, u32 cols, T dv) { softmax_ce_sum<T>(x, t, y, l, rows, cols, dv); } \
extern "C" __global__ void BLOCK_KERNEL bce_sum_##S(const T* y, const u32* t, T* l, u32 n, T dv) { bce_sum<T>(y, t, l, n, dv); } \
extern "C" __global__ void axpy_many_##S(Many<T> m, T a) { axpy_many<T>(m, a); }                      \
extern "C" __global__ void clip_scale_many_##S(Many<T> m, const T* sq, double mx) { clip_scale_many<T>(m, sq, mx); } \
extern "C" __global__ void BLOCK_KERNEL sum_squares_many_##S(Many<T> m, T* o, int acc) { sum_squares_many<T>(m, o, acc); } \
extern "C" __global__ void tanh_##S(const T* x, T* o, u32 n) { tanh_k<T>(x, o, n); } \
extern "C" __global__ void tanh_backward_##S(const T* y, const T* d, T* o, u32 n) { tanh_backward<T>(y, d, o, n); } \
extern "C" __global__ void rnn_step_##S(const T* hw, const T* xw, const T* b, T* o, u32 rows, u32 cols) { rnn_step<T>(hw, xw, b, o, rows, cols); } \
extern "C" __global__ void rnn_step_backward_##S(const T* dh, const T* dn, const T* h, T* o, u32 n, int hn) { rnn_step_backward<T>(dh, dn, h, o, n, hn); } \
extern "C" __global__ void lstm_step_##S(const T* xw, const T* hw, const T* b, const T* cp, T* g, T* c, T* h, u32 rows, u32 hh) { lstm_step<T>(xw, hw, b, cp, g, c, h, rows, hh); } \
extern "C" __global__ void lstm_step_backward_##S(const T* dh, const T* dn, int hn, const T* cp, const T* c, const T* g, T* dc, T* da, u32 rows, u32 hh) { lstm_step_backward<T>(dh, dn, hn, cp, c, g, dc, da, rows, hh); } \
extern "C" __global__ void scatter_add_rows_##S(T* d, const u32* i, const T* s, u32 rows, u32 cols) { scatter_add_rows<T>(d, i, s, rows, cols); } \
extern "C" __global__ void BLOCK_KERNEL softmax_masked_rows_##S(const T* x, const u32* t, T* y, T* l, u32 rows, u32 cols, u32 ig) { softmax_masked_rows<T>(x, t, y, l, rows, cols, ig); } \
extern "C" __global__ void BLOCK_KERNEL masked_loss_sum_##S(const T* l, const u32* t, T* o, u32 rows, u32 ig) { masked_loss_sum<T>(l, t, o, rows, ig); } \
extern "C" __global__ void BLOCK_KERNEL softmax_masked_backward_##S(const T* y, const u32* t, T* o, T d, u32 rows, u32 cols, u32 ig) { softmax_masked_backward<T>(y, t, o, d, rows, cols, ig); } \
extern "C" __global__ void gather_batch_##S(const T* s, const u32* l, const u32* i, T* o, u32* ot, u32 st, u32 len, u32 cols) { gather_batch<T>(s, l, i, o, ot, st, len, cols); }

INSTANTIATE(float, f32)
INSTANTIATE(double, f64)

extern "C" __global__ void gather_index(const u32* s, const u32* i, u32* o, u32 st, u32 len) {
    GRID_STRIDE(k, len) { o[k] = s[i[st + k]]; }
}
