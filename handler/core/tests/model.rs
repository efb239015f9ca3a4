//! The copy chain against a small model of AWS: events delivered late, twice and out of order,
//! copy jobs that finish, fail or hang, a listing that lags behind, and reconciler runs in
//! between. Whatever the order, no hop ever has two live copy jobs, no hop gets more than
//! `CopyMaxAttempts` jobs, and a hop that failed is retried only with a new token.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, TimeZone, Utc};
use common::*;
use crossvault_core::config::vars;
use crossvault_core::event::Status;
use crossvault_core::reconcile::{ReconcileInput, RecoveryPointFacts, point_plan};
use crossvault_core::{
    Action, CurrentLifecycle, DecideError, Facts, ListedCopyJob, Partition, Region, StackConfig,
    decide_json,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const RP: &str = "arn:aws:backup:eu-west-1:111111111111:recovery-point:model-1";
const VAULT: &str = "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault";

/// How a started job ends, in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Completes,
    Fails,
    Hangs,
}

#[derive(Debug, Clone)]
enum Step {
    /// Deliver queued event `i` (modulo the queue) and keep it queued (a duplicate later).
    Deliver(usize),
    /// Deliver queued event `i` and drop it.
    DeliverOnce(usize),
    /// The listing catches up with the jobs' real states.
    Catch,
    /// A reconciler run.
    Reconcile,
    /// A hanging job finally finishes.
    Finish(usize, bool),
}

struct Aws {
    config: StackConfig,
    /// Every job, with its real state.
    jobs: Vec<ListedCopyJob>,
    /// What `ListCopyJobs` shows (it lags: a job appears, and changes, only on `Catch`).
    listed: Vec<ListedCopyJob>,
    tokens: BTreeMap<String, usize>,
    queue: Vec<Value>,
    fates: Vec<Fate>,
    next_fate: usize,
    minute: u32,
}

impl Aws {
    fn fate(&mut self) -> Fate {
        let f = self.fates[self.next_fate % self.fates.len()];
        self.next_fate += 1;
        f
    }

    fn copy_event(&self, job: &ListedCopyJob) -> Value {
        json!({
            "version": "0", "id": format!("e-{}-{}", job.copy_job_id, job.state),
            "detail-type": "Copy Job State Change", "source": "aws.backup",
            "account": SOURCE, "time": "2026-03-02T05:00:00Z", "region": "eu-west-1",
            "resources": [RP],
            "detail": {
                "copyJobId": job.copy_job_id, "state": job.state.to_string(),
                "creationDate": job.creation_date.unwrap().to_rfc3339(),
                "resourceType": "EFS",
                "resourceArn": "arn:aws:elasticfilesystem:eu-west-1:111111111111:file-system/fs-1",
                "sourceBackupVaultArn": VAULT,
                "destinationBackupVaultArn": job.destination_vault_arn.to_string(),
                "destinationRecoveryPointArn": if job.state == Status::Completed {
                    json!(format!("{}:copy-{}", job.destination_vault_arn, job.copy_job_id))
                } else {
                    json!({})
                },
                "statusMessage": if job.state == Status::Failed { json!("Access denied") } else { Value::Null },
            }
        })
    }

    fn finish(&mut self, i: usize, completes: bool) {
        let state = if completes {
            Status::Completed
        } else {
            Status::Failed
        };
        self.jobs[i].state = state;
        let event = self.copy_event(&self.jobs[i]);
        self.queue.push(event);
    }

    /// `StartCopyJob`: a known token starts nothing; a new one starts a job.
    fn start(&mut self, action: &Action) {
        let Action::StartCopyJob {
            idempotency_token,
            destination_vault_arn,
            source_recovery_point_arn,
            ..
        } = action
        else {
            return;
        };
        if self.tokens.contains_key(idempotency_token) {
            return;
        }
        self.minute += 1;
        let i = self.jobs.len();
        self.tokens.insert(idempotency_token.clone(), i);
        self.jobs.push(ListedCopyJob {
            copy_job_id: format!("J{i}"),
            source_recovery_point_arn: source_recovery_point_arn.clone(),
            destination_vault_arn: destination_vault_arn.clone(),
            state: Status::Created,
            creation_date: Some(
                Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap()
                    + Duration::minutes(i64::from(self.minute)),
            ),
            status_message: None,
            destination_recovery_point_arn: None,
            destination_lifecycle: Some(CurrentLifecycle::delete_after(35)),
            iam_role_arn: None,
        });
        match self.fate() {
            Fate::Completes => self.finish(i, true),
            Fate::Fails => self.finish(i, false),
            Fate::Hangs => {}
        }
    }

    fn facts(&self) -> Facts {
        Facts::none()
            .and_copy_jobs(self.listed.clone())
            .and_recovery_point(RecoveryPointFacts::new(RP))
            .and_tags_none()
    }

    fn deliver(&mut self, event: &Value) {
        let plan = decide_json(event, &self.config, &self.facts())
            .unwrap_or_else(|e| panic!("{e}: {event}"));
        for action in &plan.actions {
            self.start(action);
        }
    }

    fn reconcile(&mut self) {
        let input = ReconcileInput {
            now: Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap(),
            partition: Partition::Aws,
            region: Region::new("eu-west-1").unwrap(),
            recovery_points: vec![RecoveryPointFacts {
                backup_vault_arn: Some(VAULT.into()),
                resource_type: Some("EFS".into()),
                creation_date: Some(Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 0).unwrap()),
                status: Some(Status::Completed),
                lifecycle: CurrentLifecycle::delete_after(35),
                ..RecoveryPointFacts::new(RP)
            }],
            copy_jobs: self.listed.clone(),
            resource_tags: BTreeMap::new(),
            keys: BTreeMap::new(),
            intermediates: Vec::new(),
        };
        let actions = match point_plan(&input, &self.config, &input.recovery_points[0]) {
            Ok(actions) => actions,
            Err(DecideError::NeedsFacts(_)) => unreachable!("no pre-prod configured"),
            Err(e) => panic!("{e}"),
        };
        for action in &actions {
            self.start(action);
        }
    }
}

trait NoTags {
    fn and_tags_none(self) -> Self;
}

impl NoTags for Facts {
    fn and_tags_none(mut self) -> Self {
        self.resource_tags = Some(BTreeMap::new());
        self
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => any::<usize>().prop_map(Step::Deliver),
        3 => any::<usize>().prop_map(Step::DeliverOnce),
        3 => Just(Step::Catch),
        2 => Just(Step::Reconcile),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, c)| Step::Finish(i, c)),
    ]
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![3 => Just(Fate::Completes), 2 => Just(Fate::Fails), 1 => Just(Fate::Hangs)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_hop_ever_has_two_live_jobs_or_more_than_its_attempts(
        steps in proptest::collection::vec(step(), 1..60),
        fates in proptest::collection::vec(fate(), 1..8),
        local in any::<bool>(),
        max in 1u32..4,
    ) {
        let config = source(&[
            (vars::PREPROD_ACCOUNT_IDS, ""),
            (vars::COPY_TO_LOCAL_REGION, if local { "true" } else { "false" }),
            (vars::COPY_MAX_ATTEMPTS, &max.to_string()),
        ]);
        let mut backup_done = fixture("backup-job-completed-ondemand-efs.json");
        backup_done["resources"] = json!([RP]);
        let mut aws = Aws {
            config,
            jobs: Vec::new(),
            listed: Vec::new(),
            tokens: BTreeMap::new(),
            queue: vec![backup_done],
            fates,
            next_fate: 0,
            minute: 0,
        };
        for step in steps {
            match step {
                Step::Deliver(i) if !aws.queue.is_empty() => {
                    let event = aws.queue[i % aws.queue.len()].clone();
                    aws.deliver(&event);
                }
                Step::DeliverOnce(i) if !aws.queue.is_empty() => {
                    let event = aws.queue.remove(i % aws.queue.len());
                    aws.deliver(&event);
                }
                Step::Catch => aws.listed = aws.jobs.clone(),
                Step::Reconcile => aws.reconcile(),
                Step::Finish(i, completes) if !aws.jobs.is_empty() => {
                    let i = i % aws.jobs.len();
                    if aws.jobs[i].state == Status::Created {
                        aws.finish(i, completes);
                    }
                }
                _ => {}
            }
            // Per destination: never two jobs that are live or done, never more than `max`.
            let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            for j in &aws.jobs {
                let e = per.entry(j.destination_vault_arn.to_string()).or_default();
                e.0 += 1;
                if j.state != Status::Failed {
                    e.1 += 1;
                }
            }
            for (dest, (all, live)) in &per {
                prop_assert!(*live <= 1, "two live or done jobs into {}: {:?}", dest, aws.jobs);
                prop_assert!(*all <= max as usize, "{} jobs into {} (max {})", all, dest, max);
            }
            // Every job has its own token: a retry is never answered with an old job.
            let distinct: BTreeSet<usize> = aws.tokens.values().copied().collect();
            prop_assert_eq!(distinct.len(), aws.jobs.len());
        }

        // From now on every job completes, the listing catches up and the reconciler runs:
        // each hop ends COMPLETED, unless it had failed `max` times (crossvault gave up).
        aws.fates = vec![Fate::Completes];
        for i in 0..aws.jobs.len() {
            if aws.jobs[i].state == Status::Created {
                aws.finish(i, true);
            }
        }
        for _ in 0..(2 * max + 4) {
            aws.listed = aws.jobs.clone();
            aws.reconcile();
            for event in std::mem::take(&mut aws.queue) {
                aws.deliver(&event);
            }
        }
        let mut destinations = vec!["arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault"];
        if local {
            destinations.push("arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault");
        }
        let mut gave_up = false;
        for dest in destinations {
            let into: Vec<&ListedCopyJob> = aws
                .jobs
                .iter()
                .filter(|j| j.destination_vault_arn.to_string() == dest)
                .collect();
            let failed = into.iter().filter(|j| j.state == Status::Failed).count();
            let done = into.iter().any(|j| j.state == Status::Completed);
            if gave_up {
                // A hop after one crossvault gave up on is never started.
                prop_assert!(into.is_empty(), "{:?}", aws.jobs);
                continue;
            }
            prop_assert!(done || failed >= max as usize, "{} stuck: {:?}", dest, aws.jobs);
            gave_up = !done;
        }
    }
}
