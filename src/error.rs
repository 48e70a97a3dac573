//! The crate's error type. Every error says where (file, layer, field) and what was expected.
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem in a model file: names the file, the place inside it and what was expected.
    #[error("{file}: {place}: {message}")]
    Model {
        file: String,
        place: String,
        message: String,
    },
    /// A model that is well-formed but cannot be compiled exactly (e.g. too wide, order-dependent).
    #[error("{place}: {message}")]
    Unsupported { place: String, message: String },
    /// Bad input data (npy files, shapes, values).
    #[error("{file}: {message}")]
    Data { file: String, message: String },
    /// An external tool (Verilator, Icarus, Yosys) failed or is missing.
    #[error("{tool}: {message}")]
    Tool { tool: String, message: String },
    /// Hardware and simulator disagree.
    #[error("verification failed: {0}")]
    Mismatch(String),
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("template rendering failed: {0}")]
    Template(#[from] askama::Error),
}

impl Error {
    pub fn model(
        file: impl Into<String>,
        place: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Model {
            file: file.into(),
            place: place.into(),
            message: message.into(),
        }
    }
    pub fn unsupported(place: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Unsupported {
            place: place.into(),
            message: message.into(),
        }
    }
    pub fn tool(tool: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Tool {
            tool: tool.into(),
            message: message.into(),
        }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }
}
