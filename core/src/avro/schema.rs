//! Avro schema parsing into a flat arena of types, plus Parsing Canonical Form and its fingerprint.

use std::collections::{HashMap, HashSet};

use serde_json::{Map as JsonMap, Value as Json};

use crate::avro::encode;
use crate::avro::value::Value;
use crate::error::{Error, Result};

/// Index of a type in [`Schema::types`]; named types referenced twice share one index.
pub type TypeId = usize;

/// A named type's identity: short name, full name (with namespace) and the full names of its aliases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub name: String,
    pub fullname: String,
    pub aliases: Vec<String>,
}

impl Name {
    /// Schema resolution matches names by full name, unqualified name, or an alias of the reader.
    pub(crate) fn accepts(&self, writer: &Name) -> bool {
        self.fullname == writer.fullname
            || self.name == writer.name
            || self.aliases.iter().any(|a| *a == writer.fullname || *a == writer.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: TypeId,
    /// The default, already Avro-encoded with `ty`: appended as is when encoding a record that omits the
    /// field, decoded when a reader field is missing from the writer.
    pub default: Option<Vec<u8>>,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Record { name: Name, fields: Vec<Field> },
    Enum { name: Name, symbols: Vec<String>, default: Option<usize> },
    Array(TypeId),
    Map(TypeId),
    Union(Vec<TypeId>),
    Fixed { name: Name, size: usize },
}

const PRIMITIVES: [(&str, Type); 8] = [
    ("null", Type::Null),
    ("boolean", Type::Boolean),
    ("int", Type::Int),
    ("long", Type::Long),
    ("float", Type::Float),
    ("double", Type::Double),
    ("bytes", Type::Bytes),
    ("string", Type::String),
];

impl Type {
    /// Short label for error messages: `int`, `record TaskRequest`, `union`.
    pub fn label(&self) -> String {
        match self {
            Type::Record { name, .. } => format!("record {}", name.name),
            Type::Enum { name, .. } => format!("enum {}", name.name),
            Type::Fixed { name, size } => format!("fixed {} ({size} bytes)", name.name),
            other => other.kind().to_string(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Type::Null => "null",
            Type::Boolean => "boolean",
            Type::Int => "int",
            Type::Long => "long",
            Type::Float => "float",
            Type::Double => "double",
            Type::Bytes => "bytes",
            Type::String => "string",
            Type::Record { .. } => "record",
            Type::Enum { .. } => "enum",
            Type::Array(_) => "array",
            Type::Map(_) => "map",
            Type::Union(_) => "union",
            Type::Fixed { .. } => "fixed",
        }
    }
}

/// A parsed schema: every type in one arena, the root, and its canonical form.
#[derive(Debug, Clone)]
pub struct Schema {
    types: Vec<Type>,
    root: TypeId,
    canonical: String,
}

impl Schema {
    /// Parses `.avsc` JSON text.
    pub fn parse(text: &str) -> Result<Schema> {
        // A bare type name (`int`, `a.b.Record`) is accepted as well as its JSON string form.
        let bare = text.trim();
        if !bare.is_empty() && bare.split('.').all(valid_name) {
            return Schema::from_json(&Json::String(bare.to_owned()));
        }
        let json: Json = serde_json::from_str(text).map_err(|e| Error::schema(format!("invalid JSON: {e}")))?;
        Schema::from_json(&json)
    }

    pub fn from_json(json: &Json) -> Result<Schema> {
        let mut parser = Parser {
            types: PRIMITIVES.iter().map(|(_, t)| t.clone()).collect(),
            names: HashMap::new(),
            fullnames: HashMap::new(),
            pending_defaults: Vec::new(),
        };
        let root = parser.parse(json, "")?;
        let mut schema = Schema { types: parser.types, root, canonical: String::new() };
        for (record, index, default) in parser.pending_defaults {
            let encoded = schema.encode_default(record, index, &default)?;
            if let Type::Record { fields, .. } = &mut schema.types[record] {
                fields[index].default = Some(encoded);
            }
        }
        let mut canonical = String::new();
        schema.write_canonical(root, &mut HashSet::new(), &mut canonical);
        schema.canonical = canonical;
        Ok(schema)
    }

    pub fn root(&self) -> TypeId {
        self.root
    }

    pub fn types(&self) -> &[Type] {
        &self.types
    }

    pub fn get(&self, ty: TypeId) -> &Type {
        &self.types[ty]
    }

    /// The Parsing Canonical Form: what two schemas must share to be the same to a reader.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// CRC-64-AVRO (Rabin) fingerprint of the canonical form, as the specification defines it.
    pub fn fingerprint(&self) -> u64 {
        const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
        let mut table = [0u64; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & 0u64.wrapping_sub(fp & 1));
            }
            *slot = fp;
        }
        self.canonical.bytes().fold(EMPTY, |fp, b| (fp >> 8) ^ table[((fp ^ u64::from(b)) & 0xff) as usize])
    }

    /// Full name of the root named type, or the kind (`int`, `array`, `union`) of an unnamed root.
    pub fn name(&self) -> &str {
        match &self.types[self.root] {
            Type::Record { name, .. } | Type::Enum { name, .. } | Type::Fixed { name, .. } => &name.fullname,
            other => other.kind(),
        }
    }

    /// True when `ty` can encode a missing value as null (null itself, or a union with a null branch).
    pub(crate) fn null_branch(&self, ty: TypeId) -> Option<Option<usize>> {
        match &self.types[ty] {
            Type::Null => Some(None),
            Type::Union(branches) => branches.iter().position(|b| self.types[*b] == Type::Null).map(Some),
            _ => None,
        }
    }

    fn encode_default(&self, record: TypeId, index: usize, default: &Json) -> Result<Vec<u8>> {
        let Type::Record { name, fields } = &self.types[record] else {
            return Err(Error::schema("internal: default on a non-record"));
        };
        let field = &fields[index];
        let context = format!("default of field {}.{}", name.name, field.name);
        let value = self.default_value(field.ty, default, &context)?;
        let mut out = Vec::new();
        encode::encode_type(self, field.ty, &&value, &mut out).map_err(|e| Error::schema(format!("{context}: {e}")))?;
        Ok(out)
    }

    /// Turns a JSON default into the value the codec would accept for `ty` (bytes and fixed defaults are
    /// strings whose code points 0-255 are the bytes).
    fn default_value(&self, ty: TypeId, json: &Json, context: &str) -> Result<Value> {
        let bad = || Error::schema(format!("{context}: {json} does not match {}", self.types[ty].label()));
        Ok(match &self.types[ty] {
            Type::Null => json.is_null().then_some(Value::Null).ok_or_else(bad)?,
            Type::Boolean => Value::Boolean(json.as_bool().ok_or_else(bad)?),
            Type::Int | Type::Long => Value::Long(json.as_i64().ok_or_else(bad)?),
            Type::Float | Type::Double => match json {
                Json::Number(n) => Value::Double(n.as_f64().ok_or_else(bad)?),
                Json::String(s) => match s.as_str() {
                    "NaN" => Value::Double(f64::NAN),
                    "Infinity" => Value::Double(f64::INFINITY),
                    "-Infinity" => Value::Double(f64::NEG_INFINITY),
                    _ => return Err(bad()),
                },
                _ => return Err(bad()),
            },
            Type::Bytes | Type::Fixed { .. } => {
                let text = json.as_str().ok_or_else(bad)?;
                let bytes = text.chars().map(|c| u8::try_from(u32::from(c)).map_err(|_| bad()));
                Value::Bytes(bytes.collect::<Result<_>>()?)
            }
            Type::String | Type::Enum { .. } => Value::String(json.as_str().ok_or_else(bad)?.to_owned()),
            Type::Array(items) => Value::Array(
                json.as_array()
                    .ok_or_else(bad)?
                    .iter()
                    .map(|j| self.default_value(*items, j, context))
                    .collect::<Result<_>>()?,
            ),
            Type::Map(values) => Value::Map(
                json.as_object()
                    .ok_or_else(bad)?
                    .iter()
                    .map(|(k, j)| Ok((k.clone(), self.default_value(*values, j, context)?)))
                    .collect::<Result<_>>()?,
            ),
            Type::Record { fields, .. } => {
                let object = json.as_object().ok_or_else(bad)?;
                let mut entries = Vec::with_capacity(fields.len());
                for field in fields {
                    if let Some(j) = object.get(&field.name) {
                        entries.push((field.name.clone(), self.default_value(field.ty, j, context)?));
                    }
                }
                Value::Map(entries)
            }
            // The specification wants the first branch; like fastavro we accept any branch that fits.
            Type::Union(branches) => {
                let found = branches.iter().find_map(|b| self.default_value(*b, json, context).ok());
                found.ok_or_else(bad)?
            }
        })
    }

    fn write_canonical(&self, ty: TypeId, seen: &mut HashSet<TypeId>, out: &mut String) {
        let quoted = |s: &str| Json::String(s.to_owned()).to_string();
        match &self.types[ty] {
            Type::Record { name, fields } => {
                if !seen.insert(ty) {
                    out.push_str(&quoted(&name.fullname));
                    return;
                }
                out.push_str(&format!("{{\"name\":{},\"type\":\"record\",\"fields\":[", quoted(&name.fullname)));
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!("{{\"name\":{},\"type\":", quoted(&field.name)));
                    self.write_canonical(field.ty, seen, out);
                    out.push('}');
                }
                out.push_str("]}");
            }
            Type::Enum { name, symbols, .. } => {
                if !seen.insert(ty) {
                    out.push_str(&quoted(&name.fullname));
                    return;
                }
                let symbols: Vec<String> = symbols.iter().map(|s| quoted(s)).collect();
                out.push_str(&format!(
                    "{{\"name\":{},\"type\":\"enum\",\"symbols\":[{}]}}",
                    quoted(&name.fullname),
                    symbols.join(",")
                ));
            }
            Type::Fixed { name, size } => {
                if !seen.insert(ty) {
                    out.push_str(&quoted(&name.fullname));
                    return;
                }
                out.push_str(&format!("{{\"name\":{},\"type\":\"fixed\",\"size\":{size}}}", quoted(&name.fullname)));
            }
            Type::Array(items) => {
                out.push_str("{\"type\":\"array\",\"items\":");
                self.write_canonical(*items, seen, out);
                out.push('}');
            }
            Type::Map(values) => {
                out.push_str("{\"type\":\"map\",\"values\":");
                self.write_canonical(*values, seen, out);
                out.push('}');
            }
            Type::Union(branches) => {
                out.push('[');
                for (i, b) in branches.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.write_canonical(*b, seen, out);
                }
                out.push(']');
            }
            primitive => {
                out.push('"');
                out.push_str(primitive.kind());
                out.push('"');
            }
        }
    }
}

struct Parser {
    types: Vec<Type>,
    names: HashMap<String, TypeId>,
    fullnames: HashMap<TypeId, String>,
    pending_defaults: Vec<(TypeId, usize, Json)>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn qualify(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}.{name}")
    }
}

impl Parser {
    fn parse(&mut self, json: &Json, namespace: &str) -> Result<TypeId> {
        match json {
            Json::String(name) => self.reference(name, namespace),
            Json::Array(branches) => self.union(branches, namespace),
            Json::Object(object) => self.object(object, namespace),
            other => Err(Error::schema(format!("a schema is a string, object or array, not {other}"))),
        }
    }

    fn reference(&self, name: &str, namespace: &str) -> Result<TypeId> {
        if let Some(i) = PRIMITIVES.iter().position(|(p, _)| *p == name) {
            return Ok(i);
        }
        self.names
            .get(&qualify(name, namespace))
            .or_else(|| self.names.get(name))
            .copied()
            .ok_or_else(|| Error::schema(format!("unknown type {name:?}")))
    }

    fn union(&mut self, branches: &[Json], namespace: &str) -> Result<TypeId> {
        let mut ids = Vec::with_capacity(branches.len());
        let mut kinds = HashSet::new();
        for branch in branches {
            let id = self.parse(branch, namespace)?;
            let key = match (&self.types[id], self.fullnames.get(&id)) {
                (_, Some(fullname)) => fullname.clone(),
                (Type::Union(_), _) => return Err(Error::schema("a union may not directly contain a union")),
                (other, None) => other.kind().to_owned(),
            };
            if !kinds.insert(key.clone()) {
                return Err(Error::schema(format!("union contains {key} twice")));
            }
            ids.push(id);
        }
        Ok(self.push(Type::Union(ids)))
    }

    fn push(&mut self, ty: Type) -> TypeId {
        self.types.push(ty);
        self.types.len() - 1
    }

    fn object(&mut self, object: &JsonMap<String, Json>, namespace: &str) -> Result<TypeId> {
        let kind = match object.get("type") {
            Some(Json::String(kind)) => kind.as_str(),
            Some(nested @ (Json::Object(_) | Json::Array(_))) => return self.parse(nested, namespace),
            Some(other) => return Err(Error::schema(format!("\"type\" must be a string, got {other}"))),
            None => return Err(Error::schema("schema object without \"type\"")),
        };
        match kind {
            "record" | "error" => self.record(object, namespace),
            "enum" => self.enum_(object, namespace),
            "fixed" => self.fixed(object, namespace),
            "array" => {
                let items = object.get("items").ok_or_else(|| Error::schema("array without \"items\""))?;
                let items = self.parse(items, namespace)?;
                Ok(self.push(Type::Array(items)))
            }
            "map" => {
                let values = object.get("values").ok_or_else(|| Error::schema("map without \"values\""))?;
                let values = self.parse(values, namespace)?;
                Ok(self.push(Type::Map(values)))
            }
            // Logical types annotate their underlying type, which is what we read and write.
            other => self.reference(other, namespace),
        }
    }

    /// Registers a named type's name, returning it and the namespace its children inherit.
    fn name(&mut self, object: &JsonMap<String, Json>, namespace: &str, id: TypeId) -> Result<(Name, String)> {
        let name = match object.get("name") {
            Some(Json::String(name)) => name.as_str(),
            _ => return Err(Error::schema("named type without a string \"name\"")),
        };
        let namespace = match object.get("namespace") {
            Some(Json::String(ns)) => ns.as_str(),
            Some(Json::Null) | None => namespace,
            Some(other) => return Err(Error::schema(format!("\"namespace\" must be a string, got {other}"))),
        };
        let fullname = qualify(name, namespace);
        let (own_namespace, short) = match fullname.rsplit_once('.') {
            Some((ns, short)) => (ns.to_owned(), short.to_owned()),
            None => (String::new(), fullname.clone()),
        };
        if !valid_name(&short) || (!own_namespace.is_empty() && !own_namespace.split('.').all(valid_name)) {
            return Err(Error::schema(format!("invalid name {fullname:?}")));
        }
        if PRIMITIVES.iter().any(|(p, _)| *p == fullname) {
            return Err(Error::schema(format!("{fullname:?} is a primitive type and cannot be redefined")));
        }
        if self.names.insert(fullname.clone(), id).is_some() {
            return Err(Error::schema(format!("type {fullname:?} is defined twice")));
        }
        self.fullnames.insert(id, fullname.clone());
        let aliases = match object.get("aliases") {
            Some(Json::Array(list)) => list
                .iter()
                .map(|a| a.as_str().map(|a| qualify(a, &own_namespace)))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Error::schema(format!("aliases of {fullname:?} must be strings")))?,
            Some(_) => return Err(Error::schema(format!("aliases of {fullname:?} must be a list"))),
            None => Vec::new(),
        };
        Ok((Name { name: short, fullname, aliases }, own_namespace))
    }

    fn record(&mut self, object: &JsonMap<String, Json>, namespace: &str) -> Result<TypeId> {
        // Registered before its fields are parsed so that fields may refer to the record itself.
        let id = self.push(Type::Null);
        let (name, namespace) = self.name(object, namespace, id)?;
        let list = match object.get("fields") {
            Some(Json::Array(list)) => list,
            _ => return Err(Error::schema(format!("record {} needs a \"fields\" list", name.fullname))),
        };
        let mut fields: Vec<Field> = Vec::with_capacity(list.len());
        for (index, field) in list.iter().enumerate() {
            let Json::Object(field) = field else {
                return Err(Error::schema(format!("field {index} of {} is not an object", name.fullname)));
            };
            let field_name = match field.get("name") {
                Some(Json::String(n)) if valid_name(n) => n.clone(),
                _ => return Err(Error::schema(format!("field {index} of {} has no valid name", name.fullname))),
            };
            if fields.iter().any(|f| f.name == field_name) {
                return Err(Error::schema(format!("field {field_name} of {} defined twice", name.fullname)));
            }
            let ty = field
                .get("type")
                .ok_or_else(|| Error::schema(format!("field {}.{field_name} has no type", name.fullname)))?;
            let ty = self.parse(ty, &namespace)?;
            if let Some(default) = field.get("default") {
                self.pending_defaults.push((id, index, default.clone()));
            }
            let aliases = match field.get("aliases") {
                Some(Json::Array(list)) => list.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
                _ => Vec::new(),
            };
            fields.push(Field { name: field_name, ty, default: None, aliases });
        }
        self.types[id] = Type::Record { name, fields };
        Ok(id)
    }

    fn enum_(&mut self, object: &JsonMap<String, Json>, namespace: &str) -> Result<TypeId> {
        let id = self.push(Type::Null);
        let (name, _) = self.name(object, namespace, id)?;
        let symbols: Vec<String> = match object.get("symbols") {
            Some(Json::Array(list)) => list
                .iter()
                .map(|s| s.as_str().filter(|s| valid_name(s)).map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| Error::schema(format!("enum {} has an invalid symbol", name.fullname)))?,
            _ => return Err(Error::schema(format!("enum {} needs a \"symbols\" list", name.fullname))),
        };
        if symbols.iter().collect::<HashSet<_>>().len() != symbols.len() {
            return Err(Error::schema(format!("enum {} repeats a symbol", name.fullname)));
        }
        let default = match object.get("default") {
            None => None,
            Some(d) => Some(
                d.as_str()
                    .and_then(|d| symbols.iter().position(|s| s == d))
                    .ok_or_else(|| Error::schema(format!("default {d} of enum {} is not a symbol", name.fullname)))?,
            ),
        };
        self.types[id] = Type::Enum { name, symbols, default };
        Ok(id)
    }

    fn fixed(&mut self, object: &JsonMap<String, Json>, namespace: &str) -> Result<TypeId> {
        let id = self.push(Type::Null);
        let (name, _) = self.name(object, namespace, id)?;
        let size = object
            .get("size")
            .and_then(Json::as_u64)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| Error::schema(format!("fixed {} needs a non-negative integer size", name.fullname)))?;
        self.types[id] = Type::Fixed { name, size };
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_strips_attributes_and_qualifies_names() {
        let schema = Schema::parse(
            r#"{"type":"record","name":"R","namespace":"a.b","doc":"x","fields":[
                {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]},"default":"A"},
                {"name":"again","type":"E"},
                {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            schema.canonical(),
            r#"{"name":"a.b.R","type":"record","fields":[{"name":"e","type":{"name":"a.b.E","type":"enum","symbols":["A","B"]}},{"name":"again","type":"a.b.E"},{"name":"ts","type":"long"}]}"#
        );
        assert_eq!(schema.name(), "a.b.R");
    }

    #[test]
    fn fingerprint_matches_the_specification_examples() {
        // Values published with the Avro specification's CRC-64-AVRO test vectors.
        assert_eq!(Schema::parse("\"null\"").unwrap().fingerprint(), 0x63dd_24e7_cc25_8f8a);
        assert_eq!(Schema::parse("\"int\"").unwrap().fingerprint(), 0x7275_d51a_3f39_5c8f);
    }

    #[test]
    fn invalid_schemas_are_schema_errors() {
        for text in [
            "nope",
            "\"Unknown\"",
            r#"{"type":"record","name":"R"}"#,
            r#"["int","int"]"#,
            r#"[["int"]]"#,
            r#"{"type":"enum","name":"E","symbols":["A","A"]}"#,
            r#"{"type":"enum","name":"E","symbols":["A"],"default":"B"}"#,
            r#"{"type":"fixed","name":"F","size":-1}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#,
            r#"{"type":"record","name":"1R","fields":[]}"#,
        ] {
            assert!(matches!(Schema::parse(text), Err(Error::Schema { .. })), "{text}");
        }
    }

    #[test]
    fn recursive_records_refer_to_themselves() {
        let schema = Schema::parse(
            r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null}]}"#,
        )
        .unwrap();
        let Type::Record { fields, .. } = schema.get(schema.root()) else { panic!("not a record") };
        assert_eq!(fields[0].default.as_deref(), Some(&[0u8][..]));
    }
}
