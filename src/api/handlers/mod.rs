//! One file per resource. Handlers return `Result<_, ApiError>` and never build a status
//! code themselves; blocking file work runs on the blocking pool.

pub mod jobs;
pub mod keys;
pub mod repos;
pub mod server;

use super::error::ApiError;

/// Runs blocking file work (flock, directory walks) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await?
}
