//! Python face of `a2a_core::envelope`: one call decodes a consumed batch into `Inbound` objects, one
//! call builds an outgoing record's key, headers and value.

use std::borrow::Cow;

use a2a_core::cloudevents::kafka::Header;
use a2a_core::envelope::{
    check_age, check_outbound, check_size, check_task_id, now_rfc3339_millis, EnvelopeReader, FieldNumber, Limits,
    Outbound, Prepared, RecordFields, Sent, Ttl, CONTENT_TYPE, COST_FIELDS, PROGRESS_FIELD, PROTOCOL,
};
use a2a_core::Error;
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
    /// The fields the core requires of the kind's records, as keys of the decoded dict.
    required: Vec<Py<PyString>>,
    reader: Option<Py<AvroCodec>>,
    /// Why the kind has no reader codec: the catalog's error, given for each of its records.
    missing: Option<Py<PyAny>>,
}

/// Decodes consumed A2A records: CloudEvent headers, wire header and Avro body in one call per batch.
#[pyclass(name = "EnvelopeDecoder", module = "a2a_fast._native")]
pub struct EnvelopeDecoder {
    core: EnvelopeReader,
    kinds: Vec<Kind>,
    inbound: Py<PyAny>,
    /// The keys of the record fields the core's record rules read: the costs, then the progress.
    number_keys: [Py<PyString>; 5],
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
    /// The parts of a consumed record (an object with `key()`, `headers()` and `value()`).
    fn read(record: &Bound<'_, PyAny>) -> PyResult<Input> {
        let py = record.py();
        let headers = record.call_method0(intern!(py, "headers"))?;
        let value = record.call_method0(intern!(py, "value"))?;
        Input::new(&record.call_method0(intern!(py, "key"))?, &headers, &value)
    }

    fn new(key: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Input> {
        let py = key.py();
        let mut input =
            Input { names: Vec::new(), values: Vec::new(), copied: Vec::new(), value: value.extract()?, key: None };
        input.key = match Text::read(key) {
            Some(key) => key,
            None => header_bytes(key, "key")?.map(|k| Text::Bytes(PyBytes::new(py, &k).into())),
        };
        if !input.borrow_headers(headers) {
            input.names.clear();
            input.values.clear();
            input.copied = headers_from_py(headers)?;
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

    fn prepare<'a>(&'a self, core: &EnvelopeReader, limits: Option<&Limits>, check_age: bool) -> Prepared<'a> {
        let key = self.key.as_ref().map(|k| Cow::Borrowed(k.bytes()));
        core.prepare(self.headers(), self.value.as_deref(), key, limits, check_age)
    }
}

/// Where a decoded record came from: its consumed record's `topic()`, `partition()` and `offset()`
/// (an empty or missing one read as `""` or `0`), or the values a caller gave.
enum Origin<'a, 'py> {
    Record(&'a Bound<'py, PyAny>),
    Given([Bound<'py, PyAny>; 3]),
}

impl<'py> Origin<'_, 'py> {
    fn parts(&self, py: Python<'py>) -> PyResult<[Bound<'py, PyAny>; 3]> {
        let record = match self {
            Origin::Given(parts) => return Ok(parts.clone()),
            Origin::Record(record) => record,
        };
        let topic = record.call_method0(intern!(py, "topic"))?;
        let partition = record.call_method0(intern!(py, "partition"))?;
        let offset = record.call_method0(intern!(py, "offset"))?;
        let zero = || 0i64.into_pyobject(py).map(|z| z.into_any());
        Ok([
            if topic.is_truthy()? { topic } else { intern!(py, "").clone().into_any() },
            if partition.is_truthy()? { partition } else { zero()? },
            if offset.is_truthy()? { offset } else { zero()? },
        ])
    }
}

#[pymethods]
impl EnvelopeDecoder {
    /// `kinds` are (CloudEvent type, Avro record name) pairs; `inbound` makes the decoded messages.
    #[new]
    fn new(py: Python<'_>, kinds: Vec<(String, String)>, inbound: Py<PyAny>) -> Self {
        let core = EnvelopeReader::new(kinds.iter().map(|(ce_type, record)| (ce_type.as_str(), record.as_str())));
        let kinds = kinds
            .iter()
            .enumerate()
            .map(|(index, (ce_type, _))| Kind {
                ce_type: PyString::intern(py, ce_type).unbind(),
                required: core.required_fields(index).iter().map(|name| PyString::intern(py, name).unbind()).collect(),
                reader: None,
                missing: None,
            })
            .collect();
        let key = |name: &str| PyString::intern(py, name).unbind();
        let number_keys =
            [key(COST_FIELDS[0]), key(COST_FIELDS[1]), key(COST_FIELDS[2]), key(COST_FIELDS[3]), key(PROGRESS_FIELD)];
        EnvelopeDecoder { core, kinds, inbound, number_keys }
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
        self.kinds[index].missing = None;
        Ok(())
    }

    /// Leaves `kind` without a reader codec: each of its records gets `error`.
    fn set_reader_error(&mut self, kind: &str, error: Py<PyAny>) -> PyResult<()> {
        let index = kind_index(self, kind)?;
        self.core.clear_reader(index);
        self.kinds[index].reader = None;
        self.kinds[index].missing = Some(error);
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
    /// `offset()`): per record, in order, its `Inbound` or the error it gives. `limits` are
    /// (max bytes, default ttl, now); `check_age` False leaves ages unchecked; `writers(schema_id)`
    /// gives `(record name, codec)` of a writer schema this decoder does not know yet, or None.
    #[pyo3(signature = (records, limits=None, check_age=true, writers=None))]
    fn decode_many<'py>(
        &mut self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
        limits: Option<(u64, f64, f64)>,
        check_age: bool,
        writers: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let records = records.try_iter()?.collect::<PyResult<Vec<_>>>()?;
        let inputs = records.iter().map(Input::read).collect::<PyResult<Vec<_>>>()?;
        let limits = limits.map(|(max_bytes, default_ttl, now)| Limits { max_bytes, default_ttl, now });
        let core = &self.core;
        let prepared = detached(py, || {
            Ok(inputs.iter().map(|input| input.prepare(core, limits.as_ref(), check_age)).collect::<Vec<_>>())
        })?;
        let _paused = if records.len() > 1 { GcPause::new(py)? } else { None };
        let mut out = Vec::with_capacity(records.len());
        for ((found, record), input) in prepared.into_iter().zip(&records).zip(&inputs) {
            let found = self.with_writer(py, found, writers.as_ref())?;
            out.push(self.item(py, found, input.key.as_ref(), Origin::Record(record))?);
        }
        PyList::new(py, out)
    }

    /// `decode_many` of one record given by its parts; `topic`, `partition` and `offset` go into the
    /// `Inbound` as they are.
    #[pyo3(signature = (key, headers, value, topic, partition, offset, limits=None, check_age=true, writers=None))]
    #[allow(clippy::too_many_arguments)]
    fn decode<'py>(
        &mut self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
        topic: Bound<'py, PyAny>,
        partition: Bound<'py, PyAny>,
        offset: Bound<'py, PyAny>,
        limits: Option<(u64, f64, f64)>,
        check_age: bool,
        writers: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input = Input::new(key, headers, value)?;
        let limits = limits.map(|(max_bytes, default_ttl, now)| Limits { max_bytes, default_ttl, now });
        let found = input.prepare(&self.core, limits.as_ref(), check_age);
        let found = self.with_writer(py, found, writers.as_ref())?;
        self.item(py, found, input.key.as_ref(), Origin::Given([topic, partition, offset]))
    }
}

impl EnvelopeDecoder {
    /// A record that waits for its writer schema, resumed once `writers` gives it; the core's
    /// error when it does not.
    fn with_writer<'a>(
        &mut self,
        py: Python<'_>,
        found: Prepared<'a>,
        writers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Prepared<'a>> {
        let Prepared::UnknownSchema(waiting) = found else {
            return Ok(found);
        };
        let schema_id = waiting.schema_id;
        if !self.core.knows(schema_id) {
            let given = match writers {
                Some(writers) => writers.call1((schema_id,))?,
                None => py.None().into_bound(py),
            };
            if given.is_none() {
                return Ok(Prepared::Failed(Error::UnknownSchema { schema_id }));
            }
            let (name, codec): (String, Bound<'_, AvroCodec>) = given.extract()?;
            self.core.add_writer(schema_id, &name, codec.get().inner.schema().clone());
        }
        Ok(self.core.resume(waiting))
    }

    /// The `Inbound` of a record, or (as the item) the error it gives.
    fn item<'py>(
        &self,
        py: Python<'py>,
        found: Prepared<'_>,
        key: Option<&Text>,
        origin: Origin<'_, 'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let error = |error: Error| to_py(py, error).into_value(py).into_bound(py).into_any();
        match found {
            Prepared::Ready(attributes) => self.inbound(py, attributes, key, origin),
            Prepared::Failed(failure) => Ok(error(failure)),
            Prepared::UnknownSchema(waiting) => Ok(error(Error::UnknownSchema { schema_id: waiting.schema_id })),
            Prepared::NoReader(kind) => Ok(match &self.kinds[kind].missing {
                Some(missing) => missing.bind(py).clone(),
                None => {
                    let ce_type = self.kinds[kind].ce_type.bind(py).to_string();
                    error(Error::schema(format!("no reader schema for {ce_type}")))
                }
            }),
        }
    }

    /// The `Inbound` of a record whose envelope passed, or the error its body or record gives.
    fn inbound<'py>(
        &self,
        py: Python<'py>,
        found: a2a_core::envelope::Attributes<'_>,
        key: Option<&Text>,
        origin: Origin<'_, 'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let error = |error: Error| to_py(py, error).into_value(py).into_bound(py).into_any();
        let kind = &self.kinds[found.kind];
        let (Some(reader), Some(plan)) = (&kind.reader, &found.plan) else {
            return Ok(error(Error::schema("no reader schema")));
        };
        let plan = match plan {
            Ok(plan) => plan,
            Err(failure) => return Ok(error(failure.clone())),
        };
        let reader = reader.bind(py).get();
        let mut builder = PyBuilder { py, names: &reader.names };
        let value = match reader.inner.decode(&found.data, Some(plan), &mut builder) {
            Ok(value) => value,
            Err(BindError::Core(failure)) => return Ok(error(failure)),
            Err(BindError::Py(failure)) => return Err(failure),
        };
        let record = value.cast::<PyDict>().ok();
        let task_id = match record {
            Some(record) => record.get_item(intern!(py, "task_id"))?.and_then(|t| t.cast_into::<PyString>().ok()),
            None => None,
        };
        let task_text = match &task_id {
            Some(text) => text.to_str()?,
            None => "",
        };
        let number = |at: usize| -> PyResult<FieldNumber> {
            let Some(found) = record.map(|r| r.get_item(self.number_keys[at].bind(py))).transpose()?.flatten() else {
                return Ok(FieldNumber::Absent);
            };
            Ok(if found.is_none() {
                FieldNumber::Absent
            } else if let Ok(float) = found.cast::<PyFloat>() {
                FieldNumber::Float(float.value())
            } else if let Ok(int) = found.extract::<i64>() {
                FieldNumber::Int(int)
            } else {
                FieldNumber::Other
            })
        };
        let costs = [number(0)?, number(1)?, number(2)?, number(3)?];
        let mut required = Vec::with_capacity(kind.required.len());
        for name in &kind.required {
            let present = match record.map(|r| r.get_item(name.bind(py))).transpose()?.flatten() {
                Some(found) => found.is_truthy()?,
                None => false,
            };
            required.push(present);
        }
        let fields = RecordFields { task_id: task_text, costs, progress: number(4)?, required: &required };
        if let Err(failure) = self.core.check_record(found.kind, key.map(Text::bytes), &fields) {
            return Ok(error(failure));
        }
        let optional = |text: Option<Cow<'_, str>>, cache: bool| match text {
            None => py.None().into_bound(py),
            Some(text) if cache => cached_str(py, &text).into_any(),
            Some(text) => PyString::new(py, &text).into_any(),
        };
        let task_id = task_id.map_or_else(|| intern!(py, "").clone().into_any(), Bound::into_any);
        let [topic, partition, offset] = origin.parts(py)?;
        let args = PyTuple::new(
            py,
            [
                kind.ce_type.bind(py).clone().into_any(),
                value,
                PyString::new(py, &found.id).into_any(),
                task_id,
                cached_str(py, &found.source_agent).into_any(),
                optional(found.target_agent, true),
                optional(found.collaboration_id, false),
                optional(found.traceparent, false),
                found.schema_id.into_pyobject(py)?.into_any(),
                topic,
                partition,
                offset,
                optional(found.priority, true),
                optional(found.target_group, true),
            ],
        )?;
        self.inbound.bind(py).call1(args)
    }
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

/// envelope_check_size(size: int, max_bytes: int) -> None
///
/// Raises `MessageTooLargeError` for a record value of `size` bytes above `max_bytes`.
#[pyfunction]
fn envelope_check_size(py: Python<'_>, size: u64, max_bytes: u64) -> PyResult<()> {
    check_size(size, max_bytes).map_err(|error| to_py(py, error))
}

/// envelope_check_age(sent: str | float | None, ttl: str | float | None, default_ttl: float, now: float) -> None
///
/// Raises `MessageExpiredError` for a message sent at `sent` (an RFC 3339 `time`, or epoch seconds)
/// older at `now` than its `ttl` (text or seconds; `default_ttl` when None or empty), or
/// `ValidationError` for a `time` or `ttl` that cannot be read.
#[pyfunction]
fn envelope_check_age(
    py: Python<'_>,
    sent: Option<Bound<'_, PyAny>>,
    ttl: Option<Bound<'_, PyAny>>,
    default_ttl: f64,
    now: f64,
) -> PyResult<()> {
    let sent = match &sent {
        None => None,
        Some(sent) => match sent.cast::<PyString>() {
            Ok(text) => Some(Sent::Time(text.to_str()?)),
            Err(_) => Some(Sent::Epoch(sent.extract::<f64>()?)),
        },
    };
    let ttl = match &ttl {
        None => Ttl::Absent,
        Some(ttl) => match ttl.cast::<PyString>() {
            Ok(text) => Ttl::Text(text.to_str()?),
            Err(_) => Ttl::Seconds(ttl.extract::<f64>()?),
        },
    };
    check_age(sent, ttl, default_ttl, now).map_err(|error| to_py(py, error))
}

/// envelope_check_task_id(task_id: object) -> None
///
/// Raises `ValidationError` for an outgoing record whose `task_id` is missing or empty (None, or
/// any value Python reads as false).
#[pyfunction]
fn envelope_check_task_id(py: Python<'_>, task_id: &Bound<'_, PyAny>) -> PyResult<()> {
    let text = match task_id.cast::<PyString>() {
        Ok(text) => Some(text.to_str()?),
        Err(_) => task_id.is_truthy()?.then_some("(not text)"),
    };
    check_task_id(text).map_err(|error| to_py(py, error))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EnvelopeDecoder>()?;
    m.add_class::<EnvelopeEncoder>()?;
    m.add_function(wrap_pyfunction!(envelope_check_size, m)?)?;
    m.add_function(wrap_pyfunction!(envelope_check_age, m)?)?;
    m.add_function(wrap_pyfunction!(envelope_check_task_id, m)?)?;
    Ok(())
}
