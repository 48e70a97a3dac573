//! `.npy` input and output for the simulator.
//!
//! Float arrays are values: each is cast exactly to its input element's type with the type's
//! own rounding and overflow. Integer arrays are raw mantissas and must fit their types.

use crate::error::{Error, Result};
use crate::ir::fixed::{FixedType, Round};
use ndarray::ShapeBuilder;
use ndarray::{Array2, ArrayD, ArrayViewD, Axis};
use ndarray_npy::WriteNpyExt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// What a `.npy` file held.
pub enum NpyData {
    Float(ArrayD<f64>),
    Int(ArrayD<i64>),
}

/// Reads an `.npy` file (format versions 1–3; little- or big-endian float64, float32, int64,
/// int32, int16, int8, uint8, uint16, uint32; C or Fortran order). The header is parsed
/// once, strictly ([`parse_header`]), and the size it declares is checked against the file and
/// against [`crate::input::MAX_DATA_BYTES`] before anything is allocated: a device, an endless
/// stream or a few bytes claiming terabytes are refused.
pub fn read_npy(path: &Path) -> Result<NpyData> {
    open_npy(path)?.read_all()
}

/// [`read_npy`] on the bytes of a file (`file` names it in errors).
pub fn parse_npy(bytes: &[u8], file: &str) -> Result<NpyData> {
    decode_npy(bytes, Some(bytes.len() as u64), Path::new(file))
}

/// Longest `.npy` header read (numpy writes under 200 bytes and reads at most 10 000 by
/// default).
pub const MAX_NPY_HEADER: usize = 1 << 16;

/// An element type of an `.npy` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyType {
    F8,
    F4,
    I8,
    I4,
    I2,
    I1,
    U1,
    U2,
    U4,
}

impl NpyType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyType::F8 | NpyType::I8 => 8,
            NpyType::F4 | NpyType::I4 | NpyType::U4 => 4,
            NpyType::I2 | NpyType::U2 => 2,
            NpyType::I1 | NpyType::U1 => 1,
        }
    }
}

/// What an `.npy` header says: element type and byte order, layout and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    pub ty: NpyType,
    pub big_endian: bool,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
}

const SUPPORTED_DTYPES: &str =
    "float64, float32, int64, int32, int16, int8, uint8, uint16 or uint32 ('<f8', '<f4', '<i8', \
     '<i4', '<i2', '|i1', '|u1', '<u2', '<u4', or big-endian '>…')";

/// An `.npy` file whose header has been read and checked ([`NpyStream::open`]): the data
/// follows, `bytes` of it, read all at once ([`NpyStream::read_all`]) or a few rows at a time
/// ([`NpyStream::read_rows`]).
pub struct NpyStream<R: Read> {
    r: R,
    pub header: NpyHeader,
    /// Bytes of data the header declares (checked against the file's length when known).
    pub bytes: u64,
    /// Bytes of data read so far.
    read: u64,
    path: std::path::PathBuf,
}

/// Reads the header of an `.npy` file and returns the stream positioned at its data: see
/// [`read_npy`] for what is checked before anything is allocated.
pub fn open_npy(path: &Path) -> Result<NpyStream<std::io::BufReader<File>>> {
    let file = path.display().to_string();
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = f.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::Data {
            file,
            message: "is a directory, not a .npy file".into(),
        });
    }
    let len = meta.is_file().then_some(meta.len());
    NpyStream::open(std::io::BufReader::with_capacity(1 << 20, f), len, path)
}

impl<R: Read> NpyStream<R> {
    /// Reads and checks the header from `r` (`len`: the file's length, when known).
    pub fn open(mut r: R, len: Option<u64>, path: &Path) -> Result<NpyStream<R>> {
        let data_err = |message: String| Error::Data {
            file: path.display().to_string(),
            message,
        };
        let io_err = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                data_err("the file ends inside the .npy header (truncated or corrupt file)".into())
            } else {
                Error::io(path, e)
            }
        };
        let mut magic = [0u8; 8];
        let got = read_up_to(&mut r, &mut magic).map_err(io_err)?;
        if got < 8 || &magic[..6] != b"\x93NUMPY" {
            return Err(data_err(
                "not a readable .npy file: it does not start with the .npy magic `\\x93NUMPY` (save \
                 arrays with numpy.save)"
                    .into(),
            ));
        }
        let (hlen, prefix) = match magic[6] {
            1 => {
                let mut b = [0u8; 2];
                r.read_exact(&mut b).map_err(io_err)?;
                (u64::from(u16::from_le_bytes(b)), 10u64)
            }
            2 | 3 => {
                let mut b = [0u8; 4];
                r.read_exact(&mut b).map_err(io_err)?;
                (u64::from(u32::from_le_bytes(b)), 12u64)
            }
            v => {
                return Err(data_err(format!(
                    ".npy format version {v}.{} is not supported (expected 1.0, 2.0 or 3.0)",
                    magic[7]
                )))
            }
        };
        // Nothing is allocated for the header before its length is known to be sane.
        if let Some(len) = len {
            if prefix + hlen > len {
                return Err(data_err(format!(
                    "the .npy header claims {hlen} bytes but the file holds only {} (truncated or corrupt file)",
                    len.saturating_sub(prefix)
                )));
            }
        }
        if hlen > MAX_NPY_HEADER as u64 {
            return Err(data_err(format!(
                "the .npy header claims {hlen} bytes; at most {MAX_NPY_HEADER} are allowed (a corrupt file?)"
            )));
        }
        let mut header = vec![0u8; hlen as usize];
        r.read_exact(&mut header).map_err(io_err)?;
        let h = parse_header(&header)
            .map_err(|e| data_err(format!("not a readable .npy file: header: {e}")))?;
        let count = h
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= usize::MAX as u64);
        let bytes = count.and_then(|n| n.checked_mul(h.ty.size() as u64));
        let shape_text = show_shape(&h.shape);
        let Some(bytes) = bytes.filter(|&b| b <= crate::input::MAX_DATA_BYTES) else {
            return Err(data_err(format!(
                "the .npy header declares shape {shape_text} of {}-byte elements: more than the {} bytes ({} MiB) a data file may hold",
                h.ty.size(),
                crate::input::MAX_DATA_BYTES,
                crate::input::MAX_DATA_BYTES >> 20
            )));
        };
        if let Some(len) = len {
            let data = len - prefix - hlen;
            if data != bytes {
                let what = if data < bytes {
                    "truncated or corrupt file"
                } else {
                    "extra bytes after the array: a corrupt file?"
                };
                return Err(data_err(format!(
                    "the .npy header declares shape {shape_text} of {}-byte elements ({bytes} bytes of data) but the file holds {data} bytes of data ({what})",
                    h.ty.size()
                )));
            }
        }
        Ok(NpyStream {
            r,
            header: h,
            bytes,
            read: 0,
            path: path.to_path_buf(),
        })
    }

    fn data_err(&self, message: String) -> Error {
        Error::Data {
            file: self.path.display().to_string(),
            message,
        }
    }

    fn shape_text(&self) -> String {
        show_shape(&self.header.shape)
    }

    /// Reads the next `buf.len()` bytes of data (whole elements); a stream that ends early is
    /// an error naming the shape.
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<()> {
        let got = read_up_to(&mut self.r, buf).map_err(|e| Error::io(&self.path, e))?;
        self.read += got as u64;
        if got < buf.len() {
            return Err(self.data_err(format!(
                "the .npy header declares shape {} ({} bytes of data) but the file holds {} bytes of data (truncated or corrupt file)",
                self.shape_text(),
                self.bytes,
                self.read
            )));
        }
        Ok(())
    }

    /// After the last byte of data: the file must end there.
    pub fn finish(&mut self) -> Result<()> {
        let mut extra = [0u8; 1];
        let more = read_up_to(&mut self.r, &mut extra).map_err(|e| Error::io(&self.path, e))?;
        if self.read != self.bytes || more != 0 {
            return Err(self.data_err(format!(
                "the .npy header declares shape {} ({} bytes of data) but the file {} (truncated or corrupt file)",
                self.shape_text(),
                self.bytes,
                if more != 0 {
                    "holds more".to_string()
                } else {
                    format!("holds {} bytes of data", self.read)
                }
            )));
        }
        Ok(())
    }

    /// The whole array.
    pub fn read_all(mut self) -> Result<NpyData> {
        // Read as the bytes arrive (a pipe may hold fewer than declared), then check the end.
        let mut raw = Vec::new();
        (&mut self.r)
            .take(self.bytes)
            .read_to_end(&mut raw)
            .map_err(|e| Error::io(&self.path, e))?;
        self.read = raw.len() as u64;
        self.finish()?;
        let h = &self.header;
        let shape: Vec<usize> = h.shape.iter().map(|&d| d as usize).collect();
        let dim = if h.fortran_order {
            ndarray::IxDyn(&shape).f()
        } else {
            ndarray::IxDyn(&shape).into()
        };
        let float = |v: Vec<f64>| {
            ArrayD::from_shape_vec(dim.clone(), v)
                .map(NpyData::Float)
                .expect("the data length matches the shape")
        };
        let int = |v: Vec<i64>| {
            ArrayD::from_shape_vec(dim.clone(), v)
                .map(NpyData::Int)
                .expect("the data length matches the shape")
        };
        let (ty, be) = (h.ty, h.big_endian);
        Ok(match ty {
            NpyType::F8 | NpyType::F4 => {
                float(decode_elements(&raw, ty, be, |v| v.as_f64()).collect())
            }
            _ => int(decode_elements(&raw, ty, be, |v| v.as_i64()).collect()),
        })
    }
}

/// One decoded `.npy` element.
#[derive(Clone, Copy, Debug)]
pub enum NpyValue {
    Float(f64),
    Int(i64),
}

impl NpyValue {
    fn as_f64(self) -> f64 {
        match self {
            NpyValue::Float(x) => x,
            NpyValue::Int(i) => i as f64,
        }
    }
    fn as_i64(self) -> i64 {
        match self {
            NpyValue::Int(i) => i,
            NpyValue::Float(x) => x as i64,
        }
    }
}

/// The elements of raw `.npy` data of type `ty` (byte order `big_endian`), mapped by `f`.
pub fn decode_elements<'a, X>(
    raw: &'a [u8],
    ty: NpyType,
    big_endian: bool,
    f: impl Fn(NpyValue) -> X + 'a,
) -> impl Iterator<Item = X> + 'a {
    macro_rules! get {
        ($t:ty, $c:expr) => {{
            let b = $c.try_into().expect("element size");
            if big_endian {
                <$t>::from_be_bytes(b)
            } else {
                <$t>::from_le_bytes(b)
            }
        }};
    }
    raw.chunks_exact(ty.size()).map(move |c| {
        f(match ty {
            NpyType::F8 => NpyValue::Float(get!(f64, c)),
            NpyType::F4 => NpyValue::Float(f64::from(get!(f32, c))),
            NpyType::I8 => NpyValue::Int(get!(i64, c)),
            NpyType::I4 => NpyValue::Int(i64::from(get!(i32, c))),
            NpyType::I2 => NpyValue::Int(i64::from(get!(i16, c))),
            NpyType::I1 => NpyValue::Int(i64::from(get!(i8, c))),
            NpyType::U1 => NpyValue::Int(i64::from(get!(u8, c))),
            NpyType::U2 => NpyValue::Int(i64::from(get!(u16, c))),
            NpyType::U4 => NpyValue::Int(i64::from(get!(u32, c))),
        })
    })
}

fn decode_npy(r: impl Read, len: Option<u64>, path: &Path) -> Result<NpyData> {
    NpyStream::open(r, len, path)?.read_all()
}

/// Reads into `buf` until it is full or the stream ends; the number of bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A shape as Python writes it: `(3,)`, `(2, 4)`, `()`.
fn show_shape(shape: &[u64]) -> String {
    match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Parses an `.npy` header: the Python literal of a dict with exactly the keys `descr` (a
/// string naming a supported element type), `fortran_order` (`True`/`False`) and `shape` (a
/// tuple of decimal integers), each once, followed by spaces and a newline; ASCII only.
/// Anything else (other keys, repeated keys, hexadecimal or `1_000` digits, nested values) is
/// an error saying what was found where.
pub fn parse_header(text: &[u8]) -> std::result::Result<NpyHeader, String> {
    if let Some(k) = text.iter().position(|b| !b.is_ascii()) {
        return Err(format!("byte {k} is not ASCII"));
    }
    let mut p = HeaderParser { s: text, k: 0 };
    p.expect(b'{', "`{` opening the header dict")?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let at = p.k;
        let key = p
            .string()
            .map_err(|e| format!("{e} (expected a key: 'descr', 'fortran_order' or 'shape')"))?;
        p.ws();
        p.expect(b':', "`:` after the key")?;
        p.ws();
        let slot_taken = match key.as_str() {
            "descr" => descr.is_some(),
            "fortran_order" => fortran.is_some(),
            "shape" => shape.is_some(),
            other => {
                return Err(format!(
                    "unexpected key {other:?} at byte {at} (expected exactly 'descr', 'fortran_order' and 'shape')"
                ))
            }
        };
        if slot_taken {
            return Err(format!(
                "key '{key}' appears twice (at byte {at}); each key must appear once"
            ));
        }
        match key.as_str() {
            "descr" => descr = Some(p.string().map_err(|e| format!("'descr': {e}"))?),
            "fortran_order" => fortran = Some(p.boolean()?),
            _ => shape = Some(p.tuple()?),
        }
        p.ws();
        if p.eat(b',') {
            continue;
        }
        p.expect(b'}', "`,` or `}` after a value")?;
        break;
    }
    while p.k < p.s.len() && matches!(p.s[p.k], b' ' | b'\n' | b'\r' | b'\t' | 0) {
        p.k += 1;
    }
    if p.k != p.s.len() {
        return Err(format!(
            "unexpected text after the header dict at byte {}",
            p.k
        ));
    }
    let descr = descr.ok_or("the key 'descr' is missing")?;
    let fortran_order = fortran.ok_or("the key 'fortran_order' is missing")?;
    let shape = shape.ok_or("the key 'shape' is missing")?;
    let (order, code) = match descr.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => (descr.as_bytes()[0], &descr[1..]),
        _ => (b'=', descr.as_str()),
    };
    let ty = match code {
        "f8" => NpyType::F8,
        "f4" => NpyType::F4,
        "i8" => NpyType::I8,
        "i4" => NpyType::I4,
        "i2" => NpyType::I2,
        "i1" | "b" => NpyType::I1,
        "u1" | "B" => NpyType::U1,
        "u2" => NpyType::U2,
        "u4" => NpyType::U4,
        _ => {
            return Err(format!(
                "element type {descr:?} is not supported (expected {SUPPORTED_DTYPES})"
            ))
        }
    };
    let big_endian = order == b'>' && ty.size() > 1;
    if order == b'|' && ty.size() > 1 {
        return Err(format!(
            "element type {descr:?} has no byte order (expected '<' or '>' for multi-byte types)"
        ));
    }
    Ok(NpyHeader {
        ty,
        big_endian,
        fortran_order,
        shape,
    })
}

struct HeaderParser<'a> {
    s: &'a [u8],
    k: usize,
}

impl HeaderParser<'_> {
    fn ws(&mut self) {
        while self.k < self.s.len() && matches!(self.s[self.k], b' ' | b'\t' | b'\n' | b'\r') {
            self.k += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.k) == Some(&c) {
            self.k += 1;
            true
        } else {
            false
        }
    }
    fn found(&self) -> String {
        match self.s.get(self.k) {
            None => "the end of the header".into(),
            Some(&c) if c.is_ascii_graphic() => format!("`{}` at byte {}", c as char, self.k),
            Some(&c) => format!("byte 0x{c:02x} at byte {}", self.k),
        }
    }
    fn expect(&mut self, c: u8, what: &str) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {what}, found {}", self.found()))
        }
    }
    /// A quoted string without escapes.
    fn string(&mut self) -> std::result::Result<String, String> {
        let q = match self.s.get(self.k) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string, found {}", self.found())),
        };
        let start = self.k + 1;
        let Some(len) = self.s[start..].iter().position(|&c| c == q) else {
            return Err(format!("the string at byte {} is not closed", self.k));
        };
        let body = &self.s[start..start + len];
        if let Some(c) = body.iter().find(|&&c| c == b'\\' || c < b' ') {
            return Err(format!(
                "the string at byte {} holds {:?}, which a .npy header never does",
                self.k, *c as char
            ));
        }
        self.k = start + len + 1;
        Ok(String::from_utf8(body.to_vec()).expect("ASCII"))
    }
    fn boolean(&mut self) -> std::result::Result<bool, String> {
        for (word, v) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.s[self.k..].starts_with(word) {
                self.k += word.len();
                return Ok(v);
            }
        }
        Err(format!(
            "'fortran_order' must be True or False, found {}",
            self.found()
        ))
    }
    /// `(d, …)` of decimal integers: `()`, `(3,)`, `(2, 3)`, `(2, 3,)`.
    fn tuple(&mut self) -> std::result::Result<Vec<u64>, String> {
        if !self.eat(b'(') {
            return Err(format!(
                "'shape' must be a tuple such as (2, 3), found {}",
                self.found()
            ));
        }
        let mut dims = vec![];
        let mut comma = false;
        loop {
            self.ws();
            if self.eat(b')') {
                break;
            }
            if !dims.is_empty() && !comma {
                return Err(format!(
                    "'shape': expected `,` or `)`, found {}",
                    self.found()
                ));
            }
            dims.push(self.decimal()?);
            self.ws();
            comma = self.eat(b',');
        }
        if dims.len() == 1 && !comma {
            return Err("'shape' (d) is a number, not a tuple; a 1-d shape is written (d,)".into());
        }
        Ok(dims)
    }
    /// A decimal integer: digits only, no sign, separator, base prefix or leading zero.
    fn decimal(&mut self) -> std::result::Result<u64, String> {
        let start = self.k;
        while self.k < self.s.len() && self.s[self.k].is_ascii_digit() {
            self.k += 1;
        }
        let digits = &self.s[start..self.k];
        let next_is_word = self
            .s
            .get(self.k)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.');
        if digits.is_empty() || next_is_word || (digits.len() > 1 && digits[0] == b'0') {
            let end = start
                + self.s[start..]
                    .iter()
                    .position(|c| {
                        !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'+' | b'-'))
                    })
                    .unwrap_or(self.s.len() - start);
            if end == start {
                self.k = start;
                return Err(format!(
                    "'shape': expected a dimension (a decimal integer), found {}",
                    self.found()
                ));
            }
            return Err(format!(
                "'shape': the dimension `{}` at byte {start} is not a plain decimal integer \
                 (digits only: no sign, base prefix, `_` separator, leading zero or fraction)",
                String::from_utf8_lossy(&self.s[start..end])
            ));
        }
        std::str::from_utf8(digits)
            .expect("ASCII")
            .parse::<u64>()
            .map_err(|_| {
                format!(
                    "'shape': the dimension {} at byte {start} is too large",
                    String::from_utf8_lossy(digits)
                )
            })
    }
}

/// Turns an array of shape `[N, ...]` (or a single sample of exactly the input size) into
/// `[N, elements]` input mantissas.
pub fn to_mantissas(
    data: NpyData,
    types: &[FixedType],
    file: &str,
    raw_only: bool,
) -> Result<Array2<i64>> {
    match data {
        NpyData::Float(a) => {
            if raw_only {
                // The shape is checked first, as for integer arrays.
                batch_rows(a.shape(), types.len(), file)?;
                return Err(Error::Data {
                    file: file.into(),
                    message: "--raw expects an integer array of mantissas, found floats".into(),
                });
            }
            cast_values(a.view(), types, file)
        }
        NpyData::Int(a) => check_mantissas(a.view(), types, file),
    }
}

/// The number of samples in a batch of shape `shape` holding samples of `n_el` input
/// elements: `[N, n_el]`, `[N, <input shape>]`, or one sample of exactly `n_el` elements.
pub fn batch_rows(shape: &[usize], n_el: usize, file: &str) -> Result<usize> {
    let total: usize = shape.iter().product();
    let per_sample: usize = shape.iter().skip(1).product();
    if shape.len() >= 2 && per_sample == n_el {
        Ok(shape[0])
    } else if total == n_el {
        Ok(1)
    } else {
        Err(Error::Data {
            file: file.into(),
            message: format!("shape {shape:?} does not hold samples of {n_el} input elements (expected [N, {n_el}] or [N, <input shape>])"),
        })
    }
}

/// An element type of input values ([`cast_values`]): floats and integers, each cast exactly.
pub trait InputValue: Copy + std::fmt::Display {
    /// The exact cast of this value into `c`'s type (its rounding and overflow).
    fn cast_to(self, c: &Cast) -> std::result::Result<i128, String>;
    /// [`InputValue::cast_to`] where it is quick and in range ([`Cast::fast`]), else `None`.
    #[inline(always)]
    fn cast_fast(self, _c: &Cast) -> Option<i64> {
        None
    }
    /// As a mantissa unchanged (`None` when it is not an integer).
    fn as_mantissa(self) -> Option<i128>;
    /// A float type, whose values the row kernel ([`cast_float_rows`]) takes.
    const IS_FLOAT: bool = false;
    /// The value as f64 (exact for the float types; the row kernel only asks them).
    fn to_f64(self) -> f64;
}

macro_rules! float_input {
    ($($t:ty),*) => {$(
        impl InputValue for $t {
            fn cast_to(self, c: &Cast) -> std::result::Result<i128, String> {
                c.cast_f64(f64::from(self))
            }
            #[inline(always)]
            fn cast_fast(self, c: &Cast) -> Option<i64> {
                c.fast(f64::from(self))
            }
            fn as_mantissa(self) -> Option<i128> {
                None
            }
            const IS_FLOAT: bool = true;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
        }
    )*};
}
macro_rules! int_input {
    ($($t:ty),*) => {$(
        impl InputValue for $t {
            fn cast_to(self, c: &Cast) -> std::result::Result<i128, String> {
                Ok(c.ty.cast(i128::from(self), 0))
            }
            fn as_mantissa(self) -> Option<i128> {
                Some(i128::from(self))
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
float_input!(f64, f32);
int_input!(i64, i32, i16, i8, u64, u32, u16, u8);

/// Casts into one fixed-point type, prepared once for a batch: [`FixedType::cast_f64`] with a
/// fast path for the common case, equal to it on every input.
#[derive(Clone, Copy, Debug)]
pub struct Cast {
    pub ty: FixedType,
    /// `2^frac` (exact), when `frac` is small enough for the fast path.
    scale: Option<f64>,
    /// The type's mantissa range, clamped to i64.
    min: i64,
    max: i64,
}

impl Cast {
    pub fn new(ty: FixedType) -> Cast {
        let f = ty.frac();
        Cast {
            ty,
            scale: (-1000..=1000)
                .contains(&f)
                .then(|| f64::from_bits(((f + 1023) as u64) << 52)),
            min: ty.cast_min().clamp(i64::MIN.into(), i64::MAX.into()) as i64,
            max: ty.max_mantissa().clamp(i64::MIN.into(), i64::MAX.into()) as i64,
        }
    }

    /// `ty.cast_f64(x)`. Fast path: when `s = x·2^frac` is a normal float below 2^52, the
    /// product, its floor and the fraction `s − ⌊s⌋` are exact, and the rounding is decided
    /// from them as [`crate::ir::fixed::round_shift`] decides it; a result inside the type's
    /// range is the mantissa, anything else goes through [`FixedType::apply_overflow`].
    /// Other inputs (huge, tiny, NaN, inf) take the general path. Equal to
    /// [`FixedType::cast_f64`] on every input (tested).
    #[inline]
    pub fn cast_f64(&self, x: f64) -> std::result::Result<i128, String> {
        match self.rounded(x) {
            Some(q) => Ok(self.fit(q)),
            None => self.ty.cast_f64(x),
        }
    }

    /// The fast path of [`Cast::cast_f64`] alone: the mantissa when `x` takes it and lands
    /// inside the type's range, else `None` (then [`Cast::cast_f64`] decides, and says why
    /// a value is refused).
    #[inline(always)]
    pub fn fast(&self, x: f64) -> Option<i64> {
        self.rounded(x)
            .filter(|q| (self.min..=self.max).contains(q))
    }

    /// `x` rounded onto the type's grid with its rounding mode, before overflow, when
    /// `s = x·2^frac` is a normal float below 2^52 (or zero); `None` otherwise.
    #[inline(always)]
    fn rounded(&self, x: f64) -> Option<i64> {
        let s = x * self.scale?;
        if !((s.is_normal() || x == 0.0) && s.abs() < 4_503_599_627_370_496.0) {
            return None;
        }
        // ⌊s⌋ without a libm call: truncate, then step down for negative fractions.
        let t = s as i64;
        let q = t - ((t as f64) > s) as i64;
        let rem = s - q as f64;
        let inc = rem != 0.0 && steps_up(self.ty.round, rem, s < 0.0, q & 1 == 1);
        Some(q + inc as i64)
    }

    /// A rounded mantissa with the type's overflow applied.
    #[inline]
    fn fit(&self, q: i64) -> i128 {
        if (self.min..=self.max).contains(&q) {
            i128::from(q)
        } else {
            self.ty.apply_overflow(i128::from(q))
        }
    }
}

/// Whether `⌊s⌋ = q` steps up to `q + 1` under `mode`, given the fraction `rem = s − ⌊s⌋ ≠ 0`,
/// the sign of `s` and the parity of `q` (the rule [`crate::ir::fixed::round_shift`] applies to
/// dropped bits). Written without short-circuits so that a loop of it with `mode` known at
/// compile time has no branches.
#[inline(always)]
pub(crate) fn steps_up(mode: Round, rem: f64, neg: bool, odd: bool) -> bool {
    let tie = rem == 0.5;
    match mode {
        Round::Trn => false,
        Round::TrnZero => neg,
        Round::Rnd => rem >= 0.5,
        Round::RndZero => (rem > 0.5) | (tie & neg),
        Round::RndMinInf => rem > 0.5,
        Round::RndInf => (rem > 0.5) | (tie & !neg),
        Round::RndConv => (rem > 0.5) | (tie & odd),
        Round::Ceil => true,
        Round::Up => !neg,
    }
}

/// One input element's cast for the branch-free row kernel ([`Lane::cast`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lane {
    /// `2^frac`, or NaN when the type has no fast path (every value then leaves the kernel).
    scale: f64,
    /// The type's mantissa range as f64 (exact: mantissas here are below 2^31).
    min: f64,
    max: f64,
}

impl Lane {
    pub(crate) fn new(c: &Cast) -> Lane {
        Lane {
            scale: c.scale.unwrap_or(f64::NAN),
            min: c.min as f64,
            max: c.max as f64,
        }
    }

    /// [`Cast::fast`] for `|x·2^frac| < 2^31` without branches, with the rounding `mode`
    /// (the same for the whole row, known at compile time after inlining): the mantissa and
    /// whether it is the cast's; when it is not (out of range, huge, tiny, NaN), the caller
    /// takes [`Cast::fast`] and the exact path for the row. Below 2^31 the truncation to i32
    /// is exact wherever [`Cast::rounded`]'s truncation to i64 is, so both agree.
    #[inline(always)]
    pub(crate) fn cast(&self, x: f64, mode: Round) -> (i64, bool) {
        let s = x * self.scale;
        let a = s.abs();
        let ok = (a < 2_147_483_648.0) & ((a >= f64::MIN_POSITIVE) | (x == 0.0));
        let s = if ok { s } else { 0.0 };
        // SAFETY: |s| < 2^31 here (NaN and everything larger were replaced by 0).
        let t: i32 = unsafe { s.to_int_unchecked() };
        let q = t - (f64::from(t) > s) as i32;
        let rem = s - f64::from(q);
        let up = (rem != 0.0) & steps_up(mode, rem, s < 0.0, q & 1 == 1);
        let m = f64::from(q) + f64::from(u8::from(up));
        (
            i64::from(q) + i64::from(up),
            ok & (m >= self.min) & (m <= self.max),
        )
    }
}

/// The rounding modes in declaration order: `ROUNDS[mode as usize] == mode` (tested), so that a
/// mode can be a const generic parameter of [`float_rows`].
pub(crate) const ROUNDS: [Round; 9] = [
    Round::Trn,
    Round::TrnZero,
    Round::Rnd,
    Round::RndZero,
    Round::RndMinInf,
    Round::RndInf,
    Round::RndConv,
    Round::Ceil,
    Round::Up,
];

/// Casts rows of float values `xs` (row-major, `casts.len()` per row) into mantissas `out`,
/// when every element's type has the same rounding mode (the common case): whole rows through
/// the branch-free kernel [`Lane::cast`], specialised for the mode; a row with any element off
/// the kernel's path goes through `redo(row, mantissas)` (the exact path, which also names a
/// bad value), in row order. `None` when the kernel does not apply (integers, mixed modes):
/// then the caller casts element by element.
#[inline(always)]
pub(crate) fn cast_float_rows<T: InputValue>(
    casts: &[Cast],
    xs: &[T],
    out: &mut [i64],
    redo: impl FnMut(usize, &mut [i64]) -> Result<()>,
) -> Option<Result<()>> {
    let mode = casts.first()?.ty.round;
    if !T::IS_FLOAT || !casts.iter().all(|c| c.ty.round == mode) {
        return None;
    }
    let lanes: Vec<Lane> = casts.iter().map(Lane::new).collect();
    macro_rules! by_mode {
        ($($m:literal)*) => {
            match mode as u8 {
                $($m => float_rows::<T, $m>(&lanes, xs, out, redo),)*
                _ => unreachable!("{mode:?} is not in ROUNDS"),
            }
        };
    }
    Some(by_mode!(0 1 2 3 4 5 6 7 8))
}

/// [`cast_float_rows`] for the rounding mode `ROUNDS[M]`, compiled for AVX2 where the CPU
/// has it (four float64 lanes, where the x86-64 baseline has two).
#[inline(never)]
fn float_rows<T: InputValue, const M: u8>(
    lanes: &[Lane],
    xs: &[T],
    out: &mut [i64],
    redo: impl FnMut(usize, &mut [i64]) -> Result<()>,
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { float_rows_avx2::<T, M>(lanes, xs, out, redo) };
    }
    float_rows_body::<T, M>(lanes, xs, out, redo)
}

/// [`float_rows_body`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn float_rows_avx2<T: InputValue, const M: u8>(
    lanes: &[Lane],
    xs: &[T],
    out: &mut [i64],
    redo: impl FnMut(usize, &mut [i64]) -> Result<()>,
) -> Result<()> {
    float_rows_body::<T, M>(lanes, xs, out, redo)
}

#[inline(always)]
fn float_rows_body<T: InputValue, const M: u8>(
    lanes: &[Lane],
    xs: &[T],
    out: &mut [i64],
    mut redo: impl FnMut(usize, &mut [i64]) -> Result<()>,
) -> Result<()> {
    let mode = ROUNDS[M as usize];
    let n_el = lanes.len();
    for (r, (xs, os)) in xs
        .chunks_exact(n_el)
        .zip(out.chunks_exact_mut(n_el))
        .enumerate()
    {
        let mut ok = true;
        for ((&x, o), lane) in xs.iter().zip(os.iter_mut()).zip(lanes) {
            let (m, fits) = lane.cast(x.to_f64(), mode);
            *o = m;
            ok &= fits;
        }
        if !ok {
            redo(r, os)?;
        }
    }
    Ok(())
}

/// Walks the batch in logical (row-major) order whatever its memory layout (Fortran-order
/// files, strided or reversed views), giving each element's sample, input element and value.
fn for_each_element<T: InputValue>(
    a: &ArrayViewD<T>,
    types: &[FixedType],
    file: &str,
    first_row: usize,
    mut f: impl FnMut(usize, usize, T) -> Result<i64>,
) -> Result<Array2<i64>> {
    let n_el = types.len();
    let rows = batch_rows(a.shape(), n_el, file)?;
    let mut out = vec![0i64; rows * n_el];
    if n_el > 0 {
        match a.as_slice() {
            Some(s) => {
                for (r, (xs, os)) in s
                    .chunks_exact(n_el)
                    .zip(out.chunks_exact_mut(n_el))
                    .enumerate()
                {
                    for (c, (&x, o)) in xs.iter().zip(os.iter_mut()).enumerate() {
                        *o = f(first_row + r, c, x)?;
                    }
                }
            }
            None => {
                for (k, (&x, o)) in a.iter().zip(out.iter_mut()).enumerate() {
                    *o = f(first_row + k / n_el, k % n_el, x)?;
                }
            }
        }
    }
    Ok(Array2::from_shape_vec((rows, n_el), out).expect("rows × elements"))
}

/// Input values (floats, or integers taken as values) of a batch `[N, ...]` → `[N, elements]`
/// mantissas, each cast exactly to its input element's type with the type's own rounding and
/// overflow (what `rtl4ml sim` does with a float `.npy`). `file` names the data in errors.
pub fn cast_values<T: InputValue>(
    a: ArrayViewD<T>,
    types: &[FixedType],
    file: &str,
) -> Result<Array2<i64>> {
    cast_values_at(a, types, file, 0)
}

/// [`cast_values`] of a slice of a larger batch that starts at sample `first_row` (errors
/// name samples by their place in the whole batch).
pub fn cast_values_at<T: InputValue>(
    a: ArrayViewD<T>,
    types: &[FixedType],
    file: &str,
    first_row: usize,
) -> Result<Array2<i64>> {
    let casts: Vec<Cast> = types.iter().map(|&t| Cast::new(t)).collect();
    let n_el = types.len();
    if let (Some(s), true) = (a.as_slice(), n_el > 0) {
        let rows = batch_rows(a.shape(), n_el, file)?;
        let mut out = vec![0i64; rows * n_el];
        let redo = |r: usize, os: &mut [i64]| {
            for (c, (o, cast)) in os.iter_mut().zip(&casts).enumerate() {
                *o = value_mantissa(s[r * n_el + c], cast, file, first_row + r, c)?;
            }
            Ok(())
        };
        if let Some(done) = cast_float_rows(&casts, s, &mut out, redo) {
            done?;
            return Ok(Array2::from_shape_vec((rows, n_el), out).expect("rows × elements"));
        }
    }
    for_each_element(&a, types, file, first_row, |r, c, x| {
        value_mantissa(x, &casts[c], file, r, c)
    })
}

/// The input value `x` of sample `r`, element `c` cast exactly into `cast`'s type: its
/// mantissa, or an error naming the file, the sample and the element.
#[inline]
pub fn value_mantissa<T: InputValue>(
    x: T,
    cast: &Cast,
    file: &str,
    r: usize,
    c: usize,
) -> Result<i64> {
    if let Some(m) = x.cast_fast(cast) {
        return Ok(m);
    }
    let m = x.cast_to(cast).map_err(|e| Error::Data {
        file: file.into(),
        message: format!("sample {r}, element {c}: {e}"),
    })?;
    i64::try_from(m).map_err(|_| Error::Data {
        file: file.into(),
        message: format!(
            "sample {r}, element {c}: the value {x} becomes mantissa {m} of {}, which is 2^63 or more; the simulator passes mantissas as int64 and cannot take it",
            cast.ty
        ),
    })
}

/// The raw mantissa `x` of sample `r`, element `c`, checked against the input type `ty`.
#[inline]
pub fn raw_mantissa<T: InputValue>(
    x: T,
    ty: &FixedType,
    file: &str,
    r: usize,
    c: usize,
) -> Result<i64> {
    match x.as_mantissa() {
        Some(m) if ty.contains(m) => i64::try_from(m).ok(),
        _ => None,
    }
    .ok_or_else(|| Error::Data {
        file: file.into(),
        message: format!(
            "sample {r}, element {c}: mantissa {x} does not fit the input type {ty} (integer arrays are raw mantissas; pass floats to have values cast)"
        ),
    })
}

/// Raw integer mantissas of a batch `[N, ...]` → `[N, elements]`, each checked against its
/// input element's type (what `rtl4ml sim` does with an integer `.npy`).
pub fn check_mantissas<T: InputValue>(
    a: ArrayViewD<T>,
    types: &[FixedType],
    file: &str,
) -> Result<Array2<i64>> {
    check_mantissas_at(a, types, file, 0)
}

/// [`check_mantissas`] of a slice of a larger batch that starts at sample `first_row`.
pub fn check_mantissas_at<T: InputValue>(
    a: ArrayViewD<T>,
    types: &[FixedType],
    file: &str,
    first_row: usize,
) -> Result<Array2<i64>> {
    for_each_element(&a, types, file, first_row, |r, c, x| {
        raw_mantissa(x, &types[c], file, r, c)
    })
}

/// Converts output mantissas to real values (exact for types up to 53 bits). An int64 holding
/// a 64-bit unsigned mantissa of 2^63 or more holds its bit pattern, and is read as such.
pub fn to_values(m: &Array2<i64>, types: &[FixedType]) -> Array2<f64> {
    let mut v = Array2::<f64>::zeros(m.dim());
    for (mut row_v, row_m) in v.axis_iter_mut(Axis(0)).zip(m.axis_iter(Axis(0))) {
        for (c, (x, &q)) in row_v.iter_mut().zip(row_m).enumerate() {
            *x = output_value(q, &types[c]);
        }
    }
    v
}

/// The real value of output mantissa `q` of type `t` ([`to_values`]).
#[inline]
pub fn output_value(q: i64, t: &FixedType) -> f64 {
    if !t.signed && t.width == 64 {
        return t.to_f64(q as u64 as i128);
    }
    let f = t.frac();
    if (-1000..=1000).contains(&f) {
        // What `FixedType::to_f64` computes (`mantissa_to_f64`: the mantissa rounded to f64,
        // then one exact power-of-two scale), without the 128-bit conversion.
        q as f64 * f64::from_bits(((1023 - f) as u64) << 52)
    } else {
        t.to_f64(i128::from(q))
    }
}

pub fn write_npy<T: ndarray_npy::WritableElement>(path: &Path, a: &Array2<T>) -> Result<()> {
    // Written whole, then renamed into place: a link at `path` is replaced, never written
    // through, and a failure leaves no partial file.
    let mut bytes = Vec::new();
    a.write_npy(&mut bytes).map_err(|e| Error::Data {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    crate::safe_fs::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    /// `ROUNDS` lists every mode at its discriminant (the kernel's dispatch relies on it).
    #[test]
    fn rounds_by_discriminant() {
        for (i, m) in super::ROUNDS.iter().enumerate() {
            assert_eq!(*m as usize, i, "{m:?}");
        }
    }

    use super::*;
    use crate::ir::fixed::Overflow;

    /// The fast path of [`Cast::cast_f64`] equals [`FixedType::cast_f64`] for every rounding
    /// and overflow mode, on ties, values next to them, huge, tiny and random inputs.
    #[test]
    fn fast_cast_equals_exact_cast() {
        let rounds = [
            Round::Trn,
            Round::TrnZero,
            Round::Rnd,
            Round::RndZero,
            Round::RndMinInf,
            Round::RndInf,
            Round::RndConv,
            Round::Ceil,
            Round::Up,
        ];
        let ovfs = [
            Overflow::Wrap,
            Overflow::Sat,
            Overflow::SatZero,
            Overflow::SatSym,
            Overflow::SatNarrow,
        ];
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut xs: Vec<f64> = vec![
            0.0,
            -0.0,
            1e300,
            -1e300,
            5e-324,
            -5e-324,
            1e-310,
            2f64.powi(60),
        ];
        for k in -12..12 {
            for d in [-1e-9, 0.0, 1e-9] {
                let v = f64::from(k) * 0.125 + 0.0625 + d;
                xs.extend([v, -v, v * 1024.0, v / 1024.0]);
            }
        }
        for _ in 0..400 {
            let u = (rnd() >> 11) as f64 / (1u64 << 53) as f64;
            let e = (rnd() % 80) as i32 - 40;
            let sign = if rnd() & 1 == 1 { -1.0 } else { 1.0 };
            xs.push(sign * u * 2f64.powi(e));
        }
        for width in [1u32, 2, 5, 8, 16, 33, 53, 64] {
            for int_bits in [-70, -3, 0, 1, 4, width as i32, width as i32 + 20, 70] {
                for signed in [true, false] {
                    for &round in &rounds {
                        for &overflow in &ovfs {
                            let ty = FixedType {
                                signed,
                                width,
                                int_bits,
                                round,
                                overflow,
                            };
                            if ty.validate().is_err() {
                                continue;
                            }
                            let c = Cast::new(ty);
                            for &x in &xs {
                                let exact = ty.cast_f64(x);
                                assert_eq!(c.cast_f64(x), exact, "{ty} {x:e}");
                                // The streaming path's inline cast: the same mantissa where
                                // it answers at all.
                                if let Some(m) = c.fast(x) {
                                    assert_eq!(Ok(i128::from(m)), exact, "fast {ty} {x:e}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
