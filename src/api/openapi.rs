//! The OpenAPI 3.1 document of API.md 16.5, served at `GET /api/v1/openapi.json`. Paths,
//! parameters, bodies and schemas come from the handlers' `#[utoipa::path]` and the wire
//! types' `ToSchema`, collected by `api_routes`, the list the router is made from. This
//! module adds only what holds for every operation: the bearer scheme (and the paths that
//! need no token), the statuses any endpoint may answer besides its own (API.md 3), and
//! axum's `{*fingerprint}` spelled as OpenAPI's `{fingerprint}`; and it spells what utoipa
//! 5 gets wrong or cannot say (a body that may be left out is not `null`, a Link's
//! `operationId`, a header's `required`).

use std::sync::OnceLock;

use axum::body::Bytes;
use serde_json::Value;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};

use super::{api_routes, PUBLIC};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "borgbox",
        description = "Borg backup repositories on a Linux server, managed over HTTP. \
            API.md is the contract this document describes. Every answer other than 2xx is \
            `{\"error\": string}`; a job's output streams as Server-Sent Events whose data \
            are StreamEvent objects. In request bodies a `null` field counts as absent, \
            unknown fields are ignored, and integer fields take JSON integers only \
            (`12.0`, `1e2` and `\"12\"` are refused, which JSON Schema cannot say).",
    ),
    servers((url = "/api/v1", description = "This borgbox: the document's own base path")),
)]
struct Base;

/// What `api_routes` adds its operations to.
pub(super) fn base() -> OpenApi {
    <Base as utoipa::OpenApi>::openapi()
}

/// The statuses every endpoint that needs a token may answer besides its own (API.md 3),
/// as `components/responses` names.
const COMMON: [(&str, &str); 5] = [
    ("401", "Unauthorized"),
    ("405", "MethodNotAllowed"),
    ("413", "TooLarge"),
    ("500", "Internal"),
    ("503", "Unavailable"),
];

/// The one a public endpoint (no token, no body) may answer: the connection cap.
const COMMON_PUBLIC: [(&str, &str); 1] = [("503", "Unavailable")];

/// Response headers borgbox always sends with the responses that document them.
const ALWAYS_SENT: [&str; 4] = [
    "WWW-Authenticate",
    "Allow",
    "Cache-Control",
    "X-Accel-Buffering",
];

/// The document, as served.
pub fn openapi() -> Value {
    let (_, mut doc) = api_routes().split_for_parts();
    finish(&mut doc);
    let mut json = serde_json::to_value(&doc).unwrap_or_default();
    fix_json(&mut json);
    require_one_of(
        &mut json,
        "RepoUpdateBody",
        &[
            ("append_only", "boolean"),
            ("storage_quota_bytes", "integer"),
        ],
    );
    tighten(&mut json);
    json
}

/// A key line's shape (API.md 7.1 rules 2 to 4): a type borgbox accepts, canonical
/// standard base64, an optional comment without blanks, `"` or `\`. Whether the blob
/// decodes to a key of that type is for the server to say (the operations' descriptions).
const KEY_LINE: &str = "^ *(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|\
    ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh[.]com|sk-ecdsa-sha2-nistp256@openssh[.]com) +\
    ([A-Za-z0-9+/]{4})+([A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?\
    ( +[!#-\\[\\]-~]+)? *$";

/// What JSON Schema can say beyond utoipa's attributes, so that every body the document
/// allows is one the server takes (schemathesis's positive-data check holds it to that),
/// and the refusals that depend on more than the body are named in the operations.
fn tighten(doc: &mut Value) {
    use serde_json::json;
    let mut set = |pointer: &str, value: Value| {
        if let Some(slot) = doc.pointer_mut(pointer) {
            *slot = value;
        }
    };
    let key = json!({
        "type": "string", "maxLength": 8192, "pattern": KEY_LINE,
        "description": "A full OpenSSH public key line (API.md 7.1): `<type> <base64 blob> \
            [comment]`, at most 8 KiB. Whether the blob is a key of that type is checked by \
            the server (400).",
        "example": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID6dEDLK+uzjksND2mWl1eF8U36jG1KzQe63wj5joyW6 laptop",
    });
    set(
        "/components/schemas/NewRepoBody/properties/pubkey",
        key.clone(),
    );
    set("/components/schemas/NewKeyBody/properties/public_key", key);

    let url = |nullable: bool| {
        json!({
            "type": if nullable { json!(["string", "null"]) } else { json!("string") },
            "format": "uri", "maxLength": 2048,
            "pattern": crate::alerts::WEBHOOK_URL_PATTERN,
            "description": "An absolute http or https URL with a host, at most 2048 characters.",
        })
    };
    set(
        "/components/schemas/NewAlertBody/properties/webhook_url",
        url(false),
    );
    set(
        "/components/schemas/AlertUpdateBody/properties/webhook_url",
        url(true),
    );
    // The server counts bytes of UTF-8; a schema can count only characters.
    for pointer in [
        "/components/schemas/NewAlertBody/properties/secret",
        "/components/schemas/AlertUpdateBody/properties/secret",
    ] {
        if let Some(Value::Object(o)) = doc.pointer_mut(pointer) {
            o.insert("maxLength".into(), json!(1024));
        }
    }
    for body in ["CheckBody", "CompactBody", "PruneBody"] {
        if let Some(Value::Object(o)) =
            doc.pointer_mut(&format!("/components/schemas/{body}/properties/passphrase"))
        {
            o.insert("maxLength".into(), json!(4096));
        }
    }

    // Prune: at least one keep_* above 0.
    if let Some(Value::Object(o)) = doc.pointer_mut("/components/schemas/PruneBody") {
        let keeps = ["keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"].map(
            |k| json!({"required": [k], "properties": {k: {"type": "integer", "minimum": 1}}}),
        );
        o.insert("anyOf".into(), Value::Array(keeps.to_vec()));
    }

    // An unused weekday or day may be any integer the server reads (64 bits, saturating).
    for body in ["NewScheduleBody", "ScheduleUpdateBody"] {
        for field in ["weekday", "day"] {
            if let Some(Value::Object(o)) =
                doc.pointer_mut(&format!("/components/schemas/{body}/properties/{field}"))
            {
                o.insert("minimum".into(), json!(i64::MIN));
                o.insert("maximum".into(), json!(u64::MAX));
            }
        }
    }

    // A new schedule, by cadence: weekly needs its weekday, monthly its day (API.md 11.2).
    let int = |min: i64, max: i64| json!({"type": "integer", "minimum": min, "maximum": max});
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut);
    if let Some(schemas) = schemas {
        schemas.insert(
            "DailyCadence".into(),
            json!({"type": "object", "properties": {"cadence": {"const": "daily"}}}),
        );
        schemas.insert(
            "WeeklyCadence".into(),
            json!({"type": "object", "required": ["weekday"],
                "properties": {"cadence": {"const": "weekly"}, "weekday": int(0, 6)}}),
        );
        schemas.insert(
            "MonthlyCadence".into(),
            json!({"type": "object", "required": ["day"],
                "properties": {"cadence": {"const": "monthly"}, "day": int(1, 28)}}),
        );
        if let Some(Value::Object(o)) = schemas.get_mut("NewScheduleBody") {
            o.insert(
                "oneOf".into(),
                json!([
                    {"$ref": "#/components/schemas/DailyCadence"},
                    {"$ref": "#/components/schemas/WeeklyCadence"},
                    {"$ref": "#/components/schemas/MonthlyCadence"},
                ]),
            );
            o.insert(
                "discriminator".into(),
                json!({"propertyName": "cadence", "mapping": {
                    "daily": "#/components/schemas/DailyCadence",
                    "weekly": "#/components/schemas/WeeklyCadence",
                    "monthly": "#/components/schemas/MonthlyCadence",
                }}),
            );
        }
    }
    // An empty body is `{}`, which these refuse (one field is needed): a body is required.
    for pointer in [
        "/paths/~1repos~1{name}/patch/requestBody",
        "/paths/~1repos~1{name}~1prune/post/requestBody",
    ] {
        if let Some(Value::Object(body)) = doc.pointer_mut(pointer) {
            body.insert("required".into(), Value::Bool(true));
        }
    }

    for (pointer, text) in [
        (
            "/paths/~1repos/post",
            "400 also when the key's blob does not decode to a key of its type (API.md 7.1 \
             rules 5, 6): the document can check only the line's shape.",
        ),
        (
            "/paths/~1repos~1import/post",
            "400 also when the key's blob does not decode to a key of its type (API.md 7.1 \
             rules 5, 6), or when the repo's directory holds no borg repository (no config \
             file); 404 when the directory does not exist. Both depend on the disk.",
        ),
        (
            "/paths/~1repos~1{name}~1keys/post",
            "400 also when the key's blob does not decode to a key of its type (API.md 7.1 \
             rules 5, 6): the document can check only the line's shape.",
        ),
        (
            "/paths/~1schedules~1{id}/patch",
            "The body is merged into the stored schedule and the result validated, so \
             whether a `weekday` or `day` is used (and must be in range) depends on the \
             merged cadence: making a schedule weekly keeps its stored weekday (0 unless it \
             was weekly), making it monthly needs a `day` unless it was monthly.",
        ),
        (
            "/paths/~1alerts~1{id}/patch",
            "The body is merged into the stored alert and the result validated.",
        ),
        (
            "/paths/~1repos~1{name}/patch",
            "When the quota borgbox set changes or goes and the repository's own config \
             holds that same quota (written by a `borg init` through the forced command), \
             the repository's follows (`borg config`); a quota of the repository's own is \
             kept and reported with `quota_source: repository`. 502 when borg cannot change \
             it (e.g. a client holds the repository's lock).",
        ),
    ] {
        if let Some(Value::Object(op)) = doc.pointer_mut(pointer) {
            let joined = match op.get("description").and_then(Value::as_str) {
                Some(old) if !old.is_empty() => format!("{old}\n\n{text}"),
                _ => text.to_owned(),
            };
            op.insert("description".into(), Value::String(joined));
        }
    }
}

/// API.md 16.1: a PATCH of a repo needs at least one of its fields with a value (null is
/// absent, API.md 2.4). utoipa has no attribute for that; without it a fuzzer mostly sends
/// bodies the server must refuse.
fn require_one_of(doc: &mut Value, schema: &str, fields: &[(&str, &str)]) {
    if let Some(Value::Object(schema)) = doc.pointer_mut(&format!("/components/schemas/{schema}")) {
        let any_of = fields
            .iter()
            .map(|(field, kind)| {
                serde_json::json!({"required": [field], "properties": {*field: {"type": kind}}})
            })
            .collect();
        schema.insert("anyOf".into(), Value::Array(any_of));
    }
}

/// `openapi()` serialised once per process.
pub(crate) fn openapi_json() -> Bytes {
    static JSON: OnceLock<Bytes> = OnceLock::new();
    JSON.get_or_init(|| Bytes::from(openapi().to_string()))
        .clone()
}

fn finish(doc: &mut OpenApi) {
    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, mut item) in paths {
        let public = PUBLIC.contains(&path.as_str());
        for operation in operations(&mut item) {
            // `request_body = Option<T>` (a body that may be left out) must not read as
            // "or JSON null": a null body is not an object, 400 (API.md 2.4).
            if let Some(body) = operation.request_body.as_mut() {
                for content in body.content.values_mut() {
                    if let Some(schema) = content.schema.as_mut() {
                        drop_null(schema);
                    }
                }
            }
            if public {
                operation.security = Some(Vec::new());
            }
            let common: &[(&str, &str)] = if public { &COMMON_PUBLIC } else { &COMMON };
            for (status, name) in common {
                operation
                    .responses
                    .responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
            }
        }
        // axum's catch-all `{*fingerprint}` is OpenAPI's `{fingerprint}` (API.md 2.8).
        doc.paths.paths.insert(path.replace("{*", "{"), item);
    }
    doc.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "`Authorization: Bearer <token>`, the scheme word in any case (API.md 2.2)",
                ))
                .build(),
        ),
    );
    let responses = [
        (
            "Unauthorized",
            error_response("Missing, malformed or wrong bearer token")
                .header(
                    "WWW-Authenticate",
                    HeaderBuilder::new()
                        .schema(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .enum_values(Some(["Bearer"])),
                        )
                        .description(Some("`Bearer`"))
                        .build(),
                )
                .build(),
        ),
        (
            "MethodNotAllowed",
            error_response("The path exists; the method does not")
                .header(
                    "Allow",
                    HeaderBuilder::new()
                        .description(Some("The path's methods"))
                        .build(),
                )
                .build(),
        ),
        (
            "TooLarge",
            error_response("The request body is larger than 64 KiB").build(),
        ),
        (
            "Internal",
            error_response("An unexpected local failure (for example, writing a file)").build(),
        ),
        (
            "Unavailable",
            error_response(
                "Too many open connections (then with `Retry-After`), or, with the systemd \
                 backend, borg's service manager is not reachable",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("Seconds"))
                    .build(),
            )
            .build(),
        ),
    ];
    for (name, response) in responses {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(response));
    }
}

/// `oneOf: [{"type": "null"}, X]` becomes X.
fn drop_null(schema: &mut RefOr<Schema>) {
    let RefOr::T(Schema::OneOf(one_of)) = schema else {
        return;
    };
    let is_null = |item: &RefOr<Schema>| {
        matches!(item, RefOr::T(Schema::Object(o))
            if o.schema_type == SchemaType::Type(Type::Null))
    };
    if let [a, b] = one_of.items.as_slice() {
        let rest = match (is_null(a), is_null(b)) {
            (true, false) => b.clone(),
            (false, true) => a.clone(),
            _ => return,
        };
        *schema = rest;
    }
}

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Error")))
            .build(),
    )
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// What utoipa 5 cannot spell: `"required": true` on every header named in `ALWAYS_SENT`
/// (its Header has no `required`), and a Link's `operationId`, `operationRef` and
/// `requestBody` (it writes them in snake case).
fn fix_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(headers)) = map.get_mut("headers") {
                for (name, header) in headers.iter_mut() {
                    if let (true, Value::Object(header)) =
                        (ALWAYS_SENT.contains(&name.as_str()), header)
                    {
                        header.insert("required".into(), Value::Bool(true));
                    }
                }
            }
            if let Some(Value::Object(links)) = map.get_mut("links") {
                for link in links.values_mut() {
                    let Value::Object(link) = link else { continue };
                    for (snake, camel) in [
                        ("operation_id", "operationId"),
                        ("operation_ref", "operationRef"),
                        ("request_body", "requestBody"),
                    ] {
                        if let Some(v) = link.remove(snake) {
                            link.insert(camel.into(), v);
                        }
                    }
                }
            }
            map.values_mut().for_each(fix_json);
        }
        Value::Array(items) => items.iter_mut().for_each(fix_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::api::wire;

    fn doc() -> Value {
        openapi()
    }

    /// (path, method) of every operation in the document.
    fn operations_of(doc: &Value) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                out.insert((path.clone(), method.to_uppercase()));
            }
        }
        out
    }

    /// Every (path, method) the serving API router routes. axum has no way to list routes, but its
    /// Router's Debug output shows each route's path (`RouteId(n): "/path"`) and its
    /// method router's `allow_header`; if that output ever changes, this finds nothing and
    /// the test fails rather than passes. HEAD is left out where axum adds it to a GET.
    fn router_routes() -> BTreeSet<(String, String)> {
        let debug = format!("{:?}", crate::api::api_router());
        let main = debug.split("fallback_router").next().unwrap_or_default();
        let (routes, node) = main.split_once("node: Node").unwrap_or_default();
        let mut paths = std::collections::HashMap::new();
        for part in node.split("RouteId(").skip(1) {
            let (id, rest) = part.split_once(')').unwrap();
            let path = rest.trim_start_matches(": \"").split('"').next().unwrap();
            paths.insert(id.to_owned(), path.replace("{*", "{"));
        }
        let mut out = BTreeSet::new();
        for part in routes.split("RouteId(").skip(1) {
            let (id, rest) = part.split_once(')').unwrap();
            let allow = rest
                .split("allow_header: Bytes(b\"")
                .nth(1)
                .and_then(|a| a.split('"').next())
                .unwrap_or_else(|| panic!("no allow_header for route {id}"));
            let implicit_head = rest.contains("head: None");
            for method in allow.split(',') {
                if !(method == "HEAD" && implicit_head) {
                    out.insert((paths[id].clone(), method.to_owned()));
                }
            }
        }
        out
    }

    #[test]
    fn the_router_routes_exactly_the_documents_operations() {
        let routed = router_routes();
        assert!(
            routed.len() > 30,
            "no routes found in the router: {routed:?}"
        );
        let documented = operations_of(&doc());
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routed, not in the document: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "in the document, not routed: {unrouted:?}"
        );
    }

    #[test]
    fn a_repo_patch_needs_one_of_its_fields_with_a_value() {
        let doc = doc();
        let any_of = doc["components"]["schemas"]["RepoUpdateBody"]["anyOf"]
            .as_array()
            .unwrap();
        let required: Vec<&Value> = any_of.iter().map(|s| &s["required"][0]).collect();
        assert_eq!(required, ["append_only", "storage_quota_bytes"]);
        assert_eq!(any_of[0]["properties"]["append_only"]["type"], "boolean");
    }

    #[test]
    fn operation_ids_are_unique_and_every_link_names_one() {
        let doc = doc();
        let mut ids = BTreeSet::new();
        let mut links = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "operationId {id} twice");
                for response in op["responses"].as_object().unwrap().values() {
                    if let Some(found) = response.get("links").and_then(Value::as_object) {
                        for link in found.values() {
                            links.push((id.clone(), link["operationId"].clone()));
                        }
                    }
                }
            }
        }
        assert!(!links.is_empty());
        for (from, to) in links {
            assert!(
                to.as_str().is_some_and(|to| ids.contains(to)),
                "a link of {from} names {to}"
            );
        }
    }

    #[test]
    fn only_the_public_paths_need_no_token() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["security"], serde_json::json!([{ "bearer": [] }]));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        for (path, method) in operations_of(&doc) {
            let op = &doc["paths"][&path][method.to_lowercase()];
            let public = PUBLIC.contains(&path.as_str());
            let security = public.then(|| Value::Array(vec![]));
            assert_eq!(op.get("security"), security.as_ref(), "{method} {path}");
            assert_eq!(
                op["responses"].get("401").is_some(),
                !public,
                "{method} {path}"
            );
            assert!(op["responses"].get("503").is_some(), "{method} {path}");
        }
    }

    #[test]
    fn every_error_status_has_the_error_shape() {
        let doc = doc();
        let error = serde_json::json!({ "$ref": "#/components/schemas/Error" });
        for (path, method) in operations_of(&doc) {
            let op = &doc["paths"][&path][method.to_lowercase()];
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('2') {
                    continue;
                }
                let response = match response.get("$ref").and_then(Value::as_str) {
                    Some(r) => &doc["components"]["responses"][r.rsplit('/').next().unwrap()],
                    None => response,
                };
                assert_eq!(
                    response["content"]["application/json"]["schema"], error,
                    "{method} {path} {status}"
                );
            }
        }
        assert_eq!(
            doc["components"]["schemas"]["Error"]["required"],
            serde_json::json!(["error"])
        );
    }

    /// The reader and the schema of each body come from one field list (`request_body!`);
    /// this pins that nothing (a rename, a skip) made them differ.
    #[test]
    fn request_body_schemas_name_the_fields_the_handlers_read() {
        let doc = doc();
        let bodies: [(&str, &[&str]); 12] = [
            ("NewRepoBody", wire::NewRepoBody::FIELDS),
            ("RepoUpdateBody", wire::RepoUpdateBody::FIELDS),
            ("NewKeyBody", wire::NewKeyBody::FIELDS),
            ("CheckBody", wire::CheckBody::FIELDS),
            ("PruneBody", wire::PruneBody::FIELDS),
            ("CompactBody", wire::CompactBody::FIELDS),
            ("NewScheduleBody", wire::NewScheduleBody::FIELDS),
            ("ScheduleUpdateBody", wire::ScheduleUpdateBody::FIELDS),
            ("NewAlertBody", wire::NewAlertBody::FIELDS),
            ("AlertUpdateBody", wire::AlertUpdateBody::FIELDS),
            (
                "NewAlertBody",
                &[
                    "stale_after_hours",
                    "webhook_url",
                    "enabled",
                    "renotify_hours",
                    "secret",
                ],
            ),
            (
                "NewScheduleBody",
                &[
                    "kind", "cadence", "hour", "minute", "weekday", "day", "enabled",
                ],
            ),
        ];
        for (name, fields) in bodies {
            let properties: BTreeSet<&str> = doc["components"]["schemas"][name]["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{name}"))
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(properties, fields.iter().copied().collect(), "{name}");
        }
        // Every body in the document is one of them.
        for (path, method) in operations_of(&doc) {
            let op = &doc["paths"][&path][method.to_lowercase()];
            if let Some(body) = op.get("requestBody") {
                let schema = &body["content"]["application/json"]["schema"]["$ref"];
                let name = schema.as_str().unwrap().rsplit('/').next().unwrap();
                assert!(
                    bodies.iter().any(|(n, _)| *n == name),
                    "{method} {path}: {name}"
                );
            }
        }
    }

    #[test]
    fn required_request_fields_are_what_the_domain_requires() {
        let doc = doc();
        let required = |name: &str| doc["components"]["schemas"][name]["required"].clone();
        assert_eq!(
            required("NewRepoBody"),
            serde_json::json!(["name", "pubkey"])
        );
        assert_eq!(required("NewKeyBody"), serde_json::json!(["public_key"]));
        assert_eq!(
            required("NewScheduleBody"),
            serde_json::json!(["kind", "cadence", "hour", "minute"])
        );
        assert_eq!(
            required("NewAlertBody"),
            serde_json::json!(["stale_after_hours", "webhook_url"])
        );
        for name in [
            "RepoUpdateBody",
            "CheckBody",
            "PruneBody",
            "CompactBody",
            "ScheduleUpdateBody",
            "AlertUpdateBody",
        ] {
            assert_eq!(required(name), Value::Null, "{name}");
        }
    }
}
