//! What to do after an answer: a pure function of the answer, the attempt,
//! the retry budget and the pacing state. The engine only performs the
//! step it returns, so every case is decided here and tested in one table.

use std::time::{Duration, SystemTime};

use crate::api::{Answer, BulkResponse};

use super::Stop;
use super::budget::{RETRY_COST, TIMEOUT_COST};

/// What the engine knows when an answer comes back.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// Attempts of this batch so far, the one just answered included
    /// (429s do not count: the rate limiter speaking is not a failure).
    pub attempt: u32,
    pub max_attempts: u32,
    /// Tokens left in the run's retry budget.
    pub budget: u32,
    /// Leads in the batch.
    pub batch_len: usize,
    /// Time the run has waited out 429s so far, and the most it may.
    pub waited: Duration,
    pub max_wait: Duration,
    /// Time left in the pause already in force, if any (a new pause that
    /// overlaps it only adds the difference).
    pub paused_for: Duration,
}

/// The next step for a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A 200: sort every lead of the answer.
    Sort(BulkResponse),
    /// Send the same batch again after a backoff, paying `cost` tokens.
    /// `may_exist`: the server may have acted on the attempt.
    Retry { cost: u32, may_exist: bool },
    /// No more attempts: the batch goes to retryable with `reason`.
    GiveUp { reason: String, may_exist: bool },
    /// A 429: every sender pauses for `wait` (a backoff when the server
    /// named none), then the batch is sent again.
    WaitOut { wait: Option<Duration>, message: String },
    /// 400 `Maximum of N`: send the batch again in pieces of `max`, and
    /// never send more than `max` again in this run.
    Split { max: usize },
    /// 404 for a process of this batch: its leads are rejected, the rest
    /// of the batch is sent again.
    DropProcess { process_id: String },
    /// The run stops sending; this batch goes to retryable.
    Stop(Stop),
}

/// Decides what follows `answer`. `holds_process` says whether the batch
/// has a lead of a process (a 404 names one).
pub fn decide(answer: Answer, ctx: &Context, holds_process: impl Fn(&str) -> bool) -> Step {
    match answer {
        Answer::Ok(response) => Step::Sort(response),
        Answer::Fault(fault) => {
            let may_exist = fault.may_have_acted();
            let cost = if fault.is_transport() { TIMEOUT_COST } else { RETRY_COST };
            if ctx.attempt >= ctx.max_attempts {
                let reason = format!("{fault} (gave up after {} attempts)", ctx.attempt);
                Step::GiveUp { reason, may_exist }
            } else if ctx.budget < cost {
                let reason =
                    format!("{fault} (not retried: the run's retry budget is spent, the server keeps failing)");
                Step::GiveUp { reason, may_exist }
            } else {
                Step::Retry { cost, may_exist }
            }
        }
        Answer::RateLimited { retry_after, message } => {
            let asked = retry_after.unwrap_or(Duration::ZERO);
            let added = asked.saturating_sub(ctx.paused_for);
            if ctx.waited.saturating_add(added) > ctx.max_wait {
                Step::Stop(Stop::RateLimitWait { until: SystemTime::now() + asked, message })
            } else {
                Step::WaitOut { wait: retry_after, message }
            }
        }
        Answer::TooLarge { max } => {
            // The server's number is outside input: a piece is never cut
            // below one lead nor planned above the API's maximum, and a
            // batch already within that is refused for good (`Maximum of 0`
            // would otherwise be asked again and again).
            let usable = max.clamp(1, crate::api::MAX_LEADS_PER_REQUEST);
            if ctx.batch_len <= usable {
                Step::Stop(Stop::Fatal {
                    status: 400,
                    message: format!("the server refused a batch of {} as over its maximum of {max}", ctx.batch_len),
                })
            } else {
                Step::Split { max: usable }
            }
        }
        Answer::ProcessNotFound { process_id } if holds_process(&process_id) => Step::DropProcess { process_id },
        Answer::ProcessNotFound { process_id } => Step::Stop(Stop::Fatal {
            status: 404,
            message: format!("the server answered 404 for process {process_id}, which this batch does not hold"),
        }),
        Answer::Denied { status, message } => Step::Stop(Stop::Denied { status, message }),
        Answer::Fatal { status, message } => Step::Stop(Stop::Fatal { status, message }),
        Answer::Redirect { status, location } => Step::Stop(Stop::Redirected { status, location }),
        Answer::Tls { reason } => Step::Stop(Stop::Tls { reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Fault;

    const CTX: Context = Context {
        attempt: 1,
        max_attempts: 5,
        budget: 500,
        batch_len: 1000,
        waited: Duration::ZERO,
        max_wait: Duration::from_secs(300),
        paused_for: Duration::ZERO,
    };

    fn server_fault() -> Answer {
        Answer::Fault(Fault::Server { status: 503, message: "busy".into() })
    }

    fn limited(secs: Option<u64>) -> Answer {
        Answer::RateLimited { retry_after: secs.map(Duration::from_secs), message: "Rate limit exceeded".into() }
    }

    fn step_kind(step: &Step) -> String {
        match step {
            Step::Sort(_) => "sort".into(),
            Step::Retry { cost, may_exist } => format!("retry cost={cost} may_exist={may_exist}"),
            Step::GiveUp { reason, may_exist } => format!("give up may_exist={may_exist}: {reason}"),
            Step::WaitOut { wait, .. } => format!("wait out {wait:?}"),
            Step::Split { max } => format!("split {max}"),
            Step::DropProcess { process_id } => format!("drop {process_id}"),
            Step::Stop(s) => format!("stop: {}", s.reason()),
        }
    }

    /// Every kind of answer in every state that changes the step.
    #[test]
    fn every_answer_in_every_state() {
        let holds = |p: &str| p == "proc_old";
        let at = |attempt, budget| Context { attempt, budget, ..CTX };
        let after_waiting = |secs, paused| Context {
            waited: Duration::from_secs(secs),
            paused_for: Duration::from_secs(paused),
            ..CTX
        };
        let cases: Vec<(Answer, Context, &str)> = vec![
            (Answer::Ok(BulkResponse::default()), CTX, "sort"),
            (server_fault(), CTX, "retry cost=5 may_exist=true"),
            (server_fault(), at(5, 500), "give up may_exist=true: HTTP 503: busy (gave up after 5 attempts)"),
            (
                server_fault(),
                at(2, 4),
                "give up may_exist=true: HTTP 503: busy (not retried: the run's retry budget is spent, the server keeps failing)",
            ),
            (Answer::Fault(Fault::Timeout("60 s".into())), CTX, "retry cost=10 may_exist=true"),
            (
                Answer::Fault(Fault::Timeout("60 s".into())),
                at(2, 9),
                "give up may_exist=true: timed out: 60 s (not retried: the run's retry budget is spent, the server keeps failing)",
            ),
            (Answer::Fault(Fault::Network("reset".into())), CTX, "retry cost=10 may_exist=true"),
            (Answer::Fault(Fault::Connect("refused".into())), CTX, "retry cost=5 may_exist=false"),
            (Answer::Fault(Fault::RequestTimeout("slow".into())), CTX, "retry cost=5 may_exist=false"),
            (
                Answer::Fault(Fault::Unreadable { status: 200, detail: "eof".into() }),
                CTX,
                "retry cost=5 may_exist=true",
            ),
            (Answer::Fault(Fault::Oversized { status: 200 }), CTX, "retry cost=5 may_exist=true"),
            (
                Answer::Fault(Fault::Oversized { status: 200 }),
                at(5, 500),
                "give up may_exist=true: HTTP 200 with a body over 32 MiB (not read) (gave up after 5 attempts)",
            ),
            (
                Answer::Fault(Fault::Connect("refused".into())),
                at(5, 500),
                "give up may_exist=false: could not connect: refused (gave up after 5 attempts)",
            ),
            (limited(Some(7)), CTX, "wait out Some(7s)"),
            (limited(None), CTX, "wait out None"),
            (limited(Some(7)), after_waiting(296, 0), "stop: not sent: rate limited"),
            (limited(Some(7)), after_waiting(296, 5), "wait out Some(7s)"),
            (Answer::TooLarge { max: 250 }, CTX, "split 250"),
            (Answer::TooLarge { max: 0 }, CTX, "split 1"),
            (
                Answer::TooLarge { max: 0 },
                Context { batch_len: 1, ..CTX },
                "stop: not sent: the run stopped on HTTP 400: the server refused a batch of 1 as over its maximum of 0",
            ),
            (
                Answer::TooLarge { max: 99999 },
                CTX,
                "stop: not sent: the run stopped on HTTP 400: the server refused a batch of 1000 as over its maximum of 99999",
            ),
            (Answer::TooLarge { max: 99999 }, Context { batch_len: 1500, ..CTX }, "split 1000"),
            (
                Answer::TooLarge { max: 5000 },
                CTX,
                "stop: not sent: the run stopped on HTTP 400: the server refused a batch of 1000 as over its maximum of 5000",
            ),
            (Answer::ProcessNotFound { process_id: "proc_old".into() }, CTX, "drop proc_old"),
            (
                Answer::ProcessNotFound { process_id: "proc_x".into() },
                CTX,
                "stop: not sent: the run stopped on HTTP 404: the server answered 404 for process proc_x, which this batch does not hold",
            ),
            (
                Answer::Denied { status: 401, message: "Invalid API key".into() },
                CTX,
                "stop: not sent: the run stopped on HTTP 401: Invalid API key",
            ),
            (
                Answer::Denied { status: 403, message: "Project is inactive".into() },
                CTX,
                "stop: not sent: the run stopped on HTTP 403: Project is inactive",
            ),
            (
                Answer::Fatal { status: 400, message: "Invalid JSON body".into() },
                CTX,
                "stop: not sent: the run stopped on HTTP 400: Invalid JSON body",
            ),
            (
                Answer::Redirect { status: 307, location: Some("https://elsewhere.example/v1".into()) },
                CTX,
                "stop: not sent: the run stopped on HTTP 307, a redirect to https://elsewhere.example/v1 (not followed)",
            ),
            (
                Answer::Redirect { status: 302, location: None },
                CTX,
                "stop: not sent: the run stopped on HTTP 302, a redirect to an unreadable Location (not followed)",
            ),
            (
                Answer::Tls { reason: "the certificate has expired".into() },
                at(1, 0),
                "stop: not sent: the run stopped: TLS failed: the certificate has expired",
            ),
        ];
        for (answer, ctx, want) in cases {
            let label = format!("{answer:?} at {ctx:?}");
            let got = step_kind(&decide(answer, &ctx, holds));
            assert!(got.starts_with(want), "{label}\n  got:  {got}\n  want: {want}");
        }
    }
}
