//! `.npy` headers (issue 14, class 8): the fuzz input is the header text of a version 1.0
//! file followed by a little data, so every execution reaches the header parser. Never a
//! panic or an abort; a header accepted declares exactly the data that follows, and a size
//! beyond the data is refused before anything is allocated.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtl4ml::sim::io;

fuzz_target!(|data: &[u8]| {
    // First byte: how many bytes of data follow the header (0–255); the rest: the header.
    let Some((&n, header)) = data.split_first() else {
        return;
    };
    let Ok(len) = u16::try_from(header.len()) else {
        return;
    };
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    file.extend_from_slice(&len.to_le_bytes());
    file.extend_from_slice(header);
    file.extend(std::iter::repeat_n(0x3fu8, n as usize));
    let parsed = io::parse_header(header);
    if let Ok(a) = io::parse_npy(&file, "fuzz.npy") {
        let h = parsed.expect("a file read has a header that parses");
        let count: u64 = h.shape.iter().product();
        let len = match &a {
            io::NpyData::Float(x) => x.len(),
            io::NpyData::Int(x) => x.len(),
        };
        assert_eq!(count, len as u64);
    }
});
