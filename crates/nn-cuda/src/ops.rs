//! `Backend` for [`Cuda`]: cuBLAS for products (a plain kernel for tiny ones), one kernel launch
//! for every other op.

use crate::device::{
    cfg_for, dev_err, Cuda, CudaFloat, CudaIndex, CudaTensor, HOST_READS, LAUNCHES, MAX_BLOCKS,
    MAX_ELEMENTS,
};
use crate::graph::{self, refused, Buf, Logged};
use cudarc::cublas::{sys::cublasOperation_t as Op, GemmConfig};
use cudarc::driver::{CudaSlice, CudaView, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg};
use nn_core::backend::check;
use nn_core::{Backend, Error, Result, Shape, IGNORE_LABEL};
use std::sync::Arc;

/// Launches kernel `$name` (for this backend's element type) with the arguments its
/// declaration in kernels.cu lists.
macro_rules! launch {
    ($self:expr, $name:expr, $cfg:expr; $($arg:expr),* $(,)?) => {
        launch!(@ $self, $name, $self.dev.func($name, E::SUFFIX), $cfg; $($arg),*)
    };
    (@ $self:expr, $name:expr, $func:expr, $cfg:expr; $($arg:expr),* $(,)?) => {{
        let _entered = $self.dev.capture.enter($self.dev.ordinal);
        let stream = &$self.dev.stream;
        let cfg: LaunchConfig = $cfg;
        // The arguments' words, for the graph's log, while a capture runs.
        let mut words = $self.capturing().then(Vec::new);
        let mut b = stream.launch_builder($func);
        // One expression, so that temporaries among the arguments (views) outlive the launch.
        // SAFETY: each call site passes the argument list its kernel in kernels.cu declares,
        // with buffers of at least the sizes the kernel indexes (shapes are checked first).
        let launched = unsafe { b $( .arg(graph::logged(&mut words, stream, $arg)) )* .launch(cfg) };
        if let Some(mut w) = words {
            let (g, k) = (cfg.grid_dim, cfg.block_dim);
            w.extend([g.0, g.1, g.2, k.0, k.1, k.2, cfg.shared_mem_bytes].map(u64::from));
            graph::log($name, w);
        }
        // Counted once the arguments are in: one of another GPU's stops before the launch.
        $self.count_launch();
        launched.map(drop).map_err(dev_err($name))
    }};
}

const BLOCK_REDUCE: LaunchConfig = LaunchConfig {
    grid_dim: (1, 1, 1),
    block_dim: (1024, 1, 1),
    shared_mem_bytes: 0,
};

/// Threads per block of the kernels that give each row a block of its own (the sequence loss's
/// softmax over a vocabulary).
const ROW_BLOCK: u32 = 256;

/// Batches up to this many rows get their softmax (or sigmoid) loss and its sum in one launch of
/// one block; larger ones spread the rows over many blocks and sum in a second launch.
const FUSED_LOSS_ROWS: usize = 8192;

/// Products of at most this many multiply-adds, and of at most [`SMALL_PRODUCT_K`] terms per
/// output, run in one plain kernel (`matmul_small`, a thread per output) instead of cuBLAS: a
/// cuBLAS call costs several kernel launches of host time even for the spiral's tiny products
/// (docs/performance.md), and its iteration makes five. The CPU backend's constant-width path
/// ends at the same size.
const SMALL_PRODUCT: u64 = 32 * 32 * 32;

/// The most terms a `matmul_small` thread sums: beyond, one thread's loop would outlast a
/// cuBLAS call (a 1×N · N×1 product is one output of N terms).
const SMALL_PRODUCT_K: usize = 256;

/// Tensors per multi-tensor launch (`MANY` in kernels.cu).
const MANY: usize = 8;

/// Up to [`MANY`] tensors for one launch: `Many<T>` in kernels.cu, passed by value.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Many {
    y: [u64; MANY],
    x: [u64; MANY],
    n: [u32; MANY],
    count: u32,
}

// SAFETY: plain data laid out as `Many<T>` in kernels.cu: MANY 8-byte pointers twice, then
// MANY + 1 `unsigned int`s (C pads both to 168 bytes).
unsafe impl cudarc::driver::DeviceRepr for Many {}

impl Logged for Many {
    fn words(&self, _: &Arc<cudarc::driver::CudaStream>, out: &mut Vec<u64>) {
        out.extend(self.y.iter().chain(&self.x).map(|&p| graph::place(p)));
        out.extend(self.n.iter().map(|&n| u64::from(n)));
        out.push(u64::from(self.count));
    }
}

/// The labels `src[idx[start..start + len]]` from the host copies, when both exist.
fn gathered_host(src: &CudaIndex, idx: &CudaIndex, start: usize, len: usize) -> Option<Vec<u32>> {
    match (&src.host, &idx.host) {
        (Some(s), Some(i)) => Some(
            i[start..start + len]
                .iter()
                .map(|&k| s[k as usize])
                .collect(),
        ),
        _ => None,
    }
}

/// Bytes of `n` elements of `E`, as a device-pointer offset.
fn byte_offset<E>(n: usize) -> u64 {
    (n * std::mem::size_of::<E>()) as u64
}

fn u32_len(n: usize) -> Result<u32> {
    if n > MAX_ELEMENTS {
        return Err(Error::Unsupported(format!(
            "tensors of {n} elements on the GPU: at most {MAX_ELEMENTS} (the CUDA kernels \
             index with u32)"
        )));
    }
    Ok(n as u32)
}

/// A matrix dimension for cuBLAS, which takes `i32`.
fn i32_dim(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| {
        Error::Unsupported(format!(
            "a matrix dimension of {n} in a GPU product: cuBLAS takes at most 2³¹ − 1"
        ))
    })
}

impl<E: CudaFloat> Cuda<E> {
    fn count_launch(&self) {
        LAUNCHES.set(LAUNCHES.get() + 1);
    }

    /// `buf`, when this backend's GPU holds it. A kernel cannot be given another GPU's memory
    /// (and a copy from it would hide the mistake), so that is an error naming both GPUs.
    fn mine<'a, T>(&self, buf: &'a CudaSlice<T>) -> Result<&'a CudaSlice<T>> {
        if buf.ordinal() == self.dev.ordinal {
            return Ok(buf);
        }
        Err(Error::Device(format!(
            "a tensor of cuda:{} given to the backend of {:?}: keep a model, its data and its \
             optimizer on one GPU",
            buf.ordinal(),
            self.dev
        )))
    }

    /// The lock for an op that waits for the GPU or copies host data (which a graph cannot
    /// hold): an error while this thread captures.
    fn outside_capture(&self, what: &str) -> Result<graph::Entered<'_>> {
        if self.capturing() {
            return Err(refused(what));
        }
        Ok(self.dev.capture.enter(self.dev.ordinal))
    }

    /// The checks of `adaptive_step` and `adaptive_step_at`, and the elements of `p`.
    fn adaptive_checks(
        &self,
        p: &CudaTensor<E>,
        num: &CudaTensor<E>,
        den: &CudaTensor<E>,
    ) -> Result<u32> {
        check::same("adaptive_step", p.shape, num.shape)?;
        check::same("adaptive_step", p.shape, den.shape)?;
        u32_len(p.shape.len())
    }

    /// A device buffer for `n` elements whose contents the next kernel overwrites (from the
    /// graph's memory while a capture runs).
    fn alloc<T: cudarc::driver::DeviceRepr>(&self, n: usize) -> Result<Buf<T>> {
        u32_len(n)?;
        // Every caller launches a kernel that writes all `n` elements before any read.
        graph::alloc(&self.dev, n)
    }

    /// A zeroed device buffer of `n` elements (at least one: CUDA has no empty allocations).
    fn alloc_zeros<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        &self,
        n: usize,
    ) -> Result<Buf<T>> {
        let mut buf = self.alloc::<T>(n)?;
        let _entered = self.dev.capture.enter(self.dev.ordinal);
        if self.capturing() {
            let bytes = (buf.len() * std::mem::size_of::<T>()) as u64;
            graph::log("memset", vec![buf.words_of(&self.dev.stream), bytes]);
        }
        self.dev
            .stream
            .memset_zeros(&mut *buf)
            .map_err(dev_err("zeroing GPU memory"))?;
        Ok(buf)
    }

    /// Copies `src` into `dst` on the device (logged while a capture runs).
    fn copy_dtod(
        &self,
        src: &CudaView<'_, E>,
        dst: &mut cudarc::driver::CudaViewMut<'_, E>,
        what: &'static str,
    ) -> Result<()> {
        let _entered = self.dev.capture.enter(self.dev.ordinal);
        let stream = &self.dev.stream;
        if self.capturing() {
            let mut w = Vec::new();
            src.words(stream, &mut w);
            w.push(graph::place(dst.device_ptr(stream).0));
            w.push(byte_offset::<E>(src.len()));
            graph::log("copy", w);
        }
        self.count_launch();
        stream.memcpy_dtod(src, dst).map_err(dev_err(what))
    }

    fn tensor(&self, buf: Buf<E>, shape: Shape) -> CudaTensor<E> {
        CudaTensor {
            buf: Arc::new(buf),
            shape,
            offset: 0,
        }
    }

    /// The elements of `t` (a view of its rows of its buffer), when this backend's GPU holds
    /// them.
    pub(crate) fn view<'a>(&self, t: &'a CudaTensor<E>) -> Result<CudaView<'a, E>> {
        let buf = self.mine(&t.buf)?;
        Ok(buf.slice(t.offset..t.offset + t.shape.len()))
    }

    /// The buffer of `t` for writing, copied first if another tensor shares it or `t` is a
    /// view of part of it.
    fn unique<'a>(&self, t: &'a mut CudaTensor<E>) -> Result<&'a mut CudaSlice<E>> {
        self.mine(&t.buf)?;
        let whole = t.offset == 0 && t.buf.len() == t.shape.len().max(1);
        if !whole || Arc::get_mut(&mut t.buf).is_none() {
            let n = t.shape.len();
            let mut copy = self.alloc::<E>(n)?;
            if n > 0 {
                let src = t.buf.slice(t.offset..t.offset + n);
                self.copy_dtod(&src, &mut copy.slice_mut(0..n), "copying a shared tensor")?;
            }
            t.buf = Arc::new(copy);
            t.offset = 0;
        }
        Ok(Arc::get_mut(&mut t.buf).expect("just made unique"))
    }

    /// Calls `launch` for each run of up to [`MANY`] tensors of `ys`, which a kernel updates in
    /// place (each copied first if shared), with `xs[k]` passed beside `ys[k]` when given. The
    /// launch shape spans the largest tensor of the run; its grid's `y` picks the tensor.
    fn for_many(
        &self,
        ys: &mut [&mut CudaTensor<E>],
        xs: Option<&[&CudaTensor<E>]>,
        mut launch: impl FnMut(&Many, LaunchConfig) -> Result<()>,
    ) -> Result<()> {
        let stream = self.dev.stream.clone();
        for (c, chunk) in ys.chunks_mut(MANY).enumerate() {
            let mut m = Many {
                count: chunk.len() as u32,
                ..Many::default()
            };
            let mut guards = Vec::with_capacity(2 * MANY);
            let mut most = 0;
            for (k, y) in chunk.iter_mut().enumerate() {
                m.n[k] = u32_len(y.shape.len())?;
                most = most.max(y.shape.len());
                if let Some(xs) = xs {
                    let x = xs[c * MANY + k];
                    let (xp, g) = self.mine(&x.buf)?.device_ptr(&stream);
                    m.x[k] = xp + byte_offset::<E>(x.offset);
                    guards.push(g);
                }
                let (yp, g) = self.unique(y)?.device_ptr_mut(&stream);
                m.y[k] = yp;
                guards.push(g);
            }
            if most > 0 {
                let mut cfg = cfg_for(most);
                cfg.grid_dim.1 = m.count;
                launch(&m, cfg)?;
            }
            // The pointers' guards (event records, when tracking is on) end after the launch.
            drop(guards);
        }
        Ok(())
    }

    /// `out = f(x)` elementwise.
    fn unary(&self, name: &'static str, x: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        let n = x.shape.len();
        let mut out = self.alloc(n)?;
        let nn = u32_len(n)?;
        if n > 0 {
            launch!(self, name, cfg_for(n); &self.view(x)?, &mut out, &nn)?;
        }
        Ok(self.tensor(out, x.shape))
    }

    /// `out = f(a, b)` elementwise, equal shapes.
    fn binary(
        &self,
        name: &'static str,
        a: &CudaTensor<E>,
        b: &CudaTensor<E>,
    ) -> Result<CudaTensor<E>> {
        check::same(name, a.shape, b.shape)?;
        let n = a.shape.len();
        let mut out = self.alloc(n)?;
        let nn = u32_len(n)?;
        if n > 0 {
            launch!(self, name, cfg_for(n); &self.view(a)?, &self.view(b)?, &mut out, &nn)?;
        }
        Ok(self.tensor(out, a.shape))
    }

    /// `y = f(y, x)` in place, with one scalar `c`.
    fn update(
        &self,
        name: &'static str,
        y: &mut CudaTensor<E>,
        x: &CudaTensor<E>,
        c: E,
    ) -> Result<()> {
        check::same(name, y.shape, x.shape)?;
        let n = y.shape.len();
        let nn = u32_len(n)?;
        let ybuf = self.unique(y)?;
        if n > 0 {
            launch!(self, name, cfg_for(n); ybuf, &self.view(x)?, &c, &nn)?;
        }
        Ok(())
    }

    /// `Σ (square ? x² : x) / div` over `n` elements of `x`, as a 1 × 1 tensor.
    fn reduce(&self, x: &CudaView<'_, E>, n: usize, div: E, square: bool) -> Result<CudaTensor<E>> {
        let mut out = self.alloc(1)?;
        let (nn, sq) = (u32_len(n)?, square as i32);
        launch!(self, "reduce_sum", BLOCK_REDUCE; x, &mut out, &nn, &div, &sq)?;
        Ok(self.tensor(out, Shape::scalar()))
    }

    /// `launch(input, output)` with `output` a new tensor of `x`'s shape, or `x`'s own buffer
    /// (and `input` a null pointer, which the kernel reads as "the output") when nothing
    /// else holds it.
    fn in_place(
        &self,
        mut x: CudaTensor<E>,
        launch: impl FnOnce(&Self, &u64, &mut CudaSlice<E>) -> Result<()>,
    ) -> Result<CudaTensor<E>> {
        self.mine(&x.buf)?;
        let whole = x.offset == 0 && x.buf.len() == x.shape.len().max(1);
        if whole {
            if let Some(buf) = Arc::get_mut(&mut x.buf) {
                launch(self, &0, buf)?;
                return Ok(x);
            }
        }
        let mut out = self.alloc::<E>(x.shape.len())?;
        let stream = self.dev.stream.clone();
        let view = self.view(&x)?;
        let (p, _read) = view.device_ptr(&stream);
        launch(self, &p, &mut out)?;
        Ok(self.tensor(out, x.shape))
    }

    /// A masked loss's labels: those not [`IGNORE_LABEL`] below `classes`, and at least one,
    /// checked on the host copy when there is one (else read back).
    fn check_masked_labels(&self, op: &str, labels: &CudaIndex, classes: usize) -> Result<()> {
        let owned;
        let host: &[u32] = match &labels.host {
            Some(h) => h,
            None => {
                owned = self.index_to_host(labels)?;
                &owned
            }
        };
        let mut any = false;
        for (row, &l) in host.iter().enumerate() {
            if l == IGNORE_LABEL {
                continue;
            }
            if l as usize >= classes {
                return Err(Error::LabelOutOfRange {
                    label: l as usize,
                    row,
                    classes,
                });
            }
            any = true;
        }
        if !any {
            return Err(Error::invalid(format!(
                "{op}: every label is the ignore label, so the mean loss is over no position"
            )));
        }
        Ok(())
    }

    /// Labels must all be below `classes`; found on the host copy when there is one.
    fn check_labels(&self, labels: &CudaIndex, classes: usize) -> Result<()> {
        if labels.bound <= classes as u64 {
            return Ok(());
        }
        let host = match &labels.host {
            Some(h) => h.as_ref().clone(),
            None => self.index_to_host(labels)?,
        };
        match host.iter().position(|&l| l as usize >= classes) {
            Some(row) => Err(Error::LabelOutOfRange {
                label: host[row] as usize,
                row,
                classes,
            }),
            None => Ok(()),
        }
    }

    /// Copies host data to a new device buffer (one element when empty: CUDA has no empty
    /// allocations).
    fn upload<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        &self,
        data: &[T],
    ) -> Result<Buf<T>> {
        u32_len(data.len())?;
        let _entered = self.outside_capture("copying host data to the GPU")?;
        let s = &self.dev.stream;
        let buf = if data.is_empty() {
            s.alloc_zeros::<T>(1)
        } else {
            s.clone_htod(data)
        };
        Ok(Buf::pool(
            buf.map_err(dev_err("copying to the GPU"))?,
            &self.dev,
        ))
    }

    /// The `n` elements of a device buffer from `offset` on (none: no copy), copied to a host
    /// buffer that is reserved first: cudarc's `clone_dtoh` would end the process on a failed
    /// allocation.
    /// The copy goes into the buffer's uninitialised capacity, which counts in its length only
    /// once the stream has finished it: zeroing it first would touch every fresh page twice.
    fn download<T: cudarc::driver::DeviceRepr>(
        &self,
        buf: &CudaSlice<T>,
        offset: usize,
        n: usize,
        what: impl FnOnce() -> String,
    ) -> Result<Vec<T>> {
        let _entered = self.outside_capture("reading GPU memory on the host")?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let src = self.mine(buf)?.slice(offset..offset + n);
        let mut v = check::host_vec::<T>(n, what)?;
        HOST_READS.set(HOST_READS.get() + 1);
        let stream = &self.dev.stream;
        // As cudarc's own copies do: this thread may not have the context current.
        stream
            .context()
            .bind_to_thread()
            .map_err(dev_err("copying from the GPU"))?;
        let (ptr, _record) = src.device_ptr(stream);
        // SAFETY: `ptr` is `n` live `T`s of this context (sliced above), copied as bytes into
        // `n` elements of spare capacity, which nothing reads before the length is set below.
        unsafe {
            cudarc::driver::result::memcpy_dtoh_async(
                &mut v.spare_capacity_mut()[..n],
                ptr,
                stream.cu_stream(),
            )
        }
        .map_err(dev_err("copying from the GPU"))?;
        // A copy to pageable memory is done when the call returns; waiting makes that so for
        // any host memory, pinned included.
        stream
            .synchronize()
            .map_err(dev_err("copying from the GPU"))?;
        // SAFETY: the finished copy wrote all `n` elements with the device buffer's bytes (its
        // `T`s are f32, f64 or u32, for which any bytes are a value).
        unsafe { v.set_len(n) };
        Ok(v)
    }

    /// A zeroed index buffer of `n` entries (at least one: CUDA has no empty allocations).
    fn alloc_index(&self, n: usize) -> Result<Buf<u32>> {
        self.alloc_zeros::<u32>(n)
    }

    fn index(&self, buf: Buf<u32>, len: usize, host: Option<Vec<u32>>, bound: u64) -> CudaIndex {
        CudaIndex {
            buf: Arc::new(buf),
            len,
            host: host.map(Arc::new),
            bound,
        }
    }
}

impl<E: CudaFloat> Backend for Cuda<E> {
    type Elem = E;
    type Tensor = CudaTensor<E>;
    type Index = CudaIndex;
    type Graph = crate::CudaGraph;

    fn name(&self) -> &'static str {
        "cuda"
    }

    fn from_host(&self, data: &[E], shape: Shape) -> Result<CudaTensor<E>> {
        check::host_len(data.len(), shape)?;
        Ok(self.tensor(self.upload(data)?, shape))
    }
    /// Converts on the host into the element type, then one copy to the device.
    fn from_f32(&self, data: &[f32], shape: Shape) -> Result<CudaTensor<E>> {
        check::host_len(data.len(), shape)?;
        let mut v = check::host_vec(data.len(), || format!("from_f32's copy of {shape}"))?;
        v.extend(data.iter().map(|&x| E::of(f64::from(x))));
        Ok(self.tensor(self.upload(&v)?, shape))
    }
    fn to_host(&self, t: &CudaTensor<E>) -> Result<Vec<E>> {
        self.download(&t.buf, t.offset, t.shape.len(), || {
            format!("to_host's copy of {}", t.shape)
        })
    }
    fn zeros(&self, shape: Shape) -> Result<CudaTensor<E>> {
        let n = check::elements("zeros", shape)?;
        u32_len(n)?;
        Ok(self.tensor(self.alloc_zeros::<E>(n)?, shape))
    }
    fn shape(&self, t: &CudaTensor<E>) -> Shape {
        t.shape
    }
    fn index_from_host(&self, idx: &[u32]) -> Result<CudaIndex> {
        let buf = self.upload(idx)?;
        let bound = idx.iter().max().map_or(0, |&m| u64::from(m) + 1);
        let host = check::host_copy(idx, || format!("a host copy of {} indices", idx.len()))?;
        Ok(self.index(buf, idx.len(), Some(host), bound))
    }
    fn index_to_host(&self, idx: &CudaIndex) -> Result<Vec<u32>> {
        let what = || format!("index_to_host's copy of {} indices", idx.len);
        if let Some(h) = &idx.host {
            return check::host_copy(h, what);
        }
        self.download(&idx.buf, 0, idx.len, what)
    }
    fn index_len(&self, idx: &CudaIndex) -> usize {
        idx.len
    }
    /// In place: clones of `idx` share its memory and see the new indices too.
    fn write_index(&self, idx: &mut CudaIndex, data: &[u32]) -> Result<()> {
        check::index_write(idx.len, data.len())?;
        let _entered = self.outside_capture("copying host data to the GPU")?;
        self.mine(&idx.buf)?;
        let host = check::host_copy(data, || format!("a host copy of {} indices", data.len()))?;
        if !data.is_empty() {
            let stream = &self.dev.stream;
            stream
                .context()
                .bind_to_thread()
                .map_err(dev_err("copying to the GPU"))?;
            let (p, _record) = idx.buf.device_ptr(stream);
            // SAFETY: `p` holds `idx.len == data.len()` u32s of this context; a copy from
            // pageable memory is staged before the call returns, so `data` may go after it.
            unsafe { cudarc::driver::result::memcpy_htod_async(p, data, stream.cu_stream()) }
                .map_err(dev_err("copying to the GPU"))?;
        }
        idx.bound = data.iter().max().map_or(0, |&m| u64::from(m) + 1);
        idx.host = Some(Arc::new(host));
        Ok(())
    }
    fn adam_rate(
        &self,
        step: &mut CudaTensor<E>,
        lr_t: &mut CudaTensor<E>,
        lr: f64,
        beta1: f64,
        beta2: f64,
    ) -> Result<()> {
        check::scalar_arg("adam_rate", "step", step.shape)?;
        check::scalar_arg("adam_rate", "lr_t", lr_t.shape)?;
        let lbuf = self.unique(lr_t)?;
        let sbuf = self.unique(step)?;
        launch!(self, "adam_rate", cfg_for(1); sbuf, lbuf, &lr, &beta1, &beta2)
    }
    fn adaptive_step_at(
        &self,
        p: &mut CudaTensor<E>,
        num: &CudaTensor<E>,
        den: &CudaTensor<E>,
        lr: &CudaTensor<E>,
        eps: E,
    ) -> Result<()> {
        let nn = self.adaptive_checks(p, num, den)?;
        check::scalar_arg("adaptive_step_at", "the rate", lr.shape)?;
        let pbuf = self.unique(p)?;
        if nn > 0 {
            launch!(self, "adaptive_step_at", cfg_for(nn as usize); pbuf, &self.view(num)?, &self.view(den)?, &self.view(lr)?, &eps, &nn)?;
        }
        Ok(())
    }
    fn supports_graphs(&self) -> bool {
        true
    }
    fn capture(&self, f: &mut dyn FnMut() -> Result<()>) -> Result<crate::CudaGraph> {
        Cuda::capture(self, f)
    }
    fn replay(&self, graph: &crate::CudaGraph) -> Result<()> {
        graph.replay()
    }
    fn graph_difference(
        &self,
        later: &crate::CudaGraph,
        earlier: &crate::CudaGraph,
    ) -> Option<String> {
        later.difference(earlier)
    }
    fn synchronize(&self) -> Result<()> {
        let _entered = self.outside_capture("synchronizing")?;
        self.dev
            .stream
            .synchronize()
            .map_err(dev_err("synchronizing"))
    }

    fn matmul(
        &self,
        a: &CudaTensor<E>,
        ta: bool,
        b: &CudaTensor<E>,
        tb: bool,
    ) -> Result<CudaTensor<E>> {
        let out = check::matmul(a.shape, ta, b.shape, tb)?;
        let k = if ta { a.shape.rows } else { a.shape.cols };
        if out.is_empty() || k == 0 {
            return self.zeros(out);
        }
        let mut c = self.alloc(out.len())?;
        if out.len() as u64 * k as u64 <= SMALL_PRODUCT && k <= SMALL_PRODUCT_K {
            let (rows, cols, k) = (u32_len(out.rows)?, u32_len(out.cols)?, u32_len(k)?);
            let (lda, ldb) = (u32_len(a.shape.cols)?, u32_len(b.shape.cols)?);
            let (ta, tb) = (u32::from(ta), u32::from(tb));
            launch!(self, "matmul_small", cfg_for(out.len());
                &self.view(a)?, &self.view(b)?, &mut c, &rows, &cols, &k, &lda, &ldb, &ta, &tb)?;
            return Ok(self.tensor(c, out));
        }
        let op = |t: bool| if t { Op::CUBLAS_OP_T } else { Op::CUBLAS_OP_N };
        // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands.
        let cfg = GemmConfig {
            transa: op(tb),
            transb: op(ta),
            m: i32_dim(out.cols)?,
            n: i32_dim(out.rows)?,
            k: i32_dim(k)?,
            alpha: E::one(),
            lda: i32_dim(b.shape.cols)?,
            ldb: i32_dim(a.shape.cols)?,
            beta: E::zero(),
            ldc: i32_dim(out.cols)?,
        };
        let (a, b) = (&self.view(a)?, &self.view(b)?);
        let _entered = self.dev.capture.enter(self.dev.ordinal);
        if self.capturing() {
            let s = &self.dev.stream;
            let mut w = vec![cfg.m as u64, cfg.n as u64, cfg.k as u64];
            w.extend([cfg.lda, cfg.ldb, cfg.ldc].map(|l| l as u64));
            w.extend([cfg.transa as u64, cfg.transb as u64]);
            b.words(s, &mut w);
            a.words(s, &mut w);
            c.words(s, &mut w);
            graph::log("gemm", w);
        }
        self.count_launch();
        // SAFETY: the dimensions and leading dimensions above describe exactly the row-major
        // buffers of a, b and c, whose shapes were checked.
        unsafe { E::gemm(&self.dev.blas, cfg, b, a, &mut *c)? };
        Ok(self.tensor(c, out))
    }

    fn add_row(&self, a: &CudaTensor<E>, row: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        check::row("add_row", a.shape, row.shape)?;
        let n = a.shape.len();
        let mut out = self.alloc(n)?;
        let (r, c) = (u32_len(a.shape.rows)?, u32_len(a.shape.cols)?);
        if n > 0 {
            launch!(self, "add_row", cfg_for(n); &self.view(a)?, &self.view(row)?, &mut out, &r, &c)?;
        }
        Ok(self.tensor(out, a.shape))
    }
    fn mul(&self, a: &CudaTensor<E>, b: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        self.binary("mul", a, b)
    }
    fn sum_rows(&self, a: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        let cols = a.shape.cols;
        let mut out = self.alloc(cols)?;
        let (r, c) = (u32_len(a.shape.rows)?, u32_len(cols)?);
        if cols > 0 {
            launch!(self, "sum_rows", cfg_for(cols); &self.view(a)?, &mut out, &r, &c)?;
        }
        Ok(self.tensor(out, Shape::row(cols)))
    }

    fn sigmoid(&self, x: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        self.unary("sigmoid", x)
    }
    fn sigmoid_backward(&self, out: &CudaTensor<E>, dout: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        self.binary("sigmoid_backward", out, dout)
    }
    fn relu(&self, x: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        self.unary("relu", x)
    }
    fn relu_backward(&self, x: &CudaTensor<E>, dout: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        self.binary("relu_backward", x, dout)
    }
    fn softmax(&self, x: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        let mut out = self.alloc(x.shape.len())?;
        let (r, c) = (u32_len(x.shape.rows)?, u32_len(x.shape.cols)?);
        if !x.shape.is_empty() {
            launch!(self, "softmax", cfg_for(x.shape.rows); &self.view(x)?, &mut out, &r, &c)?;
        }
        Ok(self.tensor(out, x.shape))
    }

    fn softmax_cross_entropy(
        &self,
        logits: &CudaTensor<E>,
        labels: &CudaIndex,
    ) -> Result<(CudaTensor<E>, CudaTensor<E>)> {
        let s = logits.shape;
        check::labels("softmax_cross_entropy", s, labels.len)?;
        self.check_labels(labels, s.cols)?;
        let mut y = self.alloc(s.len())?;
        let (r, c, div) = (u32_len(s.rows)?, u32_len(s.cols)?, E::of(s.rows as f64));
        let loss = if s.rows <= FUSED_LOSS_ROWS {
            let mut loss = self.alloc(1)?;
            launch!(self, "softmax_ce_sum", BLOCK_REDUCE; &self.view(logits)?, self.mine(&labels.buf)?, &mut y, &mut loss, &r, &c, &div)?;
            self.tensor(loss, Shape::scalar())
        } else {
            let mut rows_loss = self.alloc(s.rows)?;
            launch!(self, "softmax_ce", cfg_for(s.rows); &self.view(logits)?, self.mine(&labels.buf)?, &mut y, &mut rows_loss, &r, &c)?;
            self.reduce(&rows_loss.slice(..), s.rows, div, false)?
        };
        Ok((self.tensor(y, s), loss))
    }
    fn softmax_cross_entropy_backward(
        &self,
        y: &CudaTensor<E>,
        labels: &CudaIndex,
        dout: E,
    ) -> Result<CudaTensor<E>> {
        let s = y.shape;
        check::labels("softmax_cross_entropy_backward", s, labels.len)?;
        self.check_labels(labels, s.cols)?;
        let mut out = self.alloc(s.len())?;
        let (r, c, n) = (u32_len(s.rows)?, u32_len(s.cols)?, E::of(s.rows as f64));
        launch!(self, "softmax_ce_backward", cfg_for(s.len()); &self.view(y)?, self.mine(&labels.buf)?, &mut out, &dout, &n, &r, &c)?;
        Ok(self.tensor(out, s))
    }
    fn binary_cross_entropy(&self, y: &CudaTensor<E>, labels: &CudaIndex) -> Result<CudaTensor<E>> {
        let s = y.shape;
        binary_checks(self, "binary_cross_entropy", s, labels)?;
        let (r, div) = (u32_len(s.rows)?, E::of(s.rows as f64));
        if s.rows <= FUSED_LOSS_ROWS {
            let mut loss = self.alloc(1)?;
            launch!(self, "bce_sum", BLOCK_REDUCE; &self.view(y)?, self.mine(&labels.buf)?, &mut loss, &r, &div)?;
            return Ok(self.tensor(loss, Shape::scalar()));
        }
        let mut rows_loss = self.alloc(s.rows)?;
        launch!(self, "bce", cfg_for(s.rows); &self.view(y)?, self.mine(&labels.buf)?, &mut rows_loss, &r)?;
        self.reduce(&rows_loss.slice(..), s.rows, div, false)
    }
    fn binary_cross_entropy_backward(
        &self,
        y: &CudaTensor<E>,
        labels: &CudaIndex,
        dout: E,
    ) -> Result<CudaTensor<E>> {
        let s = y.shape;
        binary_checks(self, "binary_cross_entropy_backward", s, labels)?;
        let mut out = self.alloc(s.rows)?;
        let (r, n) = (u32_len(s.rows)?, E::of(s.rows as f64));
        launch!(self, "bce_backward", cfg_for(s.rows); &self.view(y)?, self.mine(&labels.buf)?, &mut out, &dout, &n, &r)?;
        Ok(self.tensor(out, s))
    }

    fn axpy(&self, y: &mut CudaTensor<E>, alpha: E, x: &CudaTensor<E>) -> Result<()> {
        self.update("axpy", y, x, alpha)
    }
    fn axpby(&self, y: &mut CudaTensor<E>, alpha: E, x: &CudaTensor<E>, beta: E) -> Result<()> {
        check::same("axpby", y.shape, x.shape)?;
        let n = y.shape.len();
        let nn = u32_len(n)?;
        let ybuf = self.unique(y)?;
        if n > 0 {
            launch!(self, "axpby", cfg_for(n); ybuf, &self.view(x)?, &alpha, &beta, &nn)?;
        }
        Ok(())
    }
    fn scale(&self, x: &mut CudaTensor<E>, alpha: E) -> Result<()> {
        let n = x.shape.len();
        let nn = u32_len(n)?;
        let buf = self.unique(x)?;
        if n > 0 {
            launch!(self, "scale", cfg_for(n); buf, &alpha, &nn)?;
        }
        Ok(())
    }
    fn lerp(&self, y: &mut CudaTensor<E>, x: &CudaTensor<E>, c: E) -> Result<()> {
        self.update("lerp", y, x, c)
    }
    fn lerp_square(&self, y: &mut CudaTensor<E>, x: &CudaTensor<E>, c: E) -> Result<()> {
        self.update("lerp_square", y, x, c)
    }
    fn add_square(&self, y: &mut CudaTensor<E>, x: &CudaTensor<E>, c: E) -> Result<()> {
        self.update("add_square", y, x, c)
    }
    fn adaptive_step(
        &self,
        p: &mut CudaTensor<E>,
        num: &CudaTensor<E>,
        den: &CudaTensor<E>,
        lr: E,
        eps: E,
    ) -> Result<()> {
        let nn = self.adaptive_checks(p, num, den)?;
        let pbuf = self.unique(p)?;
        if nn > 0 {
            launch!(self, "adaptive_step", cfg_for(nn as usize); pbuf, &self.view(num)?, &self.view(den)?, &lr, &eps, &nn)?;
        }
        Ok(())
    }
    fn sum_squares(&self, x: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        self.reduce(&self.view(x)?, x.shape.len(), E::one(), true)
    }

    fn gather_rows(
        &self,
        src: &CudaTensor<E>,
        idx: &CudaIndex,
        start: usize,
        len: usize,
    ) -> Result<CudaTensor<E>> {
        check::range("gather_rows", idx.len, start, len)?;
        if idx.bound > src.shape.rows as u64 {
            check::index_bound("gather_rows", (idx.bound - 1) as u32, src.shape.rows)?;
        }
        let s = Shape::new(len, src.shape.cols);
        let mut out = self.alloc(s.len())?;
        let (st, ln, c) = (u32_len(start)?, u32_len(len)?, u32_len(s.cols)?);
        if !s.is_empty() {
            launch!(self, "gather_rows", cfg_for(s.len()); &self.view(src)?, self.mine(&idx.buf)?, &mut out, &st, &ln, &c)?;
        }
        Ok(self.tensor(out, s))
    }
    fn gather_index(
        &self,
        src: &CudaIndex,
        idx: &CudaIndex,
        start: usize,
        len: usize,
    ) -> Result<CudaIndex> {
        check::range("gather_index", idx.len, start, len)?;
        if idx.bound > src.len as u64 {
            check::index_bound("gather_index", (idx.bound - 1) as u32, src.len)?;
        }
        u32_len(len)?;
        let mut out = self.alloc::<u32>(len)?;
        let (st, ln) = (start as u32, len as u32);
        if len > 0 {
            // gather_index(const u32*, const u32*, u32*, u32, u32), with the range and the
            // indices' bound checked above.
            launch!(@ self, "gather_index", self.dev.func("gather_index", ""), cfg_for(len);
                self.mine(&src.buf)?, self.mine(&idx.buf)?, &mut out, &st, &ln)?;
        }
        // The host copies (when both exist) give the gathered labels without a device read.
        let host = gathered_host(src, idx, start, len);
        Ok(self.index(out, len, host, src.bound))
    }
    fn gather_batch(
        &self,
        x: &CudaTensor<E>,
        t: &CudaIndex,
        idx: &CudaIndex,
        start: usize,
        len: usize,
    ) -> Result<(CudaTensor<E>, CudaIndex)> {
        check::range("gather_batch", idx.len, start, len)?;
        let rows = x.shape.rows.min(t.len);
        if idx.bound > rows as u64 {
            check::index_bound("gather_batch", (idx.bound - 1) as u32, rows)?;
        }
        let s = Shape::new(len, x.shape.cols);
        if s.is_empty() {
            // No elements to carry the labels along: gather them on their own.
            let xs = self.zeros(s)?;
            return Ok((xs, self.gather_index(t, idx, start, len)?));
        }
        let mut out = self.alloc(s.len())?;
        let mut out_t = self.alloc::<u32>(len)?;
        let (st, ln, c) = (u32_len(start)?, u32_len(len)?, u32_len(s.cols)?);
        launch!(self, "gather_batch", cfg_for(s.len()); &self.view(x)?, self.mine(&t.buf)?, self.mine(&idx.buf)?, &mut out, &mut out_t, &st, &ln, &c)?;
        let host = gathered_host(t, idx, start, len);
        Ok((self.tensor(out, s), self.index(out_t, len, host, t.bound)))
    }
    fn axpy_many<'t>(
        &self,
        alpha: E,
        pairs: impl IntoIterator<Item = (&'t mut CudaTensor<E>, &'t CudaTensor<E>)>,
    ) -> Result<()>
    where
        CudaTensor<E>: 't,
    {
        let (mut ys, xs): (Vec<&mut CudaTensor<E>>, Vec<&CudaTensor<E>>) =
            pairs.into_iter().unzip();
        // Every pair checked before the first launch, so an error updates nothing.
        for (y, x) in ys.iter().zip(&xs) {
            check::same("axpy_many", y.shape, x.shape)?;
            self.view(y)?;
            self.view(x)?;
        }
        self.for_many(
            &mut ys,
            Some(&xs),
            |m, cfg| launch!(self, "axpy_many", cfg; m, &alpha),
        )
    }
    fn clip_by_norm<'t>(
        &self,
        grads: impl IntoIterator<Item = &'t mut CudaTensor<E>>,
        max_norm: f64,
    ) -> Result<CudaTensor<E>>
    where
        CudaTensor<E>: 't,
    {
        check::max_norm(max_norm)?;
        let mut grads: Vec<&mut CudaTensor<E>> = grads.into_iter().collect();
        let squares = self.sum_squares_many(grads.iter().map(|g| &**g))?;
        // The rate is worked out on the device, from the squared norm there: no read back.
        self.for_many(
            &mut grads,
            None,
            |m, cfg| launch!(self, "clip_scale_many", cfg; m, squares.buf.as_ref(), &max_norm),
        )?;
        Ok(squares)
    }
    fn sum_squares_many<'t>(
        &self,
        xs: impl IntoIterator<Item = &'t CudaTensor<E>>,
    ) -> Result<CudaTensor<E>>
    where
        CudaTensor<E>: 't,
    {
        let xs: Vec<&CudaTensor<E>> = xs.into_iter().collect();
        if xs.is_empty() {
            return self.zeros(Shape::scalar());
        }
        let mut out = self.alloc(1)?;
        let stream = self.dev.stream.clone();
        for (c, chunk) in xs.chunks(MANY).enumerate() {
            let mut m = Many {
                count: chunk.len() as u32,
                ..Many::default()
            };
            let mut guards = Vec::with_capacity(MANY);
            for (k, x) in chunk.iter().enumerate() {
                m.n[k] = u32_len(x.shape.len())?;
                let (xp, g) = self.mine(&x.buf)?.device_ptr(&stream);
                m.x[k] = xp + byte_offset::<E>(x.offset);
                guards.push(g);
            }
            // The first launch starts the sum at 0; later ones add to it.
            let accumulate = i32::from(c > 0);
            launch!(self, "sum_squares_many", BLOCK_REDUCE; &m, &mut out, &accumulate)?;
            drop(guards);
        }
        Ok(self.tensor(out, Shape::scalar()))
    }
    fn rows(&self, x: &CudaTensor<E>, start: usize, len: usize) -> Result<CudaTensor<E>> {
        check::rows("rows", x.shape, start, len)?;
        self.mine(&x.buf)?;
        Ok(CudaTensor {
            buf: x.buf.clone(),
            shape: Shape::new(len, x.shape.cols),
            offset: x.offset + start * x.shape.cols,
        })
    }
    fn write_rows(&self, dst: &mut CudaTensor<E>, start: usize, src: &CudaTensor<E>) -> Result<()> {
        check::block("write_rows", dst.shape, start, src.shape)?;
        let (c, n) = (dst.shape.cols, src.shape.len());
        let from = self.view(src)?;
        let buf = self.unique(dst)?;
        if n > 0 {
            let mut to = buf.slice_mut(start * c..start * c + n);
            self.copy_dtod(&from, &mut to, "copying rows")?;
        }
        Ok(())
    }
    fn scatter_add_rows(
        &self,
        dst: &mut CudaTensor<E>,
        idx: &CudaIndex,
        src: &CudaTensor<E>,
    ) -> Result<()> {
        if src.shape.rows != idx.len || src.shape.cols != dst.shape.cols {
            return Err(Error::shape(
                "scatter_add_rows",
                format!(
                    "{} rows of {} into rows of {} by {} indices",
                    src.shape.rows, src.shape, dst.shape, idx.len
                ),
            ));
        }
        if idx.bound > dst.shape.rows as u64 {
            check::index_bound("scatter_add_rows", (idx.bound - 1) as u32, dst.shape.rows)?;
        }
        let (r, c) = (u32_len(src.shape.rows)?, u32_len(src.shape.cols)?);
        let from = self.view(src)?;
        let ids = self.mine(&idx.buf)?;
        let buf = self.unique(dst)?;
        if !src.shape.is_empty() {
            launch!(self, "scatter_add_rows", cfg_for(src.shape.len()); buf, ids, &from, &r, &c)?;
        }
        Ok(())
    }
    fn tanh(&self, x: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        self.unary("tanh", x)
    }
    fn tanh_backward(&self, y: &CudaTensor<E>, dout: &CudaTensor<E>) -> Result<CudaTensor<E>> {
        self.binary("tanh_backward", y, dout)
    }
    fn rnn_step(
        &self,
        hs: &mut CudaTensor<E>,
        start: usize,
        hw: &CudaTensor<E>,
        xw: &CudaTensor<E>,
        b: &CudaTensor<E>,
    ) -> Result<()> {
        check::rnn_step("rnn_step", hs.shape, start, hw.shape, xw.shape, b.shape)?;
        let (n, c) = (hw.shape.len(), hs.shape.cols);
        let (rows, cols) = (u32_len(hw.shape.rows)?, u32_len(c)?);
        let (hwv, xwv, bv) = (self.view(hw)?, self.view(xw)?, self.view(b)?);
        let buf = self.unique(hs)?;
        if n > 0 {
            let mut out = buf.slice_mut(start * c..start * c + n);
            launch!(self, "rnn_step", cfg_for(n); &hwv, &xwv, &bv, &mut out, &rows, &cols)?;
        }
        Ok(())
    }
    fn rnn_step_backward(
        &self,
        dts: &mut CudaTensor<E>,
        start: usize,
        dh: &CudaTensor<E>,
        dh_next: Option<&CudaTensor<E>>,
        h: &CudaTensor<E>,
    ) -> Result<()> {
        check::rnn_step_backward(
            dts.shape,
            start,
            dh.shape,
            dh_next.map(|d| d.shape),
            h.shape,
        )?;
        let (n, c) = (dh.shape.len(), dts.shape.cols);
        let nn = u32_len(n)?;
        let (dhv, hv) = (self.view(dh)?, self.view(h)?);
        let dnv = match dh_next {
            Some(d) => self.view(d)?,
            None => self.view(dh)?,
        };
        let has_next = i32::from(dh_next.is_some());
        let buf = self.unique(dts)?;
        if n > 0 {
            let mut out = buf.slice_mut(start * c..start * c + n);
            launch!(self, "rnn_step_backward", cfg_for(n); &dhv, &dnv, &hv, &mut out, &nn, &has_next)?;
        }
        Ok(())
    }
    fn lstm_step(
        &self,
        hs: &mut CudaTensor<E>,
        cs: &mut CudaTensor<E>,
        gates: &mut CudaTensor<E>,
        t: usize,
        xw: &CudaTensor<E>,
        hw: &CudaTensor<E>,
        b: &CudaTensor<E>,
    ) -> Result<()> {
        check::lstm_forward(
            t,
            xw.shape,
            hw.shape,
            b.shape,
            hs.shape,
            cs.shape,
            gates.shape,
        )?;
        let (n, hh) = (xw.shape.rows, hs.shape.cols);
        let block = n * hh;
        let (rows, hu) = (u32_len(n)?, u32_len(hh)?);
        let (xwv, hwv, bv) = (self.view(xw)?, self.view(hw)?, self.view(b)?);
        let hbuf = self.unique(hs)?;
        let cbuf = self.unique(cs)?;
        let gbuf = self.unique(gates)?;
        if block > 0 {
            let (left, mut right) = cbuf.split_at_mut((t + 1) * block);
            let c_prev = left.slice(t * block..);
            let mut c = right.slice_mut(0..block);
            let mut h = hbuf.slice_mut((t + 1) * block..(t + 2) * block);
            let mut g = gbuf.slice_mut(t * 4 * block..(t + 1) * 4 * block);
            launch!(self, "lstm_step", cfg_for(block);
                &xwv, &hwv, &bv, &c_prev, &mut g, &mut c, &mut h, &rows, &hu)?;
        }
        Ok(())
    }
    fn lstm_step_backward(
        &self,
        da: &mut CudaTensor<E>,
        dc: &mut CudaTensor<E>,
        t: usize,
        dh: &CudaTensor<E>,
        dh_next: Option<&CudaTensor<E>>,
        cs: &CudaTensor<E>,
        gates: &CudaTensor<E>,
    ) -> Result<()> {
        let dn = dh_next.map(|d| d.shape);
        check::lstm_backward(t, da.shape, dc.shape, dh.shape, dn, cs.shape, gates.shape)?;
        let (n, hh) = (dh.shape.rows, dh.shape.cols);
        let block = n * hh;
        let (rows, hu) = (u32_len(n)?, u32_len(hh)?);
        let dhv = self.view(dh)?;
        let dnv = match dh_next {
            Some(d) => self.view(d)?,
            None => self.view(dh)?,
        };
        let has_next = i32::from(dh_next.is_some());
        let (csv, gv) = (self.view(cs)?, self.view(gates)?);
        let dcbuf = self.unique(dc)?;
        let dabuf = self.unique(da)?;
        if block > 0 {
            let c_prev = csv.slice(t * block..(t + 1) * block);
            let c = csv.slice((t + 1) * block..(t + 2) * block);
            let g = gv.slice(t * 4 * block..(t + 1) * 4 * block);
            let mut out = dabuf.slice_mut(t * 4 * block..(t + 1) * 4 * block);
            launch!(self, "lstm_step_backward", cfg_for(block);
                &dhv, &dnv, &has_next, &c_prev, &c, &g, dcbuf, &mut out, &rows, &hu)?;
        }
        Ok(())
    }
    fn softmax_cross_entropy_masked(
        &self,
        logits: CudaTensor<E>,
        labels: &CudaIndex,
    ) -> Result<(CudaTensor<E>, CudaTensor<E>)> {
        let op = "softmax_cross_entropy_masked";
        let s = logits.shape;
        check::labels(op, s, labels.len)?;
        self.check_masked_labels(op, labels, s.cols)?;
        let (r, c, ig) = (u32_len(s.rows)?, u32_len(s.cols)?, IGNORE_LABEL);
        let lab = self.mine(&labels.buf)?;
        let mut rows_loss = self.alloc::<E>(s.rows)?;
        let grid = LaunchConfig {
            grid_dim: (s.rows.clamp(1, MAX_BLOCKS) as u32, 1, 1),
            block_dim: (ROW_BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        let y = self.in_place(logits, |me, x, y| {
            launch!(me, "softmax_masked_rows", grid; x, lab, y, &mut rows_loss, &r, &c, &ig)
        })?;
        let mut loss = self.alloc::<E>(1)?;
        launch!(self, "masked_loss_sum", BLOCK_REDUCE; &rows_loss, lab, &mut loss, &r, &ig)?;
        Ok((y, self.tensor(loss, Shape::scalar())))
    }
    fn softmax_cross_entropy_masked_backward(
        &self,
        y: CudaTensor<E>,
        labels: &CudaIndex,
        dout: E,
    ) -> Result<CudaTensor<E>> {
        let op = "softmax_cross_entropy_masked_backward";
        let s = y.shape;
        check::labels(op, s, labels.len)?;
        self.check_masked_labels(op, labels, s.cols)?;
        let (r, c, ig) = (u32_len(s.rows)?, u32_len(s.cols)?, IGNORE_LABEL);
        let lab = self.mine(&labels.buf)?;
        let cfg = cfg_for(s.len());
        self.in_place(y, |me, y, out| {
            launch!(me, "softmax_masked_backward", cfg; y, lab, out, &dout, &r, &c, &ig)
        })
    }

    fn argmax_rows(&self, x: &CudaTensor<E>) -> Result<CudaIndex> {
        let s = x.shape;
        check::row_width("argmax_rows", s)?;
        let mut out = self.alloc_index(s.rows)?;
        let (r, c) = (u32_len(s.rows)?, u32_len(s.cols)?);
        if s.rows > 0 {
            launch!(self, "argmax_rows", cfg_for(s.rows); &self.view(x)?, &mut out, &r, &c)?;
        }
        Ok(self.index(out, s.rows, None, s.cols as u64))
    }
}

fn binary_checks<E: CudaFloat>(
    b: &Cuda<E>,
    op: &'static str,
    s: Shape,
    labels: &CudaIndex,
) -> Result<()> {
    check::binary(op, s, labels.len)?;
    b.check_labels(labels, 2)
}
