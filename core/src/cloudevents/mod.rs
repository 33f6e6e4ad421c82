//! CloudEvents 1.0: the JSON event format (single and batch), the Kafka protocol binding, and
//! the lossless mapping of A2A agent messages onto CloudEvents.

pub mod a2a;
mod a2a_json;
pub mod event;
pub mod json;
pub mod kafka;
pub mod time;
pub mod value;

pub use a2a::{a2a_to_json, json_to_a2a, write_a2a_json, A2aMessage, Agent, Converter, Optional};
pub use event::{at_item, is_json_media_type, read_batch, write_batch, CloudEvent, Data, Extension};
pub use kafka::{from_kafka, to_kafka, KafkaRecord};
pub use value::Value;
