//! Value arithmetic of the string commands, in Redis's terms: byte ranges,
//! range writes, and float increments.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;
use core::fmt::Write as _;

/// Longest text Redis reads as a float (its `MAX_LONG_DOUBLE_CHARS`).
pub const MAX_FLOAT_CHARS: usize = 5 * 1024;

/// Digits kept after the point, as Redis prints `INCRBYFLOAT` results
/// (`%.17Lf`, trailing zeros dropped).
const FRACTION_DIGITS: u32 = 17;

/// Reads a float as Redis's `string2ld` does: the whole text, no leading
/// space, not NaN, at most [`MAX_FLOAT_CHARS`]; infinities parse (the
/// increment then fails as not finite). Hex floats, which C's `strtold`
/// also takes, are refused.
pub fn parse_float(text: &[u8]) -> Option<f64> {
    if text.is_empty() || text.len() >= MAX_FLOAT_CHARS {
        return None;
    }
    let v: f64 = core::str::from_utf8(text).ok()?.parse().ok()?;
    (!v.is_nan()).then_some(v)
}

/// Reads a decimal integer as Redis's `string2ll` does: an optional `-`,
/// then `0` alone or digits without a leading zero, within `i64`; so
/// `+1`, `01`, `-0` and spaces are not integers.
pub fn parse_integer(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let canonical = match digits {
        [b'0'] => digits.len() == text.len(),
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !canonical {
        return None;
    }
    core::str::from_utf8(text).ok()?.parse().ok()
}

/// `value + by` as `INCRBYFLOAT` stores it; `None` if the sum is not
/// finite. Both are already known to parse.
///
/// When both are plain decimals with at most 17 digits after the point the
/// sum is exact, which is what Redis's long-double sum prints for values of
/// modest size (`10.5` + `0.1` is `10.6`, where a 64-bit float sum would be
/// `10.6` but `0.1` + `0.2` would be `0.30000000000000004`). Otherwise the
/// sum is a 64-bit float printed as the shortest text that reads back.
pub(crate) fn add_floats(value: &[u8], by: &[u8], a: f64, b: f64) -> Option<String> {
    let sum = a + b;
    if !sum.is_finite() {
        return None;
    }
    if let (Some(x), Some(y)) = (scaled_decimal(value), scaled_decimal(by))
        && let Some(exact) = x.checked_add(y)
    {
        return Some(print_scaled(exact));
    }
    let mut s = String::new();
    let _ = write!(s, "{sum}");
    if s == "-0" {
        s = String::from("0");
    }
    Some(s)
}

/// A plain decimal (`[+-]digits[.digits]`, no exponent) times 10^17, if it
/// has at most 17 fraction digits and fits.
fn scaled_decimal(text: &[u8]) -> Option<i128> {
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = match digits.iter().position(|&c| c == b'.') {
        Some(p) => (&digits[..p], &digits[p + 1..]),
        None => (digits, &digits[digits.len()..]),
    };
    if int.is_empty() && frac.is_empty() || frac.len() > FRACTION_DIGITS as usize {
        return None;
    }
    let mut n: i128 = 0;
    for &c in int.iter().chain(frac) {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i128::from(c - b'0'))?;
    }
    n = n.checked_mul(10i128.pow(FRACTION_DIGITS - frac.len() as u32))?;
    Some(if negative { -n } else { n })
}

fn print_scaled(n: i128) -> String {
    let scale = 10u128.pow(FRACTION_DIGITS);
    let abs = n.unsigned_abs();
    let mut s = String::new();
    if n < 0 {
        s.push('-');
    }
    let _ = write!(s, "{}", abs / scale);
    let frac = abs % scale;
    if frac != 0 {
        let mut digits = String::new();
        let _ = write!(digits, "{frac:017}");
        let _ = write!(s, ".{}", digits.trim_end_matches('0'));
    }
    s
}

/// Bytes `start..=end` of `v`, negative indexes counting from the end,
/// clamped as Redis 7's `GETRANGE` clamps them (an end before the start of
/// the value still takes its first byte); a slice of `v`, never a copy.
pub(crate) fn range(v: &Bytes, start: i64, end: i64) -> Bytes {
    if start < 0 && end < 0 && start > end {
        return Bytes::new();
    }
    let len = i64::try_from(v.len()).unwrap_or(i64::MAX);
    let from_end = |i: i64| if i < 0 { i.saturating_add(len).max(0) } else { i };
    let (start, end) = (from_end(start), from_end(end).min(len - 1));
    if len == 0 || start > end {
        return Bytes::new();
    }
    // Both within 0..len now.
    v.slice(start as usize..=end as usize)
}

/// `old` with `value` written at `offset`, zero-padded; the caller checked
/// that `offset + value.len()` is within the value limit.
pub(crate) fn overwrite(old: &[u8], offset: usize, value: &[u8]) -> Vec<u8> {
    let end = offset + value.len();
    let mut out = Vec::with_capacity(old.len().max(end));
    out.extend_from_slice(old);
    if out.len() < end {
        out.resize(end, 0);
    }
    out[offset..end].copy_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(a: &str, b: &str) -> Option<String> {
        let (x, y) = (parse_float(a.as_bytes())?, parse_float(b.as_bytes())?);
        add_floats(a.as_bytes(), b.as_bytes(), x, y)
    }

    #[test]
    fn float_sums_print_like_redis() {
        assert_eq!(add("10.50", "0.1").as_deref(), Some("10.6"));
        assert_eq!(add("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(add("5.0e3", "2.0e2").as_deref(), Some("5200"));
        assert_eq!(add("3", "-3").as_deref(), Some("0"));
        assert_eq!(add("-0.5", "0.25").as_deref(), Some("-0.25"));
        assert_eq!(add("1", "-1.5e0").as_deref(), Some("-0.5"));
        assert_eq!(add("1.7e308", "1.7e308"), None);
        assert_eq!(add("inf", "1"), None);
    }

    #[test]
    fn what_redis_refuses_as_a_float_is_refused() {
        for bad in ["", " 1", "1 ", "nan", "abc", "1e", "0x10", "--1"] {
            assert_eq!(parse_float(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse_float(&[b'1'; MAX_FLOAT_CHARS]), None);
        assert_eq!(parse_float(b".5"), Some(0.5));
    }

    #[test]
    fn integers_are_read_as_redis_reads_them() {
        assert_eq!(parse_integer(b"0"), Some(0));
        assert_eq!(parse_integer(b"-15"), Some(-15));
        assert_eq!(parse_integer(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_integer(b"-9223372036854775808"), Some(i64::MIN));
        for bad in ["", "-", "+1", "01", "-0", " 1", "1 ", "9223372036854775808", "1e3", "0x1"] {
            assert_eq!(parse_integer(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn ranges_clamp_like_getrange() {
        let v = Bytes::from_static(b"This is a string");
        assert_eq!(range(&v, 0, 3), &b"This"[..]);
        assert_eq!(range(&v, -3, -1), &b"ing"[..]);
        assert_eq!(range(&v, 0, -1), v);
        assert_eq!(range(&v, 10, 100), &b"string"[..]);
        assert_eq!(range(&v, 5, 3), &b""[..]);
        assert_eq!(range(&v, -100, 0), &b"T"[..]);
        assert_eq!(range(&v, -100, -50), &b"T"[..]);
        assert_eq!(range(&v, -1, -5), &b""[..]);
        assert_eq!(range(&v, i64::MIN, i64::MAX), v);
        assert_eq!(range(&v, i64::MAX, i64::MIN), &b""[..]);
        assert_eq!(range(&Bytes::new(), 0, -1), &b""[..]);
    }

    #[test]
    fn overwrite_pads_with_zeros() {
        assert_eq!(overwrite(b"Hello World", 6, b"Redis"), b"Hello Redis");
        assert_eq!(overwrite(b"", 3, b"x"), b"\0\0\0x");
        assert_eq!(overwrite(b"abc", 1, b""), b"abc");
    }
}
