// The GPU machine's floor for a launch-bound step, in plain CUDA C++ with no Rust in it: what
// an empty kernel launch, a small cuBLAS sgemm and a stream-ordered allocation cost on the host,
// alone and in the mix of one spiral training iteration as nn-cuda made it before its
// small-product kernel (11 kernel launches, 5 cuBLAS products and 16 allocations freed again,
// as nn-cuda-emu counted them for `spiral_timing`; the five products are now kernel launches
// of nn-cuda's own). `spiral_timing --backend cuda` set beside that mix's line shows what
// nn-cuda and cudarc cost against the driver and cuBLAS. Last, what reading 64 MiB back to the
// host costs.
//
// Built on the GPU machine by bundle/run.sh (`nvcc -O2 -arch=native launch_floor.cu -ldl`);
// cuBLAS is opened with dlopen, so no cuBLAS headers or link step are needed. Like the Rust
// timings it works on the legacy default stream, from a pool that keeps freed memory, and
// prints the least (and the median) of 7 rounds; each round's clock stops after a
// synchronisation, so the GPU's time counts whenever it is the slower side.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#define CHECK(call)                                                                      \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        if (e_ != cudaSuccess) {                                                         \
            std::fprintf(stderr, "launch_floor: %s: %s\n", #call, cudaGetErrorString(e_)); \
            std::exit(1);                                                                \
        }                                                                                \
    } while (0)

__global__ void empty(float*) {}

using Handle = void*;
using CreateFn = int (*)(Handle*);
using SgemmFn = int (*)(Handle, int, int, int, int, int, const float*, const float*, int,
                        const float*, int, const float*, float*, int);
static SgemmFn sgemm = nullptr;
static Handle blas = nullptr;

static void open_cublas() {
    const char* names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
    void* lib = nullptr;
    for (const char* n : names) {
        if ((lib = dlopen(n, RTLD_NOW))) break;
    }
    if (!lib) {
        std::fprintf(stderr, "launch_floor: cuBLAS not found: %s\n", dlerror());
        std::exit(1);
    }
    auto create = reinterpret_cast<CreateFn>(dlsym(lib, "cublasCreate_v2"));
    sgemm = reinterpret_cast<SgemmFn>(dlsym(lib, "cublasSgemm_v2"));
    if (!create || !sgemm || create(&blas) != 0) {
        std::fprintf(stderr, "launch_floor: cuBLAS could not be opened\n");
        std::exit(1);
    }
}

// Column-major C (m x n) = op(A) op(B), as nn-cuda calls it for row-major operands.
static void product(int ta, int tb, int m, int n, int k, const float* a, const float* b,
                    float* c) {
    const float one = 1.0f, zero = 0.0f;
    int lda = ta ? k : m, ldb = tb ? n : k;
    if (sgemm(blas, ta, tb, m, n, k, &one, a, lda, b, ldb, &zero, c, m) != 0) {
        std::fprintf(stderr, "launch_floor: cublasSgemm failed\n");
        std::exit(1);
    }
}

// Microseconds per call of `body` over `reps` calls: the least and the median of 7 rounds.
static void report(const char* what, int reps, const std::function<void()>& body) {
    for (int i = 0; i < reps / 10 + 1; ++i) body();  // warm-up
    CHECK(cudaDeviceSynchronize());
    std::vector<double> us;
    for (int round = 0; round < 7; ++round) {
        auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < reps; ++i) body();
        CHECK(cudaDeviceSynchronize());
        std::chrono::duration<double, std::micro> d = std::chrono::steady_clock::now() - start;
        us.push_back(d.count() / reps);
    }
    std::sort(us.begin(), us.end());
    std::printf("launch_floor: %s: least %.2f µs, median %.2f µs\n", what, us[0], us[3]);
}

int main() {
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("launch_floor: %s, compute capability %d.%d\n", prop.name, prop.major,
                prop.minor);
    // Freed memory stays in the pool, as nn-cuda sets it (memory.rs).
    cudaMemPool_t pool;
    CHECK(cudaDeviceGetDefaultMemPool(&pool, 0));
    uint64_t keep = UINT64_MAX;
    CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    open_cublas();
    float* buf;
    CHECK(cudaMalloc(&buf, 1 << 20));
    CHECK(cudaMemset(buf, 0, 1 << 20));
    float *x = buf, *w1 = buf + 4096, *h = buf + 8192, *w2 = buf + 12288, *y = buf + 16384,
          *d = buf + 20480;

    const int reps = 20000;
    report("empty kernel, 1 block of 1024 threads", reps, [&] { empty<<<1, 1024>>>(buf); });
    report("empty kernel, 64 blocks of 256 threads", reps, [&] { empty<<<64, 256>>>(buf); });
    report("empty kernel and a wait for it", reps / 10, [&] {
        empty<<<1, 1024>>>(buf);
        CHECK(cudaStreamSynchronize(0));
    });
    report("cudaMallocAsync and cudaFreeAsync of 4 KiB", reps, [&] {
        void* p;
        CHECK(cudaMallocAsync(&p, 4096, 0));
        CHECK(cudaFreeAsync(p, 0));
    });
    // The spiral's forward product, x (30 x 2) · W1 (2 x 10), through the operand swap.
    report("cublasSgemm 30x2 · 2x10", reps, [&] { product(0, 0, 10, 30, 2, w1, x, h); });
    report("one spiral iteration's calls (11 kernels, 5 sgemm, 16 allocations)", reps / 10, [&] {
        void* p[16];
        for (int i = 0; i < 8; ++i) CHECK(cudaMallocAsync(&p[i], 4096, 0));
        product(0, 0, 10, 30, 2, w1, x, h);   // x · W1
        empty<<<1, 1024>>>(h);                // + b1
        empty<<<1, 1024>>>(h);                // sigmoid
        product(0, 0, 3, 30, 10, w2, h, y);   // h · W2
        empty<<<1, 1024>>>(y);                // + b2
        empty<<<1, 1024>>>(y);                // softmax, loss and its sum
        empty<<<1, 1024>>>(d);                // loss backward
        product(0, 1, 3, 10, 30, d, h, w2);   // hᵀ · dy
        empty<<<1, 1024>>>(d);                // db2
        product(1, 0, 10, 30, 3, w2, d, h);   // dy · W2ᵀ
        empty<<<1, 1024>>>(h);                // sigmoid backward
        product(0, 1, 10, 2, 30, h, x, w1);   // xᵀ · dh
        empty<<<1, 1024>>>(d);                // db1
        empty<<<1, 1024>>>(d);                // SGD over the four parameters
        empty<<<1, 1024>>>(d);                // batch gather
        empty<<<1, 1024>>>(d);                // loss log
        for (int i = 8; i < 16; ++i) CHECK(cudaMallocAsync(&p[i], 4096, 0));
        for (int i = 0; i < 16; ++i) CHECK(cudaFreeAsync(p[i], 0));
    });
    // Reading 64 MiB back, as `gpu_matmul --n 4096` does into a fresh Vec: into fresh pageable
    // memory (its pages are touched for the first time by the copy), into the same memory again,
    // and into page-locked memory.
    const size_t bytes = size_t(64) << 20;
    float* big;
    CHECK(cudaMalloc(&big, bytes));
    CHECK(cudaMemset(big, 0, bytes));
    auto copy_ms = [&](void* to) {
        auto start = std::chrono::steady_clock::now();
        CHECK(cudaMemcpy(to, big, bytes, cudaMemcpyDeviceToHost));
        std::chrono::duration<double, std::milli> d = std::chrono::steady_clock::now() - start;
        return d.count();
    };
    void* fresh = std::malloc(bytes);
    double first = copy_ms(fresh), again = copy_ms(fresh);
    std::free(fresh);
    void* pinned;
    CHECK(cudaMallocHost(&pinned, bytes));
    copy_ms(pinned);
    double locked = copy_ms(pinned);
    CHECK(cudaFreeHost(pinned));
    auto gbps = [&](double ms) { return bytes / ms / 1e6; };
    std::printf("launch_floor: read back 64 MiB: into fresh memory %.2f ms (%.1f GB/s), the same "
                "memory again %.2f ms (%.1f GB/s), page-locked %.2f ms (%.1f GB/s)\n",
                first, gbps(first), again, gbps(again), locked, gbps(locked));
    return 0;
}
