//! A plain Rust value tree with the same shape as the Python values (a union is its branch's value,
//! records and maps are both `Map`, enums are strings, fixed is bytes). Used for defaults and tests.

use crate::avro::decode::Builder;
use crate::avro::encode::{Kind, Source};
use crate::avro::schema::TypeId;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Long(i64),
    Double(f64),
    Bytes(Vec<u8>),
    String(String),
    Array(Vec<Value>),
    Map(Vec<(String, Value)>),
}

impl Source for &Value {
    fn kind(&self) -> Kind {
        match self {
            Value::Null => Kind::Null,
            Value::Boolean(_) => Kind::Boolean,
            Value::Long(_) => Kind::Int,
            Value::Double(_) => Kind::Float,
            Value::Bytes(_) => Kind::Bytes,
            Value::String(_) => Kind::Str,
            Value::Array(_) => Kind::Sequence,
            Value::Map(_) => Kind::Mapping,
        }
    }

    fn type_name(&self) -> String {
        format!("{:?}", self.kind()).to_lowercase()
    }

    fn as_bool(&self) -> bool {
        matches!(self, Value::Boolean(true))
    }

    fn as_long(&self) -> Option<i64> {
        match self {
            Value::Long(v) => Some(*v),
            _ => None,
        }
    }

    fn as_double(&self) -> Result<f64> {
        match self {
            Value::Long(v) => Ok(*v as f64),
            Value::Double(v) => Ok(*v),
            _ => Err(Error::validation("", "expected a number")),
        }
    }

    fn with_str<R>(&self, f: impl FnOnce(&str) -> Result<R>) -> Result<R> {
        match self {
            Value::String(s) => f(s),
            _ => Err(Error::validation("", "expected a string")),
        }
    }

    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> Result<R>) -> Result<R> {
        match self {
            Value::Bytes(b) => f(b),
            _ => Err(Error::validation("", "expected bytes")),
        }
    }

    fn field(&self, _record: TypeId, _index: usize, name: &str) -> Result<Option<Self>> {
        match self {
            Value::Map(entries) => Ok(entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)),
            _ => Ok(None),
        }
    }

    fn count(&self) -> Result<usize> {
        Ok(match self {
            Value::Array(items) => items.len(),
            Value::Map(entries) => entries.len(),
            _ => 0,
        })
    }

    fn for_each_item(&self, mut f: impl FnMut(Self) -> Result<()>) -> Result<()> {
        if let Value::Array(items) = self {
            items.iter().try_for_each(&mut f)?;
        }
        Ok(())
    }

    fn for_each_entry(&self, mut f: impl FnMut(&str, Self) -> Result<()>) -> Result<()> {
        if let Value::Map(entries) = self {
            entries.iter().try_for_each(|(k, v)| f(k, v))?;
        }
        Ok(())
    }
}

/// Builds [`Value`] trees; what the core tests decode into.
pub struct ValueBuilder;

impl Builder for ValueBuilder {
    type Value = Value;
    type Record = Vec<(String, Value)>;
    type List = Vec<Value>;
    type Map = Vec<(String, Value)>;
    type Error = Error;

    fn null(&mut self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn boolean(&mut self, v: bool) -> Result<Value> {
        Ok(Value::Boolean(v))
    }
    fn long(&mut self, v: i64) -> Result<Value> {
        Ok(Value::Long(v))
    }
    fn double(&mut self, v: f64) -> Result<Value> {
        Ok(Value::Double(v))
    }
    fn bytes(&mut self, v: &[u8]) -> Result<Value> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn string(&mut self, v: &str) -> Result<Value> {
        Ok(Value::String(v.to_owned()))
    }
    fn symbol(&mut self, _enum_ty: TypeId, _index: usize, symbol: &str) -> Result<Value> {
        Ok(Value::String(symbol.to_owned()))
    }
    fn record_start(&mut self, _ty: TypeId, fields: usize) -> Result<Self::Record> {
        Ok(Vec::with_capacity(fields))
    }
    fn record_set(&mut self, rec: &mut Self::Record, _ty: TypeId, _field: usize, name: &str, v: Value) -> Result<()> {
        rec.push((name.to_owned(), v));
        Ok(())
    }
    fn record_end(&mut self, rec: Self::Record) -> Result<Value> {
        Ok(Value::Map(rec))
    }
    fn list_start(&mut self, capacity: usize) -> Result<Self::List> {
        Ok(Vec::with_capacity(capacity))
    }
    fn list_push(&mut self, list: &mut Self::List, v: Value) -> Result<()> {
        list.push(v);
        Ok(())
    }
    fn list_end(&mut self, list: Self::List) -> Result<Value> {
        Ok(Value::Array(list))
    }
    fn map_start(&mut self, capacity: usize) -> Result<Self::Map> {
        Ok(Vec::with_capacity(capacity))
    }
    fn map_insert(&mut self, map: &mut Self::Map, key: &str, v: Value) -> Result<()> {
        map.push((key.to_owned(), v));
        Ok(())
    }
    fn map_end(&mut self, map: Self::Map) -> Result<Value> {
        Ok(Value::Map(map))
    }
}
