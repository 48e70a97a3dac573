//! Frontends: model files → the validated layer graph ([`crate::ir::layers::LayerGraph`]).
pub mod native;
pub mod native_write;
pub mod onnx_proto;
pub mod precision;
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

/// Largest dimension of a model input or tensor (native JSON and QONNX alike): 2^20.
pub const MAX_DIM: usize = 1 << 20;

/// Most elements of one tensor (native JSON and QONNX alike): 2^22.
pub const MAX_ELEMENTS: usize = 1 << 22;

/// Longest name a model may give itself, an input, a layer, an ONNX node or tensor: 16 KiB.
/// Names reach tables, reports and messages; a longer one is certainly not a name.
pub const MAX_NAME_BYTES: usize = 16 << 10;

/// Refuses a name longer than [`MAX_NAME_BYTES`], quoting its start.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.len() <= MAX_NAME_BYTES {
        return Ok(());
    }
    let start: String = name.chars().take(24).flat_map(char::escape_debug).collect();
    Err(format!(
        "the name `{start}…` is {} bytes long; names may be at most {MAX_NAME_BYTES} bytes",
        name.len()
    ))
}

/// Loads a model file, choosing the frontend with [`Format::detect`].
pub fn load(path: &Path) -> Result<LayerGraph> {
    let bytes = crate::input::read(path, crate::input::MAX_MODEL_BYTES, "model file")?;
    parse_bytes(path, &bytes)
}

/// Parses a model file's bytes (`path` chooses the frontend and names the file in errors).
/// A native model must be UTF-8 JSON; other encodings and binary files get an explanation.
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<LayerGraph> {
    let file = path.display().to_string();
    if let Some(message) = keras_file(path, bytes) {
        return Err(Error::Data { file, message });
    }
    let g = match Format::detect(path, bytes) {
        Format::Qonnx => qonnx::parse(bytes, &file),
        Format::Native => {
            let text = std::str::from_utf8(bytes).map_err(|e| Error::Data {
                file: file.clone(),
                message: not_utf8(bytes, e),
            })?;
            native::parse(text, &file)
        }
    }?;
    validated(g, &file)
}

/// The graph a frontend made, after [`LayerGraph::validate`]: a violation is an internal error
/// of that frontend (its own checks should have named the field), reported with the file.
pub fn validated(g: LayerGraph, file: &str) -> Result<LayerGraph> {
    match g.validate() {
        Ok(()) => Ok(g),
        Err(m) => Err(Error::model(
            file,
            "layer graph",
            format!("internal error: the loader built an inconsistent graph ({m})"),
        )),
    }
}

/// [`parse_bytes`] with an optional precision for post-training quantization of a float
/// ONNX model (docs/ptq.md). A native model has every type explicit and takes none.
pub fn parse_bytes_with(
    path: &Path,
    bytes: &[u8],
    ptq: Option<&precision::Precision>,
) -> Result<LayerGraph> {
    let Some(p) = ptq else {
        return parse_bytes(path, bytes);
    };
    let file = path.display().to_string();
    match Format::detect(path, bytes) {
        Format::Qonnx => validated(qonnx::parse_with(bytes, &file, Some(p))?, &file),
        Format::Native => Err(Error::model(
            file,
            "top level",
            "a native model spells out every type, so it takes no precision; leave out \
             --precision/--precision-file (they quantize float ONNX models)",
        )),
    }
}

/// Why a would-be native model is not UTF-8 text, and what to do.
fn not_utf8(bytes: &[u8], e: std::str::Utf8Error) -> String {
    let what = if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        "is UTF-16 text; native models are UTF-8 JSON (re-save the file as UTF-8)".to_string()
    } else if bytes.starts_with(b"\x89PNG") || bytes.iter().take(512).any(|&b| b == 0) {
        "is a binary file, not a native JSON model (QONNX models need the `.onnx` extension)"
            .to_string()
    } else {
        format!(
            "is not UTF-8 text (invalid byte at offset {}); native models are UTF-8 JSON",
            e.valid_up_to()
        )
    };
    format!("top level: {what}")
}

/// A Keras model file (`.keras`, a zip archive; `.h5`/`.hdf5`, HDF5): what to run instead.
/// Keras models are converted by the Python package (docs/python.md, docs/keras.md).
pub fn keras_file(path: &Path, bytes: &[u8]) -> Option<String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let keras_ext = matches!(ext.as_deref(), Some("keras" | "h5" | "hdf5"));
    let archive = bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"\x89HDF\r\n\x1a\n");
    if !keras_ext && !archive {
        return None;
    }
    let json = path.with_extension("json");
    Some(format!(
        "is a Keras model file, which rtl4ml reads through its Python package: install it \
         with `pip install \"./python[keras]\"` from the rtl4ml repository, convert the model \
         with `python3 -m rtl4ml.keras {} {}`, then run `rtl4ml compile {} -o DIR` \
         (or, in Python: `rtl4ml.compile(rtl4ml.load(\"{}\"))`; see docs/python.md)",
        path.display(),
        json.display(),
        json.display(),
        path.display()
    ))
}
