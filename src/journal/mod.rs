//! Reading the journal: job output, and sshd's logins for key use (API.md 16.3).
//! `reader` is the only journalctl spawner; `parse` turns its JSON into plain entries;
//! `sshd` reads what sshd's login lines say.

pub mod parse;
pub mod reader;
pub mod sshd;
