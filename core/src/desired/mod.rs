//! Desired inputs: the operator's TOML models, their loading (with file, line,
//! column and key path on every error) and their validation.

pub mod edit;
pub mod load;
pub mod locate;
pub mod mode;
pub mod model;
pub mod names;
pub mod validate;

pub use load::{parse_client, parse_server};
pub use model::*;
