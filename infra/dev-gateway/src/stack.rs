//! Creates the tables, queues and buckets of template.yaml in moto (or any endpoint), under a
//! name prefix so tests can each have their own.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::template::{EnvValue, Template};

/// Physical names of the created resources, by logical id.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub prefix: String,
    pub tables: BTreeMap<String, String>,
    pub queue_urls: BTreeMap<String, String>,
    pub queue_arns: BTreeMap<String, String>,
    pub buckets: BTreeMap<String, String>,
}

impl Resources {
    /// What `!Ref logical_id` resolves to (table name, queue URL, bucket name).
    pub fn reference(&self, logical_id: &str) -> Option<String> {
        self.tables
            .get(logical_id)
            .or_else(|| self.queue_urls.get(logical_id))
            .or_else(|| self.buckets.get(logical_id))
            .cloned()
    }

    /// `!Sub` text with `${AWS::StackName}` (the prefix), resources and parameters put in.
    pub fn substitute(&self, text: &str, params: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else { break };
            let name = &rest[start + 2..start + end];
            let value = match name {
                "AWS::StackName" => Some(self.prefix.clone()),
                _ => self.reference(name).or_else(|| params.get(name).cloned()),
            };
            out.push_str(&value.unwrap_or_default());
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The functions' environment from template.yaml (Globals and every function's own variables,
    /// one process runs them all), with parameters from `params`.
    pub fn environment(&self, template: &Template, params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        template
            .environment
            .iter()
            .map(|(name, value)| {
                let v = match value {
                    EnvValue::Literal(l) => l.clone(),
                    EnvValue::Ref(r) => self.reference(r).or_else(|| params.get(r).cloned()).unwrap_or_default(),
                    EnvValue::Sub(text) => self.substitute(text, params),
                };
                (name.clone(), v)
            })
            .collect()
    }
}

fn err(context: &str, e: impl std::fmt::Display) -> String {
    format!("{context}: {e}")
}

pub async fn create(sdk: &SdkConfig, template: &Template, prefix: &str) -> Result<Resources, String> {
    let mut out = Resources { prefix: prefix.to_string(), ..Default::default() };
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    for t in &template.tables {
        let name = format!("{prefix}-{}", t.logical_id);
        let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| err("key", e));
        let mut req = dynamodb.create_table().table_name(&name).billing_mode(BillingMode::PayPerRequest);
        for (attr, kind) in &t.attributes {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()
                    .map_err(|e| err("attribute", e))?,
            );
        }
        req = req.key_schema(key(&t.hash_key, KeyType::Hash)?);
        if let Some(r) = &t.range_key {
            req = req.key_schema(key(r, KeyType::Range)?);
        }
        if let Some(view) = &t.stream_view_type {
            req = req.stream_specification(
                aws_sdk_dynamodb::types::StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::from(view.as_str()))
                    .build()
                    .map_err(|e| err("stream", e))?,
            );
        }
        for g in &t.indexes {
            let mut index = GlobalSecondaryIndex::builder()
                .index_name(&g.name)
                .key_schema(key(&g.hash_key, KeyType::Hash)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build());
            if let Some(r) = &g.range_key {
                index = index.key_schema(key(r, KeyType::Range)?);
            }
            req = req.global_secondary_indexes(index.build().map_err(|e| err("index", e))?);
        }
        req.send().await.map_err(|e| err(&format!("create table {name}"), aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        if let Some(ttl) = &t.ttl_attribute {
            dynamodb
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder().attribute_name(ttl).enabled(true).build().map_err(|e| err("ttl", e))?,
                )
                .send()
                .await
                .map_err(|e| err("ttl", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        out.tables.insert(t.logical_id.clone(), name);
    }

    let sqs = aws_sdk_sqs::Client::new(sdk);
    for q in &template.queues {
        let name = q.name_pattern.replace("${AWS::StackName}", prefix);
        let mut req = sqs.create_queue().queue_name(&name);
        for (k, v) in &q.attributes {
            req = req.attributes(QueueAttributeName::from(k.as_str()), v);
        }
        let url = req
            .send()
            .await
            .map_err(|e| err(&format!("create queue {name}"), aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url
            .ok_or("queue without URL")?;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| err("queue arn", aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or("queue without ARN")?;
        out.queue_urls.insert(q.logical_id.clone(), url);
        out.queue_arns.insert(q.logical_id.clone(), arn);
    }
    // Redrive policies point at queues that now all exist.
    for q in &template.queues {
        if let Some((dlq, max)) = &q.dead_letter {
            let arn = out.queue_arns.get(dlq).ok_or_else(|| format!("{} names unknown DLQ {dlq}", q.logical_id))?;
            let policy = serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max }).to_string();
            sqs.set_queue_attributes()
                .queue_url(&out.queue_urls[&q.logical_id])
                .attributes(QueueAttributeName::RedrivePolicy, policy)
                .send()
                .await
                .map_err(|e| err("redrive", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        }
    }

    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build());
    for b in &template.buckets {
        let name = format!("{prefix}-{}", b.to_lowercase());
        s3.create_bucket()
            .bucket(&name)
            .send()
            .await
            .map_err(|e| err(&format!("create bucket {name}"), aws_sdk_s3::error::DisplayErrorContext(e)))?;
        out.buckets.insert(b.clone(), name);
    }
    Ok(out)
}
