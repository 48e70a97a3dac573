//! Frontends: model files → the validated layer graph ([`crate::ir::layers::LayerGraph`]).
pub mod native;
pub mod native_write;
pub mod onnx_proto;
pub mod qonnx;

use crate::error::Error;
use crate::ir::layers::LayerGraph;
use crate::Result;
use std::path::Path;

/// The model formats rtl4ml reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The native JSON format (docs/model-format.md).
    Native,
    /// QONNX: ONNX protobuf with quantizer nodes (docs/qonnx.md).
    Qonnx,
}

impl Format {
    /// QONNX for a `.onnx` file or one that starts like serialized ONNX; native otherwise.
    pub fn detect(path: &Path, bytes: &[u8]) -> Format {
        let onnx_ext = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
        if onnx_ext || qonnx::looks_like_onnx(bytes) {
            Format::Qonnx
        } else {
            Format::Native
        }
    }

    /// The name a build directory keeps its copy of the model under.
    pub fn build_file_name(self) -> &'static str {
        match self {
            Format::Native => "model.json",
            Format::Qonnx => "model.onnx",
        }
    }
}

/// Loads a model file, choosing the frontend with [`Format::detect`].
pub fn load(path: &Path) -> Result<LayerGraph> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file = path.display().to_string();
    match Format::detect(path, &bytes) {
        Format::Qonnx => qonnx::parse(&bytes, &file),
        Format::Native => {
            let text = std::io::read_to_string(&bytes[..]).map_err(|e| Error::io(path, e))?;
            native::parse(&text, &file)
        }
    }
}
