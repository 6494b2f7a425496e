//! The web console (API.md 16.4): a single-page application embedded in the binary and
//! served without a token at `/` and `/assets/…`. This module only serves bytes; the
//! console does everything else through `/api/v1` like any other client, and must never
//! get a shortcut into the domain.
//!
//! Assets are hand-written ES modules and CSS compiled in with `include_bytes!`, so
//! building borgbox needs no Node toolchain and running it needs no files. Each asset is
//! served under a content-hashed name (`main.3f9a0c12be.js`) with year-long immutable
//! caching; the names are computed once, on the first console request, from the bytes
//! themselves (no build script: hashing ~100 KB takes well under a millisecond). A
//! module's references to other assets (`"./api.js"` in an import, `"/assets/app.css"` in
//! index.html) are rewritten to the hashed names before the module itself is hashed, so a
//! change to any module renames every module that imports it, and a browser never mixes
//! two versions. index.html is rendered with the hashed names and served as `no-cache`.

// The HTTP edge: here axum's types may be named (clippy.toml `disallowed-types`).
#![allow(clippy::disallowed_types)]

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};

/// Sent on every console response, errors included (API.md 16.4): no inline script or
/// style, no framing, no `<base>`, forms post only to us.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Hex digits of SHA-256 in a hashed name: 40 bits, plenty for a dozen files.
const HASH_LEN: usize = 10;

/// One file under `assets/` as written in the tree.
struct Source {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! source {
    ($name:literal, $type:expr) => {
        Source {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every asset; index.html is the page itself, not one of them.
const SOURCES: &[Source] = &[
    source!("app.css", "text/css; charset=utf-8"),
    source!("favicon.svg", "image/svg+xml"),
    source!("main.js", JS),
    source!("api.js", JS),
    source!("sse.js", JS),
    source!("dom.js", JS),
    source!("panel.js", JS),
    source!("format.js", JS),
    source!("view-signin.js", JS),
    source!("view-overview.js", JS),
    source!("view-repo.js", JS),
    source!("view-create.js", JS),
    source!("view-jobs.js", JS),
    source!("view-schedules.js", JS),
    source!("view-alerts.js", JS),
];

const INDEX: &[u8] = include_bytes!("assets/index.html");

/// An asset ready to serve.
struct Asset {
    content_type: &'static str,
    bytes: Vec<u8>,
}

/// The console as served: the rendered page and the assets by hashed name.
struct Console {
    index: Vec<u8>,
    assets: HashMap<String, Asset>,
    /// Source name → hashed name, for tests and the bench.
    names: HashMap<&'static str, String>,
}

fn console() -> &'static Console {
    static CONSOLE: OnceLock<Console> = OnceLock::new();
    CONSOLE.get_or_init(|| build(SOURCES, INDEX))
}

/// True for the paths that belong to the API: authenticated (but for the health check)
/// and answered with JSON, never with the console.
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The hashed path of an asset, `/assets/<stem>.<hash>.<ext>`, by its source name.
pub fn asset_path(source: &str) -> Option<String> {
    console()
        .names
        .get(source)
        .map(|hashed| format!("/assets/{hashed}"))
}

/// Answers a request for any path outside `/api/`: an asset under `/assets/`, else the
/// page (client-side routing decides what it shows).
pub fn respond(method: &Method, path: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let console = console();
    if let Some(name) = path.strip_prefix("/assets/") {
        return match console.assets.get(name) {
            Some(asset) => ok(asset.content_type, asset.bytes.clone(), IMMUTABLE),
            // Never the page: a module that asks for a stale name must fail visibly, not
            // be handed HTML.
            None => error(StatusCode::NOT_FOUND, "not found"),
        };
    }
    ok(
        "text/html; charset=utf-8",
        console.index.clone(),
        "no-cache",
    )
}

fn ok(content_type: &'static str, body: Vec<u8>, cache: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    secure(response)
}

/// The API's error shape (API.md 2.3), with the console's headers.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(response)
}

fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `main.js` + hash → `main.<hash>.js`.
fn hashed_name(name: &str, hash: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{name}.{hash}"),
    }
}

fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..HASH_LEN]
        .to_owned()
}

/// The names of other sources that `bytes` refers to, as `"./name"` (a relative module
/// import) or `"/assets/name"`.
fn references<'a>(bytes: &[u8], sources: &'a [Source]) -> Vec<&'a str> {
    sources
        .iter()
        .map(|s| s.name)
        .filter(|name| {
            contains(bytes, format!("\"./{name}\"").as_bytes())
                || contains(bytes, format!("\"/assets/{name}\"").as_bytes())
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Rewrites the references in `bytes` to the hashed names known so far.
fn rewrite(bytes: &[u8], names: &HashMap<&'static str, String>) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (name, hashed) in names {
        for prefix in ["./", "/assets/"] {
            out = replace(
                &out,
                format!("\"{prefix}{name}\"").as_bytes(),
                format!("\"{prefix}{hashed}\"").as_bytes(),
            );
        }
    }
    out
}

/// Hashes the sources leaves first: a source is hashed once everything it refers to has
/// its final name. A cycle cannot be hashed this way; a unit test proves there is none,
/// and if one ever slipped through, its members would keep their unhashed references (and
/// fail to load) rather than stop the API.
fn build(sources: &'static [Source], index: &[u8]) -> Console {
    let mut names: HashMap<&'static str, String> = HashMap::new();
    let mut assets = HashMap::new();
    let mut pending: Vec<&Source> = sources.iter().collect();
    while !pending.is_empty() {
        let ready = pending.iter().position(|s| {
            references(s.bytes, sources)
                .iter()
                .all(|r| *r == s.name || names.contains_key(r))
        });
        let (source, forced) = match ready {
            Some(i) => (pending.remove(i), false),
            None => (pending.remove(0), true),
        };
        if forced {
            log::error!(
                "console asset {} is part of an import cycle; it will not load",
                source.name
            );
        }
        let bytes = rewrite(source.bytes, &names);
        let hashed = hashed_name(source.name, &short_hash(&bytes));
        names.insert(source.name, hashed.clone());
        assets.insert(
            hashed,
            Asset {
                content_type: source.content_type,
                bytes,
            },
        );
    }
    Console {
        index: rewrite(index, &names),
        assets,
        names,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn every_reference_is_rewritten_to_an_asset_that_exists() {
        let console = build(SOURCES, INDEX);
        let index = text(&console.index);
        for source in SOURCES {
            let plain = format!("\"/assets/{}\"", source.name);
            assert!(!index.contains(&plain), "index.html still has {plain}");
        }
        let mut documents: Vec<String> = vec![index];
        documents.extend(console.assets.values().map(|a| text(&a.bytes)));
        for document in &documents {
            for (at, _) in document.match_indices("\"/assets/") {
                let name = document[at + 9..].split('"').next().unwrap();
                assert!(console.assets.contains_key(name), "dangling /assets/{name}");
            }
            for line in document.lines().filter(|l| l.contains(" from \"./")) {
                let name = line.split(" from \"./").nth(1).unwrap().split('"').next();
                let name = name.unwrap();
                assert!(console.assets.contains_key(name), "dangling import {name}");
            }
        }
    }

    #[test]
    fn there_is_no_import_cycle_and_no_unused_asset() {
        let console = build(SOURCES, INDEX);
        assert_eq!(console.assets.len(), SOURCES.len());
        // Everything is reachable from index.html.
        let mut seen = vec![];
        let mut todo = references(INDEX, SOURCES);
        while let Some(name) = todo.pop() {
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let source = SOURCES.iter().find(|s| s.name == name).unwrap();
            todo.extend(references(source.bytes, SOURCES));
        }
        for source in SOURCES {
            assert!(
                seen.contains(&source.name),
                "{} is never loaded",
                source.name
            );
        }
    }

    #[test]
    fn every_module_is_preloaded_so_the_page_needs_no_import_waterfall() {
        let index = text(INDEX);
        for source in SOURCES.iter().filter(|s| s.name.ends_with(".js")) {
            let preload = format!(
                "<link rel=\"modulepreload\" href=\"/assets/{}\">",
                source.name
            );
            let entry = format!("<script type=\"module\" src=\"/assets/{}\">", source.name);
            assert!(
                index.contains(&preload) || index.contains(&entry),
                "index.html neither loads nor preloads {}",
                source.name
            );
        }
    }

    #[test]
    fn a_change_in_a_module_renames_its_importers() {
        static A: &[Source] = &[
            Source {
                name: "a.js",
                content_type: JS,
                bytes: b"import { b } from \"./b.js\";",
            },
            Source {
                name: "b.js",
                content_type: JS,
                bytes: b"export const b = 1;",
            },
        ];
        static B: &[Source] = &[
            Source {
                name: "a.js",
                content_type: JS,
                bytes: b"import { b } from \"./b.js\";",
            },
            Source {
                name: "b.js",
                content_type: JS,
                bytes: b"export const b = 2;",
            },
        ];
        let one = build(A, b"<script src=\"/assets/a.js\"></script>");
        let two = build(B, b"<script src=\"/assets/a.js\"></script>");
        assert_ne!(one.names["a.js"], two.names["a.js"]);
        assert_ne!(one.names["b.js"], two.names["b.js"]);
        let a = text(&one.assets[&one.names["a.js"]].bytes);
        assert_eq!(
            a,
            format!("import {{ b }} from \"./{}\";", one.names["b.js"])
        );
        assert!(text(&one.index).contains(&one.names["a.js"]));
    }

    #[test]
    fn assets_need_no_inline_script_or_style() {
        let index = text(INDEX);
        assert!(!index.contains("style="), "inline style in index.html");
        assert!(!index.contains("<style"), "inline style in index.html");
        for (at, _) in index.match_indices("<script") {
            let tag = index[at..].split('>').next().unwrap();
            assert!(tag.contains(" src="), "inline script in index.html: {tag}");
        }
        for source in SOURCES.iter().filter(|s| s.name.ends_with(".js")) {
            let js = text(source.bytes);
            for banned in [
                ".innerHTML",
                ".outerHTML",
                "insertAdjacentHTML",
                "eval(",
                "document.write",
            ] {
                assert!(!js.contains(banned), "{} uses {banned}", source.name);
            }
            assert!(
                !js.contains("localStorage"),
                "{} uses localStorage",
                source.name
            );
            assert!(
                !js.contains("document.cookie"),
                "{} uses cookies",
                source.name
            );
        }
    }

    #[test]
    fn hashed_names_keep_the_extension() {
        assert_eq!(hashed_name("main.js", "0123456789"), "main.0123456789.js");
        assert_eq!(hashed_name("LICENSE", "0123456789"), "LICENSE.0123456789");
        assert_eq!(short_hash(b"").len(), HASH_LEN);
    }

    #[test]
    fn api_paths_are_told_apart_from_console_paths() {
        for path in ["/api", "/api/", "/api/v1/repos", "/api/v2"] {
            assert!(is_api_path(path), "{path}");
        }
        for path in [
            "/",
            "/apix",
            "/assets/x",
            "/repos/api",
            "//api/v1/repos",
            "/API/v1",
        ] {
            assert!(!is_api_path(path), "{path}");
        }
    }
}
