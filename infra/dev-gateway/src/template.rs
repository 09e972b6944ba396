//! Reads template.yaml: the resources to create locally, the HTTP routes, the queue event
//! sources and the schedules. One source of truth, so local and deployed cannot drift.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

#[derive(Debug, Clone)]
pub struct Template {
    pub tables: Vec<TableDef>,
    pub queues: Vec<QueueDef>,
    pub buckets: Vec<String>,
    pub routes: Vec<HttpRoute>,
    pub queue_sources: Vec<QueueSource>,
    /// DynamoDB stream event sources (webhook-fanout on the table's stream).
    pub stream_sources: Vec<StreamSource>,
    pub schedules: Vec<ScheduleDef>,
    /// The dashboards' WebSocket API (live push), when the template has one.
    pub websocket: Option<WebSocketDef>,
    /// Every function's environment variables, unresolved: Globals.Function's and each
    /// function's own (the dev gateway runs them all in one process, so it takes the union).
    pub environment: BTreeMap<String, EnvValue>,
}

#[derive(Debug, Clone)]
pub enum EnvValue {
    Literal(String),
    /// `!Ref Name`: a resource (its physical name or URL) or a parameter.
    Ref(String),
    /// `!Sub "...${Name}..."`: `${AWS::StackName}`, resources and parameters put in.
    Sub(String),
}

#[derive(Debug, Clone)]
pub struct TableDef {
    pub logical_id: String,
    pub attributes: Vec<(String, String)>,
    pub hash_key: String,
    pub range_key: Option<String>,
    pub indexes: Vec<IndexDef>,
    pub ttl_attribute: Option<String>,
    /// `StreamSpecification.StreamViewType`, when the table has a stream.
    pub stream_view_type: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IndexDef {
    pub name: String,
    pub hash_key: String,
    pub range_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct QueueDef {
    pub logical_id: String,
    /// The name with `${AWS::StackName}` still in it.
    pub name_pattern: String,
    /// SQS attributes as strings (FifoQueue, VisibilityTimeout, ...), RedrivePolicy excluded.
    pub attributes: BTreeMap<String, String>,
    pub dead_letter: Option<(String, u32)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpRoute {
    pub method: String,
    pub path: String,
    pub binary: String,
    /// False for routes with `Auth: { Authorizer: NONE }`.
    pub authorized: bool,
}

#[derive(Debug, Clone)]
pub struct QueueSource {
    pub queue_logical_id: String,
    pub binary: String,
    pub batch_size: i32,
    /// `ScalingConfig.MaximumConcurrency`, when set.
    pub maximum_concurrency: Option<usize>,
}

/// A function reading a table's stream (`Type: DynamoDB`, `Stream: !GetAtt Table.StreamArn`).
#[derive(Debug, Clone)]
pub struct StreamSource {
    pub table_logical_id: String,
    pub binary: String,
    pub batch_size: i32,
}

#[derive(Debug, Clone)]
pub struct ScheduleDef {
    pub binary: String,
    pub expression: String,
}

/// A WebSocket API (`AWS::ApiGatewayV2::Api`, `ProtocolType: WEBSOCKET`): the function that is
/// its `$connect` authorizer and its routes' integration, and its stage's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketDef {
    pub binary: String,
    pub stage: String,
}

fn tag_name(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string().trim_start_matches('!').to_string(), &t.value)),
        _ => None,
    }
}

fn as_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(Value::String(key.to_string()))
}

fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |acc, k| get(acc, k))
}

/// `!GetAtt X.Arn` or `!GetAtt [X, Arn]` -> X.
fn get_att_resource(v: &Value) -> Option<String> {
    let (tag, inner) = tag_name(v)?;
    if tag != "GetAtt" {
        return None;
    }
    match inner {
        Value::String(s) => s.split('.').next().map(str::to_string),
        Value::Sequence(seq) => seq.first().and_then(as_str),
        _ => None,
    }
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| format!("template.yaml: {e}"))?;
        let resources = get(&doc, "Resources").and_then(Value::as_mapping).ok_or("template.yaml has no Resources")?;
        let mut t = Template {
            tables: vec![],
            queues: vec![],
            buckets: vec![],
            routes: vec![],
            queue_sources: vec![],
            stream_sources: vec![],
            schedules: vec![],
            websocket: None,
            environment: BTreeMap::new(),
        };
        let mut binaries = BTreeMap::new();
        let (mut websocket_function, mut websocket_stage) = (None, None);
        if let Some(globals) = path(&doc, &["Globals", "Function"]) {
            environment(&mut t, globals);
        }
        for (id, res) in resources {
            let Some(id) = as_str(id) else { continue };
            let kind = get(res, "Type").and_then(as_str).unwrap_or_default();
            let props = get(res, "Properties").cloned().unwrap_or(Value::Null);
            match kind.as_str() {
                "AWS::DynamoDB::Table" => t.tables.push(table(&id, &props)),
                "AWS::SQS::Queue" => t.queues.push(queue(&id, &props)),
                "AWS::S3::Bucket" => t.buckets.push(id),
                "AWS::Serverless::Function" => {
                    let binary = path(res, &["Metadata", "BuildProperties", "Binary"]).and_then(as_str).unwrap_or(id.clone());
                    environment(&mut t, &props);
                    function_events(&mut t, &binary, &props);
                    binaries.insert(id.clone(), binary);
                }
                // The function behind `${Fn.Arn}` in the integration's URI runs every route.
                "AWS::ApiGatewayV2::Integration" => {
                    let uri = get(&props, "IntegrationUri").and_then(tag_name).and_then(|(_, inner)| as_str(inner)).unwrap_or_default();
                    websocket_function = uri.split("${").find_map(|part| part.split_once(".Arn}")).map(|(function, _)| function.to_string());
                }
                "AWS::ApiGatewayV2::Stage" => websocket_stage = get(&props, "StageName").and_then(as_str),
                _ => {}
            }
        }
        if let (Some(function), Some(stage)) = (websocket_function, websocket_stage) {
            let binary = binaries.get(&function).cloned().ok_or_else(|| format!("the WebSocket integration names {function}, which is no function"))?;
            t.websocket = Some(WebSocketDef { binary, stage });
        }
        Ok(t)
    }
}

fn table(id: &str, props: &Value) -> TableDef {
    let keys = |schema: Option<&Value>| {
        let mut hash = String::new();
        let mut range = None;
        for k in schema.and_then(Value::as_sequence).into_iter().flatten() {
            let name = get(k, "AttributeName").and_then(as_str).unwrap_or_default();
            match get(k, "KeyType").and_then(as_str).as_deref() {
                Some("HASH") => hash = name,
                Some("RANGE") => range = Some(name),
                _ => {}
            }
        }
        (hash, range)
    };
    let (hash_key, range_key) = keys(get(props, "KeySchema"));
    let attributes = get(props, "AttributeDefinitions")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|a| (get(a, "AttributeName").and_then(as_str).unwrap_or_default(), get(a, "AttributeType").and_then(as_str).unwrap_or("S".into())))
        .collect();
    let indexes = get(props, "GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|g| {
            let (hash_key, range_key) = keys(get(g, "KeySchema"));
            IndexDef { name: get(g, "IndexName").and_then(as_str).unwrap_or_default(), hash_key, range_key }
        })
        .collect();
    let ttl_attribute = path(props, &["TimeToLiveSpecification", "AttributeName"]).and_then(as_str);
    let stream_view_type = path(props, &["StreamSpecification", "StreamViewType"]).and_then(as_str);
    TableDef { logical_id: id.to_string(), attributes, hash_key, range_key, indexes, ttl_attribute, stream_view_type }
}

fn queue(id: &str, props: &Value) -> QueueDef {
    let name_pattern = match get(props, "QueueName") {
        Some(v) => match tag_name(v) {
            Some((_, inner)) => as_str(inner).unwrap_or_default(),
            None => as_str(v).unwrap_or_default(),
        },
        None => format!("${{AWS::StackName}}-{id}"),
    };
    let mut attributes = BTreeMap::new();
    for key in [
        "FifoQueue",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
    ] {
        if let Some(v) = get(props, key).and_then(as_str) {
            attributes.insert(key.to_string(), v);
        }
    }
    let dead_letter = get(props, "RedrivePolicy").and_then(|r| {
        let target = get(r, "deadLetterTargetArn").and_then(get_att_resource)?;
        let max = get(r, "maxReceiveCount").and_then(as_str).and_then(|m| m.parse().ok()).unwrap_or(5);
        Some((target, max))
    });
    QueueDef { logical_id: id.to_string(), name_pattern, attributes, dead_letter }
}

fn function_events(t: &mut Template, binary: &str, props: &Value) {
    for (_, event) in get(props, "Events").and_then(Value::as_mapping).into_iter().flatten() {
        let kind = get(event, "Type").and_then(as_str).unwrap_or_default();
        let p = get(event, "Properties").cloned().unwrap_or(Value::Null);
        match kind.as_str() {
            "HttpApi" => {
                let authorizer = path(&p, &["Auth", "Authorizer"]).and_then(as_str);
                t.routes.push(HttpRoute {
                    method: get(&p, "Method").and_then(as_str).unwrap_or("ANY".into()).to_uppercase(),
                    path: get(&p, "Path").and_then(as_str).unwrap_or_default(),
                    binary: binary.to_string(),
                    authorized: authorizer.as_deref() != Some("NONE"),
                });
            }
            "SQS" => {
                if let Some(queue) = get(&p, "Queue").and_then(get_att_resource) {
                    let batch_size = get(&p, "BatchSize").and_then(as_str).and_then(|b| b.parse().ok()).unwrap_or(10);
                    let maximum_concurrency = path(&p, &["ScalingConfig", "MaximumConcurrency"]).and_then(as_str).and_then(|m| m.parse().ok());
                    t.queue_sources.push(QueueSource { queue_logical_id: queue, binary: binary.to_string(), batch_size, maximum_concurrency });
                }
            }
            "DynamoDB" => {
                if let Some(table) = get(&p, "Stream").and_then(get_att_resource) {
                    let batch_size = get(&p, "BatchSize").and_then(as_str).and_then(|b| b.parse().ok()).unwrap_or(100);
                    t.stream_sources.push(StreamSource { table_logical_id: table, binary: binary.to_string(), batch_size });
                }
            }
            "Schedule" | "ScheduleV2" => {
                let expression = get(&p, "Schedule").or_else(|| get(&p, "ScheduleExpression")).and_then(as_str).unwrap_or_default();
                t.schedules.push(ScheduleDef { binary: binary.to_string(), expression });
            }
            _ => {}
        }
    }
}

/// Matches an API Gateway route path (`/v1/x/{id}`, `{proxy+}`) against a request path.
pub fn match_path(pattern: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut params = BTreeMap::new();
    for (i, p) in pattern.iter().enumerate() {
        if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
            if i >= actual.len() {
                return None;
            }
            params.insert(name.to_string(), actual[i..].join("/"));
            return Some(params);
        }
        let a = actual.get(i)?;
        match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !a.is_empty() => {
                params.insert(name.to_string(), (*a).to_string());
            }
            Some(_) => return None,
            None if p == a => {}
            None => return None,
        }
    }
    (pattern.len() == actual.len()).then_some(params)
}

/// Adds `Environment.Variables` of a function (or of Globals.Function) to the union.
fn environment(t: &mut Template, function: &Value) {
    let Some(vars) = path(function, &["Environment", "Variables"]).and_then(Value::as_mapping) else { return };
    for (k, v) in vars {
        let Some(name) = as_str(k) else { continue };
        let value = match tag_name(v) {
            Some((tag, inner)) if tag == "Ref" => EnvValue::Ref(as_str(inner).unwrap_or_default()),
            Some((tag, inner)) if tag == "Sub" => EnvValue::Sub(as_str(inner).unwrap_or_default()),
            _ => EnvValue::Literal(as_str(v).unwrap_or_default()),
        };
        t.environment.insert(name, value);
    }
}

/// Schedule `rate(N unit)` as seconds; cron expressions run every minute locally.
pub fn schedule_period_secs(expression: &str) -> u64 {
    let inner = expression.trim().strip_prefix("rate(").and_then(|r| r.strip_suffix(')'));
    let Some(inner) = inner else { return 60 };
    let mut parts = inner.split_whitespace();
    let n: u64 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    match parts.next().unwrap_or("minute").trim_end_matches('s') {
        "minute" => n * 60,
        "hour" => n * 3600,
        "day" => n * 86_400,
        _ => 60,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_like_api_gateway() {
        let m = match_path("/v1/conversations/{id}/messages", "/v1/conversations/abc/messages").unwrap();
        assert_eq!(m["id"], "abc");
        assert!(match_path("/v1/conversations/{id}", "/v1/conversations/abc/messages").is_none());
        assert!(match_path("/v1/conversations/{id}", "/v1/conversations/").is_none());
        assert_eq!(match_path("/v1/{proxy+}", "/v1/a/b").unwrap()["proxy"], "a/b");
        assert!(match_path("/health", "/health").unwrap().is_empty());
    }

    #[test]
    fn rates_become_periods() {
        assert_eq!(schedule_period_secs("rate(1 minute)"), 60);
        assert_eq!(schedule_period_secs("rate(1 day)"), 86_400);
        assert_eq!(schedule_period_secs("cron(0 3 * * ? *)"), 60);
    }

    #[test]
    fn the_project_template_reads() {
        let t = Template::load(&crate::repo_root().join("template.yaml")).unwrap();
        assert!(t.tables.iter().any(|x| x.logical_id == "MaxTable" && x.indexes.len() >= 3));
        assert!(t.routes.iter().any(|r| r.path == "/webhooks/whatsapp" && !r.authorized));
        assert!(t.routes.iter().any(|r| r.path.starts_with("/v1/") && r.authorized));
        assert!(t.queue_sources.iter().any(|q| q.binary == "inbound-processor" && q.queue_logical_id == "InboundQueue"));
        let inbound = t.queues.iter().find(|q| q.logical_id == "InboundQueue").unwrap();
        assert_eq!(inbound.dead_letter.as_ref().unwrap().0, "InboundDLQ");
        assert!(matches!(t.environment.get("TABLE_NAME"), Some(EnvValue::Ref(r)) if r == "MaxTable"));
        // Each function declares its own variables; the union still holds everything the
        // gateway's Needs::EVERYTHING reads.
        for (name, reference) in [
            ("INBOUND_QUEUE_URL", "InboundQueue"),
            ("REPLIES_QUEUE_URL", "RepliesQueue"),
            ("NEXT_STEP_QUEUE_URL", "NextStepQueue"),
            ("CALLS_QUEUE_URL", "CallsQueue"),
            ("MEDIA_BUCKET", "MediaBucket"),
            ("WHATSAPP_APP_SECRET", "WhatsAppAppSecret"),
            ("WHATSAPP_VERIFY_TOKEN", "WhatsAppVerifyToken"),
            ("GRAPH_API_BASE_URL", "GraphApiBaseUrl"),
        ] {
            assert!(matches!(t.environment.get(name), Some(EnvValue::Ref(r)) if r == reference), "{name}: {:?}", t.environment.get(name));
        }
        assert!(matches!(t.environment.get("SECRETS_PREFIX"), Some(EnvValue::Sub(s)) if s.contains("${AWS::StackName}")));
        assert!(!t.environment.contains_key("WHATSAPP_ACCESS_TOKEN"), "no global Graph token: each number has its own secret");
    }
}

#[cfg(test)]
mod openapi_tests {
    use serde_yaml::Value;

    use super::Template;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Mapping(m) => {
                for (k, v) in m {
                    if k.as_str() == Some("$ref") {
                        out.extend(v.as_str().map(str::to_string));
                    }
                    refs(v, out);
                }
            }
            Value::Sequence(s) => s.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// The spec the dev gateway serves describes every route of template.yaml, and every
    /// `$ref` in it resolves.
    #[test]
    fn openapi_covers_every_route_and_resolves() {
        let root = crate::repo_root();
        let spec: Value = serde_yaml::from_str(&std::fs::read_to_string(root.join("infra/openapi.yaml")).unwrap()).unwrap();
        assert_eq!(spec["openapi"].as_str(), Some("3.1.0"));
        let template = Template::load(&root.join("template.yaml")).unwrap();
        let mut missing = Vec::new();
        for r in &template.routes {
            let op = spec["paths"][r.path.as_str()][r.method.to_lowercase().as_str()].clone();
            if op.is_null() {
                missing.push(format!("{} {}", r.method, r.path));
            }
        }
        assert!(missing.is_empty(), "routes missing from infra/openapi.yaml: {missing:?}");
        // ... and describes no route the API does not serve.
        let mut unserved = Vec::new();
        for (path, item) in spec["paths"].as_mapping().into_iter().flatten() {
            for (method, _) in item.as_mapping().into_iter().flatten() {
                let (path, method) = (path.as_str().unwrap_or_default(), method.as_str().unwrap_or_default().to_uppercase());
                if !template.routes.iter().any(|r| r.path == path && r.method == method) {
                    unserved.push(format!("{method} {path}"));
                }
            }
        }
        assert!(unserved.is_empty(), "infra/openapi.yaml describes routes template.yaml does not have: {unserved:?}");
        let mut all = Vec::new();
        refs(&spec, &mut all);
        for r in all {
            let pointer = r.trim_start_matches('#');
            let mut node = &spec;
            for part in pointer.split('/').filter(|p| !p.is_empty()) {
                node = &node[part];
            }
            assert!(!node.is_null(), "unresolved $ref {r}");
        }
    }
}
