//! Frontends: model files → the validated layer graph ([`crate::ir::layers::LayerGraph`]).
pub mod native;
pub mod native_write;

use crate::ir::layers::LayerGraph;
use crate::Result;
use std::path::Path;

/// Loads a model file, choosing the frontend from its contents.
pub fn load(path: &Path) -> Result<LayerGraph> {
    native::load(path)
}
