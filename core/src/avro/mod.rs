//! Avro binary codec with schema resolution and the Confluent wire format.
//!
//! A [`Codec`] parses its schema once; encoding walks the schema over a [`Source`], decoding follows a
//! [`Plan`] (cached per writer schema) and hands values to a [`Builder`]. Logical types are read and
//! written as their underlying type (a `timestamp-millis` is a long).

pub mod decode;
pub mod encode;
pub mod schema;
pub mod value;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

pub use decode::{Builder, Plan, Reader};
pub use encode::{Kind, Source};
pub use schema::{Schema, Type, TypeId};
pub use value::{Value, ValueBuilder};

use crate::error::{Error, Result};

/// The first byte of a message in the Confluent wire format.
pub const MAGIC: u8 = 0;
/// Magic byte plus the big-endian schema id.
pub const HEADER_LEN: usize = 5;
/// Resolved readers kept per codec; a consumer sees few writer schemas, so the cache is simply reset
/// if something feeds it endlessly many.
const MAX_CACHED_PLANS: usize = 256;

/// Returns the schema id of a Confluent-framed message and the offset of its Avro body.
pub fn parse_wire_header(data: &[u8]) -> Result<(u32, usize)> {
    match data {
        [MAGIC, a, b, c, d, ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), HEADER_LEN)),
        [] => Err(Error::decode(0, "empty message, expected the magic byte 0")),
        [MAGIC, ..] => Err(Error::decode(data.len(), "message shorter than the 5-byte wire header")),
        [other, ..] => Err(Error::decode(0, format!("magic byte is {other}, expected 0"))),
    }
}

/// A schema ready to encode and decode, optionally framed with a schema-registry id.
#[derive(Debug)]
pub struct Codec {
    schema: Arc<Schema>,
    schema_id: Option<u32>,
    own_plan: Arc<Plan>,
    plans: Mutex<HashMap<String, Arc<Plan>>>,
}

impl Codec {
    pub fn new(schema_json: &str, schema_id: Option<u32>) -> Result<Codec> {
        let schema = Arc::new(Schema::parse(schema_json)?);
        let own_plan = Arc::new(Plan::new(schema.clone(), schema.clone())?);
        Ok(Codec { schema, schema_id, own_plan, plans: Mutex::new(HashMap::new()) })
    }

    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    pub fn schema_id(&self) -> Option<u32> {
        self.schema_id
    }

    /// The plan for data written with this codec's own schema.
    pub fn own_plan(&self) -> &Arc<Plan> {
        &self.own_plan
    }

    /// Appends one encoded message (with the wire header when the codec has a schema id) to `out`.
    pub fn encode<S: Source>(&self, value: &S, out: &mut Vec<u8>) -> Result<()> {
        if let Some(id) = self.schema_id {
            out.push(MAGIC);
            out.extend_from_slice(&id.to_be_bytes());
        }
        encode::encode(&self.schema, value, out)
    }

    /// The resolved reader for `writer_json`, planned on first use and cached under the text given and
    /// under the writer's canonical form.
    pub fn plan_for_text(&self, writer_json: &str) -> Result<Arc<Plan>> {
        if let Some(plan) = self.cached(writer_json) {
            return Ok(plan);
        }
        let writer = Arc::new(Schema::parse(writer_json)?);
        let plan = self.plan_for(&writer)?;
        self.remember(writer_json.to_owned(), plan.clone());
        Ok(plan)
    }

    /// The resolved reader for an already parsed writer schema, cached under its canonical form.
    pub fn plan_for(&self, writer: &Arc<Schema>) -> Result<Arc<Plan>> {
        if writer.canonical() == self.schema.canonical() {
            return Ok(self.own_plan.clone());
        }
        if let Some(plan) = self.cached(writer.canonical()) {
            return Ok(plan);
        }
        let plan = Arc::new(Plan::new(writer.clone(), self.schema.clone())?);
        self.remember(writer.canonical().to_owned(), plan.clone());
        Ok(plan)
    }

    fn cached(&self, key: &str) -> Option<Arc<Plan>> {
        self.plans.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned()
    }

    fn remember(&self, key: String, plan: Arc<Plan>) {
        let mut plans = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        if plans.len() >= MAX_CACHED_PLANS {
            plans.clear();
        }
        plans.insert(key, plan);
    }

    /// Decodes one message. Without a `plan`, a framed message must carry this codec's schema id.
    pub fn decode<B: Builder>(
        &self,
        data: &[u8],
        plan: Option<&Plan>,
        builder: &mut B,
    ) -> std::result::Result<B::Value, B::Error> {
        let mut offset = 0;
        if let Some(own_id) = self.schema_id {
            let (id, body) = parse_wire_header(data)?;
            if plan.is_none() && id != own_id {
                return Err(Error::schema(format!(
                    "message was written with schema id {id}, this codec reads id {own_id}; pass its writer schema"
                ))
                .into());
            }
            offset = body;
        }
        let plan = plan.unwrap_or(&self.own_plan);
        let mut reader = Reader::at(data, offset);
        let value = plan.decode(&mut reader, builder)?;
        if reader.remaining() > 0 {
            let message = format!("{} bytes left after the value", reader.remaining());
            return Err(Error::decode(reader.position(), message).into());
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests;
