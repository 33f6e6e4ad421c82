//! RFC 3339 `date-time` check (section 5.6), as the CloudEvents `Timestamp` type requires.

/// Why `text` is not an RFC 3339 date-time, or `None` when it is one.
#[inline]
pub fn rfc3339_problem(text: &str) -> Option<&'static str> {
    match is_usual_date_time(text.as_bytes()) {
        true => None,
        false => rfc3339_problem_in_full(text),
    }
}

/// The digits and separators of `YYYY-MM-DDTHH:MM:SS`, as bytes minus `'0'`: a digit is 0 to 9, a
/// separator is its offset from `'0'` (wrapping).
const USUAL: [u8; 19] = *b"0000-00-00T00:00:00";

/// Whether `b` is a date-time as writers usually give it: `YYYY-MM-DDTHH:MM:SS`, an optional
/// fraction of up to nine digits and `Z`, with a month from 01 to 12, a day from 01 to 28 and a
/// time of day in range, which every month has. Anything else is left to the full check.
#[inline]
fn is_usual_date_time(b: &[u8]) -> bool {
    let Some(head) = b.get(..19) else { return false };
    let mut digits = [0u8; 19];
    let mut shape = true;
    for i in 0..19 {
        let (byte, usual) = (head[i], USUAL[i]);
        digits[i] = byte.wrapping_sub(b'0');
        shape &= if usual == b'0' { digits[i] <= 9 } else { byte == usual };
    }
    let two = |i: usize| digits[i] * 10 + digits[i + 1];
    let in_range = shape
        && (1..=12).contains(&two(5))
        && (1..=28).contains(&two(8))
        && two(11) <= 23
        && two(14) <= 59
        && two(17) <= 59;
    match &b[19..] {
        _ if !in_range => false,
        [b'Z'] => true,
        [b'.', fraction @ .., b'Z'] => (1..=9).contains(&fraction.len()) && fraction.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

fn rfc3339_problem_in_full(text: &str) -> Option<&'static str> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0u32, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0')))
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    let shape = "must be an RFC 3339 date-time such as 2024-05-01T12:00:00Z";
    let (Some(year), Some(month), Some(day)) = (num(0, 4), num(5, 2), num(8, 2)) else {
        return Some(shape);
    };
    let (Some(hour), Some(minute), Some(second)) = (num(11, 2), num(14, 2), num(17, 2)) else {
        return Some(shape);
    };
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return Some(shape);
    }
    let mut i = 19;
    if at(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Some("fraction of a second needs at least one digit");
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => {}
        Some(b'+' | b'-') if i + 6 == b.len() => {
            let (Some(oh), Some(om)) = (num(i + 1, 2), num(i + 4, 2)) else {
                return Some(shape);
            };
            if !at(i + 3, b":") {
                return Some(shape);
            }
            if oh > 23 || om > 59 {
                return Some("time zone offset out of range");
            }
        }
        _ => return Some("must end with Z or a numeric offset such as +02:00"),
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Some("month out of range"),
    };
    if day == 0 || day > days {
        return Some("day out of range for its month");
    }
    // Second 60 is allowed for leap seconds (RFC 3339 section 5.7).
    if hour > 23 || minute > 59 || second > 60 {
        return Some("time of day out of range");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_date_times() {
        for ok in [
            "2018-04-05T17:31:00Z",
            "2018-04-05t17:31:00z",
            "2024-02-29T23:59:60.123456789+14:00",
            "1999-12-31T00:00:00.5-08:30",
        ] {
            assert_eq!(rfc3339_problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn the_usual_form_agrees_with_the_full_check() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        let base = b"2024-02-28T23:59:59.123Z";
        let mut usual = 0;
        for _ in 0..200_000 {
            let mut text = base.to_vec();
            for _ in 0..1 + next(3) {
                let at = next(text.len() as u64) as usize;
                match next(4) {
                    0 => text[at] = b"0123456789"[next(10) as usize],
                    1 => text[at] = b"-T:.Zz+t 9/"[next(11) as usize],
                    2 => {
                        text.remove(at);
                    }
                    _ => text.insert(at, b"0123456789.Z"[next(12) as usize]),
                }
            }
            let Ok(text) = std::str::from_utf8(&text) else { continue };
            if is_usual_date_time(text.as_bytes()) {
                usual += 1;
                assert_eq!(rfc3339_problem_in_full(text), None, "{text}");
            }
            assert_eq!(rfc3339_problem(text), rfc3339_problem_in_full(text), "{text}");
        }
        assert!(usual > 10_000, "{usual}");
    }

    #[test]
    fn rejects_invalid_date_times() {
        for bad in [
            "",
            "2018-04-05",
            "2018-04-05 17:31:00Z",
            "2018-04-05T17:31:00",
            "2018-04-05T17:31:00.Z",
            "2023-02-29T00:00:00Z",
            "2018-13-01T00:00:00Z",
            "2018-04-05T24:00:00Z",
            "2018-04-05T17:31:00+2:00",
            "2018-04-05T17:31:00+24:00",
            "2018-04-05T17:31:00Zjunk",
            "２018-04-05T17:31:00Z",
        ] {
            assert!(rfc3339_problem(bad).is_some(), "{bad}");
        }
    }
}
