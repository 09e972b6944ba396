"""Checks of moto_patches.py's patches 11 (an index Query reads only the asked partition) and
12 (parsed expressions kept per expression string): moto with every patch must answer every
request exactly as moto without those two (patches 1-10 only) does, errors included.

Two servers are started through run_moto.py (one with every patch, one `without` 11 and 12),
each gets the same table (string keys pk/sk, index gsi1 on gsi1pk/gsi1sk, as template.yaml's)
and the same 2,000 items, some outside the index (no gsi1pk, or gsi1pk without
gsi1sk), then the same requests: index and table queries (paging with Limit both ways, key
conditions, filters, projections, counts), updates, puts, deletes, batch writes and
transactions that move items between index partitions, failing conditions and malformed
expressions (each sent twice: a parse that failed must fail again, not come from a cache).
Every answer of one server is compared with the other's. Patch 14 (GetRecords written with
json.dumps): `StreamRecordsAsJson` compares its answers with moto's serializer's. And patch 13 (every DynamoDB request
under one lock): `ItemsReadWhole` races GetItem and Query against 200 updates of one item's 40
attributes and finds no read of a half-written item (without the patch, 32 of 1,088 reads were).
Run by `make test`:

    .venv/bin/python -m unittest infra/scripts/test_moto_patches.py

With --bench, a microbenchmark instead (moto with and without patches 11 and 12, same
machine, alternating runs; medians): an index Query on a 30,000-item table, UpdateItem and
TransactWriteItems rates over keep-alive connections:

    .venv/bin/python infra/scripts/test_moto_patches.py --bench [--items 30000] [--runs 5]
"""

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE = "max"
LISTS = [f"ORG#{o}#CALLS#{s}" for o in range(2) for s in ("ready", "missed", "done")] + ["ORG#9#CALLS#ready"]
STATUSES = ["ready", "missed", "done", "in_progress"]


# ---------------------------------------------------------------- the servers


def serve(without):
    """Runs run_moto.py's server with moto_patches.apply(without=...); prints which of patches
    11 and 12 are in effect before run_moto prints `ready`."""
    sys.path.insert(0, HERE)
    import moto_patches
    import run_moto
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.table import Table

    def apply():
        moto_patches.apply(without=without)
        p11 = moto_patches._narrow_index_queries and "_reindexing_put" in Table.put_item.__qualname__
        p12 = ConditionExpressionParser.parse is moto_patches._parse_condition
        p13 = moto_patches._whole_items
        p14 = moto_patches._stream_records_fast
        on = lambda p: "on" if p else "off"
        print(f"patches 11={on(p11)} 12={on(p12)} 13={on(p13)} 14={on(p14)}", flush=True)

    run_moto.apply_moto_patches = apply
    sys.argv = [os.path.join(HERE, "run_moto.py")]
    run_moto.main()


class Server:
    def __init__(self, without):
        # moto's tracebacks for the 500s the checks provoke go to a file, not the test's output.
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", ",".join(map(str, without))],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.patches = self.process.stdout.readline().strip()
        ready = self.process.stdout.readline().strip()
        if not ready.startswith("ready "):
            self.process.kill()
            self.stderr.seek(0)
            raise RuntimeError(f"moto did not start: {self.patches!r} {ready!r} {self.stderr.read()[-2000:]}")
        self.url = ready.split(" ", 1)[1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "dynamodb",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            # No retries: a retried error would hide a difference.
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def stop(self):
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.stderr.close()


def create_table(client):
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gsi1pk", "gsi1sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "gsi1",
            "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}, {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )


def items(count, seed=18):
    """Deterministic items: 1 in 5 outside the index, 1 in 20 with gsi1pk but no gsi1sk (sparse),
    the rest in one of LISTS with few distinct gsi1sk (ties, broken by the table's keys)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        item = {
            "pk": {"S": f"ORG#{i % 40}"},
            "sk": {"S": f"ITEM#{rng.randrange(10**6):06d}#{i}"},
            "status": {"S": rng.choice(STATUSES)},
            "version": {"N": str(rng.randrange(1, 4))},
            "n": {"N": str(rng.randrange(-50, 50))},
        }
        if rng.random() < 0.3:
            item["flag"] = {"BOOL": rng.random() < 0.5}
        if rng.random() < 0.3:
            item["tags"] = {"SS": sorted({f"t{rng.randrange(5)}" for _ in range(rng.randrange(1, 4))})}
        if rng.random() < 0.2:
            item["detail"] = {"M": {"a": {"N": str(i)}, "b": {"L": [{"S": "x"}, {"N": "2"}]}}}
        r = rng.random()
        if r < 0.2:
            pass
        elif r < 0.25:
            item["gsi1pk"] = {"S": rng.choice(LISTS)}
        else:
            item["gsi1pk"] = {"S": rng.choice(LISTS)}
            item["gsi1sk"] = {"S": f"2026-12-{rng.randrange(1, 31):02d}#{rng.randrange(8)}"}
        out.append(item)
    return out


def batch_write(client, all_items):
    for start in range(0, len(all_items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in all_items[start:start + 25]]
        out = client.batch_write_item(RequestItems={TABLE: requests})
        if out.get("UnprocessedItems"):
            raise RuntimeError("unprocessed items")


# ---------------------------------------------------------------- the checks


def answer(client, operation, kwargs):
    from botocore.exceptions import ClientError

    try:
        out = getattr(client, operation)(**kwargs)
        out.pop("ResponseMetadata", None)
        return "ok", out
    except ClientError as e:
        out = dict(e.response)
        out.pop("ResponseMetadata", None)
        return "error", out


class MotoPatches(unittest.TestCase):
    COUNT = 2000

    @classmethod
    def setUpClass(cls):
        cls.servers = []
        try:
            cls.servers.append(Server(without=()))
            cls.servers.append(Server(without=(11, 12)))
        except Exception:
            for server in cls.servers:
                server.stop()
            raise
        cls.patched = cls.servers[0].client()
        cls.baseline = cls.servers[1].client()
        data = items(cls.COUNT)
        for client in (cls.patched, cls.baseline):
            create_table(client)
            batch_write(client, data)
        cls.keys = [{"pk": i["pk"], "sk": i["sk"]} for i in data]

    @classmethod
    def tearDownClass(cls):
        for server in cls.servers:
            server.stop()

    def both(self, operation, **kwargs):
        """The patched server's answer, checked equal to the baseline's."""
        patched = answer(self.patched, operation, kwargs)
        baseline = answer(self.baseline, operation, kwargs)
        self.assertEqual(patched, baseline, f"{operation} {json.dumps(kwargs, default=str)[:400]}")
        return patched

    def ok(self, operation, **kwargs):
        status, out = self.both(operation, **kwargs)
        self.assertEqual(status, "ok", f"{operation} failed on both: {out}")
        return out

    def error(self, operation, code, **kwargs):
        """Sent twice: an expression that failed to parse must fail again the same way (the
        servers' answers are compared, message included, then the code checked)."""
        for _ in range(2):
            status, out = self.both(operation, **kwargs)
            self.assertEqual((status, out["Error"]["Code"]), ("error", code), f"{operation}: {out}")
        return out

    def pages(self, **kwargs):
        """Every page of a query, each page compared; returns the pages."""
        pages = []
        start = None
        while True:
            page = self.ok("query", **kwargs, **({"ExclusiveStartKey": start} if start else {}))
            pages.append(page)
            start = page.get("LastEvaluatedKey")
            if not start:
                return pages

    def index_queries(self, lists=LISTS + ["ORG#0#CALLS#none"]):
        """Index queries over every list; returns how many items they returned in all."""
        returned = 0
        for value in lists:
            values = {":p": {"S": value}}
            for forward in (True, False):
                common = {"TableName": TABLE, "IndexName": "gsi1", "ScanIndexForward": forward}
                whole = self.ok("query", **common, KeyConditionExpression="gsi1pk = :p", ExpressionAttributeValues=values)
                returned += whole["Count"]
                paged = self.pages(**common, KeyConditionExpression="gsi1pk = :p", ExpressionAttributeValues=values, Limit=37)
                self.assertEqual([i for p in paged for i in p["Items"]], whole["Items"])
                if whole["Count"] > 37:
                    self.assertGreater(len(paged), 1)
                self.pages(
                    **common, Limit=19,
                    KeyConditionExpression="#k = :p AND gsi1sk BETWEEN :a AND :b",
                    ExpressionAttributeNames={"#k": "gsi1pk"},
                    ExpressionAttributeValues={**values, ":a": {"S": "2026-12-05"}, ":b": {"S": "2026-12-09#3"}},
                )
                self.ok("query", **common, KeyConditionExpression="gsi1pk = :p AND begins_with(gsi1sk, :d)",
                        ExpressionAttributeValues={**values, ":d": {"S": "2026-12-1"}})
                self.ok("query", **common, KeyConditionExpression="gsi1pk = :p AND gsi1sk <= :to", Limit=20,
                        ExpressionAttributeValues={**values, ":to": {"S": "2026-12-15"}})
                self.pages(
                    **common, Limit=71, KeyConditionExpression="gsi1pk = :p",
                    FilterExpression="(attribute_exists(flag) AND n >= :min) OR #st IN (:s1, :s2) AND NOT contains(tags, :t)",
                    ExpressionAttributeNames={"#st": "status"},
                    ExpressionAttributeValues={**values, ":min": {"N": "0"}, ":s1": {"S": "missed"}, ":s2": {"S": "done"}, ":t": {"S": "t1"}},
                )
                self.ok("query", **common, KeyConditionExpression="gsi1pk = :p", ExpressionAttributeValues=values,
                        ProjectionExpression="pk, gsi1sk, #st, detail.b[1]", ExpressionAttributeNames={"#st": "status"})
                self.ok("query", **common, KeyConditionExpression="gsi1pk = :p", Select="COUNT",
                        FilterExpression="attribute_exists(tags) AND size(tags) > :one", ExpressionAttributeValues={**values, ":one": {"N": "1"}})
        return returned

    def table_queries(self):
        for org in (0, 7, 39):
            values = {":pk": {"S": f"ORG#{org}"}}
            for forward in (True, False):
                self.pages(TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues=values,
                           ScanIndexForward=forward, Limit=9)
                self.pages(TableName=TABLE, KeyConditionExpression="pk = :pk AND begins_with(sk, :s)", ScanIndexForward=forward,
                           FilterExpression="attribute_not_exists(gsi1pk) OR version <> :v", Limit=5,
                           ExpressionAttributeValues={**values, ":s": {"S": "ITEM#1"}, ":v": {"N": "2"}})

    def pages_scan(self):
        pages, start = [], None
        while True:
            page = self.ok("scan", TableName=TABLE, Limit=500, **({"ExclusiveStartKey": start} if start else {}))
            pages.append(page)
            start = page.get("LastEvaluatedKey")
            if not start:
                return pages

    # ------------------------------------------------------------ tests

    def test_servers_differ_only_by_patches_11_and_12(self):
        self.assertEqual(self.servers[0].patches, "patches 11=on 12=on 13=on 14=on")
        self.assertEqual(self.servers[1].patches, "patches 11=off 12=off 13=on 14=on")

    def test_index_and_table_queries(self):
        returned = self.index_queries()
        self.table_queries()
        # Every list, both ways, gave exactly the items with both index keys; the sparse ones
        # (gsi1pk without gsi1sk) and those without gsi1pk are in the data and were left out.
        scan = [i for p in self.pages_scan() for i in p["Items"]]
        in_lists = [i for i in scan if i.get("gsi1pk", {}).get("S") in LISTS]
        indexed = [i for i in in_lists if "gsi1sk" in i]
        self.assertEqual(returned, 2 * len(indexed))
        self.assertGreater(len(in_lists), len(indexed))
        self.assertGreater(len(scan), len(in_lists))

    def test_writes_move_items_between_index_partitions(self):
        for value in LISTS:  # the patched server builds its index map here
            self.ok("query", TableName=TABLE, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p", ExpressionAttributeValues={":p": {"S": value}})
        rng = random.Random(7)
        keys = rng.sample(self.keys, 400)
        condition_failed = 0
        for n, key in enumerate(keys[:120]):
            out = self.both(
                "update_item", TableName=TABLE, Key=key, ReturnValues="ALL_NEW",
                UpdateExpression="SET gsi1pk = :l, gsi1sk = :s, #st = :st ADD version :one",
                ConditionExpression="attribute_exists(pk) AND #st <> :done",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={":l": {"S": rng.choice(LISTS)}, ":s": {"S": f"2026-12-{n % 28 + 1:02d}#m"},
                                           ":st": {"S": "ready"}, ":one": {"N": "1"}, ":done": {"S": "done"}},
            )
            condition_failed += out[0] == "error"
        self.assertGreater(condition_failed, 0)
        self.assertLess(condition_failed, 120)
        for key in keys[120:160]:  # out of the index
            self.ok("update_item", TableName=TABLE, Key=key, UpdateExpression="REMOVE gsi1pk, gsi1sk SET n = n + :one",
                    ExpressionAttributeValues={":one": {"N": "1"}})
        for key in keys[160:180]:  # sparse: hash key kept, range key gone
            self.ok("update_item", TableName=TABLE, Key=key, UpdateExpression="SET gsi1pk = :l REMOVE gsi1sk",
                    ExpressionAttributeValues={":l": {"S": LISTS[0]}})
        for n in range(20):  # upserts straight into the index
            self.ok("update_item", TableName=TABLE, Key={"pk": {"S": "ORG#new"}, "sk": {"S": f"NEW#{n}"}},
                    UpdateExpression="SET gsi1pk = :l, gsi1sk = :s", ExpressionAttributeValues={":l": {"S": LISTS[n % 3]}, ":s": {"S": f"2026-12-0{n % 9 + 1}"}})
        for n, key in enumerate(keys[180:220]):  # puts replacing items
            self.ok("put_item", TableName=TABLE, Item={**key, "gsi1pk": {"S": LISTS[n % len(LISTS)]}, "gsi1sk": {"S": "2026-12-20#p"}, "version": {"N": "1"}})
        for key in keys[220:250]:
            self.both("delete_item", TableName=TABLE, Key=key, ConditionExpression="version < :v", ExpressionAttributeValues={":v": {"N": "3"}})
        self.ok("batch_write_item", RequestItems={TABLE: [{"DeleteRequest": {"Key": k}} for k in keys[250:265]]
                                                  + [{"PutRequest": {"Item": {**k, "gsi1pk": {"S": LISTS[1]}, "gsi1sk": {"S": "2026-12-21"}}}} for k in keys[265:275]]})
        for n in range(0, 60, 4):  # transactions: put, update (move), delete, condition check
            a, b, c, d = keys[275 + n:279 + n]
            self.both("transact_write_items", TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**a, "gsi1pk": {"S": LISTS[2]}, "gsi1sk": {"S": f"2026-12-22#{n}"}}}},
                {"Update": {"TableName": TABLE, "Key": b, "UpdateExpression": "SET gsi1pk = :l, gsi1sk = :s",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":l": {"S": LISTS[3]}, ":s": {"S": f"2026-12-23#{n}"}}}},
                {"Delete": {"TableName": TABLE, "Key": c}},
                {"ConditionCheck": {"TableName": TABLE, "Key": d, "ConditionExpression": "version >= :v",
                                    "ExpressionAttributeValues": {":v": {"N": str(n % 3 + 1)}}}},
            ])
        after = self.index_queries()
        self.assertGreater(after, 0)
        self.table_queries()
        self.pages_scan()

    def test_same_expression_with_other_values(self):
        key = {"pk": {"S": "ORG#values"}, "sk": {"S": "ONE"}}
        self.ok("put_item", TableName=TABLE, Item={**key, "version": {"N": "1"}})
        outcomes = []
        for n in range(1, 7):
            # The same strings every time, other values: the first three pass ("version = :v" with
            # :v 1, 2, 3 as the version goes 1 -> 4), the next three (:v 1) fail.
            status, out = self.both(
                "update_item", TableName=TABLE, Key=key, ReturnValues="ALL_NEW",
                UpdateExpression="SET #w = :w ADD version :one", ConditionExpression="version = :v",
                ExpressionAttributeNames={"#w": "what" if n % 2 else "other"},
                ExpressionAttributeValues={":w": {"S": f"w{n}"}, ":one": {"N": "1"}, ":v": {"N": str(n if n <= 3 else 1)}},
            )
            outcomes.append(status)
        self.assertEqual(outcomes, ["ok", "ok", "ok", "error", "error", "error"])
        item = self.ok("get_item", TableName=TABLE, Key=key)["Item"]
        self.assertEqual((item["what"], item["other"], item["version"]), ({"S": "w3"}, {"S": "w2"}, {"N": "4"}))
        # Richer update expressions (paths, indexes, functions, arithmetic, every clause), each
        # string sent three times with other values; and upserts (moto validates twice then).
        rich = {"pk": {"S": "ORG#values"}, "sk": {"S": "RICH"}}
        self.ok("put_item", TableName=TABLE, Item={
            **rich, "a": {"M": {"b": {"L": [{"N": "0"}, {"N": "1"}, {"M": {"c": {"N": "5"}}}]}}}, "d": {"L": [{"S": "x"}]},
            "e": {"L": [{"N": str(i)} for i in range(12)]}, "tags": {"SS": ["t0", "t1", "t2", "t3"]}, "n": {"N": "1"},
            "m": {"N": "2"}, "y": {"N": "10"}, "cnt": {"N": "0"}, "places": {"M": {"w1": {"S": "1"}, "w2": {"S": "2"}, "w3": {"S": "3"}}},
            "version": {"N": "1"},
        })
        for n in range(3):
            self.ok("update_item", TableName=TABLE, Key=rich, ReturnValues="ALL_NEW",
                    UpdateExpression="SET a.b[2].c = if_not_exists(a.b[2].c, :zero) + :one, d = list_append(d, :l) REMOVE e[1], e[3] DELETE tags :t",
                    ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": str(n + 1)}, ":l": {"L": [{"N": str(n)}]}, ":t": {"SS": [f"t{n}"]}})
            self.ok("update_item", TableName=TABLE, Key=rich, ReturnValues="UPDATED_NEW",
                    UpdateExpression="SET #c0 = #c0 + :c0, x = y - :c1 ADD n :one, m :two",
                    ExpressionAttributeNames={"#c0": "cnt"}, ExpressionAttributeValues={":c0": {"N": str(n)}, ":c1": {"N": str(2 * n)}, ":one": {"N": "1"}, ":two": {"N": "-2"}})
            self.ok("update_item", TableName=TABLE, Key=rich, ReturnValues="ALL_OLD",
                    UpdateExpression="REMOVE places.#waiter ADD version :one", ExpressionAttributeNames={"#waiter": f"w{n + 1}"},
                    ExpressionAttributeValues={":one": {"N": "1"}})
            self.ok("update_item", TableName=TABLE, Key={"pk": {"S": "ORG#values"}, "sk": {"S": f"UPSERT#{n % 2}"}}, ReturnValues="ALL_NEW",
                    UpdateExpression="SET a = if_not_exists(a, :zero) + :one, gsi1pk = :l, gsi1sk = :s",
                    ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": str(n + 1)}, ":l": {"S": LISTS[n]}, ":s": {"S": "u"}})
        rich_item = self.ok("get_item", TableName=TABLE, Key=rich)["Item"]
        self.assertEqual((rich_item["a"]["M"]["b"]["L"][2]["M"]["c"], rich_item["cnt"], rich_item["places"]),
                         ({"N": "11"}, {"N": "3"}, {"M": {}}))
        # The same condition and filter strings with the names pointing elsewhere.
        outcomes = []
        for name in ("what", "other", "what", "missing"):
            status, _ = self.both("update_item", TableName=TABLE, Key=key, UpdateExpression="SET seen = :w",
                                  ConditionExpression="#c = :w", ExpressionAttributeNames={"#c": name},
                                  ExpressionAttributeValues={":w": {"S": "w3"}})
            outcomes.append(status)
        self.assertEqual(outcomes, ["ok", "error", "ok", "error"])
        counts = []
        for name in ("status", "gsi1sk", "status"):
            counts.append(self.ok("query", TableName=TABLE, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p",
                                  FilterExpression="#f = :f", ExpressionAttributeNames={"#f": name},
                                  ExpressionAttributeValues={":p": {"S": LISTS[0]}, ":f": {"S": "ready"}})["Count"])
        self.assertEqual(counts[0], counts[2])
        self.assertNotEqual(counts[0], counts[1])
        failed = self.error("update_item", "ConditionalCheckFailedException", TableName=TABLE, Key=key,
                            UpdateExpression="SET #w = :w ADD version :one", ConditionExpression="version = :v",
                            ExpressionAttributeNames={"#w": "what"}, ReturnValuesOnConditionCheckFailure="ALL_OLD",
                            ExpressionAttributeValues={":w": {"S": "no"}, ":one": {"N": "1"}, ":v": {"N": "1"}})
        self.assertEqual(failed["Item"]["version"], {"N": "4"})

    def test_malformed_expressions_fail_every_time(self):
        key = {"pk": {"S": "ORG#bad"}, "sk": {"S": "ONE"}}
        self.ok("put_item", TableName=TABLE, Item={**key, "version": {"N": "1"}, "gsi1pk": {"S": LISTS[0]}, "gsi1sk": {"S": "x"}})
        values = {":v": {"N": "1"}}
        for update in ("SET a = :v,", "SET", "REMOVE", "ADD n", "SET a = :v REMOVE", "SET a = = :v", "DELETE tags"):
            self.error("update_item", "ValidationException", TableName=TABLE, Key=key, UpdateExpression=update, ExpressionAttributeValues=values)
        # moto's parser asserts on a parenthesised value (a 500), every time.
        self.error("update_item", "500", TableName=TABLE, Key=key, UpdateExpression="SET a = (b - :v)", ExpressionAttributeValues=values)
        # moto answers most malformed conditions with a 500 (its parser raises ValueError).
        conditions = [("((version = :v))", "ValidationException"), ("status = :v", "ValidationException"),
                      ("attribute_exists(pk", "500"), ("version = = :v", "500"), ("version = :v AND", "500"),
                      ("attribute_exists(:v)", "500"), ("size(version, pk) > :v", "500"), ("version BETWEEN :v", "500")]
        for condition, code in conditions:
            self.error("update_item", code, TableName=TABLE, Key=key, UpdateExpression="SET a = :v",
                       ConditionExpression=condition, ExpressionAttributeValues=values)
            self.error("query", code, TableName=TABLE, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p",
                       FilterExpression=condition, ExpressionAttributeValues={**values, ":p": {"S": LISTS[0]}})
        # Parsed fine once (and kept), then sent without a value or a name it uses (moto: a
        # KeyError, so a 500), or with one it does not use (a ValidationException naming it).
        update = {"TableName": TABLE, "Key": key, "UpdateExpression": "SET #a = :a", "ConditionExpression": "#b = :v"}
        names, values = {"#a": "a", "#b": "version"}, {":a": {"S": "x"}, ":v": {"N": "1"}}
        self.ok("update_item", **update, ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        self.error("update_item", "500", **update, ExpressionAttributeNames=names, ExpressionAttributeValues={":a": {"S": "x"}})
        self.error("update_item", "500", **update, ExpressionAttributeNames={"#a": "a"}, ExpressionAttributeValues=values)
        unused = self.error("update_item", "ValidationException", **update, ExpressionAttributeNames={**names, "#c": "c"}, ExpressionAttributeValues=values)
        self.assertIn("{#c}", unused["Error"]["Message"])
        unused = self.error("update_item", "ValidationException", **update, ExpressionAttributeNames=names, ExpressionAttributeValues={**values, ":w": {"N": "1"}})
        self.assertIn("{:w}", unused["Error"]["Message"])
        query = {"TableName": TABLE, "IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :p", "FilterExpression": "#b = :v"}
        self.ok("query", **query, ExpressionAttributeNames={"#b": "version"}, ExpressionAttributeValues={":p": {"S": LISTS[0]}, ":v": {"N": "1"}})
        self.error("query", "500", **query, ExpressionAttributeNames={"#b": "version"}, ExpressionAttributeValues={":p": {"S": LISTS[0]}})
        self.error("query", "ValidationException", **query, ExpressionAttributeNames={"#b": "version", "#c": "c"},
                   ExpressionAttributeValues={":p": {"S": LISTS[0]}, ":v": {"N": "1"}})
        # Key conditions (not cached: moto reads the values while it parses them).
        self.ok("query", TableName=TABLE, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p AND",
                ExpressionAttributeValues={":p": {"S": LISTS[0]}})
        self.error("query", "ValidationException", TableName=TABLE, IndexName="gsi1", KeyConditionExpression="gsi1sk = :p",
                   ExpressionAttributeValues={":p": {"S": LISTS[0]}})
        self.error("query", "ValidationException", TableName=TABLE, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p",
                   ConsistentRead=True, ExpressionAttributeValues={":p": {"S": LISTS[0]}})
        self.error("query", "ResourceNotFoundException", TableName=TABLE, IndexName="nope", KeyConditionExpression="gsi1pk = :p",
                   ExpressionAttributeValues={":p": {"S": LISTS[0]}})
        # Transactions: a failing condition cancels all; a malformed update is refused.
        other = {"pk": {"S": "ORG#bad"}, "sk": {"S": "TWO"}}
        cancelled = self.error("transact_write_items", "TransactionCanceledException", TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**other, "gsi1pk": {"S": LISTS[1]}, "gsi1sk": {"S": "y"}}}},
            {"Update": {"TableName": TABLE, "Key": key, "UpdateExpression": "SET a = :v", "ConditionExpression": "version = :two",
                        "ExpressionAttributeValues": {":v": {"N": "1"}, ":two": {"N": "2"}}}},
        ])
        self.assertEqual([r["Code"] for r in cancelled["CancellationReasons"]], ["None", "ConditionalCheckFailed"])
        self.error("transact_write_items", "ValidationException", TransactItems=[
            {"Update": {"TableName": TABLE, "Key": key, "UpdateExpression": "SET a = :v,", "ExpressionAttributeValues": values}},
        ])
        self.error("put_item", "ConditionalCheckFailedException", TableName=TABLE, Item={**key, "gsi1pk": {"S": LISTS[2]}, "gsi1sk": {"S": "z"}},
                   ConditionExpression="attribute_not_exists(pk)")
        # moto stores an index key of another type than declared; it is in no string list.
        self.ok("put_item", TableName=TABLE, Item={**other, "gsi1pk": {"N": "5"}, "gsi1sk": {"S": "n"}})
        self.ok("query", TableName=TABLE, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p", ExpressionAttributeValues={":p": {"N": "5"}})
        self.ok("query", TableName=TABLE, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p", ExpressionAttributeValues={":p": {"S": "5"}})
        # Nothing above changed the index.
        for value in LISTS[:3]:
            self.ok("query", TableName=TABLE, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p", ExpressionAttributeValues={":p": {"S": value}})


UPDATE_EXPRESSIONS = [
    "SET a = :a", "SET #status = :s, updated_at = :now ADD version :one", "REMOVE places.#waiter ADD version :one",
    "SET a.b[2].c = if_not_exists(a.b[2].c, :zero) + :one, d = list_append(d, :l) REMOVE e[1], e[3] DELETE tags :t",
    "SET #c0 = #c0 + :c0, x = y - :c1 ADD n :one, m :two", "set a=:a remove b",
]


class CopyTree(unittest.TestCase):
    """moto_patches._copy_tree must copy an update expression's AST exactly as copy.deepcopy
    does, and refuse what it cannot copy so (in-process, no server)."""

    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, HERE)
        import moto_patches
        from moto.dynamodb.parsing.ast_nodes import Node
        from moto.dynamodb.parsing.expressions import UpdateExpressionParser

        cls.mp, cls.Node = moto_patches, Node
        # moto's own parse (moto_patches keeps it; the patches are not applied in this process).
        cls.parse = staticmethod(lambda expression: moto_patches._update_make(UpdateExpressionParser, expression))

    def assertSameTree(self, a, b, parent_a=None, parent_b=None):
        self.assertIsNot(a, b)
        self.assertIs(type(a), type(b))
        self.assertEqual(set(vars(a)), set(vars(b)))
        self.assertEqual(a.type, b.type)
        self.assertIs(a.parent, parent_a)
        self.assertIs(b.parent, parent_b)
        self.assertEqual(len(a.children or []), len(b.children or []))
        self.assertEqual(a.children is None, b.children is None)
        for x, y in zip(a.children or [], b.children or []):
            if isinstance(x, self.Node):
                self.assertSameTree(x, y, a, b)
            else:
                self.assertIs(type(x), type(y))
                self.assertEqual(x, y)

    def test_copies_like_deepcopy(self):
        import copy

        for expression in UPDATE_EXPRESSIONS:
            ast = self.parse(expression)
            self.assertSameTree(self.mp._copy_tree(ast), copy.deepcopy(ast))
            self.assertSameTree(self.mp._deepcopy_in_validators(ast), copy.deepcopy(ast))

    def test_every_make_gets_its_own_ast(self):
        from moto.dynamodb.parsing.expressions import UpdateExpressionParser

        make = lambda expression: self.mp._make_update_expression(UpdateExpressionParser, expression)  # noqa: E731
        for expression in UPDATE_EXPRESSIONS:
            first, second = make(expression), make(expression)
            self.assertIn(expression, self.mp._update_asts)
            self.assertIsNot(first, second)
            self.assertSameTree(first, self.parse(expression))
            self.assertSameTree(second, self.parse(expression))
            # What one caller does to its AST does not reach the next caller's.
            second.children.clear()
            self.assertSameTree(make(expression), self.parse(expression))
        for expression in ("SET a = :v,", "SET a = (b - :v)"):
            for _ in range(2):
                with self.assertRaises(Exception) as raised:
                    make(expression)
                with self.assertRaises(type(raised.exception)) as again:
                    self.parse(expression)
                self.assertEqual(str(raised.exception), str(again.exception))
            self.assertNotIn(expression, self.mp._update_asts)

    def test_refuses_what_it_cannot_copy_exactly(self):
        from moto.dynamodb.models.dynamo_type import DynamoType
        from moto.dynamodb.parsing.ast_nodes import DDBTypedValue

        ast = self.parse("SET a = :a")
        leaf = ast
        while isinstance(leaf.children[0], self.Node):
            leaf = leaf.children[0]
        leaf.children[0] = DynamoType({"S": "mutable"})  # as moto's validator rewrites its copy
        with self.assertRaises(self.mp._NotPlain):
            self.mp._copy_tree(ast)
        typed = DDBTypedValue(DynamoType({"S": "x"}))
        copied = self.mp._deepcopy_in_validators(typed)  # falls back to copy.deepcopy
        self.assertIsNot(copied.children[0], typed.children[0])
        ast = self.parse("SET a = :a")
        ast.extra = 1
        with self.assertRaises(self.mp._NotPlain):
            self.mp._copy_tree(ast)
        child = self.parse("SET a = :a").children[0]
        with self.assertRaises(self.mp._NotPlain):  # not a root: deepcopy would copy its parent too
            self.mp._copy_tree(child)


class StreamRecordsAsJson(unittest.TestCase):
    """Patch 14: GetRecords written with json.dumps answers what moto's serializer answers. Both
    servers get the same writes (every attribute type, an insert, a modify, a remove) on a table
    streaming new and old images; the raw answers, parsed, must be equal but for what moto
    makes anew on each server (event ids, times and the sizes they sway, the iterator), whose form is checked instead."""

    def records(self, without):
        import boto3

        server = Server(without=without)
        try:
            kw = dict(region_name="us-east-1", endpoint_url=server.url, aws_access_key_id="x", aws_secret_access_key="x")
            ddb = boto3.client("dynamodb", **kw)
            ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
            arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
            key = {"pk": {"S": "ORG#1"}, "sk": {"S": "EVENT#1"}}
            ddb.put_item(TableName=TABLE, Item={**key, "s": {"S": "été"}, "n": {"N": "-1.5"}, "b": {"B": b"\x00\xff"},
                                                "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"\x01", b"\x02"]},
                                                "m": {"M": {"l": {"L": [{"S": "x"}, {"BOOL": True}, {"NULL": True}, {"M": {}}]}}}})
            ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="SET n = :n REMOVE b", ExpressionAttributeValues={":n": {"N": "2"}})
            ddb.delete_item(TableName=TABLE, Key=key)
            streams = boto3.client("dynamodbstreams", **kw)
            raw = []
            streams.meta.events.register("after-call.dynamodbstreams.GetRecords", lambda http_response, **_: raw.append(http_response.content))
            shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            first = streams.get_records(ShardIterator=iterator, Limit=2)
            streams.get_records(ShardIterator=first["NextShardIterator"], Limit=10)
            return server.patches, raw
        finally:
            server.stop()

    maxDiff = None

    def test_get_records_answers_what_the_serializer_answers(self):
        fast_patches, fast_raw = self.records(without=())
        slow_patches, slow_raw = self.records(without=(14,))
        self.assertTrue(fast_patches.endswith("14=on") and slow_patches.endswith("14=off"), (fast_patches, slow_patches))
        # The fast path wrote the record as moto keeps it (its own key order); the serializer in
        # the output shape's order: so each server's answer came from the path it names.
        self.assertIn(b'"dynamodb": {"StreamViewType"', fast_raw[0])
        self.assertIn(b'"dynamodb": {"ApproximateCreationDateTime"', slow_raw[0])
        fast, slow = [json.loads(b) for b in fast_raw], [json.loads(b) for b in slow_raw]

        def made_anew(answers):
            for answer in answers:
                self.assertIsInstance(answer.pop("NextShardIterator"), str)
                for record in answer["Records"]:
                    self.assertRegex(record.pop("eventID"), "^[0-9a-f]{32}$")
                    at = record["dynamodb"].pop("ApproximateCreationDateTime")
                    self.assertIsInstance(at, (int, float))
                    self.assertEqual(round(at, 3), at)
                    self.assertLess(abs(at - time.time()), 600)
                    # moto sizes the record by its own dump, the time's digits included.
                    self.assertGreater(record["dynamodb"].pop("SizeBytes"), 0)
            return answers

        self.assertEqual([len(a["Records"]) for a in fast], [2, 1])
        self.assertEqual(made_anew(fast), made_anew(slow))
        names = [r["eventName"] for a in fast for r in a["Records"]]
        self.assertEqual(names, ["INSERT", "MODIFY", "REMOVE"])
        self.assertEqual(fast[0]["Records"][0]["dynamodb"]["NewImage"]["b"], {"B": "AP8="})


class ItemsReadWhole(unittest.TestCase):
    """Patch 13: reads racing updates of one item never see it half written. A writer sets the
    item's 40 attributes to one new value per UpdateItem; two readers (GetItem, Query) check that
    every answer holds one value in all 40. `WITHOUT = (13,)` shows the check can fail (moto
    without the patch answers torn items within the same time)."""

    WITHOUT = ()
    UPDATES = 200
    ATTRIBUTES = 40

    def test_reads_see_an_item_before_or_after_an_update_never_between(self):
        import threading

        server = Server(without=self.WITHOUT)
        try:
            setup = server.client()
            create_table(setup)
            names = [f"a{k}" for k in range(self.ATTRIBUTES)]
            key = {"pk": {"S": "ORG#whole"}, "sk": {"S": "ITEM"}}
            setup.put_item(TableName=TABLE, Item={**key, **{n: {"N": "0"} for n in names}})
            update = "SET " + ", ".join(f"{n} = :v" for n in names)
            stop = threading.Event()
            counts = {"updates": 0, "reads": 0}
            torn = []

            def write():
                client = server.client()
                for v in range(1, self.UPDATES + 1):
                    client.update_item(TableName=TABLE, Key=key, UpdateExpression=update, ExpressionAttributeValues={":v": {"N": str(v)}})
                    counts["updates"] += 1
                stop.set()

            def read(kind):
                client = server.client()
                while not stop.is_set():
                    if kind == "get":
                        found = [client.get_item(TableName=TABLE, Key=key)["Item"]]
                    else:
                        found = client.query(TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": key["pk"]})["Items"]
                    counts["reads"] += 1
                    values = {found[0][n]["N"] for n in names}
                    if len(values) > 1:
                        torn.append((kind, sorted(values)))

            threads = [threading.Thread(target=write)] + [threading.Thread(target=read, args=(k,)) for k in ("get", "query")]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        finally:
            server.stop()
        self.assertEqual(counts["updates"], self.UPDATES, counts)
        self.assertGreater(counts["reads"], 50, counts)
        self.assertEqual(torn[:5], [], f"{len(torn)} of {counts['reads']} reads saw a half-written item ({counts['updates']} updates)")


# ---------------------------------------------------------------- the microbenchmark

AUTH = "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"


def raw_call(conn, operation, body, ok=True):
    headers = {"X-Amz-Target": f"DynamoDB_20120810.{operation}", "Content-Type": "application/x-amz-json-1.0", "Authorization": AUTH}
    conn.request("POST", "/", json.dumps(body), headers)
    response = conn.getresponse()
    payload = response.read()
    if ok and response.status != 200:
        raise RuntimeError(f"{operation}: {response.status} {payload[:200]!r}")
    return json.loads(payload)


def bench(count, runs):
    """Per run and server: the median latency of 10 index queries on ~900-item lists (`<= :to`,
    Limit 50, as the calls scheduler reads its ready calls), of 10 on a 100-item list and of 10
    table queries answering the same 50 items; the rates of 300 UpdateItem and 100
    TransactWriteItems (2 conditional updates, a conditional put, a condition check)."""
    servers = {"with 11+12": Server(without=()), "without": Server(without=(11, 12))}
    try:
        rng = random.Random(1)
        data = []
        for i in range(count):
            item = {"pk": {"S": f"ORG#{i % 300}#CALL#{i}"}, "sk": {"S": "CALL"}, "status": {"S": "ready"},
                    "version": {"N": "1"}, "body": {"S": "x" * 200}}
            if i % 10:  # 9 in 10 in a list of ~1,000
                item["gsi1pk"] = {"S": f"ORG#{rng.randrange(30)}#CALLS#ready"}
                item["gsi1sk"] = {"S": f"2026-12-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}#{i}"}
            data.append(item)
        # A 100-item list, and a 100-item table partition (the same 50 items answered by a table
        # Query, for what returning them costs whatever the index).
        small = [{"pk": {"S": "ORG#ref"}, "sk": {"S": f"CALL#{k:03d}"}, "status": {"S": "ready"}, "version": {"N": "1"},
                  "body": {"S": "x" * 200}, "gsi1pk": {"S": "ORG#small#CALLS#ready"}, "gsi1sk": {"S": f"2026-12-01T{k:03d}"}}
                 for k in range(100)]
        data += small
        conns = {}
        for name, server in servers.items():
            create_table(server.client())
            conn = conns[name] = http.client.HTTPConnection("127.0.0.1", server.port)
            for start in range(0, len(data), 25):
                raw_call(conn, "BatchWriteItem", {"RequestItems": {TABLE: [{"PutRequest": {"Item": i}} for i in data[start:start + 25]]}})
        print(f"{count} items; {runs} runs, alternating servers; load average {os.getloadavg()[0]:.1f}")
        results = {name: {"query_ms": [], "small_ms": [], "table_ms": [], "update_per_s": [], "transact_per_s": []} for name in servers}
        for run in range(runs):
            for name in servers:
                conn = conns[name]
                latencies = []
                for q in range(10):
                    body = {"TableName": TABLE, "IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :p AND gsi1sk <= :to",
                            "ExpressionAttributeValues": {":p": {"S": f"ORG#{(run * 10 + q) % 30}#CALLS#ready"}, ":to": {"S": "2026-12-15"}},
                            "Limit": 50}
                    started = time.perf_counter()
                    out = raw_call(conn, "Query", body)
                    latencies.append((time.perf_counter() - started) * 1000)
                    assert out["Count"] == 50, out["Count"]
                results[name]["query_ms"].append(statistics.median(latencies))
                for kind, body in (
                    ("small_ms", {"IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :p AND gsi1sk <= :to",
                                  "ExpressionAttributeValues": {":p": {"S": "ORG#small#CALLS#ready"}, ":to": {"S": "2026-12-15"}}}),
                    ("table_ms", {"KeyConditionExpression": "pk = :p AND sk <= :to",
                                  "ExpressionAttributeValues": {":p": {"S": "ORG#ref"}, ":to": {"S": "CALL#9"}}}),
                ):
                    latencies = []
                    for q in range(10):
                        started = time.perf_counter()
                        out = raw_call(conn, "Query", {"TableName": TABLE, "Limit": 50, **body})
                        latencies.append((time.perf_counter() - started) * 1000)
                        assert out["Count"] == 50, out["Count"]
                    results[name][kind].append(statistics.median(latencies))
                started = time.perf_counter()
                for u in range(300):
                    raw_call(conn, "UpdateItem", {
                        "TableName": TABLE, "Key": {"pk": data[u * 7]["pk"], "sk": {"S": "CALL"}},
                        "UpdateExpression": "SET #st = :st, updated_at = :now ADD version :one",
                        "ConditionExpression": "attribute_exists(pk) AND #st <> :done",
                        "ExpressionAttributeNames": {"#st": "status"},
                        "ExpressionAttributeValues": {":st": {"S": "ready"}, ":now": {"S": f"{run}.{u}"}, ":one": {"N": "1"}, ":done": {"S": "done"}},
                    })
                results[name]["update_per_s"].append(300 / (time.perf_counter() - started))
                started = time.perf_counter()
                for t in range(100):
                    base = 3000 + t * 4
                    raw_call(conn, "TransactWriteItems", {"TransactItems": [
                        {"Update": {"TableName": TABLE, "Key": {"pk": data[base + j]["pk"], "sk": {"S": "CALL"}},
                                    "UpdateExpression": "SET #st = :st, claimed_at = :now ADD version :one",
                                    "ConditionExpression": "attribute_exists(pk) AND #st = :st",
                                    "ExpressionAttributeNames": {"#st": "status"},
                                    "ExpressionAttributeValues": {":st": {"S": "ready"}, ":now": {"S": f"{run}.{t}"}, ":one": {"N": "1"}}}}
                        for j in range(2)
                    ] + [
                        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"EVENT#{name}#{run}#{t}"}, "sk": {"S": "E"}, "n": {"N": "1"}},
                                 "ConditionExpression": "attribute_not_exists(pk)"}},
                        {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": data[base + 2]["pk"], "sk": {"S": "CALL"}},
                                            "ConditionExpression": "attribute_exists(pk)"}},
                    ]})
                results[name]["transact_per_s"].append(100 / (time.perf_counter() - started))
        for name, figures in results.items():
            print(f"moto {name}:")
            for kind, label in (("query_ms", "index Query, ~900-item list"), ("small_ms", "index Query, 100-item list"),
                                ("table_ms", "table Query, 100-item partition")):
                print(f"  {label + ', Limit 50:':<42} median {statistics.median(figures[kind]):7.1f} ms   runs {[round(x, 1) for x in figures[kind]]}")
            print(f"  {'UpdateItem (SET, ADD, a condition):':<42} median {statistics.median(figures['update_per_s']):7.0f} calls/s   runs {[round(x) for x in figures['update_per_s']]}")
            print(f"  {'TransactWriteItems (4 operations):':<42} median {statistics.median(figures['transact_per_s']):7.0f} calls/s   runs {[round(x) for x in figures['transact_per_s']]}")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", help="run a server without these patches (comma-separated numbers)")
    parser.add_argument("--bench", action="store_true")
    parser.add_argument("--items", type=int, default=30000)
    parser.add_argument("--runs", type=int, default=5)
    args, rest = parser.parse_known_args()
    if args.serve is not None:
        serve([int(n) for n in args.serve.split(",") if n])
    elif args.bench:
        bench(args.items, args.runs)
    else:
        unittest.main(argv=[sys.argv[0]] + rest)
