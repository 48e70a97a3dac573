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
    /// A layer that cannot be lowered to the netlist: the place (layer, output, position) and
    /// the builder's reason, which callers can match on.
    #[error("{place}: {reason}")]
    Lower {
        place: String,
        /// Not an error `source`: its text is already part of this message.
        reason: BuildError,
    },
    /// A command-line value that makes no sense (a flag and what it expects).
    #[error("{flag}: {message}")]
    Usage { flag: String, message: String },
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
    pub fn lower(place: impl Into<String>, reason: impl Into<BuildError>) -> Self {
        Error::Lower {
            place: place.into(),
            reason: reason.into(),
        }
    }
    pub fn usage(flag: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Usage {
            flag: flag.into(),
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

/// What to do when a value outgrows the wire limit (appended to those errors).
pub const WIRE_ADVICE: &str = ": the layer combines values whose binary points are too far apart \
     (huge integer bits against many fractional bits); narrow its input, weight or accumulator \
     types, e.g. with a `quantize` layer in front of it";

/// Why the netlist builder (or a lowering built on it) cannot build a node: the kind is
/// matchable, the text is the message users see after the layer's name (`Error::Lower`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BuildError {
    /// A node's value range needs more than the wire limit.
    #[error(
        "an intermediate value needs {bits} bits, more than the {limit}-bit limit{WIRE_ADVICE}"
    )]
    WireTooWide { bits: u32, limit: u32 },
    /// Aligning an operand's binary point to another's would exceed the wire limit.
    #[error("an aligned operand would need more than the {limit}-bit wire limit{WIRE_ADVICE}")]
    AlignTooWide { limit: u32 },
    /// A cast that shifts left would exceed the wire limit.
    #[error("a cast to {to} needs a {bits}-bit shifted value, more than the {limit}-bit wire limit{WIRE_ADVICE}")]
    CastTooWide { to: String, bits: u32, limit: u32 },
    /// A product of two variables would exceed the wire limit.
    #[error("a product needs more than the {limit}-bit wire limit{WIRE_ADVICE}")]
    ProductTooWide { limit: u32 },
    /// A lookup table with more entries than the limit.
    #[error("a lookup table would need {entries} entries, more than the limit of {limit}")]
    TableTooLarge { entries: i128, limit: i128 },
    /// What a layer's lowering refuses for a reason of its own (the message says which).
    #[error("{0}")]
    Layer(String),
}

impl From<String> for BuildError {
    fn from(m: String) -> Self {
        BuildError::Layer(m)
    }
}

impl From<&str> for BuildError {
    fn from(m: &str) -> Self {
        BuildError::Layer(m.to_string())
    }
}
