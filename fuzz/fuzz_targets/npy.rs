//! `.npy` reader (the simulator's input): any bytes → an array or an error, never a panic or
//! an abort; the array is then converted to mantissas of a few input types.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtl4ml::ir::fixed::FixedType;
use rtl4ml::sim::io;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    // read_npy takes a path: one scratch file per fuzzing process.
    thread_local! {
        static PATH: std::path::PathBuf =
            std::env::temp_dir().join(format!("rtl4ml-fuzz-npy-{}.npy", std::process::id()));
    }
    PATH.with(|p| {
        std::fs::File::create(p).unwrap().write_all(data).unwrap();
        if let Ok(a) = io::read_npy(p) {
            for (n, ty) in [
                (1usize, "fixed<8,3,RND,SAT>"),
                (6, "ufixed<5,1>"),
                (16, "fixed<64,10,RND_CONV,WRAP>"),
            ] {
                let t: FixedType = ty.parse().unwrap();
                let a = match &a {
                    io::NpyData::Float(x) => io::NpyData::Float(x.clone()),
                    io::NpyData::Int(x) => io::NpyData::Int(x.clone()),
                };
                let _ = io::to_mantissas(a, &vec![t; n], "fuzz.npy", false);
            }
        }
    });
});
