//! CUDA graphs: a step's launches recorded once ([`Cuda::capture`]) and replayed as one
//! ([`CudaGraph::replay`]), so that a small step stops paying a launch per op.
//!
//! What capture needs, and how this crate provides it:
//! - **Memory.** A kernel node keeps the addresses it was captured with. Buffers made during
//!   capture come from an arena that belongs to the graph (freed when the graph and the last
//!   tensor in it are gone), not from the stream-ordered pool, so replays find them where the
//!   capture put them; memory made before capture and dropped during it is freed only after
//!   the graph's first replay, which may still read it.
//! - **Values.** A scalar passed to a kernel by value is frozen into the graph: what changes
//!   from step to step must be in device memory (Adam's step count is, through
//!   `Backend::adam_rate`) or be copied in before the replay (`Backend::write_index`).
//! - **No host round trips.** A host read, a synchronisation or a host-to-device copy while
//!   capturing is an [`Error::Device`] saying so; a step that needs one cannot be a graph.
//! - **One thread at a time.** While one thread captures, other threads' work on that GPU
//!   waits for the capture to end instead of landing in the graph.
//!
//! Every launch, product and copy recorded is also logged with its arguments (addresses
//! inside the capture's arena by their place in it), so that two captures of consecutive
//! steps can be compared: equal logs mean the step is the same every time and replaying it
//! is the step; a difference ([`CudaGraph::difference`]) names the first op that changed.

use crate::device::{dev_err, Device, LAUNCHES};
use crate::Cuda;
use crate::CudaFloat;
use cudarc::driver::sys::CUstreamCaptureMode;
use cudarc::driver::{result, CudaSlice, CudaStream, DevicePtr, LaunchArgs, PushKernelArg};
use nn_core::{Error, Result};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

thread_local! {
    /// The device this thread is capturing on, if any.
    static CAPTURING: Cell<Option<usize>> = const { Cell::new(None) };
    /// What the capture on this thread has recorded so far.
    static RECORDING: RefCell<Option<Recording>> = const { RefCell::new(None) };
}

/// Arena memory is handed out in multiples of this (the pool's own alignment).
const ALIGN: usize = 256;
/// The smallest chunk an arena asks the driver for.
const CHUNK: usize = 2 << 20;
/// Marks a logged address as a place in the capture's own arena.
const ARENA_TAG: u64 = 1 << 63;

/// Whether this thread is capturing on device `ordinal`.
pub(crate) fn capturing(ordinal: usize) -> bool {
    CAPTURING.get() == Some(ordinal)
}

/// The error for `what`, which a graph cannot hold, asked for while capturing.
pub(crate) fn refused(what: &str) -> Error {
    Error::Device(format!(
        "{what} while a CUDA graph is being captured: a captured step cannot wait for the GPU \
         or copy from the host (make such data before the capture, or turn graphs off)"
    ))
}

/// Per device: other threads' work waits on this while one thread captures.
#[derive(Debug, Default)]
pub(crate) struct CaptureLock {
    lock: RwLock<()>,
}

thread_local! {
    /// Ops this thread is inside of (an op may run others: a copy before a launch).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Held while an op runs: the read side of the lock for the outermost op of a thread that
/// is not capturing, nothing otherwise (a read lock taken twice can deadlock with a writer).
pub(crate) struct Entered<'a> {
    _guard: Option<RwLockReadGuard<'a, ()>>,
}

impl CaptureLock {
    /// Waits while another thread captures on device `ordinal`.
    pub(crate) fn enter(&self, ordinal: usize) -> Entered<'_> {
        let depth = DEPTH.get();
        DEPTH.set(depth + 1);
        let guard = (depth == 0 && !capturing(ordinal))
            .then(|| self.lock.read().unwrap_or_else(|p| p.into_inner()));
        Entered { _guard: guard }
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        DEPTH.set(DEPTH.get() - 1);
    }
}

/// Device memory handed out during a capture: chunks from the driver, kept until the graph
/// and every tensor in them are gone.
#[derive(Debug)]
pub(crate) struct Arena {
    inner: Mutex<ArenaInner>,
    lock: Arc<Device>,
}

#[derive(Debug, Default)]
struct ArenaInner {
    /// `(address, bytes, bytes used)` of each chunk, in the order they were made.
    chunks: Vec<(u64, usize, usize)>,
    /// Blocks freed during the capture, for later allocations of it.
    free: Vec<(u64, usize)>,
    /// Allocating: only while its capture runs.
    open: bool,
}

impl Arena {
    fn new(dev: Arc<Device>) -> Self {
        Arena {
            inner: Mutex::new(ArenaInner {
                open: true,
                ..Default::default()
            }),
            lock: dev,
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, ArenaInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `bytes` of arena memory: a freed block of this capture, else the end of the last chunk,
    /// else a new chunk. The same sequence of calls gives the same places in a fresh arena.
    fn alloc(&self, bytes: usize) -> Result<u64> {
        let bytes = bytes.max(1).div_ceil(ALIGN) * ALIGN;
        let mut a = self.inner();
        if let Some(k) = (0..a.free.len())
            .filter(|&k| a.free[k].1 >= bytes)
            .min_by_key(|&k| a.free[k].1)
        {
            let (p, size) = a.free.swap_remove(k);
            if size > bytes {
                a.free.push((p + bytes as u64, size - bytes));
            }
            return Ok(p);
        }
        if let Some(last) = a.chunks.last_mut() {
            if last.1 - last.2 >= bytes {
                let p = last.0 + last.2 as u64;
                last.2 += bytes;
                return Ok(p);
            }
        }
        let size = bytes.max(CHUNK);
        // SAFETY: a plain allocation in the current context (bound by the capture), freed by
        // this arena's drop. Allowed during a relaxed-mode capture.
        let p = unsafe { result::malloc_sync(size) }.map_err(dev_err("allocating GPU memory"))?;
        self.lock
            .graph_bytes
            .fetch_add(size as u64, std::sync::atomic::Ordering::Relaxed);
        a.chunks.push((p, size, bytes));
        Ok(p)
    }

    /// A block given back: reusable by the rest of its capture; after it, the graph keeps it.
    fn release(&self, p: u64, bytes: usize) {
        let mut a = self.inner();
        if a.open {
            a.free.push((p, bytes.max(1).div_ceil(ALIGN) * ALIGN));
        }
    }

    fn close(&self) {
        self.inner().open = false;
    }

    /// `p` as a place in this arena (tagged), or as it is.
    fn place(&self, p: u64) -> u64 {
        let a = self.inner();
        for (i, &(base, size, _)) in a.chunks.iter().enumerate() {
            if p >= base && p < base + size as u64 {
                return ARENA_TAG | (i as u64) << 40 | (p - base);
            }
        }
        p
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let chunks = std::mem::take(&mut self.inner().chunks);
        if chunks.is_empty() {
            return;
        }
        let total: usize = chunks.iter().map(|c| c.1).sum();
        self.lock
            .graph_bytes
            .fetch_sub(total as u64, std::sync::atomic::Ordering::Relaxed);
        let _entered = self.lock.capture.enter(self.lock.ordinal);
        if capturing(self.lock.ordinal) {
            // A free would synchronise the capture: after it.
            RECORDING.with_borrow_mut(|r| {
                if let Some(r) = r {
                    r.late_chunks.extend(chunks.iter().map(|c| c.0));
                }
            });
            return;
        }
        let _ = self.lock.stream.context().bind_to_thread();
        for (p, _, _) in chunks {
            // SAFETY: allocated by `malloc_sync` above; every graph and tensor using it is gone
            // (each holds the arena), and the free waits for queued work.
            let _ = unsafe { result::free_sync(p) };
        }
    }
}

/// What a capture gathers as it runs.
struct Recording {
    arena: Arc<Arena>,
    log: Vec<(&'static str, Vec<u64>)>,
    /// Buffers from before the capture, dropped during it: freed after the first replay.
    deferred: Vec<Box<dyn Any>>,
    /// Chunks of older arenas that went during the capture: freed after it.
    late_chunks: Vec<u64>,
}

/// Logs an op of the capture running on this thread, if any: `words` are its arguments, with
/// every address given through [`place`].
pub(crate) fn log(name: &'static str, words: Vec<u64>) {
    RECORDING.with_borrow_mut(|r| {
        if let Some(r) = r {
            r.log.push((name, words));
        }
    });
}

/// `p` as the log writes it: a place in the capturing arena, or as it is.
pub(crate) fn place(p: u64) -> u64 {
    RECORDING.with_borrow(|r| match r {
        Some(r) => r.arena.place(p),
        None => p,
    })
}

/// A device buffer: from the stream-ordered pool, or from a capture's arena.
pub(crate) struct Buf<T: 'static> {
    slice: ManuallyDrop<CudaSlice<T>>,
    home: Home,
}

enum Home {
    Pool(Arc<Device>),
    Arena(Arc<Arena>, usize),
}

impl<T> Buf<T> {
    pub(crate) fn pool(slice: CudaSlice<T>, dev: &Arc<Device>) -> Self {
        Buf {
            slice: ManuallyDrop::new(slice),
            home: Home::Pool(dev.clone()),
        }
    }
}

impl<T> std::ops::Deref for Buf<T> {
    type Target = CudaSlice<T>;
    fn deref(&self) -> &CudaSlice<T> {
        &self.slice
    }
}
impl<T> std::ops::DerefMut for Buf<T> {
    fn deref_mut(&mut self) -> &mut CudaSlice<T> {
        &mut self.slice
    }
}

impl<T: 'static> Drop for Buf<T> {
    fn drop(&mut self) {
        // SAFETY: taken once, here; the field is not used after.
        let slice = unsafe { ManuallyDrop::take(&mut self.slice) };
        match &self.home {
            Home::Arena(arena, bytes) => {
                let p = slice.leak();
                arena.release(p, *bytes);
            }
            Home::Pool(dev) => {
                let _entered = dev.capture.enter(dev.ordinal);
                let mut slice = Some(slice);
                if capturing(dev.ordinal) {
                    // A free during the capture would be a node of the graph: after it.
                    RECORDING.with_borrow_mut(|r| {
                        if let Some(r) = r {
                            r.deferred.push(Box::new(slice.take()));
                        }
                    });
                }
                drop(slice);
            }
        }
    }
}

// SAFETY: forwards to cudarc's implementation for the slice inside.
unsafe impl<'a, 'b: 'a, T> PushKernelArg<&'b Buf<T>> for LaunchArgs<'a> {
    fn arg(&mut self, arg: &'b Buf<T>) -> &mut Self {
        self.arg(&*arg.slice)
    }
}
// SAFETY: as above.
unsafe impl<'a, 'b: 'a, T> PushKernelArg<&'b mut Buf<T>> for LaunchArgs<'a> {
    fn arg(&mut self, arg: &'b mut Buf<T>) -> &mut Self {
        self.arg(&mut *arg.slice)
    }
}

/// `n` elements of device memory: from the capture's arena while this thread captures on
/// `dev`, else from the pool. Not initialised.
pub(crate) fn alloc<T: cudarc::driver::DeviceRepr>(dev: &Arc<Device>, n: usize) -> Result<Buf<T>> {
    let n = n.max(1);
    let bytes = n * std::mem::size_of::<T>();
    if capturing(dev.ordinal) {
        let arena = RECORDING.with_borrow(|r| r.as_ref().map(|r| r.arena.clone()));
        if let Some(arena) = arena {
            let p = arena.alloc(bytes)?;
            // SAFETY: `p` is `bytes` of this context's memory that nothing else holds; the
            // `Buf` leaks the slice instead of freeing it (the arena owns the memory).
            let slice = unsafe { dev.stream.upgrade_device_ptr::<T>(p, n) };
            return Ok(Buf {
                slice: ManuallyDrop::new(slice),
                home: Home::Arena(arena, bytes),
            });
        }
    }
    let _entered = dev.capture.enter(dev.ordinal);
    // SAFETY: callers write all `n` elements before reading any.
    let slice = unsafe { dev.stream.alloc::<T>(n) }.map_err(dev_err("allocating GPU memory"))?;
    Ok(Buf::pool(slice, dev))
}

/// An op's arguments as the log writes them. (Public only as a bound of [`CudaFloat`].)
pub trait Logged {
    /// Appends this argument's words.
    fn words(&self, stream: &Arc<CudaStream>, out: &mut Vec<u64>);
}

impl<T> Logged for CudaSlice<T> {
    fn words(&self, stream: &Arc<CudaStream>, out: &mut Vec<u64>) {
        out.push(place(self.device_ptr(stream).0));
    }
}
impl<T> Logged for Buf<T> {
    fn words(&self, stream: &Arc<CudaStream>, out: &mut Vec<u64>) {
        (**self).words(stream, out)
    }
}
impl<T> Logged for cudarc::driver::CudaViewMut<'_, T> {
    fn words(&self, stream: &Arc<CudaStream>, out: &mut Vec<u64>) {
        out.push(place(self.device_ptr(stream).0));
    }
}
impl<T> Logged for cudarc::driver::CudaView<'_, T> {
    fn words(&self, stream: &Arc<CudaStream>, out: &mut Vec<u64>) {
        out.push(place(self.device_ptr(stream).0));
    }
}
macro_rules! logged_value {
    ($($t:ty),*) => {$(
        impl Logged for $t {
            fn words(&self, _: &Arc<CudaStream>, out: &mut Vec<u64>) {
                out.push(u64::from(self.to_bits()));
            }
        }
    )*};
}
logged_value!(f32, f64);
macro_rules! logged_int {
    ($($t:ty),*) => {$(
        impl Logged for $t {
            fn words(&self, _: &Arc<CudaStream>, out: &mut Vec<u64>) {
                // Addresses passed as integers (a null "in place" input) are places too.
                out.push(place(*self as u64));
            }
        }
    )*};
}
logged_int!(u32, i32, u64);
impl<T: Logged + ?Sized> Logged for &T {
    fn words(&self, stream: &Arc<CudaStream>, out: &mut Vec<u64>) {
        (**self).words(stream, out)
    }
}
impl<T: Logged + ?Sized> Logged for &mut T {
    fn words(&self, stream: &Arc<CudaStream>, out: &mut Vec<u64>) {
        (**self).words(stream, out)
    }
}

/// Passes `x` through, logging its words into `out` when `out` is on (a capture runs).
pub(crate) fn logged<X: Logged>(out: &mut Option<Vec<u64>>, stream: &Arc<CudaStream>, x: X) -> X {
    if let Some(out) = out {
        x.words(stream, out);
    }
    x
}

/// A captured step, replayed with [`replay`](CudaGraph::replay). Made by [`Cuda::capture`].
pub struct CudaGraph {
    graph: Option<cudarc::driver::CudaGraph>,
    dev: Arc<Device>,
    #[allow(dead_code)] // holds the graph's memory
    arena: Arc<Arena>,
    log: Vec<(&'static str, Vec<u64>)>,
    deferred: Mutex<Vec<Box<dyn Any>>>,
}

impl std::fmt::Debug for CudaGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaGraph({} ops on {:?})", self.log.len(), self.dev)
    }
}

impl CudaGraph {
    /// Runs the captured work again, as one launch, on the GPU's stream (after the work
    /// queued before it, as any op).
    pub fn replay(&self) -> Result<()> {
        let _entered = self.dev.capture.enter(self.dev.ordinal);
        if capturing(self.dev.ordinal) {
            return Err(refused("replaying a graph"));
        }
        LAUNCHES.set(LAUNCHES.get() + 1);
        if let Some(g) = &self.graph {
            g.launch().map_err(dev_err("launching a CUDA graph"))?;
        }
        // Queued after the launch, so the pool reuses them only after it has run.
        let late = std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|p| p.into_inner()));
        drop(late);
        Ok(())
    }

    /// Ops recorded: kernel launches, products and copies.
    pub fn len(&self) -> usize {
        self.log.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// `None` when this graph does what `earlier`, the capture of the step before, does (the
    /// same ops with the same arguments, addresses in each one's own arena at the same
    /// places), so that replaying it is the step every time; else what differs first.
    pub fn difference(&self, earlier: &CudaGraph) -> Option<String> {
        if self.log.len() != earlier.log.len() {
            return Some(format!(
                "the step made {} ops, the one before {}",
                self.log.len(),
                earlier.log.len()
            ));
        }
        let (k, (a, b)) = self
            .log
            .iter()
            .zip(&earlier.log)
            .enumerate()
            .find(|(_, (a, b))| a != b)?;
        let why = if a.0 != b.0 {
            format!("it is {}, the step before's was {}", a.0, b.0)
        } else {
            "its arguments changed: a value passed by value (make it a tensor), or state \
             that moved to new memory instead of being updated in place"
                .to_string()
        };
        Some(format!("op {k} of the step ({}): {why}", a.0))
    }
}

impl<E: CudaFloat> Cuda<E> {
    /// Records the GPU work `f` queues, without running it, as a graph that
    /// [`CudaGraph::replay`] runs later in one launch (PyTorch's `torch.cuda.graph`). What `f`
    /// computes is not computed until the first replay.
    ///
    /// The graph keeps the addresses of every tensor `f` reads and writes: replays read the
    /// tensors that existed before the capture where they are, and the tensors `f` made hold
    /// each replay's results (they live in memory the graph owns). So state carried from step
    /// to step must be updated in place, and inputs copied into tensors made before the
    /// capture ([`Backend::write_index`](nn_core::Backend::write_index)). `f` may not read
    /// the device or copy host data to it; that is an error, as is capturing inside a capture.
    /// [`nn_core::StepGraph`] does the warm-up, the capture and the check that the step is the
    /// same every time, for a training loop.
    ///
    /// ```no_run
    /// use nn_core::{Backend, Shape};
    /// let gpu = nn_cuda::Cuda::<f32>::new(0)?;
    /// let x = gpu.from_host(&[1.0, 2.0], Shape::row(2))?;
    /// let mut y = gpu.zeros(Shape::row(2))?;
    /// let graph = gpu.capture(|| gpu.axpy(&mut y, 0.5, &x))?;
    /// for _ in 0..4 {
    ///     graph.replay()?;
    /// }
    /// assert_eq!(gpu.to_host(&y)?, [2.0, 4.0]);
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn capture(&self, f: impl FnOnce() -> Result<()>) -> Result<CudaGraph> {
        let dev = &self.dev;
        if CAPTURING.get().is_some() {
            return Err(Error::invalid(
                "a CUDA graph capture inside another one: capture the whole step once",
            ));
        }
        let write = dev.capture.lock.write().unwrap_or_else(|p| p.into_inner());
        let arena = Arc::new(Arena::new(dev.clone()));
        RECORDING.set(Some(Recording {
            arena: arena.clone(),
            log: Vec::new(),
            deferred: Vec::new(),
            late_chunks: Vec::new(),
        }));
        CAPTURING.set(Some(dev.ordinal));
        let begun = dev
            .stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED)
            .map_err(dev_err("beginning a CUDA graph capture"));
        // A panic inside `f` ends the capture too, before it goes on.
        let ran = begun.map(|()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        let ended = dev
            .stream
            .end_capture(cudarc::driver::sys::CUgraphInstantiate_flags(0));
        CAPTURING.set(None);
        let rec = RECORDING.take().expect("set above");
        arena.close();
        drop(write);
        let _ = dev.stream.context().bind_to_thread();
        for p in rec.late_chunks {
            // SAFETY: chunks of arenas that are gone (see `Arena::drop`).
            let _ = unsafe { result::free_sync(p) };
        }
        let ran = match ran {
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Ok(Ok(r)) => r,
            Err(e) => Err(e),
        };
        let graph = match (ran, ended) {
            (Err(e), _) => {
                return Err(Error::Device(format!(
                    "the step could not be captured as a CUDA graph: {e}"
                )))
            }
            (Ok(()), Err(e)) => {
                return Err(Error::Device(format!(
                    "the step could not be captured as a CUDA graph: the driver ended the \
                     capture with {e:?} (an op that a graph cannot hold ran during it)"
                )))
            }
            (Ok(()), Ok(g)) => g,
        };
        Ok(CudaGraph {
            graph,
            dev: dev.clone(),
            arena,
            log: rec.log,
            deferred: Mutex::new(rec.deferred),
        })
    }

    /// Whether this thread is capturing a graph on this backend's GPU.
    pub(crate) fn capturing(&self) -> bool {
        capturing(self.dev.ordinal)
    }
}

impl<T> Buf<T> {
    /// The buffer's address as the log writes it.
    pub(crate) fn words_of(&self, stream: &Arc<CudaStream>) -> u64 {
        place(self.device_ptr(stream).0)
    }
}
