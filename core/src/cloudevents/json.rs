//! A one-pass JSON reader that reports byte offsets: callers that know the document's shape read it
//! member by member and keep only what they need; [`Parser::value`] builds a [`Value`] when a
//! caller wants the whole subtree, and [`Parser::transcode`] rewrites one as compact JSON without
//! building anything.

use std::borrow::Cow;

use crate::error::{Error, Result};

use super::value::{write_float, write_str, Value};

/// Checks that `input` is UTF-8, with vector instructions; the standard check only to say where
/// it is not.
pub(crate) fn utf8(input: &[u8]) -> std::result::Result<&str, std::str::Utf8Error> {
    simdutf8::basic::from_utf8(input).or_else(|_| std::str::from_utf8(input))
}

/// Deepest nesting of arrays and objects read; the Python writers refuse the same depth.
pub const MAX_DEPTH: usize = 256;

/// A syntax error: kept two words wide so that results return in registers.
#[derive(Debug)]
pub struct Fail {
    pub offset: usize,
    pub message: &'static str,
}

impl From<Fail> for Error {
    fn from(fail: Fail) -> Self {
        Error::decode(fail.offset, fail.message)
    }
}

pub type PResult<T> = std::result::Result<T, Fail>;

/// A number as JSON gives it, read with serde_json's rules so that every reader agrees: integers
/// in the `i64` or `u64` range stay integers, `-0` and larger integers become floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    UInt(u64),
    Float(f64),
}

/// A member name with its quotes, recognised in place with two masked 16-byte compares.
pub(crate) struct Name {
    text: &'static str,
    literal: [u8; 32],
    len: usize,
    pattern: [u128; 2],
    mask: [u128; 2],
}

/// How many names from the one after the previous member's are tried in place: writers put
/// members in one order, some of them optional; a name out of that order is read and looked up.
const LOOKAHEAD: usize = 4;

impl Name {
    pub(crate) const fn new(text: &'static str) -> Self {
        let name = text.as_bytes();
        assert!(name.len() <= 30);
        let mut literal = [0u8; 32];
        let mut mask = [0u8; 32];
        literal[0] = b'"';
        mask[0] = 0xFF;
        let mut i = 0;
        while i < name.len() {
            literal[i + 1] = name[i];
            mask[i + 1] = 0xFF;
            i += 1;
        }
        literal[name.len() + 1] = b'"';
        mask[name.len() + 1] = 0xFF;
        Name {
            text,
            literal,
            len: name.len() + 2,
            pattern: [Self::word(&literal, 0), Self::word(&literal, 16)],
            mask: [Self::word(&mask, 0), Self::word(&mask, 16)],
        }
    }

    const fn word(bytes: &[u8; 32], from: usize) -> u128 {
        let mut word = [0u8; 16];
        let mut i = 0;
        while i < 16 {
            word[i] = bytes[from + i];
            i += 1;
        }
        u128::from_le_bytes(word)
    }

    /// The name without its quotes.
    pub(crate) fn text(&self) -> &'static str {
        self.text
    }

    /// Whether the input has this name's string literal at `pos`.
    #[inline(always)]
    fn is_at(&self, bytes: &[u8], pos: usize) -> bool {
        match bytes.get(pos..pos + 32) {
            Some(block) => {
                let word = |from: usize| u128::from_le_bytes(block[from..from + 16].try_into().expect("sixteen bytes"));
                ((word(0) ^ self.pattern[0]) & self.mask[0]) | ((word(16) ^ self.pattern[1]) & self.mask[1]) == 0
            }
            None => bytes.get(pos..pos + self.len) == Some(&self.literal[..self.len]),
        }
    }
}

/// Where a parser stood, to read the value there again another way.
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    pos: usize,
    depth: usize,
}

pub struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// Checks that `input` is UTF-8 and stops before the first value.
    // Inlined: a parser returned through memory is stored in words and reloaded in halves, a
    // store-forwarding stall at the start of every read.
    #[inline(always)]
    pub fn new(input: &'a [u8]) -> Result<Self> {
        let text = utf8(input).map_err(|e| Error::decode(e.valid_up_to(), "invalid UTF-8"))?;
        let mut parser = Parser { text, bytes: input, pos: 0, depth: 0 };
        parser.skip_ws();
        Ok(parser)
    }

    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The next byte that is not whitespace.
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    /// Requires the end of the input after optional whitespace.
    pub fn finish(&mut self) -> PResult<()> {
        if self.peek().is_some() {
            return Err(self.fail("trailing characters"));
        }
        Ok(())
    }

    fn fail(&self, message: &'static str) -> Fail {
        Fail { offset: self.pos, message }
    }

    fn eof_or(&self, message: &'static str) -> Fail {
        if self.pos >= self.bytes.len() {
            self.fail("EOF while parsing a value")
        } else {
            self.fail(message)
        }
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        // Most tokens follow their separator directly or after one space.
        match self.bytes.get(self.pos) {
            Some(&b) if b > b' ' => return,
            Some(b' ') if self.bytes.get(self.pos + 1).is_some_and(|&b| b > b' ') => {
                self.pos += 1;
                return;
            }
            _ => {}
        }
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.fail("recursion limit exceeded"));
        }
        Ok(())
    }

    /// Reads an object, calling `member` with each name; `member` must read the member's value.
    pub fn object(&mut self, mut member: impl FnMut(&mut Self, Cow<'a, str>) -> PResult<()>) -> PResult<()> {
        if self.peek() != Some(b'{') {
            return Err(self.eof_or("expected an object"));
        }
        self.enter()?;
        self.pos += 1;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            match self.peek() {
                Some(b'"') => {}
                _ => return Err(self.eof_or("key must be a string")),
            }
            let name = self.string()?;
            if self.peek() != Some(b':') {
                return Err(self.eof_or("expected `:`"));
            }
            self.pos += 1;
            self.skip_ws();
            member(self, name)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.eof_or("expected `,` or `}`")),
            }
        }
    }

    /// [`Parser::object`] for a reader that knows the names it looks for, given in the order
    /// writers put them: `member` gets the index in `names` of each name (`Ok`), or any other name,
    /// and reads the value from the whitespace before it.
    pub(crate) fn named_object(
        &mut self,
        names: &[Name],
        mut member: impl FnMut(&mut Self, std::result::Result<usize, Cow<'a, str>>) -> PResult<()>,
    ) -> PResult<()> {
        if self.peek() != Some(b'{') {
            return Err(self.eof_or("expected an object"));
        }
        self.enter()?;
        self.pos += 1;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        let mut next = 0;
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.eof_or("key must be a string"));
            }
            let predicted = (next..names.len().min(next + LOOKAHEAD)).find(|&at| names[at].is_at(self.bytes, self.pos));
            let key = match predicted {
                Some(at) => {
                    self.pos += names[at].len;
                    Ok(at)
                }
                None => {
                    let name = self.string()?;
                    names.iter().position(|n| n.text() == name).ok_or(name)
                }
            };
            if let Ok(at) = key {
                next = at + 1;
            }
            if self.peek() != Some(b':') {
                return Err(self.eof_or("expected `:`"));
            }
            self.pos += 1;
            // Every value reader starts with a peek, which skips the whitespace before the value.
            member(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.eof_or("expected `,` or `}`")),
            }
        }
    }

    /// The input from byte `from` to byte `to`, which the caller read as text.
    pub(crate) fn text_between(&self, from: usize, to: usize) -> &'a str {
        &self.text[from..to]
    }

    /// The whole input, as text.
    pub(crate) fn input(&self) -> &'a str {
        self.text
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark { pos: self.pos, depth: self.depth }
    }

    /// Goes back to `mark`, to read what follows it again.
    pub(crate) fn reset(&mut self, mark: Mark) {
        self.pos = mark.pos;
        self.depth = mark.depth;
    }

    /// A string literal of printable ASCII without escapes, which is a valid CloudEvents string
    /// that no writer escapes, as where its text is in the input; None, having read nothing, for
    /// any other value.
    #[inline(always)]
    pub(crate) fn plain_text(&mut self) -> Option<std::ops::Range<usize>> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.printable_ascii_range()
    }

    /// An integer from 0 to `i32::MAX` written as it is written back (no sign, leading zero,
    /// fraction or exponent), and where its digits start; None, having read nothing, for any
    /// other value.
    #[inline(always)]
    pub(crate) fn plain_natural(&mut self) -> Option<(i32, usize)> {
        self.skip_ws();
        let start = self.pos;
        let mut at = start;
        let mut value = 0u64;
        while let Some(&d) = self.bytes.get(at).filter(|d| d.is_ascii_digit()) {
            value = value * 10 + u64::from(d - b'0');
            at += 1;
            if at - start > 10 {
                return None;
            }
        }
        let len = at - start;
        if len == 0 || (len > 1 && self.bytes[start] == b'0') || value > i32::MAX as u64 {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.bytes.get(at) {
            return None;
        }
        self.pos = at;
        i32::try_from(value).ok().map(|value| (value, start))
    }

    /// Reads an array, calling `item` for each element; `item` must read the element, from the
    /// whitespace before it.
    pub fn array(&mut self, mut item: impl FnMut(&mut Self) -> PResult<()>) -> PResult<()> {
        if self.peek() != Some(b'[') {
            return Err(self.eof_or("expected an array"));
        }
        self.enter()?;
        self.pos += 1;
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.eof_or("expected `,` or `]`")),
            }
        }
    }

    /// Reads any value into a tree.
    pub fn value(&mut self) -> PResult<Value<'a>> {
        let mut value = Value::Null;
        self.value_then(|v| value = v)?;
        Ok(value)
    }

    /// Reads any value and hands it to `put`. Values are built where `put` stores them: returned
    /// through memory they were stored in words and reloaded in halves, which stalls the loads.
    #[inline(always)]
    pub fn value_then(&mut self, put: impl FnOnce(Value<'a>)) -> PResult<()> {
        match self.peek() {
            Some(b'"') => {
                let start = self.pos + 1;
                let end = plain_run_end(self.bytes, start);
                if self.bytes.get(end) == Some(&b'"') {
                    self.pos = end + 1;
                    put(Value::Str(Cow::Borrowed(&self.text[start..end])));
                } else {
                    self.pos = end;
                    put(Value::Str(self.escaped_string(start)?));
                }
            }
            Some(b'{') => put(Value::Object(self.members()?)),
            Some(b'[') => put(Value::Array(self.items()?)),
            _ => put(match self.scalar()? {
                Scalar::Null => Value::Null,
                Scalar::Bool(b) => Value::Bool(b),
                Scalar::Number(Number::Int(i)) => Value::Int(i),
                Scalar::Number(Number::UInt(u)) => Value::UInt(u),
                Scalar::Number(Number::Float(f)) => Value::Float(f),
            }),
        }
        Ok(())
    }

    fn members(&mut self) -> PResult<Vec<(Cow<'a, str>, Value<'a>)>> {
        let mut members = Vec::new();
        self.object(|p, name| p.value_then(|v| members.push((name, v))))?;
        Ok(members)
    }

    fn items(&mut self) -> PResult<Vec<Value<'a>>> {
        let mut items = Vec::new();
        self.array(|p| p.value_then(|v| items.push(v)))?;
        Ok(items)
    }

    /// Reads any value and appends it to `out` as compact JSON, exactly as [`super::value::write_value`]
    /// writes the tree [`Parser::value`] would have built.
    pub fn transcode(&mut self, out: &mut Vec<u8>) -> PResult<()> {
        let (pos, len) = (self.pos, out.len());
        if self.copy_compact(out) {
            return Ok(());
        }
        self.pos = pos;
        out.truncate(len);
        self.transcode_any(out)
    }

    /// Copies a value that is already canonical but for whitespace (strings without escapes,
    /// canonical numbers) in one loop with no calls, as runs of the input between whitespace;
    /// `false`, having read and written part of it, for any other value or malformed JSON, which
    /// the recursive reader then reads again.
    fn copy_compact(&mut self, out: &mut Vec<u8>) -> bool {
        // One bit per open container, set for objects.
        let mut objects = [0u64; MAX_DEPTH / 64];
        let base = self.depth;
        let mut depth = base;
        let mut need_key = false;
        let mut run = self.pos;
        loop {
            let Some(b) = self.peek_copying(out, &mut run) else { return false };
            if need_key {
                need_key = false;
                if b != b'"' || !self.skip_plain_string() || self.peek_copying(out, &mut run) != Some(b':') {
                    return false;
                }
                self.pos += 1;
                continue;
            }
            match b {
                b'"' => {
                    if !self.skip_plain_string() {
                        return false;
                    }
                }
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return false;
                    }
                    let bit = 1u64 << ((depth - 1) % 64);
                    if b == b'{' {
                        objects[(depth - 1) / 64] |= bit;
                    } else {
                        objects[(depth - 1) / 64] &= !bit;
                    }
                    self.pos += 1;
                    let close = if b == b'{' { b'}' } else { b']' };
                    if self.peek_copying(out, &mut run) != Some(close) {
                        need_key = b == b'{';
                        continue;
                    }
                }
                b't' | b'f' | b'n' => {
                    let word: &[u8] = match b {
                        b't' => b"true",
                        b'f' => b"false",
                        _ => b"null",
                    };
                    if self.bytes.get(self.pos..self.pos + word.len()) != Some(word) {
                        return false;
                    }
                    self.pos += word.len();
                }
                _ => {
                    if !self.canonical_number() {
                        return false;
                    }
                }
            }
            // After a value (or at an empty container's closing bracket): close what ends here.
            loop {
                if depth == base {
                    copy_run(out, self.bytes, run, self.pos);
                    return true;
                }
                let in_object = objects[(depth - 1) / 64] & (1u64 << ((depth - 1) % 64)) != 0;
                match self.peek_copying(out, &mut run) {
                    Some(b',') => {
                        self.pos += 1;
                        need_key = in_object;
                        break;
                    }
                    Some(b'}') if in_object => {}
                    Some(b']') if !in_object => {}
                    _ => return false,
                }
                self.pos += 1;
                depth -= 1;
            }
        }
    }

    /// [`Parser::peek`] for [`Parser::copy_compact`]: whitespace ends the run being copied.
    #[inline(always)]
    fn peek_copying(&mut self, out: &mut Vec<u8>, run: &mut usize) -> Option<u8> {
        let at = self.pos;
        self.skip_ws();
        if self.pos != at {
            copy_run(out, self.bytes, *run, at);
            *run = self.pos;
        }
        self.bytes.get(self.pos).copied()
    }

    /// Skips a string literal with nothing to escape; `false` for any other.
    #[inline(always)]
    fn skip_plain_string(&mut self) -> bool {
        let end = plain_run_end(self.bytes, self.pos + 1);
        if self.bytes.get(end) != Some(&b'"') {
            return false;
        }
        self.pos = end + 1;
        true
    }

    /// [`Parser::transcode`] for any value, one call per value.
    fn transcode_any(&mut self, out: &mut Vec<u8>) -> PResult<()> {
        match self.peek() {
            Some(b'"') => {
                let start = self.pos;
                match self.string()? {
                    // No escapes and no control characters: the literal is already canonical.
                    Cow::Borrowed(_) => out.extend_from_slice(&self.bytes[start..self.pos]),
                    Cow::Owned(text) => write_str(out, &text),
                }
            }
            Some(b'{') => {
                out.push(b'{');
                let mut first = true;
                self.object(|p, name| {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    write_key(out, name);
                    out.push(b':');
                    p.transcode_any(out)
                })?;
                out.push(b'}');
            }
            Some(b'[') => {
                out.push(b'[');
                let mut first = true;
                self.array(|p| {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    p.transcode_any(out)
                })?;
                out.push(b']');
            }
            _ => {
                let start = self.pos;
                if self.canonical_number() {
                    out.extend_from_slice(&self.bytes[start..self.pos]);
                    return Ok(());
                }
                match self.scalar()? {
                    Scalar::Number(Number::Float(f)) => write_float(out, f),
                    // Literals and integers in range are canonical as they stand.
                    _ => out.extend_from_slice(&self.bytes[start..self.pos]),
                }
            }
        }
        Ok(())
    }

    /// Reads any value, appends it to `out` as [`Parser::transcode`] does, and returns its JSON type,
    /// whose [`StandIn::value`] can take the value's place in a message.
    pub fn transcode_standing_in(&mut self, out: &mut Vec<u8>) -> PResult<StandIn> {
        let stand_in = match self.peek() {
            Some(b'"') => StandIn::Str,
            Some(b'{') => StandIn::Object,
            Some(b'[') => StandIn::Array,
            Some(b'n') => StandIn::Null,
            Some(b't' | b'f') => StandIn::Bool,
            _ => {
                // The written number tells a float from an integer: floats are written with a point or an exponent.
                let start = out.len();
                self.transcode(out)?;
                let float = out[start..].iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
                return Ok(if float { StandIn::Float } else { StandIn::Int });
            }
        };
        self.transcode(out)?;
        Ok(stand_in)
    }

    /// Skips a number literal that is canonical as it stands, with no need to parse it: an
    /// integer of at most 18 digits (an `i64`, except `-0`, which is read as a float) or a float
    /// that [`is_canonical_float`] accepts. Leaves anything else to [`Parser::scalar`].
    #[inline(always)]
    fn canonical_number(&mut self) -> bool {
        // Inline for the usual short positive integer; everything else takes the full check.
        let bytes = self.bytes;
        if bytes.get(self.pos).is_some_and(|d| (b'1'..=b'9').contains(d)) {
            let mut at = self.pos + 1;
            while at - self.pos < 18 && bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if !bytes.get(at).is_some_and(|&b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E')) {
                self.pos = at;
                return true;
            }
        }
        self.canonical_number_in_full()
    }

    #[inline(never)]
    fn canonical_number_in_full(&mut self) -> bool {
        let bytes = self.bytes;
        let negative = bytes.get(self.pos) == Some(&b'-');
        let first = self.pos + usize::from(negative);
        let mut at = first;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let int_digits = at - first;
        if int_digits == 0 || int_digits > 18 || (bytes[first] == b'0' && (int_digits > 1 || negative)) {
            return false;
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if !is_canonical_float(&bytes[self.pos..at]) {
                return false;
            }
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            return false;
        }
        self.pos = at;
        true
    }

    /// Reads `null`, `true`, `false` or a number.
    pub fn scalar(&mut self) -> PResult<Scalar> {
        match self.peek() {
            Some(b'n') => self.literal(b"null", Scalar::Null),
            Some(b't') => self.literal(b"true", Scalar::Bool(true)),
            Some(b'f') => self.literal(b"false", Scalar::Bool(false)),
            Some(b'-' | b'0'..=b'9') => self.number().map(Scalar::Number),
            _ => Err(self.eof_or("expected value")),
        }
    }

    fn literal(&mut self, word: &[u8], scalar: Scalar) -> PResult<Scalar> {
        for &expected in word {
            match self.bytes.get(self.pos) {
                Some(&b) if b == expected => self.pos += 1,
                None => return Err(self.fail("EOF while parsing a value")),
                Some(_) => return Err(self.fail("expected ident")),
            }
        }
        Ok(scalar)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> PResult<Number> {
        let start = self.pos;
        let negative = self.bytes[self.pos] == b'-';
        if negative {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => {
                self.pos += 1;
                if self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return Err(self.fail("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            None => return Err(self.fail("EOF while parsing a value")),
            Some(_) => return Err(self.fail("invalid number")),
        }
        let mut integral = true;
        if self.bytes.get(self.pos) == Some(&b'.') {
            integral = false;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.eof_or("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            integral = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.eof_or("invalid number"));
            }
        }
        let text = &self.text[start..self.pos];
        if integral {
            if negative {
                match text.parse::<i64>() {
                    Ok(0) => return Ok(Number::Float(-0.0)),
                    Ok(i) => return Ok(Number::Int(i)),
                    Err(_) => {}
                }
            } else if let Ok(u) = text.parse::<u64>() {
                return Ok(i64::try_from(u).map_or(Number::UInt(u), Number::Int));
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Number::Float(f)),
            _ => Err(Fail { offset: start, message: "number out of range" }),
        }
    }

    /// Reads a string at its opening quote; text without escapes borrows from the input.
    // Inlined so that the usual borrowed result stays in registers: returned through memory, it
    // was stored in words and reloaded in halves, a store-forwarding stall on every string.
    #[inline(always)]
    pub fn string(&mut self) -> PResult<Cow<'a, str>> {
        self.pos += 1;
        let start = self.pos;
        self.pos = plain_run_end(self.bytes, start);
        if self.bytes.get(self.pos) == Some(&b'"') {
            let text = &self.text[start..self.pos];
            self.pos += 1;
            return Ok(Cow::Borrowed(text));
        }
        self.escaped_string(start)
    }

    /// Reads a string at its opening quote if it is printable ASCII without escapes (every byte in
    /// 0x20..0x7F), which is a valid CloudEvents string with no further check; otherwise stays
    /// where it is and returns `None`.
    #[inline(always)]
    pub fn printable_ascii_string(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        let end = printable_run_end(self.bytes, start);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end + 1;
        Some(&self.text[start..end])
    }

    /// Reads a string at its opening quote: text without escapes is borrowed from the input (`Some`);
    /// text with escapes is appended to `side`, unescaped (`None`).
    pub(crate) fn string_or_unescaped(&mut self, side: &mut String) -> PResult<Option<&'a str>> {
        self.pos += 1;
        let start = self.pos;
        self.pos = plain_run_end(self.bytes, start);
        if self.bytes.get(self.pos) == Some(&b'"') {
            let text = &self.text[start..self.pos];
            self.pos += 1;
            return Ok(Some(text));
        }
        self.unescape(start, side).map(|()| None)
    }

    /// [`Parser::printable_ascii_string`] that gives where the text is in the input.
    #[inline(always)]
    fn printable_ascii_range(&mut self) -> Option<std::ops::Range<usize>> {
        let start = self.pos + 1;
        let end = printable_run_end(self.bytes, start);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end + 1;
        Some(start..end)
    }

    /// The input's bytes.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The rest of a string that has escapes (or is malformed) from `self.pos` on.
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, start: usize) -> PResult<Cow<'a, str>> {
        let mut owned = String::with_capacity(self.pos - start + 16);
        self.unescape(start, &mut owned)?;
        Ok(Cow::Owned(owned))
    }

    /// Appends the text of a string literal from `start` to `owned`, unescaped, up to its closing
    /// quote; `self.pos` is where its first escape (or the byte that makes it malformed) is.
    fn unescape(&mut self, start: usize, owned: &mut String) -> PResult<()> {
        match self.bytes.get(self.pos) {
            Some(b'\\') => {}
            None => return Err(self.fail("EOF while parsing a string")),
            Some(_) => return Err(self.fail("control character (\\u0000-\\u001F) found while parsing a string")),
        }
        owned.push_str(&self.text[start..self.pos]);
        loop {
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => self.escape(owned)?,
                None => return Err(self.fail("EOF while parsing a string")),
                Some(_) => {
                    let run = self.pos;
                    self.pos = plain_run_end(self.bytes, run);
                    if self.pos == run {
                        return Err(self.fail("control character (\\u0000-\\u001F) found while parsing a string"));
                    }
                    owned.push_str(&self.text[run..self.pos]);
                }
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> PResult<()> {
        self.pos += 1;
        let c = match self.bytes.get(self.pos) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let first = self.hex4()?;
                let code = match first {
                    0xD800..=0xDBFF => {
                        if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(self.eof_or("lone leading surrogate in hex escape"));
                        }
                        self.pos += 2;
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(self.fail("lone leading surrogate in hex escape"));
                        }
                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(self.fail("lone trailing surrogate in hex escape")),
                    _ => first,
                };
                out.push(char::from_u32(code).ok_or_else(|| self.fail("invalid unicode code point"))?);
                return Ok(());
            }
            None => return Err(self.fail("EOF while parsing a string")),
            Some(_) => return Err(self.fail("invalid escape")),
        };
        self.pos += 1;
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> PResult<u32> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = match self.bytes.get(self.pos) {
                None => return Err(self.fail("EOF while parsing a string")),
                Some(&d) => char::from(d).to_digit(16).ok_or_else(|| self.fail("invalid escape"))?,
            };
            code = code * 16 + digit;
            self.pos += 1;
        }
        Ok(code)
    }
}

/// Appends `bytes[from..to]` to `out`. Runs up to [`BLOCK`] bytes long go in as one fixed-size
/// block that is then cut to length: a few vector moves instead of a call to `memcpy`.
#[inline(always)]
pub(crate) fn copy_run(out: &mut Vec<u8>, bytes: &[u8], from: usize, to: usize) {
    const BLOCK: usize = 32;
    let len = to - from;
    match bytes.get(from..from + BLOCK) {
        Some(block) if len <= BLOCK => {
            let block: &[u8; BLOCK] = block.try_into().expect("a block");
            out.extend_from_slice(block);
            out.truncate(out.len() - (BLOCK - len));
        }
        _ => out.extend_from_slice(&bytes[from..to]),
    }
}

/// Appends an object key as read by [`Parser::string`]: borrowed text has nothing to escape.
#[inline(always)]
fn write_key(out: &mut Vec<u8>, name: Cow<'_, str>) {
    match name {
        Cow::Borrowed(text) => {
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(text) => write_str(out, &text),
    }
}

/// Whether a float literal is already what [`write_float`] writes for its value: plain notation,
/// a magnitude from 0.1 up (where the shortest form has no exponent), no trailing zero but `.0`,
/// and at most 15 significant digits, which every f64 keeps, so the literal is the shortest form.
fn is_canonical_float(literal: &[u8]) -> bool {
    let digits = literal.strip_prefix(b"-").unwrap_or(literal);
    let Some(point) = digits.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (int, fraction) = (&digits[..point], &digits[point + 1..]);
    if int == b"0" {
        return fraction.first().is_some_and(|&d| d != b'0') && is_short_fraction(fraction, 15);
    }
    fraction == b"0" && int.len() <= 15 || is_short_fraction(fraction, 15usize.saturating_sub(int.len()))
}

fn is_short_fraction(fraction: &[u8], max_len: usize) -> bool {
    fraction.len() <= max_len && fraction.iter().all(u8::is_ascii_digit) && fraction.last().is_some_and(|&d| d != b'0')
}

/// The JSON type of a value written elsewhere, for a message that holds its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandIn {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Array,
    Object,
}

impl From<StandIn> for Value<'_> {
    /// A value of the type: an empty string, array or object, zero, false or null.
    fn from(stand_in: StandIn) -> Self {
        match stand_in {
            StandIn::Null => Value::Null,
            StandIn::Bool => Value::Bool(false),
            StandIn::Int => Value::Int(0),
            StandIn::Float => Value::Float(0.0),
            StandIn::Str => Value::Str(Cow::Borrowed("")),
            StandIn::Array => Value::Array(Vec::new()),
            StandIn::Object => Value::Object(Vec::new()),
        }
    }
}

/// A JSON value that is not a string, array or object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Number(Number),
}

/// Parses one JSON document into a tree; a malformed one is a `Decode` error at the byte where it broke.
pub fn parse(input: &[u8]) -> Result<Value<'_>> {
    let mut parser = Parser::new(input)?;
    let value = parser.value()?;
    parser.finish()?;
    Ok(value)
}

/// Bytes that end a run of plain string content: the quote, the backslash and control characters.
const STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Index of the first byte from `at` on that ends plain string content.
#[inline(always)]
pub fn plain_run_end(bytes: &[u8], at: usize) -> usize {
    run_end(bytes, at, plain_stops, |b| STOP[usize::from(b)])
}

/// Index of the first byte from `at` on that ends plain string content or is not printable
/// ASCII (DEL and bytes from 0x80).
#[inline(always)]
pub(crate) fn printable_run_end(bytes: &[u8], at: usize) -> usize {
    run_end(bytes, at, printable_stops, |b| STOP[usize::from(b)] || b >= 0x7F)
}

/// Index of the first byte from `at` on that `stop` flags, sixteen bytes at a time with `stops`
/// (whose lowest set bit marks the first such byte of a chunk, zero if there is none).
#[inline(always)]
fn run_end(bytes: &[u8], mut at: usize, stops: fn(&[u8; 16]) -> u32, stop: fn(u8) -> bool) -> usize {
    while let Some(chunk) = bytes.get(at..at + 16) {
        let found = stops(chunk.try_into().expect("sixteen bytes"));
        if found != 0 {
            return at + found.trailing_zeros() as usize;
        }
        at += 16;
    }
    while bytes.get(at).is_some_and(|&b| !stop(b)) {
        at += 1;
    }
    at
}

#[cfg(all(any(target_arch = "x86_64", target_arch = "x86"), target_feature = "sse2"))]
use vector::{plain_stops, printable_stops};
#[cfg(not(all(any(target_arch = "x86_64", target_arch = "x86"), target_feature = "sse2")))]
use words::{plain_stops, printable_stops};

/// The chunk tests with vector compares and a move-mask: one bit per byte that stops a run.
#[cfg(all(any(target_arch = "x86_64", target_arch = "x86"), target_feature = "sse2"))]
mod vector {
    use safe_arch::*;

    #[inline(always)]
    fn quote_or_backslash(v: m128i) -> m128i {
        let quote = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'"' as i8));
        bitor_m128i(quote, cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'\\' as i8)))
    }

    /// Quotes, backslashes and control characters.
    #[inline(always)]
    pub fn plain_stops(chunk: &[u8; 16]) -> u32 {
        let v = load_unaligned_m128i(chunk);
        let control = cmp_eq_mask_i8_m128i(min_u8_m128i(v, set_splat_i8_m128i(0x1F)), v);
        move_mask_i8_m128i(bitor_m128i(control, quote_or_backslash(v))) as u32
    }

    /// [`plain_stops`], DEL and bytes from 0x80.
    #[inline(always)]
    pub fn printable_stops(chunk: &[u8; 16]) -> u32 {
        let v = load_unaligned_m128i(chunk);
        // Signed: bytes from 0x80 are negative, so below 0x20 as well.
        let outside = cmp_lt_mask_i8_m128i(v, set_splat_i8_m128i(0x20));
        let del = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(0x7F));
        move_mask_i8_m128i(bitor_m128i(bitor_m128i(outside, del), quote_or_backslash(v))) as u32
    }
}

/// The chunk tests eight bytes at a time in `u64`s, for targets without SSE2; only the lowest
/// set bit is exact (a borrow can flag a byte above a real match), which is all callers read.
#[cfg_attr(all(any(target_arch = "x86_64", target_arch = "x86"), target_feature = "sse2"), allow(dead_code))]
mod words {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;

    /// High bit of each byte of `w` equal to `b`, exact up to the lowest.
    #[inline(always)]
    fn equal(w: u64, b: u8) -> u64 {
        let x = w ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x
    }

    #[inline(always)]
    fn first(chunk: &[u8; 16], flags: impl Fn(u64) -> u64) -> u32 {
        let low = flags(u64::from_le_bytes(chunk[..8].try_into().expect("eight bytes"))) & HIGH;
        if low != 0 {
            return 1 << (low.trailing_zeros() / 8);
        }
        let high = flags(u64::from_le_bytes(chunk[8..].try_into().expect("eight bytes"))) & HIGH;
        if high != 0 {
            return 1 << (8 + high.trailing_zeros() / 8);
        }
        0
    }

    pub fn plain_stops(chunk: &[u8; 16]) -> u32 {
        first(chunk, |w| equal(w, b'"') | equal(w, b'\\') | (w.wrapping_sub(ONES * 0x20) & !w))
    }

    pub fn printable_stops(chunk: &[u8; 16]) -> u32 {
        first(chunk, |w| w | equal(w, b'"') | equal(w, b'\\') | equal(w, 0x7F) | (w.wrapping_sub(ONES * 0x20) & !w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudevents::value::write_value;

    fn transcoded(text: &str) -> String {
        let mut out = Vec::new();
        let mut parser = Parser::new(text.as_bytes()).expect("UTF-8");
        parser.transcode(&mut out).expect("valid");
        String::from_utf8(out).expect("UTF-8")
    }

    fn rewritten(text: &str) -> String {
        let mut out = Vec::new();
        write_value(&mut out, &parse(text.as_bytes()).expect("valid"), "").expect("writable");
        String::from_utf8(out).expect("UTF-8")
    }

    fn from_serde(value: serde_json::Value) -> Value<'static> {
        use serde_json::Value as J;
        match value {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(b),
            J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Value::Int(i),
                (None, Some(u), _) => Value::UInt(u),
                (None, None, f) => Value::Float(f.expect("a float")),
            },
            J::String(s) => Value::Str(s.into()),
            J::Array(items) => Value::Array(items.into_iter().map(from_serde).collect()),
            J::Object(members) => Value::Object(members.into_iter().map(|(k, v)| (k.into(), from_serde(v))).collect()),
        }
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#" {"a" : [1, -2.5, true, false, null, "x"], "b": {}, "c": []} "#,
            r#""\u00e9\ud83d\ude00\n\"\/\b\f\r\t\\ plain text long enough for whole words""#,
            "-0",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1e-400",
            "0.1",
            "[1.5E3, 2e+2, 2E-2]",
            "[0, -1, 10, -0, -0.0, 0.5, 1.0, 1.50, 0.05, 123456789012345678, 1234567890123456789, 1.5e3]",
        ] {
            let ours = parse(text.as_bytes()).expect(text);
            let theirs: serde_json::Value = serde_json::from_str(text).expect(text);
            assert_eq!(ours, from_serde(theirs), "{text}");
            assert_eq!(transcoded(text), rewritten(text), "{text}");
        }
    }

    #[test]
    fn reports_offsets() {
        let cases: &[(&[u8], usize)] = &[
            (b"", 0),
            (b"{", 1),
            (b"{\"id\": tru}", 10),
            (b"{\"id\": \"1\"} x", 12),
            (b"\xff", 0),
            (b"[1,", 3),
            (b"{\"a\"}", 4),
            (b"{\"a\":}", 5),
            (b"[1,]", 3),
            (b"01", 1),
            (b"[-01]", 3),
            (b"-", 1),
            (b"[1.]", 3),
            (b"[1.5x]", 4),
            (b"12e", 3),
            (b"\"abc", 4),
            (b"1e999", 0),
            (b"\"a\x01\"", 2),
            (b"\"\\ud800\"", 7),
        ];
        for (text, offset) in cases {
            match parse(text) {
                Err(Error::Decode { offset: got, .. }) => assert_eq!(got, *offset, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
            if let Ok(mut parser) = Parser::new(text) {
                let transcoded = parser.transcode(&mut Vec::new()).and_then(|()| parser.finish());
                assert_eq!(transcoded.map_err(|fail| fail.offset), Err(*offset), "{text:?}");
            }
        }
    }

    #[test]
    fn plain_run_scan_matches_the_byte_rule() {
        for len in 0..40 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let naive = bytes.iter().position(|&c| STOP[usize::from(c)]).unwrap_or(len);
                    assert_eq!(plain_run_end(&bytes, 0), naive, "{len} {at} {b}");
                    let naive = bytes.iter().position(|&c| STOP[usize::from(c)] || c >= 0x7F).unwrap_or(len);
                    assert_eq!(printable_run_end(&bytes, 0), naive, "{len} {at} {b}");
                    if let Ok(chunk) = <&[u8; 16]>::try_from(&bytes[..len.min(16)]) {
                        let first = |stops: u32| if stops == 0 { 16 } else { stops.trailing_zeros() as usize };
                        let plain = bytes[..16].iter().position(|&c| STOP[usize::from(c)]).unwrap_or(16);
                        let printable = naive.min(16);
                        assert_eq!(first(words::plain_stops(chunk)), plain, "{len} {at} {b}");
                        assert_eq!(first(words::printable_stops(chunk)), printable, "{len} {at} {b}");
                        assert_eq!(first(plain_stops(chunk)), plain, "{len} {at} {b}");
                        assert_eq!(first(printable_stops(chunk)), printable, "{len} {at} {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn compact_copy_writes_what_the_recursive_transcoder_writes() {
        let doc = r#" {"a" : [1, -2.5, true, false, null, "x", {}, [], [[]], {"b": {"c": [0]}}], "d": 30.5 , "e":""} "#;
        let mut copied = 0;
        for at in 0..doc.len() {
            for edit in ["", "\\n", "1.50", "}", "]", ",", ":", "\"", "tru", "-0", "1e2", "{\"k\":1}"] {
                let text = format!("{}{edit}{}", &doc[..at], &doc[at + 1..]);
                let (mut fast, mut slow) = (Vec::new(), Vec::new());
                let mut parser = Parser::new(text.as_bytes()).expect("UTF-8");
                if parser.copy_compact(&mut fast) && parser.finish().is_ok() {
                    let mut parser = Parser::new(text.as_bytes()).expect("UTF-8");
                    parser.transcode_any(&mut slow).and_then(|()| parser.finish()).expect(&text);
                    assert_eq!(fast, slow, "{text}");
                    copied += 1;
                }
            }
        }
        assert!(copied > 50, "{copied}");
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(!Parser::new(deep.as_bytes()).expect("UTF-8").copy_compact(&mut Vec::new()));
        let ok = "[{\"a\":".repeat(MAX_DEPTH / 2) + "1" + &"}]".repeat(MAX_DEPTH / 2);
        assert!(Parser::new(ok.as_bytes()).expect("UTF-8").copy_compact(&mut Vec::new()));
    }

    #[test]
    fn canonical_floats_pass_through_as_written() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        let mut passed = 0;
        for _ in 0..200_000 {
            let digits = |n: u64, next: &mut dyn FnMut(u64) -> u64| -> String {
                (0..n).map(|_| char::from(b'0' + next(10) as u8)).collect()
            };
            let int_len = next(18);
            let int = if int_len == 0 { "0".to_owned() } else { digits(int_len, &mut next) };
            let fraction_len = 1 + next(17);
            let fraction = digits(fraction_len, &mut next);
            let sign = if next(2) == 0 { "-" } else { "" };
            let literal = format!("{sign}{int}.{fraction}");
            let Ok(Value::Float(f)) = parse(literal.as_bytes()) else {
                continue;
            };
            let mut written = Vec::new();
            write_float(&mut written, f);
            if is_canonical_float(literal.as_bytes()) {
                passed += 1;
                assert_eq!(written, literal.as_bytes(), "{literal}");
            }
        }
        assert!(passed > 10_000, "{passed}");
        for (literal, canonical) in
            [("30.5", true), ("-0.25", true), ("1.0", true), ("1e5", false), ("0.05", false), ("1.50", false)]
        {
            assert_eq!(is_canonical_float(literal.as_bytes()), canonical, "{literal}");
        }
    }

    #[test]
    fn bounds_nesting() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse(deep.as_bytes()), Err(Error::Decode { .. })));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
    }
}
