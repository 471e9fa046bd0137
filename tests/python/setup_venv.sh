#!/usr/bin/env bash
# Create (or update) the Python venv the OTLP integration tests use: <repo>/.venv
# with the pinned OpenTelemetry SDK and exporters of tests/python/requirements.txt.
# Idempotent: a venv whose installed requirements match is left as it is.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/.venv"
req="$here/requirements.txt"
stamp="$venv/.caviard-requirements"
python="${PYTHON:-python3}"

if [[ -x "$venv/bin/python" && -f "$stamp" ]] && cmp -s "$req" "$stamp"; then
    echo "setup_venv: $venv is up to date"
    exit 0
fi
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
"$venv/bin/python" -c 'import opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http, opentelemetry.sdk'
cp "$req" "$stamp"
echo "setup_venv: installed $(wc -l < "$req") requirement lines into $venv"
