//! Reading job output back from the journal. `reader` is the only journalctl spawner;
//! `parse` turns its JSON into plain entries.

pub mod parse;
pub mod reader;
