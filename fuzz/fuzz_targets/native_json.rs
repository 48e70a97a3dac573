//! Native JSON loader: any bytes → load never panics; a loaded model compiles or errors, and
//! what compiles agrees with the layer-level reference.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        rtl4ml_fuzz::check_native_text(text);
    }
});
