//! Python face of `a2a_core::envelope`: one call decodes a consumed batch into `Inbound` objects, one
//! call builds an outgoing record's key, headers and value.

use std::borrow::Cow;

use a2a_core::cloudevents::kafka::Header;
use a2a_core::envelope::{
    check_outbound, now_rfc3339_millis, EnvelopeReader, Limits, Outbound, Prepared, CONTENT_TYPE, PROTOCOL,
};
use pyo3::exceptions::PyKeyError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::avro::{AvroCodec, BindError, PyBuilder, PyValue};
use crate::cloudevents::{header_bytes, headers_from_py, GcPause};
use crate::errors::{detached, to_py};
use crate::strings::cached_str;

struct Kind {
    ce_type: Py<PyString>,
    required: Vec<Py<PyString>>,
    reader: Option<Py<AvroCodec>>,
}

/// Decodes consumed A2A records: CloudEvent headers, wire header and Avro body in one call per batch.
#[pyclass(name = "EnvelopeDecoder", module = "a2a_fast._native")]
pub struct EnvelopeDecoder {
    core: EnvelopeReader,
    kinds: Vec<Kind>,
    inbound: Py<PyAny>,
}

fn kind_index(decoder: &EnvelopeDecoder, kind: &str) -> PyResult<usize> {
    decoder.core.kind_of(kind).ok_or_else(|| PyKeyError::new_err(format!("unknown message kind {kind:?}")))
}

/// A header value or key as the client gives it, borrowed from the Python object.
enum Text {
    Bytes(PyBackedBytes),
    Str(PyBackedStr),
}

impl Text {
    fn read(obj: &Bound<'_, PyAny>) -> Option<Option<Text>> {
        if obj.is_none() {
            Some(None)
        } else if let Ok(bytes) = obj.cast::<PyBytes>() {
            Some(Some(Text::Bytes(bytes.clone().into())))
        } else {
            obj.cast::<PyString>().ok()?.clone().try_into().ok().map(|s| Some(Text::Str(s)))
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Text::Bytes(bytes) => bytes,
            Text::Str(text) => text.as_bytes(),
        }
    }
}

/// What one consumed record gives before its Avro body is read: the headers borrowed from the client's
/// list of (name, value) tuples, or copied by the general reader when they come in another shape.
struct Input {
    names: Vec<PyBackedStr>,
    values: Vec<Option<Text>>,
    copied: Vec<(String, Option<Vec<u8>>)>,
    value: Option<PyBackedBytes>,
    key: Option<Text>,
}

impl Input {
    fn read(record: &Bound<'_, PyAny>) -> PyResult<Input> {
        let py = record.py();
        let headers = record.call_method0(intern!(py, "headers"))?;
        let mut input = Input {
            names: Vec::new(),
            values: Vec::new(),
            copied: Vec::new(),
            value: record.call_method0(intern!(py, "value"))?.extract()?,
            key: None,
        };
        let key = record.call_method0(intern!(py, "key"))?;
        input.key = match Text::read(&key) {
            Some(key) => key,
            None => header_bytes(&key, "key")?.map(|k| Text::Bytes(PyBytes::new(py, &k).into())),
        };
        if !input.borrow_headers(&headers) {
            input.names.clear();
            input.values.clear();
            input.copied = headers_from_py(&headers)?;
        }
        Ok(input)
    }

    fn borrow_headers(&mut self, headers: &Bound<'_, PyAny>) -> bool {
        let Ok(list) = headers.cast::<PyList>() else {
            return headers.is_none();
        };
        self.names.reserve(list.len());
        self.values.reserve(list.len());
        for item in list.iter() {
            let Ok(pair) = item.cast::<PyTuple>() else { return false };
            let (Ok(name), Ok(value)) = (pair.get_item(0), pair.get_item(1)) else { return false };
            if pair.len() != 2 {
                return false;
            }
            let (Ok(name), Some(value)) = (name.extract::<PyBackedStr>(), Text::read(&value)) else { return false };
            self.names.push(name);
            self.values.push(value);
        }
        true
    }

    fn headers(&self) -> Vec<Header<'_>> {
        if !self.copied.is_empty() {
            return self
                .copied
                .iter()
                .map(|(n, v)| (Cow::Borrowed(n.as_str()), v.as_deref().map(Cow::Borrowed)))
                .collect();
        }
        self.names
            .iter()
            .zip(&self.values)
            .map(|(name, value)| (Cow::Borrowed(&**name), value.as_ref().map(|v| Cow::Borrowed(v.bytes()))))
            .collect()
    }
}

#[pymethods]
impl EnvelopeDecoder {
    #[new]
    fn new(py: Python<'_>, kinds: Vec<(String, String, Vec<String>)>, inbound: Py<PyAny>) -> Self {
        let core = EnvelopeReader::new(kinds.iter().map(|(ce_type, record, _)| (ce_type.as_str(), record.as_str())));
        let kinds = kinds
            .iter()
            .map(|(ce_type, _, required)| Kind {
                ce_type: PyString::intern(py, ce_type).unbind(),
                required: required.iter().map(|name| PyString::intern(py, name).unbind()).collect(),
                reader: None,
            })
            .collect();
        EnvelopeDecoder { core, kinds, inbound }
    }

    /// The codec `kind` is read with (the reader's schema of resolution).
    fn reader(&self, py: Python<'_>, kind: &str) -> PyResult<Option<Py<AvroCodec>>> {
        let index = kind_index(self, kind)?;
        Ok(self.kinds[index].reader.as_ref().map(|codec| codec.clone_ref(py)))
    }

    fn set_reader(&mut self, kind: &str, codec: Bound<'_, AvroCodec>) -> PyResult<()> {
        let index = kind_index(self, kind)?;
        self.core.set_reader(index, codec.get().inner.clone());
        self.kinds[index].reader = Some(codec.unbind());
        Ok(())
    }

    /// Adds the writer schema registered under `schema_id`, whose root record is `name`.
    fn add_writer(&mut self, schema_id: u32, name: &str, codec: &AvroCodec) {
        self.core.add_writer(schema_id, name, codec.inner.schema().clone());
    }

    fn knows(&self, schema_id: u32) -> bool {
        self.core.knows(schema_id)
    }

    /// The wire-format schema ids of the records' values that this decoder does not know yet.
    fn unknown_schema_ids(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
        let mut unknown = Vec::new();
        for record in records.try_iter()? {
            let value = record?.call_method0(intern!(py, "value"))?;
            if let Ok(bytes) = value.cast::<PyBytes>() {
                if let Ok((id, _)) = a2a_core::avro::parse_wire_header(bytes.as_bytes()) {
                    if !self.core.knows(id) && !unknown.contains(&id) {
                        unknown.push(id);
                    }
                }
            }
        }
        Ok(unknown)
    }

    /// Decodes consumed records (objects with `key()`, `headers()`, `value()`, `topic()`, `partition()`,
    /// `offset()`). Returns a list with, per record, an `Inbound`, the error the record gives, the writer
    /// schema id when it is not known yet, or None when the envelope's own rules refused it (their
    /// message is the per-record path's); and the indices of the items that are not an `Inbound`.
    #[pyo3(signature = (records, limits=None))]
    fn decode_many<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
        limits: Option<(u64, f64, f64)>,
    ) -> PyResult<(Bound<'py, PyList>, Vec<usize>)> {
        let records = records.try_iter()?.collect::<PyResult<Vec<_>>>()?;
        let inputs = records.iter().map(Input::read).collect::<PyResult<Vec<_>>>()?;
        let limits = limits.map(|(max_bytes, default_ttl, now)| Limits { max_bytes, default_ttl, now });
        let core = &self.core;
        let prepared = detached(py, || {
            Ok(inputs
                .iter()
                .map(|input| {
                    let key = input.key.as_ref().map(|k| Cow::Borrowed(k.bytes()));
                    core.prepare(input.headers(), input.value.as_deref(), key, limits.as_ref())
                })
                .collect::<Vec<_>>())
        })?;
        let _paused = if records.len() > 1 { GcPause::new(py)? } else { None };
        let mut out = Vec::with_capacity(records.len());
        let mut pending = Vec::new();
        for (index, ((found, record), input)) in prepared.into_iter().zip(&records).zip(&inputs).enumerate() {
            let item = match found {
                Prepared::Ready(attributes) => self.inbound(py, attributes, record, input.key.as_ref())?,
                Prepared::Failed(error) => Err(to_py(py, error).into_value(py).into_bound(py).into_any()),
                Prepared::Refused(_) => Err(py.None().into_bound(py)),
                Prepared::UnknownSchema(id) => Err(id.into_pyobject(py)?.into_any()),
            };
            out.push(item.unwrap_or_else(|other| {
                pending.push(index);
                other
            }));
        }
        Ok((PyList::new(py, out)?, pending))
    }
}

type Item<'py> = Result<Bound<'py, PyAny>, Bound<'py, PyAny>>;

impl EnvelopeDecoder {
    /// The `Inbound` of a record whose envelope passed, or (as `Err`) the error of its body or None
    /// when one of the record rules below refuses it.
    fn inbound<'py>(
        &self,
        py: Python<'py>,
        found: a2a_core::envelope::Attributes<'_>,
        record: &Bound<'py, PyAny>,
        key: Option<&Text>,
    ) -> PyResult<Item<'py>> {
        let kind = &self.kinds[found.kind];
        let Some(reader) = &kind.reader else {
            return Ok(Err(py.None().into_bound(py)));
        };
        let plan = match &found.plan {
            Ok(plan) => plan,
            Err(error) => return Ok(Err(to_py(py, error.clone()).into_value(py).into_bound(py).into_any())),
        };
        let reader = reader.bind(py).get();
        let mut builder = PyBuilder { py, names: &reader.names };
        let value = match reader.inner.decode(found.data, Some(plan), &mut builder) {
            Ok(value) => value,
            Err(BindError::Core(error)) => return Ok(Err(to_py(py, error).into_value(py).into_bound(py).into_any())),
            Err(BindError::Py(error)) => return Err(error),
        };
        let Some(task_id) = checked_task_id(py, kind, &value, key)? else {
            return Ok(Err(py.None().into_bound(py)));
        };
        let optional = |text: Option<Cow<'_, str>>, cache: bool| match text {
            None => py.None().into_bound(py),
            Some(text) if cache => cached_str(py, &text).into_any(),
            Some(text) => PyString::new(py, &text).into_any(),
        };
        let topic = record.call_method0(intern!(py, "topic"))?;
        let partition = record.call_method0(intern!(py, "partition"))?;
        let offset = record.call_method0(intern!(py, "offset"))?;
        let zero = || 0i64.into_pyobject(py).map(|z| z.into_any());
        let args = PyTuple::new(
            py,
            [
                kind.ce_type.bind(py).clone().into_any(),
                value,
                PyString::new(py, &found.id).into_any(),
                task_id.into_any(),
                cached_str(py, &found.source_agent).into_any(),
                optional(found.target_agent, true),
                optional(found.collaboration_id, false),
                optional(found.traceparent, false),
                found.schema_id.into_pyobject(py)?.into_any(),
                if topic.is_truthy()? { topic } else { intern!(py, "").clone().into_any() },
                if partition.is_truthy()? { partition } else { zero()? },
                if offset.is_truthy()? { offset } else { zero()? },
                optional(found.priority, true),
            ],
        )?;
        Ok(Ok(self.inbound.bind(py).call1(args)?))
    }
}

/// The record's `task_id` when the record rules of the per-record path hold in their plain form: the key
/// is the task id, the required fields are non-empty strings, costs are floats >= 0 and progress a
/// float from 0 to 1. None sends the record to that path, which gives the exact message.
fn checked_task_id<'py>(
    py: Python<'py>,
    kind: &Kind,
    value: &Bound<'py, PyAny>,
    key: Option<&Text>,
) -> PyResult<Option<Bound<'py, PyString>>> {
    let Ok(record) = value.cast::<PyDict>() else {
        return Ok(None);
    };
    let text = |name: &Bound<'py, PyString>| -> PyResult<Option<Bound<'py, PyString>>> {
        Ok(match record.get_item(name)? {
            Some(found) => found.cast_into::<PyString>().ok().filter(|s| s.len().is_ok_and(|n| n > 0)),
            None => None,
        })
    };
    let Some(task_id) = text(intern!(py, "task_id"))? else {
        return Ok(None);
    };
    match key {
        None => {}
        Some(Text::Bytes(key)) if **key == *task_id.to_str()?.as_bytes() => {}
        Some(_) => return Ok(None),
    }
    for name in &kind.required {
        if text(name.bind(py))?.is_none() {
            return Ok(None);
        }
    }
    let number = |name: &Bound<'py, PyString>, low: f64, high: f64| -> PyResult<bool> {
        Ok(match record.get_item(name)? {
            None => true,
            Some(found) if found.is_none() => true,
            Some(found) => found.cast::<PyFloat>().is_ok_and(|f| (low..=high).contains(&f.value())),
        })
    };
    for name in
        [intern!(py, "proposed_cost"), intern!(py, "counter_offer"), intern!(py, "agreed_cost"), intern!(py, "offer")]
    {
        if !number(name, 0.0, f64::INFINITY)? {
            return Ok(None);
        }
    }
    if !number(intern!(py, "progress"), 0.0, 1.0)? {
        return Ok(None);
    }
    Ok(Some(task_id))
}

/// Builds the records of one message kind: constant headers made once, the changing ones per call.
#[pyclass(name = "EnvelopeEncoder", module = "a2a_fast._native", frozen)]
pub struct EnvelopeEncoder {
    codec: Py<AvroCodec>,
    specversion: Py<PyTuple>,
    source_type: [Py<PyTuple>; 2],
    schema_to_agent: [Py<PyTuple>; 5],
    content_type: Py<PyTuple>,
}

fn header<'py>(py: Python<'py>, name: &Bound<'py, PyString>, value: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, [name.clone().into_any(), PyBytes::new(py, value).into_any()])
}

fn optional_str<'a>(value: &'a Option<Bound<'_, PyAny>>) -> Result<Option<&'a str>, ()> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v.cast::<PyString>().map_err(|_| ())?.to_str().map(Some).map_err(|_| ()),
    }
}

#[pymethods]
impl EnvelopeEncoder {
    /// Checks the constant attributes with the CloudEvents rules (a `ValidationError` names the first
    /// that breaks one) and makes their headers.
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (codec, *, source, ce_type, dataschema, protocolversion, messagetype, sourceagent))]
    fn new(
        py: Python<'_>,
        codec: Py<AvroCodec>,
        source: &str,
        ce_type: &str,
        dataschema: &str,
        protocolversion: &str,
        messagetype: &str,
        sourceagent: &str,
    ) -> PyResult<Self> {
        use a2a_core::cloudevents::{CloudEvent, Value};
        let attributes = [
            ("specversion", "1.0"),
            ("id", "-"),
            ("source", source),
            ("type", ce_type),
            ("datacontenttype", CONTENT_TYPE),
            ("dataschema", dataschema),
            ("protocol", PROTOCOL),
            ("protocolversion", protocolversion),
            ("messagetype", messagetype),
            ("sourceagent", sourceagent),
        ];
        CloudEvent::from_attributes(attributes.iter().map(|(n, v)| ((*n).into(), Value::Str((*v).into()))).collect())
            .map_err(|error| to_py(py, error))?;
        let made =
            |name: &str, value: &str| header(py, &PyString::intern(py, name), value.as_bytes()).map(Bound::unbind);
        Ok(EnvelopeEncoder {
            codec,
            specversion: made("ce_specversion", "1.0")?,
            source_type: [made("ce_source", source)?, made("ce_type", ce_type)?],
            schema_to_agent: [
                made("ce_dataschema", dataschema)?,
                made("ce_protocol", PROTOCOL)?,
                made("ce_protocolversion", protocolversion)?,
                made("ce_messagetype", messagetype)?,
                made("ce_sourceagent", sourceagent)?,
            ],
            content_type: made(super::envelope::CONTENT_TYPE_HEADER, CONTENT_TYPE)?,
        })
    }

    /// `(key, headers, value)` of `record` (its Avro encoding raises as `AvroCodec.encode` does), or None
    /// when an argument is not in the plain form checked here (not a str, or breaking a CloudEvents rule):
    /// the general path then gives the record or the exact error.
    #[pyo3(signature = (record, task_id, event_id, target_agent=None, collaboration_id=None, traceparent=None, priority=None, ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        record: &Bound<'py, PyAny>,
        task_id: &Bound<'py, PyAny>,
        event_id: &Bound<'py, PyAny>,
        target_agent: Option<Bound<'py, PyAny>>,
        collaboration_id: Option<Bound<'py, PyAny>>,
        traceparent: Option<Bound<'py, PyAny>>,
        priority: Option<Bound<'py, PyAny>>,
        ttl: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let codec = self.codec.bind(py).get();
        let mut value = Vec::with_capacity(128);
        codec
            .inner
            .encode(&PyValue { obj: record.clone(), names: &codec.names }, &mut value)
            .map_err(|error| to_py(py, error))?;
        let (Ok(task_id), Ok(event_id)) = (task_id.cast::<PyString>(), event_id.cast::<PyString>()) else {
            return Ok(None);
        };
        let (Ok(target), Ok(collaboration), Ok(trace), Ok(level)) = (
            optional_str(&target_agent),
            optional_str(&collaboration_id),
            optional_str(&traceparent),
            optional_str(&priority),
        ) else {
            return Ok(None);
        };
        let ttl = match &ttl {
            None => None,
            Some(v) if v.is_none() => None,
            Some(v) if v.is_exact_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>() => match v.extract::<i64>() {
                Ok(seconds) => Some(seconds),
                Err(_) => return Ok(None),
            },
            Some(_) => return Ok(None),
        };
        let outbound = Outbound {
            id: event_id.to_str()?,
            target_agent: target,
            collaboration_id: collaboration,
            traceparent: trace,
            priority: level,
            ttl,
            partition_key: task_id.to_str()?,
        };
        if check_outbound(&outbound).is_err() {
            return Ok(None);
        }
        let time = now_rfc3339_millis();
        let mut headers = Vec::with_capacity(17);
        headers.push(self.specversion.bind(py).clone());
        headers.push(header(py, intern!(py, "ce_id"), outbound.id.as_bytes())?);
        headers.extend(self.source_type.iter().map(|h| h.bind(py).clone()));
        headers.push(header(py, intern!(py, "ce_time"), time.as_bytes())?);
        headers.extend(self.schema_to_agent.iter().map(|h| h.bind(py).clone()));
        for (name, text) in [
            (intern!(py, "ce_targetagent"), outbound.target_agent),
            (intern!(py, "ce_collaborationid"), outbound.collaboration_id),
            (intern!(py, "ce_traceparent"), outbound.traceparent),
            (intern!(py, "ce_priority"), outbound.priority),
        ] {
            if let Some(text) = text {
                headers.push(header(py, name, text.as_bytes())?);
            }
        }
        if let Some(seconds) = outbound.ttl {
            headers.push(header(py, intern!(py, "ce_ttl"), itoa::Buffer::new().format(seconds).as_bytes())?);
        }
        let key = outbound.partition_key.as_bytes();
        headers.push(header(py, intern!(py, "ce_partitionkey"), key)?);
        headers.push(self.content_type.bind(py).clone());
        let parts = [
            PyBytes::new(py, key).into_any(),
            PyList::new(py, headers)?.into_any(),
            PyBytes::new(py, &value).into_any(),
        ];
        PyTuple::new(py, parts).map(Some)
    }
}

const CONTENT_TYPE_HEADER: &str = "content-type";

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EnvelopeDecoder>()?;
    m.add_class::<EnvelopeEncoder>()?;
    Ok(())
}
