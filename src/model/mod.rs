//! Pure domain types. An identifier that reaches a path, a unit name, argv or a journal
//! field is a newtype that can only be built by validating parsing.

mod ids;
mod repo_name;
pub mod timestamp;

pub use ids::{AlertId, InvalidId, JobId, ScheduleId};
pub use repo_name::{InvalidRepoName, RepoName};

/// The OpenAPI schema of a string type whose form is exactly `pattern` (the document of
/// API.md 16.5 names each such type once, under `components/schemas`).
fn string_schema(
    pattern: &str,
    description: &str,
    example: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([serde_json::Value::from(example)])
        .into()
}
