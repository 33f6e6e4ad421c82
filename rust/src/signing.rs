//! Python face of `a2a_core::signing`: a signer built once from an agent's private key, a verifier built
//! once from the trusted public keys, checking a consumed batch in one call with the GIL released.

use a2a_core::signing::{self, HeaderRef, KeyPair, TrustStore, Verdict, KEY_ID_HEADER, SIGNATURE_HEADER};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::errors::IntoPyResult;

/// Bytes given by a record: a `bytes` object borrowed as it is, or text encoded once.
enum Bytes {
    Borrowed(PyBackedBytes),
    Text(PyBackedStr),
}

impl Bytes {
    fn read(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<Bytes>> {
        if obj.is_none() {
            Ok(None)
        } else if let Ok(bytes) = obj.cast::<PyBytes>() {
            Ok(Some(Bytes::Borrowed(bytes.clone().into())))
        } else if let Ok(text) = obj.cast::<PyString>() {
            Ok(Some(Bytes::Text(text.clone().try_into()?)))
        } else {
            Err(PyTypeError::new_err(format!("{what} must be bytes, str or None, not {}", obj.get_type().name()?)))
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(bytes) => bytes,
            Bytes::Text(text) => text.as_bytes(),
        }
    }
}

/// One record's key, headers and value, borrowed from Python so they can be read without the GIL.
struct Record {
    key: Option<Bytes>,
    headers: Vec<(PyBackedStr, Option<Bytes>)>,
    value: Option<Bytes>,
}

impl Record {
    fn from_parts(key: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Record> {
        let mut pairs = Vec::new();
        if !headers.is_none() {
            for item in headers.try_iter()? {
                let item = item?;
                let pair = item
                    .cast::<PyTuple>()
                    .map_err(|_| PyTypeError::new_err("a header must be a (name, value) tuple"))?;
                if pair.len() != 2 {
                    return Err(PyTypeError::new_err("a header must be a (name, value) tuple"));
                }
                let name: PyBackedStr = pair.get_item(0)?.extract()?;
                pairs.push((name, Bytes::read(&pair.get_item(1)?, "a header value")?));
            }
        }
        Ok(Record { key: Bytes::read(key, "the key")?, headers: pairs, value: Bytes::read(value, "the value")? })
    }

    fn from_message(message: &Bound<'_, PyAny>) -> PyResult<Record> {
        let py = message.py();
        Record::from_parts(
            &message.call_method0(intern!(py, "key"))?,
            &message.call_method0(intern!(py, "headers"))?,
            &message.call_method0(intern!(py, "value"))?,
        )
    }

    fn header_refs(&self) -> Vec<HeaderRef<'_>> {
        self.headers.iter().map(|(name, value)| (&**name, value.as_ref().map(Bytes::as_slice))).collect()
    }

    fn key(&self) -> Option<&[u8]> {
        self.key.as_ref().map(Bytes::as_slice)
    }

    fn value(&self) -> Option<&[u8]> {
        self.value.as_ref().map(Bytes::as_slice)
    }
}

/// Signs the records one agent produces with its Ed25519 key.
#[pyclass(name = "RecordSigner", module = "a2a_fast._native", frozen)]
pub struct RecordSigner {
    pair: KeyPair,
    key_id: Py<PyBytes>,
}

#[pymethods]
impl RecordSigner {
    /// A signer from a private key in PEM (PKCS#8).
    #[new]
    fn new(py: Python<'_>, pem: &str) -> PyResult<Self> {
        let pair = KeyPair::from_pem(pem).into_py_result(py)?;
        Ok(RecordSigner::wrap(py, pair))
    }

    /// The signer whose 32-byte secret is `seed` (a new key when the seed is fresh randomness).
    #[staticmethod]
    fn from_seed(py: Python<'_>, seed: &[u8]) -> PyResult<Self> {
        let pair = KeyPair::from_seed(seed).into_py_result(py)?;
        Ok(RecordSigner::wrap(py, pair))
    }

    /// The key's id, as records name it in header `a2a.keyid`.
    #[getter]
    fn key_id(&self) -> &str {
        self.pair.id()
    }

    /// The 32 bytes of the public key.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.pair.public_key())
    }

    /// The private key as PEM (PKCS#8), to store.
    fn private_pem(&self, py: Python<'_>) -> PyResult<String> {
        self.pair.to_pem().into_py_result(py)
    }

    /// The public key as PEM (SubjectPublicKeyInfo).
    fn public_pem(&self, py: Python<'_>) -> PyResult<String> {
        self.pair.public_key_pem().into_py_result(py)
    }

    /// Signs a record whose headers are the list `headers` of (name, bytes) tuples, appending the headers
    /// `a2a.keyid` and `a2a.signature` to that list.
    fn sign_into(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyList>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let record = Record::from_parts(key, headers.as_any(), value)?;
        let signature = self.pair.sign(&mut Vec::new(), record.key(), &record.header_refs(), record.value());
        headers.append((intern!(py, KEY_ID_HEADER), self.key_id.bind(py)))?;
        headers.append((intern!(py, SIGNATURE_HEADER), PyBytes::new(py, signature.as_bytes())))?;
        Ok(())
    }
}

impl RecordSigner {
    fn wrap(py: Python<'_>, pair: KeyPair) -> RecordSigner {
        let key_id = PyBytes::new(py, pair.id().as_bytes()).unbind();
        RecordSigner { pair, key_id }
    }
}

/// Checks record signatures against the public keys a reader trusts.
#[pyclass(name = "RecordVerifier", module = "a2a_fast._native", frozen)]
pub struct RecordVerifier {
    store: TrustStore,
    key_ids: Vec<String>,
}

#[pymethods]
impl RecordVerifier {
    /// A verifier trusting each `(public key, agent id)`: the key as PEM or base64 of its 32 bytes.
    #[new]
    fn new(py: Python<'_>, keys: Vec<(String, String)>) -> PyResult<Self> {
        let mut store = TrustStore::new();
        let mut key_ids = Vec::with_capacity(keys.len());
        for (text, agent) in &keys {
            let public_key = signing::parse_public_key(text).into_py_result(py)?;
            key_ids.push(store.add(&public_key, agent).into_py_result(py)?);
        }
        Ok(RecordVerifier { store, key_ids })
    }

    /// The id of each trusted key, in the order given.
    #[getter]
    fn key_ids(&self) -> Vec<String> {
        self.key_ids.clone()
    }

    /// Checks consumed records (objects with `key()`, `headers()`, `value()`). Per record: the index of the
    /// trusted key that signed it (and whose agent is its `ce_sourceagent`), None when it carries no
    /// signature, or the reason its signature proves nothing.
    fn verify_many<'py>(&self, py: Python<'py>, records: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let records = records.try_iter()?.map(|record| Record::from_message(&record?)).collect::<PyResult<Vec<_>>>()?;
        let verdicts = py.detach(|| {
            let headers: Vec<Vec<HeaderRef<'_>>> = records.iter().map(Record::header_refs).collect();
            let batch: Vec<_> = records
                .iter()
                .zip(&headers)
                .map(|(record, headers)| (record.key(), headers.as_slice(), record.value()))
                .collect();
            self.store.verify_many(&batch)
        });
        let out = PyList::empty(py);
        for verdict in verdicts {
            match verdict {
                Verdict::Signed(index) => out.append(index)?,
                Verdict::Unsigned => out.append(py.None())?,
                Verdict::Refused(reason) => out.append(reason)?,
            }
        }
        Ok(out)
    }

    /// :meth:`verify_many` of one record given as its parts.
    fn verify(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let record = Record::from_parts(key, headers, value)?;
        Ok(match self.store.verify(&mut Vec::new(), record.key(), &record.header_refs(), record.value()) {
            Verdict::Signed(index) => index.into_pyobject(py)?.into_any().unbind(),
            Verdict::Unsigned => py.None(),
            Verdict::Refused(reason) => reason.into_pyobject(py)?.into_any().unbind(),
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RecordSigner>()?;
    m.add_class::<RecordVerifier>()?;
    Ok(())
}
