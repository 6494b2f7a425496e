//! Pure domain types. An identifier that reaches a path, a unit name, argv or a journal
//! field is a newtype that can only be built by validating parsing.

mod ids;
mod repo_name;
pub mod timestamp;

pub use ids::{AlertId, InvalidId, JobId, ScheduleId};
pub use repo_name::{InvalidRepoName, RepoName};
