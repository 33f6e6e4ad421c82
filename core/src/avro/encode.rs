//! Avro binary encoding driven by a [`Source`] of values (Python objects in the binding, [`Value`] here),
//! with fastavro's rules for which union branch a value takes.
//!
//! [`Value`]: crate::avro::value::Value

use crate::avro::schema::{Schema, Type, TypeId};
use crate::error::{Error, Result};

/// Nesting deeper than this is refused rather than risking the stack (e.g. self-referencing values).
pub const MAX_DEPTH: usize = 100;

/// What a value looks like, in Python's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Boolean,
    Int,
    Float,
    Str,
    Bytes,
    Mapping,
    Sequence,
    Other,
}

/// Read access to a value being encoded. Methods other than `kind` are only called when `kind` said
/// the value has that shape.
pub trait Source: Sized {
    fn kind(&self) -> Kind;
    /// The value's type as its user knows it (`str`, `NoneType`), for error messages.
    fn type_name(&self) -> String;
    fn as_bool(&self) -> bool;
    /// `None` when the integer does not fit in 64 bits.
    fn as_long(&self) -> Option<i64>;
    fn as_double(&self) -> Result<f64>;
    fn with_str<R>(&self, f: impl FnOnce(&str) -> Result<R>) -> Result<R>;
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> Result<R>) -> Result<R>;
    /// The value of field `index` (named `name`) of record type `record`, if present.
    fn field(&self, record: TypeId, index: usize, name: &str) -> Result<Option<Self>>;
    fn count(&self) -> Result<usize>;
    fn for_each_item(&self, f: impl FnMut(Self) -> Result<()>) -> Result<()>;
    fn for_each_entry(&self, f: impl FnMut(&str, Self) -> Result<()>) -> Result<()>;
}

pub fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_len(out: &mut Vec<u8>, len: usize) {
    write_long(out, len as i64);
}

/// Encodes `value` as the root of `schema`; a validation error's path starts with the root's name.
pub fn encode<S: Source>(schema: &Schema, value: &S, out: &mut Vec<u8>) -> Result<()> {
    encode_type(schema, schema.root(), value, out).map_err(|e| match e {
        Error::Validation { path, message } => {
            let root = match schema.get(schema.root()) {
                Type::Record { name, .. } | Type::Enum { name, .. } | Type::Fixed { name, .. } => name.name.clone(),
                other => other.kind().to_owned(),
            };
            Error::Validation { path: format!("{root}{path}"), message }
        }
        other => other,
    })
}

pub(crate) fn encode_type<S: Source>(schema: &Schema, ty: TypeId, value: &S, out: &mut Vec<u8>) -> Result<()> {
    Encoder { schema }.write(ty, value, out, 0)
}

fn within(e: Error, segment: impl FnOnce() -> String) -> Error {
    match e {
        Error::Validation { path, message } => Error::Validation { path: format!("{}{path}", segment()), message },
        other => other,
    }
}

struct Encoder<'s> {
    schema: &'s Schema,
}

impl Encoder<'_> {
    fn mismatch<S: Source>(&self, ty: TypeId, value: &S) -> Error {
        let expected = match self.schema.get(ty) {
            Type::Union(branches) => {
                let labels: Vec<String> = branches.iter().map(|b| self.schema.get(*b).label()).collect();
                format!("one of [{}]", labels.join(", "))
            }
            other => other.label(),
        };
        Error::validation("", format!("expected {expected}, got {}", value.type_name()))
    }

    fn write<S: Source>(&self, ty: TypeId, value: &S, out: &mut Vec<u8>, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::validation("", format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let kind = value.kind();
        match self.schema.get(ty) {
            Type::Null if kind == Kind::Null => {}
            Type::Boolean if kind == Kind::Boolean => out.push(u8::from(value.as_bool())),
            Type::Int if kind == Kind::Int => {
                let v = value.as_long().and_then(|v| i32::try_from(v).ok());
                let v = v.ok_or_else(|| Error::validation("", "integer out of range for int"))?;
                write_long(out, i64::from(v));
            }
            Type::Long if kind == Kind::Int => {
                let v = value.as_long().ok_or_else(|| Error::validation("", "integer out of range for long"))?;
                write_long(out, v);
            }
            Type::Float if matches!(kind, Kind::Int | Kind::Float) => {
                let v = value.as_double()?;
                if v.is_finite() && v.abs() > f64::from(f32::MAX) {
                    return Err(Error::validation("", format!("{v} is out of range for float")));
                }
                out.extend_from_slice(&(v as f32).to_le_bytes());
            }
            Type::Double if matches!(kind, Kind::Int | Kind::Float) => {
                out.extend_from_slice(&value.as_double()?.to_le_bytes());
            }
            Type::Bytes if kind == Kind::Bytes => value.with_bytes(|b| {
                write_len(out, b.len());
                out.extend_from_slice(b);
                Ok(())
            })?,
            Type::String if kind == Kind::Str => value.with_str(|s| {
                write_len(out, s.len());
                out.extend_from_slice(s.as_bytes());
                Ok(())
            })?,
            Type::Enum { symbols, .. } if kind == Kind::Str => value.with_str(|s| {
                let index = symbols
                    .iter()
                    .position(|sym| sym == s)
                    .ok_or_else(|| Error::validation("", format!("{s:?} is not one of the symbols {symbols:?}")))?;
                write_len(out, index);
                Ok(())
            })?,
            Type::Fixed { size, .. } if kind == Kind::Bytes => value.with_bytes(|b| {
                if b.len() != *size {
                    return Err(Error::validation("", format!("expected {size} bytes, got {}", b.len())));
                }
                out.extend_from_slice(b);
                Ok(())
            })?,
            Type::Array(items) if kind == Kind::Sequence => {
                let len = value.count()?;
                if len > 0 {
                    write_len(out, len);
                    let mut index = 0;
                    value.for_each_item(|item| {
                        self.write(*items, &item, out, depth + 1).map_err(|e| within(e, || format!("[{index}]")))?;
                        index += 1;
                        Ok(())
                    })?;
                }
                out.push(0);
            }
            Type::Map(values) if kind == Kind::Mapping => {
                let len = value.count()?;
                if len > 0 {
                    write_len(out, len);
                    value.for_each_entry(|key, item| {
                        write_len(out, key.len());
                        out.extend_from_slice(key.as_bytes());
                        self.write(*values, &item, out, depth + 1).map_err(|e| within(e, || format!("[{key:?}]")))
                    })?;
                }
                out.push(0);
            }
            Type::Record { fields, .. } if kind == Kind::Mapping => {
                for (index, field) in fields.iter().enumerate() {
                    match value.field(ty, index, &field.name)? {
                        Some(v) => self.write(field.ty, &v, out, depth + 1),
                        None => self.write_missing(field.ty, field.default.as_deref(), out),
                    }
                    .map_err(|e| within(e, || format!(".{}", field.name)))?;
                }
            }
            Type::Union(branches) => {
                let index =
                    self.select_branch(branches, value, kind, depth)?.ok_or_else(|| self.mismatch(ty, value))?;
                write_len(out, index);
                self.write(branches[index], value, out, depth + 1)?;
            }
            _ => return Err(self.mismatch(ty, value)),
        }
        Ok(())
    }

    /// A field absent from the dict takes its default or, like fastavro, null when its type allows it.
    fn write_missing(&self, ty: TypeId, default: Option<&[u8]>, out: &mut Vec<u8>) -> Result<()> {
        if let Some(default) = default {
            out.extend_from_slice(default);
            return Ok(());
        }
        match self.schema.null_branch(ty) {
            Some(Some(index)) => write_len(out, index),
            Some(None) => {}
            None => return Err(Error::validation("", "missing required field")),
        }
        Ok(())
    }

    /// Whether `value` has the right shape for `ty` without looking inside containers.
    fn shallow_match<S: Source>(&self, ty: TypeId, value: &S, kind: Kind) -> Result<bool> {
        Ok(match (self.schema.get(ty), kind) {
            (Type::Null, Kind::Null) | (Type::Boolean, Kind::Boolean) => true,
            (Type::Int, Kind::Int) => value.as_long().is_some_and(|v| i32::try_from(v).is_ok()),
            (Type::Long, Kind::Int) => value.as_long().is_some(),
            (Type::Float | Type::Double, Kind::Int | Kind::Float) => true,
            (Type::Bytes, Kind::Bytes) | (Type::String, Kind::Str) => true,
            (Type::Enum { symbols, .. }, Kind::Str) => value.with_str(|s| Ok(symbols.iter().any(|x| x == s)))?,
            (Type::Fixed { size, .. }, Kind::Bytes) => value.with_bytes(|b| Ok(b.len() == *size))?,
            (Type::Array(_), Kind::Sequence) | (Type::Map(_) | Type::Record { .. }, Kind::Mapping) => true,
            _ => false,
        })
    }

    /// fastavro's validation: the shallow check applied all the way down.
    fn deep_match<S: Source>(&self, ty: TypeId, value: &S, depth: usize) -> Result<bool> {
        if depth > MAX_DEPTH {
            return Ok(false);
        }
        let kind = value.kind();
        if let Type::Union(branches) = self.schema.get(ty) {
            for branch in branches {
                if self.deep_match(*branch, value, depth + 1)? {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        if !self.shallow_match(ty, value, kind)? {
            return Ok(false);
        }
        let mut ok = true;
        match self.schema.get(ty) {
            Type::Array(items) => value.for_each_item(|item| {
                ok = ok && self.deep_match(*items, &item, depth + 1)?;
                Ok(())
            })?,
            Type::Map(values) => value.for_each_entry(|_, item| {
                ok = ok && self.deep_match(*values, &item, depth + 1)?;
                Ok(())
            })?,
            Type::Record { fields, .. } => {
                for (index, field) in fields.iter().enumerate() {
                    ok = match value.field(ty, index, &field.name)? {
                        Some(v) => self.deep_match(field.ty, &v, depth + 1)?,
                        None => field.default.is_some() || self.schema.null_branch(field.ty).is_some(),
                    };
                    if !ok {
                        break;
                    }
                }
            }
            _ => {}
        }
        Ok(ok)
    }

    /// fastavro's choice: the first branch the value validates against, except that among records the
    /// one sharing most field names wins and `float` gives way to a later `double`.
    fn select_branch<S: Source>(
        &self,
        branches: &[TypeId],
        value: &S,
        kind: Kind,
        depth: usize,
    ) -> Result<Option<usize>> {
        let mut candidates = Vec::with_capacity(2);
        for (index, branch) in branches.iter().enumerate() {
            if self.shallow_match(*branch, value, kind)? {
                candidates.push(index);
            }
        }
        // One candidate by shape is the answer whether or not its contents fit; writing it reports why not.
        if candidates.len() <= 1 {
            return Ok(candidates.first().copied());
        }
        let mut best = None;
        let mut most_fields = None;
        let mut could_be_float = false;
        for index in candidates {
            let branch = branches[index];
            if could_be_float {
                if *self.schema.get(branch) == Type::Double {
                    return Ok(Some(index));
                }
                continue;
            }
            if !self.deep_match(branch, value, depth + 1)? {
                continue;
            }
            match self.schema.get(branch) {
                Type::Record { fields, .. } => {
                    let mut shared = 0usize;
                    for (i, field) in fields.iter().enumerate() {
                        shared += usize::from(value.field(branch, i, &field.name)?.is_some());
                    }
                    if most_fields.map_or(true, |most| shared > most) {
                        best = Some(index);
                        most_fields = Some(shared);
                    }
                }
                Type::Float => {
                    best = Some(index);
                    could_be_float = true;
                }
                _ => return Ok(Some(index)),
            }
        }
        Ok(best)
    }
}
