//! One file per resource. Handlers extract, call one domain operation and shape the
//! answer; they never build a status code for an error themselves.

pub mod alerts;
pub mod jobs;
pub mod keys;
pub mod repos;
pub mod schedules;
pub mod server;
