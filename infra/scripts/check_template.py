#!/usr/bin/env python3
"""Project-specific checks on template.yaml that cfn-lint does not make.

1. The file loads as plain YAML with CloudFormation short tags (!Ref, !GetAtt,
   !Sub, ...) kept as tagged values, the way serde_yaml reads it: a single
   document, no anchors or aliases, no tags other than CloudFormation's.
2. MAX's conventions hold:
   - every function: CodeUri ".", BuildMethod rust-cargolambda with a Binary,
     a unique Binary, its own /aws/lambda/${Fn} log group with retention;
   - Globals.Function's environment hands no secret, queue or bucket to every
     function; each function's own environment holds exactly the variables its
     `Needs` (functions/<binary>/src/main.rs) makes config.rs read;
   - every SQS event: Queue: !GetAtt <Queue>.Arn, ReportBatchItemFailures,
     queue VisibilityTimeout >= 6 x the consumer's Timeout, a RedrivePolicy
     with maxReceiveCount >= 5 to a DLQ of the same kind (FIFO or not);
   - every DLQ: 14-day retention and a CloudWatch alarm on
     ApproximateNumberOfMessagesVisible with an alarm action;
   - every HttpApi event: ApiId: !Ref MaxHttpApi, Method, Path starting with
     "/", {name} path parameters, no duplicate method + path, and /v1 routes
     never public (Authorizer: NONE).
3. Least privilege and safe defaults (issue 10):
   - every function has explicit Policies made only of inline statements: no
     managed policies and no SAM policy templates (DynamoDBCrudPolicy grants
     Scan, *FullAccess everything, SQSSendMessagePolicy sqs:SendMessage*);
   - no Allow statement anywhere has a wildcard action (`*`, `service:*`,
     `s3:Get*`), NotAction, or Resource "*"; dynamodb:Scan appears nowhere;
     DynamoDB actions are item-level ones IAM knows (TransactWriteItems is not
     an IAM action: a transaction needs the action of each of its items);
   - each function's DynamoDB grants are exactly the actions its code reaches
     (infra/scripts/dynamo_actions.py reads them from the Rust source), Query on
     the indexes only if it queries one;
   - the table's TTL is enabled on the attribute the code writes (expires_at);
   - S3 grants name a prefix of the bucket (`${MediaBucket.Arn}/inbound/*`; s3:ListBucket,
     which names the bucket, alone in its statement with a StringLike s3:prefix condition),
     and every prefix granted (and every one the code writes: BASELINE_PREFIXES)
     has an enabled lifecycle rule that expires it;
   - Secrets Manager: per folder (SECRET_GRANTS), only its writers write and its readers read,
     and every grant names secrets below max/${AWS::StackName}/ in a known folder;
   - GraphApiBaseUrl: an https default and an AllowedPattern refusing http;
     CORS origins come from a parameter with no "*" default whose
     AllowedPattern refuses "*"; LogLevel defaults to info;
   - every dead-letter queue (SQS redrive targets, schedules' DeadLetterConfig,
     Lambda on-failure destinations, SNS subscription redrive) has an alarm;
     schedules name their DLQ (DeadLetterConfig.Arn) so it can have one;
   - every function has an Errors and a Throttles alarm (AWS/Lambda, with
     AlarmActions); the log lines of LOG_ALARMS have a metric filter and an
     alarm on its metric;
   - the webhook receiver and every queue worker have ReservedConcurrentExecutions;
     every public webhook route has its own RouteSettings throttle;
   - who may act: one Cognito user pool, without self sign-up
     (AllowAdminCreateUserOnly), whose custom:org_id is immutable and that has
     the groups admin, supervisor, agent; every app client lists its
     WriteAttributes and custom:org_id is not among them; the HTTP API's JWT
     authorizer trusts that pool (issuer) and its clients (audience) only.

Usage: check_template.py [template.yaml]   (exit 1 with a list of problems)
Self-tests: python3 -m unittest infra/scripts/test_check_template.py (run by lint-template.sh)
"""

import glob as globbing
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# What config.rs reads for each part of `Needs` (TABLE_NAME always).
NEEDS_ENV = {
    "queue:Inbound": ["INBOUND_QUEUE_URL"],
    "queue:Replies": ["REPLIES_QUEUE_URL"],
    "queue:NextSteps": ["NEXT_STEP_QUEUE_URL"],
    "queue:Calls": ["CALLS_QUEUE_URL"],
    "queue:Media": ["MEDIA_QUEUE_URL"],
    "queue:Webhooks": ["WEBHOOKS_QUEUE_URL"],
    "blobs": ["MEDIA_BUCKET"],
    "webhook_secrets": ["WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"],
    "whatsapp": ["GRAPH_API_BASE_URL"],
    "secrets": ["SECRETS_PREFIX"],
    "voice": ["TWILIO_API_BASE_URL"],
    "public_url": ["PUBLIC_API_URL"],
    "live_push": ["LIVE_PUSH_ENDPOINT"],
    "identity": ["JWT_ISSUER", "JWT_AUDIENCE"],
}
ALWAYS_ENV = ["TABLE_NAME"]
# Settings config.rs reads when given, beside a required one (a peer's timeout: media-worker's
# downloads take longer than a send).
OPTIONAL_ENV = {"GRAPH_API_BASE_URL": {"GRAPH_API_TIMEOUT_MS"}, "TWILIO_API_BASE_URL": {"TWILIO_API_TIMEOUT_MS"}}
# Variables every function may get from Globals (not secrets, nothing to reach).
GLOBAL_ENV_ALLOWED = {"TABLE_NAME", "RUST_LOG"}

# Item-level DynamoDB actions (IAM names). Scan is deliberately absent.
DYNAMODB_ACTIONS = {
    "GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem",
    "BatchWriteItem", "Query", "ConditionCheckItem",
}
# Prefixes of the media bucket the code writes (shared/src/app/inbound.rs,
# functions/whatsapp-webhook): each needs a lifecycle rule even if no grant names it.
BASELINE_PREFIXES = ["inbound/", "webhooks/unhandled/", "quarantine/"]
BUCKET = "MediaBucket"
# Log lines that must raise an alarm: (log message, what it means).
LOG_ALARMS = [
    ("webhook signature missing or wrong", "webhook 401 bursts"),
    ("WhatsApp access token", "Graph error 190 or no token: every send from a number fails"),
]
# Who may touch which secrets (Secrets Manager), by the folder below the stack's prefix and by
# binary: the numbers' Graph tokens are written by the channels API and read by the sender and
# the templates API (a template request to Meta carries a token of one of the WABA's numbers);
# the organisations' voice accounts are written (and shown, without the token) by the channels
# API and read by the dialer (to place calls) and the voice webhook (to verify callbacks). Every
# grant names secrets below the stack's prefix, in one of these folders.
# The only /v1 routes without the JWT authorizer: the organisations' chat apps call them server to
# server, each call signed with one of the organisation's keys (docs/chat-app.md).
SIGNED_V1_ROUTES = {("POST", "/v1/channels/chat-app/messages"), ("POST", "/v1/channels/chat-app/statuses")}

SECRET_GRANTS = {
    "whatsapp/": {"writers": {"api-channels"}, "readers": {"reply-sender", "api-whatsapp-templates", "media-worker"}},
    "voice/": {"writers": {"api-channels"}, "readers": {"api-channels", "call-dialer", "voice-webhook"}},
    # Each chat-app API key's HMAC secret: written once by api-channels, read only by the function
    # that checks the app's signed calls (docs/chat-app.md).
    "chat-app/": {"writers": {"api-channels"}, "readers": {"chat-app-webhook"}},
    # Each outbound webhook subscription's signing secrets: written by the webhooks API (create,
    # rotate, delete), read by it (rotation keeps the previous one) and by the delivery worker
    # that signs with them (docs/webhooks.md).
    "webhooks/": {"writers": {"api-webhooks"}, "readers": {"api-webhooks", "webhook-delivery"}},
}
SECRET_READ_ACTIONS = {"GetSecretValue"}
SECRET_WRITE_ACTIONS = {"DescribeSecret", "CreateSecret", "PutSecretValue", "RestoreSecret", "DeleteSecret"}
SECRET_ARN_PREFIX = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:max/${AWS::StackName}/"
# Live push (docs/live-push.md): who may post to the dashboards' WebSocket connections
# (execute-api:ManageConnections), the routes a WebSocket API must have, and where its token is.
MANAGE_CONNECTIONS = {"live-push"}
WEBSOCKET_ROUTES = ("$connect", "$disconnect", "$default")
WEBSOCKET_TOKEN_SOURCE = "route.request.querystring.token"
# The dev stack's shared-secret token checker (config.rs): never in a deployed function.
DEV_ONLY_ENV = {"DEV_JWT_SECRET"}
# The claim naming a user's organisation (shared/src/http.rs ORG_CLAIM) and the groups that are roles.
ORG_ATTRIBUTE = "custom:org_id"
ROLE_GROUPS = ["admin", "supervisor", "agent"]
MANAGED_WILDCARD_RE = re.compile(r"Crud|FullAccess|PowerUser|Administrator", re.I)

CFN_TAGS = {
    "!Ref", "!GetAtt", "!Sub", "!Join", "!Select", "!Split", "!If", "!Equals",
    "!Not", "!And", "!Or", "!Condition", "!FindInMap", "!GetAZs",
    "!ImportValue", "!Base64", "!Cidr", "!Transform", "!ToJsonString",
    "!Length", "!ForEach",
}

MIN_MAX_RECEIVE = 5
DLQ_RETENTION = 14 * 24 * 3600
PATH_RE = re.compile(r"^/([A-Za-z0-9._~-]+|\{[A-Za-z_][A-Za-z0-9_]*\+?\})(/([A-Za-z0-9._~-]+|\{[A-Za-z_][A-Za-z0-9_]*\+?\}))*$")


class Tagged:
    """A CloudFormation short-form intrinsic, e.g. Tagged('!Ref', 'MaxTable')."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value

    def __repr__(self):
        return f"{self.tag} {self.value!r}"


class CfnLoader(yaml.SafeLoader):
    pass


def _construct_tagged(loader, tag_suffix, node):
    tag = "!" + tag_suffix
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged(tag, value)


CfnLoader.add_multi_constructor("!", _construct_tagged)


def load(path, problems):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # Structural checks on the event stream: one document, no anchors/aliases,
    # only CloudFormation tags.
    docs = 0
    for event in yaml.parse(text, Loader=CfnLoader):
        if isinstance(event, yaml.DocumentStartEvent):
            docs += 1
        if isinstance(event, yaml.AliasEvent):
            problems.append(f"line {event.start_mark.line + 1}: YAML alias *{event.anchor} (serde_yaml consumers: avoid anchors/aliases)")
        anchor = getattr(event, "anchor", None)
        if anchor is not None and not isinstance(event, yaml.AliasEvent):
            problems.append(f"line {event.start_mark.line + 1}: YAML anchor &{anchor} (avoid anchors/aliases)")
        tag = getattr(event, "tag", None)
        if tag and tag.startswith("!") and not tag.startswith("!!") and tag not in CFN_TAGS:
            problems.append(f"line {event.start_mark.line + 1}: unknown tag {tag}")
    if docs != 1:
        problems.append(f"expected exactly one YAML document, found {docs}")
    return yaml.load(text, Loader=CfnLoader)


def ref_name(value):
    """'X' for !Ref X or {'Ref': 'X'}; else None."""
    if isinstance(value, Tagged) and value.tag == "!Ref" and isinstance(value.value, str):
        return value.value
    if isinstance(value, dict) and list(value) == ["Ref"]:
        return value["Ref"]
    return None


def getatt(value):
    """('X', 'Arn') for !GetAtt X.Arn, [X, Arn] or {'Fn::GetAtt': ...}; else None."""
    if isinstance(value, Tagged) and value.tag == "!GetAtt":
        v = value.value
    elif isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        v = value["Fn::GetAtt"]
    else:
        return None
    if isinstance(v, str) and "." in v:
        return tuple(v.split(".", 1))
    if isinstance(v, list) and len(v) == 2:
        return tuple(v)
    return None


def sub_string(value):
    if isinstance(value, Tagged) and value.tag == "!Sub" and isinstance(value.value, str):
        return value.value
    if isinstance(value, dict) and list(value) == ["Fn::Sub"] and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"]
    return None


def as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def check(template, problems):
    resources = template.get("Resources") or {}
    glob = ((template.get("Globals") or {}).get("Function")) or {}

    def of_type(t):
        return {k: v for k, v in resources.items() if isinstance(v, dict) and v.get("Type") == t}

    functions = of_type("AWS::Serverless::Function")
    queues = of_type("AWS::SQS::Queue")
    log_groups = of_type("AWS::Logs::LogGroup")
    alarms = of_type("AWS::CloudWatch::Alarm")

    secret_params = {k for k, v in (template.get("Parameters") or {}).items() if isinstance(v, dict) and str(v.get("NoEcho")).lower() == "true"}
    global_env = ((glob.get("Environment") or {}).get("Variables")) or {}
    for name, value in global_env.items():
        if name not in GLOBAL_ENV_ALLOWED or ref_name(value) in secret_params:
            problems.append(f"Globals.Function.Environment.Variables.{name}: every function would get it; give it to the functions that need it")

    # Log groups named /aws/lambda/${Fn} with retention.
    logged = set()
    for lg in log_groups.values():
        props = lg.get("Properties") or {}
        name = sub_string(props.get("LogGroupName"))
        m = re.fullmatch(r"/aws/lambda/\$\{([A-Za-z0-9]+)\}", name or "")
        if m and props.get("RetentionInDays") is not None:
            logged.add(m.group(1))

    binaries = {}
    routes = {}
    consumers = {}  # queue logical id -> [(function, timeout)]
    for fname, fn in functions.items():
        props = fn.get("Properties") or {}
        meta = fn.get("Metadata") or {}
        if props.get("CodeUri") != ".":
            problems.append(f"{fname}: CodeUri must be '.'")
        if meta.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{fname}: Metadata.BuildMethod must be rust-cargolambda")
        binary = (meta.get("BuildProperties") or {}).get("Binary")
        if not binary:
            problems.append(f"{fname}: Metadata.BuildProperties.Binary missing")
        elif binary in binaries:
            problems.append(f"{fname}: Binary {binary} already used by {binaries[binary]}")
        else:
            binaries[binary] = fname
        if fname not in logged:
            problems.append(f"{fname}: no AWS::Logs::LogGroup '/aws/lambda/${{{fname}}}' with RetentionInDays")
        timeout = as_int(props.get("Timeout", glob.get("Timeout", 3)))

        for ename, event in (props.get("Events") or {}).items():
            etype = event.get("Type")
            eprops = event.get("Properties") or {}
            where = f"{fname}.Events.{ename}"
            if etype == "HttpApi":
                if ref_name(eprops.get("ApiId")) != "MaxHttpApi":
                    problems.append(f"{where}: ApiId must be !Ref MaxHttpApi")
                method, path = eprops.get("Method"), eprops.get("Path")
                if not isinstance(method, str) or not isinstance(path, str):
                    problems.append(f"{where}: needs plain Method and Path")
                    continue
                if not PATH_RE.match(path):
                    problems.append(f"{where}: Path {path!r} is not /segment/{{param}} form")
                key = (method.upper(), path)
                if key in routes:
                    problems.append(f"{where}: route {method} {path} already defined by {routes[key]}")
                routes[key] = where
                authorizer = (eprops.get("Auth") or {}).get("Authorizer")
                if path.startswith("/v1/") and authorizer == "NONE" and (method.upper(), path) not in SIGNED_V1_ROUTES:
                    problems.append(f"{where}: /v1 routes must stay behind the JWT authorizer")
            elif etype == "SQS":
                target = getatt(eprops.get("Queue"))
                if not target or target[1] != "Arn" or target[0] not in queues:
                    problems.append(f"{where}: Queue must be !GetAtt <SQS queue>.Arn")
                    continue
                if "ReportBatchItemFailures" not in (eprops.get("FunctionResponseTypes") or []):
                    problems.append(f"{where}: FunctionResponseTypes must include ReportBatchItemFailures")
                consumers.setdefault(target[0], []).append((fname, timeout))

    # Queues, their DLQs and the DLQ alarms.
    dlqs = {}
    for qname, q in queues.items():
        props = q.get("Properties") or {}
        redrive = props.get("RedrivePolicy")
        if redrive is None:
            continue
        if not isinstance(redrive, dict):
            problems.append(f"{qname}: RedrivePolicy must be a mapping (the local stack reads it)")
            continue
        target = getatt(redrive.get("deadLetterTargetArn"))
        if not target or target[0] not in queues:
            problems.append(f"{qname}: RedrivePolicy.deadLetterTargetArn must be !GetAtt <DLQ>.Arn")
            continue
        dlqs[target[0]] = qname
        if (as_int(redrive.get("maxReceiveCount")) or 0) < MIN_MAX_RECEIVE:
            problems.append(f"{qname}: maxReceiveCount must be >= {MIN_MAX_RECEIVE}")
        fifo = bool(props.get("FifoQueue"))
        dlq_fifo = bool((queues[target[0]].get("Properties") or {}).get("FifoQueue"))
        if fifo != dlq_fifo:
            problems.append(f"{qname}: DLQ {target[0]} must be {'FIFO' if fifo else 'standard'} like its source")
        qn = props.get("QueueName")
        if fifo and isinstance(qn, (str, Tagged)):
            text = qn if isinstance(qn, str) else sub_string(qn) or ""
            if text and not text.endswith(".fifo"):
                problems.append(f"{qname}: FIFO QueueName must end with .fifo")

    for qname, fns in consumers.items():
        props = queues[qname].get("Properties") or {}
        visibility = as_int(props.get("VisibilityTimeout", 30)) or 0
        for fname, timeout in fns:
            if timeout is not None and visibility < 6 * timeout:
                problems.append(f"{qname}: VisibilityTimeout {visibility} < 6 x {fname} Timeout {timeout}")
        if props.get("RedrivePolicy") is None:
            problems.append(f"{qname}: consumed by {fns[0][0]} but has no RedrivePolicy")

    # Other dead-letter queues: the schedules', Lambda on-failure destinations, SNS redrive.
    for fname, fn in functions.items():
        props = fn.get("Properties") or {}
        on_failure = (((props.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure")) or {}
        target = getatt(on_failure.get("Destination"))
        if on_failure.get("Type") == "SQS":
            if target and target[0] in queues:
                dlqs.setdefault(target[0], f"{fname} (on-failure destination)")
            else:
                problems.append(f"{fname}: EventInvokeConfig OnFailure SQS destination must be !GetAtt <queue>.Arn of this template")
        for ename, event in (props.get("Events") or {}).items():
            if event.get("Type") in ("DynamoDB", "Kinesis"):
                # A stream's event source mapping reports what it gave up on to its on-failure destination.
                on_failure = ((event.get("Properties") or {}).get("DestinationConfig") or {}).get("OnFailure") or {}
                target = getatt(on_failure.get("Destination"))
                if target and target[0] in queues:
                    dlqs.setdefault(target[0], f"{fname}.Events.{ename} (stream on-failure destination)")
                else:
                    problems.append(f"{fname}.Events.{ename}: a stream event needs DestinationConfig.OnFailure.Destination: !GetAtt <queue>.Arn (a named DLQ, so it can have an alarm)")
                continue
            if event.get("Type") not in ("Schedule", "ScheduleV2"):
                continue
            dl = (event.get("Properties") or {}).get("DeadLetterConfig") or {}
            target = getatt(dl.get("Arn"))
            if target and target[0] in queues:
                dlqs.setdefault(target[0], f"{fname}.Events.{ename} (schedule)")
            else:
                problems.append(f"{fname}.Events.{ename}: schedule needs DeadLetterConfig.Arn: !GetAtt <queue>.Arn (a named DLQ, so it can have an alarm)")
    for sname, sub in of_type("AWS::SNS::Subscription").items():
        target = getatt(((sub.get("Properties") or {}).get("RedrivePolicy") or {}).get("deadLetterTargetArn"))
        if target and target[0] in queues:
            dlqs.setdefault(target[0], sname)

    alarmed = set()
    for alarm in alarms.values():
        props = alarm.get("Properties") or {}
        if props.get("MetricName") != "ApproximateNumberOfMessagesVisible" or not props.get("AlarmActions"):
            continue
        for dim in props.get("Dimensions") or []:
            target = getatt(dim.get("Value"))
            if dim.get("Name") == "QueueName" and target and target[1] == "QueueName":
                alarmed.add(target[0])
    for dlq, source in dlqs.items():
        props = queues[dlq].get("Properties") or {}
        if as_int(props.get("MessageRetentionPeriod")) != DLQ_RETENTION:
            problems.append(f"{dlq}: DLQ MessageRetentionPeriod must be {DLQ_RETENTION} (14 days)")
        if dlq not in alarmed:
            problems.append(f"{dlq}: DLQ of {source} has no ApproximateNumberOfMessagesVisible alarm with AlarmActions")

    check_security(template, resources, functions, problems)
    check_users(resources, problems)
    check_websocket(resources, functions, problems)


# ------------------------------------------------------------------ issue 10

def sub_or_str(value):
    if isinstance(value, str):
        return value
    return sub_string(value)


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def walk(value):
    """Every scalar of a loaded value (into tagged intrinsics too)."""
    if isinstance(value, Tagged):
        yield from walk(value.value)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)
    else:
        yield value


def check_statements(where, statements, problems, s3_prefixes=None):
    """Allow statements: no wildcard action, no NotAction, no Resource "*", known DynamoDB
    actions; S3 resources per prefix (collected into s3_prefixes)."""
    for i, st in enumerate(as_list(statements)):
        if not isinstance(st, dict):
            problems.append(f"{where}: statement {i} is not a mapping")
            continue
        sid = st.get("Sid", i)
        if st.get("Effect") != "Allow":
            continue
        if "NotAction" in st or "NotResource" in st:
            problems.append(f"{where}: statement {sid}: NotAction/NotResource grant everything else")
        actions = [a for a in as_list(st.get("Action")) if isinstance(a, str)]
        for action in actions:
            if "*" in action:
                problems.append(f"{where}: statement {sid}: wildcard action {action!r}")
            service, _, name = action.partition(":")
            if service.lower() == "dynamodb" and name.lower() == "scan":
                problems.append(f"{where}: statement {sid}: dynamodb:Scan (no access pattern scans)")
            elif service.lower() == "dynamodb" and "*" not in name and name not in DYNAMODB_ACTIONS:
                problems.append(f"{where}: statement {sid}: {action} is not one of the item actions {sorted(DYNAMODB_ACTIONS)}")
        resources = as_list(st.get("Resource"))
        if "*" in resources:
            problems.append(f"{where}: statement {sid}: Resource \"*\"")
        if s3_prefixes is not None and any(a.lower() == "s3:listbucket" for a in actions):
            check_list_bucket(where, sid, st, actions, resources, problems, s3_prefixes)
            continue
        if s3_prefixes is not None and any(a.lower().startswith("s3:") for a in actions):
            for r in resources:
                text = sub_or_str(r) or ""
                m = re.fullmatch(r"\$\{" + BUCKET + r"\.Arn\}/(.*)\*", text)
                if not m or not m.group(1) or not m.group(1).endswith("/"):
                    problems.append(f"{where}: statement {sid}: S3 resource {text or r!r} must be one prefix of the bucket: ${{{BUCKET}.Arn}}/<prefix>/*")
                else:
                    s3_prefixes.setdefault(m.group(1), []).append(where)


def check_list_bucket(where, sid, st, actions, resources, problems, s3_prefixes):
    """s3:ListBucket names the bucket itself, so it is held to prefixes by its condition: alone in
    its statement, on the media bucket, with StringLike s3:prefix values `<prefix>/*` (each prefix
    then needs its lifecycle rule like any granted one)."""
    if any(a.lower() != "s3:listbucket" for a in actions):
        problems.append(f"{where}: statement {sid}: s3:ListBucket must have a statement of its own (it is granted on the bucket, not on a prefix)")
    if len(resources) != 1 or getatt(resources[0]) != (BUCKET, "Arn"):
        problems.append(f"{where}: statement {sid}: s3:ListBucket must name the bucket (!GetAtt {BUCKET}.Arn) and nothing else")
    listed = as_list((((st.get("Condition") or {}).get("StringLike")) or {}).get("s3:prefix"))
    if not listed:
        problems.append(f"{where}: statement {sid}: s3:ListBucket needs Condition StringLike s3:prefix (one prefix of the bucket, not all of it)")
    for value in listed:
        m = re.fullmatch(r"(.+/)\*", value if isinstance(value, str) else "")
        if not m:
            problems.append(f"{where}: statement {sid}: s3:prefix {value!r} must be <prefix>/*")
        else:
            s3_prefixes.setdefault(m.group(1), []).append(where)


def allow_statements(fn):
    """Every Allow statement of a function's inline policies."""
    for policy in as_list((fn.get("Properties") or {}).get("Policies")):
        if not isinstance(policy, dict) or "Statement" not in policy:
            continue
        for st in as_list(policy["Statement"]):
            if isinstance(st, dict) and st.get("Effect") == "Allow":
                yield st


def service_actions(st, service):
    """The actions a statement allows on `service` (`dynamodb`, `secretsmanager`), without the prefix."""
    prefix = service + ":"
    return {a.split(":", 1)[1] for a in as_list(st.get("Action")) if isinstance(a, str) and a.lower().startswith(prefix)}


def check_secret_grants(functions, problems):
    """Secrets Manager: in each folder, its writers write and its readers read, nobody else touches
    a secret, and every grant names secrets below the stack's own prefix, in a known folder."""
    for fname, fn in functions.items():
        binary = ((fn.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        for st in allow_statements(fn):
            sid = st.get("Sid", "?")
            actions = service_actions(st, "secretsmanager")
            if not actions:
                continue
            for r in as_list(st.get("Resource")):
                text = sub_or_str(r) or ""
                folder = next((f for f in SECRET_GRANTS if text.startswith(SECRET_ARN_PREFIX + f) and len(text) > len(SECRET_ARN_PREFIX + f)), None)
                if folder is None:
                    problems.append(f"{fname}: statement {sid}: secrets must be named below {SECRET_ARN_PREFIX} in one of {', '.join(SECRET_GRANTS)} (found {text or r!r})")
                    continue
                grant = SECRET_GRANTS[folder]
                allowed = (SECRET_WRITE_ACTIONS if binary in grant["writers"] else set()) | (SECRET_READ_ACTIONS if binary in grant["readers"] else set())
                for action in sorted(actions - allowed):
                    who = "its writers" if action in SECRET_WRITE_ACTIONS else "its readers" if action in SECRET_READ_ACTIONS else "no function"
                    problems.append(f"{fname}: statement {sid}: secretsmanager:{action} on {folder} is for {who} only (SECRET_GRANTS)")


def parse_needs(main_rs):
    """The environment variables a function's `Needs` makes config.rs read."""
    with open(main_rs, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"Deps::from_env\((.*?)\)\s*\.await", text, re.S)
    if not m:
        return None
    needs = m.group(1)
    if "EVERYTHING" in needs:
        parts = [k for k in NEEDS_ENV]
    else:
        parts = ["queue:" + q for q in re.findall(r"Queue::(\w+)", needs)]
        # Flags are `name: true`; clients to build are `name: Some(config::client)`.
        parts += [k for k in ("webhook_secrets", "public_url") if re.search(k + r"\s*:\s*true", needs)]
        parts += [k for k in ("blobs", "whatsapp", "voice", "secrets", "live_push", "identity") if re.search(k + r"\s*:\s*Some\(", needs)]
    wanted = set(ALWAYS_ENV)
    for part in parts:
        wanted.update(NEEDS_ENV.get(part, []))
    return wanted


def check_security(template, resources, functions, problems, repo_root=None):
    params = template.get("Parameters") or {}
    glob = ((template.get("Globals") or {}).get("Function")) or {}
    global_env = set((((glob.get("Environment") or {}).get("Variables")) or {}).keys())
    if repo_root is None:
        repo_root = REPO_ROOT

    def of_type(t):
        return {k: v for k, v in resources.items() if isinstance(v, dict) and v.get("Type") == t}

    # Scan, anywhere at all.
    for value in walk(resources):
        if isinstance(value, str) and value.lower() in ("dynamodb:scan", "dynamodb:scan*"):
            problems.append(f"dynamodb:Scan appears in the template ({value})")
            break

    # Function policies and environments.
    s3_prefixes = {}
    for fname, fn in functions.items():
        props = fn.get("Properties") or {}
        policies = props.get("Policies")
        if props.get("Role") is not None:
            problems.append(f"{fname}: Role given; declare the function's own Policies instead")
        if not policies:
            problems.append(f"{fname}: no explicit Policies (a function states what it may do)")
        for i, policy in enumerate(as_list(policies)):
            where = f"{fname}.Policies[{i}]"
            if isinstance(policy, (str, Tagged)):
                name = policy if isinstance(policy, str) else repr(policy)
                kind = "managed wildcard policy" if MANAGED_WILDCARD_RE.search(name) else "managed policy"
                problems.append(f"{where}: {kind} {name}: use inline statements with the exact actions")
            elif isinstance(policy, dict) and "Statement" in policy:
                check_statements(where, policy["Statement"], problems, s3_prefixes)
            elif isinstance(policy, dict):
                name = next(iter(policy), "?")
                kind = "managed wildcard policy" if MANAGED_WILDCARD_RE.search(name) else "SAM policy template"
                problems.append(f"{where}: {kind} {name} (hides its actions, some of them wildcards or Scan): use inline statements")
            else:
                problems.append(f"{where}: not a policy")
        # Environment: exactly what its Needs reads.
        binary = ((fn.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        main_rs = os.path.join(repo_root, "functions", str(binary), "src", "main.rs")
        own = set((((props.get("Environment") or {}).get("Variables")) or {}).keys())
        if binary and os.path.exists(main_rs):
            wanted = parse_needs(main_rs)
            if wanted is None:
                problems.append(f"{fname}: cannot read its Needs from {main_rs}")
                continue
            given = own | global_env
            for name in sorted(wanted - given):
                problems.append(f"{fname}: Environment lacks {name} (its Needs reads it)")
            optional = set().union(*(OPTIONAL_ENV.get(w, set()) for w in wanted))
            for name in sorted(own - wanted - GLOBAL_ENV_ALLOWED - optional):
                problems.append(f"{fname}: Environment has {name}, which its Needs does not read (least privilege: leave it out)")

    # DynamoDB grants = what the code reaches (dynamo_actions.py), no more, no less.
    check_dynamodb_grants(functions, problems, repo_root)
    # The audit trail: no function may edit an entry; the code puts new entries only.
    check_audit_deny(functions, problems, repo_root)
    # Secrets: who may write, who may read, and only the stack's own.
    check_secret_grants(functions, problems)

    # Every other policy document of the template: no wildcard grants either.
    for rname, res in resources.items():
        if not isinstance(res, dict):
            continue
        rprops = res.get("Properties") or {}
        docs = []
        if res.get("Type") in ("AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs.append(rprops.get("PolicyDocument") or {})
        if res.get("Type") == "AWS::IAM::Role":
            docs += [p.get("PolicyDocument") or {} for p in as_list(rprops.get("Policies")) if isinstance(p, dict)]
            for arn in as_list(rprops.get("ManagedPolicyArns")):
                text = arn if isinstance(arn, str) else sub_or_str(arn) or ""
                if MANAGED_WILDCARD_RE.search(text):
                    problems.append(f"{rname}: managed wildcard policy {text}")
        for doc in docs:
            check_statements(rname, doc.get("Statement") if isinstance(doc, dict) else None, problems)

    # Parameters: https Graph API, CORS origins, log level.
    graph = params.get("GraphApiBaseUrl")
    if not isinstance(graph, dict):
        problems.append("Parameters.GraphApiBaseUrl missing")
    else:
        default, pattern = graph.get("Default"), graph.get("AllowedPattern")
        if default is not None and not str(default).startswith("https://"):
            problems.append(f"Parameters.GraphApiBaseUrl: default {default!r} is not https")
        if not pattern:
            problems.append("Parameters.GraphApiBaseUrl: needs an AllowedPattern that only accepts https URLs")
        else:
            if re.fullmatch(pattern, "http://graph.facebook.com/v23.0"):
                problems.append(f"Parameters.GraphApiBaseUrl: AllowedPattern {pattern!r} accepts http://")
            if default is not None and not re.fullmatch(pattern, str(default)):
                problems.append(f"Parameters.GraphApiBaseUrl: the default does not match its own AllowedPattern")
    log_level = params.get("LogLevel")
    if not isinstance(log_level, dict) or log_level.get("Default") != "info":
        problems.append(f"Parameters.LogLevel: default must be info (found {None if not isinstance(log_level, dict) else log_level.get('Default')!r})")
    apis = of_type("AWS::Serverless::HttpApi")
    for aname, api in apis.items():
        aprops = api.get("Properties") or {}
        cors = aprops.get("CorsConfiguration")
        if cors is None:
            continue
        if not isinstance(cors, dict):
            problems.append(f"{aname}: CorsConfiguration must be a mapping with AllowOrigins from a parameter")
            continue
        origins = cors.get("AllowOrigins")
        if "*" in [o for o in walk(origins)]:
            problems.append(f"{aname}: CORS AllowOrigins contains \"*\"")
        refs = [ref_name(origins)] if ref_name(origins) else [ref_name(o) for o in as_list(origins)]
        if not refs or None in refs:
            problems.append(f"{aname}: CORS AllowOrigins must come from a parameter (each deployment names its dashboards)")
        for ref in filter(None, refs):
            param = params.get(ref)
            if not isinstance(param, dict):
                problems.append(f"{aname}: CORS origins parameter {ref} is not a parameter")
                continue
            if "*" in str(param.get("Default", "")):
                problems.append(f"Parameters.{ref}: CORS origins default contains \"*\"")
            pattern = param.get("AllowedPattern")
            if not pattern or re.fullmatch(pattern, "*"):
                problems.append(f"Parameters.{ref}: needs an AllowedPattern that refuses \"*\"")

    # Data lifetimes: every S3 prefix granted or written expires.
    rules = []
    bucket = resources.get(BUCKET) or {}
    for rule in (((bucket.get("Properties") or {}).get("LifecycleConfiguration") or {}).get("Rules")) or []:
        prefix = rule.get("Prefix", ((rule.get("Filter") or {}).get("Prefix")))
        if rule.get("Status") == "Enabled" and prefix and (rule.get("ExpirationInDays") or rule.get("ExpirationDate")):
            rules.append(prefix)
    wanted = dict((p, ["the code"]) for p in BASELINE_PREFIXES)
    for p, who in s3_prefixes.items():
        wanted.setdefault(p, []).extend(who)
    for prefix, who in sorted(wanted.items()):
        if not any(prefix.startswith(r) for r in rules):
            problems.append(f"{BUCKET}: S3 prefix {prefix} ({', '.join(sorted(set(who)))}) has no enabled lifecycle rule with an expiration")

    # Transient items expire: if the code writes a TTL attribute, the table's TTL is on it.
    ttl_attrs = set()
    for path in sorted(globbing.glob(os.path.join(repo_root, "shared/src/adapters/dynamo/*.rs"))):
        with open(path, encoding="utf-8") as f:
            ttl_attrs.update(re.findall(r'"(expires_at|ttl)"', f.read()))
    table_ttl = ((resources.get("MaxTable") or {}).get("Properties") or {}).get("TimeToLiveSpecification") or {}
    for attr in sorted(ttl_attrs):
        if table_ttl.get("AttributeName") != attr or table_ttl.get("Enabled") is not True:
            problems.append(f"MaxTable: the code writes the TTL attribute {attr!r}; TimeToLiveSpecification must enable it")

    # Alarms: Errors and Throttles per function, the log lines of LOG_ALARMS.
    alarms = of_type("AWS::CloudWatch::Alarm")
    per_function = set()
    alarmed_metrics = set()
    for alarm in alarms.values():
        props = alarm.get("Properties") or {}
        if not props.get("AlarmActions"):
            continue
        ns = props.get("Namespace")
        alarmed_metrics.add((sub_or_str(ns) or ns if not isinstance(ns, str) else ns, props.get("MetricName")))
        if ns == "AWS/Lambda":
            for dim in props.get("Dimensions") or []:
                if dim.get("Name") == "FunctionName" and ref_name(dim.get("Value")):
                    per_function.add((ref_name(dim.get("Value")), props.get("MetricName")))
    for fname in functions:
        for metric in ("Errors", "Throttles"):
            if (fname, metric) not in per_function:
                problems.append(f"{fname}: no AWS/Lambda {metric} alarm with AlarmActions")
    filters = of_type("AWS::Logs::MetricFilter")
    for message, meaning in LOG_ALARMS:
        found = False
        for f in filters.values():
            props = f.get("Properties") or {}
            if message not in str(props.get("FilterPattern", "")):
                continue
            for t in props.get("MetricTransformations") or []:
                ns = t.get("MetricNamespace")
                key = (ns if isinstance(ns, str) else sub_or_str(ns), t.get("MetricName"))
                found = found or key in alarmed_metrics
        if not found:
            problems.append(f"no metric filter on {message!r} with an alarm ({meaning})")

    # One tenant cannot starve the rest: reserved concurrency, the webhook's own throttle.
    route_settings = {}
    for api in apis.values():
        route_settings.update(((api.get("Properties") or {}).get("RouteSettings")) or {})
    for fname, fn in functions.items():
        props = fn.get("Properties") or {}
        events = (props.get("Events") or {}).values()
        webhook_routes = [
            f"{(e.get('Properties') or {}).get('Method', '').upper()} {(e.get('Properties') or {}).get('Path')}"
            for e in events
            if e.get("Type") == "HttpApi" and str((e.get("Properties") or {}).get("Path", "")).startswith("/webhooks/")
        ]
        is_worker = any(e.get("Type") == "SQS" for e in events)
        if (webhook_routes or is_worker) and props.get("ReservedConcurrentExecutions") is None:
            problems.append(f"{fname}: {'webhook receiver' if webhook_routes else 'queue worker'} needs ReservedConcurrentExecutions")
        for route in webhook_routes:
            settings = route_settings.get(route) or {}
            if settings.get("ThrottlingRateLimit") is None or settings.get("ThrottlingBurstLimit") is None:
                problems.append(f"{fname}: webhook route {route} needs its own RouteSettings throttle (rate and burst)")


def check_websocket(resources, functions, problems):
    """The dashboards' WebSocket API (docs/live-push.md): every WEBSOCKET API routes on
    `$request.body.action` and has $connect, $disconnect and $default, each on an integration;
    $connect is authorised by a REQUEST authorizer reading the token from the query string (the
    only route API Gateway authorises); each Lambda integration's function may be invoked by API
    Gateway for that API only. execute-api:ManageConnections is granted only to MANAGE_CONNECTIONS,
    POST only, on one of the template's WebSocket APIs. No function gets the dev stack's secret."""
    def of_type(t):
        return {k: v for k, v in resources.items() if isinstance(v, dict) and v.get("Type") == t}

    apis = {k: v for k, v in of_type("AWS::ApiGatewayV2::Api").items() if (v.get("Properties") or {}).get("ProtocolType") == "WEBSOCKET"}
    routes = of_type("AWS::ApiGatewayV2::Route")
    authorizers = of_type("AWS::ApiGatewayV2::Authorizer")
    integrations = of_type("AWS::ApiGatewayV2::Integration")
    permissions = of_type("AWS::Lambda::Permission")
    for aname, api in apis.items():
        if (api.get("Properties") or {}).get("RouteSelectionExpression") != "$request.body.action":
            problems.append(f"{aname}: RouteSelectionExpression must be $request.body.action")
        mine = {(r.get("Properties") or {}).get("RouteKey"): (rname, r.get("Properties") or {}) for rname, r in routes.items() if ref_name((r.get("Properties") or {}).get("ApiId")) == aname}
        for key in WEBSOCKET_ROUTES:
            if key not in mine:
                problems.append(f"{aname}: no {key} route")
                continue
            rname, rprops = mine[key]
            target = sub_or_str(rprops.get("Target")) or ""
            m = re.fullmatch(r"integrations/\$\{(\w+)\}", target)
            if not m or m.group(1) not in integrations:
                problems.append(f"{rname}: Target must be integrations/${{<an AWS::ApiGatewayV2::Integration>}}")
            auth = rprops.get("AuthorizationType")
            if key == "$connect":
                authorizer = authorizers.get(ref_name(rprops.get("AuthorizerId")) or "")
                if auth != "CUSTOM" or authorizer is None:
                    problems.append(f"{rname}: $connect must be authorised (AuthorizationType CUSTOM, AuthorizerId: !Ref <a REQUEST authorizer>)")
                else:
                    aprops = authorizer.get("Properties") or {}
                    if aprops.get("AuthorizerType") != "REQUEST" or WEBSOCKET_TOKEN_SOURCE not in as_list(aprops.get("IdentitySource")):
                        problems.append(f"{ref_name(rprops.get('AuthorizerId'))}: a REQUEST authorizer with IdentitySource {WEBSOCKET_TOKEN_SOURCE} (no token, no invocation: 401)")
            elif auth not in (None, "NONE"):
                problems.append(f"{rname}: only $connect is authorised on a WebSocket API (AuthorizationType NONE)")
        # Whoever API Gateway invokes for this API, it invokes for this API only.
        invoked = set()
        for i in integrations.values():
            iprops = i.get("Properties") or {}
            if ref_name(iprops.get("ApiId")) == aname:
                invoked.update(re.findall(r"\$\{(\w+)\.Arn\}", sub_or_str(iprops.get("IntegrationUri")) or ""))
        for fn in sorted(invoked):
            scoped = [p for p in permissions.values() if ref_name((p.get("Properties") or {}).get("FunctionName")) == fn
                      and (p.get("Properties") or {}).get("Principal") == "apigateway.amazonaws.com"
                      and ("${" + aname + "}/") in (sub_or_str((p.get("Properties") or {}).get("SourceArn")) or "")]
            if not scoped:
                problems.append(f"{aname}: {fn} needs an AWS::Lambda::Permission for apigateway.amazonaws.com with SourceArn on ${{{aname}}}/*")
    for fname, fn in functions.items():
        props = fn.get("Properties") or {}
        binary = ((fn.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        for name in sorted(DEV_ONLY_ENV & set((((props.get("Environment") or {}).get("Variables")) or {}).keys())):
            problems.append(f"{fname}: Environment has {name}: the dev stack's token secret, never deployed")
        for st in allow_statements(fn):
            actions = [a for a in as_list(st.get("Action")) if isinstance(a, str)]
            if not any(a.lower() == "execute-api:manageconnections" for a in actions):
                continue
            sid = st.get("Sid", "?")
            if binary not in MANAGE_CONNECTIONS:
                problems.append(f"{fname}: statement {sid}: execute-api:ManageConnections is for {sorted(MANAGE_CONNECTIONS)} only")
            for r in as_list(st.get("Resource")):
                text = sub_or_str(r) or ""
                m = re.fullmatch(r"arn:\$\{AWS::Partition\}:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}:\$\{(\w+)\}/[^/]+/POST/@connections/\*", text)
                if not m or m.group(1) not in apis:
                    problems.append(f"{fname}: statement {sid}: ManageConnections on {text or r!r}: name one WebSocket API's stage, POST only (...:${{Api}}/${{Stage}}/POST/@connections/*)")


def check_users(resources, problems):
    """Who may act: the stack's own user pool, whose users cannot choose their organisation or role."""
    pools = {k: v for k, v in resources.items() if isinstance(v, dict) and v.get("Type") == "AWS::Cognito::UserPool"}
    clients = {k: v for k, v in resources.items() if isinstance(v, dict) and v.get("Type") == "AWS::Cognito::UserPoolClient"}
    groups = {k: v for k, v in resources.items() if isinstance(v, dict) and v.get("Type") == "AWS::Cognito::UserPoolGroup"}
    if len(pools) != 1:
        problems.append(f"the template must create exactly one Cognito user pool (found {len(pools)}): the API trusts only its own")
    for pname, pool in pools.items():
        props = pool.get("Properties") or {}
        if ((props.get("AdminCreateUserConfig") or {}).get("AllowAdminCreateUserOnly")) is not True:
            problems.append(f"{pname}: AdminCreateUserConfig.AllowAdminCreateUserOnly must be true (no self sign-up: a stranger would pick an organisation)")
        org = [a for a in as_list(props.get("Schema")) if isinstance(a, dict) and a.get("Name") == ORG_ATTRIBUTE.removeprefix("custom:")]
        if not org:
            problems.append(f"{pname}: Schema has no {ORG_ATTRIBUTE} attribute (the organisation of every user)")
        elif org[0].get("Mutable") is not False:
            problems.append(f"{pname}: {ORG_ATTRIBUTE} must be Mutable: false (set once, when an administrator creates the user)")
        named = {(ref_name((g.get("Properties") or {}).get("UserPoolId")), (g.get("Properties") or {}).get("GroupName")) for g in groups.values()}
        for group in ROLE_GROUPS:
            if (pname, group) not in named:
                problems.append(f"{pname}: no AWS::Cognito::UserPoolGroup {group!r} (roles come only from groups)")
    for cname, client in clients.items():
        props = client.get("Properties") or {}
        writable = props.get("WriteAttributes")
        if writable is None:
            problems.append(f"{cname}: WriteAttributes must be listed (by default a client writes every attribute it may)")
        elif ORG_ATTRIBUTE in as_list(writable):
            problems.append(f"{cname}: WriteAttributes must not include {ORG_ATTRIBUTE} (a user would move to another organisation)")
    # The API trusts tokens of this pool and client only.
    for aname, api in resources.items():
        if not isinstance(api, dict) or api.get("Type") != "AWS::Serverless::HttpApi":
            continue
        for auth_name, auth in (((api.get("Properties") or {}).get("Auth") or {}).get("Authorizers") or {}).items():
            jwt = (auth or {}).get("JwtConfiguration") or {}
            issuer = sub_or_str(jwt.get("issuer")) or ""
            audiences = [ref_name(a) for a in as_list(jwt.get("audience"))]
            if not any(f"${{{p}}}" in issuer for p in pools):
                problems.append(f"{aname}.Auth.Authorizers.{auth_name}: issuer must be the template's user pool (!Sub ...${{UserPool}}), not {issuer or jwt.get('issuer')!r}")
            if not audiences or not all(a in clients for a in audiences):
                problems.append(f"{aname}.Auth.Authorizers.{auth_name}: audience must be the template's app clients (!Ref), not {jwt.get('audience')!r}")


def granted_dynamodb(fn):
    """(actions on the table, whether Query on its indexes is granted) of a function's policies."""
    table, index = set(), False
    for st in allow_statements(fn):
        actions = service_actions(st, "dynamodb")
        for r in as_list(st.get("Resource")):
            if getatt(r) == ("MaxTable", "Arn"):
                table |= actions
            elif (sub_or_str(r) or "").startswith("${MaxTable.Arn}/index/"):
                index = index or "Query" in actions
    return table, index


def check_dynamodb_grants(functions, problems, repo_root):
    if not os.path.isdir(os.path.join(repo_root, "functions")):
        return
    import dynamo_actions

    derived = dynamo_actions.derive(repo_root)
    for fname, fn in functions.items():
        binary = ((fn.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        if binary not in derived:
            continue
        used = derived[binary]
        if "Scan" in used:
            problems.append(f"{fname}: its code scans the table ({binary}); no access pattern may scan")
        table, index = granted_dynamodb(fn)
        for action in sorted(used - {"index", "Scan"} - table):
            problems.append(f"{fname}: its code calls dynamodb:{action} (infra/scripts/dynamo_actions.py) but its policy does not grant it on MaxTable")
        for action in sorted(table - used):
            problems.append(f"{fname}: grants dynamodb:{action} on MaxTable, which its code never calls (infra/scripts/dynamo_actions.py)")
        if "index" in used and not index:
            problems.append(f"{fname}: its code queries an index but its policy grants no dynamodb:Query on ${{MaxTable.Arn}}/index/*")
        if index and "index" not in used:
            problems.append(f"{fname}: grants dynamodb:Query on the indexes, which its code never queries")


AUDIT_LEADING_KEY = "ORG#*#AUDIT"
AUDIT_DENIED = {"UpdateItem", "DeleteItem", "BatchWriteItem"}
AUDIT_PUT = "attribute_not_exists(pk)"


def check_audit_deny(functions, problems, repo_root):
    """The audit trail is never edited (docs/security.md): every function's policies deny
    dynamodb:UpdateItem, DeleteItem and BatchWriteItem (whose puts overwrite unconditionally) on
    MaxTable where a leading key is an organisation's audit partition (`ORG#*#AUDIT`), and the
    adapter's entry put is conditional on a new item. Puts inside TransactWriteItems are
    authorized as PutItem, so the deny leaves the entries' own writes alone."""
    for fname, fn in functions.items():
        denied = set()
        for policy in as_list((fn.get("Properties") or {}).get("Policies")):
            if not isinstance(policy, dict):
                continue
            for st in as_list(policy.get("Statement")):
                if not isinstance(st, dict) or st.get("Effect") != "Deny":
                    continue
                if not any(getatt(r) == ("MaxTable", "Arn") for r in as_list(st.get("Resource"))):
                    continue
                like = ((st.get("Condition") or {}).get("ForAnyValue:StringLike")) or {}
                if AUDIT_LEADING_KEY in as_list(like.get("dynamodb:LeadingKeys")):
                    denied |= service_actions(st, "dynamodb")
        for action in sorted(AUDIT_DENIED - denied):
            problems.append(f"{fname}: no Deny of dynamodb:{action} on MaxTable for leading keys {AUDIT_LEADING_KEY} (audit entries are never edited)")
    audit_rs = os.path.join(repo_root, "shared", "src", "adapters", "dynamo", "audit.rs")
    if os.path.exists(audit_rs):
        with open(audit_rs, encoding="utf-8") as f:
            if f'Some("{AUDIT_PUT}")' not in f.read():
                problems.append(f"{audit_rs}: the audit entry's put must be conditional on {AUDIT_PUT} (a new entry only)")


REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    problems = []
    try:
        template = load(path, problems)
    except yaml.YAMLError as err:
        print(f"check_template: {path} does not load as YAML: {err}", file=sys.stderr)
        return 1
    if not isinstance(template, dict):
        problems.append("top level is not a mapping")
    else:
        check(template, problems)
    for p in problems:
        print(f"check_template: {path}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_template: {path}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
