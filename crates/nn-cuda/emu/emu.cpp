// nn-cuda-emu: a CPU stand-in for the parts of the CUDA driver, cuBLAS and NVRTC APIs that
// nn-cuda calls through cudarc, so that nn-cuda's tests can run on a machine without a GPU.
//
// What it checks, and what it cannot:
// - kernels.cu is compiled here as C++ and every launch runs it: one fiber per CUDA thread,
//   blocks one after another, `__syncthreads()` a real barrier across the block's fibers (a
//   barrier that not every thread of the block reaches is reported). So the kernels' index
//   arithmetic, grid-stride loops, shared-memory reductions and the launch arguments that the
//   Rust side passes are all exercised.
// - Every device allocation ends at an inaccessible page and is filled with 0xFF bytes (NaN
//   for floats) unless zeroed: a kernel that reads past a buffer stops the process with the
//   kernel's name, one that reads what nothing wrote spreads NaN into the results.
// - Copies and gemm operands are checked against the allocations they point into; gemm is a
//   plain column-major reference that refuses leading dimensions cuBLAS would refuse.
// - Streams capture as a GPU's do (for CUDA graphs): launches, products, memsets and device
//   copies on a capturing stream are recorded, with copies of their arguments, and a graph
//   launch runs them in order. What a GPU refuses during capture is refused (an error, and the
//   capture is invalidated): a synchronisation, a copy to or from the host, a free of memory,
//   work on the legacy stream; allocation on the capturing stream (graph memory nodes) is not
//   emulated and refused too.
// - It is not a GPU: no PTX runs (NVRTC is mocked here; the real NVRTC is tested separately),
//   threads do not run concurrently, floating point is the host's libm, and timings mean
//   nothing. A pass here verifies host code and kernel logic, not the device.
//
// Built by `cargo xtask cuda-emu` into one shared library, linked under the names cudarc
// loads (libcuda.so, libcublas.so, libnvrtc.so). x86-64 Linux only (the fiber switch).

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <tuple>
#include <utility>
#include <vector>

#if !defined(__x86_64__) || !defined(__linux__)
#error "nn-cuda-emu switches fibers with x86-64 assembly: it builds on x86-64 Linux only"
#endif

// ---- what kernels.cu needs from CUDA, for a host compile -------------------------------------
struct emu_dim3 {
    unsigned x, y, z;
};
static emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
static void __syncthreads();
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
// A product rounded on its own (no fused multiply-add), as CUDA's intrinsic.
static double __dmul_rn(double a, double b) {
    volatile double r = a * b;
    return r;
}
static unsigned block_serial;  // counts the blocks run
// One block runs at a time, so block-shared memory can be static. The first thread of a block
// to reach the declaration fills the array with 0xFF bytes (NaN): a thread that reads shared
// memory before the thread that writes it has run spreads NaN into the results. (`__shared__`
// itself is left undefined, so kernels.cu must use SHARED_ARRAY.)
static void emu_poison_shared(void* p, size_t bytes, unsigned* seen) {
    if (*seen != block_serial) {
        *seen = block_serial;
        memset(p, 0xFF, bytes);
    }
}
#define SHARED_ARRAY(T, name, n)                         \
    static T name[n];                                    \
    static unsigned name##_block = 0;                    \
    emu_poison_shared(name, sizeof name, &name##_block)

#include "../src/kernels.cu"

#undef __global__
#undef __device__
#undef __forceinline__
#undef __launch_bounds__
#undef SHARED_ARRAY

namespace {

void vsay(const char* fmt, va_list ap) {
    std::fputs("nn-cuda-emu: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
}

// Says what went wrong and stops the process: a misuse a GPU would fault on or corrupt.
[[noreturn]] void fatal(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    std::abort();
}

// Traces a call when NN_CUDA_EMU_TRACE is set.
void note(const char* fmt, ...) {
    if (!std::getenv("NN_CUDA_EMU_TRACE")) return;
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

// Every API call takes this lock: the test harness calls from several threads, and one stream
// runs one thing at a time.
std::recursive_mutex api;
#define LOCKED std::lock_guard<std::recursive_mutex> guard_(api)

// ---- device memory -------------------------------------------------------------------------
const size_t PAGE = 4096;

struct Alloc {
    char* base;    // start of the mapping (a guard page)
    size_t total;  // bytes mapped
    size_t bytes;  // bytes asked for
    bool pooled;   // from the stream-ordered pool (cuMemAllocAsync), not cuMemAlloc
};
std::map<uintptr_t, Alloc> allocs;  // by the pointer handed out
size_t live_bytes = 0, peak_bytes = 0, alloc_count = 0;
size_t pool_live = 0;  // the live bytes the pool handed out

// NN_CUDA_EMU_MEMORY=BYTES makes allocations past that many live bytes fail as out of memory
// (read at every allocation, so a test can set it for a moment).
bool over_limit(size_t bytes) {
    const char* limit = std::getenv("NN_CUDA_EMU_MEMORY");
    return limit && live_bytes + bytes > std::strtoull(limit, nullptr, 10);
}

// The stream-ordered pool's accounting, not its caching (every buffer is still its own
// mapping): as the driver's pool, its reserved memory grows with the memory in use and, at a
// synchronisation, falls to the release threshold (0 by default) or to what is in use,
// whichever is more; cuMemPoolTrimTo lowers it likewise to the bytes it is told to keep.
size_t pool_reserved = 0;
unsigned long long pool_threshold = 0;
int the_pool;  // what the pool handle points to

void pool_grow() {
    if (pool_live > pool_reserved) pool_reserved = pool_live;
}
void pool_release(unsigned long long keep) {
    size_t kept = pool_reserved < keep ? pool_reserved : static_cast<size_t>(keep);
    pool_reserved = kept > pool_live ? kept : pool_live;
}

void* device_alloc(size_t bytes, bool pooled) {
    size_t want = bytes ? bytes : 1;
    size_t data_pages = (want + PAGE - 1) / PAGE;
    size_t total = (data_pages + 2) * PAGE;
    void* m = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    char* base = static_cast<char*>(m);
    if (mprotect(base + PAGE, data_pages * PAGE, PROT_READ | PROT_WRITE) != 0) {
        munmap(m, total);
        return nullptr;
    }
    // The buffer ends where the trailing guard page begins.
    char* p = base + (data_pages + 1) * PAGE - want;
    std::memset(p, 0xFF, want);
    allocs[reinterpret_cast<uintptr_t>(p)] = Alloc{base, total, bytes, pooled};
    live_bytes += bytes;
    if (pooled) pool_live += bytes;
    alloc_count += 1;
    if (live_bytes > peak_bytes) peak_bytes = live_bytes;
    pool_grow();
    return p;
}

bool device_free(uintptr_t p) {
    auto it = allocs.find(p);
    if (it == allocs.end()) return false;
    live_bytes -= it->second.bytes;
    if (it->second.pooled) pool_live -= it->second.bytes;
    munmap(it->second.base, it->second.total);
    allocs.erase(it);
    return true;
}

// Whether [p, p + bytes) lies inside one live allocation.
bool inside(uintptr_t p, size_t bytes) {
    auto it = allocs.upper_bound(p);
    if (it == allocs.begin()) return false;
    --it;
    return p >= it->first && p + bytes <= it->first + it->second.bytes;
}

// ---- fibers: one per CUDA thread of a block ------------------------------------------------
extern "C" void nn_emu_switch(void** save_sp, void* to_sp);
asm(R"(
    .text
    .globl nn_emu_switch
    .hidden nn_emu_switch
    .type nn_emu_switch,@function
nn_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size nn_emu_switch, .-nn_emu_switch
)");

const unsigned MAX_THREADS = 1024;
const size_t STACK = 64 * 1024;

struct Fiber {
    void* sp;
    char* top;
    bool done;
    emu_dim3 idx;
};
Fiber fibers[MAX_THREADS];
char* stacks = nullptr;
void* scheduler_sp = nullptr;
Fiber* current = nullptr;
const std::function<void()>* thread_body = nullptr;
const char* running_kernel = nullptr;

[[noreturn]] void fiber_main() {
    (*thread_body)();
    current->done = true;
    nn_emu_switch(&current->sp, scheduler_sp);
    __builtin_unreachable();
}

void init_stacks() {
    if (stacks) return;
    size_t each = STACK + PAGE;  // a guard page below every stack
    void* m = mmap(nullptr, each * MAX_THREADS, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) fatal("cannot map fiber stacks");
    stacks = static_cast<char*>(m);
    for (unsigned t = 0; t < MAX_THREADS; ++t) {
        mprotect(stacks + t * each, PAGE, PROT_NONE);
        fibers[t].top = stacks + (t + 1) * each;
    }
}

void start_fiber(Fiber& f) {
    // Stack, top down: a fake return address for fiber_main (it never returns), fiber_main as
    // the address nn_emu_switch returns to, then six zeroed callee-saved registers. fiber_main
    // starts with rsp ≡ 8 (mod 16), as after a call.
    auto* sp = reinterpret_cast<uintptr_t*>(f.top);
    *--sp = 0;
    *--sp = reinterpret_cast<uintptr_t>(&fiber_main);
    for (int i = 0; i < 6; ++i) *--sp = 0;
    f.sp = sp;
    f.done = false;
}

// The order threads run in within a round: a fresh pseudo-random permutation each round (seeded,
// so runs repeat; NN_CUDA_EMU_SEED changes it), so that a missing barrier shows whichever way
// the threads depend on each other.
unsigned order[MAX_THREADS];
uint64_t rng_state = 0;
uint64_t next_random() {
    if (rng_state == 0) {
        const char* s = std::getenv("NN_CUDA_EMU_SEED");
        rng_state = s ? std::strtoull(s, nullptr, 10) * 2 + 1 : 0x9E3779B97F4A7C15ull;
    }
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
void shuffle(unsigned n) {
    for (unsigned i = 0; i < n; ++i) order[i] = i;
    for (unsigned i = n; i > 1; --i) std::swap(order[i - 1], order[next_random() % i]);
}

// Runs one block: every thread until it finishes or reaches a barrier, round after round.
void run_block(unsigned nthreads) {
    block_serial += 1;
    unsigned bx = blockDim.x, by = blockDim.y;
    for (unsigned t = 0; t < nthreads; ++t) {
        fibers[t].idx = emu_dim3{t % bx, (t / bx) % by, t / (bx * by)};
        start_fiber(fibers[t]);
    }
    for (;;) {
        shuffle(nthreads);
        unsigned finished = 0;
        for (unsigned i = 0; i < nthreads; ++i) {
            Fiber& f = fibers[order[i]];
            if (f.done) {
                ++finished;
                continue;
            }
            current = &f;
            threadIdx = f.idx;
            nn_emu_switch(&scheduler_sp, f.sp);
            if (f.done) ++finished;
        }
        if (finished == nthreads) return;
        if (finished > 0)
            fatal("kernel %s: %u of %u threads of block (%u,%u,%u) finished while the others wait "
                  "at __syncthreads() (a barrier in divergent code)",
                  running_kernel, finished, nthreads, blockIdx.x, blockIdx.y, blockIdx.z);
    }
}

void on_segv(int, siginfo_t* info, void*) {
    char msg[256];
    int n = std::snprintf(msg, sizeof msg,
                          "nn-cuda-emu: %s touched unmapped memory at %p (past the end of a "
                          "device buffer, a freed buffer, or a host pointer)\n",
                          running_kernel ? running_kernel : "a host call", info->si_addr);
    if (n > 0) (void)!write(2, msg, static_cast<size_t>(n));
    _exit(139);
}

void install_segv_handler() {
    static bool done = false;
    if (done) return;
    done = true;
    // The handler needs its own stack: a fault may be a fiber's stack overflow.
    static char alt[64 * 1024];
    stack_t ss{};
    ss.ss_sp = alt;
    ss.ss_size = sizeof alt;
    sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, nullptr);
    sigaction(SIGBUS, &sa, nullptr);
}

// ---- kernels: name → a call that unpacks cuLaunchKernel's argument array --------------------
using Launcher = std::function<void(void**)>;
// Copies a launch's arguments, for a captured launch: the copy calls its callback with an
// argument array that points into it.
using WithArgs = std::function<void(const std::function<void(void**)>&)>;
using Binder = std::function<WithArgs(void**)>;
struct Kernel {
    Launcher run;
    Binder bind;
};

template <class... A, size_t... I>
void call_unpacked(void (*f)(A...), void** p, std::index_sequence<I...>) {
    f(*static_cast<std::remove_reference_t<A>*>(p[I])...);
}
template <class... A, size_t... I>
WithArgs bind_unpacked(void** p, std::index_sequence<I...>) {
    auto args = std::make_shared<std::tuple<std::decay_t<A>...>>(*static_cast<std::decay_t<A>*>(p[I])...);
    return [args](const std::function<void(void**)>& go) {
        std::apply([&](auto&... a) {
            void* v[] = {static_cast<void*>(&a)...};
            go(v);
        }, *args);
    };
}
template <class... A>
Kernel launcher(void (*f)(A...)) {
    return Kernel{[f](void** p) { call_unpacked(f, p, std::index_sequence_for<A...>{}); },
                  [](void** p) { return bind_unpacked<A...>(p, std::index_sequence_for<A...>{}); }};
}

const std::map<std::string, Kernel>& kernels() {
    static const std::map<std::string, Kernel> table = [] {
        std::map<std::string, Kernel> m;
#define TYPED(k)                        \
    m[#k "_f32"] = launcher(&k##_f32); \
    m[#k "_f64"] = launcher(&k##_f64);
        TYPED(add_row) TYPED(matmul_small) TYPED(mul) TYPED(sigmoid) TYPED(sigmoid_backward)
        TYPED(relu) TYPED(relu_backward) TYPED(axpby) TYPED(axpy) TYPED(scale) TYPED(lerp)
        TYPED(lerp_square) TYPED(add_square) TYPED(adaptive_step) TYPED(adaptive_step_at)
        TYPED(adam_rate) TYPED(sum_rows) TYPED(softmax)
        TYPED(softmax_ce) TYPED(softmax_ce_backward) TYPED(bce) TYPED(bce_backward)
        TYPED(argmax_rows) TYPED(gather_rows) TYPED(reduce_sum) TYPED(softmax_ce_sum)
        TYPED(bce_sum) TYPED(axpy_many) TYPED(sum_squares_many) TYPED(clip_scale_many)
        TYPED(gather_batch) TYPED(tanh) TYPED(tanh_backward) TYPED(rnn_step)
        TYPED(rnn_step_backward) TYPED(lstm_step) TYPED(lstm_step_backward) TYPED(scatter_add_rows)
        TYPED(softmax_masked_rows) TYPED(masked_loss_sum) TYPED(softmax_masked_backward)
#undef TYPED
        m["gather_index"] = launcher(&gather_index);
        return m;
    }();
    return table;
}

// ---- counters, printed at exit when NN_CUDA_EMU_REPORT is set --------------------------------
std::atomic<unsigned long long> launches{0}, gemms{0}, fiber_runs{0};
size_t captured_nodes = 0, graph_launches = 0;

struct Report {
    ~Report() {
        if (!std::getenv("NN_CUDA_EMU_REPORT")) return;
        std::fprintf(stderr,
                     "nn-cuda-emu: %llu kernel launches (%llu CUDA threads run), %llu gemm calls, "
                     "%zu allocations, peak %zu bytes, %zu bytes still allocated\n",
                     launches.load(), fiber_runs.load(), gemms.load(), alloc_count, peak_bytes,
                     live_bytes);
        if (captured_nodes)
            std::fprintf(stderr, "nn-cuda-emu: %zu ops captured, %zu graph launches\n",
                         captured_nodes, graph_launches);
    }
} report;

}  // namespace

static void __syncthreads() {
    if (!current) fatal("__syncthreads() outside a kernel");
    nn_emu_switch(&current->sp, scheduler_sp);
}

// ==== the CUDA driver API ====================================================================
typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void* CUcontext;
typedef void* CUstream;
typedef void* CUmodule;
typedef void* CUfunction;

enum : CUresult {
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_INVALID_IMAGE = 200,
    CUDA_ERROR_INVALID_CONTEXT = 201,
    CUDA_ERROR_ILLEGAL_STATE = 401,
    CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
    CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
    CUDA_ERROR_STREAM_CAPTURE_IMPLICIT = 906,
};

// ---- streams and their capture -----------------------------------------------------------
namespace {
struct Stream {
    int capture = 0;  // 0: not capturing, 1: capturing, 2: capture invalidated
    std::vector<std::function<void()>> ops;
};
struct Graph {
    std::vector<std::function<void()>> ops;
};
std::map<CUstream, Stream*> streams;  // those cuStreamCreate made

Stream* stream_of(CUstream h) {
    auto it = streams.find(h);
    return it == streams.end() ? nullptr : it->second;
}
Stream* capturing_any() {
    for (auto& s : streams)
        if (s.second->capture == 1) return s.second;
    return nullptr;
}
// The legacy default stream: a null handle, or CU_STREAM_LEGACY.
bool legacy(CUstream h) { return h == nullptr || h == reinterpret_cast<CUstream>(0x1); }

// Runs `op` on stream `h`, or records it when `h` captures. Work on the legacy stream while a
// stream captures invalidates that capture, as in the driver's global and relaxed modes.
CUresult enqueue(CUstream h, const char* what, std::function<void()> op) {
    Stream* s = stream_of(h);
    if (s && s->capture == 2) return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    if (s && s->capture == 1) {
        note("captured %s", what);
        captured_nodes += 1;
        s->ops.push_back(std::move(op));
        return CUDA_SUCCESS;
    }
    if (legacy(h)) {
        if (Stream* c = capturing_any()) {
            note("%s on the legacy stream during a capture: capture invalidated", what);
            c->capture = 2;
            return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
        }
    }
    op();
    return CUDA_SUCCESS;
}

// `what` on stream `h` (or, with `any`, anywhere) is not allowed while capturing: refused, and
// the capture invalidated.
CUresult refuse_in_capture(CUstream h, bool any, const char* what) {
    Stream* s = any ? capturing_any() : stream_of(h);
    if (!any && !s && legacy(h)) s = capturing_any();
    if (s && s->capture != 0) {
        note("%s during a stream capture: refused, capture invalidated", what);
        s->capture = 2;
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    }
    return CUDA_SUCCESS;
}
}  // namespace

static char the_context;  // its address is the one context
static thread_local CUcontext current_ctx = nullptr;
static char the_module;

// Calls that work in the current context fail, as the driver's do, on a thread that has none:
// cudarc must bind the context on every thread that uses it.
#define NEED_CONTEXT                                                                  \
    if (current_ctx != &the_context) {                                                \
        std::fprintf(stderr, "nn-cuda-emu: %s on a thread with no current context\n", __func__); \
        return CUDA_ERROR_INVALID_CONTEXT;                                            \
    }

extern "C" {

CUresult cuInit(unsigned) { return CUDA_SUCCESS; }
CUresult cuDriverGetVersion(int* v) {
    // NN_CUDA_EMU_DRIVER_VERSION: another driver, for the version check's test.
    const char* s = std::getenv("NN_CUDA_EMU_DRIVER_VERSION");
    *v = s ? std::atoi(s) : 13000;
    return CUDA_SUCCESS;
}
// NN_CUDA_EMU_DEVICES=2: a second device, for the test that one GPU's tensors are refused by
// another's backend. Both share the one context and memory, so only nn-cuda's own check can
// tell them apart.
static int device_count() {
    const char* s = std::getenv("NN_CUDA_EMU_DEVICES");
    return s && std::atoi(s) > 1 ? std::atoi(s) : 1;
}
CUresult cuDeviceGetCount(int* n) {
    *n = device_count();
    return CUDA_SUCCESS;
}
CUresult cuDeviceGet(CUdevice* d, int ordinal) {
    if (ordinal < 0 || ordinal >= device_count()) return CUDA_ERROR_INVALID_DEVICE;
    *d = ordinal;
    return CUDA_SUCCESS;
}
CUresult cuDeviceGetName(char* name, int len, CUdevice) {
    std::snprintf(name, static_cast<size_t>(len), "nn-cuda-emu (CPU emulation, not a GPU)");
    return CUDA_SUCCESS;
}
CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice) {
    switch (attr) {
        case 75: *v = 9; break;     // compute capability major (as an H100/H200)
        case 76: *v = 0; break;     // minor
        // Memory pools (cuMemAllocAsync) are supported, unless NN_CUDA_EMU_NO_POOLS is set: a
        // device without them, which cudarc gives cuMemAlloc and cuMemFree.
        case 115: *v = std::getenv("NN_CUDA_EMU_NO_POOLS") ? 0 : 1; break;
        case 1: *v = 1024; break;   // max threads per block
        case 16: *v = 132; break;   // multiprocessors
        default: *v = 0;
    }
    return CUDA_SUCCESS;
}
CUresult cuDeviceTotalMem_v2(size_t* b, CUdevice) {
    *b = size_t(1) << 34;
    return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice) {
    *c = &the_context;
    return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) { return CUDA_SUCCESS; }
CUresult cuCtxGetCurrent(CUcontext* c) {
    *c = current_ctx;
    return CUDA_SUCCESS;
}
CUresult cuCtxSetCurrent(CUcontext c) {
    current_ctx = c;
    return CUDA_SUCCESS;
}
CUresult cuCtxSynchronize() {
    NEED_CONTEXT;
    LOCKED;
    if (CUresult r = refuse_in_capture(nullptr, true, "cuCtxSynchronize")) return r;
    pool_release(pool_threshold);
    return CUDA_SUCCESS;
}
CUresult cuStreamSynchronize(CUstream h) {
    NEED_CONTEXT;
    LOCKED;
    if (CUresult r = refuse_in_capture(h, false, "cuStreamSynchronize")) return r;
    pool_release(pool_threshold);
    return CUDA_SUCCESS;
}

CUresult cuStreamCreate(CUstream* h, unsigned) {
    NEED_CONTEXT;
    LOCKED;
    Stream* s = new Stream;
    *h = reinterpret_cast<CUstream>(s);
    streams[*h] = s;
    return CUDA_SUCCESS;
}
CUresult cuStreamDestroy_v2(CUstream h) {
    LOCKED;
    Stream* s = stream_of(h);
    if (!s) return CUDA_ERROR_INVALID_VALUE;
    streams.erase(h);
    delete s;
    return CUDA_SUCCESS;
}
CUresult cuStreamBeginCapture_v2(CUstream h, int) {
    NEED_CONTEXT;
    LOCKED;
    Stream* s = stream_of(h);
    if (!s) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;  // the legacy stream cannot capture
    if (s->capture != 0) return CUDA_ERROR_ILLEGAL_STATE;
    s->capture = 1;
    s->ops.clear();
    return CUDA_SUCCESS;
}
CUresult cuStreamEndCapture(CUstream h, void** graph) {
    NEED_CONTEXT;
    LOCKED;
    Stream* s = stream_of(h);
    if (!s || s->capture == 0) return CUDA_ERROR_ILLEGAL_STATE;
    bool invalid = s->capture == 2;
    s->capture = 0;
    *graph = nullptr;
    if (invalid) {
        s->ops.clear();
        return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    }
    *graph = new Graph{std::move(s->ops)};
    s->ops.clear();
    return CUDA_SUCCESS;
}
CUresult cuStreamIsCapturing(CUstream h, int* status) {
    LOCKED;
    Stream* s = stream_of(h);
    *status = s ? s->capture : 0;
    return CUDA_SUCCESS;
}
CUresult cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long) {
    LOCKED;
    if (!graph) return CUDA_ERROR_INVALID_VALUE;
    *exec = new Graph(*static_cast<Graph*>(graph));
    return CUDA_SUCCESS;
}
CUresult cuGraphDestroy(void* graph) {
    LOCKED;
    delete static_cast<Graph*>(graph);
    return CUDA_SUCCESS;
}
CUresult cuGraphExecDestroy(void* exec) {
    LOCKED;
    delete static_cast<Graph*>(exec);
    return CUDA_SUCCESS;
}
CUresult cuGraphUpload(void* exec, CUstream) { return exec ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }
CUresult cuGraphLaunch(void* exec, CUstream h) {
    NEED_CONTEXT;
    LOCKED;
    if (!exec) return CUDA_ERROR_INVALID_VALUE;
    if (CUresult r = refuse_in_capture(h, false, "cuGraphLaunch")) return r;
    graph_launches += 1;
    for (auto& op : static_cast<Graph*>(exec)->ops) op();
    return CUDA_SUCCESS;
}

// The pool: attributes 4 (release threshold, set) and 5 and 7 (reserved bytes and bytes in use,
// read), all 64-bit; the others are not emulated.
CUresult cuDeviceGetMemPool(void** pool, CUdevice) {
    *pool = &the_pool;
    return CUDA_SUCCESS;
}
CUresult cuMemPoolSetAttribute(void* pool, int attr, void* value) {
    LOCKED;
    if (pool != &the_pool || attr != 4) return CUDA_ERROR_INVALID_VALUE;
    pool_threshold = *static_cast<unsigned long long*>(value);
    return CUDA_SUCCESS;
}
CUresult cuMemPoolGetAttribute(void* pool, int attr, void* value) {
    LOCKED;
    auto* v = static_cast<unsigned long long*>(value);
    if (pool != &the_pool) return CUDA_ERROR_INVALID_VALUE;
    switch (attr) {
        case 5: *v = pool_reserved; break;
        case 7: *v = pool_live; break;
        default: return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}
CUresult cuMemPoolTrimTo(void* pool, size_t keep) {
    LOCKED;
    if (pool != &the_pool) return CUDA_ERROR_INVALID_VALUE;
    pool_release(keep);
    return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult e, const char** s) {
    switch (e) {
        case CUDA_SUCCESS: *s = "no error"; break;
        case CUDA_ERROR_INVALID_VALUE: *s = "invalid argument"; break;
        case CUDA_ERROR_OUT_OF_MEMORY: *s = "out of memory"; break;
        case CUDA_ERROR_INVALID_DEVICE: *s = "invalid device ordinal"; break;
        case CUDA_ERROR_NOT_FOUND: *s = "named symbol not found"; break;
        case CUDA_ERROR_ILLEGAL_STATE: *s = "CUDA_ERROR_ILLEGAL_STATE"; break;
        case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: *s = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; break;
        case CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: *s = "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"; break;
        case CUDA_ERROR_STREAM_CAPTURE_IMPLICIT: *s = "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT"; break;
        default: *s = "nn-cuda-emu error";
    }
    return CUDA_SUCCESS;
}
CUresult cuGetErrorName(CUresult e, const char** s) { return cuGetErrorString(e, s); }

namespace {
CUresult alloc_now(CUdeviceptr* p, size_t bytes, bool pooled) {
    install_segv_handler();
    if (over_limit(bytes)) return CUDA_ERROR_OUT_OF_MEMORY;
    void* m = device_alloc(bytes, pooled);
    if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
    *p = reinterpret_cast<CUdeviceptr>(m);
    return CUDA_SUCCESS;
}
}  // namespace

CUresult cuMemAllocAsync(CUdeviceptr* p, size_t bytes, CUstream h) {
    NEED_CONTEXT;
    LOCKED;
    // A GPU would add a graph memory node; nn-cuda allocates from its own arena while it
    // captures, so an allocation here is a mistake.
    if (CUresult r = refuse_in_capture(h, false, "cuMemAllocAsync (graph memory nodes are not emulated)")) return r;
    return alloc_now(p, bytes, true);
}
// Allowed while capturing in relaxed mode (nn-cuda's graph arenas grow so).
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    NEED_CONTEXT;
    LOCKED;
    return alloc_now(p, bytes, false);
}
CUresult cuMemFreeAsync(CUdeviceptr p, CUstream h) {
    NEED_CONTEXT;
    LOCKED;
    // Memory from before a capture may not be freed during it.
    if (CUresult r = refuse_in_capture(h, false, "cuMemFreeAsync")) return r;
    if (!device_free(p)) fatal("cuMemFree of %p, which is not a live allocation", (void*)p);
    return CUDA_SUCCESS;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
    NEED_CONTEXT;
    LOCKED;
    if (CUresult r = refuse_in_capture(nullptr, true, "cuMemFree (it synchronises)")) return r;
    if (!device_free(p)) fatal("cuMemFree of %p, which is not a live allocation", (void*)p);
    return CUDA_SUCCESS;
}

CUresult cuMemsetD8Async(CUdeviceptr p, unsigned char v, size_t n, CUstream h) {
    NEED_CONTEXT;
    LOCKED;
    if (!inside(p, n)) return CUDA_ERROR_INVALID_VALUE;
    return enqueue(h, "memset", [=] {
        if (!inside(p, n)) fatal("a replayed memset of %zu bytes outside any allocation", n);
        std::memset(reinterpret_cast<void*>(p), v, n);
    });
}
CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) { return cuMemsetD8Async(p, v, n, nullptr); }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream h) {
    NEED_CONTEXT;
    LOCKED;
    if (CUresult r = refuse_in_capture(h, false, "a host-to-device copy")) return r;
    if (!inside(dst, n)) fatal("host-to-device copy of %zu bytes outside any allocation", n);
    std::memcpy(reinterpret_cast<void*>(dst), src, n);
    return CUDA_SUCCESS;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) { return cuMemcpyHtoDAsync_v2(dst, src, n, nullptr); }
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream h) {
    NEED_CONTEXT;
    LOCKED;
    if (CUresult r = refuse_in_capture(h, false, "a device-to-host copy")) return r;
    if (!inside(src, n)) fatal("device-to-host copy of %zu bytes outside any allocation", n);
    std::memcpy(dst, reinterpret_cast<const void*>(src), n);
    return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) { return cuMemcpyDtoHAsync_v2(dst, src, n, nullptr); }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream h) {
    NEED_CONTEXT;
    LOCKED;
    if (!inside(dst, n) || !inside(src, n)) fatal("device-to-device copy of %zu bytes outside any allocation", n);
    return enqueue(h, "device-to-device copy", [=] {
        if (!inside(dst, n) || !inside(src, n)) fatal("a replayed device-to-device copy of %zu bytes outside any allocation", n);
        std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n);
    });
}
CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) { return cuMemcpyDtoDAsync_v2(dst, src, n, nullptr); }

CUresult cuModuleLoadData(CUmodule* m, const void* image) {
    NEED_CONTEXT;
    // Only what this library's NVRTC made, as a driver refuses code that is not for it.
    const char marker[] = "// nn-cuda-emu";
    if (!image || std::memcmp(image, marker, sizeof marker - 1) != 0) {
        return CUDA_ERROR_INVALID_IMAGE;
    }
    *m = &the_module;
    return CUDA_SUCCESS;
}
CUresult cuModuleUnload(CUmodule) { return CUDA_SUCCESS; }
CUresult cuModuleGetFunction(CUfunction* f, CUmodule, const char* name) {
    NEED_CONTEXT;
    auto& k = kernels();
    auto it = k.find(name);
    if (it == k.end()) {
        note("no kernel named %s", name);
        return CUDA_ERROR_NOT_FOUND;
    }
    // The map's node is stable: its address is the function handle.
    *f = const_cast<void*>(static_cast<const void*>(&*it));
    return CUDA_SUCCESS;
}

namespace {
using KernelEntry = std::pair<const std::string, Kernel>;
void run_launch(const KernelEntry* k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                unsigned bz, void** params) {
    install_segv_handler();
    init_stacks();
    launches += 1;
    unsigned long long threads = 1ull * bx * by * bz;
    running_kernel = k->first.c_str();
    note("launch %s (%u,%u,%u)x(%u,%u,%u)", running_kernel, gx, gy, gz, bx, by, bz);
    std::function<void()> body = [&] { k->second.run(params); };
    thread_body = &body;
    gridDim = emu_dim3{gx, gy, gz};
    blockDim = emu_dim3{bx, by, bz};
    for (unsigned z = 0; z < gz; ++z)
        for (unsigned y = 0; y < gy; ++y)
            for (unsigned x = 0; x < gx; ++x) {
                blockIdx = emu_dim3{x, y, z};
                run_block(static_cast<unsigned>(threads));
                fiber_runs += threads;
            }
    current = nullptr;
    thread_body = nullptr;
    running_kernel = nullptr;
}
}  // namespace

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared, CUstream h, void** params, void** extra) {
    NEED_CONTEXT;
    LOCKED;
    if (!f || !params || extra) return CUDA_ERROR_INVALID_VALUE;
    auto* k = static_cast<const KernelEntry*>(f);
    unsigned long long threads = 1ull * bx * by * bz;
    if (gx == 0 || gy == 0 || gz == 0 || threads == 0 || threads > MAX_THREADS || bz > 64 ||
        gy > 65535 || gz > 65535 || gx > 0x7fffffffu || shared > 48 * 1024) {
        note("%s: bad launch (%u,%u,%u)x(%u,%u,%u), %u shared bytes", k->first.c_str(), gx, gy, gz,
             bx, by, bz, shared);
        return CUDA_ERROR_INVALID_VALUE;
    }
    Stream* s = stream_of(h);
    if (s && s->capture == 1) {
        // The arguments are copied now, as the driver copies them into the kernel node.
        WithArgs args = k->second.bind(params);
        return enqueue(h, k->first.c_str(), [=] {
            args([&](void** p) { run_launch(k, gx, gy, gz, bx, by, bz, p); });
        });
    }
    return enqueue(h, k->first.c_str(), [&] { run_launch(k, gx, gy, gz, bx, by, bz, params); });
}

// ==== cuBLAS ==================================================================================
typedef int cublasStatus_t;
typedef void* cublasHandle_t;
enum : cublasStatus_t { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 };
static char the_blas;

cublasStatus_t cublasCreate_v2(cublasHandle_t* h) {
    *h = &the_blas;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }
static CUstream blas_stream = nullptr;
cublasStatus_t cublasSetStream_v2(cublasHandle_t, CUstream h) {
    LOCKED;
    blas_stream = h;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t, void* p, size_t bytes) {
    LOCKED;
    if (bytes && !inside(reinterpret_cast<uintptr_t>(p), bytes)) return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusString(cublasStatus_t s) {
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}
const char* cublasGetStatusName(cublasStatus_t s) { return cublasGetStatusString(s); }

}  // extern "C"

namespace {
// C = alpha·op(A)·op(B) + beta·C, column-major, as the BLAS reference defines it (C is not read
// when beta is 0). op: 0 = N, 1 = T.
template <typename T>
cublasStatus_t gemm(int ta, int tb, int m, int n, int k, const T* alpha, const T* A, int lda,
                    const T* B, int ldb, const T* beta, T* C, int ldc) {
    LOCKED;
    gemms += 1;
    note("gemm ta=%d tb=%d m=%d n=%d k=%d", ta, tb, m, n, k);
    int a_rows = ta ? k : m, a_cols = ta ? m : k;
    int b_rows = tb ? n : k, b_cols = tb ? k : n;
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1) || m < 0 || n < 0 || k < 0 ||
        lda < (a_rows > 1 ? a_rows : 1) || ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1)) {
        note("gemm refused: ta=%d tb=%d m=%d n=%d k=%d lda=%d ldb=%d ldc=%d", ta, tb, m, n, k, lda, ldb, ldc);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    auto span = [](int rows, int cols, int ld) { return (size_t(cols) - 1) * size_t(ld) + size_t(rows); };
    if (k > 0 && (!inside(reinterpret_cast<uintptr_t>(A), span(a_rows, a_cols, lda) * sizeof(T)) ||
                  !inside(reinterpret_cast<uintptr_t>(B), span(b_rows, b_cols, ldb) * sizeof(T))))
        fatal("gemm: an operand extends past its allocation (m=%d n=%d k=%d lda=%d ldb=%d)", m, n, k, lda, ldb);
    if (!inside(reinterpret_cast<uintptr_t>(C), span(m, n, ldc) * sizeof(T)))
        fatal("gemm: C extends past its allocation (m=%d n=%d ldc=%d)", m, n, ldc);
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
            T s = T(0);
            for (int l = 0; l < k; ++l) {
                T a = ta ? A[l + size_t(i) * lda] : A[i + size_t(l) * lda];
                T b = tb ? B[j + size_t(l) * ldb] : B[l + size_t(j) * ldb];
                s += a * b;
            }
            T& c = C[i + size_t(j) * ldc];
            c = *beta == T(0) ? *alpha * s : *alpha * s + *beta * c;
        }
    return CUBLAS_STATUS_SUCCESS;
}
// A product on the handle's stream: run now, or recorded (with alpha and beta copied, as
// cuBLAS reads host scalars when it is called) while that stream captures.
template <typename T>
cublasStatus_t gemm_on_stream(int ta, int tb, int m, int n, int k, const T* alpha, const T* A, int lda,
                              const T* B, int ldb, const T* beta, T* C, int ldc) {
    LOCKED;
    Stream* s = stream_of(blas_stream);
    if (s && s->capture == 1) {
        T a = *alpha, b = *beta;
        enqueue(blas_stream, "gemm", [=] { gemm<T>(ta, tb, m, n, k, &a, A, lda, B, ldb, &b, C, ldc); });
        return CUBLAS_STATUS_SUCCESS;
    }
    if (enqueue(blas_stream, "gemm", [] {}) != CUDA_SUCCESS) return CUBLAS_STATUS_INVALID_VALUE;
    return gemm<T>(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
}  // namespace

extern "C" {

cublasStatus_t cublasSgemm_v2(cublasHandle_t, int ta, int tb, int m, int n, int k, const float* alpha,
                              const float* A, int lda, const float* B, int ldb, const float* beta,
                              float* C, int ldc) {
    return gemm_on_stream<float>(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t cublasDgemm_v2(cublasHandle_t, int ta, int tb, int m, int n, int k, const double* alpha,
                              const double* A, int lda, const double* B, int ldb, const double* beta,
                              double* C, int ldc) {
    return gemm_on_stream<double>(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

// ==== NVRTC ===================================================================================
// "Compiles" by recording the options and handing back a marker: the kernels are already
// compiled into this library. The real NVRTC compile is tested by nn-cuda's `nvrtc` test.
typedef int nvrtcResult;
struct EmuProgram {
    std::string log, ptx;
};
typedef EmuProgram* nvrtcProgram;

const char* nvrtcGetErrorString(nvrtcResult r) { return r == 0 ? "NVRTC_SUCCESS" : "NVRTC_ERROR"; }
nvrtcResult nvrtcVersion(int* major, int* minor) {
    *major = 13;
    *minor = 0;
    return 0;
}
nvrtcResult nvrtcCreateProgram(nvrtcProgram* p, const char* src, const char*, int, const char* const*,
                               const char* const*) {
    if (!src) return 1;
    *p = new EmuProgram{};
    return 0;
}
nvrtcResult nvrtcCompileProgram(nvrtcProgram p, int n, const char* const* options) {
    p->ptx = "// nn-cuda-emu: kernels built into the emulator\n";
    for (int i = 0; i < n; ++i) p->ptx += std::string("// option ") + options[i] + "\n";
    return 0;
}
nvrtcResult nvrtcGetPTXSize(nvrtcProgram p, size_t* n) {
    *n = p->ptx.size() + 1;
    return 0;
}
nvrtcResult nvrtcGetPTX(nvrtcProgram p, char* out) {
    std::memcpy(out, p->ptx.c_str(), p->ptx.size() + 1);
    return 0;
}
nvrtcResult nvrtcGetCUBINSize(nvrtcProgram p, size_t* n) { return nvrtcGetPTXSize(p, n); }
nvrtcResult nvrtcGetCUBIN(nvrtcProgram p, char* out) { return nvrtcGetPTX(p, out); }
nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram p, size_t* n) {
    *n = p->log.size() + 1;
    return 0;
}
nvrtcResult nvrtcGetProgramLog(nvrtcProgram p, char* out) {
    std::memcpy(out, p->log.c_str(), p->log.size() + 1);
    return 0;
}
nvrtcResult nvrtcDestroyProgram(nvrtcProgram* p) {
    delete *p;
    *p = nullptr;
    return 0;
}

}  // extern "C"
