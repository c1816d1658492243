//! Parameters stored once and referenced by id.
//!
//! The book keeps `params` and `grads` lists in each layer and, when two layers share a weight,
//! merges the duplicates before each update (`remove_duplicate`). Here a parameter lives once in
//! a [`ParamStore`]; layers hold [`ParamId`]s. Two layers holding the same id share the weight,
//! and their gradients are summed into its single gradient as `backward` runs. Optimizers keep
//! per-parameter state indexed by the same ids.

use crate::{Backend, Error, Float, Result, Shape};

/// The handle of one parameter in a [`ParamStore`]: only [`ParamStore::add`] makes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(usize);

impl ParamId {
    /// The parameter's position in its store, in the order they were added (for state kept
    /// per parameter, as optimizers keep it).
    pub fn index(self) -> usize {
        self.0
    }
}

/// Whether a gradient holds this step's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GradState {
    /// Nothing was written since the last [`ParamStore::zero_grads`]: the next write replaces it.
    Stale,
    /// Written during this step: further writes add to it.
    Fresh,
}

/// One parameter: its name, value and gradient.
#[derive(Clone, Debug)]
pub struct Param<B: Backend> {
    name: String,
    value: B::Tensor,
    grad: Option<B::Tensor>,
    state: GradState,
}

impl<B: Backend> Param<B> {
    /// The parameter's name (`"layers.0.W"`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its value.
    pub fn value(&self) -> &B::Tensor {
        &self.value
    }
    /// This step's gradient, if `backward` wrote one.
    pub fn grad(&self) -> Option<&B::Tensor> {
        match self.state {
            GradState::Fresh => self.grad.as_ref(),
            GradState::Stale => None,
        }
    }
}

/// All parameters of a model, each stored once.
#[derive(Debug)]
pub struct ParamStore<B: Backend> {
    params: Vec<Param<B>>,
    uid: u64,
}

/// A number no other store of this process has.
fn next_uid() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl<B: Backend> Default for ParamStore<B> {
    fn default() -> Self {
        ParamStore {
            params: Vec::new(),
            uid: next_uid(),
        }
    }
}

/// A copy is another model's parameters: it gets its own [`uid`](ParamStore::uid).
impl<B: Backend> Clone for ParamStore<B> {
    fn clone(&self) -> Self {
        ParamStore {
            params: self.params.clone(),
            uid: next_uid(),
        }
    }
}

impl<B: Backend> ParamStore<B> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a parameter and returns its id. Names must be unique.
    pub fn add(&mut self, name: impl Into<String>, value: B::Tensor) -> Result<ParamId> {
        let name = name.into();
        if self.params.iter().any(|p| p.name == name) {
            return Err(Error::invalid(format!(
                "a parameter named {name:?} exists already"
            )));
        }
        self.params.push(Param {
            name,
            value,
            grad: None,
            state: GradState::Stale,
        });
        Ok(ParamId(self.params.len() - 1))
    }

    /// A number that identifies this store among all made in the process (a clone gets its
    /// own), so that state kept for one model's parameters is not applied to another's.
    pub fn uid(&self) -> u64 {
        self.uid
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// All ids, in the order the parameters were added.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> {
        (0..self.params.len()).map(ParamId)
    }

    /// The parameter behind `id`.
    ///
    /// # Panics
    /// If `id` does not come from this store: ids are only made by [`ParamStore::add`].
    pub fn get(&self, id: ParamId) -> &Param<B> {
        &self.params[id.0]
    }

    /// Iterates over `(id, parameter)`.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Param<B>)> {
        self.params.iter().enumerate().map(|(i, p)| (ParamId(i), p))
    }

    /// The value of `id`.
    pub fn value(&self, id: ParamId) -> &B::Tensor {
        &self.params[id.0].value
    }

    /// This step's gradient of `id`, if one was written.
    pub fn grad(&self, id: ParamId) -> Option<&B::Tensor> {
        self.params[id.0].grad()
    }

    /// The id of the parameter called `name`.
    pub fn find(&self, name: &str) -> Option<ParamId> {
        self.params.iter().position(|p| p.name == name).map(ParamId)
    }

    /// Replaces the value of `id`; the new value must have the old shape.
    pub fn set_value(&mut self, backend: &B, id: ParamId, value: B::Tensor) -> Result<()> {
        let p = &mut self.params[id.0];
        crate::backend::check::same("set_value", backend.shape(&p.value), backend.shape(&value))?;
        p.value = value;
        Ok(())
    }

    /// Marks every gradient stale: the next [`ParamStore::accumulate_grad`] replaces it.
    /// Costs nothing on the device. A model's `backward` calls it first (see `Model::backward`
    /// in nn-layers): that is the one place a step's gradients start afresh.
    pub fn zero_grads(&mut self) {
        for p in &mut self.params {
            p.state = GradState::Stale;
        }
    }

    /// Adds `g` to the gradient of `id` (replacing it if it is stale this step), so that a
    /// parameter used by several layers receives the sum of their gradients.
    pub fn accumulate_grad(&mut self, backend: &B, id: ParamId, g: B::Tensor) -> Result<()> {
        let p = &mut self.params[id.0];
        let (ps, gs) = (backend.shape(&p.value), backend.shape(&g));
        if ps != gs {
            return Err(Error::shape(
                "accumulate_grad",
                format!("gradient {gs} for parameter {:?} of shape {ps}", p.name),
            ));
        }
        match (p.state, p.grad.as_mut()) {
            (GradState::Fresh, Some(acc)) => backend.axpy(acc, B::Elem::of(1.0), &g)?,
            _ => p.grad = Some(g),
        }
        p.state = GradState::Fresh;
        Ok(())
    }

    /// The value (mutable) and this step's gradient of `id`, for an optimizer's update.
    /// `None` when `backward` wrote no gradient for it this step.
    pub fn value_and_grad_mut(&mut self, id: ParamId) -> Option<(&mut B::Tensor, &B::Tensor)> {
        let p = &mut self.params[id.0];
        match (p.state, p.grad.as_ref()) {
            (GradState::Fresh, Some(g)) => Some((&mut p.value, g)),
            _ => None,
        }
    }

    /// Every parameter with a gradient this step, as (value, gradient) with the value mutable,
    /// for an optimizer that updates them all at once.
    pub fn values_and_grads_mut(&mut self) -> impl Iterator<Item = (&mut B::Tensor, &B::Tensor)> {
        self.params
            .iter_mut()
            .filter_map(|p| match (p.state, p.grad.as_ref()) {
                (GradState::Fresh, Some(g)) => Some((&mut p.value, g)),
                _ => None,
            })
    }

    /// This step's gradients, mutable (for clipping).
    pub fn grads_mut(&mut self) -> impl Iterator<Item = &mut B::Tensor> {
        self.params.iter_mut().filter_map(|p| match p.state {
            GradState::Fresh => p.grad.as_mut(),
            GradState::Stale => None,
        })
    }

    /// Shapes of all parameters, by name (for checking a weight file against the model).
    pub fn shapes(&self, backend: &B) -> Vec<(String, Shape)> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), backend.shape(&p.value)))
            .collect()
    }
}
