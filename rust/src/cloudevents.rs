//! Python binding of `a2a_core::cloudevents`: dicts and bytes in, dicts and bytes out.
//!
//! Batch functions convert the Python objects while holding the GIL, then release it for the
//! core work (validation, JSON writing or parsing) and take it back to build the results.

use a2a_core::cloudevents::{
    a2a_to_json, at_item, from_kafka, json_to_a2a, read_batch, to_kafka, write_batch, A2aMessage,
    Agent, CloudEvent, Data, Extension, KafkaRecord, Optional, Value,
};
use a2a_core::{Error, Result};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::PyTypeInfo;

use crate::errors::{detached, IntoPyResult};

/// Deeper Python nesting is refused rather than risking the native stack.
const MAX_DEPTH: usize = 256;

fn to_value(obj: &Bound<'_, PyAny>, root: &str, depth: usize) -> Result<Value> {
    // Exact built-in types first, by type pointer: a failed `cast` builds an error object, which
    // costs more than the conversion itself.
    let py = obj.py();
    let ty = obj.get_type_ptr();
    if ty == PyString::type_object_raw(py) {
        if let Ok(s) = obj.cast_exact::<PyString>() {
            return str_value(s, root);
        }
    } else if ty == PyInt::type_object_raw(py) {
        return int_value(obj, root);
    } else if ty == PyDict::type_object_raw(py) {
        if let Ok(dict) = obj.cast_exact::<PyDict>() {
            return dict_value(dict, root, depth);
        }
    } else if ty == PyList::type_object_raw(py) {
        if let Ok(list) = obj.cast_exact::<PyList>() {
            return list_value(list, root, depth);
        }
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
    to_value_slow(obj, root, depth)
}

fn str_value(s: &Bound<'_, PyString>, root: &str) -> Result<Value> {
    s.to_str()
        .map(|s| Value::Str(s.to_owned()))
        .map_err(|_| Error::validation(root, "string is not valid Unicode (lone surrogate)"))
}

fn int_value(obj: &Bound<'_, PyAny>, root: &str) -> Result<Value> {
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(Value::Int(i));
    }
    obj.extract::<u64>()
        .map(Value::UInt)
        .map_err(|_| Error::validation(root, "integer does not fit in 64 bits"))
}

fn dict_value(dict: &Bound<'_, PyDict>, root: &str, depth: usize) -> Result<Value> {
    if depth >= MAX_DEPTH {
        return Err(Error::validation(
            root,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let mut members = Vec::with_capacity(dict.len());
    for (key, item) in dict.iter() {
        let key = key
            .cast::<PyString>()
            .map_err(|_| Error::validation(root, "object keys must be strings"))?
            .to_str()
            .map_err(|_| Error::validation(root, "key is not valid Unicode (lone surrogate)"))?
            .to_owned();
        members.push((key, to_value(&item, root, depth + 1)?));
    }
    Ok(Value::Object(members))
}

fn list_value(list: &Bound<'_, PyList>, root: &str, depth: usize) -> Result<Value> {
    if depth >= MAX_DEPTH {
        return Err(Error::validation(
            root,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let mut items = Vec::with_capacity(list.len());
    for item in list.iter() {
        items.push(to_value(&item, root, depth + 1)?);
    }
    Ok(Value::Array(items))
}

/// Subclasses of the built-in types, tuples and bytes.
fn to_value_slow(obj: &Bound<'_, PyAny>, root: &str, depth: usize) -> Result<Value> {
    if let Ok(s) = obj.cast::<PyString>() {
        return str_value(s, root);
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        return dict_value(dict, root, depth);
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return list_value(list, root, depth);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return int_value(obj, root);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        if depth >= MAX_DEPTH {
            return Err(Error::validation(
                root,
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        return tuple
            .iter()
            .map(|item| to_value(&item, root, depth + 1))
            .collect::<Result<_>>()
            .map(Value::Array);
    }
    let kind = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned());
    Err(Error::validation(
        root,
        format!("{kind} has no JSON representation"),
    ))
}

/// A top-level dict as its members, each converted under the name it carries.
fn to_members(obj: &Bound<'_, PyAny>, root: &str) -> Result<Vec<(String, Value)>> {
    let dict = obj
        .cast::<PyDict>()
        .map_err(|_| Error::validation(root, "must be a dict"))?;
    let mut members = Vec::with_capacity(dict.len());
    for (key, item) in dict.iter() {
        let key = key
            .cast::<PyString>()
            .map_err(|_| Error::validation(root, "keys must be strings"))?
            .to_str()
            .map_err(|_| Error::validation(root, "key is not valid Unicode"))?
            .to_owned();
        let value = to_value(&item, &key, 1)?;
        members.push((key, value));
    }
    Ok(members)
}

fn event_from_py(obj: &Bound<'_, PyAny>) -> Result<CloudEvent> {
    CloudEvent::from_attributes(to_members(obj, "event")?)
}

fn message_from_py(obj: &Bound<'_, PyAny>) -> Result<Value> {
    to_members(obj, "message").map(Value::Object)
}

fn each<T>(
    objs: &Bound<'_, PyAny>,
    convert: impl Fn(&Bound<'_, PyAny>) -> Result<T>,
) -> PyResult<Vec<Result<T>>> {
    let mut out = Vec::with_capacity(objs.len().unwrap_or(0));
    for (i, obj) in objs.try_iter()?.enumerate() {
        out.push(convert(&obj?).map_err(|e| at_item(i, e)));
    }
    Ok(out)
}

fn collect<T>(items: Vec<Result<T>>) -> Result<Vec<T>> {
    items.into_iter().collect()
}

fn value_to_py<'py>(py: Python<'py>, value: Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::UInt(u) => u.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, f).into_any(),
        Value::Str(s) => PyString::new(py, &s).into_any(),
        Value::Bytes(b) => PyBytes::new(py, &b).into_any(),
        Value::Array(items) => {
            let items = items
                .into_iter()
                .map(|item| value_to_py(py, item))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(members) => {
            let dict = PyDict::new(py);
            for (key, item) in members {
                dict.set_item(PyString::new(py, &key), value_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

fn extension_to_py<'py>(py: Python<'py>, ext: Extension) -> PyResult<Bound<'py, PyAny>> {
    Ok(match ext {
        Extension::Str(s) => PyString::new(py, &s).into_any(),
        Extension::Int(i) => i.into_pyobject(py)?.into_any(),
        Extension::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Extension::Binary(b) => PyBytes::new(py, &b).into_any(),
    })
}

fn event_to_py(py: Python<'_>, event: CloudEvent) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "specversion"), intern!(py, "1.0"))?;
    dict.set_item(intern!(py, "id"), event.id)?;
    dict.set_item(intern!(py, "source"), event.source)?;
    dict.set_item(intern!(py, "type"), event.ty)?;
    for (key, value) in [
        (intern!(py, "time"), event.time),
        (intern!(py, "datacontenttype"), event.datacontenttype),
        (intern!(py, "dataschema"), event.dataschema),
        (intern!(py, "subject"), event.subject),
    ] {
        if let Some(value) = value {
            dict.set_item(key, value)?;
        }
    }
    for (name, ext) in event.extensions {
        dict.set_item(name, extension_to_py(py, ext)?)?;
    }
    match event.data {
        None => {}
        Some(Data::Binary(bytes)) => {
            dict.set_item(intern!(py, "data"), PyBytes::new(py, &bytes))?
        }
        Some(Data::Json(value)) => dict.set_item(intern!(py, "data"), value_to_py(py, value)?)?,
    }
    Ok(dict)
}

fn agent_to_py(py: Python<'_>, agent: Agent) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "agentId"), agent.agent_id)?;
    dict.set_item(intern!(py, "agentType"), agent.agent_type)?;
    dict.set_item(
        intern!(py, "capabilities"),
        PyList::new(py, agent.capabilities)?,
    )?;
    Ok(dict)
}

fn optional_text_to_py<'py>(
    py: Python<'py>,
    dict: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    value: Optional<String>,
) -> PyResult<()> {
    match value {
        Optional::Absent => Ok(()),
        Optional::Null => dict.set_item(key, py.None()),
        Optional::Present(text) => dict.set_item(key, text),
    }
}

fn a2a_to_py(py: Python<'_>, m: A2aMessage) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "protocol"), intern!(py, "A2A"))?;
    dict.set_item(intern!(py, "version"), m.version)?;
    dict.set_item(intern!(py, "messageId"), m.message_id)?;
    dict.set_item(intern!(py, "timestamp"), m.timestamp)?;
    dict.set_item(intern!(py, "sourceAgent"), agent_to_py(py, m.source_agent)?)?;
    match m.target_agent {
        Optional::Absent => {}
        Optional::Null => dict.set_item(intern!(py, "targetAgent"), py.None())?,
        Optional::Present(agent) => {
            dict.set_item(intern!(py, "targetAgent"), agent_to_py(py, agent)?)?
        }
    }
    dict.set_item(intern!(py, "messageType"), m.message_type)?;
    dict.set_item(intern!(py, "payload"), value_to_py(py, m.payload)?)?;
    let meta = PyDict::new(py);
    let priority = match m.priority {
        "HIGH" => intern!(py, "HIGH"),
        "LOW" => intern!(py, "LOW"),
        _ => intern!(py, "NORMAL"),
    };
    meta.set_item(intern!(py, "priority"), priority)?;
    meta.set_item(intern!(py, "ttl"), m.ttl)?;
    meta.set_item(intern!(py, "correlationId"), m.correlation_id)?;
    optional_text_to_py(
        py,
        &meta,
        intern!(py, "collaborationId"),
        m.collaboration_id,
    )?;
    optional_text_to_py(py, &meta, intern!(py, "traceparent"), m.traceparent)?;
    dict.set_item(intern!(py, "metadata"), meta)?;
    Ok(dict)
}

fn bytes_list<'py>(py: Python<'py>, items: Vec<Vec<u8>>) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, items.iter().map(|b| PyBytes::new(py, b)))
}

fn dicts<'py, T>(
    py: Python<'py>,
    items: Vec<T>,
    convert: impl Fn(Python<'py>, T) -> PyResult<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyList>> {
    let items = items
        .into_iter()
        .map(|item| convert(py, item))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

fn record_to_py(py: Python<'_>, record: KafkaRecord) -> PyResult<Bound<'_, PyTuple>> {
    let key = record.key.map(|k| PyBytes::new(py, &k));
    let headers = record
        .headers
        .iter()
        .map(|(name, value)| {
            PyTuple::new(
                py,
                [
                    PyString::new(py, name).into_any(),
                    PyBytes::new(py, value).into_any(),
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    let value = record.value.map(|v| PyBytes::new(py, &v));
    PyTuple::new(
        py,
        [
            key.into_pyobject(py)?.into_any(),
            PyList::new(py, headers)?.into_any(),
            value.into_pyobject(py)?.into_any(),
        ],
    )
}

fn header_bytes(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<Vec<u8>>> {
    if value.is_none() {
        return Ok(None);
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(Some(b.as_bytes().to_vec()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Some(s.to_str()?.as_bytes().to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "header {name:?}: value must be bytes, str or None"
    )))
}

type Headers = Vec<(String, Option<Vec<u8>>)>;

fn headers_from_py(headers: &Bound<'_, PyAny>) -> PyResult<Headers> {
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
    let json = event_from_py(event)
        .and_then(|e| e.to_json())
        .into_py_result(py)?;
    Ok(PyBytes::new(py, &json))
}

/// from_json(data: bytes) -> dict
#[pyfunction]
fn ce_from_json<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    event_to_py(py, CloudEvent::from_json(data).into_py_result(py)?)
}

/// to_json_many(events: Iterable[dict]) -> list[bytes]
#[pyfunction]
fn ce_to_json_many<'py>(
    py: Python<'py>,
    events: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let events = collect(each(events, event_from_py)?).into_py_result(py)?;
    let out = detached(py, || {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| e.to_json().map_err(|err| at_item(i, err)))
            .collect()
    })?;
    bytes_list(py, out)
}

/// from_json_many(items: Iterable[bytes]) -> list[dict]
#[pyfunction]
fn ce_from_json_many<'py>(
    py: Python<'py>,
    items: Vec<PyBackedBytes>,
) -> PyResult<Bound<'py, PyList>> {
    let events = detached(py, || {
        items
            .iter()
            .enumerate()
            .map(|(i, b)| CloudEvent::from_json(b).map_err(|e| at_item(i, e)))
            .collect()
    })?;
    dicts(py, events, event_to_py)
}

/// to_json_batch(events: Iterable[dict]) -> bytes
#[pyfunction]
fn ce_to_json_batch<'py>(
    py: Python<'py>,
    events: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let events = collect(each(events, event_from_py)?).into_py_result(py)?;
    let out = detached(py, || write_batch(&events))?;
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
    let record = event_from_py(event)
        .and_then(|e| to_kafka(&e))
        .into_py_result(py)?;
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
fn ce_to_kafka_many<'py>(
    py: Python<'py>,
    events: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let events = collect(each(events, event_from_py)?).into_py_result(py)?;
    let records = detached(py, || {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| to_kafka(e).map_err(|err| at_item(i, err)))
            .collect::<Result<Vec<_>>>()
    })?;
    let records = records
        .into_iter()
        .map(|r| record_to_py(py, r))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, records)
}

/// from_kafka_many(records: Iterable[tuple[headers, value] | tuple[headers, value, key]]) -> list[dict]
#[pyfunction]
fn ce_from_kafka_many<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let mut parts = Vec::new();
    for record in records.try_iter()? {
        let record = record?;
        let tuple = record
            .cast::<PyTuple>()
            .map_err(|_| PyTypeError::new_err("records must be tuples"))?;
        let (headers, value, key) = match tuple.len() {
            2 | 3 => {
                let value = tuple.get_item(1)?;
                let value: Option<Vec<u8>> = optional_bytes(Some(&value), "value")?;
                let key = if tuple.len() == 3 {
                    optional_bytes(Some(&tuple.get_item(2)?), "key")?
                } else {
                    None
                };
                (headers_from_py(&tuple.get_item(0)?)?, value, key)
            }
            _ => {
                return Err(PyTypeError::new_err(
                    "records must be (headers, value) or (headers, value, key)",
                ))
            }
        };
        parts.push((headers, value, key));
    }
    let events = detached(py, || {
        parts
            .into_iter()
            .enumerate()
            .map(|(i, (h, v, k))| from_kafka(h, v.as_deref(), k).map_err(|e| at_item(i, e)))
            .collect::<Result<Vec<_>>>()
    })?;
    dicts(py, events, event_to_py)
}

/// from_a2a(message: dict) -> dict
#[pyfunction]
fn ce_from_a2a<'py>(py: Python<'py>, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let event = message_from_py(message)
        .and_then(A2aMessage::from_value)
        .map(A2aMessage::into_event);
    event_to_py(py, event.into_py_result(py)?)
}

/// to_a2a(event: dict) -> dict
#[pyfunction]
fn ce_to_a2a<'py>(py: Python<'py>, event: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    a2a_to_py(
        py,
        event_from_py(event)
            .and_then(A2aMessage::from_event)
            .into_py_result(py)?,
    )
}

/// from_a2a_many(messages: Iterable[dict]) -> list[dict]
#[pyfunction]
fn ce_from_a2a_many<'py>(
    py: Python<'py>,
    messages: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let values = collect(each(messages, message_from_py)?).into_py_result(py)?;
    let events = detached(py, || {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                A2aMessage::from_value(v)
                    .map(A2aMessage::into_event)
                    .map_err(|e| at_item(i, e))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    dicts(py, events, event_to_py)
}

/// to_a2a_many(events: Iterable[dict]) -> list[dict]
#[pyfunction]
fn ce_to_a2a_many<'py>(
    py: Python<'py>,
    events: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let events = collect(each(events, event_from_py)?).into_py_result(py)?;
    let messages = detached(py, || {
        events
            .into_iter()
            .enumerate()
            .map(|(i, e)| A2aMessage::from_event(e).map_err(|err| at_item(i, err)))
            .collect::<Result<Vec<_>>>()
    })?;
    dicts(py, messages, a2a_to_py)
}

/// a2a_to_json(message: dict) -> bytes
#[pyfunction]
fn ce_a2a_to_json<'py>(
    py: Python<'py>,
    message: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let json = message_from_py(message)
        .and_then(a2a_to_json)
        .into_py_result(py)?;
    Ok(PyBytes::new(py, &json))
}

/// a2a_to_json_many(messages: Iterable[dict]) -> list[bytes]
#[pyfunction]
fn ce_a2a_to_json_many<'py>(
    py: Python<'py>,
    messages: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let values = collect(each(messages, message_from_py)?).into_py_result(py)?;
    let out = detached(py, || {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| a2a_to_json(v).map_err(|e| at_item(i, e)))
            .collect()
    })?;
    bytes_list(py, out)
}

/// json_to_a2a(data: bytes) -> dict
#[pyfunction]
fn ce_json_to_a2a<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    a2a_to_py(py, json_to_a2a(data).into_py_result(py)?)
}

/// json_to_a2a_many(items: Iterable[bytes]) -> list[dict]
#[pyfunction]
fn ce_json_to_a2a_many<'py>(
    py: Python<'py>,
    items: Vec<PyBackedBytes>,
) -> PyResult<Bound<'py, PyList>> {
    let messages = detached(py, || {
        items
            .iter()
            .enumerate()
            .map(|(i, b)| json_to_a2a(b).map_err(|e| at_item(i, e)))
            .collect::<Result<Vec<_>>>()
    })?;
    dicts(py, messages, a2a_to_py)
}

/// validate_a2a(message: dict) -> None
#[pyfunction]
fn ce_validate_a2a(py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<()> {
    message_from_py(message)
        .and_then(A2aMessage::from_value)
        .map(|_| ())
        .into_py_result(py)
}

/// is_valid_a2a(message: object) -> bool
#[pyfunction]
fn ce_is_valid_a2a(message: &Bound<'_, PyAny>) -> bool {
    message_from_py(message)
        .and_then(A2aMessage::from_value)
        .is_ok()
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
    m.add_function(wrap_pyfunction!(ce_validate_a2a, m)?)?;
    m.add_function(wrap_pyfunction!(ce_is_valid_a2a, m)?)?;
    Ok(())
}
