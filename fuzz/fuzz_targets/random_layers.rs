//! Structure-aware over the layer kinds beyond the core (convolution, pooling, merges, shape
//! ops, activations, tables, softmax, argmax): the input seeds the test suite's generator of
//! valid networks; the simulator must equal the layer-level reference bit for bit.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rtl4ml_fuzz::check_random_layers(data));
