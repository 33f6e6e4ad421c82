use std::fmt;

/// Every failure of the core, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A value breaks a rule of its format; `path` names the attribute or field at fault.
    Validation { path: String, message: String },
    /// Bytes that cannot be decoded; `offset` is the byte where decoding stopped.
    Decode { offset: usize, message: String },
    /// A schema that cannot be parsed, or two schemas that cannot be resolved.
    Schema { message: String },
    /// A message breaks a limit of the protocol: too large, or older than its time to live.
    Limit { limit: Limit, message: String },
    /// A record's writer schema id that the registry does not know.
    UnknownSchema { schema_id: u32 },
}

/// Which protocol limit a message breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    TooLarge,
    Expired,
}

impl Error {
    pub fn validation(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation { path: path.into(), message: message.into() }
    }

    pub fn decode(offset: usize, message: impl Into<String>) -> Self {
        Error::Decode { offset, message: message.into() }
    }

    pub fn schema(message: impl Into<String>) -> Self {
        Error::Schema { message: message.into() }
    }

    pub fn limit(limit: Limit, message: impl Into<String>) -> Self {
        Error::Limit { limit, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A rule about the whole message names what it is about in its own words.
            Error::Validation { path, message } if path.is_empty() => f.write_str(message),
            Error::Validation { path, message } => write!(f, "{path}: {message}"),
            Error::Decode { offset, message } => write!(f, "at byte {offset}: {message}"),
            Error::Schema { message } => write!(f, "schema: {message}"),
            Error::Limit { message, .. } => f.write_str(message),
            Error::UnknownSchema { schema_id } => write!(f, "schema id {schema_id} is unknown to the registry"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
