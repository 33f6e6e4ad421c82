//! Python face of `a2a_core::avro`: reads Python objects for the encoder and builds them for the decoder.

use std::sync::Arc;

use a2a_core::avro::{self, Builder, Codec, Kind, Plan, Source, Type, TypeId};
use a2a_core::Error;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::errors::{detached, to_py, IntoPyResult};

/// Interned field names (records) and symbols (enums) per type id of the codec's schema.
pub(crate) type Names = Vec<Vec<Py<PyString>>>;

/// Avro codec for one schema, optionally framed in the Confluent wire format.
#[pyclass(name = "AvroCodec", module = "a2a_fast._native", frozen)]
pub struct AvroCodec {
    pub(crate) inner: Arc<Codec>,
    pub(crate) names: Names,
}

fn schema_text(schema: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(text) = schema.cast::<PyString>() {
        return Ok(text.to_str()?.to_owned());
    }
    if let Ok(codec) = schema.cast::<AvroCodec>() {
        return Ok(codec.get().inner.schema().canonical().to_owned());
    }
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let dumps = DUMPS.import(schema.py(), "json", "dumps")?;
    match dumps.call1((schema,)) {
        Ok(text) => Ok(text.cast::<PyString>()?.to_str()?.to_owned()),
        Err(e) => Err(to_py(schema.py(), Error::schema(format!("schema is not JSON-serialisable: {e}")))),
    }
}

#[pymethods]
impl AvroCodec {
    #[new]
    #[pyo3(signature = (schema, schema_id=None))]
    fn new(py: Python<'_>, schema: &Bound<'_, PyAny>, schema_id: Option<i64>) -> PyResult<Self> {
        let schema_id = match schema_id.map(u32::try_from) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                return Err(to_py(py, Error::validation("schema_id", "must be between 0 and 4294967295")));
            }
        };
        let text = schema_text(schema)?;
        let inner = detached(py, || Codec::new(&text, schema_id))?;
        let names = inner
            .schema()
            .types()
            .iter()
            .map(|ty| match ty {
                Type::Record { fields, .. } => fields.iter().map(|f| PyString::intern(py, &f.name).unbind()).collect(),
                Type::Enum { symbols, .. } => symbols.iter().map(|s| PyString::intern(py, s).unbind()).collect(),
                _ => Vec::new(),
            })
            .collect();
        Ok(AvroCodec { inner: Arc::new(inner), names })
    }

    /// The schema's Parsing Canonical Form (JSON text).
    #[getter]
    fn schema(&self) -> &str {
        self.inner.schema().canonical()
    }

    #[getter]
    fn schema_id(&self) -> Option<u32> {
        self.inner.schema_id()
    }

    /// Full name of the root named type, or the kind of an unnamed root (`"int"`, `"array"`).
    #[getter]
    fn name(&self) -> &str {
        self.inner.schema().name()
    }

    /// CRC-64-AVRO fingerprint of the canonical form.
    #[getter]
    fn fingerprint(&self) -> u64 {
        self.inner.schema().fingerprint()
    }

    fn encode<'py>(&self, py: Python<'py>, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = Vec::with_capacity(128);
        self.inner.encode(&PyValue { obj: record.clone(), names: &self.names }, &mut out).into_py_result(py)?;
        Ok(PyBytes::new(py, &out))
    }

    fn encode_many<'py>(&self, py: Python<'py>, records: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let mut out = Vec::with_capacity(256);
        let mut encoded = Vec::with_capacity(records.len().unwrap_or(0));
        for (index, record) in records.try_iter()?.enumerate() {
            out.clear();
            self.inner
                .encode(&PyValue { obj: record?, names: &self.names }, &mut out)
                .map_err(|e| in_batch(e, index))
                .into_py_result(py)?;
            encoded.push(PyBytes::new(py, &out));
        }
        PyList::new(py, encoded)
    }

    #[pyo3(signature = (data, writer_schema=None))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        writer_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let plan = self.plan(py, writer_schema)?;
        let mut builder = PyBuilder { py, names: &self.names };
        self.inner.decode(data, plan.as_deref(), &mut builder).map_err(|e| e.into_py(py))
    }

    #[pyo3(signature = (messages, writer_schema=None))]
    fn decode_many<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        writer_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let plan = self.plan(py, writer_schema)?;
        let mut builder = PyBuilder { py, names: &self.names };
        let mut decoded = Vec::with_capacity(messages.len().unwrap_or(0));
        for (index, message) in messages.try_iter()?.enumerate() {
            let message = message?;
            let bytes = message.cast::<PyBytes>().map_err(|_| {
                PyTypeError::new_err(format!("message {index} is {}, expected bytes", type_name(&message)))
            })?;
            let value = self.inner.decode(bytes.as_bytes(), plan.as_deref(), &mut builder).map_err(|e| match e {
                BindError::Core(e) => to_py(py, in_batch(e, index)),
                BindError::Py(e) => e,
            })?;
            decoded.push(value);
        }
        PyList::new(py, decoded)
    }

    fn __repr__(&self) -> String {
        match self.inner.schema_id() {
            Some(id) => format!("Codec({:?}, schema_id={id})", self.inner.schema().name()),
            None => format!("Codec({:?})", self.inner.schema().name()),
        }
    }
}

impl AvroCodec {
    /// The cached resolution plan for a writer schema given as a codec, JSON text, dict or list.
    fn plan(&self, py: Python<'_>, writer: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Arc<Plan>>> {
        let Some(writer) = writer.filter(|w| !w.is_none()) else {
            return Ok(None);
        };
        let plan = if let Ok(codec) = writer.cast::<AvroCodec>() {
            self.inner.plan_for(codec.get().inner.schema())
        } else {
            self.inner.plan_for_text(&schema_text(writer)?)
        };
        plan.map(Some).into_py_result(py)
    }
}

/// Marks which message of a batch failed.
fn in_batch(e: Error, index: usize) -> Error {
    match e {
        Error::Validation { path, message } => {
            Error::Validation { path, message: format!("{message} (batch item {index})") }
        }
        Error::Decode { offset, message } => {
            Error::Decode { offset, message: format!("{message} (batch item {index})") }
        }
        Error::Schema { message } => Error::Schema { message: format!("{message} (batch item {index})") },
        Error::Limit { limit, message } => Error::Limit { limit, message: format!("{message} (batch item {index})") },
        unknown @ Error::UnknownSchema { .. } => unknown,
    }
}

/// Parses the Confluent wire header: `(schema_id, offset of the Avro body)`.
#[pyfunction]
fn avro_parse_wire_header(py: Python<'_>, data: &[u8]) -> PyResult<(u32, usize)> {
    avro::parse_wire_header(data).into_py_result(py)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AvroCodec>()?;
    m.add_function(wrap_pyfunction!(avro_parse_wire_header, m)?)?;
    Ok(())
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "object".to_owned())
}

pub(crate) struct PyValue<'a, 'py> {
    pub(crate) obj: Bound<'py, PyAny>,
    pub(crate) names: &'a Names,
}

impl<'a, 'py> PyValue<'a, 'py> {
    fn child(&self, obj: Bound<'py, PyAny>) -> PyValue<'a, 'py> {
        PyValue { obj, names: self.names }
    }
}

fn invalid(e: PyErr) -> Error {
    Error::validation("", e.to_string())
}

impl Source for PyValue<'_, '_> {
    fn kind(&self) -> Kind {
        let obj = &self.obj;
        if obj.is_none() {
            Kind::Null
        } else if obj.is_instance_of::<PyString>() {
            Kind::Str
        } else if obj.is_instance_of::<PyBool>() {
            Kind::Boolean
        } else if obj.is_instance_of::<PyInt>() {
            Kind::Int
        } else if obj.is_instance_of::<PyFloat>() {
            Kind::Float
        } else if obj.is_instance_of::<PyDict>() {
            Kind::Mapping
        } else if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
            Kind::Bytes
        } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
            Kind::Sequence
        } else {
            Kind::Other
        }
    }

    fn type_name(&self) -> String {
        type_name(&self.obj)
    }

    fn as_bool(&self) -> bool {
        self.obj.is_truthy().unwrap_or(false)
    }

    fn as_long(&self) -> Option<i64> {
        self.obj.extract::<i64>().ok()
    }

    fn as_double(&self) -> a2a_core::Result<f64> {
        self.obj.extract::<f64>().map_err(invalid)
    }

    fn with_str<R>(&self, f: impl FnOnce(&str) -> a2a_core::Result<R>) -> a2a_core::Result<R> {
        let s = self.obj.cast::<PyString>().map_err(|e| invalid(e.into()))?;
        f(s.to_str().map_err(invalid)?)
    }

    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> a2a_core::Result<R>) -> a2a_core::Result<R> {
        if let Ok(b) = self.obj.cast::<PyBytes>() {
            return f(b.as_bytes());
        }
        let b = self.obj.cast::<PyByteArray>().map_err(|e| invalid(e.into()))?;
        f(&b.to_vec())
    }

    fn field(&self, record: TypeId, index: usize, name: &str) -> a2a_core::Result<Option<Self>> {
        let dict = self.obj.cast::<PyDict>().map_err(|e| invalid(e.into()))?;
        let found = match self.names.get(record).and_then(|keys| keys.get(index)) {
            Some(key) => dict.get_item(key.bind(self.obj.py())),
            None => dict.get_item(name),
        };
        Ok(found.map_err(invalid)?.map(|obj| self.child(obj)))
    }

    fn count(&self) -> a2a_core::Result<usize> {
        self.obj.len().map_err(invalid)
    }

    fn for_each_item(&self, mut f: impl FnMut(Self) -> a2a_core::Result<()>) -> a2a_core::Result<()> {
        if let Ok(list) = self.obj.cast::<PyList>() {
            for item in list.iter() {
                f(self.child(item))?;
            }
        } else if let Ok(tuple) = self.obj.cast::<PyTuple>() {
            for item in tuple.iter() {
                f(self.child(item))?;
            }
        }
        Ok(())
    }

    fn for_each_entry(&self, mut f: impl FnMut(&str, Self) -> a2a_core::Result<()>) -> a2a_core::Result<()> {
        let dict = self.obj.cast::<PyDict>().map_err(|e| invalid(e.into()))?;
        for (key, value) in dict.iter() {
            let key = key
                .cast::<PyString>()
                .map_err(|_| Error::validation("", format!("map keys must be str, got {}", type_name(&key))))?;
            f(key.to_str().map_err(invalid)?, self.child(value))?;
        }
        Ok(())
    }
}

pub(crate) enum BindError {
    Core(Error),
    Py(PyErr),
}

impl From<Error> for BindError {
    fn from(e: Error) -> Self {
        BindError::Core(e)
    }
}

impl From<PyErr> for BindError {
    fn from(e: PyErr) -> Self {
        BindError::Py(e)
    }
}

impl BindError {
    fn into_py(self, py: Python<'_>) -> PyErr {
        match self {
            BindError::Core(e) => to_py(py, e),
            BindError::Py(e) => e,
        }
    }
}

pub(crate) struct PyBuilder<'a, 'py> {
    pub(crate) py: Python<'py>,
    pub(crate) names: &'a Names,
}

type Built<'py> = Result<Bound<'py, PyAny>, BindError>;

impl<'py> Builder for PyBuilder<'_, 'py> {
    type Value = Bound<'py, PyAny>;
    type Record = Bound<'py, PyDict>;
    type List = Vec<Bound<'py, PyAny>>;
    type Map = Bound<'py, PyDict>;
    type Error = BindError;

    fn null(&mut self) -> Built<'py> {
        Ok(self.py.None().into_bound(self.py))
    }
    fn boolean(&mut self, v: bool) -> Built<'py> {
        Ok(PyBool::new(self.py, v).to_owned().into_any())
    }
    fn long(&mut self, v: i64) -> Built<'py> {
        Ok(PyInt::new(self.py, v).into_any())
    }
    fn double(&mut self, v: f64) -> Built<'py> {
        Ok(PyFloat::new(self.py, v).into_any())
    }
    fn bytes(&mut self, v: &[u8]) -> Built<'py> {
        Ok(PyBytes::new(self.py, v).into_any())
    }
    fn string(&mut self, v: &str) -> Built<'py> {
        Ok(PyString::new(self.py, v).into_any())
    }
    fn symbol(&mut self, enum_ty: TypeId, index: usize, symbol: &str) -> Built<'py> {
        match self.names.get(enum_ty).and_then(|s| s.get(index)) {
            Some(s) => Ok(s.bind(self.py).clone().into_any()),
            None => Ok(PyString::new(self.py, symbol).into_any()),
        }
    }
    fn record_start(&mut self, _ty: TypeId, _fields: usize) -> Result<Self::Record, BindError> {
        Ok(PyDict::new(self.py))
    }
    fn record_set(
        &mut self,
        rec: &mut Self::Record,
        ty: TypeId,
        field: usize,
        name: &str,
        v: Self::Value,
    ) -> Result<(), BindError> {
        match self.names.get(ty).and_then(|keys| keys.get(field)) {
            Some(key) => rec.set_item(key.bind(self.py), v)?,
            None => rec.set_item(name, v)?,
        }
        Ok(())
    }
    fn record_end(&mut self, rec: Self::Record) -> Built<'py> {
        Ok(rec.into_any())
    }
    fn list_start(&mut self, capacity: usize) -> Result<Self::List, BindError> {
        Ok(Vec::with_capacity(capacity))
    }
    fn list_push(&mut self, list: &mut Self::List, v: Self::Value) -> Result<(), BindError> {
        list.push(v);
        Ok(())
    }
    fn list_end(&mut self, list: Self::List) -> Built<'py> {
        Ok(PyList::new(self.py, list)?.into_any())
    }
    fn map_start(&mut self, _capacity: usize) -> Result<Self::Map, BindError> {
        Ok(PyDict::new(self.py))
    }
    fn map_insert(&mut self, map: &mut Self::Map, key: &str, v: Self::Value) -> Result<(), BindError> {
        map.set_item(key, v)?;
        Ok(())
    }
    fn map_end(&mut self, map: Self::Map) -> Built<'py> {
        Ok(map.into_any())
    }
}
