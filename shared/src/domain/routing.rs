//! Routing (issue 13, `docs/sla.md`): which agent of a team takes a queued conversation, and
//! what an assignment does to the agents' counters.
//!
//! An agent is eligible when they are of the team, online, below capacity and have every skill
//! the conversation requires. Among the eligible: the best proficiency in the required skills
//! first, then the fewest open conversations, then the longest idle (the oldest
//! `last_assigned_at`, never assigned first) — so equals take turns (round robin). The counters
//! themselves are kept by the store, in the assignment's transaction, under the condition
//! `open_count < capacity AND availability = online`: the choice here is only the order to try.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::agent::{Agent, Availability};
use crate::domain::conversation::Conversation;
use crate::domain::event::{EventKind, NewEvent};

/// Where a conversation's team may come from; which of them an organisation lets set it is its
/// choice (`RoutingSettings`). Escalations (an SLA policy's `reassign_to_team`) always may: the
/// admin who wrote the policy chose that move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamSource {
    /// The number's `default_team_id`, when a customer's conversation opens on it.
    ChannelDefault,
    /// A bot menu entry naming a team, when the customer picks it.
    BotMenu,
    /// A supervisor or admin: `PATCH /v1/conversations/{id}` with `team_id`.
    Agent,
}

impl TeamSource {
    pub const ALL: [TeamSource; 3] = [TeamSource::ChannelDefault, TeamSource::BotMenu, TeamSource::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            TeamSource::ChannelDefault => "channel_default",
            TeamSource::BotMenu => "bot_menu",
            TeamSource::Agent => "agent",
        }
    }
}

/// How the organisation's conversations get their team (`GET/PUT /v1/routing/settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// The sources allowed to set a conversation's team, each at most once; a source left out is
    /// ignored (the number's default team, a menu entry's team) or refused (a `PATCH` naming
    /// `team_id`: 422). Default: all three, which is how MAX behaved before the setting existed.
    #[schema(max_items = 3)]
    pub team_sources: Vec<TeamSource>,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        RoutingSettings { team_sources: TeamSource::ALL.to_vec() }
    }
}

impl RoutingSettings {
    pub fn allows(&self, source: TeamSource) -> bool {
        self.team_sources.contains(&source)
    }

    pub fn validate(&self) -> crate::error::Result<()> {
        for (i, s) in self.team_sources.iter().enumerate() {
            if self.team_sources[..i].contains(s) {
                return Err(crate::error::Error::invalid(format!("team_sources[{i}]"), "each source once"));
            }
        }
        Ok(())
    }
}

/// The settings as stored: who saved them, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRoutingSettings {
    pub org_id: String,
    pub settings: RoutingSettings,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// One agent's counter moved by an assignment's write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityChange {
    pub org_id: String,
    pub agent_id: String,
    /// +1 takes a place, -1 gives one back.
    pub delta: i64,
    /// A take that must fit: the agent online and below capacity (routing, agents assigning).
    /// A take that may exceed it (admins, escalations) and a release have no condition.
    pub within_capacity: bool,
    /// When it happened: a take sets the agent's `last_assigned_at`.
    pub at: DateTime<Utc>,
}

impl CapacityChange {
    pub fn take(org_id: &str, agent_id: &str, within_capacity: bool, at: DateTime<Utc>) -> Self {
        CapacityChange { org_id: org_id.into(), agent_id: agent_id.into(), delta: 1, within_capacity, at }
    }

    pub fn release(org_id: &str, agent_id: &str, at: DateTime<Utc>) -> Self {
        CapacityChange { org_id: org_id.into(), agent_id: agent_id.into(), delta: -1, within_capacity: false, at }
    }
}

/// How a new assignee's counter moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Not an agent (any user may be assigned by hand): nothing is counted.
    NotCounted,
    /// Counted only if it fits: online and below capacity (routing; agents and supervisors by hand).
    WithinCapacity,
    /// Counted even over capacity (admins by hand, an escalation to a named agent).
    OverCapacity,
}

/// Whether `agent` may take a conversation of `team_id` needing `required` skills now.
pub fn eligible(agent: &Agent, team_id: &str, required: &[String]) -> bool {
    agent.availability == Availability::Online
        && agent.open_count < i64::from(agent.capacity)
        && agent.team_ids.iter().any(|t| t == team_id)
        && required.iter().all(|s| agent.skills.contains_key(s))
}

/// The agent's proficiency in the required skills (their sum: with every skill present, the
/// higher sum is the better average).
pub fn proficiency(agent: &Agent, required: &[String]) -> u32 {
    required.iter().map(|s| u32::from(agent.skills.get(s).copied().unwrap_or(0))).sum()
}

/// The eligible agents in the order routing tries them.
pub fn candidates<'a>(agents: &'a [Agent], team_id: &str, required: &[String]) -> Vec<&'a Agent> {
    let mut eligible: Vec<&Agent> = agents.iter().filter(|a| eligible(a, team_id, required)).collect();
    // `None` (never assigned) sorts before every instant: the longest idle of all.
    eligible.sort_by(|a, b| {
        proficiency(b, required)
            .cmp(&proficiency(a, required))
            .then(a.open_count.cmp(&b.open_count))
            .then(a.last_assigned_at.cmp(&b.last_assigned_at))
            .then(a.id.cmp(&b.id))
    });
    eligible
}

/// Moves `c` to `assignee` (`None` unassigns): the place the previous holder had is given back,
/// the new assignee's is taken as `hold` says when the conversation is open in a team (capacity
/// is routing's notion: a conversation without a team is counted by nobody). The same agent
/// again changes no counter. Returns the counters to move in the same write.
pub fn assign(c: &mut Conversation, assignee: Option<&str>, hold: Hold, at: DateTime<Utc>) -> Vec<CapacityChange> {
    let previous = c.holds_capacity_of.take();
    c.assignee_id = assignee.map(str::to_string);
    c.settle_status();
    let counted = hold != Hold::NotCounted && c.team_id.is_some() && c.status.is_open();
    let new = assignee.filter(|_| counted);
    c.holds_capacity_of = new.map(str::to_string);
    if previous.as_deref() == new {
        return Vec::new();
    }
    let mut changes = Vec::new();
    if let Some(p) = previous {
        changes.push(CapacityChange::release(&c.org_id, &p, at));
    }
    if let Some(a) = new {
        changes.push(CapacityChange::take(&c.org_id, a, hold == Hold::WithinCapacity, at));
    }
    changes
}

/// Who moved an assignment, as its event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignedBy {
    Routing,
    Manual,
    Escalation,
}

impl AssignedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignedBy::Routing => "routing",
            AssignedBy::Manual => "manual",
            AssignedBy::Escalation => "escalation",
        }
    }
}

/// The events of `c`'s assignee moving from `before`: `conversation.unassigned` for the one who
/// had it, `conversation.assigned` for the new one. Keyed by the conversation's version, so the
/// write that makes the move records them once.
pub fn assignment_events(c: &Conversation, before: Option<&str>, by: AssignedBy, now: DateTime<Utc>) -> Vec<NewEvent> {
    let after = c.assignee_id.as_deref();
    if before == after {
        return Vec::new();
    }
    let data = |assignee: &str| {
        json!({
            "conversation_id": c.id,
            "customer_id": c.customer_id,
            "team_id": c.team_id,
            "assignee_id": assignee,
            "status": c.status,
            "priority": c.priority,
            "by": by.as_str(),
        })
    };
    let mut events = Vec::new();
    if let Some(b) = before {
        events.push(NewEvent::new(&c.org_id, EventKind::ConversationUnassigned, now, data(b), format!("unassign:{}:{}", c.id, c.version)));
    }
    if let Some(a) = after {
        events.push(NewEvent::new(&c.org_id, EventKind::ConversationAssigned, now, data(a), format!("assign:{}:{}", c.id, c.version)));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::agent::AgentInput;
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn agent(id: &str, skills: &[(&str, u8)], open: i64, last: Option<i64>) -> Agent {
        let input = AgentInput {
            user_id: id.into(),
            name: id.into(),
            team_ids: vec!["billing".into()],
            skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect::<BTreeMap<_, _>>(),
            languages: vec![],
            capacity: 3,
        };
        let mut a = Agent::new("o1", input, t(0)).unwrap();
        a.availability = Availability::Online;
        a.open_count = open;
        a.last_assigned_at = last.map(t);
        a
    }

    fn ids(agents: &[&Agent]) -> Vec<String> {
        agents.iter().map(|a| a.id.clone()).collect()
    }

    #[test]
    fn only_online_agents_of_the_team_below_capacity_with_every_skill_are_eligible() {
        let ok = agent("ok", &[("billing", 2), ("spanish", 1)], 2, None);
        let mut away = agent("away", &[("billing", 5), ("spanish", 5)], 0, None);
        away.availability = Availability::Away;
        let full = agent("full", &[("billing", 5), ("spanish", 5)], 3, None);
        let unskilled = agent("unskilled", &[("billing", 5)], 0, None);
        let mut other_team = agent("other", &[("billing", 5), ("spanish", 5)], 0, None);
        other_team.team_ids = vec!["sales".into()];
        let agents = vec![away, full, unskilled, other_team, ok];
        let required = vec!["billing".to_string(), "spanish".to_string()];
        assert_eq!(ids(&candidates(&agents, "billing", &required)), ["ok"]);
        assert_eq!(ids(&candidates(&agents, "billing", &["billing".into()])), ["unskilled", "ok"], "best proficiency first");
    }

    #[test]
    fn proficiency_then_fewest_open_then_longest_idle() {
        let agents = vec![
            agent("busy_expert", &[("billing", 5)], 2, Some(0)),
            agent("idle_novice", &[("billing", 1)], 0, None),
            agent("recent", &[("billing", 3)], 1, Some(50)),
            agent("earlier", &[("billing", 3)], 1, Some(10)),
            agent("fewer", &[("billing", 3)], 0, Some(90)),
        ];
        let order = ids(&candidates(&agents, "billing", &["billing".into()]));
        assert_eq!(order, ["busy_expert", "fewer", "earlier", "recent", "idle_novice"]);
        // Without required skills proficiency ties: fewest open, then the never assigned first.
        let order = ids(&candidates(&agents, "billing", &[]));
        assert_eq!(order, ["idle_novice", "fewer", "earlier", "recent", "busy_expert"]);
    }

    #[test]
    fn equals_take_turns_as_each_assignment_moves_last_assigned_at() {
        let mut agents = vec![agent("a", &[], 0, None), agent("b", &[], 0, None), agent("c", &[], 0, None)];
        let mut order = Vec::new();
        for i in 0..6 {
            let first = candidates(&agents, "billing", &[])[0].id.clone();
            order.push(first.clone());
            let a = agents.iter_mut().find(|a| a.id == first).unwrap();
            a.last_assigned_at = Some(t(i));
            // Each closes it at once: open counts stay equal, only idleness decides.
        }
        assert_eq!(order, ["a", "b", "c", "a", "b", "c"]);
    }

    #[test]
    fn an_assignment_moves_the_holders_counter_once() {
        let mut c = Conversation::open_on("c1".into(), "o1", "p", "u", "1", t(0), t(0)).in_team(Some("billing"));
        let take = assign(&mut c, Some("ana"), Hold::WithinCapacity, t(1));
        assert_eq!(take, [CapacityChange::take("o1", "ana", true, t(1))]);
        assert_eq!((c.status, c.holds_capacity_of.as_deref()), (crate::domain::conversation::ConversationStatus::Assigned, Some("ana")));
        assert!(assign(&mut c, Some("ana"), Hold::OverCapacity, t(2)).is_empty(), "the same agent again moves nothing");
        let moved = assign(&mut c, Some("bo"), Hold::OverCapacity, t(3));
        assert_eq!(moved, [CapacityChange::release("o1", "ana", t(3)), CapacityChange::take("o1", "bo", false, t(3))]);
        let by_hand = assign(&mut c, Some("someone"), Hold::NotCounted, t(4));
        assert_eq!((by_hand, c.holds_capacity_of.clone()), (vec![CapacityChange::release("o1", "bo", t(4))], None));
        assert!(assign(&mut c, None, Hold::NotCounted, t(5)).is_empty());
        assert_eq!(c.status, crate::domain::conversation::ConversationStatus::Queued);
        // Without a team nobody is counted.
        let mut lone = Conversation::open_on("c2".into(), "o1", "p", "u", "1", t(0), t(0));
        assert!(assign(&mut lone, Some("ana"), Hold::WithinCapacity, t(1)).is_empty());
    }

    #[test]
    fn events_name_who_lost_and_who_got_it() {
        let mut c = Conversation::open_on("c1".into(), "o1", "p", "u", "1", t(0), t(0)).in_team(Some("billing"));
        assign(&mut c, Some("ana"), Hold::WithinCapacity, t(1));
        let kinds = |e: Vec<NewEvent>| e.into_iter().map(|e| (e.kind, e.data["assignee_id"].as_str().unwrap_or_default().to_string())).collect::<Vec<_>>();
        assert_eq!(kinds(assignment_events(&c, None, AssignedBy::Routing, t(1))), [(EventKind::ConversationAssigned, "ana".to_string())]);
        assert_eq!(
            kinds(assignment_events(&c, Some("bo"), AssignedBy::Manual, t(1))),
            [(EventKind::ConversationUnassigned, "bo".to_string()), (EventKind::ConversationAssigned, "ana".to_string())]
        );
        assert!(assignment_events(&c, Some("ana"), AssignedBy::Manual, t(1)).is_empty());
    }
}
