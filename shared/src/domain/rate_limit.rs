//! Customer-side rate limits (issue 14; `docs/rate-limits.md`): how many messages a customer may
//! send a minute and how many conversations they may open an hour, the fixed windows those are
//! counted in, and the block that follows crossing either.
//!
//! Windows are fixed (the minute, the hour of the message's own time, UTC), not sliding: one
//! counter item per customer and window, bumped once per message, and a redelivered message lands
//! in the same window because its time comes from Meta's payload, not from our clock.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const DEFAULT_MESSAGES_PER_MINUTE: u32 = 20;
pub const DEFAULT_CONVERSATIONS_PER_HOUR: u32 = 5;
pub const DEFAULT_COOLDOWN_MINUTES: u32 = 10;
/// Beyond these a limit protects nothing (a customer typing by hand sends a few a minute).
pub const MAX_MESSAGES_PER_MINUTE: u32 = 1000;
pub const MAX_CONVERSATIONS_PER_HOUR: u32 = 100;
/// A day: longer blocks are a supervisor's decision, not a cool-down.
pub const MAX_COOLDOWN_MINUTES: u32 = 1440;
/// A window's counter outlives its window by this much before DynamoDB's TTL may delete it (the
/// key names its window, so a counter not yet deleted is never read as a later window's).
pub const COUNTER_GRACE: Duration = Duration::hours(1);

/// An organisation's limits (`GET`/`PUT /v1/settings/rate-limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Messages one customer may send in a (fixed, UTC) minute.
    #[schema(minimum = 1, maximum = 1000)]
    pub messages_per_minute: u32,
    /// Conversations one customer may open in a (fixed, UTC) hour.
    #[schema(minimum = 1, maximum = 100)]
    pub conversations_per_hour: u32,
    /// How long a customer who crossed a limit stays blocked.
    #[schema(minimum = 1, maximum = 1440)]
    pub cooldown_minutes: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            messages_per_minute: DEFAULT_MESSAGES_PER_MINUTE,
            conversations_per_hour: DEFAULT_CONVERSATIONS_PER_HOUR,
            cooldown_minutes: DEFAULT_COOLDOWN_MINUTES,
        }
    }
}

impl RateLimitSettings {
    pub fn validate(&self) -> Result<()> {
        for (field, value, max) in [
            (
                "messages_per_minute",
                self.messages_per_minute,
                MAX_MESSAGES_PER_MINUTE,
            ),
            (
                "conversations_per_hour",
                self.conversations_per_hour,
                MAX_CONVERSATIONS_PER_HOUR,
            ),
            (
                "cooldown_minutes",
                self.cooldown_minutes,
                MAX_COOLDOWN_MINUTES,
            ),
        ] {
            if !(1..=max).contains(&value) {
                return Err(Error::invalid(field, format!("must be from 1 to {max}")));
            }
        }
        Ok(())
    }

    pub fn limit(&self, reason: BlockReason) -> u32 {
        match reason {
            BlockReason::MessagesPerMinute => self.messages_per_minute,
            BlockReason::ConversationsPerHour => self.conversations_per_hour,
        }
    }

    pub fn cooldown(&self) -> Duration {
        Duration::minutes(i64::from(self.cooldown_minutes))
    }
}

/// The settings as stored, with who saved them last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRateLimits {
    pub org_id: String,
    pub settings: RateLimitSettings,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// Which limit a customer crossed; also names what a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    MessagesPerMinute,
    ConversationsPerHour,
}

impl BlockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockReason::MessagesPerMinute => "messages_per_minute",
            BlockReason::ConversationsPerHour => "conversations_per_hour",
        }
    }

    fn window(self) -> Duration {
        match self {
            BlockReason::MessagesPerMinute => Duration::minutes(1),
            BlockReason::ConversationsPerHour => Duration::hours(1),
        }
    }
}

/// One customer's counter for one window: what `RateLimitStore::count_once` bumps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCounter {
    pub org_id: String,
    /// The customer's WhatsApp address (known before the customer record exists).
    pub address: String,
    pub counts: BlockReason,
    pub window_start: DateTime<Utc>,
}

impl RateCounter {
    /// The counter of the window `at` falls in.
    pub fn at(org_id: &str, address: &str, counts: BlockReason, at: DateTime<Utc>) -> Self {
        let window_start = at.duration_trunc(counts.window()).unwrap_or(at);
        RateCounter {
            org_id: org_id.to_string(),
            address: address.to_string(),
            counts,
            window_start,
        }
    }

    /// The window's name in keys: `M#2026-12-05T13:02` (minute) or `H#2026-12-05T13` (hour).
    pub fn window_label(&self) -> String {
        match self.counts {
            BlockReason::MessagesPerMinute => {
                format!("M#{}", self.window_start.format("%Y-%m-%dT%H:%M"))
            }
            BlockReason::ConversationsPerHour => {
                format!("H#{}", self.window_start.format("%Y-%m-%dT%H"))
            }
        }
    }

    pub fn window_end(&self) -> DateTime<Utc> {
        self.window_start + self.counts.window()
    }

    /// Epoch seconds after which the table's TTL may delete the counter.
    pub fn expires_at(&self) -> i64 {
        (self.window_end() + COUNTER_GRACE).timestamp()
    }
}

/// A block on a customer, kept on their WhatsApp identity (read with every message anyway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerBlock {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub reason: BlockReason,
    /// The WhatsApp id of the message that crossed the limit: a redelivery of it knows it started
    /// the block (and owes its event and notice), any other message knows it did not.
    pub wamid: String,
    /// Where the customer's messages go while blocked when no conversation of theirs is open.
    pub conversation_id: String,
}

impl CustomerBlock {
    /// The block a message at `at` starts by crossing `reason`'s limit.
    pub fn start(
        settings: &RateLimitSettings,
        reason: BlockReason,
        at: DateTime<Utc>,
        wamid: &str,
        conversation_id: &str,
    ) -> Self {
        CustomerBlock {
            since: at,
            until: at + settings.cooldown(),
            reason,
            wamid: wamid.to_string(),
            conversation_id: conversation_id.to_string(),
        }
    }

    /// Holds at `at` (a message sent at the block's end is answered again).
    pub fn holds_at(&self, at: DateTime<Utc>) -> bool {
        self.since <= at && at < self.until
    }

    pub fn started_by(&self, wamid: &str) -> bool {
        self.wamid == wamid
    }

    /// The key that makes its event and its notice to the customer happen once per block.
    pub fn dedupe_key(&self, org_id: &str, address: &str) -> String {
        format!(
            "rate-limited:{org_id}:{address}:{}",
            self.since.timestamp_millis()
        )
    }

    pub fn view(&self) -> BlockView {
        BlockView {
            since: self.since,
            until: self.until,
            reason: self.reason,
        }
    }
}

/// A block as the API shows it on the customer (`GET /v1/customers/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockView {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub reason: BlockReason,
}

/// What happens to one inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Handled as usual.
    Within,
    /// This message crossed the limit: block the customer now.
    Crossed,
    /// The customer is blocked: store the message, answer nothing.
    Blocked,
}

/// The decision for a message at `at`: `block` is the one on the customer's identity, if any;
/// `counted` the count after this message (`None`: counted by an earlier delivery of it, which
/// decided already: an earlier crossing left its block behind).
pub fn decide(
    block: Option<&CustomerBlock>,
    at: DateTime<Utc>,
    counted: Option<u32>,
    limit: u32,
) -> RateDecision {
    if block.is_some_and(|b| b.holds_at(at)) {
        return RateDecision::Blocked;
    }
    match counted {
        Some(n) if n > limit => RateDecision::Crossed,
        _ => RateDecision::Within,
    }
}

/// The polite notice the customer gets once per block.
pub fn notice_text(block: &CustomerBlock) -> String {
    let minutes = (block.until - block.since).num_minutes().max(1);
    format!(
        "Thank you for your messages. We have received all of them and our team can read them. \
         You are writing faster than we can answer, so automatic replies are paused for about {minutes} minutes."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, h, m, s).unwrap()
    }

    #[test]
    fn the_defaults_are_twenty_a_minute_five_an_hour_ten_minutes() {
        let d = RateLimitSettings::default();
        assert_eq!(
            (
                d.messages_per_minute,
                d.conversations_per_hour,
                d.cooldown_minutes
            ),
            (20, 5, 10)
        );
        assert!(d.validate().is_ok());
    }

    #[test]
    fn settings_out_of_range_name_their_field() {
        let field = |s: RateLimitSettings| match s.validate() {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        };
        let d = RateLimitSettings::default();
        assert_eq!(
            field(RateLimitSettings {
                messages_per_minute: 0,
                ..d
            }),
            "messages_per_minute"
        );
        assert_eq!(
            field(RateLimitSettings {
                messages_per_minute: 1001,
                ..d
            }),
            "messages_per_minute"
        );
        assert_eq!(
            field(RateLimitSettings {
                conversations_per_hour: 0,
                ..d
            }),
            "conversations_per_hour"
        );
        assert_eq!(
            field(RateLimitSettings {
                cooldown_minutes: 1441,
                ..d
            }),
            "cooldown_minutes"
        );
        assert!(
            RateLimitSettings {
                messages_per_minute: 1000,
                conversations_per_hour: 100,
                cooldown_minutes: 1440
            }
            .validate()
            .is_ok()
        );
        assert!(
            RateLimitSettings {
                messages_per_minute: 1,
                conversations_per_hour: 1,
                cooldown_minutes: 1
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn a_minute_window_runs_from_second_zero_to_the_next_minute() {
        let first = RateCounter::at("o", "316", BlockReason::MessagesPerMinute, t(13, 2, 0));
        let last = RateCounter::at("o", "316", BlockReason::MessagesPerMinute, t(13, 2, 59));
        let next = RateCounter::at("o", "316", BlockReason::MessagesPerMinute, t(13, 3, 0));
        assert_eq!(first, last);
        assert_eq!(first.window_label(), "M#2026-12-05T13:02");
        assert_eq!(next.window_label(), "M#2026-12-05T13:03");
        assert_eq!(first.window_end(), t(13, 3, 0));
        assert_eq!(first.expires_at(), t(14, 3, 0).timestamp());
    }

    #[test]
    fn an_hour_window_is_the_clock_hour() {
        let a = RateCounter::at("o", "316", BlockReason::ConversationsPerHour, t(13, 0, 0));
        let b = RateCounter::at("o", "316", BlockReason::ConversationsPerHour, t(13, 59, 59));
        let c = RateCounter::at("o", "316", BlockReason::ConversationsPerHour, t(14, 0, 0));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.window_label(), "H#2026-12-05T13");
        assert_eq!(a.expires_at(), t(15, 0, 0).timestamp());
    }

    #[test]
    fn the_twenty_first_message_of_a_minute_crosses_the_limit() {
        assert_eq!(
            decide(None, t(13, 2, 10), Some(20), 20),
            RateDecision::Within
        );
        assert_eq!(
            decide(None, t(13, 2, 10), Some(21), 20),
            RateDecision::Crossed
        );
        // A message counted by an earlier delivery: no second decision.
        assert_eq!(decide(None, t(13, 2, 10), None, 20), RateDecision::Within);
    }

    #[test]
    fn the_sixth_new_conversation_of_an_hour_crosses_the_limit() {
        let s = RateLimitSettings::default();
        let limit = s.limit(BlockReason::ConversationsPerHour);
        assert_eq!(
            decide(None, t(13, 40, 0), Some(5), limit),
            RateDecision::Within
        );
        assert_eq!(
            decide(None, t(13, 40, 0), Some(6), limit),
            RateDecision::Crossed
        );
    }

    #[test]
    fn a_block_holds_until_its_cool_down_ends() {
        let s = RateLimitSettings::default();
        let block = CustomerBlock::start(
            &s,
            BlockReason::MessagesPerMinute,
            t(13, 2, 30),
            "wamid.21",
            "c1",
        );
        assert_eq!(block.until, t(13, 12, 30));
        assert_eq!(
            decide(Some(&block), t(13, 2, 31), Some(1), 20),
            RateDecision::Blocked
        );
        assert_eq!(
            decide(Some(&block), t(13, 12, 29), None, 20),
            RateDecision::Blocked
        );
        // At its end the customer is counted afresh.
        assert_eq!(
            decide(Some(&block), t(13, 12, 30), Some(1), 20),
            RateDecision::Within
        );
        assert_eq!(
            decide(Some(&block), t(13, 12, 30), Some(21), 20),
            RateDecision::Crossed
        );
        assert!(block.started_by("wamid.21") && !block.started_by("wamid.22"));
    }

    #[test]
    fn one_notice_and_event_key_per_block() {
        let s = RateLimitSettings::default();
        let a = CustomerBlock::start(&s, BlockReason::MessagesPerMinute, t(13, 2, 30), "w1", "c1");
        let b = CustomerBlock::start(&s, BlockReason::MessagesPerMinute, t(13, 20, 0), "w9", "c1");
        assert_eq!(a.dedupe_key("o", "316"), a.clone().dedupe_key("o", "316"));
        assert_ne!(a.dedupe_key("o", "316"), b.dedupe_key("o", "316"));
        assert!(notice_text(&a).contains("10 minutes"));
    }
}
