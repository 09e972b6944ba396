//! A customer's transactions as the business's own systems report them (orders, payments,
//! refunds): validated here, keyed by the business's id so a retried `POST` changes nothing.
//!
//! Decisions (docs/customer-context.md):
//! - The amount is an integer of the currency's minor units (`amount_minor`: 1999 for 19.99 EUR,
//!   1999 for 1999 JPY), never a float: no rounding between the business's system and ours.
//!   Negative amounts are refunds and chargebacks.
//! - The currency is an active ISO 4217 code, upper case.
//! - The date (`occurred_at`) is when it happened in the business's system, RFC 3339; at most a
//!   day ahead of our clock (time zones and skew), since a later one is a typing error.
//! - The id is the business's, part of the key: 1 to 128 of `A-Z a-z 0-9 . _ : -`, so no key
//!   separator (`#`) can appear in it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const MAX_ID_CHARS: usize = 128;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Larger than any real transaction in any currency's minor units, and exact in an `f64` reader.
pub const MAX_ABS_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;
/// How far ahead of our clock `occurred_at` may be.
pub const FUTURE_SKEW_HOURS: i64 = 24;

/// Active ISO 4217 codes (funds and precious-metal codes left out: no customer pays in XAU).
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    Pending,
    Completed,
    Failed,
    Refunded,
    Cancelled,
}

/// What the business posts (`POST /v1/customers/{id}/transactions`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransaction {
    /// The business's own id of the transaction; posting it again changes nothing.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:-]+$")]
    pub id: String,
    /// In the currency's minor units (cents): 1999 is 19.99 EUR. Negative for refunds.
    #[schema(minimum = -1000000000000000_i64, maximum = 1000000000000000_i64)]
    pub amount_minor: i64,
    /// ISO 4217, upper case.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    pub status: TransactionStatus,
    /// When it happened in the business's system (RFC 3339).
    pub occurred_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// A transaction as stored and answered (its contract is [`TransactionShape`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub org_id: String,
    pub customer_id: String,
    #[serde(flatten)]
    pub fields: NewTransaction,
    /// When MAX first recorded it; a repeated post keeps the first.
    pub recorded_at: DateTime<Utc>,
}

/// A transaction as the API answers it, for the contract: the posted fields are flattened into
/// [`Transaction`], and OpenAPI cannot extend the post's closed schema (`allOf` with
/// `additionalProperties: false` refuses the added fields). A test keeps the two alike.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Transaction)]
pub struct TransactionShape {
    pub org_id: String,
    pub customer_id: String,
    /// The business's own id of the transaction.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:-]+$")]
    pub id: String,
    /// In the currency's minor units (cents). Negative for refunds.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    pub status: TransactionStatus,
    pub occurred_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When MAX first recorded it; a repeated post keeps the first.
    pub recorded_at: DateTime<Utc>,
}

/// What a post with an id already recorded means.
#[derive(Debug, PartialEq, Eq)]
pub enum Repeat {
    /// The same body again (a retry): answer the recorded transaction, change nothing.
    Same,
    /// Another body under the same id: refuse (409), the first one stands.
    Different,
}

pub fn is_currency(code: &str) -> bool {
    code.len() == 3 && CURRENCIES.split(' ').any(|c| c == code)
}

impl NewTransaction {
    /// Checks every field, naming the first one wrong; `now` bounds `occurred_at`.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        let id_ok = (1..=MAX_ID_CHARS).contains(&self.id.len())
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        if !id_ok {
            return Err(Error::invalid(
                "id",
                format!("must be 1 to {MAX_ID_CHARS} of A-Z a-z 0-9 . _ : -"),
            ));
        }
        if self.amount_minor.unsigned_abs() > MAX_ABS_AMOUNT_MINOR as u64 {
            return Err(Error::invalid(
                "amount_minor",
                format!("must be within ±{MAX_ABS_AMOUNT_MINOR}"),
            ));
        }
        if !is_currency(&self.currency) {
            return Err(Error::invalid(
                "currency",
                "must be an active ISO 4217 code such as EUR",
            ));
        }
        if self.occurred_at > now + Duration::hours(FUTURE_SKEW_HOURS) {
            return Err(Error::invalid(
                "occurred_at",
                format!("must be at most {FUTURE_SKEW_HOURS} hours ahead"),
            ));
        }
        if let Some(d) = &self.description {
            if d.chars().count() > MAX_DESCRIPTION_CHARS {
                return Err(Error::invalid(
                    "description",
                    format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
                ));
            }
        }
        Ok(())
    }
}

impl Transaction {
    /// Whether a post under this transaction's id repeats it or contradicts it.
    pub fn repeat_of(&self, again: &NewTransaction) -> Repeat {
        if &self.fields == again {
            Repeat::Same
        } else {
            Repeat::Different
        }
    }

    /// Sort key under the customer: newest `occurred_at` first needs a descending read of this
    /// (`ScanIndexForward=false`); the id makes two at one instant distinct.
    pub fn list_key(&self) -> String {
        format!(
            "TXN#{}#{}",
            self.fields.occurred_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            self.fields.id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-05T12:00:00Z".parse().unwrap()
    }

    fn sample() -> NewTransaction {
        NewTransaction {
            id: "order-1001".into(),
            amount_minor: 1999,
            currency: "EUR".into(),
            status: TransactionStatus::Completed,
            occurred_at: "2026-12-04T09:30:00Z".parse().unwrap(),
            description: Some("Two coffees".into()),
        }
    }

    fn field_of(t: &NewTransaction) -> Option<String> {
        match t.validate(now()) {
            Err(Error::Invalid { field, .. }) => Some(field),
            Ok(()) => None,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_plain_transaction_and_a_refund_are_valid() {
        assert_eq!(field_of(&sample()), None);
        assert_eq!(
            field_of(&NewTransaction {
                amount_minor: -1999,
                status: TransactionStatus::Refunded,
                ..sample()
            }),
            None
        );
        assert_eq!(
            field_of(&NewTransaction {
                currency: "JPY".into(),
                ..sample()
            }),
            None
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            field_of(&NewTransaction {
                id: String::new(),
                ..sample()
            })
            .as_deref(),
            Some("id")
        );
        assert_eq!(
            field_of(&NewTransaction {
                id: "a#b".into(),
                ..sample()
            })
            .as_deref(),
            Some("id")
        );
        assert_eq!(
            field_of(&NewTransaction {
                id: "x".repeat(MAX_ID_CHARS + 1),
                ..sample()
            })
            .as_deref(),
            Some("id")
        );
        assert_eq!(
            field_of(&NewTransaction {
                amount_minor: MAX_ABS_AMOUNT_MINOR + 1,
                ..sample()
            })
            .as_deref(),
            Some("amount_minor")
        );
        assert_eq!(
            field_of(&NewTransaction {
                amount_minor: i64::MIN,
                ..sample()
            })
            .as_deref(),
            Some("amount_minor")
        );
        assert_eq!(
            field_of(&NewTransaction {
                currency: "eur".into(),
                ..sample()
            })
            .as_deref(),
            Some("currency")
        );
        assert_eq!(
            field_of(&NewTransaction {
                currency: "ABC".into(),
                ..sample()
            })
            .as_deref(),
            Some("currency")
        );
        assert_eq!(
            field_of(&NewTransaction {
                currency: "EUR ".into(),
                ..sample()
            })
            .as_deref(),
            Some("currency")
        );
        assert_eq!(
            field_of(&NewTransaction {
                occurred_at: now() + Duration::hours(FUTURE_SKEW_HOURS) + Duration::seconds(1),
                ..sample()
            })
            .as_deref(),
            Some("occurred_at")
        );
        assert_eq!(
            field_of(&NewTransaction {
                description: Some("d".repeat(MAX_DESCRIPTION_CHARS + 1)),
                ..sample()
            })
            .as_deref(),
            Some("description")
        );
    }

    #[test]
    fn a_day_of_skew_is_allowed() {
        assert_eq!(
            field_of(&NewTransaction {
                occurred_at: now() + Duration::hours(FUTURE_SKEW_HOURS),
                ..sample()
            }),
            None
        );
    }

    #[test]
    fn a_repeat_is_the_same_only_when_every_field_is() {
        let stored = Transaction {
            org_id: "o".into(),
            customer_id: "c".into(),
            fields: sample(),
            recorded_at: now(),
        };
        assert_eq!(stored.repeat_of(&sample()), Repeat::Same);
        assert_eq!(
            stored.repeat_of(&NewTransaction {
                amount_minor: 2000,
                ..sample()
            }),
            Repeat::Different
        );
        assert_eq!(
            stored.repeat_of(&NewTransaction {
                status: TransactionStatus::Refunded,
                ..sample()
            }),
            Repeat::Different
        );
        assert_eq!(
            stored.repeat_of(&NewTransaction {
                description: None,
                ..sample()
            }),
            Repeat::Different
        );
    }

    #[test]
    fn the_contracts_shape_is_what_a_transaction_serializes_to() {
        let stored = Transaction { org_id: "o".into(), customer_id: "c".into(), fields: sample(), recorded_at: now() };
        let shape = TransactionShape {
            org_id: "o".into(),
            customer_id: "c".into(),
            id: stored.fields.id.clone(),
            amount_minor: stored.fields.amount_minor,
            currency: stored.fields.currency.clone(),
            status: stored.fields.status,
            occurred_at: stored.fields.occurred_at,
            description: stored.fields.description.clone(),
            recorded_at: now(),
        };
        assert_eq!(serde_json::to_value(&stored).unwrap(), serde_json::to_value(&shape).unwrap());
    }

    #[test]
    fn list_keys_sort_by_date_then_id() {
        let at = |s: &str, id: &str| Transaction {
            org_id: "o".into(),
            customer_id: "c".into(),
            fields: NewTransaction {
                id: id.into(),
                occurred_at: s.parse().unwrap(),
                ..sample()
            },
            recorded_at: now(),
        };
        let older = at("2026-01-02T03:04:05Z", "b").list_key();
        let newer = at("2026-01-02T03:04:05.5Z", "a").list_key();
        assert_eq!(older, "TXN#2026-01-02T03:04:05.000Z#b");
        assert!(older < newer);
    }
}
