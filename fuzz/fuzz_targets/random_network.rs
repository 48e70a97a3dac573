//! Structure-aware: the input bytes drive a generator of valid quantized networks (every
//! type, mode and layer kind); the simulator must equal the layer-level reference bit for bit.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rtl4ml_fuzz::check_random_network(data));
