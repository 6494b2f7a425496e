//! The borg user's authorized_keys (API.md 7): key validation, the lossless file model,
//! the managed line format and the locked store, plus when each key was added and last
//! used (16.3). Only `store`, `added` and `used` touch the disk.

mod added;
mod parse;
pub(crate) mod pubkey;
mod render;
mod store;
mod used;

pub use added::AddedAt;
pub use parse::{AuthorizedKeys, BlobOwner, ManagedKey, RepoKeys};
pub use pubkey::{
    fingerprint_of_blob_b64, parse_public_key, sanitize_comment, InvalidKey, PublicKey,
};
pub use render::{forced_command, managed_line, ServeFlags, UnsafePath};
pub use store::KeyStore;
pub use used::{KeyUse, LastUse};
