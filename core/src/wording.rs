//! How error messages show the values they quote: as the Python package always has, so that a
//! message reads the same whichever layer raised it (`repr` of a `str` or `bytes`, `str` of a
//! `float`, and the `g` format).

use std::fmt::Write;

/// The quote `repr` puts around a text: a single quote, unless the text has one and no double.
fn quote(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double {
        '"'
    } else {
        '\''
    }
}

/// Whether `c`, beyond ASCII, is printed as it is: not a control, format, private-use,
/// unassigned, surrogate or separator character (the space aside). The standard library's
/// escaping knows exactly these; a grapheme extender is escaped only at the start of a text, so
/// one is asked about after a letter.
fn is_printable(c: char) -> bool {
    let mut buf = [0u8; 5];
    buf[0] = b'a';
    let len = 1 + c.encode_utf8(&mut buf[1..]).len();
    std::str::from_utf8(&buf[..len]).is_ok_and(|text| text.escape_debug().count() == 2)
}

/// `text` as Python's `repr` of a `str` writes it: `'ttl'`, `"it's"`, `'a\x01'`.
pub fn repr_str(text: &str) -> String {
    let quote = quote(text.contains('\''), text.contains('"'));
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(c),
            c if !c.is_ascii() && is_printable(c) => out.push(c),
            c => {
                let code = u32::from(c);
                let _ = match code {
                    0..=0xFF => write!(out, "\\x{code:02x}"),
                    0x100..=0xFFFF => write!(out, "\\u{code:04x}"),
                    _ => write!(out, "\\U{code:08x}"),
                };
            }
        }
    }
    out.push(quote);
    out
}

/// `text` as Python's `repr` of `str | None` writes it.
pub fn repr_optional(text: Option<&str>) -> String {
    text.map_or_else(|| "None".to_owned(), repr_str)
}

/// `bytes` as Python's `repr` of `bytes` writes them: `b'key'`, `b'\xff'`.
pub fn repr_bytes(bytes: &[u8]) -> String {
    let quote = quote(bytes.contains(&b'\''), bytes.contains(&b'"'));
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(quote);
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b if char::from(b) == quote => {
                out.push('\\');
                out.push(quote);
            }
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b' '..=b'~' => out.push(char::from(b)),
            b => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push(quote);
    out
}

/// The shortest digits of `x` (finite, not negative) and where the decimal point goes after the
/// first of them: `1.5e-7` is `("15", -6)`.
fn shortest(x: f64) -> (String, i32) {
    let text = format!("{x:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    (mantissa.replace('.', ""), exponent.parse::<i32>().unwrap_or(0) + 1)
}

/// An exponent as Python writes it: a sign and at least two digits.
fn exponent(out: &mut String, exponent: i32) {
    let _ = write!(out, "e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.unsigned_abs());
}

/// `x` as Python's `str` of a `float` writes it: `1.0`, `0.0001`, `1e-05`, `1e+16`, `nan`.
pub fn float_str(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    let mut out = String::new();
    if x.is_sign_negative() {
        out.push('-');
    }
    if x.is_infinite() {
        out.push_str("inf");
        return out;
    }
    let (digits, point) = shortest(x.abs());
    if -4 < point && point <= 16 {
        match usize::try_from(point) {
            Ok(point) if point >= digits.len() => {
                out.push_str(&digits);
                out.extend(std::iter::repeat('0').take(point - digits.len()));
                out.push_str(".0");
            }
            Ok(point) if point > 0 => {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
            _ => {
                out.push_str("0.");
                out.extend(std::iter::repeat('0').take(point.unsigned_abs() as usize));
                out.push_str(&digits);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        exponent(&mut out, point - 1);
    }
    out
}

/// `x` as Python's `format(x, "g")` writes it: six significant digits, trailing zeros dropped,
/// and an exponent below 1e-4 or from 1e6: `60`, `0.5`, `1e+06`.
pub fn format_g(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    let scientific = format!("{x:.5e}");
    let (mantissa, power) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let power: i32 = power.parse().unwrap_or(0);
    let trim = |text: &str| -> String {
        match text.contains('.') {
            true => text.trim_end_matches('0').trim_end_matches('.').to_owned(),
            false => text.to_owned(),
        }
    };
    if (-4..6).contains(&power) {
        return trim(&format!("{x:.*}", (5 - power) as usize));
    }
    let mut out = trim(mantissa);
    exponent(&mut out, power);
    out
}

/// `x` as Python's `format(x, ".1f")` writes it.
pub fn fixed_1(x: f64) -> String {
    match x.is_nan() {
        true => "nan".to_owned(),
        false => format!("{x:.1}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_quoted_as_python_does() {
        for (text, expected) in [
            ("soon", "'soon'"),
            ("it's", "\"it's\""),
            ("'\"", "'\\'\"'"),
            ("a\\b", "'a\\\\b'"),
            ("\t\n\r\u{1}\u{7f}", "'\\t\\n\\r\\x01\\x7f'"),
            ("é✓😀", "'é✓😀'"),
            ("\u{85}\u{a0}\u{ad}\u{200b}\u{2028}\u{e000}\u{fffe}", "'\\x85\\xa0\\xad\\u200b\\u2028\\ue000\\ufffe'"),
            ("\u{301}a\u{301}", "'\u{301}a\u{301}'"),
            ("\u{e0001}\u{10ffff}", "'\\U000e0001\\U0010ffff'"),
        ] {
            assert_eq!(repr_str(text), expected, "{text:?}");
        }
        assert_eq!(repr_optional(None), "None");
        assert_eq!(repr_bytes(b"t-1"), "b't-1'");
        assert_eq!(repr_bytes(b"it's\x00\xff\\"), "b\"it's\\x00\\xff\\\\\"");
        assert_eq!(repr_bytes(b"'\""), "b'\\'\"'");
    }

    #[test]
    fn numbers_are_written_as_python_does() {
        for (x, expected) in [
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (12.5, "12.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1e100, "1e+100"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(float_str(x), expected, "{x}");
        }
        for (x, expected) in [
            (60.0, "60"),
            (0.5, "0.5"),
            (1e6, "1e+06"),
            (123456.5, "123456"),
            (1234565.0, "1.23456e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-5.0, "-5"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::INFINITY, "inf"),
            (2147483647.0, "2.14748e+09"),
        ] {
            assert_eq!(format_g(x), expected, "{x}");
        }
        assert_eq!(
            (fixed_1(0.25), fixed_1(61.0), fixed_1(0.35)),
            ("0.2".to_owned(), "61.0".to_owned(), "0.3".to_owned())
        );
    }
}
