//! The sandbox at the HTTP level: a real client (reqwest) against
//! `Sandbox::start` on port 0, one test per row of the contract's tables,
//! plus rate limit, key block, idempotency, faults, concurrency, shutdown,
//! and the `leadctl sandbox` binary.
//!
//! Time-based rules use millisecond windows; waiting for a window is done
//! by polling an observable (the answer, or the state report), never by a
//! sleep that hopes something else has happened.

use std::future::Future;
use std::time::{Duration, Instant};

use leadctl::api::{self, BulkResponse, msg};
use leadctl::sandbox::{Fault, Sandbox, SandboxArgs, SandboxConfig, StateSnapshot};
use serde_json::{Value, json};

// ---------- helpers ----------

/// A sandbox and a client for it.
struct Api {
    sandbox: Sandbox,
    http: reqwest::Client,
}

/// An answer: status, `Retry-After`, body as JSON (`Null` if not JSON).
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

impl Answer {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }
    fn bulk(&self) -> BulkResponse {
        assert_eq!(self.status, 200, "{self:?}");
        serde_json::from_value(self.body.clone()).expect("a version 1.2 body")
    }
    /// The per-lead error message of item `index`.
    fn error_at(&self, index: usize) -> String {
        let bulk = self.bulk();
        let found = bulk.errors.iter().find(|e| e.index == Some(index));
        found.unwrap_or_else(|| panic!("no error for item {index}: {self:?}")).error.clone()
    }
}

/// The test default: the demo settings without a rate limit, so tests
/// that send many requests are not throttled unless they mean to be.
fn config() -> SandboxConfig {
    SandboxConfig { rate_per_sec: 0.0, ..SandboxConfig::default() }
}

impl Api {
    async fn start(config: SandboxConfig) -> Api {
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        Api { sandbox, http: reqwest::Client::new() }
    }

    fn endpoint(&self) -> String {
        format!("{}{}?version={}", self.sandbox.url(), api::PATH, api::VERSION)
    }

    fn request(&self) -> reqwest::RequestBuilder {
        self.http.post(self.endpoint()).bearer_auth(self.sandbox.api_key())
    }

    async fn post(&self, body: Value) -> Answer {
        self.send(self.request().json(&body)).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        self.try_send(req).await.expect("an HTTP answer")
    }

    async fn try_send(&self, req: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
        let res = req.send().await?;
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .map(|v| v.to_str().expect("ascii").parse().expect("whole seconds"));
        let bytes = res.bytes().await?;
        Ok(Answer { status, retry_after, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
    }

    fn state(&self) -> StateSnapshot {
        self.sandbox.state()
    }
}

/// A valid US number, distinct for each `n` below 8000.
fn phone(n: u32) -> String {
    format!("+1415555{:04}", 2000 + n)
}

/// A lead of the demo project with `extra` fields merged in (a `null`
/// value removes the field).
fn lead(phone: &str, extra: Value) -> Value {
    let mut lead = json!({"projectId": "prj_sandbox", "processId": "proc_sales", "phoneNumber": phone});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        if v.is_null() {
            lead.as_object_mut().expect("object").remove(&k);
        } else {
            lead[k] = v;
        }
    }
    lead
}

fn leads(items: Vec<Value>) -> Value {
    json!({ "leads": items })
}

/// Polls `check` until it returns `Some`, for at most `within`.
async fn eventually<T, F: Future<Output = Option<T>>>(within: Duration, mut check: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "condition not met within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------- success and per-lead errors ----------

#[tokio::test]
async fn creates_leads_and_echoes_them() {
    let api = Api::start(config()).await;
    let a = api
        .post(leads(vec![
            lead("(415) 555-2671", json!({"externalId": "crm-1", "firstName": "Ada", "customFields": {"plan": "gold", "n": 3, "vip": true}})),
            lead(&phone(1), json!({"processId": "proc_support"})),
        ]))
        .await;
    let bulk = a.bulk();
    assert!(bulk.errors.is_empty(), "{a:?}");
    let first = &bulk.leads[0];
    assert_eq!(first.index, Some(0));
    assert_eq!(first.phone_number.as_deref(), Some("+14155552671"));
    assert_eq!(first.process_id.as_deref(), Some("proc_sales"));
    assert_eq!(first.external_id.as_deref(), Some("crm-1"));
    assert_eq!(first.initialized, Some(false));
    let id = first.lead_id.clone().expect("a lead id");
    assert!(id.starts_with("ld_") && id.len() == 29, "{id}");
    assert_eq!(bulk.leads[1].index, Some(1));
    let state = api.state();
    assert_eq!(state.leads.len(), 2);
    assert_eq!(state.leads[0].lead_id, id);
    assert!(state.leads.iter().all(|l| l.times_created == 1 && !l.initialized && l.project_id == "prj_sandbox"));
    assert!(state.no_lead_created_twice());
}

#[tokio::test]
async fn every_per_lead_message_in_contract_order() {
    let api = Api::start(config()).await;
    api.post(leads(vec![lead(&phone(0), json!({}))])).await.bulk();
    let long = |n: usize| "x".repeat(n);
    let many: serde_json::Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases: Vec<(Value, String)> = vec![
        (lead(&phone(1), json!({"processId": null})), "Missing required field: processId".into()),
        (lead(&phone(1), json!({"processId": ""})), "Missing required field: processId".into()),
        (lead("", json!({})), "Missing required field: phoneNumber".into()),
        (lead("x", json!({"phoneNumber": null})), "Missing required field: phoneNumber".into()),
        (lead("hello", json!({})), msg::INVALID_PHONE.into()),
        (lead("+1 555 555 5555", json!({})), msg::REPEATING_DIGITS.into()),
        (lead("+1 415 000 0000", json!({})), msg::REPEATING_DIGITS.into()),
        (lead("+1 123 456 7890", json!({})), msg::INVALID_PHONE.into()),
        (lead(&phone(2), json!({"firstName": long(101)})), "Invalid field: firstName".into()),
        (lead(&phone(2), json!({"lastName": 7})), "Invalid field: lastName".into()),
        (lead(&phone(2), json!({"email": long(255)})), "Invalid field: email".into()),
        (lead(&phone(2), json!({"externalId": 991})), "Invalid field: externalId".into()),
        (lead(&phone(2), json!({"customFields": many})), "Invalid field: customFields".into()),
        (lead(&phone(2), json!({"customFields": {long(65): 1}})), "Invalid field: customFields".into()),
        (lead(&phone(2), json!({"customFields": {"k": long(1001)}})), "Invalid field: customFields".into()),
        (lead(&phone(2), json!({"customFields": {"k": [1]}})), "Invalid field: customFields".into()),
        (lead(&phone(2), json!({"phoneNumber": 14155552671_u64})), "Invalid field: phoneNumber".into()),
        (lead(&phone(0), json!({})), msg::already_exists(&phone(0))),
        // Order: the first failing check wins.
        (lead("hello", json!({"processId": null})), "Missing required field: processId".into()),
        (lead("hello", json!({"firstName": long(101)})), msg::INVALID_PHONE.into()),
        (lead("+1 555 555 5555", json!({"email": long(300)})), msg::REPEATING_DIGITS.into()),
        (lead(&phone(0), json!({"email": long(300)})), "Invalid field: email".into()),
        // A good lead among them is still created.
        (lead(&phone(3), json!({})), String::new()),
    ];
    let a = api.post(leads(cases.iter().map(|(l, _)| l.clone()).collect())).await;
    let bulk = a.bulk();
    for (i, (_, want)) in cases.iter().enumerate() {
        if want.is_empty() {
            assert!(bulk.leads.iter().any(|l| l.index == Some(i)), "item {i} created");
        } else {
            assert_eq!(&a.error_at(i), want, "item {i}");
        }
    }
    assert_eq!(bulk.leads.len() + bulk.errors.len(), cases.len());
    // Errors echo what was sent, the phone as E.164 whenever it parses.
    let repeating = bulk.errors.iter().find(|e| e.index == Some(5)).expect("item 5");
    assert_eq!(repeating.phone_number.as_deref(), Some("+15555555555"));
    assert_eq!(repeating.process_id.as_deref(), Some("proc_sales"));
    assert_eq!(api.state().leads.len(), 2);
}

#[tokio::test]
async fn duplicates_within_and_across_requests() {
    let api = Api::start(config()).await;
    let p = phone(7);
    let national = format!("({}) {}-{}", &p[2..5], &p[5..8], &p[8..]);
    let a = api.post(leads(vec![lead(&p, json!({})), lead(&national, json!({}))])).await;
    assert_eq!(a.bulk().leads.len(), 1);
    assert_eq!(a.error_at(1), msg::already_exists(&p), "the second of a request is the duplicate");
    let again = api.post(leads(vec![lead(&p, json!({})), lead(&p, json!({"processId": "proc_support"}))])).await;
    assert_eq!(again.error_at(0), msg::already_exists(&p));
    assert_eq!(again.bulk().leads[0].index, Some(1), "another process is another lead");
    let state = api.state();
    assert_eq!(state.leads.len(), 2);
    assert!(state.no_lead_created_twice());
}

#[tokio::test]
async fn call_attempt_is_per_project_phone_and_comes_after_duplicate() {
    let api = Api::start(config()).await;
    let p = phone(9);
    let body = json!({"leads": [lead(&p, json!({}))], "initialize": true});
    let a = api.post(body.clone()).await;
    assert_eq!(a.bulk().leads[0].initialized, Some(true));
    assert_eq!(api.state().call_attempts, vec![p.clone()]);
    // Same phone, another process: the call attempt, with or without initialize.
    let other = lead(&p, json!({"processId": "proc_support"}));
    let b = api.post(json!({"leads": [other.clone()], "initialize": true})).await;
    assert_eq!(b.error_at(0), msg::CALL_ATTEMPTED);
    assert_eq!(api.post(leads(vec![other])).await.error_at(0), msg::CALL_ATTEMPTED);
    // Same (process, phone) again with initialize: duplicate wins.
    assert_eq!(api.post(body).await.error_at(0), msg::already_exists(&p));
    // Within one request: the first initializes, the second meets it.
    let q = phone(10);
    let c = api
        .post(
            json!({"leads": [lead(&q, json!({})), lead(&q, json!({"processId": "proc_support"}))], "initialize": true}),
        )
        .await;
    assert_eq!(c.error_at(1), msg::CALL_ATTEMPTED);
}

#[tokio::test]
async fn lead_ids_mode() {
    let api = Api::start(config()).await;
    let made = api.post(leads(vec![lead(&phone(1), json!({})), lead(&phone(2), json!({}))])).await.bulk();
    let ids: Vec<String> = made.leads.iter().map(|l| l.lead_id.clone().expect("id")).collect();
    let a = api.post(json!({"leadIds": [ids[0], "ld_nope", ids[1], null, 5]})).await;
    let bulk = a.bulk();
    assert_eq!(
        bulk.leads.iter().map(|l| (l.index, l.initialized)).collect::<Vec<_>>(),
        [(Some(0), Some(false)), (Some(2), Some(false))]
    );
    assert_eq!(bulk.leads[0].lead_id.as_deref(), Some(ids[0].as_str()));
    assert_eq!(a.error_at(1), "Lead not found: ld_nope");
    assert_eq!(bulk.errors[0].lead_id.as_deref(), Some("ld_nope"));
    assert_eq!(a.error_at(3), "Missing required field: leadId");
    assert_eq!(a.error_at(4), "Invalid field: leadId");
    // Initialize: the first of the same id initializes, the second meets the call attempt.
    let b = api.post(json!({"leadIds": [ids[0], ids[0]], "initialize": true})).await;
    assert_eq!(b.bulk().leads[0].initialized, Some(true));
    assert_eq!(b.error_at(1), msg::CALL_ATTEMPTED);
    let c = api.post(json!({"leadIds": [ids[0]], "initialize": true})).await;
    assert_eq!(c.error_at(0), msg::CALL_ATTEMPTED);
    let state = api.state();
    assert!(state.leads[0].initialized && !state.leads[1].initialized);
    assert_eq!(state.call_attempts, vec![phone(1)]);
}

// ---------- whole-request errors ----------

#[tokio::test]
async fn whole_request_400s_create_nothing() {
    let api = Api::start(SandboxConfig { max_leads: 3, ..config() }).await;
    let good = lead(&phone(1), json!({}));
    let raw = |body: &'static str| api.request().header("content-type", "application/json").body(body);
    assert_eq!(api.send(raw("{\"leads\": [")).await.error(), msg::INVALID_JSON);
    assert_eq!(api.send(raw("")).await.error(), msg::INVALID_JSON);
    for (body, want) in [
        (json!({}), msg::EITHER_REQUIRED.to_owned()),
        (json!({"leads": [good], "leadIds": ["ld_1"]}), msg::EITHER_REQUIRED.to_owned()),
        (json!({"leads": good}), msg::NOT_AN_ARRAY.to_owned()),
        (json!({"leadIds": "ld_1"}), msg::NOT_AN_ARRAY.to_owned()),
        (leads(vec![good.clone(); 4]), "Maximum of 3 leads allowed per request".to_owned()),
        (json!({"leadIds": ["a", "b", "c", "d"]}), msg::maximum(3)),
    ] {
        let a = api.post(body.clone()).await;
        assert_eq!((a.status, a.error()), (400, want.as_str()), "{body}");
    }
    let three = api.post(leads(vec![good.clone(), lead(&phone(2), json!({})), lead(&phone(3), json!({}))])).await;
    assert_eq!(three.bulk().leads.len(), 3, "the maximum itself is allowed");
    assert_eq!(api.state().leads.len(), 3);
}

#[tokio::test]
async fn unauthorized_is_401_before_anything_else() {
    let api = Api::start(config()).await;
    let url = api.endpoint();
    for req in [
        api.http.post(&url).body("{"),
        api.http.post(&url).bearer_auth("sk_wrong").json(&leads(vec![])),
        api.http.post(&url).basic_auth("sk_sandbox", None::<&str>).json(&leads(vec![])),
    ] {
        let a = api.send(req).await;
        assert_eq!((a.status, a.error()), (401, msg::INVALID_API_KEY));
    }
}

#[tokio::test]
async fn project_403s_and_process_404_create_nothing() {
    let api = Api::start(config()).await;
    let good = lead(&phone(1), json!({}));
    let cases = [
        (
            leads(vec![good.clone(), lead(&phone(2), json!({"projectId": "prj_other"}))]),
            403,
            msg::project_mismatch("prj_other"),
        ),
        (leads(vec![good.clone(), lead(&phone(2), json!({"projectId": null}))]), 403, msg::MISSING_PROJECT.to_owned()),
        (
            leads(vec![good.clone(), lead(&phone(2), json!({"processId": "proc_nope"}))]),
            404,
            msg::process_not_found("proc_nope"),
        ),
    ];
    for (body, status, want) in cases {
        let a = api.post(body).await;
        assert_eq!((a.status, a.error()), (status, want.as_str()));
    }
    assert!(api.state().leads.is_empty());

    let inactive = Api::start(SandboxConfig { active: false, ..config() }).await;
    for body in [leads(vec![good]), json!({"leadIds": ["ld_1"]})] {
        let a = inactive.post(body).await;
        assert_eq!((a.status, a.error()), (403, msg::PROJECT_INACTIVE));
    }
}

/// `{"leadIds": []}`, the probe `leadctl doctor` sends: 200 with empty
/// lists once the key, the rate limit and the project's state have been
/// checked (401, 429, 403 as for any request); it creates nothing and is
/// never counted as a bad lead.
#[tokio::test]
async fn an_empty_lead_ids_array_is_answered_after_the_key_rate_and_project_checks() {
    let probe = json!({"leadIds": []});
    // A key blocked after more than 0 bad leads: a probe counted as bad would block it.
    let api = Api::start(SandboxConfig { block_threshold: 0, ..config() }).await;
    for _ in 0..3 {
        let a = api.post(probe.clone()).await;
        assert_eq!((a.status, &a.body), (200, &json!({"leads": [], "errors": []})));
    }
    let wrong_key = api.send(api.http.post(api.endpoint()).bearer_auth("sk_wrong").json(&probe)).await;
    assert_eq!((wrong_key.status, wrong_key.error()), (401, msg::INVALID_API_KEY));
    let state = api.state();
    assert!(state.leads.is_empty() && state.blocked_for_ms.is_none(), "{state:?}");
    assert!(state.requests.iter().all(|r| r.lead_count == 0 && r.created == 0 && r.errors == 0));

    let limited = Api::start(SandboxConfig { rate_per_sec: 0.5, burst: 1, ..config() }).await;
    assert_eq!(limited.post(probe.clone()).await.status, 200);
    let again = limited.post(probe.clone()).await;
    assert_eq!((again.status, again.error(), again.retry_after), (429, msg::RATE_LIMITED, Some(2)));

    let inactive = Api::start(SandboxConfig { active: false, ..config() }).await;
    let a = inactive.post(probe.clone()).await;
    assert_eq!((a.status, a.error()), (403, msg::PROJECT_INACTIVE));
    let wrong_key = inactive.send(inactive.http.post(inactive.endpoint()).bearer_auth("sk_x").json(&probe)).await;
    assert_eq!(wrong_key.status, 401, "the key before the project");
}

#[tokio::test]
async fn version_and_routes() {
    let api = Api::start(config()).await;
    let base = api.sandbox.url();
    let no_version = api.http.post(format!("{base}{}", api::PATH)).bearer_auth("sk_sandbox").json(&leads(vec![]));
    assert_eq!(api.send(no_version).await.status, 400);
    assert_eq!(api.send(api.http.get(api.endpoint())).await.status, 405);
    assert_eq!(api.send(api.http.get(format!("{base}/nope"))).await.status, 404);
    // The state report over HTTP is the same as in-process, for the key only.
    api.post(leads(vec![lead(&phone(1), json!({}))])).await.bulk();
    let state = format!("{base}/_sandbox/state");
    assert_eq!(api.send(api.http.get(&state)).await.status, 401);
    assert_eq!(api.send(api.http.get(&state).bearer_auth("sk_wrong")).await.status, 401);
    let over_http: StateSnapshot =
        api.http.get(&state).bearer_auth(api.sandbox.api_key()).send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(over_http, api.state());
}

#[tokio::test]
async fn malformed_bodies_never_break_the_server() {
    let api = Api::start(config()).await;
    let bodies: Vec<Vec<u8>> = vec![
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"x\"".to_vec(),
        b"\xff\xfe".to_vec(),
        "[".repeat(10_000).into_bytes(),
        br#"{"leads":[null,1,"x",[],{}]}"#.to_vec(),
        br#"{"leads":[{"projectId":5,"processId":"proc_sales","phoneNumber":"+14155552671"}]}"#.to_vec(),
        br#"{"leads":[{"projectId":"prj_sandbox","processId":{"a":1},"phoneNumber":[1]}],"initialize":"yes"}"#.to_vec(),
        br#"{"leadIds":[{},[],true,1e999]}"#.to_vec(),
    ];
    for body in bodies {
        let a = api.send(api.request().header("content-type", "application/json").body(body.clone())).await;
        assert!((200..500).contains(&a.status), "{a:?} for {:?}", String::from_utf8_lossy(&body));
    }
    assert_eq!(api.post(leads(vec![lead(&phone(1), json!({}))])).await.status, 200);
}

// ---------- 429: rate limit and duplicate protection ----------

#[tokio::test]
async fn rate_limit_429_then_recovers() {
    let api = &Api::start(SandboxConfig { rate_per_sec: 1.0, burst: 3, ..config() }).await;
    for n in 0..3 {
        assert_eq!(api.post(leads(vec![lead(&phone(n), json!({}))])).await.status, 200);
    }
    let limited = api.post(leads(vec![lead(&phone(3), json!({}))])).await;
    assert_eq!((limited.status, limited.error()), (429, msg::RATE_LIMITED));
    assert_eq!(limited.retry_after, Some(1));
    assert!(api.state().lead("proc_sales", &phone(3)).is_none(), "a 429 creates nothing");
    let recovered = eventually(Duration::from_secs(3), || async move {
        let a = api.post(leads(vec![lead(&phone(3), json!({}))])).await;
        (a.status == 200).then_some(a)
    })
    .await;
    assert_eq!(recovered.bulk().leads.len(), 1);
}

#[tokio::test]
async fn bad_leads_block_the_key_resends_extend_it_then_it_expires() {
    let block_for = Duration::from_millis(1000);
    let api = &Api::start(SandboxConfig { block_threshold: 2, block_for, ..config() }).await;
    let bad = |n: u32| lead(&phone(n), json!({"email": "x".repeat(300)}));
    // Two bad leads are not more than the threshold.
    assert_eq!(api.post(leads(vec![bad(1), bad(2)])).await.bulk().errors.len(), 2);
    assert_eq!(api.post(leads(vec![lead(&phone(10), json!({}))])).await.status, 200);
    // A third one is.
    assert_eq!(api.post(leads(vec![bad(3)])).await.bulk().errors.len(), 1);
    let blocked = api.post(leads(vec![lead(&phone(11), json!({}))])).await;
    assert_eq!((blocked.status, blocked.error()), (429, msg::KEY_BLOCKED));
    assert_eq!(blocked.retry_after, Some(1));
    // Re-sending a rejected lead while blocked starts the block over.
    eventually(Duration::from_secs(3), || async move { (api.state().blocked_for_ms? < 500).then_some(()) }).await;
    let resend = api.post(leads(vec![bad(1)])).await;
    assert_eq!(resend.status, 429);
    let left = api.state().blocked_for_ms.expect("still blocked");
    assert!(left > 500, "block restarted, {left} ms left");
    let state = api.state();
    assert_eq!(state.resent_after_error.len(), 1);
    assert_eq!(state.resent_after_error[0].phone_number.as_deref(), Some(phone(1).as_str()));
    assert_eq!(state.resent_after_error[0].count, 1);
    // And it ends.
    eventually(Duration::from_secs(3), || async move {
        (api.post(leads(vec![lead(&phone(11), json!({}))])).await.status == 200).then_some(())
    })
    .await;
    assert!(api.state().blocked_for_ms.is_none());
}

// ---------- idempotency ----------

#[tokio::test]
async fn idempotency_key_replays_the_stored_answer() {
    let api = Api::start(SandboxConfig { idempotency: true, ..config() }).await;
    let body = leads(vec![lead(&phone(1), json!({})), lead("hello", json!({}))]);
    let send = |key: &str| api.send(api.request().header(api::IDEMPOTENCY_HEADER, key).json(&body));
    let first = send("k-1").await;
    let again = send("k-1").await;
    assert_eq!(first, again);
    assert_eq!(first.bulk().leads.len(), 1);
    let state = api.state();
    assert_eq!(state.leads.len(), 1);
    assert!(!state.requests[0].replayed && state.requests[1].replayed);
    assert_eq!(state.requests[1].idempotency_key.as_deref(), Some("k-1"));
    // Another key is another request: now a duplicate.
    assert_eq!(send("k-2").await.error_at(0), msg::already_exists(&phone(1)));

    // Off by default: the same key is carried out again.
    let plain = Api::start(config()).await;
    let send = |key: &str| plain.send(plain.request().header(api::IDEMPOTENCY_HEADER, key).json(&body));
    send("k-1").await.bulk();
    assert_eq!(send("k-1").await.error_at(0), msg::already_exists(&phone(1)));
}

// ---------- faults ----------

#[tokio::test]
async fn fail_answers_500_before_anything() {
    let api = Api::start(SandboxConfig { fail_rate: 1.0, ..config() }).await;
    let a = api.post(leads(vec![lead(&phone(1), json!({}))])).await;
    assert_eq!(a.status, 500);
    let unauthenticated = api.send(api.http.post(api.endpoint()).json(&leads(vec![]))).await;
    assert_eq!(unauthenticated.status, 500, "before even the key check");
    let state = api.state();
    assert!(state.leads.is_empty());
    assert_eq!(state.requests[0].fault, Some(Fault::Fail));
}

#[tokio::test]
async fn drop_closes_the_connection_without_an_answer() {
    let api = Api::start(SandboxConfig { drop_rate: 1.0, ..config() }).await;
    let err = api.try_send(api.request().json(&leads(vec![lead(&phone(1), json!({}))]))).await;
    assert!(err.is_err(), "{err:?}");
    let state = api.state();
    assert!(state.leads.is_empty());
    assert_eq!((state.requests[0].status, state.requests[0].fault), (None, Some(Fault::Drop)));
}

#[tokio::test]
async fn lost_creates_then_answers_500_and_a_resend_meets_already_exists() {
    let api = Api::start(SandboxConfig { lost_rate: 0.5, seed: 3, ..config() }).await;
    let body = leads(vec![lead(&phone(1), json!({})), lead("hello", json!({}))]);
    let mut statuses = Vec::new();
    let answer = loop {
        let a = api.post(body.clone()).await;
        statuses.push(a.status);
        if a.status != 500 {
            break a;
        }
        assert!(statuses.len() < 50, "seed 3 answers soon");
    };
    let state = api.state();
    assert_eq!(state.leads.len(), 1);
    assert!(state.no_lead_created_twice());
    assert!(statuses.len() > 1, "seed 3 loses the first answers: {statuses:?}");
    assert_eq!(state.requests[0].fault, Some(Fault::Lost));
    assert_eq!(state.requests[0].created, 1, "created, then lost");
    assert_eq!(answer.error_at(0), msg::already_exists(&phone(1)));
    // The bad lead's error was never delivered before, so re-sending it was
    // not the client's fault; the delivered one makes the next re-send count.
    assert!(state.resent_after_error.is_empty(), "{:?}", state.resent_after_error);
    api.post(body).await;
    let resent = api.state().resent_after_error;
    assert_eq!(resent.len(), 2, "both were refused in the delivered answer: {resent:?}");
    assert!(resent.iter().all(|r| r.count == 1 && r.process_id.as_deref() == Some("proc_sales")));
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let api = Api::start(SandboxConfig { latency: Duration::from_millis(150), ..config() }).await;
    let t = Instant::now();
    assert_eq!(api.post(leads(vec![])).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
}

/// What a client saw for each of a sequence of requests.
async fn fault_sequence(seed: u64) -> (Vec<String>, StateSnapshot) {
    let api = Api::start(SandboxConfig { seed, fail_rate: 0.2, drop_rate: 0.2, lost_rate: 0.2, ..config() }).await;
    let mut seen = Vec::new();
    for n in 0..40 {
        let req = api.request().json(&leads(vec![lead(&phone(n), json!({}))]));
        seen.push(match api.try_send(req).await {
            Ok(a) => a.status.to_string(),
            Err(_) => "dropped".to_owned(),
        });
    }
    (seen, api.state())
}

#[tokio::test]
async fn faults_are_reproducible_from_the_seed() {
    let (a, state) = fault_sequence(42).await;
    let (b, _) = fault_sequence(42).await;
    let (c, _) = fault_sequence(43).await;
    assert_eq!(a, b, "same seed, same outcomes");
    assert_ne!(a, c, "another seed, other outcomes");
    for (n, (seen, r)) in a.iter().zip(&state.requests).enumerate() {
        let created = state.lead("proc_sales", &phone(n as u32)).is_some();
        match r.fault {
            Some(Fault::Fail) => assert!(seen == "500" && !created),
            Some(Fault::Drop) => assert!(seen == "dropped" && !created),
            Some(Fault::Lost) => assert!(seen == "500" && created),
            None => assert!(seen == "200" && created),
        }
    }
    for f in [Some(Fault::Fail), Some(Fault::Drop), Some(Fault::Lost), None] {
        assert!(state.requests.iter().any(|r| r.fault == f), "{f:?} occurs in 40 draws");
    }
}

// ---------- concurrency and lifecycle ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_requests_all_answered_no_lead_twice() {
    let api = std::sync::Arc::new(Api::start(config()).await);
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let api = std::sync::Arc::clone(&api);
            // Two requests per phone: exactly one creates it.
            tokio::spawn(async move { api.post(leads(vec![lead(&phone(n % 16), json!({}))])).await })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        let a = t.await.expect("task");
        created += a.bulk().leads.len();
    }
    let state = api.state();
    assert_eq!((created, state.leads.len(), state.requests.len()), (16, 16, 32));
    assert!(state.no_lead_created_twice());
}

#[tokio::test]
async fn shutdown_is_clean_and_closes_the_port() {
    let api = Api::start(config()).await;
    assert_eq!(api.post(leads(vec![])).await.status, 200); // leaves a keep-alive connection
    let Api { sandbox, http } = api;
    let url = sandbox.url();
    tokio::time::timeout(Duration::from_secs(3), sandbox.shutdown()).await.expect("stops promptly");
    assert!(http.get(format!("{url}/_sandbox/state")).send().await.is_err());
    assert!(reqwest::Client::new().get(format!("{url}/_sandbox/state")).send().await.is_err());
}

#[tokio::test]
async fn preexisting_leads_from_a_csv_file() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("existing.csv");
    let csv = format!(
        "phoneNumber,processId,initialized,leadId\n{},proc_sales,true,ld_pre1\n{},proc_support,,\n",
        phone(1),
        phone(2)
    );
    std::fs::write(&file, csv).expect("write");
    let path = file.to_str().expect("utf-8 path");
    let args = Cli::parse_from(["sandbox", "--preexisting", path, "--rate", "0", "--quiet"]).args;
    let api = Api::start(args.to_config().expect("valid")).await;
    let state = api.state();
    assert_eq!(state.leads.len(), 2);
    assert!(state.leads.iter().all(|l| l.preexisting && l.times_created == 0));
    assert_eq!(state.leads[0].lead_id, "ld_pre1");
    let a =
        api.post(leads(vec![lead(&phone(1), json!({})), lead(&phone(1), json!({"processId": "proc_support"}))])).await;
    assert_eq!(a.error_at(0), msg::already_exists(&phone(1)));
    assert_eq!(a.error_at(1), msg::CALL_ATTEMPTED);
    let ids = api.post(json!({"leadIds": ["ld_pre1", state.leads[1].lead_id]})).await.bulk();
    assert_eq!(ids.leads.iter().map(|l| l.initialized).collect::<Vec<_>>(), [Some(true), Some(false)]);
}

/// `leadctl sandbox` prints `listening on <url>` first and stops on SIGINT.
#[cfg(unix)]
#[test]
fn binary_prints_listening_first_and_stops_on_sigint() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_leadctl"))
        .args(["sandbox", "--port", "0"])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("leadctl runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("a line");
    let url =
        first.trim_end().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first:?}")).to_owned();
    let port: u16 =
        url.strip_prefix("http://127.0.0.1:").and_then(|p| p.parse().ok()).expect("http://127.0.0.1:<port>");
    assert_ne!(port, 0);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let state: StateSnapshot = rt
        .block_on(async {
            let state = reqwest::Client::new().get(format!("{url}/_sandbox/state"));
            state.bearer_auth(leadctl::sandbox::DEFAULT_API_KEY).send().await?.json().await
        })
        .expect("the state report");
    assert_eq!(state.project_id, "prj_sandbox");
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "leadctl sandbox did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.code().is_some(), "exited by itself, not killed: {status:?}");
}
