//! Python binding of `a2a_core::cloudevents`: dicts and bytes in, dicts and bytes out.
//!
//! Python objects become core values in two passes: [`Tape::record`] walks them with the GIL
//! held, keeping a reference to every `str` and `bytes`, and [`Tape::build`] makes values that
//! borrow those strings instead of copying them. Batch functions then release the GIL for the
//! core work (validation, JSON writing or parsing) and take it back to build the results.

use std::borrow::Cow;

use a2a_core::cloudevents::a2a::{a2a_json_to_event_json, event_json_to_a2a_json};
use a2a_core::cloudevents::a2a::{field_error, AgentPaths, TtlValue, SOURCE_AGENT, TARGET_AGENT};
use a2a_core::cloudevents::event::{AttributeReader, WrittenExtensions};
use a2a_core::cloudevents::value::{write_str, write_value, Texts};
use a2a_core::cloudevents::{
    at_item, from_kafka, json_to_a2a, read_batch, to_kafka, A2aMessage, Agent, CloudEvent, Converter, Data, Extension,
    KafkaRecord, Optional, Value,
};
use a2a_core::{Error, Result};
use pyo3::conversion::IntoPyObjectExt;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::PyTypeInfo;

use crate::errors::{detached, IntoPyResult};
use crate::strings::cached_str;

/// Deeper Python nesting is refused rather than risking the native stack.
const MAX_DEPTH: usize = 256;

type Members<'a> = Vec<(Cow<'a, str>, Value<'a>)>;

#[derive(Clone, Copy)]
enum Op {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Index into `Tape::strs`.
    Str(usize),
    /// Index into `Tape::bytes`.
    Bytes(usize),
    /// Number of items (members for objects) that follow.
    Array(usize),
    Object(usize),
}

struct Tape<'py> {
    strs: Vec<Bound<'py, PyString>>,
    bytes: Vec<Bound<'py, PyBytes>>,
    ops: Vec<Op>,
}

fn too_deep(root: &str) -> Error {
    Error::validation(root, format!("nested deeper than {MAX_DEPTH} levels"))
}

impl<'py> Tape<'py> {
    /// Room for `items` typical A2A messages, so that large batches do not regrow the tape.
    fn with_capacity(items: usize) -> Self {
        Tape { strs: Vec::with_capacity(items * 48), bytes: Vec::new(), ops: Vec::with_capacity(items * 80) }
    }

    fn push_str(&mut self, s: &Bound<'py, PyString>, root: &str) -> Result<()> {
        s.to_str().map_err(|_| Error::validation(root, "string is not valid Unicode (lone surrogate)"))?;
        self.ops.push(Op::Str(self.strs.len()));
        self.strs.push(s.clone());
        Ok(())
    }

    fn record(&mut self, obj: &Bound<'py, PyAny>, root: &str, depth: usize) -> Result<()> {
        // Exact built-in types first, by type pointer: a failed `cast` builds an error object,
        // which costs more than the conversion itself.
        let py = obj.py();
        let ty = obj.get_type_ptr();
        if ty == PyString::type_object_raw(py) {
            if let Ok(s) = obj.cast_exact::<PyString>() {
                return self.push_str(s, root);
            }
        } else if ty == PyInt::type_object_raw(py) {
            return self.record_int(obj, root);
        } else if ty == PyDict::type_object_raw(py) {
            if let Ok(dict) = obj.cast_exact::<PyDict>() {
                return self.record_dict(dict, root, depth, false);
            }
        } else if ty == PyList::type_object_raw(py) {
            if let Ok(list) = obj.cast_exact::<PyList>() {
                return self.record_items(list.iter(), root, depth);
            }
        } else if ty == PyBool::type_object_raw(py) {
            if let Ok(b) = obj.cast_exact::<PyBool>() {
                self.ops.push(Op::Bool(b.is_true()));
                return Ok(());
            }
        } else if ty == PyFloat::type_object_raw(py) {
            if let Ok(f) = obj.cast_exact::<PyFloat>() {
                self.ops.push(Op::Float(f.value()));
                return Ok(());
            }
        } else if obj.is_none() {
            self.ops.push(Op::Null);
            return Ok(());
        }
        self.record_other(obj, root, depth)
    }

    /// Subclasses of the built-in types, tuples and bytes.
    fn record_other(&mut self, obj: &Bound<'py, PyAny>, root: &str, depth: usize) -> Result<()> {
        if let Ok(s) = obj.cast::<PyString>() {
            return self.push_str(s, root);
        }
        if let Ok(dict) = obj.cast::<PyDict>() {
            return self.record_dict(dict, root, depth, false);
        }
        if let Ok(list) = obj.cast::<PyList>() {
            return self.record_items(list.iter(), root, depth);
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            return self.record_items(tuple.iter(), root, depth);
        }
        if let Ok(b) = obj.cast::<PyBool>() {
            self.ops.push(Op::Bool(b.is_true()));
            return Ok(());
        }
        if obj.is_instance_of::<PyInt>() {
            return self.record_int(obj, root);
        }
        if let Ok(f) = obj.cast::<PyFloat>() {
            self.ops.push(Op::Float(f.value()));
            return Ok(());
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            self.ops.push(Op::Bytes(self.bytes.len()));
            self.bytes.push(b.clone());
            return Ok(());
        }
        let kind = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "object".to_owned());
        Err(Error::validation(root, format!("{kind} has no JSON representation")))
    }

    fn record_int(&mut self, obj: &Bound<'py, PyAny>, root: &str) -> Result<()> {
        let op = match obj.extract::<i64>() {
            Ok(i) => Op::Int(i),
            Err(_) => {
                Op::UInt(obj.extract::<u64>().map_err(|_| Error::validation(root, "integer does not fit in 64 bits"))?)
            }
        };
        self.ops.push(op);
        Ok(())
    }

    /// `top` dicts are events or messages: each member is named after its key in errors.
    fn record_dict(&mut self, dict: &Bound<'py, PyDict>, root: &str, depth: usize, top: bool) -> Result<()> {
        if depth >= MAX_DEPTH {
            return Err(too_deep(root));
        }
        let at = self.ops.len();
        self.ops.push(Op::Object(0));
        let mut count = 0;
        for (key, item) in dict.iter() {
            let key =
                key.cast_into::<PyString>().map_err(|_| Error::validation(root, "object keys must be strings"))?;
            self.push_str(&key, root)?;
            if top {
                let name = key.to_str().map_err(|_| Error::validation(root, "key is not valid Unicode"))?;
                self.record(&item, name, depth + 1)?;
            } else {
                self.record(&item, root, depth + 1)?;
            }
            count += 1;
        }
        self.ops[at] = Op::Object(count);
        Ok(())
    }

    fn record_items(&mut self, items: impl Iterator<Item = Bound<'py, PyAny>>, root: &str, depth: usize) -> Result<()> {
        if depth >= MAX_DEPTH {
            return Err(too_deep(root));
        }
        let at = self.ops.len();
        self.ops.push(Op::Array(0));
        let mut count = 0;
        for item in items {
            self.record(&item, root, depth + 1)?;
            count += 1;
        }
        self.ops[at] = Op::Array(count);
        Ok(())
    }

    /// Records a top-level dict (an event or an A2A message) and returns where it starts.
    fn record_top(&mut self, obj: &Bound<'py, PyAny>, root: &str) -> Result<usize> {
        let dict = obj.cast::<PyDict>().map_err(|_| Error::validation(root, "must be a dict"))?;
        let start = self.ops.len();
        self.record_dict(dict, root, 0, true)?;
        Ok(start)
    }

    fn text(&self, index: usize) -> Result<&str> {
        self.strs
            .get(index)
            .and_then(|s| s.to_str().ok())
            .ok_or_else(|| Error::validation("value", "string changed during conversion"))
    }

    fn binary(&self, index: usize) -> Result<&[u8]> {
        self.bytes
            .get(index)
            .map(|b| b.as_bytes())
            .ok_or_else(|| Error::validation("value", "bytes changed during conversion"))
    }

    fn build(&self, pos: &mut usize) -> Result<Value<'_>> {
        let op = *self.ops.get(*pos).ok_or_else(|| Error::validation("value", "conversion ended early"))?;
        *pos += 1;
        Ok(match op {
            Op::Null => Value::Null,
            Op::Bool(b) => Value::Bool(b),
            Op::Int(i) => Value::Int(i),
            Op::UInt(u) => Value::UInt(u),
            Op::Float(f) => Value::Float(f),
            Op::Str(index) => Value::Str(Cow::Borrowed(self.text(index)?)),
            Op::Bytes(index) => Value::Bytes(Cow::Borrowed(self.binary(index)?)),
            Op::Array(count) => {
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.build(pos)?);
                }
                Value::Array(items)
            }
            Op::Object(count) => Value::Object(self.build_members(pos, count)?),
        })
    }

    fn build_members(&self, pos: &mut usize, count: usize) -> Result<Members<'_>> {
        let mut members = Vec::with_capacity(count);
        for _ in 0..count {
            let key = match self.build(pos)? {
                Value::Str(key) => key,
                _ => return Err(Error::validation("value", "object key changed during conversion")),
            };
            members.push((key, self.build(pos)?));
        }
        Ok(members)
    }

    /// The members of the top-level dict recorded at `start`.
    fn members(&self, start: usize) -> Result<Members<'_>> {
        let mut pos = start;
        match self.build(&mut pos)? {
            Value::Object(members) => Ok(members),
            _ => Err(Error::validation("value", "expected a dict")),
        }
    }
}

/// A failure inside a JSON value written from Python; the path is collected innermost first.
struct JsonError {
    reversed_path: Vec<String>,
    message: String,
}

impl JsonError {
    fn new(message: impl Into<String>) -> Self {
        JsonError { reversed_path: Vec::new(), message: message.into() }
    }

    fn within(mut self, segment: impl FnOnce() -> String) -> Self {
        self.reversed_path.push(segment());
        self
    }

    fn at(self, root: &str) -> Error {
        let mut path = root.to_owned();
        for segment in self.reversed_path.iter().rev() {
            path.push_str(segment);
        }
        Error::validation(path, self.message)
    }
}

fn py_text<'a>(s: &'a Bound<'_, PyString>) -> std::result::Result<&'a str, JsonError> {
    s.to_str().map_err(|_| JsonError::new("string is not valid Unicode (lone surrogate)"))
}

/// Appends `obj` as JSON, accepting what [`Tape::record`] accepts except bytes; exact built-in
/// types are recognised by their type pointer before subclasses are tried.
fn write_py(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> std::result::Result<(), JsonError> {
    let py = obj.py();
    let ty = obj.get_type_ptr();
    if ty == PyString::type_object_raw(py) {
        if let Ok(s) = obj.cast_exact::<PyString>() {
            write_str(out, py_text(s)?);
            return Ok(());
        }
    } else if ty == PyDict::type_object_raw(py) {
        if let Ok(d) = obj.cast_exact::<PyDict>() {
            return write_py_dict(d, out, depth);
        }
    } else if ty == PyInt::type_object_raw(py) {
        return write_py_int(obj, out);
    } else if ty == PyList::type_object_raw(py) {
        if let Ok(l) = obj.cast_exact::<PyList>() {
            return write_py_items(l.iter(), out, depth);
        }
    } else if ty == PyBool::type_object_raw(py) {
        if let Ok(b) = obj.cast_exact::<PyBool>() {
            out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
            return Ok(());
        }
    } else if ty == PyFloat::type_object_raw(py) {
        if let Ok(f) = obj.cast_exact::<PyFloat>() {
            return write_py_float(f.value(), out);
        }
    } else if obj.is_none() {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        write_str(out, py_text(s)?);
        return Ok(());
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return write_py_dict(d, out, depth);
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return write_py_items(l.iter(), out, depth);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return write_py_items(t.iter(), out, depth);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        return Ok(());
    }
    if obj.is_instance_of::<PyInt>() {
        return write_py_int(obj, out);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return write_py_float(f.value(), out);
    }
    if obj.cast::<PyBytes>().is_ok() {
        return Err(JsonError::new(
            "bytes inside JSON data; only the whole `data` may be bytes (written as data_base64)",
        ));
    }
    let kind = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "object".to_owned());
    Err(JsonError::new(format!("{kind} has no JSON representation")))
}

fn write_py_int(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> std::result::Result<(), JsonError> {
    let value = match obj.extract::<i64>() {
        Ok(i) => Value::Int(i),
        Err(_) => Value::UInt(obj.extract::<u64>().map_err(|_| JsonError::new("integer does not fit in 64 bits"))?),
    };
    write_value(out, &value, "").map_err(|_| JsonError::new("integer cannot be written"))
}

fn write_py_float(f: f64, out: &mut Vec<u8>) -> std::result::Result<(), JsonError> {
    write_value(out, &Value::Float(f), "").map_err(|_| JsonError::new(format!("{f} cannot be written as JSON")))
}

fn write_py_dict(d: &Bound<'_, PyDict>, out: &mut Vec<u8>, depth: usize) -> std::result::Result<(), JsonError> {
    if depth >= MAX_DEPTH {
        return Err(JsonError::new(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    out.push(b'{');
    for (i, (key, value)) in d.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let key = key.cast_into::<PyString>().map_err(|_| JsonError::new("object keys must be strings"))?;
        let name = py_text(&key)?;
        write_str(out, name);
        out.push(b':');
        write_py(&value, out, depth + 1).map_err(|e| e.within(|| format!(".{name}")))?;
    }
    out.push(b'}');
    Ok(())
}

fn write_py_items<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    out: &mut Vec<u8>,
    depth: usize,
) -> std::result::Result<(), JsonError> {
    if depth >= MAX_DEPTH {
        return Err(JsonError::new(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    out.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_py(&item, out, depth + 1).map_err(|e| e.within(|| format!("[{i}]")))?;
    }
    out.push(b']');
    Ok(())
}

/// The JSON type name of a Python object, as the core's messages spell them.
fn json_kind(obj: &Bound<'_, PyAny>) -> &'static str {
    if obj.is_none() {
        "null"
    } else if obj.is_instance_of::<PyBool>() {
        "boolean"
    } else if obj.is_instance_of::<PyInt>() {
        "integer"
    } else if obj.is_instance_of::<PyFloat>() {
        "number"
    } else if obj.is_instance_of::<PyString>() {
        "string"
    } else if obj.is_instance_of::<PyBytes>() {
        "bytes"
    } else if obj.is_instance_of::<PyDict>() {
        "object"
    } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        "array"
    } else {
        "object of another type"
    }
}

/// The text of a `str` field, borrowed from the Python string.
fn field_text<'a>(obj: &'a Bound<'_, PyAny>, path: &str) -> Result<Cow<'a, str>> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| Error::validation(path, format!("must be a string, not {}", json_kind(obj))))?;
    s.to_str().map(Cow::Borrowed).map_err(|_| Error::validation(path, "string is not valid Unicode (lone surrogate)"))
}

fn field_dict<'a, 'py>(obj: &'a Bound<'py, PyAny>, path: &str) -> Result<&'a Bound<'py, PyDict>> {
    obj.cast::<PyDict>().map_err(|_| field_error::not(path, "an object", json_kind(obj)))
}

fn field<'py>(d: &Bound<'py, PyDict>, key: &Bound<'py, PyString>, path: &str) -> Result<Bound<'py, PyAny>> {
    d.get_item(key).ok().flatten().ok_or_else(|| field_error::missing(path))
}

/// The values of `d` under `keys` (interned) or `names` (their text), read in one pass over the
/// dict; `None` if a key is neither, in which case the caller reads field by field to name it.
fn values_by_key<'py, const N: usize>(
    d: &Bound<'py, PyDict>,
    keys: [&Bound<'py, PyString>; N],
    names: &[&str; N],
) -> Option<[Option<Bound<'py, PyAny>>; N]> {
    let mut values = [const { None }; N];
    for (key, value) in d.iter() {
        // Keys written in Python source are the interned objects; others are compared as text.
        let at = match keys.iter().position(|k| k.is(&key)) {
            Some(at) => at,
            None => {
                let text = key.cast_exact::<PyString>().ok()?.to_str().ok()?;
                names.iter().position(|name| *name == text)?
            }
        };
        values[at] = Some(value);
    }
    Some(values)
}

/// Names the first key of `d` not in `known` (called once a count says there is one).
fn unknown_field(d: &Bound<'_, PyDict>, known: &[&str], prefix: &str) -> Error {
    for key in d.keys() {
        match key.cast::<PyString>().ok().and_then(|k| k.to_str().ok().map(str::to_owned)) {
            Some(name) if known.contains(&name.as_str()) => {}
            Some(name) => return field_error::unknown(format!("{prefix}{name}")),
            None => return Error::validation(prefix.trim_end_matches('.'), "object keys must be strings"),
        }
    }
    field_error::unknown(prefix.trim_end_matches('.'))
}

const MESSAGE_FIELDS: [&str; 9] = [
    "protocol",
    "version",
    "messageId",
    "timestamp",
    "sourceAgent",
    "targetAgent",
    "messageType",
    "payload",
    "metadata",
];
const AGENT_FIELDS: [&str; 3] = ["agentId", "agentType", "capabilities"];
const METADATA_FIELDS: [&str; 5] = ["priority", "ttl", "correlationId", "collaborationId", "traceparent"];

/// The Python objects of one agent, held so that the core agent can borrow their text.
struct AgentObjects<'py> {
    id: Bound<'py, PyAny>,
    kind: Bound<'py, PyAny>,
    capabilities: Vec<Bound<'py, PyAny>>,
}

impl<'py> AgentObjects<'py> {
    fn read(obj: &Bound<'py, PyAny>, paths: &AgentPaths) -> Result<Self> {
        let py = obj.py();
        let d = field_dict(obj, paths.agent)?;
        let keys = [intern!(py, "agentId"), intern!(py, "agentType"), intern!(py, "capabilities")];
        let (id, kind, capabilities) = match values_by_key(d, keys, &AGENT_FIELDS) {
            Some([Some(id), Some(kind), Some(capabilities)]) => (id, kind, capabilities),
            _ => {
                let id = field(d, keys[0], paths.id)?;
                let kind = field(d, keys[1], paths.kind)?;
                let capabilities = field(d, keys[2], paths.capabilities)?;
                if d.len() != AGENT_FIELDS.len() {
                    return Err(unknown_field(d, &AGENT_FIELDS, &format!("{}.", paths.agent)));
                }
                (id, kind, capabilities)
            }
        };
        let capabilities = if let Ok(list) = capabilities.cast::<PyList>() {
            list.iter().collect()
        } else if let Ok(tuple) = capabilities.cast::<PyTuple>() {
            tuple.iter().collect()
        } else {
            let kind = json_kind(&capabilities);
            return Err(field_error::not(paths.capabilities, "an array", kind));
        };
        Ok(AgentObjects { id, kind, capabilities })
    }

    fn agent(&self, paths: &AgentPaths) -> Result<Agent<'_>> {
        let mut capabilities = Vec::with_capacity(self.capabilities.len());
        for (i, capability) in self.capabilities.iter().enumerate() {
            match capability.cast::<PyString>().ok().and_then(|s| s.to_str().ok()) {
                Some(text) => capabilities.push(Cow::Borrowed(text)),
                None => capabilities.push(field_text(capability, &format!("{}[{i}]", paths.capabilities))?),
            }
        }
        Ok(Agent {
            agent_id: field_text(&self.id, paths.id)?,
            agent_type: field_text(&self.kind, paths.kind)?,
            capabilities,
        })
    }
}

/// The Python objects of one A2A message, read by key rather than by walking the dict.
struct MessageObjects<'py> {
    protocol: Bound<'py, PyAny>,
    version: Bound<'py, PyAny>,
    message_id: Bound<'py, PyAny>,
    timestamp: Bound<'py, PyAny>,
    source: AgentObjects<'py>,
    target: Optional<AgentObjects<'py>>,
    message_type: Bound<'py, PyAny>,
    payload: Bound<'py, PyAny>,
    priority: Bound<'py, PyAny>,
    ttl: Bound<'py, PyAny>,
    correlation_id: Bound<'py, PyAny>,
    collaboration_id: Option<Bound<'py, PyAny>>,
    traceparent: Option<Bound<'py, PyAny>>,
}

impl<'py> MessageObjects<'py> {
    fn read(obj: &Bound<'py, PyAny>) -> Result<Self> {
        let py = obj.py();
        let d = obj.cast::<PyDict>().map_err(|_| field_error::not("message", "an object", json_kind(obj)))?;
        let keys = [
            intern!(py, "protocol"),
            intern!(py, "version"),
            intern!(py, "messageId"),
            intern!(py, "timestamp"),
            intern!(py, "sourceAgent"),
            intern!(py, "targetAgent"),
            intern!(py, "messageType"),
            intern!(py, "payload"),
            intern!(py, "metadata"),
        ];
        // A message with every required field and no unknown one is read in one pass; any other
        // is read field by field, in the order that decides which problem is reported.
        let (protocol, version, message_id, timestamp, source, target, message_type, payload, metadata) =
            match values_by_key(d, keys, &MESSAGE_FIELDS) {
                Some(
                    [Some(protocol), Some(version), Some(message_id), Some(timestamp), Some(source), target, Some(message_type), Some(payload), Some(metadata)],
                ) => {
                    let source = AgentObjects::read(&source, &SOURCE_AGENT)?;
                    let target = Self::target(target)?;
                    (protocol, version, message_id, timestamp, source, target, message_type, payload, metadata)
                }
                _ => {
                    let target = d.get_item(keys[5]).ok().flatten();
                    let protocol = field(d, keys[0], "protocol")?;
                    let version = field(d, keys[1], "version")?;
                    let message_id = field(d, keys[2], "messageId")?;
                    let timestamp = field(d, keys[3], "timestamp")?;
                    let source = AgentObjects::read(&field(d, keys[4], "sourceAgent")?, &SOURCE_AGENT)?;
                    let target = Self::target(target)?;
                    let message_type = field(d, keys[6], "messageType")?;
                    let payload = field(d, keys[7], "payload")?;
                    let metadata = field(d, keys[8], "metadata")?;
                    let expected = MESSAGE_FIELDS.len() - usize::from(matches!(target, Optional::Absent));
                    if d.len() != expected {
                        return Err(unknown_field(d, &MESSAGE_FIELDS, ""));
                    }
                    (protocol, version, message_id, timestamp, source, target, message_type, payload, metadata)
                }
            };
        let m = field_dict(&metadata, "metadata")?;
        let keys = [
            intern!(py, "priority"),
            intern!(py, "ttl"),
            intern!(py, "correlationId"),
            intern!(py, "collaborationId"),
            intern!(py, "traceparent"),
        ];
        let (priority, ttl, correlation_id, collaboration_id, traceparent) =
            match values_by_key(m, keys, &METADATA_FIELDS) {
                Some([Some(priority), Some(ttl), Some(correlation_id), collaboration_id, traceparent]) => {
                    (priority, ttl, correlation_id, collaboration_id, traceparent)
                }
                _ => {
                    let priority = field(m, keys[0], "metadata.priority")?;
                    let ttl = field(m, keys[1], "metadata.ttl")?;
                    let correlation_id = field(m, keys[2], "metadata.correlationId")?;
                    let collaboration_id = m.get_item(keys[3]).ok().flatten();
                    let traceparent = m.get_item(keys[4]).ok().flatten();
                    let expected = 3 + usize::from(collaboration_id.is_some()) + usize::from(traceparent.is_some());
                    if m.len() != expected {
                        return Err(unknown_field(m, &METADATA_FIELDS, "metadata."));
                    }
                    (priority, ttl, correlation_id, collaboration_id, traceparent)
                }
            };
        Ok(MessageObjects {
            protocol,
            version,
            message_id,
            timestamp,
            source,
            target,
            message_type,
            payload,
            priority,
            ttl,
            correlation_id,
            collaboration_id,
            traceparent,
        })
    }

    fn target(target: Option<Bound<'py, PyAny>>) -> Result<Optional<AgentObjects<'py>>> {
        Ok(match target {
            None => Optional::Absent,
            Some(t) if t.is_none() => Optional::Null,
            Some(t) => Optional::Present(AgentObjects::read(&t, &TARGET_AGENT)?),
        })
    }

    /// The validated core message, borrowing the text; its payload is left null for the caller.
    fn message(&self) -> Result<A2aMessage<'_>> {
        fn optional<'a>(value: &'a Option<Bound<'_, PyAny>>, path: &str) -> Result<Optional<Cow<'a, str>>> {
            Ok(match value {
                None => Optional::Absent,
                Some(v) if v.is_none() => Optional::Null,
                Some(v) => Optional::Present(field_text(v, path)?),
            })
        }
        A2aMessage::check_protocol(&field_text(&self.protocol, "protocol")?)?;
        let ttl = A2aMessage::ttl(if self.ttl.is_instance_of::<PyBool>() || !self.ttl.is_instance_of::<PyInt>() {
            TtlValue::Other(json_kind(&self.ttl))
        } else {
            match (self.ttl.extract::<i64>(), self.ttl.extract::<u64>()) {
                (Ok(int), _) => TtlValue::Int(int),
                (_, Ok(int)) => TtlValue::UInt(int),
                _ => TtlValue::Int(i64::MIN),
            }
        })?;
        let message = A2aMessage {
            version: field_text(&self.version, "version")?,
            message_id: field_text(&self.message_id, "messageId")?,
            timestamp: field_text(&self.timestamp, "timestamp")?,
            source_agent: self.source.agent(&SOURCE_AGENT)?,
            target_agent: match &self.target {
                Optional::Absent => Optional::Absent,
                Optional::Null => Optional::Null,
                Optional::Present(t) => Optional::Present(t.agent(&TARGET_AGENT)?),
            },
            message_type: field_text(&self.message_type, "messageType")?,
            payload: Value::Null,
            priority: A2aMessage::priority(&field_text(&self.priority, "metadata.priority")?)?,
            ttl,
            correlation_id: field_text(&self.correlation_id, "metadata.correlationId")?,
            collaboration_id: optional(&self.collaboration_id, "metadata.collaborationId")?,
            traceparent: optional(&self.traceparent, "metadata.traceparent")?,
        };
        message.check_text()?;
        Ok(message)
    }
}

/// Appends the CloudEvent JSON of one A2A message, read field by field from the Python dict: the
/// core writes the attributes and the payload is written straight from the Python objects.
fn write_a2a_py(message: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Result<()> {
    let objects = MessageObjects::read(message)?;
    let message = objects.message()?;
    message.write_event_json(out, Texts::Any, |out| write_py(&objects.payload, out, 1).map_err(|e| e.at("payload")))
}

/// A top-level attribute as the core's attribute rules see it, borrowed from Python: scalars as
/// they are, bytes borrowed, and for arrays and objects only their JSON type (`data` is written
/// from Python afterwards, and an extension of either type is refused by its kind).
fn attribute_value<'a>(obj: &'a Bound<'_, PyAny>, name: &str) -> Result<Value<'a>> {
    let py = obj.py();
    let ty = obj.get_type_ptr();
    if ty == PyString::type_object_raw(py) {
        if let Ok(s) = obj.cast_exact::<PyString>() {
            return attribute_text(s, name);
        }
    } else if ty == PyInt::type_object_raw(py) {
        return attribute_int(obj, name);
    } else if ty == PyDict::type_object_raw(py) {
        return Ok(Value::Object(Vec::new()));
    } else if ty == PyList::type_object_raw(py) {
        return Ok(Value::Array(Vec::new()));
    } else if ty == PyBool::type_object_raw(py) {
        if let Ok(b) = obj.cast_exact::<PyBool>() {
            return Ok(Value::Bool(b.is_true()));
        }
    } else if ty == PyFloat::type_object_raw(py) {
        if let Ok(f) = obj.cast_exact::<PyFloat>() {
            return Ok(Value::Float(f.value()));
        }
    } else if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return attribute_text(s, name);
    }
    if obj.is_instance_of::<PyDict>() {
        return Ok(Value::Object(Vec::new()));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return Ok(Value::Array(Vec::new()));
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return attribute_int(obj, name);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(Cow::Borrowed(b.as_bytes())));
    }
    let kind = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "object".to_owned());
    Err(Error::validation(name, format!("{kind} has no JSON representation")))
}

fn attribute_text<'a>(s: &'a Bound<'_, PyString>, name: &str) -> Result<Value<'a>> {
    s.to_str()
        .map(|text| Value::Str(Cow::Borrowed(text)))
        .map_err(|_| Error::validation(name, "string is not valid Unicode (lone surrogate)"))
}

fn attribute_int<'a>(obj: &Bound<'_, PyAny>, name: &str) -> Result<Value<'a>> {
    match obj.extract::<i64>() {
        Ok(i) => Ok(Value::Int(i)),
        Err(_) => obj
            .extract::<u64>()
            .map(Value::UInt)
            .map_err(|_| Error::validation(name, "integer does not fit in 64 bits")),
    }
}

/// Appends the event given as a Python dict in the JSON event format, in one pass: every
/// attribute goes through the core's rules borrowed from Python, extensions are written as they
/// pass, and JSON `data` is written straight from its Python objects (no copy of the event, no
/// tape and no value tree is built).
fn write_event_py(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> Result<()> {
    let dict = obj.cast::<PyDict>().map_err(|_| Error::validation("event", "must be a dict"))?;
    // The keys and values are held here so that the attributes can borrow their text.
    let mut entries = Vec::with_capacity(dict.len());
    for (key, value) in dict.iter() {
        let key = key.cast_into::<PyString>().map_err(|_| Error::validation("event", "object keys must be strings"))?;
        entries.push((key, value));
    }
    // A dict's keys are distinct, so the reader skips its duplicate check; extensions are written as
    // they are checked, into `scratch` (reused from event to event).
    scratch.clear();
    let mut reader = AttributeReader::with_extensions(WrittenExtensions { json: std::mem::take(scratch) });
    let mut data = None;
    let read = entries.iter().try_for_each(|(key, value)| {
        let name =
            key.to_str().map_err(|_| Error::validation("event", "string is not valid Unicode (lone surrogate)"))?;
        if name == "data" {
            data = Some(value);
        }
        reader.add(Cow::Borrowed(name), attribute_value(value, name)?)
    });
    let parts = read.and_then(|()| reader.finish());
    parts.and_then(|parts| {
        let written = parts.write_json_with(out, |out, value| match data {
            Some(obj) => write_py(obj, out, 1).map_err(|e| Error::validation("data", e.message)),
            None => write_value(out, value, "data"),
        });
        *scratch = parts.extensions.json;
        written
    })
}

/// Records every dict of an iterable; validation errors name the item.
fn record_all<'py>(py: Python<'py>, objs: &Bound<'py, PyAny>, root: &str) -> PyResult<(Tape<'py>, Vec<usize>)> {
    let count = objs.len().unwrap_or(0);
    let mut tape = Tape::with_capacity(count);
    let mut starts = Vec::with_capacity(count);
    for (i, obj) in objs.try_iter()?.enumerate() {
        starts.push(tape.record_top(&obj?, root).map_err(|e| at_item(i, e)).into_py_result(py)?);
    }
    Ok((tape, starts))
}

fn members_all<'a>(tape: &'a Tape<'_>, starts: &[usize]) -> Result<Vec<Members<'a>>> {
    starts.iter().enumerate().map(|(i, &start)| tape.members(start).map_err(|e| at_item(i, e))).collect()
}

/// Runs `work` on the event given as a Python dict.
fn with_event<T>(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    work: impl FnOnce(CloudEvent<'_>) -> Result<T>,
) -> PyResult<T> {
    let mut tape = Tape::with_capacity(1);
    let start = tape.record_top(obj, "event").into_py_result(py)?;
    tape.members(start).and_then(CloudEvent::from_attributes).and_then(work).into_py_result(py)
}

/// One Python `bytes` per item of a shared buffer; `ends` are where items end.
fn split_bytes<'py>(py: Python<'py>, buf: &[u8], ends: &[usize]) -> PyResult<Bound<'py, PyList>> {
    let mut start = 0;
    PyList::new(
        py,
        ends.iter().map(|&end| {
            let item = PyBytes::new(py, buf.get(start..end).unwrap_or_default());
            start = end;
            item
        }),
    )
}

thread_local! {
    /// The `ttl` of the last message read: producers mostly send one value, and an `int` above
    /// 256 is otherwise a new object for every message.
    static LAST_TTL: std::cell::RefCell<Option<(i32, Py<PyAny>)>> = const { std::cell::RefCell::new(None) };
}

fn ttl_to_py(py: Python<'_>, ttl: i32) -> Bound<'_, PyAny> {
    LAST_TTL.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((value, object)) = &*last {
            if *value == ttl {
                return object.bind(py).clone();
            }
        }
        let object = ttl.into_pyobject(py).map_or_else(|never| match never {}, Bound::into_any);
        *last = Some((ttl, object.clone().unbind()));
        object
    })
}

fn value_to_py<'py>(py: Python<'py>, value: &Value<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::UInt(u) => u.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::Str(s) => cached_str(py, s).into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Array(items) => list_of(py, items.iter().map(|item| value_to_py(py, item)))?.into_any(),
        Value::Object(members) => {
            let dict = PyDict::new(py);
            for (key, item) in members {
                dict.set_item(cached_str(py, key), value_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A list of the converted items, made at its final length with no vector in between; the first
/// failure, if any, is returned instead of the list.
fn list_of<'py, T: IntoPyObject<'py>>(
    py: Python<'py>,
    items: impl ExactSizeIterator<Item = PyResult<T>>,
) -> PyResult<Bound<'py, PyList>> {
    let mut failure = None;
    let list = PyList::new(
        py,
        items.map(|item| {
            item.and_then(|item| item.into_bound_py_any(py)).unwrap_or_else(|error| {
                failure.get_or_insert(error);
                py.None().into_bound(py)
            })
        }),
    )?;
    match failure {
        Some(error) => Err(error),
        None => Ok(list),
    }
}

fn extension_to_py<'py>(py: Python<'py>, ext: Extension<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match ext {
        Extension::Str(s) => cached_str(py, &s).into_any(),
        Extension::Int(i) => i.into_pyobject(py)?.into_any(),
        Extension::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Extension::Binary(b) => PyBytes::new(py, &b).into_any(),
    })
}

fn event_to_py<'py>(py: Python<'py>, event: CloudEvent<'_>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "specversion"), intern!(py, "1.0"))?;
    dict.set_item(intern!(py, "id"), event.id)?;
    dict.set_item(intern!(py, "source"), cached_str(py, &event.source))?;
    dict.set_item(intern!(py, "type"), cached_str(py, &event.ty))?;
    for (key, value) in [
        (intern!(py, "time"), event.time),
        (intern!(py, "datacontenttype"), event.datacontenttype),
        (intern!(py, "dataschema"), event.dataschema),
        (intern!(py, "subject"), event.subject),
    ] {
        if let Some(value) = value {
            dict.set_item(key, cached_str(py, &value))?;
        }
    }
    for (name, ext) in event.extensions {
        dict.set_item(cached_str(py, &name), extension_to_py(py, ext)?)?;
    }
    match event.data {
        None => {}
        Some(Data::Binary(bytes)) => dict.set_item(intern!(py, "data"), PyBytes::new(py, &bytes))?,
        Some(Data::Json(value)) => dict.set_item(intern!(py, "data"), value_to_py(py, &value)?)?,
    }
    Ok(dict)
}

fn agent_to_py<'py>(py: Python<'py>, agent: Agent<'_>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "agentId"), cached_str(py, &agent.agent_id))?;
    dict.set_item(intern!(py, "agentType"), cached_str(py, &agent.agent_type))?;
    let capabilities = agent.capabilities.iter().map(|c| cached_str(py, c));
    dict.set_item(intern!(py, "capabilities"), PyList::new(py, capabilities)?)?;
    Ok(dict)
}

fn optional_text_to_py<'py>(
    py: Python<'py>,
    dict: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    value: Optional<Cow<'_, str>>,
) -> PyResult<()> {
    match value {
        Optional::Absent => Ok(()),
        Optional::Null => dict.set_item(key, py.None()),
        Optional::Present(text) => dict.set_item(key, text),
    }
}

fn a2a_to_py<'py>(py: Python<'py>, m: A2aMessage<'_>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "protocol"), intern!(py, "A2A"))?;
    dict.set_item(intern!(py, "version"), cached_str(py, &m.version))?;
    dict.set_item(intern!(py, "messageId"), m.message_id)?;
    dict.set_item(intern!(py, "timestamp"), m.timestamp)?;
    dict.set_item(intern!(py, "sourceAgent"), agent_to_py(py, m.source_agent)?)?;
    match m.target_agent {
        Optional::Absent => {}
        Optional::Null => dict.set_item(intern!(py, "targetAgent"), py.None())?,
        Optional::Present(agent) => dict.set_item(intern!(py, "targetAgent"), agent_to_py(py, agent)?)?,
    }
    dict.set_item(intern!(py, "messageType"), cached_str(py, &m.message_type))?;
    dict.set_item(intern!(py, "payload"), value_to_py(py, &m.payload)?)?;
    let meta = PyDict::new(py);
    let priority = match m.priority {
        "HIGH" => intern!(py, "HIGH"),
        "LOW" => intern!(py, "LOW"),
        _ => intern!(py, "NORMAL"),
    };
    meta.set_item(intern!(py, "priority"), priority)?;
    meta.set_item(intern!(py, "ttl"), ttl_to_py(py, m.ttl))?;
    meta.set_item(intern!(py, "correlationId"), m.correlation_id)?;
    optional_text_to_py(py, &meta, intern!(py, "collaborationId"), m.collaboration_id)?;
    optional_text_to_py(py, &meta, intern!(py, "traceparent"), m.traceparent)?;
    dict.set_item(intern!(py, "metadata"), meta)?;
    Ok(dict)
}

/// Builds one dict per item. The dicts are acyclic, so the cyclic garbage collector is paused
/// while they are made: otherwise its passes over the growing result dominate large batches.
fn dicts<'py, T>(
    py: Python<'py>,
    items: Vec<T>,
    convert: impl Fn(Python<'py>, T) -> PyResult<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyList>> {
    let _paused = if items.len() > 1 { GcPause::new(py)? } else { None };
    list_of(py, items.into_iter().map(|item| convert(py, item)))
}

/// Disables the cyclic garbage collector until dropped, if it was enabled: the collector is
/// back on however the work in between ends (an error or a panic included).
pub(crate) struct GcPause<'py>(Bound<'py, PyModule>);

impl<'py> GcPause<'py> {
    pub(crate) fn new(py: Python<'py>) -> PyResult<Option<Self>> {
        let gc = py.import(intern!(py, "gc"))?;
        if !gc.call_method0(intern!(py, "isenabled"))?.is_truthy()? {
            return Ok(None);
        }
        gc.call_method0(intern!(py, "disable"))?;
        Ok(Some(GcPause(gc)))
    }
}

impl Drop for GcPause<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.0.call_method0(intern!(self.0.py(), "enable")) {
            error.write_unraisable(self.0.py(), None);
        }
    }
}

fn record_to_py(py: Python<'_>, record: KafkaRecord) -> PyResult<Bound<'_, PyTuple>> {
    let key = record.key.map(|k| PyBytes::new(py, &k));
    let headers = record
        .headers
        .iter()
        .map(|(name, value)| PyTuple::new(py, [PyString::new(py, name).into_any(), PyBytes::new(py, value).into_any()]))
        .collect::<PyResult<Vec<_>>>()?;
    let value = record.value.map(|v| PyBytes::new(py, &v));
    PyTuple::new(
        py,
        [key.into_pyobject(py)?.into_any(), PyList::new(py, headers)?.into_any(), value.into_pyobject(py)?.into_any()],
    )
}

pub(crate) fn header_bytes(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<Vec<u8>>> {
    if value.is_none() {
        return Ok(None);
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(Some(b.as_bytes().to_vec()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Some(s.to_str()?.as_bytes().to_vec()));
    }
    Err(PyTypeError::new_err(format!("header {name:?}: value must be bytes, str or None")))
}

type Headers = Vec<(String, Option<Vec<u8>>)>;

pub(crate) fn headers_from_py(headers: &Bound<'_, PyAny>) -> PyResult<Headers> {
    if headers.is_none() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    if let Ok(dict) = headers.cast::<PyDict>() {
        for (name, value) in dict.iter() {
            let name: String = name.extract()?;
            let value = header_bytes(&value, &name)?;
            out.push((name, value));
        }
        return Ok(out);
    }
    for pair in headers.try_iter()? {
        let (name, value): (String, Bound<'_, PyAny>) = pair?.extract()?;
        let value = header_bytes(&value, &name)?;
        out.push((name, value));
    }
    Ok(out)
}

fn optional_bytes(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Vec<u8>>> {
    match obj {
        None => Ok(None),
        Some(obj) => header_bytes(obj, what),
    }
}

/// to_json(event: dict) -> bytes
#[pyfunction]
fn ce_to_json<'py>(py: Python<'py>, event: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(512);
    write_event_py(event, &mut out, &mut Vec::with_capacity(512)).into_py_result(py)?;
    Ok(PyBytes::new(py, &out))
}

/// from_json(data: bytes) -> dict
#[pyfunction]
fn ce_from_json<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    event_to_py(py, CloudEvent::from_json(data).into_py_result(py)?)
}

/// to_json_many(events: Iterable[dict]) -> list[bytes]
#[pyfunction]
fn ce_to_json_many<'py>(py: Python<'py>, events: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    // One small buffer, reused: each event is copied out as it is written, while still in cache,
    // where one buffer for the whole batch would be fresh memory (page faults) on every call.
    let mut out = Vec::with_capacity(1024);
    let mut scratch = Vec::with_capacity(512);
    let mut written = Vec::with_capacity(events.len().unwrap_or(0));
    for (i, event) in events.try_iter()?.enumerate() {
        out.clear();
        write_event_py(&event?, &mut out, &mut scratch).map_err(|e| at_item(i, e)).into_py_result(py)?;
        written.push(PyBytes::new(py, &out));
    }
    PyList::new(py, written)
}

/// from_json_many(items: Sequence[bytes]) -> list[dict]
#[pyfunction]
fn ce_from_json_many<'py>(py: Python<'py>, items: Vec<PyBackedBytes>) -> PyResult<Bound<'py, PyList>> {
    let events = detached(py, || {
        items.iter().enumerate().map(|(i, b)| CloudEvent::from_json(b).map_err(|e| at_item(i, e))).collect()
    })?;
    dicts(py, events, event_to_py)
}

/// to_json_batch(events: Iterable[dict]) -> bytes
#[pyfunction]
fn ce_to_json_batch<'py>(py: Python<'py>, events: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(events.len().unwrap_or(0) * 512 + 2);
    let mut scratch = Vec::with_capacity(512);
    out.push(b'[');
    for (i, event) in events.try_iter()?.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_event_py(&event?, &mut out, &mut scratch).map_err(|e| at_item(i, e)).into_py_result(py)?;
    }
    out.push(b']');
    Ok(PyBytes::new(py, &out))
}

/// from_json_batch(data: bytes) -> list[dict]
#[pyfunction]
fn ce_from_json_batch<'py>(py: Python<'py>, data: PyBackedBytes) -> PyResult<Bound<'py, PyList>> {
    let events = detached(py, || read_batch(&data))?;
    dicts(py, events, event_to_py)
}

/// to_kafka(event: dict) -> tuple[bytes | None, list[tuple[str, bytes]], bytes | None]
#[pyfunction]
fn ce_to_kafka<'py>(py: Python<'py>, event: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    let record = with_event(py, event, |e| to_kafka(&e))?;
    record_to_py(py, record)
}

/// from_kafka(headers, value, key=None) -> dict
#[pyfunction]
#[pyo3(signature = (headers, value, key=None))]
fn ce_from_kafka<'py>(
    py: Python<'py>,
    headers: &Bound<'py, PyAny>,
    value: Option<&[u8]>,
    key: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let headers = headers_from_py(headers)?;
    let key = optional_bytes(key, "key")?;
    event_to_py(py, from_kafka(headers, value, key).into_py_result(py)?)
}

/// to_kafka_many(events: Iterable[dict]) -> list[tuple[bytes | None, list[tuple[str, bytes]], bytes | None]]
#[pyfunction]
fn ce_to_kafka_many<'py>(py: Python<'py>, events: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let (tape, starts) = record_all(py, events, "event")?;
    let members = members_all(&tape, &starts).into_py_result(py)?;
    let records = detached(py, || {
        members
            .into_iter()
            .enumerate()
            .map(|(i, m)| CloudEvent::from_attributes(m).and_then(|e| to_kafka(&e)).map_err(|e| at_item(i, e)))
            .collect::<Result<Vec<_>>>()
    })?;
    let records = records.into_iter().map(|r| record_to_py(py, r)).collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, records)
}

/// from_kafka_many(records: Iterable[tuple[headers, value] | tuple[headers, value, key]]) -> list[dict]
#[pyfunction]
fn ce_from_kafka_many<'py>(py: Python<'py>, records: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let mut headers = Vec::new();
    let mut values: Vec<Option<PyBackedBytes>> = Vec::new();
    let mut keys = Vec::new();
    for record in records.try_iter()? {
        let record = record?;
        let tuple = record.cast::<PyTuple>().map_err(|_| PyTypeError::new_err("records must be tuples"))?;
        if !matches!(tuple.len(), 2 | 3) {
            return Err(PyTypeError::new_err("records must be (headers, value) or (headers, value, key)"));
        }
        headers.push(headers_from_py(&tuple.get_item(0)?)?);
        values.push(tuple.get_item(1)?.extract()?);
        keys.push(if tuple.len() == 3 { optional_bytes(Some(&tuple.get_item(2)?), "key")? } else { None });
    }
    let events = detached(py, || {
        headers
            .into_iter()
            .zip(keys)
            .zip(&values)
            .enumerate()
            .map(|(i, ((h, k), v))| from_kafka(h, v.as_deref(), k).map_err(|e| at_item(i, e)))
            .collect::<Result<Vec<_>>>()
    })?;
    dicts(py, events, event_to_py)
}

/// from_a2a(message: dict) -> dict
#[pyfunction]
fn ce_from_a2a<'py>(py: Python<'py>, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let mut tape = Tape::with_capacity(1);
    let start = tape.record_top(message, "message").into_py_result(py)?;
    let event = tape
        .members(start)
        .and_then(|m| A2aMessage::from_value(Value::Object(m)))
        .map(A2aMessage::into_event)
        .into_py_result(py)?;
    event_to_py(py, event)
}

/// to_a2a(event: dict) -> dict
#[pyfunction]
fn ce_to_a2a<'py>(py: Python<'py>, event: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let mut tape = Tape::with_capacity(1);
    let start = tape.record_top(event, "event").into_py_result(py)?;
    let message = tape
        .members(start)
        .and_then(CloudEvent::from_attributes)
        .and_then(A2aMessage::from_event)
        .into_py_result(py)?;
    a2a_to_py(py, message)
}

/// from_a2a_many(messages: Iterable[dict]) -> list[dict]
#[pyfunction]
fn ce_from_a2a_many<'py>(py: Python<'py>, messages: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let (tape, starts) = record_all(py, messages, "message")?;
    let members = members_all(&tape, &starts).into_py_result(py)?;
    let events = detached(py, || {
        members
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                A2aMessage::from_value(Value::Object(m)).map(A2aMessage::into_event).map_err(|e| at_item(i, e))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    dicts(py, events, event_to_py)
}

/// to_a2a_many(events: Iterable[dict]) -> list[dict]
#[pyfunction]
fn ce_to_a2a_many<'py>(py: Python<'py>, events: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let (tape, starts) = record_all(py, events, "event")?;
    let members = members_all(&tape, &starts).into_py_result(py)?;
    let messages = detached(py, || {
        members
            .into_iter()
            .enumerate()
            .map(|(i, m)| CloudEvent::from_attributes(m).and_then(A2aMessage::from_event).map_err(|e| at_item(i, e)))
            .collect::<Result<Vec<_>>>()
    })?;
    dicts(py, messages, a2a_to_py)
}

/// a2a_to_json(message: dict) -> bytes
#[pyfunction]
fn ce_a2a_to_json<'py>(py: Python<'py>, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(640);
    write_a2a_py(message, &mut out).into_py_result(py)?;
    Ok(PyBytes::new(py, &out))
}

/// a2a_to_json_many(messages: Iterable[dict]) -> list[bytes]
#[pyfunction]
fn ce_a2a_to_json_many<'py>(py: Python<'py>, messages: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let count = messages.len().unwrap_or(0);
    // Room for typical events (700-800 bytes) so that the buffer rarely grows, which copies it.
    let mut buf = Vec::with_capacity(count * 1024);
    let mut ends = Vec::with_capacity(count);
    for (i, message) in messages.try_iter()?.enumerate() {
        write_a2a_py(&message?, &mut buf).map_err(|e| at_item(i, e)).into_py_result(py)?;
        ends.push(buf.len());
    }
    split_bytes(py, &buf, &ends)
}

/// json_to_a2a(data: bytes) -> dict
#[pyfunction]
fn ce_json_to_a2a<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    a2a_to_py(py, json_to_a2a(data).into_py_result(py)?)
}

/// json_to_a2a_many(items: Sequence[bytes]) -> list[dict]
#[pyfunction]
fn ce_json_to_a2a_many<'py>(py: Python<'py>, items: Vec<PyBackedBytes>) -> PyResult<Bound<'py, PyList>> {
    let messages = detached(py, || {
        // Sized up front: collecting `Result`s knows no length, and regrowing moves every message.
        let mut messages = Vec::with_capacity(items.len());
        for (i, b) in items.iter().enumerate() {
            messages.push(json_to_a2a(b).map_err(|e| at_item(i, e))?);
        }
        Ok(messages)
    })?;
    dicts(py, messages, a2a_to_py)
}

/// Converts each item of `items` with `convert` into one shared buffer, the GIL released.
fn convert_many<'py>(
    py: Python<'py>,
    items: &[PyBackedBytes],
    convert: impl Fn(&mut Converter, &[u8], &mut Vec<u8>) -> Result<()> + Send + Sync,
) -> PyResult<Bound<'py, PyList>> {
    let (buf, ends) = detached(py, || {
        // An event is at most a few hundred bytes longer than its message (and shorter the other way):
        // the buffer then never grows, which would copy everything written so far.
        let mut buf = Vec::with_capacity(items.iter().map(|item| item.len() + 256).sum());
        let mut ends = Vec::with_capacity(items.len());
        let mut converter = Converter::default();
        for (i, item) in items.iter().enumerate() {
            convert(&mut converter, item, &mut buf).map_err(|e| at_item(i, e))?;
            ends.push(buf.len());
        }
        Ok((buf, ends))
    })?;
    split_bytes(py, &buf, &ends)
}

/// a2a_json_to_event_json(data: bytes) -> bytes
///
/// A2A message JSON to CloudEvent structured JSON, validated as `a2a_to_json` validates the dict,
/// with no Python objects in between.
#[pyfunction]
fn ce_a2a_json_to_event_json<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(data.len() + 384);
    a2a_json_to_event_json(data, &mut out).into_py_result(py)?;
    Ok(PyBytes::new(py, &out))
}

/// a2a_json_to_event_json_many(items: Sequence[bytes]) -> list[bytes]
///
/// `a2a_json_to_event_json` for each item in one call, the GIL released; errors name the item.
#[pyfunction]
fn ce_a2a_json_to_event_json_many<'py>(py: Python<'py>, items: Vec<PyBackedBytes>) -> PyResult<Bound<'py, PyList>> {
    convert_many(py, &items, Converter::a2a_json_to_event_json)
}

/// event_json_to_a2a_json(data: bytes) -> bytes
///
/// CloudEvent structured JSON to A2A message JSON, validated as `json_to_a2a` validates it, with
/// no Python objects in between.
#[pyfunction]
fn ce_event_json_to_a2a_json<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(data.len());
    event_json_to_a2a_json(data, &mut out).into_py_result(py)?;
    Ok(PyBytes::new(py, &out))
}

/// event_json_to_a2a_json_many(items: Sequence[bytes]) -> list[bytes]
///
/// `event_json_to_a2a_json` for each item in one call, the GIL released; errors name the item.
#[pyfunction]
fn ce_event_json_to_a2a_json_many<'py>(py: Python<'py>, items: Vec<PyBackedBytes>) -> PyResult<Bound<'py, PyList>> {
    convert_many(py, &items, Converter::event_json_to_a2a_json)
}

/// Validates one A2A message read field by field, the payload by writing it as JSON into `scratch`.
fn check_a2a_py(message: &Bound<'_, PyAny>, scratch: &mut Vec<u8>) -> Result<()> {
    let objects = MessageObjects::read(message)?;
    objects.message()?;
    scratch.clear();
    write_py(&objects.payload, scratch, 1).map_err(|e| e.at("payload"))
}

/// validate_a2a(message: dict) -> None
#[pyfunction]
fn ce_validate_a2a(py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<()> {
    check_a2a_py(message, &mut Vec::new()).into_py_result(py)
}

/// is_valid_a2a(message: object) -> bool
#[pyfunction]
fn ce_is_valid_a2a(message: &Bound<'_, PyAny>) -> bool {
    check_a2a_py(message, &mut Vec::new()).is_ok()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ce_to_json, m)?)?;
    m.add_function(wrap_pyfunction!(ce_from_json, m)?)?;
    m.add_function(wrap_pyfunction!(ce_to_json_many, m)?)?;
    m.add_function(wrap_pyfunction!(ce_from_json_many, m)?)?;
    m.add_function(wrap_pyfunction!(ce_to_json_batch, m)?)?;
    m.add_function(wrap_pyfunction!(ce_from_json_batch, m)?)?;
    m.add_function(wrap_pyfunction!(ce_to_kafka, m)?)?;
    m.add_function(wrap_pyfunction!(ce_from_kafka, m)?)?;
    m.add_function(wrap_pyfunction!(ce_to_kafka_many, m)?)?;
    m.add_function(wrap_pyfunction!(ce_from_kafka_many, m)?)?;
    m.add_function(wrap_pyfunction!(ce_from_a2a, m)?)?;
    m.add_function(wrap_pyfunction!(ce_to_a2a, m)?)?;
    m.add_function(wrap_pyfunction!(ce_from_a2a_many, m)?)?;
    m.add_function(wrap_pyfunction!(ce_to_a2a_many, m)?)?;
    m.add_function(wrap_pyfunction!(ce_a2a_to_json, m)?)?;
    m.add_function(wrap_pyfunction!(ce_a2a_to_json_many, m)?)?;
    m.add_function(wrap_pyfunction!(ce_json_to_a2a, m)?)?;
    m.add_function(wrap_pyfunction!(ce_json_to_a2a_many, m)?)?;
    m.add_function(wrap_pyfunction!(ce_a2a_json_to_event_json, m)?)?;
    m.add_function(wrap_pyfunction!(ce_a2a_json_to_event_json_many, m)?)?;
    m.add_function(wrap_pyfunction!(ce_event_json_to_a2a_json, m)?)?;
    m.add_function(wrap_pyfunction!(ce_event_json_to_a2a_json_many, m)?)?;
    m.add_function(wrap_pyfunction!(ce_validate_a2a, m)?)?;
    m.add_function(wrap_pyfunction!(ce_is_valid_a2a, m)?)?;
    Ok(())
}
