//! Decoding: a [`Plan`] compiled once per (writer, reader) schema pair drives a [`Builder`] that makes
//! the output values (Python objects in the binding, [`Value`] here).
//!
//! [`Value`]: crate::avro::value::Value

use std::collections::HashMap;
use std::sync::Arc;

use crate::avro::encode::MAX_DEPTH;
use crate::avro::schema::{Schema, Type, TypeId};
use crate::error::{Error, Result};

/// Receives decoded values bottom-up. `ty` arguments are type ids of the reader schema, so a builder
/// can keep per-type caches (interned field names, enum symbols).
pub trait Builder {
    type Value;
    type Record;
    type List;
    type Map;
    type Error: From<Error>;

    fn null(&mut self) -> std::result::Result<Self::Value, Self::Error>;
    fn boolean(&mut self, v: bool) -> std::result::Result<Self::Value, Self::Error>;
    fn long(&mut self, v: i64) -> std::result::Result<Self::Value, Self::Error>;
    fn double(&mut self, v: f64) -> std::result::Result<Self::Value, Self::Error>;
    fn bytes(&mut self, v: &[u8]) -> std::result::Result<Self::Value, Self::Error>;
    fn string(&mut self, v: &str) -> std::result::Result<Self::Value, Self::Error>;
    fn symbol(&mut self, enum_ty: TypeId, index: usize, symbol: &str) -> std::result::Result<Self::Value, Self::Error>;
    fn record_start(&mut self, ty: TypeId, fields: usize) -> std::result::Result<Self::Record, Self::Error>;
    fn record_set(
        &mut self,
        rec: &mut Self::Record,
        ty: TypeId,
        field: usize,
        name: &str,
        v: Self::Value,
    ) -> std::result::Result<(), Self::Error>;
    fn record_end(&mut self, rec: Self::Record) -> std::result::Result<Self::Value, Self::Error>;
    fn list_start(&mut self, capacity: usize) -> std::result::Result<Self::List, Self::Error>;
    fn list_push(&mut self, list: &mut Self::List, v: Self::Value) -> std::result::Result<(), Self::Error>;
    fn list_end(&mut self, list: Self::List) -> std::result::Result<Self::Value, Self::Error>;
    fn map_start(&mut self, capacity: usize) -> std::result::Result<Self::Map, Self::Error>;
    fn map_insert(&mut self, map: &mut Self::Map, key: &str, v: Self::Value) -> std::result::Result<(), Self::Error>;
    fn map_end(&mut self, map: Self::Map) -> std::result::Result<Self::Value, Self::Error>;
}

/// Reads the primitives of the Avro binary encoding; every length is checked against what is left.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Items of arrays whose items may take no bytes at all (nulls) are bounded by this instead.
    empty_items_left: usize,
}

const MAX_EMPTY_ITEMS: usize = 1 << 20;

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader::at(data, 0)
    }

    /// Starts at `offset` (past a header), so that error offsets count from the start of `data`.
    pub fn at(data: &'a [u8], offset: usize) -> Self {
        Reader { data, pos: offset.min(data.len()), empty_items_left: MAX_EMPTY_ITEMS }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::decode(self.pos, message)
    }

    pub fn read_long(&mut self) -> Result<i64> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.data.get(self.pos).ok_or_else(|| self.error("unexpected end of data in a varint"))?;
            self.pos += 1;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                if shift == 63 && byte > 1 {
                    break;
                }
                return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
            }
        }
        Err(Error::decode(self.pos - 1, "varint longer than 64 bits"))
    }

    pub fn read_int(&mut self) -> Result<i32> {
        let start = self.pos;
        let v = self.read_long()?;
        i32::try_from(v).map_err(|_| Error::decode(start, format!("{v} is out of range for int")))
    }

    /// A non-negative length or count, no larger than `limit`.
    fn read_len(&mut self, what: &str, limit: usize) -> Result<usize> {
        let start = self.pos;
        let v = self.read_long()?;
        let len = usize::try_from(v).map_err(|_| Error::decode(start, format!("negative {what} {v}")))?;
        if len > limit {
            return Err(Error::decode(start, format!("{what} {len} exceeds the {limit} bytes left")));
        }
        Ok(len)
    }

    pub fn read_slice(&mut self, len: usize) -> Result<&'a [u8]> {
        if len > self.remaining() {
            return Err(self.error(format!("{len} bytes wanted, {} left", self.remaining())));
        }
        let slice = &self.data[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

    pub fn read_bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.read_len("byte length", self.remaining())?;
        self.read_slice(len)
    }

    pub fn read_str(&mut self) -> Result<&'a str> {
        let start = self.pos;
        let bytes = self.read_bytes()?;
        std::str::from_utf8(bytes).map_err(|e| Error::decode(start, format!("invalid UTF-8 in a string: {e}")))
    }

    fn read_boolean(&mut self) -> Result<bool> {
        match self.read_slice(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(Error::decode(self.pos - 1, format!("invalid boolean byte {b}"))),
        }
    }

    fn read_float(&mut self) -> Result<f32> {
        let b = self.read_slice(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn read_double(&mut self) -> Result<f64> {
        let b = self.read_slice(8)?;
        Ok(f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    /// The item count of the next array or map block (0 ends it); skips the byte size of negative counts.
    fn read_block(&mut self, items_may_be_empty: bool) -> Result<usize> {
        let start = self.pos;
        let count = self.read_long()?;
        let count = if count < 0 {
            self.read_long()?;
            count.checked_neg().ok_or_else(|| Error::decode(start, "invalid block count"))?
        } else {
            count
        };
        let count = usize::try_from(count).map_err(|_| Error::decode(start, "invalid block count"))?;
        if items_may_be_empty {
            if count > self.empty_items_left {
                return Err(Error::decode(start, format!("block of {count} items is too large")));
            }
            self.empty_items_left -= count;
        } else if count > self.remaining() {
            return Err(Error::decode(
                start,
                format!("block of {count} items exceeds the {} bytes left", self.remaining()),
            ));
        }
        Ok(count)
    }
}

type OpId = usize;

#[derive(Debug, Clone)]
enum Step {
    Read { field: usize, op: OpId },
    Skip(TypeId),
}

#[derive(Debug, Clone)]
enum Op {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    /// Promotion of int or long to float or double: Python gets a float, as with fastavro.
    IntAsDouble,
    LongAsDouble,
    Bytes,
    String,
    StringAsBytes,
    BytesAsString,
    Fixed(usize),
    Enum {
        reader: TypeId,
        symbols: Vec<std::result::Result<usize, String>>,
    },
    Array {
        item: OpId,
        may_be_empty: bool,
    },
    Map {
        value: OpId,
        may_be_empty: bool,
    },
    Record {
        reader: TypeId,
        steps: Vec<Step>,
        defaults: Vec<(usize, OpId)>,
    },
    Union(Vec<std::result::Result<OpId, String>>),
    Placeholder,
}

/// How to read data written with one schema as values of another, planned once.
#[derive(Debug)]
pub struct Plan {
    writer: Arc<Schema>,
    reader: Arc<Schema>,
    ops: Vec<Op>,
    root: OpId,
}

struct Planner<'s> {
    writer: &'s Schema,
    reader: &'s Schema,
    ops: Vec<Op>,
    memo: HashMap<(bool, TypeId, TypeId), OpId>,
    same_schema: bool,
}

impl Plan {
    /// Plans reading data written with `writer` as values of `reader` (the same `Arc` for no resolution).
    pub fn new(writer: Arc<Schema>, reader: Arc<Schema>) -> Result<Plan> {
        let same_schema = writer.canonical() == reader.canonical();
        let mut planner =
            Planner { writer: &writer, reader: &reader, ops: Vec::new(), memo: HashMap::new(), same_schema };
        let root = planner.plan(false, writer.root(), reader.root())?;
        let ops = planner.ops;
        Ok(Plan { writer, reader, ops, root })
    }

    pub fn writer(&self) -> &Arc<Schema> {
        &self.writer
    }

    pub fn reader(&self) -> &Arc<Schema> {
        &self.reader
    }

    /// Decodes one value from `reader`; the caller checks that nothing is left over.
    pub fn decode<B: Builder>(
        &self,
        reader: &mut Reader<'_>,
        builder: &mut B,
    ) -> std::result::Result<B::Value, B::Error> {
        self.read(self.root, reader, builder, 0)
    }

    fn read<B: Builder>(
        &self,
        op: OpId,
        r: &mut Reader<'_>,
        b: &mut B,
        depth: usize,
    ) -> std::result::Result<B::Value, B::Error> {
        if depth > MAX_DEPTH {
            return Err(r.error(format!("nested deeper than {MAX_DEPTH} levels")).into());
        }
        match &self.ops[op] {
            Op::Null => b.null(),
            Op::Boolean => b.boolean(r.read_boolean()?),
            Op::Int => b.long(i64::from(r.read_int()?)),
            Op::Long => b.long(r.read_long()?),
            Op::Float => b.double(f64::from(r.read_float()?)),
            Op::Double => b.double(r.read_double()?),
            Op::IntAsDouble => b.double(f64::from(r.read_int()?)),
            Op::LongAsDouble => b.double(r.read_long()? as f64),
            Op::Bytes | Op::StringAsBytes => b.bytes(r.read_bytes()?),
            Op::String | Op::BytesAsString => b.string(r.read_str()?),
            Op::Fixed(size) => b.bytes(r.read_slice(*size)?),
            Op::Enum { reader, symbols } => {
                let start = r.position();
                let index = usize::try_from(r.read_long()?).ok().filter(|i| *i < symbols.len());
                let index = index.ok_or_else(|| Error::decode(start, "enum index out of range"))?;
                match &symbols[index] {
                    Ok(i) => {
                        let Type::Enum { symbols: names, .. } = self.reader.get(*reader) else {
                            return Err(Error::schema("internal: enum plan without an enum").into());
                        };
                        b.symbol(*reader, *i, &names[*i])
                    }
                    Err(message) => Err(Error::schema(message.clone()).into()),
                }
            }
            Op::Array { item, may_be_empty } => {
                let mut list = b.list_start(0)?;
                loop {
                    let count = r.read_block(*may_be_empty)?;
                    if count == 0 {
                        break;
                    }
                    for _ in 0..count {
                        let v = self.read(*item, r, b, depth + 1)?;
                        b.list_push(&mut list, v)?;
                    }
                }
                b.list_end(list)
            }
            Op::Map { value, may_be_empty } => {
                let mut map = b.map_start(0)?;
                loop {
                    let count = r.read_block(*may_be_empty)?;
                    if count == 0 {
                        break;
                    }
                    for _ in 0..count {
                        let key = r.read_str()?;
                        let v = self.read(*value, r, b, depth + 1)?;
                        b.map_insert(&mut map, key, v)?;
                    }
                }
                b.map_end(map)
            }
            Op::Record { reader, steps, defaults } => {
                let Type::Record { fields, .. } = self.reader.get(*reader) else {
                    return Err(Error::schema("internal: record plan without a record").into());
                };
                let mut rec = b.record_start(*reader, fields.len())?;
                for step in steps {
                    match step {
                        Step::Read { field, op } => {
                            let v = self.read(*op, r, b, depth + 1)?;
                            b.record_set(&mut rec, *reader, *field, &fields[*field].name, v)?;
                        }
                        Step::Skip(ty) => skip(&self.writer, *ty, r, depth + 1)?,
                    }
                }
                for (field, op) in defaults {
                    let bytes = fields[*field].default.as_deref().unwrap_or_default();
                    let v = self.read(*op, &mut Reader::new(bytes), b, depth + 1)?;
                    b.record_set(&mut rec, *reader, *field, &fields[*field].name, v)?;
                }
                b.record_end(rec)
            }
            Op::Union(branches) => {
                let start = r.position();
                let index = usize::try_from(r.read_long()?).ok().filter(|i| *i < branches.len());
                let index = index.ok_or_else(|| Error::decode(start, "union branch index out of range"))?;
                match &branches[index] {
                    Ok(op) => self.read(*op, r, b, depth + 1),
                    Err(message) => Err(Error::schema(message.clone()).into()),
                }
            }
            Op::Placeholder => Err(Error::schema("internal: unfinished plan").into()),
        }
    }
}

/// Reads past a value of `ty` (a writer field the reader does not have).
fn skip(schema: &Schema, ty: TypeId, r: &mut Reader<'_>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(r.error(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    match schema.get(ty) {
        Type::Null => {}
        Type::Boolean => {
            r.read_boolean()?;
        }
        Type::Int => {
            r.read_int()?;
        }
        Type::Long | Type::Enum { .. } => {
            r.read_long()?;
        }
        Type::Float => {
            r.read_slice(4)?;
        }
        Type::Double => {
            r.read_slice(8)?;
        }
        Type::Bytes | Type::String => {
            r.read_bytes()?;
        }
        Type::Fixed { size, .. } => {
            r.read_slice(*size)?;
        }
        Type::Array(item) => loop {
            let count = r.read_block(may_be_empty(schema, *item, 0))?;
            if count == 0 {
                break;
            }
            for _ in 0..count {
                skip(schema, *item, r, depth + 1)?;
            }
        },
        Type::Map(value) => loop {
            let count = r.read_block(may_be_empty(schema, *value, 0))?;
            if count == 0 {
                break;
            }
            for _ in 0..count {
                r.read_bytes()?;
                skip(schema, *value, r, depth + 1)?;
            }
        },
        Type::Record { fields, .. } => {
            for field in fields {
                skip(schema, field.ty, r, depth + 1)?;
            }
        }
        Type::Union(branches) => {
            let start = r.position();
            let index = usize::try_from(r.read_long()?).ok().filter(|i| *i < branches.len());
            let index = index.ok_or_else(|| Error::decode(start, "union branch index out of range"))?;
            skip(schema, branches[index], r, depth + 1)?;
        }
    }
    Ok(())
}

/// Whether a value of `ty` can be encoded in zero bytes, so that a block count cannot be bounded by
/// the bytes left.
fn may_be_empty(schema: &Schema, ty: TypeId, depth: usize) -> bool {
    match schema.get(ty) {
        Type::Null => true,
        Type::Fixed { size, .. } => *size == 0,
        Type::Record { fields, .. } => {
            depth > MAX_DEPTH || fields.iter().all(|f| may_be_empty(schema, f.ty, depth + 1))
        }
        _ => false,
    }
}

impl Planner<'_> {
    /// `identity` plans read the reader's own encoding (record defaults), so both ids are reader ids.
    fn plan(&mut self, identity: bool, w: TypeId, r: TypeId) -> Result<OpId> {
        if let Some(op) = self.memo.get(&(identity, w, r)) {
            return Ok(*op);
        }
        let planned = self.plan_new(identity, w, r);
        if planned.is_err() {
            // A failed branch of a writer union must not leave a placeholder for others to find.
            self.memo.remove(&(identity, w, r));
        }
        planned
    }

    fn plan_new(&mut self, identity: bool, w: TypeId, r: TypeId) -> Result<OpId> {
        let writer = if identity { self.reader } else { self.writer };
        let reader = self.reader;
        let (wt, rt) = (writer.get(w), reader.get(r));
        let mismatch = || Error::schema(format!("writer's {} cannot be read as {}", wt.label(), rt.label()));
        let op = match (wt, rt) {
            (Type::Union(branches), _) => {
                let id = self.reserve(identity, w, r);
                let mut ops = Vec::with_capacity(branches.len());
                for branch in branches {
                    ops.push(self.plan(identity, *branch, r).map_err(|e| e.to_string()));
                }
                if !ops.is_empty() && ops.iter().all(|o| o.is_err()) {
                    return Err(mismatch());
                }
                self.ops[id] = Op::Union(ops);
                return Ok(id);
            }
            (_, Type::Union(branches)) => {
                // Across schemas the first branch that matches, promotions included (the specification and
                // fastavro); reading a schema's own data keeps the branch as written.
                let exact = identity || self.same_schema;
                let same =
                    |b: &&TypeId| exact && wt.kind() == reader.get(**b).kind() && self.compatible(writer, w, **b, 0);
                let branch = branches
                    .iter()
                    .find(same)
                    .or_else(|| branches.iter().find(|b| self.compatible(writer, w, **b, 0)))
                    .ok_or_else(mismatch)?;
                let op = self.plan(identity, w, *branch)?;
                self.memo.insert((identity, w, r), op);
                return Ok(op);
            }
            (Type::Null, Type::Null) => Op::Null,
            (Type::Boolean, Type::Boolean) => Op::Boolean,
            (Type::Int, Type::Int | Type::Long) => Op::Int,
            (Type::Int, Type::Float | Type::Double) => Op::IntAsDouble,
            (Type::Long, Type::Long) => Op::Long,
            (Type::Long, Type::Float | Type::Double) => Op::LongAsDouble,
            (Type::Float, Type::Float | Type::Double) => Op::Float,
            (Type::Double, Type::Double) => Op::Double,
            (Type::Bytes, Type::Bytes) => Op::Bytes,
            (Type::String, Type::String) => Op::String,
            (Type::String, Type::Bytes) => Op::StringAsBytes,
            (Type::Bytes, Type::String) => Op::BytesAsString,
            (Type::Fixed { name: wn, size: ws }, Type::Fixed { name: rn, size: rs }) if rn.accepts(wn) && ws == rs => {
                Op::Fixed(*ws)
            }
            (Type::Enum { name: wn, symbols: ws, .. }, Type::Enum { name: rn, symbols: rs, default })
                if rn.accepts(wn) =>
            {
                let map = ws
                    .iter()
                    .map(|s| match rs.iter().position(|x| x == s).or(*default) {
                        Some(i) => Ok(i),
                        None => Err(format!("symbol {s} is not in the reader's enum {}", rn.fullname)),
                    })
                    .collect();
                Op::Enum { reader: r, symbols: map }
            }
            (Type::Array(wi), Type::Array(ri)) => {
                let id = self.reserve(identity, w, r);
                let item = self.plan(identity, *wi, *ri)?;
                self.ops[id] = Op::Array { item, may_be_empty: may_be_empty(writer, *wi, 0) };
                return Ok(id);
            }
            (Type::Map(wv), Type::Map(rv)) => {
                let id = self.reserve(identity, w, r);
                let value = self.plan(identity, *wv, *rv)?;
                self.ops[id] = Op::Map { value, may_be_empty: may_be_empty(writer, *wv, 0) };
                return Ok(id);
            }
            (Type::Record { name: wn, fields: wf }, Type::Record { name: rn, fields: rf }) if rn.accepts(wn) => {
                let id = self.reserve(identity, w, r);
                let mut steps = Vec::with_capacity(wf.len());
                let mut matched = vec![false; rf.len()];
                for field in wf {
                    let found = rf.iter().position(|f| f.name == field.name || f.aliases.contains(&field.name));
                    match found {
                        Some(index) if !matched[index] => {
                            matched[index] = true;
                            let op = self.plan(identity, field.ty, rf[index].ty).map_err(|e| {
                                Error::schema(format!("field {}.{}: {}", rn.name, field.name, schema_message(e)))
                            })?;
                            steps.push(Step::Read { field: index, op });
                        }
                        _ => steps.push(Step::Skip(field.ty)),
                    }
                }
                let mut defaults = Vec::new();
                for (index, field) in rf.iter().enumerate().filter(|(i, _)| !matched[*i]) {
                    if field.default.is_none() {
                        return Err(Error::schema(format!(
                            "field {}.{} is not written and has no default",
                            rn.name, field.name
                        )));
                    }
                    defaults.push((index, self.plan(true, field.ty, field.ty)?));
                }
                self.ops[id] = Op::Record { reader: r, steps, defaults };
                return Ok(id);
            }
            _ => return Err(mismatch()),
        };
        self.ops.push(op);
        let id = self.ops.len() - 1;
        self.memo.insert((identity, w, r), id);
        Ok(id)
    }

    /// Adds a placeholder for a container so that recursive types find it while it is being planned.
    fn reserve(&mut self, identity: bool, w: TypeId, r: TypeId) -> OpId {
        self.ops.push(Op::Placeholder);
        let id = self.ops.len() - 1;
        self.memo.insert((identity, w, r), id);
        id
    }

    /// fastavro's test for which reader union branch a writer type goes to (promotions allowed, named
    /// types by name, containers by their item types).
    fn compatible(&self, writer: &Schema, w: TypeId, r: TypeId, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match (writer.get(w), self.reader.get(r)) {
            (Type::Union(_), _) | (_, Type::Union(_)) => true,
            (Type::Int, Type::Int | Type::Long | Type::Float | Type::Double)
            | (Type::Long, Type::Long | Type::Float | Type::Double)
            | (Type::Float, Type::Float | Type::Double)
            | (Type::String | Type::Bytes, Type::String | Type::Bytes) => true,
            (Type::Record { name: wn, .. }, Type::Record { name: rn, .. })
            | (Type::Enum { name: wn, .. }, Type::Enum { name: rn, .. }) => rn.accepts(wn),
            (Type::Fixed { name: wn, size: ws }, Type::Fixed { name: rn, size: rs }) => rn.accepts(wn) && ws == rs,
            (Type::Array(wi), Type::Array(ri)) => self.compatible(writer, *wi, *ri, depth + 1),
            (Type::Map(wv), Type::Map(rv)) => self.compatible(writer, *wv, *rv, depth + 1),
            (wt, rt) => wt == rt && wt.kind() == rt.kind(),
        }
    }
}

fn schema_message(e: Error) -> String {
    match e {
        Error::Schema { message } => message,
        other => other.to_string(),
    }
}
