#!/usr/bin/env bash
# Signs a webhook body with the dev app secret and POSTs it to the dev gateway, as Meta would.
# Usage: infra/scripts/send-webhook.sh payload.json   (reads .dev/env written by `make dev`)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f .dev/env ] && . .dev/env
file="${1:?usage: send-webhook.sh payload.json}"
sig="sha256=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), open(sys.argv[2],"rb").read(), hashlib.sha256).hexdigest())' "${MAX_WHATSAPP_APP_SECRET:-dev-app-secret}" "$file")"
curl -sS -X POST "${MAX_API_URL:-http://127.0.0.1:3000}/webhooks/whatsapp" \
  -H 'content-type: application/json' -H "x-hub-signature-256: $sig" --data-binary "@$file"
echo
