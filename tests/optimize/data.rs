//! The bundled models and calibration sets both test modules read.

use ndarray::Array2;
use rtl4ml::frontend::native;
use rtl4ml::ir::layers::LayerGraph;
use rtl4ml::sim::io;
use std::path::PathBuf;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A bundled model (`models/NAME.json`).
pub fn load(name: &str) -> LayerGraph {
    native::load(&root().join("models").join(format!("{name}.json"))).unwrap()
}

/// The bundled calibration set of a model family, as input mantissas.
pub fn calib(family: &str, g: &LayerGraph) -> Array2<i64> {
    let path = root().join("models/calib").join(format!("{family}.npy"));
    io::to_mantissas(
        io::read_npy(&path).unwrap(),
        &g.input_types(),
        &path.display().to_string(),
        false,
    )
    .unwrap()
}
