//! Python strings for short text that repeats from call to call (keys, agent ids, types,
//! capabilities), shared instead of allocated each time.

use pyo3::prelude::*;
use pyo3::types::PyString;

const CACHE_SLOTS: usize = 512;
const CACHE_MAX_LEN: usize = 32;

/// One slot of the string cache: the text, zero-padded to whole words, and the Python string made from it.
struct CachedStr {
    words: [u64; CACHE_MAX_LEN / 8],
    len: usize,
    value: Option<Py<PyString>>,
}

impl CachedStr {
    const EMPTY: CachedStr = CachedStr { words: [0; CACHE_MAX_LEN / 8], len: 0, value: None };
}

thread_local! {
    /// Python strings for short text that repeats from message to message (object keys, agent ids,
    /// types and capabilities, enum-like values in payloads): reusing one costs a lookup instead of
    /// an allocation and a decode, and text that does not repeat only takes over a slot.
    static STRINGS: std::cell::RefCell<[CachedStr; CACHE_SLOTS]> =
        const { std::cell::RefCell::new([const { CachedStr::EMPTY }; CACHE_SLOTS]) };
}

/// Up to 32 bytes of text as four words, zero past the end: with the length, equal words mean
/// equal text. Each word is one load from the text (the last one overlapping its neighbour), so
/// no byte-by-byte assembly and no trip through memory before the words are compared.
#[inline]
fn text_words(bytes: &[u8]) -> [u64; 4] {
    let len = bytes.len();
    let word =
        |at: usize| bytes.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()).map_or(0, u64::from_le_bytes);
    let half =
        |at: usize| bytes.get(at..at + 4).and_then(|w| <[u8; 4]>::try_from(w).ok()).map_or(0, u32::from_le_bytes);
    match len {
        0 => [0; 4],
        1..=3 => {
            let byte = |at: usize| u64::from(bytes.get(at).copied().unwrap_or(0));
            [byte(0) | byte(len / 2) << 8 | byte(len - 1) << 16, 0, 0, 0]
        }
        4..=7 => [u64::from(half(0)) | u64::from(half(len - 4)) << 32, 0, 0, 0],
        8..=16 => [word(0), word(len - 8), 0, 0],
        17..=24 => [word(0), word(8), word(len - 8), 0],
        _ => [word(0), word(8), word(16), word(len - 8)],
    }
}

/// A Python string for `text`, shared with earlier calls when `text` is short and seen before.
pub(crate) fn cached_str<'py>(py: Python<'py>, text: &str) -> Bound<'py, PyString> {
    let bytes = text.as_bytes();
    if bytes.len() > CACHE_MAX_LEN {
        return PyString::new(py, text);
    }
    let [w0, w1, w2, w3] = text_words(bytes);
    let mixed = (w0 ^ w1.rotate_left(17) ^ w2.rotate_left(31) ^ w3.rotate_left(47))
        .wrapping_add(bytes.len() as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let slot = (mixed >> 55) as usize % CACHE_SLOTS;
    STRINGS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let entry = &mut cache[slot];
        if let Some(value) = &entry.value {
            let [e0, e1, e2, e3] = entry.words;
            if entry.len == bytes.len() && ((e0 ^ w0) | (e1 ^ w1) | (e2 ^ w2) | (e3 ^ w3)) == 0 {
                return value.bind(py).clone();
            }
        }
        let value = PyString::new(py, text);
        *entry = CachedStr { words: [w0, w1, w2, w3], len: bytes.len(), value: Some(value.clone().unbind()) };
        value
    })
}

#[cfg(test)]
mod tests {
    use super::{text_words, CACHE_MAX_LEN};

    #[test]
    fn text_words_tell_apart_texts_of_one_length() {
        for len in 0..=CACHE_MAX_LEN {
            let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            for at in 0..len {
                for byte in [b'_', 0x00, 0xff] {
                    let mut other = base.clone();
                    other[at] = byte;
                    assert_ne!(text_words(&other), text_words(&base), "length {len}, byte {at}");
                }
            }
        }
    }
}
