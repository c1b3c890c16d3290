//! Settings in their second stage: the raw clap values, the environment and
//! the TOML config file resolved, in one place, into one validated value.
//! Precedence: flag, then environment, then config file, then default.
//! Nothing downstream reads environment variables.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

use crate::cli::{ColorChoice, CommonArgs, UploadArgs, ValidateArgs};
use crate::input::{Format, InputSpec};
use crate::phone::{self, Region};

/// Environment variable holding the API base URL.
pub const ENV_API_URL: &str = "LEADCTL_API_URL";
/// Environment variable holding the API key itself.
pub const ENV_API_KEY: &str = "LEADCTL_API_KEY";
/// Environment variable holding the project id.
pub const ENV_PROJECT_ID: &str = "LEADCTL_PROJECT_ID";
/// Environment variable naming the config file.
pub const ENV_CONFIG: &str = "LEADCTL_CONFIG";

/// The API key. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }
    /// The key itself, for the `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the leads go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// An emulator started in this process (`--sandbox`).
    Sandbox,
    /// A real API: base URL (no trailing `/`) and key.
    Remote { api_url: String, api_key: ApiKey },
    /// `--dry-run`: nothing is sent.
    DryRun,
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
    /// The region as the user wrote it (for the summary).
    pub default_region_code: String,
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
    /// A run directory to continue.
    pub resume: Option<PathBuf>,
    /// First retry delay (doubles each retry, with full jitter).
    pub retry_base: Duration,
}

/// Everything `validate` needs, validated.
#[derive(Debug, Clone)]
pub struct ValidateConfig {
    pub common: Common,
}

/// The config file: keys are the long flag names in kebab-case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    api_url: Option<String>,
    api_key: Option<String>,
    api_key_file: Option<PathBuf>,
    project_id: Option<String>,
    process_id: Option<String>,
    default_region: Option<String>,
    batch_size: Option<usize>,
    concurrency: Option<usize>,
    rate: Option<f64>,
    max_attempts: Option<u32>,
    timeout: Option<f64>,
    max_rate_limit_wait: Option<f64>,
    out_dir: Option<PathBuf>,
    progress_interval: Option<u64>,
    color: Option<ColorChoice>,
    format: Option<Format>,
    delimiter: Option<char>,
    encoding: Option<String>,
    sheet: Option<String>,
    map: Option<Vec<String>>,
}

/// A view of the process environment (a map in tests).
pub type Env = HashMap<String, String>;

/// The real environment, for `main`.
pub fn process_env() -> Env {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

fn nonempty(env: &Env, name: &str) -> Option<String> {
    env.get(name).filter(|v| !v.trim().is_empty()).cloned()
}

/// Resolves `upload`'s settings. With `--resume`, the settings the run
/// started with (from its journal) come right after the flags: a resumed
/// run goes on with the same input, server, project and rules.
pub fn upload(args: &UploadArgs, env: &Env) -> Result<UploadConfig> {
    let resumed;
    let args = match &args.resume {
        Some(dir) => {
            resumed = with_resumed(args, &crate::journal::read_settings(dir)?);
            &resumed
        }
        None => args,
    };
    let (file, file_path) = load_file(args.common.config.as_deref(), env)?;
    let file_input = args.file.clone().unwrap_or_default();
    let common = common(&args.common, &file, file_input, args.existing, args.initialize, env)?;

    let destination = if args.dry_run {
        Destination::DryRun
    } else if args.sandbox {
        Destination::Sandbox
    } else {
        let api_url =
            args.api_url.clone().or_else(|| nonempty(env, ENV_API_URL)).or_else(|| file.api_url.clone()).ok_or_else(
                || {
                    anyhow!(
                        "no API URL: pass --api-url URL, set {ENV_API_URL}, or put `api-url = \"https://...\"` \
                     in the config file (or use --sandbox to rehearse against the bundled emulator)"
                    )
                },
            )?;
        let api_url = check_url(&api_url)?;
        let api_key = api_key(args, &file, file_path.as_deref(), env)?;
        Destination::Remote { api_url, api_key }
    };

    let batch_size = args.batch_size.or(file.batch_size).unwrap_or(crate::api::MAX_LEADS_PER_REQUEST);
    if !(1..=crate::api::MAX_LEADS_PER_REQUEST).contains(&batch_size) {
        bail!("--batch-size must be between 1 and 1000 (the API's maximum), not {batch_size}");
    }
    let concurrency = args.concurrency.or(file.concurrency).unwrap_or(4);
    if !(1..=64).contains(&concurrency) {
        bail!("--concurrency must be between 1 and 64, not {concurrency}");
    }
    let rate = args.rate.or(file.rate);
    if let Some(r) = rate
        && !(r.is_finite() && r > 0.0)
    {
        bail!("--rate must be a positive number of requests per second, not {r}");
    }
    let max_attempts = args.max_attempts.or(file.max_attempts).unwrap_or(5);
    if max_attempts == 0 {
        bail!("--max-attempts must be at least 1");
    }
    let timeout = seconds("--timeout", args.timeout.or(file.timeout).unwrap_or(60.0))?;
    let max_rate_limit_wait =
        seconds("--max-rate-limit-wait", args.max_rate_limit_wait.or(file.max_rate_limit_wait).unwrap_or(300.0))?;

    Ok(UploadConfig {
        common,
        destination,
        yes: args.yes,
        batch_size,
        concurrency,
        rate,
        max_attempts,
        timeout,
        max_rate_limit_wait,
        resume: args.resume.clone(),
        retry_base: Duration::from_millis(args.retry_base_ms.unwrap_or(250).max(1)),
    })
}

fn with_resumed(args: &UploadArgs, r: &crate::journal::RunSettings) -> UploadArgs {
    let mut a = args.clone();
    a.file = a.file.or_else(|| Some(r.input.clone()));
    a.existing |= r.existing;
    a.initialize |= r.initialize;
    a.api_url = a.api_url.or_else(|| r.api_url.clone());
    a.batch_size = a.batch_size.or(Some(r.batch_size));
    a.concurrency = a.concurrency.or(Some(r.concurrency));
    a.rate = a.rate.or(r.rate);
    a.max_attempts = a.max_attempts.or(Some(r.max_attempts));
    a.timeout = a.timeout.or(Some(r.timeout_s));
    a.max_rate_limit_wait = a.max_rate_limit_wait.or(Some(r.max_rate_limit_wait_s));
    let c = &mut a.common;
    c.format = c.format.or(Some(r.format));
    c.delimiter = c.delimiter.or(r.delimiter.map(char::from));
    if c.map.is_empty() {
        c.map = r.map.iter().map(|(f, col)| format!("{f}={col}")).collect();
    }
    c.project_id = c.project_id.clone().or_else(|| r.project_id.clone());
    c.process_id = c.process_id.clone().or_else(|| r.process_id.clone());
    c.default_region = c.default_region.clone().or_else(|| Some(r.default_region.clone()));
    c.limit = c.limit.or(r.limit);
    a
}

/// Resolves `validate`'s settings.
pub fn validate(args: &ValidateArgs, env: &Env) -> Result<ValidateConfig> {
    let (file, _) = load_file(args.common.config.as_deref(), env)?;
    let common = common(&args.common, &file, args.file.clone(), args.existing, args.initialize, env)?;
    Ok(ValidateConfig { common })
}

fn seconds(flag: &str, value: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow!("{flag} must be a positive number of seconds, not {value}"))
}

fn common(
    args: &CommonArgs,
    file: &FileConfig,
    path: PathBuf,
    existing: bool,
    initialize: bool,
    env: &Env,
) -> Result<Common> {
    let region_code =
        args.default_region.clone().or_else(|| file.default_region.clone()).unwrap_or_else(|| "US".into());
    let default_region = phone::parse_region(&region_code).ok_or_else(|| {
        anyhow!("--default-region {region_code:?} is not a region code; use a two-letter ISO code such as US or GB")
    })?;
    let delimiter = match args.delimiter.or(file.delimiter) {
        None => None,
        Some(c) if c.is_ascii() => Some(c as u8),
        Some(c) => bail!("--delimiter must be a single ASCII character, not {c:?}"),
    };
    let map_args = if args.map.is_empty() { file.map.clone().unwrap_or_default() } else { args.map.clone() };
    let map = map_args
        .iter()
        .map(|m| {
            m.split_once('=')
                .filter(|(f, c)| !f.trim().is_empty() && !c.trim().is_empty())
                .map(|(f, c)| (f.trim().to_owned(), c.trim().to_owned()))
                .ok_or_else(|| anyhow!("--map {m:?}: expected FIELD=COLUMN, e.g. --map phoneNumber=Mobile"))
        })
        .collect::<Result<Vec<_>>>()?;
    let format = args.format.or(file.format);
    if path.as_os_str() == "-" && format.is_none() {
        bail!("reading stdin (`-`) needs --format csv|tsv|json|ndjson");
    }
    let color = match args.color.or(file.color).unwrap_or(ColorChoice::Auto) {
        ColorChoice::Auto if env.get("NO_COLOR").is_some_and(|v| !v.is_empty()) => ColorChoice::Never,
        c => c,
    };
    Ok(Common {
        input: InputSpec {
            path,
            format,
            delimiter,
            map,
            existing,
            encoding: args.encoding.clone().or_else(|| file.encoding.clone()),
            sheet: args.sheet.clone().or_else(|| file.sheet.clone()),
        },
        project_id: args
            .project_id
            .clone()
            .or_else(|| nonempty(env, ENV_PROJECT_ID))
            .or_else(|| file.project_id.clone()),
        process_id: args.process_id.clone().or_else(|| file.process_id.clone()),
        default_region,
        default_region_code: region_code.to_ascii_uppercase(),
        limit: args.limit,
        out_dir: args.out_dir.clone().or_else(|| file.out_dir.clone()),
        json: args.json,
        progress_interval: Duration::from_secs(args.progress_interval.or(file.progress_interval).unwrap_or(10).max(1)),
        quiet: args.quiet,
        verbose: args.verbose,
        color,
        initialize,
    })
}

/// Finds and reads the config file: `--config`, `LEADCTL_CONFIG`,
/// `./leadctl.toml`, `$XDG_CONFIG_HOME/leadctl/config.toml` (the first two
/// must exist; the last two are optional).
fn load_file(flag: Option<&Path>, env: &Env) -> Result<(FileConfig, Option<PathBuf>)> {
    let explicit = flag.map(Path::to_path_buf).or_else(|| nonempty(env, ENV_CONFIG).map(PathBuf::from));
    let path = match explicit {
        Some(p) => p,
        None => {
            let xdg = nonempty(env, "XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| nonempty(env, "HOME").map(|h| Path::new(&h).join(".config")))
                .map(|d| d.join("leadctl").join("config.toml"));
            match [Some(PathBuf::from("leadctl.toml")), xdg].into_iter().flatten().find(|p| p.is_file()) {
                Some(p) => p,
                None => return Ok((FileConfig::default(), None)),
            }
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read config file {}", path.display()))?;
    let parsed: FileConfig =
        toml::from_str(&text).map_err(|e| anyhow!("config file {}: {}", path.display(), e.message()))?;
    if parsed.api_key.is_some() {
        refuse_if_readable_by_others(&path, "config file holding `api-key`")?;
    }
    Ok((parsed, Some(path)))
}

fn api_key(args: &UploadArgs, file: &FileConfig, file_path: Option<&Path>, env: &Env) -> Result<ApiKey> {
    if let Some(p) = &args.api_key_file {
        return read_key_file(p);
    }
    if let Some(k) = nonempty(env, ENV_API_KEY) {
        return Ok(ApiKey::new(k.trim()));
    }
    if let Some(p) = &file.api_key_file {
        return read_key_file(p);
    }
    if let Some(k) = file.api_key.as_deref().filter(|k| !k.trim().is_empty()) {
        debug_assert!(file_path.is_some());
        return Ok(ApiKey::new(k.trim()));
    }
    bail!(
        "no API key: set {ENV_API_KEY}, pass --api-key-file PATH (`-` reads stdin), or put `api-key-file` \
         in the config file (there is deliberately no --api-key flag: command lines leak into shell history and `ps`)"
    )
}

fn read_key_file(path: &Path) -> Result<ApiKey> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("cannot read the API key from stdin")?;
        s
    } else {
        refuse_if_readable_by_others(path, "API key file")?;
        std::fs::read_to_string(path).with_context(|| format!("cannot read API key file {}", path.display()))?
    };
    let key = text.trim();
    if key.is_empty() {
        bail!("the API key file {} is empty", path.display());
    }
    Ok(ApiKey::new(key))
}

#[cfg(unix)]
fn refuse_if_readable_by_others(path: &Path, what: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "refusing the {what} {}: its mode {mode:03o} lets group or others read the API key; \
             fix it with `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_readable_by_others(_: &Path, _: &str) -> Result<()> {
    Ok(())
}

/// Accepts `https://` anywhere and `http://` only to loopback hosts.
pub fn check_url(raw: &str) -> Result<String> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|e| anyhow!("API URL {raw:?} is not a URL ({e}); expected e.g. https://api.vendor.example/v1"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
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
    }

    #[test]
    fn key_is_redacted_in_debug_and_display() {
        let k = ApiKey::new("sk_live_secret");
        assert!(!format!("{k:?} {k}").contains("secret"));
    }
}
