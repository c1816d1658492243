// The nn-cuda kernels: every Backend op but matmul (cuBLAS), for T = float (suffix _f32) and
// T = double (suffix _f64). Compiled at run time by NVRTC, once per device, for its compute
// capability. Sizes are unsigned 32-bit (the backend refuses larger tensors).
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

// ---- reductions: one block of 1024 threads; `out[0] = Σ (square ? x² : x) / div` -------------
// (a division, as NumPy's `sum(...) / batch_size`, not a multiplication by 1/n).
template <typename T> __device__ void reduce_sum(const T* x, T* out, u32 n, T div, int square) {
    SHARED_ARRAY(T, part, 1024);
    T s = T(0);
    for (u32 i = threadIdx.x; i < n; i += blockDim.x) s += square ? x[i] * x[i] : x[i];
    part[threadIdx.x] = s;
    __syncthreads();
    for (u32 w = blockDim.x / 2; w > 0; w /= 2) {
        if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = part[0] / div;
}

#define INSTANTIATE(T, S)                                                                                 \
extern "C" __global__ void add_row_##S(const T* a, const T* r, T* o, u32 rows, u32 cols) { add_row<T>(a, r, o, rows, cols); } \
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
extern "C" __global__ void sum_rows_##S(const T* a, T* o, u32 rows, u32 cols) { sum_rows<T>(a, o, rows, cols); } \
extern "C" __global__ void softmax_##S(const T* x, T* y, u32 rows, u32 cols) { softmax<T>(x, y, rows, cols); } \
extern "C" __global__ void softmax_ce_##S(const T* x, const u32* t, T* y, T* l, u32 rows, u32 cols) { softmax_ce<T>(x, t, y, l, rows, cols); } \
extern "C" __global__ void softmax_ce_backward_##S(const T* y, const u32* t, T* o, T d, T n, u32 rows, u32 cols) { softmax_ce_backward<T>(y, t, o, d, n, rows, cols); } \
extern "C" __global__ void bce_##S(const T* y, const u32* t, T* l, u32 n) { bce<T>(y, t, l, n); }      \
extern "C" __global__ void bce_backward_##S(const T* y, const u32* t, T* o, T d, T n, u32 len) { bce_backward<T>(y, t, o, d, n, len); } \
extern "C" __global__ void argmax_rows_##S(const T* x, u32* o, u32 rows, u32 cols) { argmax_rows<T>(x, o, rows, cols); } \
extern "C" __global__ void gather_rows_##S(const T* s, const u32* i, T* o, u32 st, u32 len, u32 cols) { gather_rows<T>(s, i, o, st, len, cols); } \
extern "C" __global__ void reduce_sum_##S(const T* x, T* o, u32 n, T dv, int sq) { reduce_sum<T>(x, o, n, dv, sq); }

INSTANTIATE(float, f32)
INSTANTIATE(double, f64)

extern "C" __global__ void gather_index(const u32* s, const u32* i, u32* o, u32 st, u32 len) {
    GRID_STRIDE(k, len) { o[k] = s[i[st + k]]; }
}
