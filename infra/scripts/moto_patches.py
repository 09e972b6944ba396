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
"""
import copy
import functools
import json
import logging
import threading
import time

from moto.dynamodb.comparisons import get_filter_expression
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
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoResult
from moto.core.request import normalize_request
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import BackendRequest, DomainDispatcherApplication
from botocore.exceptions import ClientError
from werkzeug.wrappers import Response
from moto.sqs.models import Queue, SQSBackend

_WRITE_LOCK = threading.RLock()


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


_query_partition = threading.local()
_table_all_items = Table.all_items
_table_query = Table.query


def _all_items(self):
    hint = getattr(_query_partition, "key", None)
    if hint is not None and hint[0] is self:
        partition = self.items.get(hint[1])
        return list(partition.values()) if partition else []
    return _table_all_items(self)


def _query(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is not None or not self.range_key_attr or hash_key is None:
        return _table_query(self, hash_key, *args, **kwargs)
    _query_partition.key = (self, hash_key)
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        _query_partition.key = None


_dispatch_by_host = DomainDispatcherApplication.__call__


def _dynamodb_directly(self, environ, start_response):
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if not (target.startswith("DynamoDB_20120810.") and environ.get("PATH_INFO") == "/"):
        return _dispatch_by_host(self, environ, start_response)
    # What moto's Flask view (moto.core.utils.convert_to_flask_response) does for this handler.
    request = normalize_request(BackendRequest(environ))
    try:
        result = DynamoHandler.dispatch(request, request.raw_url, dict(request.headers))
    except ClientError as exc:
        result = 400, {}, exc.response["Error"]["Message"]
    status, headers, body = result if len(result) == 3 else (200, {}, result)
    return Response(response=body, status=status, headers=headers)(environ, start_response)


def apply():
    DomainDispatcherApplication.__call__ = _dynamodb_directly
    Table.all_items = _all_items
    Table.query = _query
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
