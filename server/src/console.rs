//! The operations-centre console: the page, its scripts and styles, the vendored map library
//! and the offline base map (`console/vendor/`, written by `scripts/map/vendor.sh`), all
//! compiled into the binary so that a fresh `cargo run` serves it with nothing else to build or
//! fetch. Served at `/` and `/console/{file}` (`/console/vendor/…` for the vendored files).
//!
//! Files are revalidated on every load (`no-cache` with an `ETag` of their content): a hub
//! upgraded in place never leaves a wall screen running yesterday's script, and an unchanged
//! file costs a 304.

use axum::extract::{rejection::PathRejection, Path, State};
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
    /// Kept gzipped (the base map's data, a fifth of its size) and sent so, with
    /// `Content-Encoding: gzip`, to the clients that accept it: every browser does.
    gzipped: bool,
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../console/", $name)),
            gzipped: false,
        }
    };
    ($name:literal, $type:expr, gzipped) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../console/", $name, ".gz")),
            gzipped: true,
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const GEOJSON: &str = "application/geo+json";

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
    asset!("basemap.js", JS),
    asset!("places.js", JS),
    asset!("placesearch.js", JS),
    asset!("vendor/maplibre-gl-csp.js", JS),
    asset!("vendor/maplibre-gl-csp-worker.js", JS),
    asset!("vendor/maplibre-gl.css", "text/css; charset=utf-8"),
    asset!("vendor/basemap/land.geojson", GEOJSON, gzipped),
    asset!("vendor/basemap/water.geojson", GEOJSON, gzipped),
    asset!("vendor/basemap/borders.geojson", GEOJSON, gzipped),
    asset!("vendor/basemap/towns.geojson", GEOJSON, gzipped),
    asset!("vendor/basemap/provinces.geojson", GEOJSON, gzipped),
    asset!(
        "vendor/basemap/places.tsv",
        "text/tab-separated-values; charset=utf-8",
        gzipped
    ),
];

pub fn router() -> Router<Arc<Hub>> {
    Router::new()
        .route(
            "/",
            get(|State(hub): State<Arc<Hub>>, headers: HeaderMap| async move {
                serve(&hub, "index.html", &headers)
            }),
        )
        .route("/console/map.json", get(map_settings))
        .route(
            "/console/{*file}",
            // A name that is not even UTF-8 is no file of ours: the contract's 404, not axum's text.
            get(
                |State(hub): State<Arc<Hub>>, file: Result<Path<String>, PathRejection>, headers: HeaderMap| async move {
                    match file {
                        Ok(Path(file)) => serve(&hub, &file, &headers),
                        Err(_) => ApiError::NotFound("file").into_response(),
                    }
                },
            ),
        )
}

/// An online raster tile source for the map: its URL template and the origin the page's
/// Content-Security-Policy lets the page fetch from.
#[derive(Debug, PartialEq, Eq)]
pub struct TileSource {
    pub url: String,
    pub origin: String,
}

impl TileSource {
    /// `http(s)://host[:port]/…{z}…{x}…{y}…`, with nothing in the origin that could widen the
    /// policy it is written into (no spaces, quotes, semicolons, wildcards or credentials).
    pub fn parse(url: &str) -> Result<TileSource, String> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or("must start with https:// or http://")?;
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        {
            return Err("needs a host name (letters, digits, dots, hyphens, a port)".into());
        }
        if url
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | ','))
        {
            return Err("must not contain spaces, quotes, commas or semicolons".into());
        }
        if !["{z}", "{x}", "{y}"].iter().all(|part| url.contains(part)) {
            return Err("must contain {z}, {x} and {y}".into());
        }
        Ok(TileSource {
            url: url.to_owned(),
            origin: url[..url.len() - rest.len() + host.len()].to_owned(),
        })
    }
}

/// What the page needs to build its map beyond the files: the online tile source, if any.
async fn map_settings(State(hub): State<Arc<Hub>>) -> Response {
    let tiles = hub
        .config
        .map_tile_url
        .as_deref()
        .and_then(|u| TileSource::parse(u).ok());
    let body = serde_json::json!({ "tile_url": tiles.map(|t| t.url) });
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        axum::Json(body),
    )
        .into_response()
}

/// The console is its own files only: no inline script or style, no other origin (but the
/// configured tile source's, for its images), no framing. A script injected through data (a
/// report's text, say) therefore cannot run, which matters because the session token lives in
/// the page's localStorage.
fn content_security_policy(hub: &Hub) -> String {
    let tiles = hub
        .config
        .map_tile_url
        .as_deref()
        .and_then(|u| TileSource::parse(u).ok())
        .map(|t| format!(" {}", t.origin))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{tiles}; \
         connect-src 'self'{tiles}; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
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
            gzipped: false,
        },
        Asset {
            name: "country-codes.json",
            content_type: "application/json",
            body: crate::countries::feature_codes_json(),
            gzipped: false,
        },
    ]
}

fn serve(hub: &Hub, name: &str, headers: &HeaderMap) -> Response {
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
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&content_security_policy(hub))
                .unwrap_or(HeaderValue::from_static("default-src 'none'")),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))];
    if asset.gzipped {
        if !accepts_gzip(headers) {
            return ApiError::NotAcceptable("this file is sent gzipped only (Accept-Encoding: gzip)").into_response();
        }
        let encoding = [
            (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
            (header::VARY, HeaderValue::from_static("accept-encoding")),
        ];
        return (common, content_type, encoding, asset.body).into_response();
    }
    (common, content_type, asset.body).into_response()
}

/// Whether `Accept-Encoding` takes gzip (not refused with `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0" || p.replace(' ', "") == "q=0.000"
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_accepted_unless_refused() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br, zstd"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("br, deflate"));
        assert!(!with("gzip;q=0, br"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn a_tile_source_names_its_origin_and_nothing_more() {
        let tiles = TileSource::parse("https://tile.example.org:8443/osm/{z}/{x}/{y}.png").unwrap();
        assert_eq!(tiles.origin, "https://tile.example.org:8443");
        assert_eq!(
            TileSource::parse("http://127.0.0.1:9/{z}/{x}/{y}.png").unwrap().origin,
            "http://127.0.0.1:9"
        );
        for bad in [
            "ftp://tiles.example.org/{z}/{x}/{y}.png",
            "https://tiles.example.org/{z}/{x}.png",
            "https:///{z}/{x}/{y}.png",
            "https://*.example.org/{z}/{x}/{y}.png",
            "https://user:pw@tiles.example.org/{z}/{x}/{y}.png",
            "https://tiles.example.org; script-src *;/{z}/{x}/{y}",
            "https://tiles.example.org/{z}/{x}/{y}.png 'unsafe-inline'",
        ] {
            assert!(TileSource::parse(bad).is_err(), "{bad}");
        }
    }
}
