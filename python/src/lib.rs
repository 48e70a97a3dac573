//! The `rtl4ml` Python package's native module (`rtl4ml._native`): a thin binding over the
//! rtl4ml crate. Every computation (loading, compiling, simulating, verifying, synthesising,
//! optimizing) is the crate's own; this file converts arguments, arrays and errors.

use numpy::{
    IntoPyArray, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use rtl4ml::flow::{self, ClockChoice, Options};
use rtl4ml::frontend::{self, Format};
use rtl4ml::ir::fixed::FixedType;
use rtl4ml::ir::layers::LayerGraph;
use rtl4ml::ir::schedule::DEFAULT_MAX_FANOUT;
use rtl4ml::passes::lower::{DspPolicy, LowerOptions};
use rtl4ml::report::Report;
use rtl4ml::sim::io::{self, InputValue};
use rtl4ml::sim::Simulator;
use rtl4ml::target::Target;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

create_exception!(
    rtl4ml,
    Error,
    PyException,
    "Base class of every error rtl4ml raises; the message is the command line's."
);
create_exception!(
    rtl4ml,
    ModelError,
    Error,
    "A problem in a model file: names the file, the place inside it and what was expected."
);
create_exception!(
    rtl4ml,
    UnsupportedError,
    Error,
    "A well-formed model or option that cannot be compiled exactly."
);
create_exception!(
    rtl4ml,
    DataError,
    Error,
    "Bad input data: array shapes, dtypes, values that do not fit."
);
create_exception!(
    rtl4ml,
    ToolError,
    Error,
    "An external tool (Verilator, Icarus, Yosys, nextpnr) failed or is missing."
);
create_exception!(
    rtl4ml,
    VerificationError,
    Error,
    "The hardware and the simulator disagree (or the Verilog on disk is not what rtl4ml makes)."
);
create_exception!(
    rtl4ml,
    FileError,
    Error,
    "A file could not be read or written."
);

/// The Python exception for a crate error, its message prefixed with `context` the way the
/// command line's `error:` line is (`compiling model.json: …`).
fn py_err(e: rtl4ml::Error, context: Option<&str>) -> PyErr {
    let msg = match context {
        Some(c) => format!("{c}: {e}"),
        None => e.to_string(),
    };
    use rtl4ml::Error as E;
    match e {
        E::Model { .. } => ModelError::new_err(msg),
        E::Unsupported { .. } | E::Lower { .. } | E::Usage { .. } => UnsupportedError::new_err(msg),
        E::Data { .. } => DataError::new_err(msg),
        E::Tool { .. } => ToolError::new_err(msg),
        E::Mismatch(_) => VerificationError::new_err(msg),
        E::Io { .. } => FileError::new_err(msg),
        _ => Error::new_err(msg),
    }
}

fn err(e: rtl4ml::Error) -> PyErr {
    py_err(e, None)
}

/// A value of a clap `ValueEnum` option from its command-line spelling.
fn choice<T: clap::ValueEnum>(what: &str, s: &str) -> PyResult<T> {
    T::from_str(s, true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        UnsupportedError::new_err(format!(
            "{what}: unknown value `{s}` (expected one of: {})",
            names.join(", ")
        ))
    })
}

fn to_dict<'py, T: serde::Serialize>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(v).expect("serialisable");
    py.import("json")?.call_method1("loads", (text,))
}

// ---- models -----------------------------------------------------------------------------

/// A loaded model: the validated layer graph and the file it came from.
///
/// Made by `rtl4ml.load`, `rtl4ml.from_json`, `rtl4ml.from_onnx`, `rtl4ml.from_keras` and
/// `rtl4ml.optimize`. Compile it with `rtl4ml.compile`.
#[pyclass(module = "rtl4ml", frozen)]
struct Model {
    graph: LayerGraph,
    /// Where it came from (a path, or a description such as `<keras model jet>`).
    source: String,
    /// The model file's bytes, kept in build directories as `model_file`.
    bytes: Vec<u8>,
    model_file: &'static str,
}

fn parse(path: &Path, bytes: Vec<u8>, source: String) -> PyResult<Model> {
    let graph = frontend::parse_bytes(path, &bytes).map_err(err)?;
    Ok(Model {
        graph,
        source,
        model_file: Format::detect(path, &bytes).build_file_name(),
        bytes,
    })
}

fn tensor_dict<'py>(
    py: Python<'py>,
    t: &rtl4ml::ir::layers::Tensor,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &t.name)?;
    d.set_item("shape", t.shape.clone())?;
    d.set_item("type", t.ty.to_string())?;
    Ok(d)
}

fn type_names(types: &[FixedType]) -> Vec<String> {
    types.iter().map(|t| t.to_string()).collect()
}

#[pymethods]
impl Model {
    /// The model's name.
    #[getter]
    fn name(&self) -> &str {
        &self.graph.name
    }
    /// Where the model came from: a file path, or a description of the in-memory source.
    #[getter]
    fn source(&self) -> &str {
        &self.source
    }
    /// The model inputs: a list of dicts with `name`, `shape` and `type`.
    #[getter]
    fn inputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let l = PyList::empty(py);
        for t in &self.graph.inputs {
            l.append(tensor_dict(py, t)?)?;
        }
        Ok(l)
    }
    /// The model outputs, in output-bus order: a list of dicts with `name`, `shape`, `type`.
    #[getter]
    fn outputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let l = PyList::empty(py);
        for t in self.graph.output_tensors() {
            l.append(tensor_dict(py, t)?)?;
        }
        Ok(l)
    }
    /// Input elements per sample (all inputs, flattened and concatenated).
    #[getter]
    fn n_inputs(&self) -> usize {
        self.graph.input_types().len()
    }
    /// Output elements per sample (all outputs, flattened and concatenated).
    #[getter]
    fn n_outputs(&self) -> usize {
        self.graph.output_len()
    }
    /// The fixed-point type of every input element, e.g. `fixed<16,6,RND,SAT>`.
    #[getter]
    fn input_types(&self) -> Vec<String> {
        type_names(&self.graph.input_types())
    }
    /// The fixed-point type of every output element.
    #[getter]
    fn output_types(&self) -> Vec<String> {
        type_names(&self.graph.output_types())
    }
    /// The model in the native JSON format (docs/model-format.md).
    #[pyo3(signature = (description=None))]
    fn to_json(&self, description: Option<&str>) -> String {
        rtl4ml::frontend::native_write::write(&self.graph, description)
    }
    /// The model file's bytes as loaded (native JSON or QONNX), what a build directory keeps.
    fn file_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }
    /// The name a build directory keeps the model file under (`model.json`, `model.onnx`).
    #[getter]
    fn model_file(&self) -> &str {
        self.model_file
    }
    fn __repr__(&self) -> String {
        format!(
            "<rtl4ml.Model {:?}: {} inputs → {} outputs, {} layers, from {}>",
            self.graph.name,
            self.graph.input_types().len(),
            self.graph.output_len(),
            self.graph.layers.len(),
            self.source
        )
    }
}

/// Loads a native JSON or QONNX model file (format chosen as the command line does).
#[pyfunction]
fn _load(path: PathBuf) -> PyResult<Model> {
    // The command line's bounded reader: the same size limit and the same messages.
    let bytes =
        rtl4ml::input::read(&path, rtl4ml::input::MAX_MODEL_BYTES, "model file").map_err(err)?;
    parse(&path, bytes, path.display().to_string())
}

/// Parses a model file's bytes; `name` (e.g. `model.onnx`) chooses the format and names the
/// model in error messages.
#[pyfunction]
fn _load_bytes(data: Vec<u8>, name: String) -> PyResult<Model> {
    parse(Path::new(&name), data, name.clone())
}

// ---- designs ----------------------------------------------------------------------------

struct State {
    report: Report,
    /// The build directory `write` made (or `verify`/`synth` made in a temporary place).
    dir: Option<PathBuf>,
}

/// A compiled design: Verilog, report, and the bit-accurate simulator of exactly that
/// hardware (compiled once; `predict` reuses it).
#[pyclass(module = "rtl4ml", frozen)]
struct Design {
    design: flow::Design,
    sim: Simulator,
    in_types: Vec<FixedType>,
    out_types: Vec<FixedType>,
    model_source: String,
    model_bytes: Vec<u8>,
    model_file: &'static str,
    graph_for_model: LayerGraph,
    state: Mutex<State>,
}

enum Output {
    Raw(ndarray::Array2<i64>),
    Values(ndarray::Array2<f64>),
}

/// What `predict` names its input in error messages.
const X: &str = "predict(x)";

impl Design {
    /// Converts and simulates `x` a chunk of samples at a time, so that the mantissas and the
    /// simulator's outputs stay in cache, writing straight into the result.
    fn simulate<T: InputValue>(
        &self,
        x: ndarray::ArrayViewD<T>,
        raw: bool,
        what: &str,
    ) -> rtl4ml::Result<Output> {
        const CHUNK: usize = 2048;
        let n_el = self.in_types.len();
        let n_out = self.out_types.len();
        let rows = io::batch_rows(x.shape(), n_el, what)?;
        // `[N, ...]` batches are cut along the samples; a single sample is one chunk.
        let batched = x.ndim() >= 2 && x.shape()[1..].iter().product::<usize>() == n_el;
        let mut out = if raw {
            Output::Raw(ndarray::Array2::zeros((rows, n_out)))
        } else {
            Output::Values(ndarray::Array2::zeros((rows, n_out)))
        };
        let mut start = 0;
        while start < rows {
            let end = (start + CHUNK).min(rows);
            let part = if batched {
                x.slice_axis(ndarray::Axis(0), ndarray::Slice::from(start..end))
            } else {
                x.view()
            };
            let m = if raw {
                io::check_mantissas_at(part, &self.in_types, what, start)?
            } else {
                io::cast_values_at(part, &self.in_types, what, start)?
            };
            let y = self.sim.run(m.view());
            let rows_out = ndarray::s![start..end, ..];
            match &mut out {
                Output::Raw(o) => o.slice_mut(rows_out).assign(&y),
                Output::Values(o) => o
                    .slice_mut(rows_out)
                    .assign(&io::to_values(&y, &self.out_types)),
            }
            start = end;
        }
        Ok(out)
    }

    /// The build directory, written to a fresh temporary directory when there is none yet.
    fn build_dir(&self) -> PyResult<PathBuf> {
        if let Some(d) = self.state.lock().unwrap().dir.clone() {
            return Ok(d);
        }
        let base = std::env::temp_dir();
        let mut k = 0u32;
        let dir = loop {
            let d = base.join(format!(
                "rtl4ml-{}-{}-{k}",
                self.design.top,
                std::process::id()
            ));
            if !d.exists() {
                break d;
            }
            k += 1;
        };
        self.write_to(&dir)?;
        Ok(dir)
    }

    fn write_to(&self, dir: &Path) -> PyResult<()> {
        flow::write_dir_with_model(&self.design, self.model_file, &self.model_bytes, dir)
            .map_err(err)?;
        let mut s = self.state.lock().unwrap();
        s.dir = Some(dir.to_path_buf());
        // A fresh build directory holds the estimates only.
        s.report = self.design.report.clone();
        Ok(())
    }
}

fn as_ndarray<'py>(py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(a) = x.cast::<PyUntypedArray>() {
        let kind = a.dtype().kind();
        // float16 and other narrow floats: widened exactly.
        if kind == b'f' && a.dtype().itemsize() < 4 {
            return Ok(a
                .call_method1("astype", ("float32",))?
                .cast_into::<PyUntypedArray>()?);
        }
        return Ok(a.clone());
    }
    let a = py.import("numpy")?.call_method1("asarray", (x,))?;
    Ok(a.cast_into::<PyUntypedArray>()?)
}

#[pymethods]
impl Design {
    /// Runs the bit-accurate simulator of this design on a batch.
    ///
    /// `x`: `[N, n_inputs]` or `[N, <input shape>]` (or one sample of `n_inputs` elements),
    /// any memory layout. Floats (and integers) are values, cast to the input types with their
    /// own rounding and overflow, as `rtl4ml sim` casts a float `.npy`. With `raw=True`, `x`
    /// holds integer mantissas of the input types and the result is int64 mantissas.
    ///
    /// Returns `[N, n_outputs]` float64 values (exact for outputs up to 53 bits), or int64
    /// mantissas with `raw=True`. The GIL is released while converting and simulating.
    #[pyo3(signature = (x, raw=false))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        raw: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let arr = as_ndarray(py, x)?;
        let dt = arr.dtype();
        let kind = dt.kind();
        if raw && kind == b'f' {
            return Err(DataError::new_err(format!(
                "{X}: raw=True expects an integer array of mantissas, found {}",
                dt.str()?
            )));
        }
        let finish = |o: Output| -> PyResult<Bound<'py, PyAny>> {
            Ok(match o {
                Output::Raw(a) => a.into_pyarray(py).into_any(),
                Output::Values(a) => a.into_pyarray(py).into_any(),
            })
        };
        // One closure per element type (generic closures do not exist).
        macro_rules! go {
            ($($t:ty),*) => {$(
                if dt.is_equiv_to(&numpy::dtype::<$t>(py)) {
                    let a = arr.cast::<PyArrayDyn<$t>>()?.readonly();
                    let v = a.as_array();
                    let o = py.detach(|| self.simulate(v, raw, X)).map_err(err)?;
                    return finish(o);
                }
            )*};
        }
        go!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);
        Err(DataError::new_err(format!(
            "{X}: unsupported dtype {} (pass float32/float64 values, or integer mantissas with raw=True)",
            dt.str()?
        )))
    }

    /// The input mantissas `predict` feeds the hardware: `x` (values, any float or integer
    /// dtype and layout) cast to the input types, as `[N, n_inputs]` int64. Feeding them back
    /// with `predict(m, raw=True)` gives the output mantissas.
    fn quantize_inputs<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        const Q: &str = "quantize_inputs(x)";
        let arr = as_ndarray(py, x)?;
        let dt = arr.dtype();
        macro_rules! go {
            ($($t:ty),*) => {$(
                if dt.is_equiv_to(&numpy::dtype::<$t>(py)) {
                    let a = arr.cast::<PyArrayDyn<$t>>()?.readonly();
                    let v = a.as_array();
                    let m = py.detach(|| io::cast_values(v, &self.in_types, Q)).map_err(err)?;
                    return Ok(m.into_pyarray(py).into_any());
                }
            )*};
        }
        go!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);
        Err(DataError::new_err(format!(
            "{Q}: unsupported dtype {} (pass float32/float64 or integer values)",
            dt.str()?
        )))
    }

    /// Output mantissas (`predict(..., raw=True)`) as float64 values, exactly as `predict`
    /// converts them.
    fn output_values<'py>(
        &self,
        py: Python<'py>,
        m: numpy::PyReadonlyArray2<'py, i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let m = m.as_array();
        if m.ncols() != self.out_types.len() {
            return Err(DataError::new_err(format!(
                "output_values(m): {} columns, expected {} (one per output element)",
                m.ncols(),
                self.out_types.len()
            )));
        }
        let m = m.to_owned();
        let v = py.detach(|| io::to_values(&m, &self.out_types));
        Ok(v.into_pyarray(py).into_any())
    }

    /// The latency and resource report: the same content as the build directory's
    /// `report.json` (after `synth`, with the measured figures).
    #[getter]
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let r = self.state.lock().unwrap().report.clone();
        to_dict(py, &r)
    }
    /// The report as the text table `rtl4ml compile` prints.
    #[getter]
    fn report_text(&self) -> String {
        rtl4ml::report::format_table(&self.state.lock().unwrap().report)
    }
    /// The top module's Verilog.
    #[getter]
    fn verilog(&self) -> &str {
        &self.design.verilog
    }
    /// The top module's name.
    #[getter]
    fn top(&self) -> &str {
        &self.design.top
    }
    /// Latency in clock cycles (`out_valid` rises this many rising edges after `in_valid`).
    #[getter]
    fn latency_cycles(&self) -> u32 {
        self.design.schedule.latency
    }
    /// The clock period (ns) the design was scheduled for.
    #[getter]
    fn clock_ns(&self) -> f64 {
        self.design.schedule.clock_ns
    }
    /// Latency in ns.
    #[getter]
    fn latency_ns(&self) -> f64 {
        self.design.report.latency_ns
    }
    /// Input elements per sample.
    #[getter]
    fn n_inputs(&self) -> usize {
        self.in_types.len()
    }
    /// Output elements per sample.
    #[getter]
    fn n_outputs(&self) -> usize {
        self.out_types.len()
    }
    /// The fixed-point type of every input element.
    #[getter]
    fn input_types(&self) -> Vec<String> {
        type_names(&self.in_types)
    }
    /// The fixed-point type of every output element.
    #[getter]
    fn output_types(&self) -> Vec<String> {
        type_names(&self.out_types)
    }
    /// The simulator's integer lane width (32, 64 or 128 bits).
    #[getter]
    fn lane_bits(&self) -> u32 {
        self.sim.lane_bits()
    }
    /// The FPGA family whose delay model placed the registers.
    #[getter]
    fn target(&self) -> &'static str {
        self.design.options.target.name()
    }
    /// The build directory last written (by `write`, or a temporary one by `verify`/`synth`).
    #[getter]
    fn directory(&self) -> Option<PathBuf> {
        self.state.lock().unwrap().dir.clone()
    }
    /// The model this design was compiled from.
    #[getter]
    fn model(&self) -> Model {
        Model {
            graph: self.graph_for_model.clone(),
            source: self.model_source.clone(),
            bytes: self.model_bytes.clone(),
            model_file: self.model_file,
        }
    }

    /// Writes the build directory, exactly as `rtl4ml compile MODEL -o DIR` does (Verilog,
    /// report.json/.txt, manifest, the model file, vendor scripts; atomically). Returns `dir`.
    fn write(&self, py: Python<'_>, dir: PathBuf) -> PyResult<PathBuf> {
        py.detach(|| self.write_to(&dir))?;
        Ok(dir)
    }

    /// Builds the design in Verilator (and Icarus) and compares it bit for bit with the
    /// simulator, as `rtl4ml verify DIR`. Uses the directory from `write` (or writes a
    /// temporary one). Returns `{"vectors": N, "text": report}`; raises `VerificationError`
    /// on a mismatch and `ToolError` when Verilator is missing.
    #[pyo3(signature = (vectors=10_000, icarus=64, seed=1, lint=true))]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        vectors: usize,
        icarus: usize,
        seed: u64,
        lint: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let dir = self.build_dir()?;
        let r = py
            .detach(|| {
                let b = flow::read_dir(&dir)?;
                rtl4ml::verify::verify(
                    &b,
                    &rtl4ml::verify::VerifyOptions {
                        random: vectors,
                        icarus,
                        seed,
                        lint,
                    },
                )
            })
            .map_err(err)?;
        let d = PyDict::new(py);
        d.set_item("vectors", r.vectors)?;
        d.set_item("text", r.text)?;
        d.set_item("directory", dir)?;
        Ok(d)
    }

    /// Synthesises the design with Yosys (and places and routes it with nextpnr-ecp5 when
    /// `pnr="ecp5"`, on the LFE5U part `device` names: "25k", "45k" or "85k"), as `rtl4ml
    /// synth DIR`; the measured figures join `report`. Returns the updated report dict.
    #[pyo3(signature = (tool="yosys", pnr=None, target=None, device=None))]
    fn synth<'py>(
        &self,
        py: Python<'py>,
        tool: &str,
        pnr: Option<&str>,
        target: Option<&str>,
        device: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if device.is_some() && pnr.is_none() {
            return Err(UnsupportedError::new_err(
                "device: a part is chosen for place and route only; pass pnr=\"ecp5\" too",
            ));
        }
        let opts = rtl4ml::synth::SynthOptions {
            device: device.map(|d| choice("device", d)).transpose()?,
            tool: choice("tool", tool)?,
            pnr: pnr.map(|p| choice("pnr", p)).transpose()?,
            target: target.map(|t| choice("target", t)).transpose()?,
        };
        let dir = self.build_dir()?;
        let run = py
            .detach(|| rtl4ml::synth::synth(&dir, &opts))
            .map_err(err)?;
        self.state.lock().unwrap().report = run.report.clone();
        to_dict(py, &run.report)
    }

    /// The self-contained HTML report (summary, layer table, plots), as
    /// `rtl4ml report DIR --html`. Written to `path` when given; returned as a string.
    #[pyo3(signature = (path=None))]
    fn html(&self, path: Option<PathBuf>) -> PyResult<String> {
        let page = rtl4ml::report::html::render(
            &self.state.lock().unwrap().report,
            self.design.options.target.name(),
        );
        if let Some(p) = path {
            rtl4ml::safe_fs::write_atomic(&p, page.as_bytes())
                .map_err(|e| FileError::new_err(e.to_string()))?;
        }
        Ok(page)
    }

    fn __repr__(&self) -> String {
        let r = &self.design.report;
        format!(
            "<rtl4ml.Design {}: {} → {} elements, {} cycles at {} ns ({} ns), ~{} LUT, ~{} FF, {} DSP>",
            self.design.top,
            self.in_types.len(),
            self.out_types.len(),
            r.latency_cycles,
            r.clock_ns,
            r.latency_ns,
            r.resources.lut,
            r.resources.ff,
            r.resources.dsp
        )
    }
}

/// Compiles a model (see `rtl4ml.compile`).
#[pyfunction]
#[pyo3(signature = (model, clock_ns=None, latency_cycles=None, target="xilinx-ultrascale-plus", top=None, max_fanout=DEFAULT_MAX_FANOUT, dsp="never", share=true, sat_accum="chain", fastest_clock=false))]
#[allow(clippy::too_many_arguments)]
fn _compile(
    py: Python<'_>,
    model: &Model,
    clock_ns: Option<f64>,
    latency_cycles: Option<u32>,
    target: &str,
    top: Option<String>,
    max_fanout: u32,
    dsp: &str,
    share: bool,
    sat_accum: &str,
    fastest_clock: bool,
) -> PyResult<Design> {
    let opts = Options {
        clock_ns: clock_ns.unwrap_or(4.0),
        clock_choice: match (fastest_clock, clock_ns, latency_cycles) {
            (false, Some(_), _) => ClockChoice::Given,
            (false, None, _) => ClockChoice::PreferGiven,
            (true, None, Some(_)) => ClockChoice::Fastest,
            (true, ..) => {
                return Err(UnsupportedError::new_err(
                    "fastest_clock: needs latency_cycles and replaces clock_ns (as the CLI's \
                     --fastest-clock)",
                ))
            }
        },
        latency_cycles,
        target: choice::<Target>("target", target)?,
        top,
        lower: LowerOptions {
            share,
            dsp: choice::<DspPolicy>("dsp", dsp)?,
            sat_accum: choice::<rtl4ml::passes::lower::SatAccum>("sat_accum", sat_accum)?,
        },
        max_fanout,
        allow_slow_stages: false,
    };
    let graph = model.graph.clone();
    let design = py
        .detach(|| flow::compile(graph, &opts))
        .map_err(|e| py_err(e, Some(&format!("compiling {}", model.source))))?;
    let sim = Simulator::new(&design.net);
    let in_types = design.graph.input_types();
    let out_types: Vec<FixedType> = design.net.output_types();
    let report = design.report.clone();
    Ok(Design {
        graph_for_model: model.graph.clone(),
        design,
        sim,
        in_types,
        out_types,
        model_source: model.source.clone(),
        model_bytes: model.bytes.clone(),
        model_file: model.model_file,
        state: Mutex::new(State { report, dir: None }),
    })
}

// ---- optimize ---------------------------------------------------------------------------

/// The result of `rtl4ml.optimize`.
#[pyclass(module = "rtl4ml", frozen)]
struct Optimized {
    outcome: rtl4ml::optimize::Outcome,
    /// The optimised model.
    #[pyo3(get)]
    model: Py<Model>,
    /// Label accuracy (before, after) when labels were given.
    #[pyo3(get)]
    accuracy: Option<(f64, f64)>,
}

#[pymethods]
impl Optimized {
    /// The chosen design meets the tolerance and the latency budget (else it is the closest).
    #[getter]
    fn feasible(&self) -> bool {
        self.outcome.feasible
    }
    /// The summary `rtl4ml optimize` prints.
    #[getter]
    fn summary(&self) -> String {
        rtl4ml::optimize::report::summary(&self.outcome)
    }
    /// The whole Pareto report (`<stem>.pareto.json`'s content) as a dict.
    #[getter]
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?
            .call_method1("loads", (rtl4ml::optimize::report::to_json(&self.outcome),))
    }
    /// The explored points (label, LUT, FF, latency, error, on the Pareto front or not…): the
    /// report's `points`, one dict per design.
    #[getter]
    fn pareto<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.report(py)?.get_item("points")
    }
    /// The original design's figures (LUT, FF, latency, error).
    #[getter]
    fn before<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_dict(py, &self.outcome.before)
    }
    /// The optimised design's figures.
    #[getter]
    fn after<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_dict(py, &self.outcome.after)
    }
    /// Writes the Pareto report next to `path` (`<stem>.pareto.json`, `.csv`, `.svg`), as
    /// `rtl4ml optimize -o PATH` does; returns the three paths.
    fn write_reports(&self, path: PathBuf) -> PyResult<Vec<PathBuf>> {
        Ok(
            rtl4ml::optimize::report::write_reports(&self.outcome, &path)
                .map_err(err)?
                .to_vec(),
        )
    }
    fn __repr__(&self) -> String {
        let o = &self.outcome;
        format!(
            "<rtl4ml.Optimized {}: {} → {} LUT, {} → {} FF, {} → {} cycles, {} {}>",
            if o.feasible { "feasible" } else { "infeasible" },
            o.before.lut,
            o.after.lut,
            o.before.ff,
            o.after.ff,
            o.before.latency_cycles,
            o.after.latency_cycles,
            o.metric.name(),
            o.metric.show(o.after.error)
        )
    }
}

fn calib_mantissas(
    py: Python<'_>,
    calib: &Bound<'_, PyAny>,
    types: &[FixedType],
    raw: bool,
) -> PyResult<ndarray::Array2<i64>> {
    const C: &str = "optimize(calib)";
    let arr = as_ndarray(py, calib)?;
    let dt = arr.dtype();
    if raw && dt.kind() == b'f' {
        return Err(DataError::new_err(format!(
            "{C}: raw=True expects an integer array of mantissas, found {}",
            dt.str()?
        )));
    }
    macro_rules! go {
        ($($t:ty),*) => {$(
            if dt.is_equiv_to(&numpy::dtype::<$t>(py)) {
                let a = arr.cast::<PyArrayDyn<$t>>()?.readonly();
                let v = a.as_array();
                return if raw {
                    io::check_mantissas(v, types, C)
                } else {
                    io::cast_values(v, types, C)
                }
                .map_err(err);
            }
        )*};
    }
    go!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);
    Err(DataError::new_err(format!(
        "{C}: unsupported dtype {} (pass float32/float64 values, or integer mantissas with raw=True)",
        dt.str()?
    )))
}

/// Chooses fixed-point widths (see `rtl4ml.optimize`).
#[pyfunction]
#[pyo3(signature = (model, calib, labels=None, clock_ns=4.0, budget_ns=None, budget_cycles=None, tolerance="0.5%".to_string(), metric="argmax", target="xilinx-ultrascale-plus", keep_weights=false, lossless_only=false, observed_margin=None, raw=false, progress=false, retrain=None))]
#[allow(clippy::too_many_arguments)]
fn _optimize(
    py: Python<'_>,
    model: &Model,
    calib: &Bound<'_, PyAny>,
    labels: Option<Vec<i64>>,
    clock_ns: f64,
    budget_ns: Option<f64>,
    budget_cycles: Option<u32>,
    tolerance: String,
    metric: &str,
    target: &str,
    keep_weights: bool,
    lossless_only: bool,
    observed_margin: Option<f64>,
    raw: bool,
    progress: bool,
    retrain: Option<(f64, u32, f64, u32, u64, u32, String)>,
) -> PyResult<Optimized> {
    use rtl4ml::optimize::{self, metric::Tolerance, OptimizeOptions};
    let tolerance: Tolerance = tolerance
        .parse()
        .map_err(|e: String| UnsupportedError::new_err(format!("tolerance: {e}")))?;
    let metric = choice("metric", metric)?;
    let target = choice("target", target)?;
    if budget_ns.is_some() && budget_cycles.is_some() {
        return Err(UnsupportedError::new_err(
            "budget_ns and budget_cycles: give one latency budget, not both",
        ));
    }
    let budget_cycles = match budget_ns {
        Some(ns) => {
            let cycles = (ns / clock_ns + 1e-9).floor();
            if !(cycles >= 1.0 && clock_ns > 0.0) {
                return Err(UnsupportedError::new_err(format!(
                    "budget_ns {ns} is less than one {clock_ns} ns clock cycle"
                )));
            }
            Some(cycles as u32)
        }
        None => budget_cycles,
    };
    let g = &model.graph;
    let inputs = calib_mantissas(py, calib, &g.input_types(), raw)?;
    if let Some(l) = &labels {
        if l.len() != inputs.nrows() {
            return Err(DataError::new_err(format!(
                "optimize(labels): {} labels for {} calibration samples (expected one class index per sample)",
                l.len(),
                inputs.nrows()
            )));
        }
        if let Some((i, v)) = l.iter().enumerate().find(|(_, &v)| v < 0) {
            return Err(DataError::new_err(format!(
                "optimize(labels): label {i} is {v} (expected a class index, 0 or more)"
            )));
        }
    }
    let opts = OptimizeOptions {
        metric,
        tolerance,
        compile: Options {
            clock_ns,
            target,
            ..Default::default()
        },
        budget_cycles,
        weights: !keep_weights,
        lossless_only,
        observed_margin,
        progress,
    };
    // Retraining (`rtl4ml optimize --retrain`): (validation, epochs, lr, batch_size, seed,
    // rounds, step), checked and split as the command line does.
    let retraining = match (&retrain, &labels) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(UnsupportedError::new_err(
                "optimize(retrain=...): retraining trains against the true classes: give them with labels=",
            ))
        }
        (Some((validation, epochs, lr, batch, seed, rounds, step)), Some(l)) => {
            let frac = |t: Tolerance, what: &str| match t {
                Tolerance::Percent(p) => Ok(p / 100.0),
                Tolerance::Absolute(v) if (0.0..=1.0).contains(&v) => Ok(v),
                Tolerance::Absolute(v) => Err(UnsupportedError::new_err(format!(
                    "optimize(retrain=...): {what} {v}: a fraction of the samples, 0 to 1 (or a percentage)"
                ))),
            };
            let step: Tolerance = step
                .parse()
                .map_err(|e: String| UnsupportedError::new_err(format!("step: {e}")))?;
            let n = inputs.nrows();
            let k = (n as f64 * validation).round() as usize;
            if !(*validation > 0.0 && *validation < 1.0 && k >= 1 && k < n) {
                return Err(UnsupportedError::new_err(format!(
                    "optimize(retrain=...): validation {validation}: expected a fraction in (0, 1) that leaves samples on both sides ({n} calibration samples)"
                )));
            }
            if metric != optimize::metric::Metric::Argmax
                || !(lr.is_finite() && *lr > 0.0)
                || *epochs == 0
                || *batch == 0
            {
                return Err(UnsupportedError::new_err(
                    "optimize(retrain=...): needs metric 'argmax', a positive lr, epochs and batch_size",
                ));
            }
            let r = optimize::retrain::RetrainOptions {
                train: optimize::retrain::TrainOptions {
                    epochs: *epochs as usize,
                    lr: *lr,
                    batch: *batch as usize,
                    seed: *seed,
                    keep_digits: true,
                },
                rounds: *rounds as usize,
                step: frac(step, "step")?,
                tolerance: frac(tolerance, "tolerance")?,
            };
            Some((n - k, r, l.clone()))
        }
    };
    let context = format!("optimizing {}", model.source);
    let (outcome, accuracy) = py
        .detach(|| -> rtl4ml::Result<_> {
            let out = match &retraining {
                Some((split, r, l)) => {
                    let fit = inputs.slice(ndarray::s![..*split, ..]).to_owned();
                    let held = inputs.slice(ndarray::s![*split.., ..]).to_owned();
                    optimize::retrain::optimize(
                        g,
                        &fit,
                        &l[..*split],
                        &held,
                        &l[*split..],
                        &opts,
                        r,
                        &mut |_| {},
                    )?
                }
                None => optimize::optimize(g, inputs.clone(), &opts)?,
            };
            let accuracy = match &labels {
                Some(l) => {
                    let acc = |g: &LayerGraph| -> rtl4ml::Result<f64> {
                        let y = optimize::simulate(g, &inputs)?;
                        Ok(optimize::metric::label_accuracy(g, &y, l))
                    };
                    Some((acc(g)?, acc(&out.optimized)?))
                }
                None => None,
            };
            Ok((out, accuracy))
        })
        .map_err(|e| py_err(e, Some(&context)))?;
    let description = format!(
        "Fixed-point widths chosen by rtl4ml.optimize from {} ({} calibration samples, {} ≤ {}{}, {} ns clock): {} → {} LUT, {} → {} FF, {} → {} cycles.{}",
        model.source,
        outcome.samples,
        outcome.metric.name(),
        outcome.metric.show(outcome.limit),
        budget_cycles.map_or(String::new(), |b| format!(", ≤ {b} cycles")),
        clock_ns,
        outcome.before.lut,
        outcome.after.lut,
        outcome.before.ff,
        outcome.after.ff,
        outcome.before.latency_cycles,
        outcome.after.latency_cycles,
        observed_margin.map_or(String::new(), |m| format!(
            " Some integer bits come from the ranges observed on the calibration set \
             times {m}, saturating beyond them: not proved for other inputs."
        )),
    );
    let text = rtl4ml::frontend::native_write::write(&outcome.optimized, Some(&description));
    let name = format!("{}.opt.json", outcome.optimized.name);
    let m = parse(
        Path::new(&name),
        text.into_bytes(),
        format!("<rtl4ml.optimize of {}>", model.source),
    )?;
    Ok(Optimized {
        outcome,
        model: Py::new(py, m)?,
        accuracy,
    })
}

// ---- cost coefficients for training ----------------------------------------------------------

/// The resource model's per-bit coefficients (`rtl4ml::optimize::training`), measured by the
/// crate on probe designs of `bits`-bit operands: LUT per adder bit, per ReLU bit, FF per
/// registered bit, and the mean CSD digit count of a `b`-bit weight for b = 0..=32.
#[pyfunction]
#[pyo3(signature = (bits=16))]
fn _training_cost<'py>(py: Python<'py>, bits: u32) -> PyResult<Bound<'py, PyAny>> {
    if !(4..=48).contains(&bits) {
        return Err(UnsupportedError::new_err(format!(
            "training_cost: bits {bits} is outside 4..=48"
        )));
    }
    let c = py
        .detach(|| rtl4ml::optimize::training::training_cost(bits))
        .map_err(err)?;
    to_dict(py, &c)
}

/// Non-zero canonical signed digits of each integer mantissa (what the constant multiplier
/// builds: digits − 1 adders per weight).
#[pyfunction]
fn _csd_digits(mantissas: Vec<i64>) -> Vec<u32> {
    mantissas
        .into_iter()
        .map(rtl4ml::optimize::training::csd_digits)
        .collect()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("ToolError", py.get_type::<ToolError>())?;
    m.add("VerificationError", py.get_type::<VerificationError>())?;
    m.add("FileError", py.get_type::<FileError>())?;
    m.add_class::<Model>()?;
    m.add_class::<Design>()?;
    m.add_class::<Optimized>()?;
    m.add_function(wrap_pyfunction!(_load, m)?)?;
    m.add_function(wrap_pyfunction!(_load_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(_compile, m)?)?;
    m.add_function(wrap_pyfunction!(_optimize, m)?)?;
    m.add_function(wrap_pyfunction!(_training_cost, m)?)?;
    m.add_function(wrap_pyfunction!(_csd_digits, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULT_MAX_FANOUT", DEFAULT_MAX_FANOUT)?;
    Ok(())
}
