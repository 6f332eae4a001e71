//! `SchedulerControl`: one EventBridge Scheduler schedule per integration direction,
//! invoking the poll function with `{"integration": ..., "flow": ...}`, or (a second
//! control, [`SchedulerControl::for_commit_links`]) one per commit link, invoking the
//! commits function with `{"integration": ...}`.

use super::error::sdk_error;
use async_trait::async_trait;
use aws_sdk_scheduler::error::BuildError;
use aws_sdk_scheduler::types::{
    DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, ScheduleState, Target,
};
use aws_sdk_scheduler::Client;
use ferry_domain::ports::{PortResult, ScheduleControl};
use ferry_domain::{Flow, IntegrationId, PortError};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The [`ScheduleControl`] of the AWS runtime. Schedules live in `group` and target
/// the poll function (or the commits function) through the scheduler role.
#[derive(Debug, Clone)]
pub struct SchedulerControl {
    client: Client,
    group: String,
    poll_function_arn: String,
    role_arn: String,
    dead_letter_arn: Option<String>,
    invokes: Invokes,
}

/// What a control's schedules invoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invokes {
    /// The poll function, one schedule per integration direction.
    Poll,
    /// The commits function, one schedule per commit link (its flow is always
    /// `ferry_domain::COMMIT_FLOW`, so neither its name nor its input names it).
    Commits,
}

/// How long EventBridge Scheduler keeps trying to invoke the poll function for one tick
/// (its minimum): a tick older than the next one is worth nothing, since every poll reads
/// from the watermark.
pub const TICK_MAX_AGE_SECS: i32 = 60;
/// Invocation retries of one tick within [`TICK_MAX_AGE_SECS`] (a throttled invoke).
pub const TICK_RETRIES: i32 = 2;

/// `ferry-{integration}-{flow}` when that is a valid schedule name (≤ 64 characters of
/// `[0-9A-Za-z-_.]`); otherwise the integration id is shortened and cleaned and a
/// hash of it keeps names of different integrations apart.
pub fn schedule_name(integration: &IntegrationId, flow: Flow) -> String {
    name_with(integration, flow.as_str())
}

/// `ferry-{commit link}-commits`, shortened as [`schedule_name`] shortens.
pub fn commit_schedule_name(integration: &IntegrationId) -> String {
    name_with(integration, "commits")
}

fn name_with(integration: &IntegrationId, suffix: &str) -> String {
    let plain = format!("ferry-{integration}-{suffix}");
    let valid = |s: &str| s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid(&plain) {
        return plain;
    }
    let hash: String =
        Sha256::digest(integration.as_str().as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect();
    let cleaned: String = integration
        .as_str()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .take(64 - "ferry-".len() - 1 - hash.len() - 1 - suffix.len())
        .collect();
    format!("ferry-{cleaned}-{hash}-{suffix}")
}

/// `rate(N minutes)` with N = max(1, ceil(every / 60 s)); AWS wants the singular for 1.
pub fn rate_expression(every: Duration) -> String {
    let secs = every.as_secs() + u64::from(every.subsec_nanos() > 0);
    let minutes = secs.div_ceil(60).max(1);
    if minutes == 1 {
        "rate(1 minute)".to_string()
    } else {
        format!("rate({minutes} minutes)")
    }
}

fn built<T>(r: Result<T, BuildError>, what: &str) -> PortResult<T> {
    r.map_err(|e| PortError::store(format!("{what}: cannot build the Scheduler request: {e}")).with_source(e))
}

impl SchedulerControl {
    pub fn new(client: Client, group: String, poll_function_arn: String, role_arn: String) -> Self {
        Self { client, group, poll_function_arn, role_arn, dead_letter_arn: None, invokes: Invokes::Poll }
    }

    /// The control of commit links' schedules: each invokes `commits_function_arn` with
    /// `{"integration": ID}`.
    pub fn for_commit_links(client: Client, group: String, commits_function_arn: String, role_arn: String) -> Self {
        Self { invokes: Invokes::Commits, ..Self::new(client, group, commits_function_arn, role_arn) }
    }

    fn name(&self, integration: &IntegrationId, flow: Flow) -> String {
        match self.invokes {
            Invokes::Poll => schedule_name(integration, flow),
            Invokes::Commits => commit_schedule_name(integration),
        }
    }

    /// Ticks the scheduler could not deliver within [`TICK_MAX_AGE_SECS`] go to this SQS
    /// queue (the template's PollDlq), where an alarm sees them.
    pub fn with_dead_letter_queue(mut self, arn: Option<String>) -> Self {
        self.dead_letter_arn = arn;
        self
    }

    fn target(&self, integration: &IntegrationId, flow: Flow, what: &str) -> PortResult<Target> {
        let input = match self.invokes {
            Invokes::Poll => serde_json::json!({ "integration": integration.as_str(), "flow": flow }),
            Invokes::Commits => serde_json::json!({ "integration": integration.as_str() }),
        }
        .to_string();
        let retry = RetryPolicy::builder()
            .maximum_event_age_in_seconds(TICK_MAX_AGE_SECS)
            .maximum_retry_attempts(TICK_RETRIES)
            .build();
        let dead_letters = self.dead_letter_arn.as_ref().map(|arn| DeadLetterConfig::builder().arn(arn).build());
        built(
            Target::builder()
                .arn(&self.poll_function_arn)
                .role_arn(&self.role_arn)
                .input(input)
                .retry_policy(retry)
                .set_dead_letter_config(dead_letters)
                .build(),
            what,
        )
    }

    fn off(what: &str) -> PortResult<FlexibleTimeWindow> {
        built(FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build(), what)
    }

    fn place(&self) -> String {
        format!("schedule group `{}`", self.group)
    }
}

#[async_trait]
impl ScheduleControl for SchedulerControl {
    /// Creates the schedule ENABLED, or updates it (expression, target, ENABLED) when it
    /// exists.
    async fn enable(&self, integration: &IntegrationId, flow: Flow, every: Duration) -> PortResult<()> {
        let name = self.name(integration, flow);
        let what = format!("enable schedule {name} ({integration} {flow})");
        let expression = rate_expression(every);
        let created = self
            .client
            .create_schedule()
            .name(&name)
            .group_name(&self.group)
            .schedule_expression(&expression)
            .flexible_time_window(Self::off(&what)?)
            .target(self.target(integration, flow, &what)?)
            .state(ScheduleState::Enabled)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conflict_exception()) => {
                self.client
                    .update_schedule()
                    .name(&name)
                    .group_name(&self.group)
                    .schedule_expression(&expression)
                    .flexible_time_window(Self::off(&what)?)
                    .target(self.target(integration, flow, &what)?)
                    .state(ScheduleState::Enabled)
                    .send()
                    .await
                    .map_err(|e| sdk_error("Scheduler", "UpdateSchedule", &self.place(), &what, e))?;
                Ok(())
            }
            Err(err) => Err(sdk_error("Scheduler", "CreateSchedule", &self.place(), &what, err)),
        }
    }

    /// Sets the existing schedule DISABLED, keeping its definition; no-op when missing.
    async fn disable(&self, integration: &IntegrationId, flow: Flow) -> PortResult<()> {
        let name = self.name(integration, flow);
        let what = format!("disable schedule {name} ({integration} {flow})");
        let current = match self.client.get_schedule().name(&name).group_name(&self.group).send().await {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => return Ok(()),
            Err(err) => return Err(sdk_error("Scheduler", "GetSchedule", &self.place(), &what, err)),
        };
        if current.state() == Some(&ScheduleState::Disabled) {
            return Ok(());
        }
        let target = match current.target() {
            Some(t) => t.clone(),
            None => self.target(integration, flow, &what)?,
        };
        let window = match current.flexible_time_window() {
            Some(w) => w.clone(),
            None => Self::off(&what)?,
        };
        let expression =
            current.schedule_expression().map(str::to_string).unwrap_or_else(|| rate_expression(Duration::ZERO));
        let result = self
            .client
            .update_schedule()
            .name(&name)
            .group_name(&self.group)
            .schedule_expression(expression)
            .set_schedule_expression_timezone(current.schedule_expression_timezone().map(str::to_string))
            .flexible_time_window(window)
            .target(target)
            .state(ScheduleState::Disabled)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Deleted between the read and the update: nothing left to disable.
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(()),
            Err(err) => Err(sdk_error("Scheduler", "UpdateSchedule", &self.place(), &what, err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_intervals_become_whole_minute_rates() {
        let table = [
            (0, "rate(1 minute)"),
            (30, "rate(1 minute)"),
            (60, "rate(1 minute)"),
            (61, "rate(2 minutes)"),
            (300, "rate(5 minutes)"),
        ];
        for (secs, want) in table {
            assert_eq!(rate_expression(Duration::from_secs(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn schedule_names_are_valid_and_distinct() {
        let id = |s: &str| IntegrationId::parse(s).expect("valid id");
        assert_eq!(schedule_name(&id("app-bugs"), Flow::LeftToRight), "ferry-app-bugs-left_to_right");
        let long = "a".repeat(128);
        let odd = [id("a:b"), id("a_b"), id(&long), id(&long.replace("aaa", "aab"))];
        let mut names = Vec::new();
        for i in &odd {
            for flow in Flow::BOTH {
                let name = schedule_name(i, flow);
                assert!(name.len() <= 64, "{name}");
                assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')), "{name}");
                names.push(name);
            }
        }
        for i in &odd {
            let name = commit_schedule_name(i);
            assert!(name.len() <= 64, "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')), "{name}");
            names.push(name);
        }
        assert_eq!(commit_schedule_name(&id("app-commits")), "ferry-app-commits-commits");
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }
}
