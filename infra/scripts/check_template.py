#!/usr/bin/env python3
"""Project-specific checks on template.yaml that cfn-lint does not make.

1. The file loads as plain YAML with CloudFormation short tags (!Ref, !GetAtt,
   !Sub, ...) kept as tagged values, the way serde_yaml reads it: a single
   document, no anchors or aliases, no tags other than CloudFormation's.
2. MAX's conventions hold:
   - every function: CodeUri ".", BuildMethod rust-cargolambda with a Binary,
     a unique Binary, its own /aws/lambda/${Fn} log group with retention;
   - Globals.Function sets every shared environment variable;
   - every SQS event: Queue: !GetAtt <Queue>.Arn, ReportBatchItemFailures,
     queue VisibilityTimeout >= 6 x the consumer's Timeout, a RedrivePolicy
     with maxReceiveCount >= 5 to a DLQ of the same kind (FIFO or not);
   - every DLQ: 14-day retention and a CloudWatch alarm on
     ApproximateNumberOfMessagesVisible with an alarm action;
   - every HttpApi event: ApiId: !Ref MaxHttpApi, Method, Path starting with
     "/", {name} path parameters, no duplicate method + path, and /v1 routes
     never public (Authorizer: NONE).

Usage: check_template.py [template.yaml]   (exit 1 with a list of problems)
"""

import re
import sys

import yaml

REQUIRED_ENV = [
    "TABLE_NAME",
    "INBOUND_QUEUE_URL",
    "REPLIES_QUEUE_URL",
    "NEXT_STEP_QUEUE_URL",
    "MEDIA_BUCKET",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "WHATSAPP_ACCESS_TOKEN",
    "GRAPH_API_BASE_URL",
    "RUST_LOG",
]

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
    text = open(path, encoding="utf-8").read()
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

    env = ((glob.get("Environment") or {}).get("Variables")) or {}
    for name in REQUIRED_ENV:
        if name not in env:
            problems.append(f"Globals.Function.Environment.Variables lacks {name}")

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
                if path.startswith("/v1/") and authorizer == "NONE":
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
