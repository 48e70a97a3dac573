//! QONNX loader: any bytes → load never panics (protobuf decoding, graph checks, quantizer
//! folding); a loaded model compiles or errors, and what compiles agrees with the reference.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = rtl4ml::frontend::qonnx::parse(data, "fuzz.onnx") {
        rtl4ml_fuzz::check_graph(&g, &rtl4ml::flow::Options::default(), 8, 1, &[]);
    }
});
