"""Fixes to moto's server, applied by run_moto.py before the server starts.

Two to its DynamoDB transactions:

1. Speed: moto snapshots the *whole table* (copy.deepcopy) for every item of every
   TransactWriteItems, so each transaction costs O(table size) and the local stack slows to a
   crawl as data grows (seconds per message after a few thousand items). We snapshot only the
   items the transaction touches.
2. Semantics: DynamoDB evaluates every condition of a transaction against the state *before*
   it, then applies all writes or none. moto applies the items one by one, checking each
   condition after the earlier items were written. We check all conditions first, like AWS.

Writes (single and transactional) also run under one lock, so moto's threaded server cannot
interleave a check and a write of two requests.

Two to its request dispatch (measured with py-spy under 10 concurrent GetItem callers: ~60% of
the server's time went to finding the backend, 7% to logging):
3. The backend for a request's host is looked up anew for every request, under a global lock:
   a `listdir` of moto's package, an `isdir` per service and a match against ~150 URL regexes.
   The answer depends only on the host, so it is cached per host.
4. werkzeug logs every request at INFO (the dev stack discards moto's stderr anyway).

Three to the cost of each call (py-spy under the actions benchmark: 34% of the time went to
serializing DynamoDB responses, 10% to SQS queue attributes):
5. DynamoDB data-plane answers (GetItem, Query, ...) are already in DynamoDB's wire format
   (attribute-value maps); moto still walks botocore's output shape for every attribute. We
   write them with json.dumps, keeping only the output shape's top-level members (checked
   equal to moto's serializer on items with every attribute type).
6. An SQS queue's `attributes` recounts every message (three passes, a clock read each), and
   moto reads them for one setting several times per message sent (deduplication setting) and
   received (retention period). Those reads (validation, `send_message`, `add_message`) leave
   the counts out; GetQueueAttributes still counts. (`send_message` and `add_message` were
   added for issue 18: py-spy under 60 msg/s from 60 customers put 54 % of moto's samples in
   `SendMessageBatch` → `Queue.attributes` → the counts, and a send cost O(queue depth), so a
   backlog made every send slower.)
7. moto lists a handler class's methods with `inspect.getmembers` on every request; cached
   per class.

And one to SQS long polls:
8. A long poll decides once, when it starts, which FIFO message groups are in flight, and never
   again: a group freed during the poll (its message deleted) stays blocked until the poll ends,
   so at a low rate a customer's next message waited out the rest of another consumer's poll
   (inbound -> visible p50 578 ms at 5 msg/s from 5 customers, up to the poll's 1 s). And a
   poll whose queue holds only messages of groups in flight spun until its end, holding the
   interpreter. Now a long poll is a series of non-waiting receives (each sees the groups as
   they are), and between them it sleeps until the queue changes (a message added, deleted or
   made visible again through its visibility) or 100 ms pass (a visibility timeout running out
   is not signalled), as SQS hands a freed group's message to a waiting poll.

And one to DynamoDB queries:
9. A Query on the table (not an index) lists every item of the table and keeps those of the
   asked partition, so every Query cost O(table): the feed's long poll (a Query every 100 ms)
   and conversation pages slowed as the local data grew (a wake-up went from ~50 ms to ~130 ms
   after 1,000 events). It now starts from the partition's own items.

And one to the way in:
10. Every DynamoDB call went through a Flask application built for moto's REST services (URL map,
    request context, CORS hook) only to reach one handler method. DynamoDB calls (a POST to `/`
    with `X-Amz-Target: DynamoDB_20120810.*`) now go to that handler directly, as moto's Flask
    view would call it.

And two more to DynamoDB queries and writes (`test_moto_patches.py` checks that moto answers
every request exactly as it does without them, and measures them: `--bench`):
11. A Query on an index (`IndexName`) sorted *every item of the table* (Table.all_items, a sort
    comparing DynamoTypes) and then compared each one's index hash key with the asked value, so
    it cost O(table): ~600 ms per query at 30,000 items (the feedback calls' scheduler reads
    its lists this way), whatever the size of the asked list. Each table now keeps, per index
    hash key attribute, the keys of its items by the string they hold there, built at the first
    index Query naming that attribute (one walk) and brought up to date after every write:
    Table.put_item and Table.delete_item (so every put, delete, batch write, transaction and
    PartiQL write), and DynamoDBBackend.update_item, which changes the stored item in place. A
    Query hands moto's own code only the items stored at the asked value's keys, and moto
    checks every key condition, the sparse items (no range key), paging, direction, filter and
    projection on them as it would on all. Only string hash key values use the map (every
    index of template.yaml); others keep moto's walk. Measured (`--bench`, 30,000 items, median
    of 5 alternating runs, load average ~1 on 2 cores): an index Query answering 50 items from
    a 100-item list 522 -> 4.3 ms (a table Query answering the same 50 items: 3.6 ms), from a
    ~900-item list 540 -> 15.8 ms: what remains grows with the asked list (moto's per-item
    checks and its sort, which is made linear by handing it the items already in its order).
12. Every UpdateExpression was parsed two or three times per call (the handler's checks, the
    backend, each Update of a transaction), each ConditionExpression and FilterExpression two
    or three times, and moto's update validator deep-copied the AST it was given: py-spy put
    ~20 % of the DynamoDB process's time there at 80 msg/s. Now an UpdateExpression's AST is
    kept per expression string and each call gets a copy (~30 µs instead of a ~190 µs parse);
    a condition's tree is kept per string with the request's names and values put in per call
    (~30 µs instead of ~250 µs), moto's own code building the evaluated Op from it; and the
    validator's deep copy is made by the same tree copy (~30 µs instead of ~180 µs). Strings
    that fail to parse are never kept, so a malformed expression raises moto's error every
    time; a name or value missing from the request goes through moto's whole parse. Key
    conditions are not cached: moto reads the values while it parses them (a literal fallback,
    empty-string checks) and a parse costs ~13 µs. Measured (`--bench`, median of 5 runs):
    UpdateItem 403 -> 527 calls/s, a 4-operation TransactWriteItems 239 -> 345 calls/s.

And one to what a read sees:
13. DynamoDB writes an item whole: a read sees it before a write or after it. moto's writes
    change the stored item in place, one attribute after the other (an UpdateItem's `SET a = :a,
    b = :b` sets `a`, then `b`), and only the writes took the lock, so a GetItem or Query served
    by another thread meanwhile could answer an item half written: a message `sent` without
    its `wamid` (seen once in CI by `replies::the_sweep_sends_a_reply_whose_job_was_lost_once`).
    Every DynamoDB request now runs under the writes' lock. moto serves one request at a time
    under the GIL anyway, so the cost is the overlap of the sockets' I/O only
    (`test_moto_patches.py`, `ItemsReadWhole`, checks reads racing updates).

And one to DynamoDB Streams:
14. The dev stack's stream consumers (webhook-fanout, live-push) read every write of the table
    with its new and old images, each GetRecords walked attribute by attribute through moto's
    generic serializer (XFormedAttributePicker, the output shape): py-spy at 5 msg/s put 37 %
    of the DynamoDB process's samples there, more than every table operation together. The
    records are already in the wire format (attribute-value maps) but for their
    `ApproximateCreationDateTime` (a datetime: written as the serializer writes it, Unix
    seconds truncated to milliseconds) and binary values (bytes: base64, as the serializer
    writes them); they are now written with json.dumps, keeping only the output shape's
    top-level members, like patch 5 (`test_moto_patches.py`, `StreamRecordsAsJson`, checks the
    answers equal to the serializer's).
"""
import base64
import calendar
import contextlib
import copy
import datetime
import functools
import json
import logging
import threading
import time

from moto.dynamodb.comparisons import ConditionExpressionParser, get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.core import responses as core_responses
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.ast_nodes import Node as UpdateExpressionNode
from moto.dynamodb.parsing import validators as update_validators
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.responses import DynamoResult
from moto.core.request import normalize_request
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import BackendRequest, DomainDispatcherApplication
from botocore.exceptions import ClientError
from werkzeug.wrappers import Response
from moto.sqs.models import Queue, SQSBackend

_WRITE_LOCK = threading.RLock()
# Patch 13 (every DynamoDB request under _WRITE_LOCK); off only for test_moto_patches.py's check
# that its test can fail.
_whole_items = True


def _locked(method):
    def wrapper(self, *args, **kwargs):
        with _WRITE_LOCK:
            return method(self, *args, **kwargs)

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


def _key_of(backend, op_type, op):
    if op_type == "Put":
        table = backend.get_table(op["TableName"])
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op["Key"]


def transact_write_items(self, transact_items):
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _WRITE_LOCK:
        ops = []
        seen = set()
        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            key = _key_of(self, op_type, op)
            marker = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            ops.append((op_type, op, key))

        # Every condition against the state before the transaction.
        errors = []
        for op_type, op, key in ops:
            current = self.get_item(op["TableName"], key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                expr = get_filter_expression(condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues"))
                if not expr.expr(current):
                    original = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original = current.to_json()["Attributes"]
                    errors.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, original))
                    continue
            errors.append((None, None, None))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)

        # Snapshot only what is written, then write.
        snapshot = []
        for op_type, op, key in ops:
            if op_type != "ConditionCheck":
                current = self.get_item(op["TableName"], key)
                snapshot.append((op["TableName"], key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
        try:
            for op_type, op, key in ops:
                names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(op["TableName"], op["Item"], expression_attribute_names=names, expression_attribute_values=values)
                elif op_type == "Delete":
                    self.delete_item(op["TableName"], key, expression_attribute_names=names, expression_attribute_values=values)
                elif op_type == "Update":
                    self.update_item(
                        op["TableName"], key, update_expression=op["UpdateExpression"],
                        expression_attribute_names=names, expression_attribute_values=values,
                    )
        except Exception as e:
            for table_name, key, original in reversed(snapshot):
                if original is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, original)
            if isinstance(e, MockValidationException):
                raise
            raise TransactionCanceledException([(type(e).__name__, str(e), None) for _ in ops])


def _cached_per_host(lookup):
    cache = {}

    def wrapper(self, host):
        try:
            return cache[host]
        except KeyError:
            backend = cache[host] = lookup(self, host)
            return backend

    wrapper.__name__ = lookup.__name__
    wrapper.__doc__ = lookup.__doc__
    return wrapper


# Operations whose results hold only attribute values, strings and numbers (no timestamps).
_DYNAMODB_DATA_PLANE = {
    "GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
}
_dynamo_execute_result = DynamoResult.execute_result


def _dynamo_result_as_json(self, context):
    if context.operation_model.name not in _DYNAMODB_DATA_PLANE:
        return _dynamo_execute_result(self, context)
    members = context.operation_model.output_shape.members
    body = {k: v for k, v in self.result.items() if k in members}
    return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body)


# Patch 14: DynamoDB Streams' GetRecords written with json.dumps (off only for
# test_moto_patches.py's comparison with moto's serializer).
_stream_records_fast = True
_action_execute_result = core_responses.ActionResult.execute_result


def _stream_value(value):
    """What json.dumps cannot write, as moto's serializer writes it in a stream record."""
    if isinstance(value, datetime.datetime):
        seconds = calendar.timegm(value.timetuple())
        return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not in a stream record: {type(value).__name__}")


def _stream_records_as_json(self, context):
    operation = context.operation_model
    if not (_stream_records_fast and operation.name == "GetRecords" and operation.service_model.service_name == "dynamodbstreams"):
        return _action_execute_result(self, context)
    members = operation.output_shape.members
    body = {k: v for k, v in self.result.items() if k in members and v is not None}
    return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body, default=_stream_value)


# Counting a queue's messages walks all of them (three passes, a clock read per message).
_QUEUE_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)
_no_counts = threading.local()


def _counted_only_when_asked(count):
    def get(self):
        return 0 if getattr(_no_counts, "active", False) else count.fget(self)

    return property(get)


def _without_counts(method):
    """Runs `method` with the queue's message counts left out of `Queue.attributes`."""

    def wrapper(*args, **kwargs):
        # Nested (send_message validates first): the outer call keeps its counts left out.
        outer = getattr(_no_counts, "active", False)
        _no_counts.active = True
        try:
            return method(*args, **kwargs)
        finally:
            _no_counts.active = outer

    wrapper.__name__ = method.__name__
    return wrapper


_receive_message = SQSBackend.receive_message


def _queue_changed(queue):
    with queue._messages_lock:
        queue._changes = getattr(queue, "_changes", 0) + 1
        queue._messages_lock.notify_all()


def _signalling_change(method, queue_of):
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:
            _queue_changed(queue_of(self, *args, **kwargs))

    wrapper.__name__ = method.__name__
    return wrapper


def _long_poll(self, queue_name, count, wait_seconds_timeout, visibility_timeout, *args, **kwargs):
    queue = self.get_queue(queue_name)
    deadline = time.monotonic() + (wait_seconds_timeout or 0)
    while True:
        changes = getattr(queue, "_changes", 0)
        result = _receive_message(self, queue_name, count, 0, visibility_timeout, *args, **kwargs)
        left = deadline - time.monotonic()
        if result or left <= 0:
            return result
        with queue._messages_lock:
            queue._messages_lock.wait_for(lambda: getattr(queue, "_changes", 0) != changes, timeout=min(left, 0.1))


# Patches 9 and 11: while a Query runs, Table.all_items (which moto's Query walks) gives only
# the items that can match, found by `key[1]`, for the table `key[0]`.
_query_partition = threading.local()
_table_all_items = Table.all_items
_table_query = Table.query
# Patch 11 is on unless apply() is told to leave it out.
_narrow_index_queries = True


def _all_items(self):
    hint = getattr(_query_partition, "key", None)
    if hint is not None and hint[0] is self:
        return hint[1](self)
    return _table_all_items(self)


def _partition_items(hash_key):
    def items(table):
        partition = table.items.get(hash_key)
        return list(partition.values()) if partition else []

    return items


def _sort_like_all_items(items):
    # Table.all_items's own sort key: the kept items in the order moto's walk over the whole
    # sorted table would meet them (a table's keys are unique, so there are no ties).
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


def _string_value(item, name):
    value = item.attrs.get(name) if item is not None else None
    return value.value if value is not None and value.type == "S" else None


def _stored_item(table, hash_value, range_value):
    # .get, not moto's defaultdict indexing: looking must not add an empty partition.
    partition = table.items.get(hash_value)
    if partition is None or not table.range_key_attr:
        return partition
    return partition.get(range_value) if isinstance(partition, dict) else None


def _every_item(table):
    for partition in list(table.items.values()):
        if table.range_key_attr:
            yield from list(partition.values())
        else:
            yield partition


class _KeysByValue:
    """Patch 11: the keys of a table's items by the string one attribute holds (an index's hash
    key attribute), kept up to date by every write (`_reindex`)."""

    def __init__(self, table, name):
        self.name = name
        self.keys_of = {}  # value -> {(hash, range): None}, in insertion order
        self.value_of = {}  # (hash, range) -> value
        for item in _every_item(table):
            if isinstance(item, Item):
                self.move((item.hash_key, item.range_key), _string_value(item, name))

    def move(self, key, value):
        old = self.value_of.pop(key, None)
        if old is not None:
            keys = self.keys_of.get(old)
            if keys is not None:
                keys.pop(key, None)
                if not keys:
                    del self.keys_of[old]
        if value is not None:
            self.keys_of.setdefault(value, {})[key] = None
            self.value_of[key] = value


def _keys_by_value(table, name):
    maps = table.__dict__.get("_max_keys_by_value")
    if maps is None or name not in maps:
        # Built once per table and attribute (one walk of the table), under the write lock so
        # that no write falls between the walk and the map's first update.
        with _WRITE_LOCK:
            maps = table.__dict__.setdefault("_max_keys_by_value", {})
            if name not in maps:
                maps[name] = _KeysByValue(table, name)
    return maps[name]


def _reindex(table, hash_value, range_value):
    """After a write to (hash_value, range_value), whether it succeeded or not: what is stored
    there now is what the maps say."""
    maps = table.__dict__.get("_max_keys_by_value")
    if not maps:
        return
    with _WRITE_LOCK:
        item = _stored_item(table, hash_value, range_value)
        key = (hash_value, range_value)
        for name, keys in maps.items():
            keys.move(key, _string_value(item, name) if isinstance(item, Item) else None)


def _forget_maps(table):
    # A write whose key we could not work out: rebuild the maps at the next index query.
    with _WRITE_LOCK:
        table.__dict__.pop("_max_keys_by_value", None)


def _reindexing_put(put):
    def wrapper(self, item_attrs, *args, **kwargs):
        try:
            return put(self, item_attrs, *args, **kwargs)
        finally:
            if self.__dict__.get("_max_keys_by_value"):
                # Table.put_item's own key (it stores the item at exactly these values).
                try:
                    hash_value = DynamoType(item_attrs[self.hash_key_attr])
                    range_value = DynamoType(item_attrs[self.range_key_attr]) if self.range_key_attr is not None else None
                except Exception:
                    _forget_maps(self)
                else:
                    _reindex(self, hash_value, range_value)

    wrapper.__name__ = put.__name__
    return wrapper


def _reindexing_delete(delete):
    # Not needed for the answers (a key whose item is gone is skipped: `_index_items`), but it
    # keeps deleted keys from piling up in the map.
    def wrapper(self, hash_key, range_key, *args, **kwargs):
        try:
            return delete(self, hash_key, range_key, *args, **kwargs)
        finally:
            _reindex(self, hash_key, range_key if self.range_key_attr else None)

    wrapper.__name__ = delete.__name__
    return wrapper


def _reindexing_update(update):
    """UpdateItem changes the stored item in place (moto's executors write to its attributes),
    so no put tells us: the item at the key is looked at again after every update."""

    def wrapper(self, table_name, key, *args, **kwargs):
        try:
            return update(self, table_name, key, *args, **kwargs)
        finally:
            table = self.tables.get(table_name)
            if table is not None and table.__dict__.get("_max_keys_by_value"):
                # DynamoDBBackend.update_item's own reading of the key.
                try:
                    if table.hash_key_attr in key and table.range_key_attr in key:
                        hash_value, range_value = DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr])
                    elif table.hash_key_attr in key:
                        hash_value, range_value = DynamoType(key[table.hash_key_attr]), None
                    else:
                        hash_value, range_value = DynamoType(key), None
                except Exception:
                    _forget_maps(table)
                else:
                    _reindex(table, hash_value, range_value if table.range_key_attr else None)

    wrapper.__name__ = update.__name__
    return wrapper


def _index_order(table, index_name, items):
    """`items` in the order moto's Query sorts an index's results into, when that can be had
    from the raw strings: then moto's own sort (Timsort) meets them already in order and makes
    one comparison per item instead of n log n comparisons of DynamoTypes (each reading both
    cast values). For an 856-item list: moto's sort 18.5 ms given Table.all_items's order, 3.0
    ms given this one, which costs 1.5 ms (sorting them into all_items's order: 11 ms).

    moto sorts by the index's hash and range keys, then the table's hash and range keys: a
    key unique to each item, so the order it gives does not depend on the order it is given
    the items in. For strings that order is the raw strings' (a string's cast value is its
    value). With any other type, or an index without a range key (whose sort moto builds
    differently), the items keep Table.all_items's order, as moto's own walk would give them."""
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None or not any(k["KeyType"] == "RANGE" for k in index.schema):
        return _sort_like_all_items(items)
    names = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    names += [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    names += [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    keyed = []
    for item in items:
        key = []
        for name in names:
            value = item.attrs.get(name)
            if value is None:
                # Not in the index (sparse): moto's walk drops it before sorting; its place
                # here does not matter.
                key.append("")
            elif value.type == "S":
                key.append(value.value)
            else:
                return _sort_like_all_items(items)
        keyed.append((key, item))
    keyed.sort(key=lambda pair: pair[0])
    return [item for _, item in keyed]


def _index_items(conditions, index_name):
    """The items whose first index hash key attribute holds the asked string, from the map.

    moto's own loop then checks every key condition (the other hash key attributes, the range
    key, sparse items) on them, as it would on all the table's items."""
    name, want = conditions[0]

    def items(table):
        keys = list(_keys_by_value(table, name).keys_of.get(want.value, ()))
        kept = [item for item in (_stored_item(table, h, r) for h, r in keys) if isinstance(item, Item)]
        return _index_order(table, index_name, kept)

    return items


def _query(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is None:
        if not self.range_key_attr or hash_key is None:
            return _table_query(self, hash_key, *args, **kwargs)
        narrowed = _partition_items(hash_key)
    else:
        conditions = kwargs.get("hash_key_conditions", args[9] if len(args) > 9 else None)
        # Only string hash keys (every index of template.yaml): other types' equality goes
        # through their cast value (a number "1" equals "1.0"), so they keep moto's walk.
        if not (
            _narrow_index_queries
            and conditions
            and all(isinstance(v, DynamoType) and v.type == "S" for _, v in conditions)
        ):
            return _table_query(self, hash_key, *args, **kwargs)
        narrowed = _index_items(conditions, index_name)
    _query_partition.key = (self, narrowed)
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        _query_partition.key = None


# Patch 12: parsed expressions, per expression string. Bounded: a caller building expressions
# from data could otherwise grow them without end; starting over costs one parse each.
_PARSED_LIMIT = 10_000
_condition_trees = {}
_condition_parse = ConditionExpressionParser.parse
_Kind = ConditionExpressionParser.Kind
_IDENTIFIER = ConditionExpressionParser.Nonterminal.IDENTIFIER


class _Unbound(Exception):
    """A name or value the expression uses is not in the request's maps."""


def _bind(node, names, values):
    """The cached tree with this request's expression attribute names and values in it.

    In moto's tree only two kinds of node come from the maps (`_parse_path_element`): a value
    (`:v`, kind EXPRESSION_ATTRIBUTE_VALUE) and a name (`#n`, an IDENTIFIER literal); their text
    is the placeholder. No step of the parse looks at what they hold, so the rest of the tree
    depends on the expression string alone."""
    if node.kind == _Kind.EXPRESSION_ATTRIBUTE_VALUE:
        try:
            return node._replace(value=values[node.text])
        except Exception:
            raise _Unbound from None
    if node.nonterminal == _IDENTIFIER and node.kind == _Kind.LITERAL and node.text.startswith("#"):
        try:
            return node._replace(value=names[node.text])
        except Exception:
            raise _Unbound from None
    if node.children:
        return node._replace(children=[_bind(child, names, values) for child in node.children])
    return node


def _parse_condition(self):
    """ConditionExpressionParser.parse, with the tree kept per expression string.

    A ConditionExpression, FilterExpression or an UpdateItem's condition is parsed two or three
    times per call (the handler's validation, then the backend's evaluation). The tree (lexing,
    paths, functions, comparisons, booleans, and every check on them) depends only on the
    string; only the looked-up names and values change, and they are put in per call. The Op
    moto evaluates is built anew by moto's own `_make_op_condition` from the bound tree, so
    nothing evaluated is shared between calls. A string that fails to parse is never cached:
    it fails the same way on every call. A name or value missing from the request's maps sends
    the call through moto's whole parse, which raises what moto raises."""
    expression = self.condition_expression
    if not expression or type(expression) is not str:
        return _condition_parse(self)
    cached = _condition_trees.get(expression)
    if cached is not None:
        tree, names_found, values_found = cached
        try:
            node = _bind(tree, self.expression_attribute_names, self.expression_attribute_values)
        except _Unbound:
            return _condition_parse(self)
    else:
        # moto's parse() (moto 5.2.5, pinned in infra/requirements.txt), step by step, to keep
        # the tree before it becomes an Op.
        nodes = self._lex_condition_expression()
        nodes = self._parse_paths(nodes)
        nodes = self._apply_functions(nodes)
        nodes = self._apply_comparator(nodes)
        nodes = self._apply_in(nodes)
        nodes = self._apply_between(nodes)
        nodes = self._apply_parens_and_booleans(nodes)
        node = nodes[0]
        self._assert_no_redundant_parentheses(node)
        names_found = self._find_literals(node)
        values_found = self._find_expr_attr_values(node)
    self.expr_attr_names_found.extend(names_found)
    self.expr_attr_values_found.extend(values_found)
    op = self._make_op_condition(node)
    if cached is None:
        if len(_condition_trees) >= _PARSED_LIMIT:
            _condition_trees.clear()
        _condition_trees[expression] = (node, names_found, values_found)
    return op


_update_asts = {}
_update_make = UpdateExpressionParser.make.__func__
_NODE_ATTRIBUTES = {"type", "children", "parent"}
_IMMUTABLE_LEAVES = (str, int, bool, type(None))


class _NotPlain(Exception):
    """An AST `_copy_tree` cannot copy exactly as copy.deepcopy would."""


def _copy_tree(node, parent=None, parent_copy=None):
    """What copy.deepcopy(node) gives for an update expression's AST, at a sixth of its cost
    (~30 µs against ~180 µs for `SET a = :a, b = :b ADD n :one REMOVE c.#d`: deepcopy
    memoises and reduces every object). Exact when every node holds only moto's `type` (a
    string), `children` and `parent` (its parent in the same tree, None at the root), and every
    child is a node or an immutable value (str, int, bool, None: deepcopy shares those too);
    anything else raises _NotPlain. A node reached twice has one parent only, so a tree that
    is not a tree raises too."""
    attributes = node.__dict__
    if attributes.keys() != _NODE_ATTRIBUTES or attributes["parent"] is not parent or type(attributes["type"]) is not str:
        raise _NotPlain
    copy_ = object.__new__(type(node))
    copy_.type = attributes["type"]
    copy_.parent = parent_copy
    children = attributes["children"]
    if children is None:
        copy_.children = None
    elif type(children) is not list:
        raise _NotPlain
    else:
        copied = []
        for child in children:
            if isinstance(child, UpdateExpressionNode):
                copied.append(_copy_tree(child, node, copy_))
            elif type(child) in _IMMUTABLE_LEAVES:
                copied.append(child)
            else:
                raise _NotPlain
        copy_.children = copied
    return copy_


def _make_update_expression(cls, expression_str):
    """UpdateExpressionParser.make, with the AST kept per expression string.

    moto parses an UpdateExpression twice per UpdateItem (the handler, then the backend) and
    once more per Update of a transaction, and the AST depends only on the string. Each call
    gets its own copy of the kept AST, as moto's own parse would give it a new one, so nothing
    done to one call's AST reaches the next. A string that fails to parse is never kept: it
    raises the same error on every call."""
    if cls is not UpdateExpressionParser or type(expression_str) is not str:
        return _update_make(cls, expression_str)
    ast = _update_asts.get(expression_str)
    if ast is not None:
        return _copy_tree(ast)
    ast = _update_make(cls, expression_str)
    try:
        kept = _copy_tree(ast)
    except _NotPlain:
        return ast
    if len(_update_asts) >= _PARSED_LIMIT:
        _update_asts.clear()
    # `kept` is never handed out (only copies of it are), so nothing ever changes it.
    _update_asts[expression_str] = kept
    return ast


def _deepcopy_in_validators(x, memo=None):
    """moto's UpdateExpressionValidator starts with copy.deepcopy of the AST it is given (it
    rewrites its copy): the same copy, made by `_copy_tree` when the AST allows it."""
    if memo is None and isinstance(x, UpdateExpressionNode) and x.parent is None:
        try:
            return _copy_tree(x)
        except _NotPlain:
            pass
    return copy.deepcopy(x, memo)


_dispatch_by_host = DomainDispatcherApplication.__call__


def _dynamodb_directly(self, environ, start_response):
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if not (target.startswith("DynamoDB_20120810.") and environ.get("PATH_INFO") == "/"):
        return _dispatch_by_host(self, environ, start_response)
    # What moto's Flask view (moto.core.utils.convert_to_flask_response) does for this handler.
    request = normalize_request(BackendRequest(environ))
    try:
        # Patch 13: the whole request, answer built included, sees no write half done.
        with _WRITE_LOCK if _whole_items else contextlib.nullcontext():
            result = DynamoHandler.dispatch(request, request.raw_url, dict(request.headers))
    except ClientError as exc:
        result = 400, {}, exc.response["Error"]["Message"]
    status, headers, body = result if len(result) == 3 else (200, {}, result)
    return Response(response=body, status=status, headers=headers)(environ, start_response)


def apply(without=()):
    """Applies the patches. `without`: numbers of patches to leave out, for checks comparing moto
    with and without them (infra/scripts/test_moto_patches.py); only 11 to 14 can be."""
    global _narrow_index_queries, _whole_items, _stream_records_fast
    left_out = set(without)
    if not left_out <= {11, 12, 13, 14}:
        raise ValueError(f"only patches 11 to 14 can be left out, not {sorted(left_out - {11, 12, 13, 14})}")
    _whole_items = 13 not in left_out
    _stream_records_fast = 14 not in left_out
    core_responses.ActionResult.execute_result = _stream_records_as_json
    DomainDispatcherApplication.__call__ = _dynamodb_directly
    Table.all_items = _all_items
    Table.query = _query
    _narrow_index_queries = 11 not in left_out
    if 11 not in left_out:
        Table.put_item = _reindexing_put(Table.put_item)
        Table.delete_item = _reindexing_delete(Table.delete_item)
        DynamoDBBackend.update_item = _reindexing_update(DynamoDBBackend.update_item)
    if 12 not in left_out:
        ConditionExpressionParser.parse = _parse_condition
        UpdateExpressionParser.make = classmethod(_make_update_expression)
        update_validators.deepcopy = _deepcopy_in_validators
    SQSBackend.receive_message = _long_poll
    Queue.delete_message = _signalling_change(Queue.delete_message, lambda queue, *_, **__: queue)
    SQSBackend.change_message_visibility = _signalling_change(
        SQSBackend.change_message_visibility,
        lambda backend, *args, **kwargs: backend.get_queue(args[0] if args else kwargs["queue_name"]),
    )
    DynamoResult.execute_result = _dynamo_result_as_json
    for name in _QUEUE_COUNTS:
        setattr(Queue, name, _counted_only_when_asked(getattr(Queue, name)))
    for name in ("_validate_message", "is_message_valid_based_on_retention_period", "send_message"):
        setattr(SQSBackend, name, _without_counts(getattr(SQSBackend, name)))
    Queue.add_message = _signalling_change(_without_counts(Queue.add_message), lambda queue, *_, **__: queue)
    core_responses.method_names_from_class = functools.lru_cache(maxsize=None)(
        core_responses.method_names_from_class
    )
    DomainDispatcherApplication.get_backend_for_host = _cached_per_host(
        DomainDispatcherApplication.get_backend_for_host
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = transact_write_items
