//! [`StepGraph`]: a training step run eagerly, then captured as a graph and replayed.

use crate::{Backend, Result};

/// The graph type of a backend without graphs: it has no values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoGraph {}

/// What a [`StepGraph`] is doing with its step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum GraphStatus {
    /// Running it eagerly: graphs were not asked for, or the backend has none.
    #[default]
    Eager,
    /// Running the first steps eagerly before capturing one.
    WarmingUp,
    /// Replaying the captured step.
    Replaying,
    /// Running it eagerly after a capture showed that it cannot be replayed (why, in words).
    FellBack(String),
}

enum Phase<B: Backend> {
    Off,
    Warmup(usize),
    Check(B::Graph),
    Replay(B::Graph),
    FellBack(String),
}

/// Runs a training step so that, on a backend with graphs (`nn_cuda::Cuda`), it costs one
/// launch: the first `warmup` calls run it eagerly (lazy state is made, kernels load), the next
/// captures it and replays the capture, the one after captures it again and compares the two.
/// Equal captures mean the step does the same work every time, and from then on each call
/// replays it without calling `f`; a difference (a value passed by value that changed, state
/// that moved to new memory) makes it fall back to running `f` eagerly, saying why in
/// [`status`](StepGraph::status). Every call computes exactly the step `f` would.
///
/// What changes between steps must reach the step through device memory: copy a batch into
/// tensors or indices made before the capture ([`Backend::write_index`]), keep counters on the
/// device ([`Backend::adam_rate`]). A step that reads the device (a loss printed inside it) or
/// copies host data in cannot be captured: that call returns the error, and the step's
/// host-side effects (an optimizer's count) have happened without its device work.
///
/// ```
/// use nn_core::{Backend, Float, GraphStatus, Shape, StepGraph};
/// // Generic over the backend: on `Cpu` every call runs eagerly, on `Cuda` most replay.
/// fn accumulate<B: Backend>(b: &B) -> nn_core::Result<Vec<B::Elem>> {
///     let x = b.from_f64(&[1.0, 2.0], Shape::row(2))?;
///     let mut y = b.zeros(Shape::row(2))?;
///     let mut step = StepGraph::new(b);
///     for _ in 0..5 {
///         step.run(|| b.axpy(&mut y, B::Elem::of(0.5), &x))?; // y += x / 2
///     }
///     let expected = if b.supports_graphs() { GraphStatus::Replaying } else { GraphStatus::Eager };
///     assert_eq!(step.status(), expected);
///     b.to_host(&y) // [2.5, 5.0] either way
/// }
/// ```
pub struct StepGraph<B: Backend> {
    backend: B,
    phase: Phase<B>,
    replays: u64,
}

impl<B: Backend> std::fmt::Debug for StepGraph<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StepGraph({:?}, {} replays)",
            self.status(),
            self.replays
        )
    }
}

impl<B: Backend> StepGraph<B> {
    /// A step on `backend`, with one eager warm-up step; eager throughout where the backend
    /// has no graphs.
    pub fn new(backend: &B) -> Self {
        let phase = if backend.supports_graphs() {
            Phase::Warmup(1)
        } else {
            Phase::Off
        };
        StepGraph {
            backend: backend.clone(),
            phase,
            replays: 0,
        }
    }

    /// The same with `steps` eager steps before the capture (at least one: an optimizer makes
    /// its state on its first step).
    pub fn with_warmup(mut self, steps: usize) -> Self {
        if let Phase::Warmup(_) = self.phase {
            self.phase = Phase::Warmup(steps.max(1));
        }
        self
    }

    /// One step: `f` eagerly, or captured, or a replay of the capture (`f` not called).
    pub fn run(&mut self, mut f: impl FnMut() -> Result<()>) -> Result<()> {
        let b = &self.backend;
        match std::mem::replace(&mut self.phase, Phase::Off) {
            Phase::Off => f(),
            Phase::FellBack(why) => {
                self.phase = Phase::FellBack(why);
                f()
            }
            Phase::Warmup(n) if n > 0 => {
                self.phase = Phase::Warmup(n - 1);
                f()
            }
            Phase::Warmup(_) => {
                let g = b.capture(&mut f)?;
                b.replay(&g)?;
                self.phase = Phase::Check(g);
                Ok(())
            }
            Phase::Check(earlier) => {
                let g = b.capture(&mut f)?;
                b.replay(&g)?;
                self.phase = match b.graph_difference(&g, &earlier) {
                    None => Phase::Replay(g),
                    Some(why) => Phase::FellBack(format!(
                        "the step cannot be replayed as a graph, as two captures of it differ \
                         at {why}"
                    )),
                };
                Ok(())
            }
            Phase::Replay(g) => {
                let done = b.replay(&g);
                self.phase = Phase::Replay(g);
                done?;
                self.replays += 1;
                Ok(())
            }
        }
    }

    /// What the step is doing now.
    pub fn status(&self) -> GraphStatus {
        match &self.phase {
            Phase::Off => GraphStatus::Eager,
            Phase::Warmup(_) | Phase::Check(_) => GraphStatus::WarmingUp,
            Phase::Replay(_) => GraphStatus::Replaying,
            Phase::FellBack(why) => GraphStatus::FellBack(why.clone()),
        }
    }

    /// Steps run as replays of the checked capture (the two captures not counted).
    pub fn replays(&self) -> u64 {
        self.replays
    }

    /// The graph being replayed, once the captures agree.
    pub fn graph(&self) -> Option<&B::Graph> {
        match &self.phase {
            Phase::Replay(g) => Some(g),
            _ => None,
        }
    }
}
