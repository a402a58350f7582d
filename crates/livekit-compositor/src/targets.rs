//! Where a running compositor writes each canvas's frames: [`Targets`], a map canvas -> its
//! outputs, which the runner owns. The pure [`Compositor`](crate::Compositor) renders and holds
//! none; targets given to it before it starts ([`Compositor::add_target`]) wait in a
//! [`Targets`] of its own that [`Compositor::start`] hands over to the runner once (and that an
//! edit through [`CompositorHandle::edit`](crate::CompositorHandle::edit) hands over when it
//! returns); the runner never looks at the compositor's.
//!
//! [`Compositor::add_target`]: crate::Compositor::add_target
//! [`Compositor::start`]: crate::Compositor::start

use std::collections::BTreeMap;
use std::sync::Arc;

use livekit_core::{PushError, VideoFrame, VideoTarget};

use crate::scene::CanvasId;

/// One output of a canvas: a target, and the name a warning gives it.
#[derive(Clone)]
pub(crate) struct Output {
    pub(crate) target: Arc<dyn VideoTarget>,
    pub(crate) name: String,
}

/// The outputs of each canvas, each canvas's in the order they were added.
///
/// A canvas's list is shared ([`Arc`]) and copied only when it changes, so taking it for a
/// frame ([`Self::of`]) allocates nothing.
#[derive(Default)]
pub(crate) struct Targets {
    by_canvas: BTreeMap<CanvasId, Arc<Vec<Output>>>,
}

impl Targets {
    /// Whether no canvas has an output.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_canvas.values().all(|outputs| outputs.is_empty())
    }

    /// Adds an output to `canvas`, after its others.
    pub(crate) fn add(&mut self, canvas: CanvasId, output: Output) {
        Arc::make_mut(self.by_canvas.entry(canvas).or_default()).push(output);
    }

    /// Moves every output of `other` here, after the outputs of the same canvas.
    pub(crate) fn append(&mut self, other: Targets) {
        for (canvas, outputs) in other.by_canvas {
            for output in Arc::unwrap_or_clone(outputs) {
                self.add(canvas, output);
            }
        }
    }

    /// The outputs of `canvas` now (`None`: it never had one), to push a frame to without
    /// holding a lock.
    pub(crate) fn of(&self, canvas: CanvasId) -> Option<Arc<Vec<Output>>> {
        self.by_canvas.get(&canvas).cloned()
    }

    /// Forgets the outputs of `canvas` whose target is one of `gone`.
    pub(crate) fn remove(&mut self, canvas: CanvasId, gone: &[Arc<dyn VideoTarget>]) {
        if let Some(outputs) = self.by_canvas.get_mut(&canvas) {
            Arc::make_mut(outputs).retain(|o| !gone.iter().any(|g| Arc::ptr_eq(g, &o.target)));
        }
    }

    /// Takes every output, canvas by canvas in canvas order, leaving none.
    pub(crate) fn take_all(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.by_canvas)
            .into_values()
            .flat_map(Arc::unwrap_or_clone)
            .collect()
    }
}

/// Pushes `frame` to every output and returns the targets that are gone: closed, ended, or
/// failed (with a warning naming the output).
pub(crate) fn push_to_all(outputs: &[Output], frame: &VideoFrame) -> Vec<Arc<dyn VideoTarget>> {
    let mut gone = Vec::new();
    for Output { target, name } in outputs {
        match target.push(frame.clone()) {
            Ok(()) => {}
            Err(PushError::Closed | PushError::Ended) => gone.push(Arc::clone(target)),
            Err(error) => {
                tracing::warn!("compositor output {name} failed, dropping it: {error}");
                gone.push(Arc::clone(target));
            }
        }
    }
    gone
}

#[cfg(test)]
mod tests {
    use livekit_core::Port;

    use super::*;

    fn output(name: &str) -> Output {
        Output {
            target: Arc::new(Port::<VideoFrame>::latest()),
            name: name.to_owned(),
        }
    }

    fn names(outputs: &[Output]) -> Vec<&str> {
        outputs.iter().map(|o| o.name.as_str()).collect()
    }

    #[test]
    fn outputs_keep_their_order_and_leave_when_gone() {
        let mut targets = Targets::default();
        assert!(targets.is_empty());
        targets.add(CanvasId(1), output("b1"));
        targets.add(CanvasId(0), output("a1"));
        let mut later = Targets::default();
        later.add(CanvasId(0), output("a2"));
        later.add(CanvasId(1), output("b2"));
        targets.append(later);
        assert!(!targets.is_empty());
        assert!(targets.of(CanvasId(2)).is_none());

        let snapshot = targets.of(CanvasId(0)).unwrap_or_default();
        assert_eq!(names(&snapshot), ["a1", "a2"]);
        targets.remove(CanvasId(0), &[Arc::clone(&snapshot[0].target)]);
        // The snapshot taken for a frame is not changed under it.
        assert_eq!(names(&snapshot), ["a1", "a2"]);
        assert_eq!(names(&targets.of(CanvasId(0)).unwrap_or_default()), ["a2"]);

        assert_eq!(names(&targets.take_all()), ["a2", "b1", "b2"]);
        assert!(targets.is_empty());
    }
}
