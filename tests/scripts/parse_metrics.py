"""Parses a scrape of the hub's /metrics with the Prometheus project's own OpenMetrics parser
(prometheus_client), run by tests/tests/e2e/operations.rs: the exposition must be valid
OpenMetrics, not merely look like it.

    curl -s HOST:PORT/metrics | python3 parse_metrics.py

Prints every sample as one JSON object a line: {"name", "labels", "value"}. Exits 1 with the
parser's complaint on standard error when the text is not valid OpenMetrics.
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

try:
    for family in text_string_to_metric_families(sys.stdin.read()):
        for sample in family.samples:
            print(json.dumps({"name": sample.name, "labels": sample.labels, "value": sample.value}))
except ValueError as e:
    print(f"not valid OpenMetrics: {e}", file=sys.stderr)
    sys.exit(1)
