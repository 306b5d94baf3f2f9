#!/usr/bin/env bash
# Smoke test of the image and the compose stack, where a Docker engine runs:
# build the image, bring the stack up, wait until every service is ready, start an
# invoice run through the API (it goes on the queue), wait until a worker resolved it,
# and tear everything down (volumes included), whatever happened.
#
#   deploy/smoke.sh            # secrets are made up for the run unless already set
#   KEEP=1 deploy/smoke.sh     # leave the stack up afterwards
#
# Needs docker with the compose plugin, and python3 (to read JSON). See docs/deploy.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="proctor-smoke-$$"
compose=(docker compose --project-name "$project" --file "$here/compose.yaml")
port="${PROCTOR_SERVER_PORT:-18700}"
timeout_s="${SMOKE_TIMEOUT_S:-180}"

export PROCTOR_SERVER_PORT="$port"
export PROCTOR_GATEWAY_PORT="${PROCTOR_GATEWAY_PORT:-18787}"
export POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}"
export PROCTOR_SIGNING_KEY="${PROCTOR_SIGNING_KEY:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}"
export PROCTOR_GATEWAY_KEY="${PROCTOR_GATEWAY_KEY:-$(python3 -c 'import secrets; print("sk-" + secrets.token_hex(16))')}"

say() { printf 'smoke: %s\n' "$*" >&2; }

cleanup() {
    status=$?
    if [ "$status" -ne 0 ]; then
        say "failed; the services' last lines:"
        "${compose[@]}" logs --tail 40 >&2 || true
    fi
    if [ -z "${KEEP:-}" ]; then
        "${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
    fi
    exit "$status"
}
trap cleanup EXIT

json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }

docker info >/dev/null 2>&1 || { say "no Docker engine answers: nothing can be built here"; exit 2; }

say "building the image"
"${compose[@]}" build

say "starting the stack"
"${compose[@]}" up --detach

# Each long-running service is ready when its container's healthcheck (the image's
# HEALTHCHECK: GET its PROCTOR_HEALTH_URL, a /readyz) passes.
deadline=$(( $(date +%s) + timeout_s ))
for service in server worker gateway; do
    while :; do
        id="$("${compose[@]}" ps --quiet "$service")"
        health="$(docker inspect --format '{{.State.Health.Status}}' "$id" 2>/dev/null || echo starting)"
        [ "$health" = healthy ] && break
        [ "$(date +%s)" -lt "$deadline" ] || { say "$service is $health after ${timeout_s} s"; exit 1; }
        sleep 2
    done
    say "$service is ready"
done

curl --fail --silent --show-error "http://127.0.0.1:$port/readyz" >/dev/null

say "minting an operator key"
key="$("${compose[@]}" exec -T server proctor keys create --role operator --tenant default \
    --name smoke --json | json "['key']")"

say "starting an invoice run through the API"
input="$("${compose[@]}" exec -T server python -c \
    'import json; from proctor.examples import invoice; print(json.dumps(invoice.sample_input("clean")))')"
answer="$(curl --fail --silent --show-error -X POST "http://127.0.0.1:$port/api/v1/runs" \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"workflow\": \"invoice_reconciliation\", \"input\": $input}")"
run_id="$(printf '%s' "$answer" | json "['run_id']")"
status="$(printf '%s' "$answer" | json "['status']")"
[ "$status" = queued ] || { say "expected the run queued, got $status"; exit 1; }
say "run $run_id is queued"

deadline=$(( $(date +%s) + timeout_s ))
while :; do
    summary="$(curl --fail --silent --show-error "http://127.0.0.1:$port/api/v1/runs/$run_id" \
        -H "Authorization: Bearer $key")"
    status="$(printf '%s' "$summary" | json "['status']")"
    if [ "$status" = finished ]; then
        outcome="$(printf '%s' "$summary" | json "['outcome']")"
        [ "$outcome" = resolved ] || { say "run $run_id ended $outcome, not resolved"; exit 1; }
        break
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { say "run $run_id still $status after ${timeout_s} s"; exit 1; }
    sleep 1
done

say "run $run_id resolved by a worker: the stack works"
