//! The one error this crate returns: what is wrong, and where in which file.
//!
//! A config error is read by a person fixing a file, so it renders the way compilers do:
//! `FILE:LINE:COL: message` when the place is known, `FILE: message` otherwise (an unreadable
//! file, a bad `SWITCHBOARD_UPSTREAMS` entry). Lines and columns are 1-based.

use std::fmt;

use serde_saphyr::{Location, MessageFormatter, UserMessageFormatter};

/// A config file that cannot be loaded, with the file name and, when known, line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{at}: {message}")]
pub struct ConfigError {
    file: String,
    at: At,
    message: String,
}

impl ConfigError {
    /// An error at a known line and column of `file`.
    pub(crate) fn at(file: &str, location: Location, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            at: At::from_location(location),
            message: message.into(),
        }
    }

    /// An error about `file` as a whole.
    pub(crate) fn whole(file: &str, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            at: At(None),
            message: message.into(),
        }
    }

    /// Translates a YAML or shape error from serde-saphyr, keeping its location.
    pub(crate) fn from_yaml(file: &str, error: &serde_saphyr::Error) -> Self {
        let mut inner = error;
        while let serde_saphyr::Error::WithSnippet { error, .. }
        | serde_saphyr::Error::AliasError { error, .. } = inner
        {
            inner = error;
        }
        // The message may quote input; keep it on one line so the `FILE:LINE:COL:` form holds.
        let mut message = String::new();
        for c in Wording.format_message(inner).chars() {
            if c.is_control() {
                message.extend(c.escape_debug());
            } else {
                message.push(c);
            }
        }
        ConfigError {
            file: file.to_owned(),
            at: error.location().map_or(At(None), At::from_location),
            message,
        }
    }

    /// `(line, column)`, both 1-based, when the error points into the file.
    pub fn location(&self) -> Option<(usize, usize)> {
        self.at.0
    }

    /// The message without the file and location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The file name the error is about, as given to `load` or `parse`.
    pub fn file(&self) -> &str {
        &self.file
    }
}

/// The `:LINE:COL` part of the rendering, empty when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct At(Option<(usize, usize)>);

impl At {
    fn from_location(location: Location) -> Self {
        if location.line() == 0 {
            return At(None);
        }
        let line = usize::try_from(location.line()).unwrap_or(usize::MAX);
        let column = usize::try_from(location.column()).unwrap_or(usize::MAX);
        At(Some((line, column)))
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((line, column)) => write!(f, ":{line}:{column}"),
            None => Ok(()),
        }
    }
}

/// serde-saphyr's user-facing wording, with its parser-event jargon ("mapping start") replaced
/// by the names a config author knows.
struct Wording;

impl MessageFormatter for Wording {
    fn format_message<'a>(&self, err: &'a serde_saphyr::Error) -> std::borrow::Cow<'a, str> {
        if let serde_saphyr::Error::Unexpected { expected, .. } = err {
            let expected = match *expected {
                "mapping start" | "empty mapping start" => "a mapping (`key: value` pairs)",
                "sequence start" => "a list",
                "string scalar" | "scalar" => "a single value, not a list or mapping",
                other => other,
            };
            return format!("wrong type: expected {expected}").into();
        }
        UserMessageFormatter.format_message(err)
    }
}
