#!/usr/bin/env python3
"""What one call costs the local stack's moto: calls per second for GetItem, a conditional
PutItem and a 7-item TransactWriteItems (the size of a decision), from 1 and from 20 threads
over keep-alive connections. moto is one Python process: these rates bound every dev-stack
latency under load (docs/decisions.md, "Local stack").

Usage: .venv/bin/python infra/bench/moto_calls.py [--calls 300]
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AUTH = "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"


def call(conn, operation, body):
    headers = {"X-Amz-Target": f"DynamoDB_20120810.{operation}", "Content-Type": "application/x-amz-json-1.0", "Authorization": AUTH}
    conn.request("POST", "/", json.dumps(body), headers)
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise RuntimeError(f"{operation}: {response.status} {payload[:200]!r}")


def item(key):
    return {"pk": {"S": key}, "sk": {"S": "ITEM"}, "body": {"S": "x" * 200}, "n": {"N": "1"}}


def request(kind, run, thread, i):
    key = f"{run}#{thread}#{i}"
    if kind == "GetItem":
        return {"TableName": "bench", "Key": {"pk": {"S": f"seed#{i % 100}"}, "sk": {"S": "ITEM"}}, "ConsistentRead": True}
    if kind == "PutItem":
        return {"TableName": "bench", "Item": item(key), "ConditionExpression": "attribute_not_exists(pk)"}
    puts = [{"Put": {"TableName": "bench", "Item": item(f"{key}#{j}"), "ConditionExpression": "attribute_not_exists(pk)"}} for j in range(7)]
    return {"TransactItems": puts}


def rate(port, kind, threads, calls, run):
    def work(thread):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(calls):
            call(conn, kind, request(kind, run, thread, i))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return threads * calls / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300, help="calls per thread and case")
    args = parser.parse_args()
    moto = subprocess.Popen([sys.executable, os.path.join(ROOT, "infra/scripts/run_moto.py")], stdout=subprocess.PIPE, text=True)
    try:
        port = int(moto.stdout.readline().strip().rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port)
        call(conn, "CreateTable", {
            "TableName": "bench", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        })
        for i in range(100):
            call(conn, "PutItem", {"TableName": "bench", "Item": item(f"seed#{i}")})
        print("moto (waitress, patched), calls per second over keep-alive connections:")
        run = 0
        for kind in ("GetItem", "PutItem", "TransactWriteItems"):
            for threads in (1, 20):
                run += 1
                per_second = rate(port, kind, threads, max(1, args.calls // threads), run)
                print(f"  {kind:<20} {threads:>2} thread(s): {per_second:7.0f} calls/s  ({1000 / per_second:5.2f} ms per call)")
    finally:
        moto.kill()


if __name__ == "__main__":
    main()
