//! The crate's one error type: what went wrong, with the file, tensor or flag it concerns.

use std::path::PathBuf;

/// Everything training, checkpointing and generation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A device call failed (the `neurokern` error names the op and operand).
    #[error("device: {0}")]
    Device(#[from] neurokern::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The training text cannot be used.
    #[error("data: {0}")]
    Data(String),
    /// A hyper-parameter or option is out of its domain.
    #[error("option `--{flag}`: {message}")]
    Config {
        /// The flag, without its dashes.
        flag: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A checkpoint is malformed or does not fit this run.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The JSON log could not be written.
    #[error("log: {0}")]
    Json(#[from] serde_json::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn config(flag: &'static str, message: impl Into<String>) -> Self {
        Error::Config {
            flag,
            message: message.into(),
        }
    }
}
