"""Two fixes to moto's DynamoDB transactions, applied by run_moto.py before the server starts.

1. Speed: moto snapshots the *whole table* (copy.deepcopy) for every item of every
   TransactWriteItems, so each transaction costs O(table size) and the local stack slows to a
   crawl as data grows (seconds per message after a few thousand items). We snapshot only the
   items the transaction touches.
2. Semantics: DynamoDB evaluates every condition of a transaction against the state *before*
   it, then applies all writes or none. moto applies the items one by one, checking each
   condition after the earlier items were written. We check all conditions first, like AWS.

Writes (single and transactional) also run under one lock, so moto's threaded server cannot
interleave a check and a write of two requests.
"""
import copy
import threading

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


def apply():
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = transact_write_items
