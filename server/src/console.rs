//! The operations-centre console: the page, its scripts and styles, and the base map, all
//! compiled into the binary so that a fresh `cargo run` serves it with nothing else to build or
//! fetch. Served at `/` and `/console/{file}`.
//!
//! Files are revalidated on every load (`no-cache` with an `ETag` of their content): a hub
//! upgraded in place never leaves a wall screen running yesterday's script, and an unchanged
//! file costs a 304.

use axum::extract::{rejection::PathRejection, Path};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

use crate::error::ApiError;
use crate::hub::Hub;

/// One file of the console.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("map.js", JS),
    asset!("alerts.js", JS),
    asset!("accounting.js", JS),
    asset!("sos.js", JS),
    asset!("journeys.js", JS),
    asset!("reports.js", JS),
    asset!("advisories.js", JS),
    asset!("accounts.js", JS),
    asset!("format.js", JS),
    asset!("zones.js", JS),
    asset!("guard.js", JS),
    asset!("history.js", JS),
    asset!("warnings.js", JS),
];

pub fn router() -> Router<Arc<Hub>> {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { serve("index.html", &headers) }),
        )
        .route(
            "/console/{file}",
            // A name that is not even UTF-8 is no file of ours: the contract's 404, not axum's text.
            get(
                |file: Result<Path<String>, PathRejection>, headers: HeaderMap| async move {
                    match file {
                        Ok(Path(file)) => serve(&file, &headers),
                        Err(_) => ApiError::NotFound("file").into_response(),
                    }
                },
            ),
        )
}

/// The files made by the hub rather than kept in `console/`: the base map, and which country
/// (ISO alpha-2) each of its shapes is.
fn generated() -> [Asset; 2] {
    [
        Asset {
            name: "countries.topojson",
            content_type: "application/json",
            body: crate::countries::topojson(),
        },
        Asset {
            name: "country-codes.json",
            content_type: "application/json",
            body: crate::countries::feature_codes_json(),
        },
    ]
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let generated = generated();
    let Some((index, asset)) = ASSETS
        .iter()
        .chain(&generated)
        .enumerate()
        .find(|(_, a)| a.name == name)
    else {
        return ApiError::NotFound("console file").into_response();
    };
    let tag = &entity_tags()[index];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes());
    let common = [
        (
            header::ETAG,
            HeaderValue::from_str(tag).unwrap_or(HeaderValue::from_static("\"\"")),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        // The console is its own files only: no inline script or style, no other origin, no
        // framing. A script injected through data (a report's text, say) therefore cannot run,
        // which matters because the session token lives in the page's localStorage.
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))];
    (common, content_type, asset.body).into_response()
}

/// The ETag of every asset, then of the generated files, hashed once at first use.
fn entity_tags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .chain(&generated())
            .map(|asset| {
                let digest = Sha256::digest(asset.body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}
