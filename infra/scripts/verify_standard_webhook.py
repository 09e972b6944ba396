#!/usr/bin/env python3
"""Verifies one outbound webhook delivery with the `standardwebhooks` package (PyPI, pinned in
infra/requirements.txt): an implementation of the Standard Webhooks specification that is not
ours. The e2e tests (infra/dev-gateway/tests/e2e/webhooks.rs) run it with the venv's python.

Reads JSON on stdin: {"secret": "whsec_...", "headers": {name: value}, "body": "<the raw body>"}.
Prints the verified payload's type and exits 0, or prints why and exits 1.

Usage: .venv/bin/python infra/scripts/verify_standard_webhook.py < delivery.json
"""
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> int:
    delivery = json.load(sys.stdin)
    try:
        payload = Webhook(delivery["secret"]).verify(delivery["body"].encode(), delivery["headers"])
    except WebhookVerificationError as e:
        print(f"not verified: {e}")
        return 1
    print(payload["type"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
