//! How requests reach the API: directly, or through an HTTP(S) proxy.
//!
//! Decided here, once, for the one API URL of a run, so that the client
//! never reads the environment (left alone, reqwest reads the proxy
//! variables for every URL, loopback included: with `HTTP_PROXY` set, the
//! sandbox's `http://127.0.0.1` requests, key and all, went to the proxy in
//! clear text). The order:
//!
//! 1. a loopback API (the sandbox, local tests) is always reached directly;
//! 2. `--proxy URL` or the config file's `proxy`;
//! 3. `https_proxy` / `HTTPS_PROXY`, else `all_proxy` / `ALL_PROXY` (the API
//!    is `https://` whenever it is not loopback), unless `no_proxy` /
//!    `NO_PROXY` names the host; lower case first, as curl reads them.
//!
//! A proxy URL may hold credentials (`http://user:password@proxy:3128`): it
//! is never printed whole ([`ProxyUrl`]'s `Display` and `Debug` hide them),
//! never recorded in a run's files, and errors about it do not quote it.

use std::fmt;

use anyhow::{Result, anyhow, bail};
use hyper_util::client::proxy::matcher::Matcher;
use url::Url;

use super::file::ConfigFile;
use super::{Env, UsageError, nonempty};
use crate::settings::Source;

/// A proxy URL; its text is shown only with the credentials hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(Url);

impl ProxyUrl {
    /// Reads a proxy URL as curl does (`proxy:3128` means `http://proxy:3128`).
    /// `name` says where it came from, for the error; the value itself is
    /// not quoted there, since it may hold a password.
    pub fn parse(raw: &str, name: &str) -> Result<ProxyUrl> {
        let raw = raw.trim();
        let full = if raw.contains("://") { raw.to_owned() } else { format!("http://{raw}") };
        let url = Url::parse(&full)
            .map_err(|e| anyhow!("{name} is not a proxy URL ({e}); expected e.g. http://proxy.example:3128"))?;
        match url.scheme() {
            "http" | "https" => {}
            s => bail!("{name}: a {s}:// proxy is not supported; use an http:// or https:// proxy"),
        }
        if url.host_str().is_none_or(str::is_empty) {
            bail!("{name} names no host; expected e.g. http://proxy.example:3128");
        }
        Ok(ProxyUrl(url))
    }

    /// The whole URL, credentials included: for the HTTP client and nothing else.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the URL carries a password.
    pub fn has_password(&self) -> bool {
        self.0.password().is_some()
    }

    /// Whether the URL carries a user name or password.
    pub fn has_credentials(&self) -> bool {
        !self.0.username().is_empty() || self.0.password().is_some()
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = if self.has_credentials() { "***@" } else { "" };
        write!(f, "{}://{hidden}{}", self.0.scheme(), self.0.host_str().unwrap_or("?"))?;
        match self.0.port() {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

/// Refuses a proxy password on the command line (exit 2: `ps` shows it to
/// every account), and in a config file others can read; the environment
/// (`HTTPS_PROXY`) and a private config file are the places for it.
pub(super) fn refuse_password(proxy: &str, from: Option<&Source>, file: &ConfigFile) -> Result<()> {
    let Ok(url) = ProxyUrl::parse(proxy, "--proxy") else { return Ok(()) }; // refused with its reason later
    match from {
        Some(Source::Flag) if url.has_password() => Err(UsageError(format!(
            "--proxy {url}: a password on the command line is refused (any account on this machine can read it \
             with `ps`, and shells keep it in their history); give the proxy in HTTPS_PROXY, or as `proxy` in the \
             config file (mode 0600)"
        ))
        .into()),
        Some(Source::File) if url.has_password() => file.check_secret("config file holding a `proxy` password"),
        _ => Ok(()),
    }
}

/// How the API is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A direct connection; no proxy variable is consulted.
    Direct,
    /// Through `url`, which came from `from` (a flag, a key or a variable).
    Proxy { url: ProxyUrl, from: String },
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Direct => f.write_str("direct"),
            Route::Proxy { url, from } => write!(f, "through the proxy {url} (from {from})"),
        }
    }
}

/// The route to `api_url`. `setting` is the `proxy` setting with where it
/// came from (`--proxy`, or the config file), if it is set.
pub fn route(api_url: &Url, setting: Option<(&str, &str)>, env: &Env) -> Result<Route> {
    if super::is_loopback(api_url) {
        return Ok(Route::Direct);
    }
    if let Some((value, from)) = setting {
        return Ok(Route::Proxy { url: ProxyUrl::parse(value, from)?, from: from.to_owned() });
    }
    let scheme = if api_url.scheme() == "http" { "http_proxy" } else { "https_proxy" };
    let Some((var, value)) = first_set(env, &[scheme, &scheme.to_uppercase(), "all_proxy", "ALL_PROXY"]) else {
        return Ok(Route::Direct);
    };
    let url = ProxyUrl::parse(&value, &var)?;
    let no_proxy = first_set(env, &["no_proxy", "NO_PROXY"]).map(|(_, v)| v).unwrap_or_default();
    // hyper-util's matcher is the one reqwest itself uses for these
    // variables: NO_PROXY means here what it means to reqwest and curl.
    let matcher = Matcher::builder().http(url.expose()).https(url.expose()).no(no_proxy).build();
    let uri: hyper::Uri =
        api_url.as_str().parse().map_err(|e| anyhow!("API URL {api_url} cannot be used for a request: {e}"))?;
    if matcher.intercept(&uri).is_none() {
        return Ok(Route::Direct);
    }
    Ok(Route::Proxy { url, from: var })
}

/// The first of `names` set to a non-empty value, with its name.
fn first_set(env: &Env, names: &[&str]) -> Option<(String, String)> {
    names.iter().find_map(|n| nonempty(env, n).map(|v| ((*n).to_owned(), v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn shown(api: &str, setting: Option<&str>, vars: &[(&str, &str)]) -> String {
        let url = Url::parse(api).expect("a URL");
        match route(&url, setting.map(|s| (s, "--proxy")), &env(vars)) {
            Ok(r) => r.to_string(),
            Err(e) => format!("error: {e:#}"),
        }
    }

    /// Every source of a proxy, in order, with NO_PROXY and loopback.
    #[test]
    fn the_route_follows_flag_then_variables_and_never_proxies_loopback() {
        let api = "https://api.vendor.example/v1";
        let proxied = [("HTTPS_PROXY", "http://proxy.corp:3128")];
        // (API URL, --proxy, environment, what the route shows)
        type Case<'a> = (&'a str, Option<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
        let cases: Vec<Case<'_>> = vec![
            (api, None, vec![], "direct"),
            (api, None, proxied.to_vec(), "through the proxy http://proxy.corp:3128 (from HTTPS_PROXY)"),
            (
                api,
                None,
                vec![("https_proxy", "lower:8080"), ("HTTPS_PROXY", "http://upper:3128")],
                "through the proxy http://lower:8080 (from https_proxy)",
            ),
            (api, None, vec![("ALL_PROXY", "http://all:1")], "through the proxy http://all:1 (from ALL_PROXY)"),
            // HTTP_PROXY is for http:// URLs, which are loopback only.
            (api, None, vec![("HTTP_PROXY", "http://plain:1")], "direct"),
            (api, None, vec![("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "vendor.example")], "direct"),
            (api, None, vec![("HTTPS_PROXY", "http://p:1"), ("no_proxy", ".example")], "direct"),
            (api, None, vec![("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "*")], "direct"),
            (
                api,
                None,
                vec![("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "other.example,10.0.0.0/8")],
                "through the proxy http://p:1 (from HTTPS_PROXY)",
            ),
            ("https://10.1.2.3/v1", None, vec![("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "10.0.0.0/8")], "direct"),
            (api, Some("https://flag:8443"), proxied.to_vec(), "through the proxy https://flag:8443 (from --proxy)"),
            (
                api,
                Some("https://flag:8443"),
                vec![("NO_PROXY", "*")],
                "through the proxy https://flag:8443 (from --proxy)",
            ),
            // Loopback: direct whatever is set.
            ("http://127.0.0.1:8080", None, vec![("HTTP_PROXY", "http://p:1"), ("ALL_PROXY", "http://p:1")], "direct"),
            ("http://localhost:1", Some("http://p:1"), proxied.to_vec(), "direct"),
            ("https://[::1]:1", None, proxied.to_vec(), "direct"),
            ("http://[::ffff:127.0.0.1]:1", None, vec![("HTTP_PROXY", "http://p:1")], "direct"),
            // Bad values are bad settings, named but not quoted.
            (api, None, vec![("HTTPS_PROXY", "socks5://u:pw@p:1")], "error: HTTPS_PROXY: a socks5:// proxy"),
            (api, Some("http://u:pw@[::1"), vec![], "error: --proxy is not a proxy URL"),
        ];
        for (api, setting, vars, want) in cases {
            let got = shown(api, setting, &vars);
            assert!(got.starts_with(want), "{api} {setting:?} {vars:?}\n  got:  {got}\n  want: {want}");
            assert!(!got.contains("pw"), "a password was shown: {got}");
        }
    }

    #[test]
    fn credentials_are_never_shown() {
        let url = ProxyUrl::parse("http://alice:s3cret@proxy.corp:3128", "--proxy").expect("valid");
        assert!(url.has_credentials());
        assert_eq!(url.to_string(), "http://***@proxy.corp:3128");
        assert_eq!(format!("{url:?}"), "ProxyUrl(http://***@proxy.corp:3128)");
        assert!(url.expose().contains("s3cret"), "the client still gets them");
        let route = Route::Proxy { url, from: "--proxy".into() };
        assert!(!format!("{route} {route:?}").contains("s3cret"));
        assert_eq!(
            ProxyUrl::parse("proxy.corp:3128", "x").map(|u| u.to_string()).ok().as_deref(),
            Some("http://proxy.corp:3128")
        );
    }
}
