//! What the customer is told when an action is decided: templates per organisation, action type
//! and decision, with `{{variables}}`, MAX's defaults for the built-in types, and a generic
//! fallback per decision. Rendering never fails and never leaves a `{{…}}` behind.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::action::{Action, ActionStatus, BUILT_IN_TYPES, TemplateSource, is_built_in, validate_type_name};
use super::outbound::MAX_TEXT_CHARS;
use crate::error::{Error, Result};

pub const MAX_TEMPLATE_CHARS: usize = 1024;
/// Keeps an organisation's template settings (one item) well under DynamoDB's 400 KB.
pub const MAX_CUSTOM_TYPES: usize = 20;

/// One template: the text for an action type and a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseTemplate {
    pub action_type: String,
    pub decision: ActionStatus,
    pub body: String,
}

/// An organisation's settings for action answers: its own action types and its templates (only the
/// ones it changed; everything else falls back to MAX's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseTemplates {
    pub org_id: String,
    #[serde(default)]
    pub custom_types: Vec<String>,
    #[serde(default)]
    pub templates: Vec<ResponseTemplate>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub updated_by: Option<String>,
    /// Counts saves; a save with a `version` is refused over any other (lost update).
    #[serde(default)]
    pub version: u64,
}

impl ResponseTemplates {
    pub fn empty(org_id: &str, now: DateTime<Utc>) -> Self {
        ResponseTemplates { org_id: org_id.to_string(), custom_types: Vec::new(), templates: Vec::new(), updated_at: now, updated_by: None, version: 0 }
    }

    fn own(&self, action_type: &str, decision: ActionStatus) -> Option<&str> {
        self.templates.iter().find(|t| t.action_type == action_type && t.decision == decision).map(|t| t.body.as_str())
    }

    /// Every type this organisation can use: the built-in ones, then its own.
    pub fn action_types(&self) -> Vec<String> {
        BUILT_IN_TYPES.iter().map(|t| t.to_string()).chain(self.custom_types.iter().cloned()).collect()
    }

    /// The template in force for every type and decision, with where it comes from (what the admin sees).
    pub fn effective(&self) -> Vec<EffectiveTemplate> {
        let mut all = Vec::new();
        for action_type in self.action_types() {
            for decision in ActionStatus::DECISIONS {
                let (body, source) = template_for(Some(self), &action_type, decision);
                all.push(EffectiveTemplate { action_type: action_type.clone(), decision, body: body.to_string(), source });
            }
        }
        all
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EffectiveTemplate {
    pub action_type: String,
    pub decision: ActionStatus,
    pub body: String,
    pub source: TemplateSource,
}

/// `PUT /v1/action-response-templates`: the whole settings document (the organisation's own types
/// and the templates it wants; templates equal to the default are not stored).
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSettingsRequest {
    #[serde(default)]
    #[schema(schema_with = custom_types_schema)]
    pub custom_types: Vec<String>,
    #[serde(default)]
    pub templates: Vec<TemplateEntry>,
    /// The version read; when given, the save is refused if someone saved in between.
    #[serde(default)]
    pub version: Option<u64>,
}

/// A template as the admin sends it. `source` is what GET answered; it is ignored here so the
/// GET document can be sent back as it is.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateEntry {
    pub action_type: String,
    #[schema(schema_with = decision_schema)]
    pub decision: ActionStatus,
    #[schema(min_length = 1, max_length = 1024, pattern = "\\S")]
    pub body: String,
    #[serde(default)]
    pub source: Option<Value>,
}

/// A template's `decision` in the contract: a decision, never `pending`.
fn decision_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String).enum_values(Some(ActionStatus::DECISIONS.map(ActionStatus::as_str))).build()
}

/// `custom_types` in the contract: at most 20 distinct type names.
fn custom_types_schema() -> utoipa::openapi::schema::Array {
    let name = utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String).pattern(Some("^[a-z][a-z0-9_]{0,47}$"));
    utoipa::openapi::schema::ArrayBuilder::new().items(name).max_items(Some(MAX_CUSTOM_TYPES)).unique_items(true).build()
}

impl TemplateSettingsRequest {
    /// Validates the document into what is stored (field names as in the body).
    pub fn into_settings(self, org_id: &str, by: &str, now: DateTime<Utc>, version: u64) -> Result<ResponseTemplates> {
        if self.custom_types.len() > MAX_CUSTOM_TYPES {
            return Err(Error::invalid("custom_types", format!("must have at most {MAX_CUSTOM_TYPES} types")));
        }
        let mut custom_types: Vec<String> = Vec::new();
        for (i, t) in self.custom_types.iter().enumerate() {
            let field = format!("custom_types[{i}]");
            validate_type_name(&field, t)?;
            if is_built_in(t) || custom_types.contains(t) {
                return Err(Error::invalid(field, "is already a type"));
            }
            custom_types.push(t.clone());
        }
        let mut templates: Vec<ResponseTemplate> = Vec::new();
        for (i, entry) in self.templates.into_iter().enumerate() {
            if !is_built_in(&entry.action_type) && !custom_types.contains(&entry.action_type) {
                return Err(Error::invalid(format!("templates[{i}].action_type"), "is neither a built-in type nor one of custom_types"));
            }
            if !entry.decision.is_decision() {
                return Err(Error::invalid(format!("templates[{i}].decision"), "must be one of: approved, denied, edited"));
            }
            validate_template(&format!("templates[{i}].body"), &entry.body)?;
            if templates.iter().any(|t| t.action_type == entry.action_type && t.decision == entry.decision) {
                return Err(Error::invalid(format!("templates[{i}]"), "repeats a type and decision"));
            }
            // Storing the default would freeze it: later improvements to the defaults would not reach this organisation.
            if default_template(&entry.action_type, entry.decision) == Some(entry.body.as_str()) {
                continue;
            }
            templates.push(ResponseTemplate { action_type: entry.action_type, decision: entry.decision, body: entry.body });
        }
        Ok(ResponseTemplates { org_id: org_id.to_string(), custom_types, templates, updated_at: now, updated_by: Some(by.to_string()), version })
    }
}

/// MAX's default for a built-in type and decision.
pub fn default_template(action_type: &str, decision: ActionStatus) -> Option<&'static str> {
    use ActionStatus::*;
    let body = match (action_type, decision) {
        ("refund_request", Approved) => "Great news! Your refund request has been approved. {{user_response}}",
        ("refund_request", Denied) => "We've reviewed your refund request and unfortunately can't approve it. {{user_response}}",
        ("refund_request", Edited) => "Good news! Your refund request has been approved, with some changes. {{user_response}}",
        ("policy_clarification", Approved | Edited) => "I've got the clarification you needed: {{user_response}}",
        ("policy_clarification", Denied) => "Let me help clarify our policy: {{user_response}}",
        ("appointment_change", Approved) => "Your appointment change is confirmed. {{user_response}}",
        ("appointment_change", Denied) => "We're sorry, we can't make that appointment change. {{user_response}}",
        ("appointment_change", Edited) => "We've changed your appointment, a little differently from what you asked. {{user_response}}",
        ("discount_request", Approved) => "Good news! Your discount has been approved. {{user_response}}",
        ("discount_request", Denied) => "Thanks for asking about a discount. Unfortunately we can't offer one this time. {{user_response}}",
        ("discount_request", Edited) => "Good news! We can offer you a discount, a little different from what you asked. {{user_response}}",
        ("other", Approved) => "Good news! Your request has been approved. {{user_response}}",
        ("other", Denied) => "We've reviewed your request and unfortunately can't approve it. {{user_response}}",
        ("other", Edited) => "Good news! Your request has been approved, with some changes. {{user_response}}",
        _ => return None,
    };
    Some(body)
}

/// The fallback when there is no template for a type (an organisation's own type without one).
pub fn generic_template(decision: ActionStatus) -> &'static str {
    match decision {
        ActionStatus::Denied => "We've reviewed your request \"{{action_title}}\" and unfortunately can't approve it. {{user_response}}",
        ActionStatus::Edited => "Good news! Your request \"{{action_title}}\" has been approved, with some changes. {{user_response}}",
        ActionStatus::Approved | ActionStatus::Pending => "Good news! Your request \"{{action_title}}\" has been approved. {{user_response}}",
    }
}

/// The template in force: the organisation's own, else MAX's default, else the generic one.
pub fn template_for<'a>(org: Option<&'a ResponseTemplates>, action_type: &str, decision: ActionStatus) -> (&'a str, TemplateSource) {
    if let Some(own) = org.and_then(|o| o.own(action_type, decision)) {
        return (own, TemplateSource::Organisation);
    }
    match default_template(action_type, decision) {
        Some(d) => (d, TemplateSource::Default),
        None => (generic_template(decision), TemplateSource::Generic),
    }
}

/// A variable name: letters, digits, `_` and `.`.
fn is_variable_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

/// Checks an admin's template: not empty, not too long, and every `{{` opens a well-formed variable.
pub fn validate_template(field: &str, body: &str) -> Result<()> {
    if body.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if body.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(Error::invalid(field, format!("must be at most {MAX_TEMPLATE_CHARS} characters")));
    }
    let mut rest = body;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(Error::invalid(field, "has a {{ without a closing }}"));
        };
        let name = after[..close].trim();
        if !is_variable_name(name) {
            return Err(Error::invalid(field, format!("{{{{{}}}}} is not a variable name", &after[..close])));
        }
        rest = &after[close + 2..];
    }
    Ok(())
}

/// Renders `template`: each `{{ name }}` becomes the variable's value, or nothing when there is no
/// such variable. Values are inserted as they are, never rendered again. A `{{` that never closes is
/// kept as text.
pub fn render(template: &str, variables: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        out.push_str(&rest[..open]);
        if let Some(value) = variables.get(after[..close].trim()) {
            out.push_str(value);
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Tidies a rendered text: an empty variable leaves no trailing spaces or blank ends behind.
fn tidy(text: &str) -> String {
    text.lines().map(str::trim_end).collect::<Vec<_>>().join("\n").trim().to_string()
}

/// A detail's value as text for a customer: strings as they are, numbers and booleans written out,
/// lists of those joined with ", "; anything else renders empty.
fn detail_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(|v| if v.is_array() || v.is_object() { None } else { detail_text(v) }).collect();
            parts.map(|p| p.join(", "))
        }
        Value::Null | Value::Object(_) => None,
    }
}

/// What a decided action's templates can use: its detail fields, then the named variables (which
/// win over a detail of the same name).
pub fn variables(action: &Action, customer_name: Option<&str>, agent_name: Option<&str>) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> =
        action.details.iter().filter_map(|(k, v)| detail_text(v).map(|t| (k.trim().to_string(), t))).collect();
    vars.insert("action_title".into(), action.title.clone());
    vars.insert("action_type".into(), action.action_type.clone());
    if let Some(name) = customer_name.filter(|n| !n.trim().is_empty()) {
        vars.insert("customer_name".into(), name.trim().to_string());
    }
    if let Some(name) = agent_name.filter(|n| !n.trim().is_empty()) {
        vars.insert("agent_name".into(), name.trim().to_string());
    }
    // The reply may use the same variables ("Hi {{customer_name}}, ..."); it cannot refer to itself.
    let reply = action.user_response().map(|r| tidy(&render(r, &vars))).unwrap_or_default();
    vars.insert("user_response".into(), reply);
    vars
}

/// The answer for a decided action: its template rendered, falling back to the generic template if
/// that renders empty, cut to WhatsApp's limit.
pub fn compose(org: Option<&ResponseTemplates>, action: &Action, customer_name: Option<&str>, agent_name: Option<&str>) -> (String, TemplateSource) {
    let decision = action.decision.as_ref().map_or(action.status, |d| d.status);
    let vars = variables(action, customer_name, agent_name);
    let (template, source) = template_for(org, &action.action_type, decision);
    let mut text = tidy(&render(template, &vars));
    let mut source = source;
    if text.is_empty() {
        text = tidy(&render(generic_template(decision), &vars));
        source = TemplateSource::Generic;
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        text = text.chars().take(MAX_TEXT_CHARS - 1).collect::<String>() + "…";
    }
    (text, source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::{Actor, Decision};
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn action(action_type: &str, status: ActionStatus, reply: Option<&str>) -> Action {
        let t = Utc.timestamp_opt(0, 0).unwrap();
        let by = Actor { id: "u".into(), name: Some("Ana".into()) };
        Action {
            id: "a".into(),
            org_id: "o".into(),
            conversation_id: "c".into(),
            customer_id: "u".into(),
            action_type: action_type.into(),
            title: "Refund order 1042".into(),
            details: json!({"amount": 25.5, "order": "1042", "items": ["mug", 2], "meta": {"x": 1}}).as_object().unwrap().clone(),
            proposed_reply: None,
            status,
            created_by: by.clone(),
            created_at: t,
            updated_at: t,
            request_message_id: "m".into(),
            decision: Some(Decision { status, reply_text: reply.map(str::to_string), changes: None, previous_details: None, decided_by: by, decided_at: t }),
            response_message_id: None,
            answer_status: None,
            version: 2,
        }
    }

    #[test]
    fn variables_are_replaced_and_missing_ones_render_empty() {
        let v = vars(&[("customer_name", "Maria"), ("amount", "25")]);
        assert_eq!(render("Hi {{customer_name}}, {{ amount }} EUR{{nope}}.", &v), "Hi Maria, 25 EUR.");
        assert_eq!(render("{{customer_name}", &v), "{{customer_name}");
        assert_eq!(render("a {{}} b {{ two words }} c", &v), "a  b  c");
    }

    #[test]
    fn values_are_inserted_not_rendered_again() {
        let v = vars(&[("user_response", "{{customer_name}}"), ("customer_name", "Maria")]);
        assert_eq!(render("{{user_response}}", &v), "{{customer_name}}");
    }

    #[test]
    fn the_seeded_refund_approval_reads_as_promised() {
        let (text, source) = compose(None, &action("refund_request", ActionStatus::Approved, Some("Expect it in 5 days.")), None, None);
        assert_eq!(text, "Great news! Your refund request has been approved. Expect it in 5 days.");
        assert_eq!(source, TemplateSource::Default);
        let (bare, _) = compose(None, &action("refund_request", ActionStatus::Approved, None), None, None);
        assert_eq!(bare, "Great news! Your refund request has been approved.");
    }

    #[test]
    fn every_built_in_type_has_a_default_for_every_decision() {
        for t in BUILT_IN_TYPES {
            for d in ActionStatus::DECISIONS {
                let body = default_template(t, d).unwrap_or_else(|| panic!("no default for {t} {d:?}"));
                validate_template("body", body).unwrap();
            }
        }
        assert_eq!(default_template("refund_request", ActionStatus::Pending), None);
    }

    #[test]
    fn a_type_without_a_template_falls_back_to_the_generic_one() {
        let (text, source) = compose(None, &action("warranty_claim", ActionStatus::Denied, Some("It is out of warranty.")), None, None);
        assert_eq!(source, TemplateSource::Generic);
        assert_eq!(text, "We've reviewed your request \"Refund order 1042\" and unfortunately can't approve it. It is out of warranty.");
    }

    #[test]
    fn an_organisation_template_wins_and_sees_details_and_names() {
        let now = Utc.timestamp_opt(0, 0).unwrap();
        let mut org = ResponseTemplates::empty("o", now);
        org.templates.push(ResponseTemplate {
            action_type: "refund_request".into(),
            decision: ActionStatus::Approved,
            body: "Hi {{customer_name}}! {{amount}} for order {{order}} ({{items}}{{meta}}) is on its way. {{user_response}} — {{agent_name}}".into(),
        });
        let a = action("refund_request", ActionStatus::Approved, Some("Thanks {{customer_name}}."));
        let (text, source) = compose(Some(&org), &a, Some("Maria"), Some("Ana"));
        assert_eq!(source, TemplateSource::Organisation);
        assert_eq!(text, "Hi Maria! 25.5 for order 1042 (mug, 2) is on its way. Thanks Maria. — Ana");
    }

    #[test]
    fn a_template_that_renders_empty_falls_back_to_the_generic_one() {
        let now = Utc.timestamp_opt(0, 0).unwrap();
        let mut org = ResponseTemplates::empty("o", now);
        org.templates.push(ResponseTemplate { action_type: "other".into(), decision: ActionStatus::Approved, body: "{{user_response}}".into() });
        let (text, source) = compose(Some(&org), &action("other", ActionStatus::Approved, None), None, None);
        assert_eq!(source, TemplateSource::Generic);
        assert!(text.starts_with("Good news!"));
    }

    #[test]
    fn admin_templates_are_checked_and_defaults_are_not_stored() {
        let now = Utc.timestamp_opt(0, 0).unwrap();
        let entry = |t: &str, d, body: &str| TemplateEntry { action_type: t.into(), decision: d, body: body.into(), source: None };
        let request = TemplateSettingsRequest {
            custom_types: vec!["warranty_claim".into()],
            templates: vec![
                entry("warranty_claim", ActionStatus::Approved, "Your warranty claim is accepted. {{user_response}}"),
                entry("refund_request", ActionStatus::Approved, default_template("refund_request", ActionStatus::Approved).unwrap()),
            ],
            version: None,
        };
        let settings = request.into_settings("o", "admin", now, 1).unwrap();
        assert_eq!(settings.templates.len(), 1);
        let effective = settings.effective();
        assert_eq!(effective.len(), 6 * 3);
        assert!(effective.iter().any(|e| e.action_type == "warranty_claim" && e.source == TemplateSource::Organisation));
        assert!(effective.iter().any(|e| e.action_type == "warranty_claim" && e.source == TemplateSource::Generic));

        let field = |r: TemplateSettingsRequest| match r.into_settings("o", "a", now, 1) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        };
        let bad = |body: &str| TemplateSettingsRequest { custom_types: vec![], templates: vec![entry("other", ActionStatus::Denied, body)], version: None };
        assert_eq!(field(bad("Hi {{customer name}}")), "templates[0].body");
        assert_eq!(field(bad("Hi {{customer_name")), "templates[0].body");
        assert_eq!(field(bad(" ")), "templates[0].body");
        let unknown = TemplateSettingsRequest { custom_types: vec![], templates: vec![entry("warranty_claim", ActionStatus::Denied, "x")], version: None };
        assert_eq!(field(unknown), "templates[0].action_type");
        let builtin = TemplateSettingsRequest { custom_types: vec!["other".into()], templates: vec![], version: None };
        assert_eq!(field(builtin), "custom_types[0]");
        let pending = TemplateSettingsRequest { custom_types: vec![], templates: vec![entry("other", ActionStatus::Pending, "x")], version: None };
        assert_eq!(field(pending), "templates[0].decision");
    }

    #[test]
    fn long_answers_are_cut_to_whatsapps_limit() {
        let long = "x".repeat(2048);
        let mut a = action("other", ActionStatus::Approved, Some(&long));
        a.details.insert("big".into(), json!("y".repeat(3000)));
        let now = Utc.timestamp_opt(0, 0).unwrap();
        let mut org = ResponseTemplates::empty("o", now);
        org.templates.push(ResponseTemplate { action_type: "other".into(), decision: ActionStatus::Approved, body: "{{big}} {{user_response}}".into() });
        let (text, _) = compose(Some(&org), &a, None, None);
        assert_eq!(text.chars().count(), MAX_TEXT_CHARS);
    }

    fn placeholder_left(text: &str) -> bool {
        text.find("{{").is_some_and(|open| text[open + 2..].contains("}}"))
    }

    proptest! {
        #[test]
        fn rendering_never_panics_and_leaves_no_placeholder(
            template in "[a-z {}_.]{0,60}",
            values in proptest::collection::hash_map("[a-z_]{1,8}", "[a-zA-Z0-9 .,!]{0,12}", 0..6),
        ) {
            let out = render(&template, &values);
            prop_assert!(!placeholder_left(&out), "{template:?} rendered {out:?}");
        }

        #[test]
        fn known_variables_render_their_value(name in "[a-z_]{1,10}", value in "[^{}]{0,20}", before in "[^{}]{0,10}", after in "[^{}]{0,10}") {
            let v: HashMap<String, String> = HashMap::from([(name.clone(), value.clone())]);
            prop_assert_eq!(render(&format!("{before}{{{{{name}}}}}{after}"), &v), format!("{before}{value}{after}"));
        }

        #[test]
        fn arbitrary_text_renders_without_panicking(template in ".{0,80}") {
            let _ = render(&template, &HashMap::new());
            let _ = validate_template("body", &template);
        }
    }
}
