//! A JSON-like value tree, its writer and parser, and standard base64.

use std::borrow::Cow;

use crate::error::{Error, Result};

pub use super::json::parse;
use super::json::plain_run_end;

/// A value crossing the boundary: JSON types plus `Bytes` (binary data has no JSON type).
/// Objects keep their key order and are plain vectors: they are built once and read once.
/// Strings borrow from the input (JSON bytes, Python objects) whenever they can.
// A word-sized tag: with a one-byte tag every move of a value copies bytes 1..32 with unaligned
// loads that stall on the stores that just wrote them (the reader's hottest instructions otherwise).
#[derive(Debug, Clone, PartialEq)]
#[repr(u64)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Array(Vec<Value<'a>>),
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl Value<'_> {
    /// A short name of the value's type for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) | Value::UInt(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

/// Appends `value` as JSON; `path` names the attribute in errors (bytes or non-finite numbers).
pub fn write_value(out: &mut Vec<u8>, value: &Value, path: &str) -> Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::UInt(u) => out.extend_from_slice(itoa::Buffer::new().format(*u).as_bytes()),
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(Error::validation(path, format!("{f} cannot be written as JSON")));
            }
            write_float(out, *f);
        }
        Value::Str(s) => write_str(out, s),
        Value::Bytes(_) => {
            return Err(Error::validation(
                path,
                "bytes inside JSON data; only the whole `data` may be bytes (written as data_base64)",
            ))
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item, path)?;
            }
            out.push(b']');
        }
        Value::Object(members) => {
            out.push(b'{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_value(out, item, path)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Appends a finite float in the shortest form that reads back exactly (serde_json's format).
pub fn write_float(out: &mut Vec<u8>, f: f64) {
    out.extend_from_slice(zmij::Buffer::new().format_finite(f).as_bytes());
}

/// Appends `s` as a JSON string literal; non-ASCII text is written as UTF-8, not escaped.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    escape_into(out, s);
    out.push(b'"');
}

/// Where the text a writer is given comes from: anywhere, so all of it is escaped as it is
/// written; or a [`super::json::Parser`], which borrows only text with nothing to escape (it stops
/// borrowing at the first byte that [`escape_into`] would escape), so borrowed text is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Texts {
    Any,
    ReadFromJson,
}

// The Cow's variant is what tells text read from JSON that needs no escaping.
#[allow(clippy::ptr_arg)]
impl Texts {
    /// Appends `text` as a JSON string literal.
    #[inline(always)]
    pub fn write(self, out: &mut Vec<u8>, text: &Cow<'_, str>) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        self.escape(out, text);
        out.push(b'"');
    }

    /// Appends the content of `text` as a JSON string literal, without the quotes.
    #[inline(always)]
    pub fn escape(self, out: &mut Vec<u8>, text: &Cow<'_, str>) {
        match (self, text) {
            (Texts::ReadFromJson, Cow::Borrowed(plain)) => out.extend_from_slice(plain.as_bytes()),
            _ => escape_into(out, text),
        }
    }
}

/// Appends the escaped text of a JSON string literal, without the quotes.
pub fn escape_into(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        // What must be escaped is exactly what ends a plain run when reading a string.
        let end = plain_run_end(bytes, start);
        out.extend_from_slice(&bytes[start..end]);
        let Some(&b) = bytes.get(end) else {
            return;
        };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]),
        }
        start = end + 1;
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 section 4), as `data_base64` requires.
pub fn base64_encode(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len().div_ceil(3) * 4);
    let mut chunks = input.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        for shift in [18, 12, 6, 0] {
            out.push(ALPHABET[((n >> shift) & 63) as usize]);
        }
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[ALPHABET[(n >> 18) as usize], ALPHABET[((n >> 12) & 63) as usize], b'=', b'=']);
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize],
                ALPHABET[((n >> 12) & 63) as usize],
                ALPHABET[((n >> 6) & 63) as usize],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// Strict standard base64 decoding: padded, no whitespace, no non-zero trailing bits.
pub fn base64_decode(input: &str, path: &str) -> Result<Vec<u8>> {
    let bytes = input.as_bytes();
    if bytes.len() % 4 != 0 {
        return Err(Error::validation(path, "base64 length is not a multiple of 4"));
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (q, quad) in bytes.chunks_exact(4).enumerate() {
        let last = q + 1 == quads;
        let pad = if last { quad.iter().rev().take_while(|&&b| b == b'=').count() } else { 0 };
        if pad > 2 {
            return Err(Error::validation(path, format!("invalid base64 padding at character {}", q * 4 + 1)));
        }
        let mut n: u32 = 0;
        for (i, &b) in quad.iter().enumerate() {
            let sextet = if i >= 4 - pad {
                0
            } else {
                match b {
                    b'A'..=b'Z' => b - b'A',
                    b'a'..=b'z' => b - b'a' + 26,
                    b'0'..=b'9' => b - b'0' + 52,
                    b'+' => 62,
                    b'/' => 63,
                    _ => {
                        return Err(Error::validation(
                            path,
                            format!("invalid base64 character at position {}", q * 4 + i),
                        ))
                    }
                }
            };
            n = (n << 6) | u32::from(sextet);
        }
        let [_, b0, b1, b2] = n.to_be_bytes();
        match pad {
            0 => out.extend_from_slice(&[b0, b1, b2]),
            1 if b2 == 0 => out.extend_from_slice(&[b0, b1]),
            2 if b1 == 0 && b2 == 0 => out.push(b0),
            _ => return Err(Error::validation(path, "non-canonical base64: trailing bits are not zero")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_remainder() {
        for len in 0..10u8 {
            let data: Vec<u8> = (0..len).map(|i| i.wrapping_mul(97)).collect();
            let mut text = Vec::new();
            base64_encode(&data, &mut text);
            let text = String::from_utf8(text).expect("base64 is ASCII");
            assert_eq!(base64_decode(&text, "x").expect("valid"), data);
        }
    }

    #[test]
    fn base64_known_vectors() {
        let mut out = Vec::new();
        base64_encode(b"foobar", &mut out);
        assert_eq!(out, b"Zm9vYmFy");
        assert_eq!(base64_decode("Zm9vYg==", "x").expect("valid"), b"foob");
    }

    #[test]
    fn base64_rejects_bad_input() {
        for bad in ["Zm9", "Zm9v!mFy", "Zg=a", "Zh==", "Z===", "Zm9=Zm9v"] {
            let err = base64_decode(bad, "data_base64").expect_err(bad);
            assert!(matches!(err, Error::Validation { ref path, .. } if path == "data_base64"), "{bad}: {err}");
        }
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\n\u{1}é");
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001é\"".as_bytes());
    }

    #[test]
    fn written_json_parses_back() {
        let value = Value::Object(vec![
            ("a".into(), Value::Array(vec![Value::Int(-3), Value::UInt(u64::MAX), Value::Float(0.5)])),
            ("b".into(), Value::Str("x\ty".into())),
            ("e\"sc".into(), Value::Str("\u{1f}\\/é".into())),
            ("c".into(), Value::Null),
            ("d".into(), Value::Bool(true)),
        ]);
        let mut out = Vec::new();
        write_value(&mut out, &value, "data").expect("writable");
        assert_eq!(parse(&out).expect("parses"), value);
    }

    #[test]
    fn non_finite_and_nested_bytes_are_rejected() {
        let mut out = Vec::new();
        assert!(write_value(&mut out, &Value::Float(f64::NAN), "data").is_err());
        let nested = Value::Array(vec![Value::Bytes(vec![1].into())]);
        assert!(matches!(write_value(&mut out, &nested, "data"), Err(Error::Validation { .. })));
    }

    #[test]
    fn decode_errors_name_the_byte_offset() {
        assert_eq!(parse(b"{\"a\": tru}").expect_err("bad"), Error::decode(9, "expected ident"));
        assert_eq!(parse(b"[1,").expect_err("bad"), Error::decode(3, "EOF while parsing a value"));
        let err = parse(b"{\n \"a\": 1,\n x}").expect_err("bad");
        assert!(matches!(err, Error::Decode { offset: 12, .. }), "{err}");
        assert!(matches!(parse(b"[1] 2"), Err(Error::Decode { offset: 4, .. })));
        assert!(matches!(parse(b""), Err(Error::Decode { offset: 0, .. })));
    }
}
