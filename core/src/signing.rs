//! Record signatures: Ed25519 over a record's key, its CloudEvents headers and its value.
//!
//! Kafka does not stamp the producer's principal on a record, and several roles write the same topics, so a
//! record proves its sender by a signature instead. The signer adds two headers: `a2a.keyid`, the key's id
//! (the first 8 bytes of the SHA-256 of its public key, in hex), and `a2a.signature`, the Ed25519 signature
//! in unpadded base64url. The signed bytes are, in this order and each length-prefixed (u32 big-endian,
//! `0xFFFFFFFF` for an absent key or header value): a domain tag, the key, the number of signed headers and
//! each as name and value, in record order, then the value. Signed headers are the CloudEvents ones (`ce_*`
//! and `content-type`), so a reader that sees the same attributes as the signer sees a good signature, and
//! headers added later by someone else (dead-letter notes) do not disturb it.
//!
//! A [`TrustStore`] holds the public keys a reader trusts, each with the agent it belongs to, and checks a
//! record: a good signature by a known key whose agent is the record's `ce_sourceagent`. A batch is checked
//! with one Ed25519 batch verification (about twice as fast per record as one by one); only when the batch
//! fails is each of its records checked alone, to say which.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const SIGNATURE_HEADER: &str = "a2a.signature";
pub const KEY_ID_HEADER: &str = "a2a.keyid";
const SOURCE_AGENT_HEADER: &str = "ce_sourceagent";
const DOMAIN: &[u8] = b"a2a-fast record signature v1\0";
const ABSENT: u32 = u32::MAX;

/// A header as a record carries it: name and value (None for a null value).
pub type HeaderRef<'a> = (&'a str, Option<&'a [u8]>);

/// A record as [`TrustStore::verify_many`] reads it: key, headers, value.
pub type RecordRef<'a> = (Option<&'a [u8]>, &'a [HeaderRef<'a>], Option<&'a [u8]>);

/// Whether a signature covers header `name`.
pub fn signed_header(name: &str) -> bool {
    name.starts_with("ce_") || name == "content-type"
}

fn put(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        None => out.extend_from_slice(&ABSENT.to_be_bytes()),
    }
}

/// Writes the bytes a signature covers into `out` (cleared first).
pub fn signed_bytes(out: &mut Vec<u8>, key: Option<&[u8]>, headers: &[HeaderRef<'_>], value: Option<&[u8]>) {
    out.clear();
    out.extend_from_slice(DOMAIN);
    put(out, key);
    let count = headers.iter().filter(|(name, _)| signed_header(name)).count();
    out.extend_from_slice(&(count as u32).to_be_bytes());
    for (name, header_value) in headers.iter().filter(|(name, _)| signed_header(name)) {
        put(out, Some(name.as_bytes()));
        put(out, *header_value);
    }
    put(out, value);
}

/// The id of a public key: the first 8 bytes of its SHA-256, in hex.
pub fn key_id(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    digest[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A public key from its text: PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo) or the 32 raw
/// bytes in base64 (standard or URL-safe, padded or not).
pub fn parse_public_key(text: &str) -> Result<[u8; 32]> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        let key = VerifyingKey::from_public_key_pem(text)
            .map_err(|e| Error::validation("public_key", format!("not an Ed25519 public key in PEM: {e}")))?;
        return Ok(key.to_bytes());
    }
    let raw = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(text))
        .map_err(|_| Error::validation("public_key", "neither PEM nor base64"))?;
    let bytes: [u8; 32] = raw.try_into().map_err(|raw: Vec<u8>| {
        Error::validation("public_key", format!("{} bytes, an Ed25519 key has 32", raw.len()))
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| Error::validation("public_key", "not a point of Ed25519"))?;
    Ok(bytes)
}

/// One agent's private key, with its id.
pub struct KeyPair {
    key: SigningKey,
    id: String,
}

impl KeyPair {
    /// A key from PEM text (`-----BEGIN PRIVATE KEY-----`, PKCS#8, as `openssl genpkey -algorithm ed25519`
    /// writes it).
    pub fn from_pem(text: &str) -> Result<KeyPair> {
        let key = SigningKey::from_pkcs8_pem(text.trim())
            .map_err(|e| Error::validation("private_key", format!("not an Ed25519 private key in PEM: {e}")))?;
        Ok(KeyPair::new(key))
    }

    /// The key whose 32-byte secret is `seed`.
    pub fn from_seed(seed: &[u8]) -> Result<KeyPair> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| Error::validation("seed", format!("{} bytes, an Ed25519 seed has 32", seed.len())))?;
        Ok(KeyPair::new(SigningKey::from_bytes(&seed)))
    }

    fn new(key: SigningKey) -> KeyPair {
        let id = key_id(&key.verifying_key().to_bytes());
        KeyPair { key, id }
    }

    /// The private key as PEM (PKCS#8), to store.
    pub fn to_pem(&self) -> Result<String> {
        let pem = self
            .key
            .to_pkcs8_pem(Default::default())
            .map_err(|e| Error::validation("private_key", format!("cannot be written as PEM: {e}")))?;
        Ok(pem.as_str().to_owned())
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key as PEM (SubjectPublicKeyInfo), as `openssl pkey -pubout` writes it.
    pub fn public_key_pem(&self) -> Result<String> {
        self.key
            .verifying_key()
            .to_public_key_pem(Default::default())
            .map_err(|e| Error::validation("public_key", format!("cannot be written as PEM: {e}")))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The signature of a record, in unpadded base64url; `scratch` is reused between calls.
    pub fn sign(
        &self,
        scratch: &mut Vec<u8>,
        key: Option<&[u8]>,
        headers: &[HeaderRef<'_>],
        value: Option<&[u8]>,
    ) -> String {
        signed_bytes(scratch, key, headers, value);
        URL_SAFE_NO_PAD.encode(self.key.sign(scratch).to_bytes())
    }
}

/// What a [`TrustStore`] says of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by the trusted key of this index (in the order the keys were added).
    Signed(usize),
    /// No signature headers at all.
    Unsigned,
    /// Signed, but the signature proves nothing, for the reason given.
    Refused(String),
}

struct Trusted {
    key: VerifyingKey,
    agent: String,
    index: usize,
}

/// The public keys a reader trusts, each belonging to one agent.
#[derive(Default)]
pub struct TrustStore {
    keys: HashMap<String, Trusted>,
}

impl TrustStore {
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// Trusts `public_key` for records of `agent`; returns the key's id. The index [`Verdict::Signed`]
    /// gives is the count of keys added before this one.
    pub fn add(&mut self, public_key: &[u8; 32], agent: &str) -> Result<String> {
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| Error::validation("public_key", "not a point of Ed25519"))?;
        if key.is_weak() {
            return Err(Error::validation("public_key", "a weak key (of small order) proves nothing"));
        }
        let id = key_id(public_key);
        if let Some(found) = self.keys.get(&id) {
            return Err(Error::validation("public_key", format!("key {id} is trusted already, for {}", found.agent)));
        }
        let index = self.keys.len();
        self.keys.insert(id.clone(), Trusted { key, agent: agent.to_owned(), index });
        Ok(id)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks one record's signature; `scratch` is reused between calls.
    pub fn verify(
        &self,
        scratch: &mut Vec<u8>,
        key: Option<&[u8]>,
        headers: &[HeaderRef<'_>],
        value: Option<&[u8]>,
    ) -> Verdict {
        match self.prepare(headers) {
            Prepared::Done(verdict) => verdict,
            Prepared::Check { trusted, signature, key_id } => {
                signed_bytes(scratch, key, headers, value);
                if trusted.key.verify_strict(scratch, &signature).is_err() {
                    return mismatch(&key_id, trusted);
                }
                Verdict::Signed(trusted.index)
            }
        }
    }

    /// Checks many records' signatures: ``(key, headers, value)`` each; the verdicts in the same order.
    pub fn verify_many(&self, records: &[RecordRef<'_>]) -> Vec<Verdict> {
        let mut verdicts = Vec::with_capacity(records.len());
        // (position in `records`, the key, the signature, the key's id) of each record left to verify
        let mut pending: Vec<Pending<'_>> = Vec::new();
        let mut messages: Vec<Vec<u8>> = Vec::new();
        for (position, &(key, headers, value)) in records.iter().enumerate() {
            match self.prepare(headers) {
                Prepared::Done(verdict) => verdicts.push(verdict),
                Prepared::Check { trusted, signature, key_id } => {
                    let mut bytes = Vec::new();
                    signed_bytes(&mut bytes, key, headers, value);
                    messages.push(bytes);
                    pending.push((position, trusted, signature, key_id));
                    verdicts.push(Verdict::Signed(trusted.index));
                }
            }
        }
        for (chunk, bytes) in pending.chunks(BATCH).zip(messages.chunks(BATCH)) {
            let slices: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
            let signatures: Vec<Signature> = chunk.iter().map(|(_, _, signature, _)| *signature).collect();
            let keys: Vec<VerifyingKey> = chunk.iter().map(|(_, trusted, _, _)| trusted.key).collect();
            // The batch equation is the cofactored one and accepts a few signatures the strict check refuses,
            // all of which only the key's owner can make; a forger without the key passes neither.
            if ed25519_dalek::verify_batch(&slices, &signatures, &keys).is_ok() {
                continue;
            }
            for ((position, trusted, signature, key_id), message) in chunk.iter().zip(bytes) {
                if trusted.key.verify_strict(message, signature).is_err() {
                    verdicts[*position] = mismatch(key_id, trusted);
                }
            }
        }
        verdicts
    }

    /// What the headers say before any signature is checked: a verdict already, or what to check.
    fn prepare(&self, headers: &[HeaderRef<'_>]) -> Prepared<'_> {
        let mut signature = None;
        let mut key_id = None;
        let mut source = None;
        for &(name, header_value) in headers {
            let slot = match name {
                SIGNATURE_HEADER => &mut signature,
                KEY_ID_HEADER => &mut key_id,
                SOURCE_AGENT_HEADER => &mut source,
                _ => continue,
            };
            if slot.is_some() {
                return Prepared::Done(Verdict::Refused(format!("header {name} appears twice")));
            }
            *slot = Some(header_value.unwrap_or_default());
        }
        let refused = |reason: String| Prepared::Done(Verdict::Refused(reason));
        let (signature, key_id) = match (signature, key_id) {
            (None, None) => return Prepared::Done(Verdict::Unsigned),
            (Some(signature), Some(key_id)) => (signature, key_id),
            (Some(_), None) => return refused(format!("header {SIGNATURE_HEADER} without {KEY_ID_HEADER}")),
            (None, Some(_)) => return refused(format!("header {KEY_ID_HEADER} without {SIGNATURE_HEADER}")),
        };
        let key_id = String::from_utf8_lossy(key_id);
        let Some(trusted) = self.keys.get(key_id.as_ref()) else {
            return Prepared::Done(Verdict::Refused(format!("signed by unknown key {key_id:?}")));
        };
        let signature = match URL_SAFE_NO_PAD.decode(signature).ok().and_then(|raw| Signature::from_slice(&raw).ok()) {
            Some(signature) => signature,
            None => {
                return Prepared::Done(Verdict::Refused(format!(
                    "header {SIGNATURE_HEADER} is not an Ed25519 signature"
                )))
            }
        };
        let source = source.map(String::from_utf8_lossy);
        if source.as_deref() != Some(trusted.agent.as_str()) {
            return Prepared::Done(Verdict::Refused(format!(
                "ce_sourceagent {:?} is not the signer: key {key_id} belongs to {:?}",
                source.as_deref().unwrap_or(""),
                trusted.agent
            )));
        }
        Prepared::Check { trusted, signature, key_id: key_id.into_owned() }
    }
}

/// Records checked together in one batch verification: larger batches gain little and hold more memory.
const BATCH: usize = 256;

type Pending<'a> = (usize, &'a Trusted, Signature, String);

enum Prepared<'a> {
    Done(Verdict),
    Check { trusted: &'a Trusted, signature: Signature, key_id: String },
}

fn mismatch(key_id: &str, trusted: &Trusted) -> Verdict {
    Verdict::Refused(format!(
        "the signature of key {key_id} ({}) does not match the record: it was changed or forged",
        trusted.agent
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestRecord = (Vec<u8>, Vec<(String, Option<Vec<u8>>)>, Vec<u8>);

    fn pair(seed: u8) -> KeyPair {
        KeyPair::from_seed(&[seed; 32]).unwrap()
    }

    fn record(agent: &str) -> TestRecord {
        let headers = vec![
            ("ce_id".to_owned(), Some(b"1".to_vec())),
            ("ce_sourceagent".to_owned(), Some(agent.as_bytes().to_vec())),
            ("ce_type".to_owned(), Some(b"a2a.task.response".to_vec())),
            ("traceparent-note".to_owned(), Some(b"unsigned".to_vec())),
        ];
        (b"task-1".to_vec(), headers, b"\0\0\0\0\x01body".to_vec())
    }

    fn refs(headers: &[(String, Option<Vec<u8>>)]) -> Vec<HeaderRef<'_>> {
        headers.iter().map(|(n, v)| (n.as_str(), v.as_deref())).collect()
    }

    fn signed(signer: &KeyPair, agent: &str) -> TestRecord {
        let (key, mut headers, value) = record(agent);
        let signature = signer.sign(&mut Vec::new(), Some(&key), &refs(&headers), Some(&value));
        headers.push((KEY_ID_HEADER.to_owned(), Some(signer.id().as_bytes().to_vec())));
        headers.push((SIGNATURE_HEADER.to_owned(), Some(signature.into_bytes())));
        (key, headers, value)
    }

    fn trust(pairs: &[(&KeyPair, &str)]) -> TrustStore {
        let mut store = TrustStore::new();
        for (pair, agent) in pairs {
            store.add(&pair.public_key(), agent).unwrap();
        }
        store
    }

    fn check(store: &TrustStore, record: &TestRecord) -> Verdict {
        store.verify(&mut Vec::new(), Some(&record.0), &refs(&record.1), Some(&record.2))
    }

    #[test]
    fn a_record_signed_by_a_trusted_key_of_its_source_agent_passes() {
        let provider = pair(1);
        let store = trust(&[(&pair(9), "other"), (&provider, "provider-1")]);
        assert_eq!(check(&store, &signed(&provider, "provider-1")), Verdict::Signed(1));
    }

    #[test]
    fn unsigned_records_are_told_apart_from_forged_ones() {
        let store = trust(&[(&pair(1), "provider-1")]);
        assert_eq!(check(&store, &record("provider-1")), Verdict::Unsigned);
    }

    #[test]
    fn an_unknown_key_a_changed_record_and_a_borrowed_source_are_refused() {
        let provider = pair(1);
        let store = trust(&[(&provider, "provider-1")]);
        let stranger = signed(&pair(2), "provider-1");
        assert!(matches!(check(&store, &stranger), Verdict::Refused(reason) if reason.contains("unknown key")));

        let mut changed = signed(&provider, "provider-1");
        changed.2.push(b'!');
        assert!(matches!(check(&store, &changed), Verdict::Refused(reason) if reason.contains("does not match")));

        let mut reordered = signed(&provider, "provider-1");
        reordered.1.swap(0, 2);
        assert!(matches!(check(&store, &reordered), Verdict::Refused(_)));

        let posing = signed(&provider, "executor-1");
        assert!(matches!(check(&store, &posing), Verdict::Refused(reason) if reason.contains("is not the signer")));
    }

    #[test]
    fn headers_outside_the_cloudevent_can_be_added_after_signing() {
        let provider = pair(1);
        let store = trust(&[(&provider, "provider-1")]);
        let mut noted = signed(&provider, "provider-1");
        noted.1.push(("dlq.reason".to_owned(), Some(b"later".to_vec())));
        assert_eq!(check(&store, &noted), Verdict::Signed(0));
        noted.1.push(("ce_targetgroup".to_owned(), Some(b"executors.x".to_vec())));
        assert!(matches!(check(&store, &noted), Verdict::Refused(_)));
    }

    #[test]
    fn a_duplicated_or_half_signature_is_refused() {
        let provider = pair(1);
        let store = trust(&[(&provider, "provider-1")]);
        let mut twice = signed(&provider, "provider-1");
        let extra = twice.1.last().unwrap().clone();
        twice.1.push(extra);
        assert!(matches!(check(&store, &twice), Verdict::Refused(reason) if reason.contains("twice")));
        let mut half = signed(&provider, "provider-1");
        half.1.pop();
        assert!(matches!(check(&store, &half), Verdict::Refused(_)));
    }

    #[test]
    fn keys_round_trip_through_pem_and_public_keys_read_as_pem_or_base64() {
        let original = pair(7);
        let again = KeyPair::from_pem(&original.to_pem().unwrap()).unwrap();
        assert_eq!(again.public_key(), original.public_key());
        assert_eq!(again.id(), original.id());
        assert_eq!(parse_public_key(&original.public_key_pem().unwrap()).unwrap(), original.public_key());
        let base64 = URL_SAFE_NO_PAD.encode(original.public_key());
        assert_eq!(parse_public_key(&base64).unwrap(), original.public_key());
        assert_eq!(parse_public_key(&STANDARD.encode(original.public_key())).unwrap(), original.public_key());
        assert!(parse_public_key("not a key").is_err());
        assert!(parse_public_key(&STANDARD.encode([1u8; 31])).is_err());
        assert_eq!(original.id().len(), 16);
    }

    #[test]
    fn a_batch_gives_each_record_the_verdict_it_gets_alone() {
        let provider = pair(1);
        let store = trust(&[(&provider, "provider-1")]);
        let mut records: Vec<TestRecord> = (0..300).map(|_| signed(&provider, "provider-1")).collect();
        records[7].2.push(b'!'); // changed after signing
        records[250] = signed(&pair(2), "provider-1"); // an unknown key
        records[290] = record("provider-1"); // unsigned
        records[299] = signed(&provider, "executor-1"); // another agent's name
        let refs: Vec<Vec<HeaderRef<'_>>> = records.iter().map(|r| refs(&r.1)).collect();
        let batch: Vec<RecordRef<'_>> = records
            .iter()
            .zip(&refs)
            .map(|(r, headers)| (Some(r.0.as_slice()), headers.as_slice(), Some(r.2.as_slice())))
            .collect();
        let together = store.verify_many(&batch);
        let alone: Vec<Verdict> = records.iter().map(|r| check(&store, r)).collect();
        assert_eq!(together, alone);
        assert!(matches!(&together[7], Verdict::Refused(reason) if reason.contains("does not match")));
        assert_eq!(together[290], Verdict::Unsigned);
        assert_eq!(together.iter().filter(|v| **v == Verdict::Signed(0)).count(), 296);
    }

    #[test]
    fn one_key_is_trusted_once() {
        let mut store = TrustStore::new();
        store.add(&pair(1).public_key(), "a").unwrap();
        assert!(store.add(&pair(1).public_key(), "b").is_err());
    }

    #[test]
    fn absent_and_empty_values_sign_differently() {
        let mut absent = Vec::new();
        let mut empty = Vec::new();
        signed_bytes(&mut absent, None, &[], Some(b""));
        signed_bytes(&mut empty, Some(b""), &[], Some(b""));
        assert_ne!(absent, empty);
    }
}
