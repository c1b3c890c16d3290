//! Settings in their second stage: the layers of `settings` (flags, the
//! journal of a resumed run, the environment, the TOML config file, the
//! defaults) merged and validated, in one place, into one typed value.
//! Nothing downstream reads environment variables, and nothing here reads
//! a run directory: a resumed run's journal record is handed in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};

mod file;
mod inspect;
mod key;
mod ledger;
mod metrics;
mod pgpass;
mod proxy;
mod resume;

pub use inspect::{Inspection, KeyFound, Remote, SettingInEffect, inspect};
pub use key::ApiKey;
pub use ledger::{LedgerCommand, ledger_command};
pub use metrics::{MetricsTarget, metrics_target};
pub use proxy::{ProxyUrl, Route};

use file::{ConfigFile, load_file};
use key::api_key;

use crate::cli::{RunArgs, UploadArgs, ValidateArgs};
use crate::exit::Tolerance;
use crate::input::InputSpec;
use crate::ledger::Location;
use crate::log::LogFormat;
use crate::phone::{self, Region};
use crate::settings::ColorChoice;
use crate::settings::{self, CommonSettings, Group, Layer, Layered, RunRecord, Source, UploadSettings};

/// Environment variable holding the API base URL.
pub const ENV_API_URL: &str = "LEADCTL_API_URL";
/// Environment variable holding the API key itself.
pub const ENV_API_KEY: &str = "LEADCTL_API_KEY";
/// Environment variable holding the project id.
pub const ENV_PROJECT_ID: &str = "LEADCTL_PROJECT_ID";
/// Environment variable naming the config file.
pub const ENV_CONFIG: &str = "LEADCTL_CONFIG";

/// Where the leads go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// An emulator started in this process (`--sandbox`).
    Sandbox,
    /// A real API: base URL (no trailing `/`), key, and how to reach it.
    Remote { api_url: String, api_key: ApiKey, route: Route },
    /// `--dry-run`: nothing is sent. A dry run with a ledger looks leads up
    /// by the API they would go to: `api_url` as configured (checked then;
    /// no key needed), or the sandbox's identity with `--sandbox`.
    DryRun { api_url: Option<String>, sandbox: bool },
}

/// Settings shared by `upload` and `validate`.
#[derive(Debug, Clone)]
pub struct Common {
    /// The input file and how to read it.
    pub input: InputSpec,
    /// Project every row must belong to (else the first row's).
    pub project_id: Option<String>,
    /// Process for rows without one.
    pub process_id: Option<String>,
    /// Region for numbers without `+`.
    pub default_region: Region,
    /// Only the first N rows.
    pub limit: Option<u64>,
    /// Output directory, when set explicitly.
    pub out_dir: Option<PathBuf>,
    /// Summary as JSON on stdout.
    pub json: bool,
    /// Seconds between plain progress lines off a terminal.
    pub progress_interval: Duration,
    /// No progress, no final table.
    pub quiet: bool,
    /// Log verbosity (count of `-v`).
    pub verbose: u8,
    /// Colour choice after `NO_COLOR`.
    pub color: ColorChoice,
    /// Apply the `--initialize` rules.
    pub initialize: bool,
    /// How stderr is written.
    pub log_format: LogFormat,
    /// Where the run's figures go at its end, and their `job` label.
    pub metrics: Option<MetricsTarget>,
    /// `--max-rejected`.
    pub tolerance: Option<Tolerance>,
    /// The settings as the run records them (journal, summary, resend).
    pub record: RunRecord,
    /// `key = value (source)` lines of every setting, for `-vv`.
    pub dump: String,
}

/// Everything `upload` needs, validated.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    pub common: Common,
    pub destination: Destination,
    /// Skip the confirmation prompt for `--initialize`.
    pub yes: bool,
    /// Leads per request (1..=1000).
    pub batch_size: usize,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Client-side requests per second cap.
    pub rate: Option<f64>,
    /// Attempts per batch for retryable faults.
    pub max_attempts: u32,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Total time the run may wait out 429s.
    pub max_rate_limit_wait: Duration,
    /// First retry delay (doubles each retry, with full jitter).
    pub retry_base: Duration,
    /// How long a busy ledger (a lock held elsewhere) is waited for, in all.
    pub ledger_wait: Duration,
    /// The delivery ledger, when the run uses one.
    pub ledger: Option<LedgerChoice>,
    /// Flags the run record leaves out, as the resend command repeats
    /// them: `--ledger` and `--proxy` (a command line holds no password:
    /// one there is refused).
    pub resend_unrecorded: Vec<(&'static str, String)>,
}

/// The ledger a run uses and how.
#[derive(Debug, Clone)]
pub struct LedgerChoice {
    pub location: Location,
    /// `--resend-known`: no lookup before sending (answers are still recorded).
    pub resend_known: bool,
}

/// The lowest and highest `--rate`, in requests per second: below one
/// request in about 17 minutes, or above what 64 requests in flight can
/// send, the number is a mistake (and `1e-20` made the pacer panic).
pub const RATE_RANGE: std::ops::RangeInclusive<f64> = 0.001..=1000.0;

/// A command line whose parts cannot go together (exit 2, like clap's own
/// usage errors), found only once the settings are merged.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Everything `validate` needs, validated.
#[derive(Debug, Clone)]
pub struct ValidateConfig {
    pub common: Common,
}

pub use crate::settings::Env;

/// The real environment, for `main`.
pub fn process_env() -> Env {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

pub(crate) fn nonempty(env: &Env, name: &str) -> Option<String> {
    env.get(name).filter(|v| !v.trim().is_empty()).cloned()
}

/// The layers below the flags: the journal of a resumed run, the
/// environment, the config file, the defaults.
fn lower_layers<G: Group>(resumed: Option<&RunRecord>, env: &Env, file: &ConfigFile) -> Vec<Layer> {
    let mut layers = Vec::with_capacity(4);
    if let Some(r) = resumed {
        layers.push(r.layer());
    }
    layers.push(settings::env_layer::<G>(env));
    layers.push(settings::file_layer::<G>(&file.values));
    layers.push(Layer::of(Source::Default, &G::defaults()));
    layers
}

fn merge<G: Group>(flags: &G, lower: Vec<Layer>, file: &ConfigFile) -> Result<Layered<G>> {
    let mut layers = vec![Layer::of(Source::Flag, flags)];
    layers.extend(lower);
    settings::layer(&layers).map_err(|e| match &file.path {
        Some(p) => anyhow!("bad setting {e} (from the flags, the environment or the config file {})", p.display()),
        None => anyhow!("bad setting {e}"),
    })
}

/// Resolves `upload`'s settings. `resumed` is the record of the run being
/// resumed (its journal): its settings sit right below the flags, so a
/// resumed run goes on with the same input, server, project and rules.
pub fn upload(args: &UploadArgs, env: &Env, resumed: Option<&RunRecord>) -> Result<UploadConfig> {
    let file = load_file(args.run.config.as_deref(), env)?;
    upload_with(args, env, resumed, &file)
}

/// [`upload`] with the config file already read.
fn upload_with(args: &UploadArgs, env: &Env, resumed: Option<&RunRecord>, file: &ConfigFile) -> Result<UploadConfig> {
    let upload = merge(&args.upload, lower_layers::<UploadSettings>(resumed, env, file), file)?;
    let common = merge(&args.common, lower_layers::<CommonSettings>(resumed, env, file), file)?;
    let resumed_ledger = match resumed {
        Some(r) => {
            resume::check_api_url(r, &args.upload, env, file)?;
            resume::ledger(r, &args.upload, env, file)?
        }
        None => None,
    };
    let input = match (&args.file, resumed) {
        (Some(f), _) => f.clone(),
        (None, Some(r)) => r.input.clone(),
        (None, None) => bail!("no input file: pass FILE, or --resume RUN_DIR"),
    };
    let record = RunRecord::new("upload", absolute(&input), &common, Some(&upload));
    let dump = settings::dump(&redacted(upload.values()), &upload.origins)
        + &settings::dump(&common.values(), &common.origins);
    let mut common = typed_common(common.value, &args.run, input, record, dump, env)?;
    let u = upload.value;

    if let Some(proxy) = u.proxy.as_deref() {
        proxy::refuse_password(proxy, upload.origins.get("proxy").map(|o| &o.source), file)?;
    }
    let (ledger, password_from) =
        ledger::choice(&u, resumed_ledger, &upload.origins, common.input.existing, env, file)?;
    if let Some(l) = &ledger {
        // A resumed run records into the same ledger (see `resume::ledger`); never its password.
        let source = upload.origins.get("ledger").map_or(Source::Default, |o| o.source.clone());
        common.record.set("ledger", l.location.to_string().into(), source);
    }
    if let Some(from) = password_from {
        common.dump.push_str(&format!("ledger password = \"<from {from}>\" (decided)\n"));
    }
    let destination = destination(&u, proxy_from(&upload.origins), file, env, &mut common)?;

    let batch_size = u.batch_size.unwrap_or(crate::api::MAX_LEADS_PER_REQUEST);
    if !(1..=crate::api::MAX_LEADS_PER_REQUEST).contains(&batch_size) {
        bail!("--batch-size must be between 1 and 1000 (the API's maximum), not {batch_size}");
    }
    let concurrency = u.concurrency.unwrap_or(4);
    if !(1..=64).contains(&concurrency) {
        bail!("--concurrency must be between 1 and 64, not {concurrency}");
    }
    if let Some(r) = u.rate
        && !RATE_RANGE.contains(&r)
    {
        bail!("--rate must be between {} and {} requests per second, not {r}", RATE_RANGE.start(), RATE_RANGE.end());
    }
    let max_attempts = u.max_attempts.unwrap_or(5);
    if max_attempts == 0 {
        bail!("--max-attempts must be at least 1");
    }
    if let Some(spec) = &u.crash_at {
        crate::crash::arm(spec).map_err(UsageError)?;
    }
    let from_flag = |name: &str| upload.origins.get(name).is_some_and(|o| o.source == Source::Flag);
    let mut resend_unrecorded = Vec::new();
    if from_flag("ledger") {
        resend_unrecorded
            .push(("ledger", ledger.as_ref().map_or_else(|| "off".to_owned(), |l| l.location.to_string())));
    }
    if let Some(proxy) = u.proxy.as_deref().filter(|_| from_flag("proxy")) {
        resend_unrecorded.push(("proxy", ProxyUrl::parse(proxy, "--proxy")?.expose().to_owned()));
    }
    Ok(UploadConfig {
        common,
        destination,
        yes: args.yes,
        batch_size,
        concurrency,
        rate: u.rate,
        max_attempts,
        timeout: seconds("--timeout", u.timeout.unwrap_or(60.0))?,
        max_rate_limit_wait: seconds("--max-rate-limit-wait", u.max_rate_limit_wait.unwrap_or(300.0))?,
        retry_base: Duration::from_millis(u.retry_base_ms.unwrap_or(250).max(1)),
        ledger_wait: Duration::from_millis(u.ledger_wait_ms.unwrap_or(600_000).max(1)),
        ledger,
        resend_unrecorded,
    })
}

/// Where the leads go: nowhere (`--dry-run`), the sandbox, or an API with
/// its key and its route (`proxy_from` says where a `proxy` setting came
/// from). The route is added to the `-vv` dump.
fn destination(
    u: &UploadSettings,
    proxy_from: &str,
    file: &ConfigFile,
    env: &Env,
    common: &mut Common,
) -> Result<Destination> {
    if u.dry_run {
        return Ok(Destination::DryRun { api_url: u.api_url.clone(), sandbox: u.sandbox });
    }
    if u.sandbox {
        return Ok(Destination::Sandbox);
    }
    let api_url = u.api_url.as_deref().ok_or_else(no_api_url)?;
    let api_url = check_url(api_url)?;
    if u.api_key_file.as_deref().is_some_and(|p| p.as_os_str() == "-") && common.input.path.as_os_str() == "-" {
        return Err(UsageError(
            "--api-key-file - and the input - both want stdin; give the key in LEADCTL_API_KEY or a key file, \
             or the input as a file"
                .into(),
        )
        .into());
    }
    let api_key = api_key(u.api_key_file.as_deref(), file, env)?;
    let url = reqwest::Url::parse(&api_url).map_err(|e| anyhow!("API URL {api_url}: {e}"))?;
    let route = proxy::route(&url, u.proxy.as_deref().map(|p| (p, proxy_from)), env)?;
    common.dump.push_str(&format!("route = {:?} (decided)\n", route.to_string()));
    Ok(Destination::Remote { api_url, api_key, route })
}

/// Where a `proxy` setting came from, in the words of its errors.
fn proxy_from(origins: &std::collections::BTreeMap<String, crate::settings::Origin>) -> &'static str {
    match origins.get("proxy").map(|o| &o.source) {
        Some(Source::File) => "the config file's `proxy`",
        _ => "--proxy",
    }
}

fn no_api_url() -> anyhow::Error {
    anyhow!(
        "no API URL: pass --api-url URL, set {ENV_API_URL}, or put `api-url = \"https://...\"` in the config \
         file (or use --sandbox to rehearse against the bundled emulator)"
    )
}

/// Resolves `validate`'s settings.
pub fn validate(args: &ValidateArgs, env: &Env) -> Result<ValidateConfig> {
    let file = load_file(args.run.config.as_deref(), env)?;
    let common = merge(&args.common, lower_layers::<CommonSettings>(None, env, &file), &file)?;
    let record = RunRecord::new("validate", absolute(&args.file), &common, None);
    let dump = settings::dump(&common.values(), &common.origins);
    let common = typed_common(common.value, &args.run, args.file.clone(), record, dump, env)?;
    Ok(ValidateConfig { common })
}

/// The input's name without directory or extensions (`leads` for
/// `exports/leads.csv.gz`), or `stdin`.
pub fn input_stem(path: &Path) -> String {
    if path.as_os_str() == "-" {
        return "stdin".into();
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.split('.').next().filter(|s| !s.is_empty()).unwrap_or("input").to_owned()
}

/// The path as recorded: absolute, so a resumed run finds it from anywhere.
fn absolute(path: &Path) -> PathBuf {
    if path.as_os_str() == "-" { path.to_path_buf() } else { std::path::absolute(path).unwrap_or(path.to_path_buf()) }
}

fn seconds(flag: &str, value: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow!("{flag} must be a positive number of seconds, not {value}"))
}

fn typed_common(
    c: CommonSettings,
    run: &RunArgs,
    path: PathBuf,
    record: RunRecord,
    dump: String,
    env: &Env,
) -> Result<Common> {
    let path_for_job = path.clone();
    let region_code = c.default_region.unwrap_or_else(|| "US".into());
    let default_region = phone::parse_region(&region_code).ok_or_else(|| {
        anyhow!("--default-region {region_code:?} is not a region code; use a two-letter ISO code such as US or GB")
    })?;
    let delimiter = match c.delimiter {
        None => None,
        Some(c) if c.is_ascii() => Some(c as u8),
        Some(c) => bail!("--delimiter must be a single ASCII character, not {c:?}"),
    };
    let map = c
        .map
        .iter()
        .map(|m| {
            m.split_once('=')
                .filter(|(f, c)| !f.trim().is_empty() && !c.trim().is_empty())
                .map(|(f, c)| (f.trim().to_owned(), c.trim().to_owned()))
                .ok_or_else(|| anyhow!("--map {m:?}: expected FIELD=COLUMN, e.g. --map phoneNumber=Mobile"))
        })
        .collect::<Result<Vec<_>>>()?;
    if path.as_os_str() == "-" && c.format.is_none() {
        bail!("reading stdin (`-`) needs --format csv|tsv|json|ndjson");
    }
    let tolerance = match c.max_rejected.as_deref() {
        None => None,
        Some(t) => Some(Tolerance::parse(t).ok_or_else(|| {
            anyhow!("--max-rejected {t:?}: expected a number of rows (25) or a share of the rows read (2%)")
        })?),
    };
    let metrics = c
        .metrics_file
        .map(|path| MetricsTarget { path, job: c.metrics_job.clone().unwrap_or_else(|| input_stem(&path_for_job)) });
    let color = match c.color.unwrap_or(ColorChoice::Auto) {
        ColorChoice::Auto if env.get("NO_COLOR").is_some_and(|v| !v.is_empty()) => ColorChoice::Never,
        c => c,
    };
    Ok(Common {
        input: InputSpec {
            path,
            format: c.format,
            delimiter,
            map,
            existing: c.existing,
            encoding: c.encoding,
            sheet: c.sheet,
        },
        project_id: c.project_id,
        process_id: c.process_id,
        default_region,
        limit: c.limit,
        out_dir: c.out_dir,
        json: run.json,
        progress_interval: Duration::from_secs(c.progress_interval.unwrap_or(10).max(1)),
        quiet: run.quiet,
        verbose: run.verbose,
        color,
        initialize: c.initialize,
        log_format: c.log_format.unwrap_or_default(),
        metrics,
        tolerance,
        record,
        dump,
    })
}

/// The settings as the `-vv` dump shows them: a proxy URL without its
/// credentials.
fn redacted(mut values: serde_json::Map<String, serde_json::Value>) -> serde_json::Map<String, serde_json::Value> {
    if let Some(serde_json::Value::String(p)) = values.get("proxy") {
        let shown = ProxyUrl::parse(p, "proxy").map_or_else(|_| "<not a URL>".to_owned(), |u| u.to_string());
        values.insert("proxy".into(), serde_json::Value::String(shown));
    }
    if let Some(serde_json::Value::String(l)) = values.get("ledger") {
        let shown = Location::parse(l).map_or_else(|_| "<not a ledger location>".to_owned(), |l| l.to_string());
        values.insert("ledger".into(), serde_json::Value::String(shown));
    }
    values
}

/// Whether the URL's host is this machine (`localhost`, 127.0.0.0/8, ::1).
pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        None => false,
    }
}

/// Accepts `https://` anywhere and `http://` only to loopback hosts.
pub fn check_url(raw: &str) -> Result<String> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|e| anyhow!("API URL {raw:?} is not a URL ({e}); expected e.g. https://api.vendor.example/v1"))?;
    let loopback = is_loopback(&url);
    if !url.username().is_empty() || url.password().is_some() {
        bail!(
            "API URL {}: credentials in the URL (user:password@) are refused; the API key goes in \
             {ENV_API_KEY} or --api-key-file",
            url.host_str().unwrap_or("?")
        );
    }
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => bail!(
            "refusing plain http:// to {}: the API key would cross the network unencrypted; use https:// \
             (http:// is allowed only to loopback, e.g. the sandbox)",
            url.host_str().unwrap_or("?")
        ),
        s => bail!("API URL scheme {s:?} is not supported; use https://"),
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_only_to_loopback() {
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert!(check_url("http://localhost:1/v1/").is_ok_and(|u| u == "http://localhost:1/v1"));
        assert!(check_url("http://[::1]:9").is_ok());
        assert!(check_url("http://api.example.com").is_err());
        assert!(check_url("https://api.example.com/v1").is_ok());
        assert!(check_url("ftp://x").is_err());
        let e = check_url("https://user:secret@api.example.com").expect_err("credentials refused");
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn key_is_redacted_in_debug_and_display() {
        let k = ApiKey::new("sk_live_secret");
        assert!(!format!("{k:?} {k}").contains("secret"));
    }
}
