//! Command line and environment configuration.
//!
//! Every flag has a `SHARECARD_*` environment variable and a default that
//! serves real cards with nothing else installed: bundled fonts, bundled
//! templates, an in-memory cache.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use sharecard_render::card::LevelBands;
use sharecard_render::render::{Renderer, Sources};

#[derive(Debug, Parser)]
#[command(
    name = "sharecard",
    version,
    about = "Renders social share cards (AI automation risk report cards) as PNG images.",
    long_about = "Renders social share cards (AI automation risk report cards) as PNG images.\n\n\
                  With no subcommand, `sharecard` runs `serve`.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start-up
pub enum Command {
    /// Run the HTTP service (the default).
    Serve(ServeArgs),
    /// Print a signed URL for a card or share page path.
    Sign(SignArgs),
    /// Render one card to a file, or a batch from a JSON-lines file.
    Render(RenderArgs),
    /// Check that every template renders every sample card and all text fits.
    Check(CheckArgs),
    /// Fetch a list of cards from a running service so they are cached.
    Warm(WarmArgs),
}

impl Cli {
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// What decides how a card looks: shared by every subcommand that renders.
#[derive(Debug, Clone, Args)]
pub struct CardArgs {
    /// Site name printed on every card.
    #[arg(long, env = "SHARECARD_BRAND", default_value = "willaireplace.me")]
    pub brand: String,

    /// Load card templates (`*.svg`) from this directory instead of the
    /// bundled ones.
    #[arg(long, env = "SHARECARD_TEMPLATES_DIR", value_name = "DIR")]
    pub templates_dir: Option<PathBuf>,

    /// Load additional fonts (`.ttf`, `.otf`, `.ttc`) from this directory,
    /// after the bundled ones, e.g. for CJK (emoji are bundled).
    #[arg(long, env = "SHARECARD_FONTS_DIR", value_name = "DIR")]
    pub fonts_dir: Option<PathBuf>,

    /// First percentage of the elevated, high and critical levels, used when
    /// a card gives no `level`.
    #[arg(
        long,
        env = "SHARECARD_LEVEL_BANDS",
        default_value = "30,75,90",
        value_name = "E,H,C"
    )]
    pub level_bands: LevelBands,
}

impl CardArgs {
    /// The renderer these arguments describe (see [`Renderer::load`]).
    pub fn load_renderer(&self) -> anyhow::Result<std::sync::Arc<Renderer>> {
        Renderer::load(Sources {
            fonts_dir: self.fonts_dir.as_deref(),
            templates_dir: self.templates_dir.as_deref(),
            brand: &self.brand,
        })
    }
}

/// Where the service and the site live, for absolute URLs in share pages.
#[derive(Debug, Clone, Args)]
pub struct SiteArgs {
    /// Public base URL of this service (scheme, host, optional port and
    /// path prefix), for the absolute URLs of share pages: og:image,
    /// og:url and canonical. Left at the default, crawlers are pointed at
    /// localhost and no platform unfurls a card (a warning says so).
    #[arg(
        long,
        env = "SHARECARD_PUBLIC_URL",
        default_value = DEFAULT_PUBLIC_URL,
        value_parser = parse_public_url
    )]
    pub public_url: String,

    /// The website whose cards these are; share pages link back to it.
    #[arg(
        long,
        env = "SHARECARD_SITE_URL",
        default_value = "https://willaireplace.me"
    )]
    pub site_url: String,

    /// Path of a role's page on the site; `{slug}` is the role in lower
    /// case with dashes (e.g. ml-engineer).
    #[arg(long, env = "SHARECARD_ROLE_PATH", default_value = "/roles/{slug}")]
    pub role_path: String,
}

#[derive(Debug, Clone, Args)]
pub struct SigningArgs {
    /// HMAC key for signed URLs, at least 16 bytes. Repeat for rotation:
    /// the first signs (`sign`, `warm`), all verify (`serve`, which serves
    /// unsigned URLs when given none).
    #[arg(
        long = "signing-key",
        env = "SHARECARD_SIGNING_KEYS",
        value_delimiter = ',',
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub signing_keys: Vec<String>,

    /// File of HMAC keys, one per line (a mounted Kubernetes Secret): the
    /// first signs, all verify; blank lines and `#` comments are skipped.
    /// Read once at start-up; used instead of --signing-key.
    #[arg(
        long = "signing-key-file",
        env = "SHARECARD_SIGNING_KEY_FILE",
        value_name = "PATH",
        conflicts_with = "signing_keys"
    )]
    pub signing_key_file: Option<PathBuf>,
}

impl SigningArgs {
    /// The keys from --signing-key or --signing-key-file, first signs.
    ///
    /// A setting that is present but holds no key is an error, never
    /// "no signing": an unpopulated Secret or a blank variable must not
    /// remove the only access control. So `SHARECARD_SIGNING_KEYS=' '`,
    /// `--signing-key ''`, a stray comma and an empty
    /// `SHARECARD_SIGNING_KEY_FILE` all refuse to start.
    pub fn keys(&self) -> anyhow::Result<Vec<String>> {
        self.keys_with_env(|name| std::env::var_os(name).is_some())
    }

    /// [`keys`](Self::keys), with `is_set` saying which variables exist
    /// (clap reads an empty variable as absent).
    fn keys_with_env(&self, is_set: impl Fn(&str) -> bool) -> anyhow::Result<Vec<String>> {
        let Some(file) = &self.signing_key_file else {
            if self.signing_keys.is_empty() {
                for var in ["SHARECARD_SIGNING_KEYS", "SHARECARD_SIGNING_KEY_FILE"] {
                    if is_set(var) {
                        anyhow::bail!(
                            "{var} is set but holds no key; set it to the keys, or unset it \
                             to serve unsigned URLs"
                        );
                    }
                }
            }
            if let Some(blank) = self.signing_keys.iter().position(|k| k.trim().is_empty()) {
                anyhow::bail!(
                    "--signing-key (SHARECARD_SIGNING_KEYS) key #{} is blank; give every key \
                     (comma-separated), or no key setting to serve unsigned URLs",
                    blank + 1
                );
            }
            return Ok(self.signing_keys.clone());
        };
        if file.as_os_str().is_empty() {
            anyhow::bail!("--signing-key-file (SHARECARD_SIGNING_KEY_FILE) is set but empty");
        }
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("reading --signing-key-file {}: {e}", file.display()))?;
        let keys: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        if keys.is_empty() {
            anyhow::bail!("--signing-key-file {} holds no key", file.display());
        }
        Ok(keys)
    }
}

#[derive(Debug, Clone, Args)]
pub struct SignArgs {
    #[command(flatten)]
    pub signing: SigningArgs,

    /// The templates, fonts and level bands the service runs with: the
    /// card is checked against them before it is signed.
    #[command(flatten)]
    pub card: CardArgs,

    /// Add `exp` so the URL stops working after this long (e.g. 7d).
    #[arg(long, value_parser = parse_duration)]
    pub expires_in: Option<Duration>,

    /// Print an absolute URL with this base instead of a bare path.
    #[arg(long, env = "SHARECARD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The path and query to sign, e.g. '/cards/report.png?role=ML%20Engineer&risk=48'.
    pub url: String,
}

#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub card: CardArgs,

    /// Template to render.
    #[arg(long, default_value = "report")]
    pub template: String,
    /// The job title on the card (required), e.g. 'ML Engineer'.
    #[arg(long)]
    pub role: Option<String>,
    /// A line under the title.
    #[arg(long)]
    pub tagline: Option<String>,
    /// The headline risk percentage, 0 to 100 (required).
    #[arg(long)]
    pub risk: Option<String>,
    /// stable, elevated, high or critical [default: from --risk and
    /// --level-bands].
    #[arg(long)]
    pub level: Option<String>,
    /// The primary threat, a task name, e.g. 'Model Fine-Tuning'.
    #[arg(long)]
    pub threat: Option<String>,
    /// How automated the threat is, 0 to 100 (required with --threat).
    #[arg(long)]
    pub threat_risk: Option<String>,
    /// dark or light [default: dark].
    #[arg(long)]
    pub theme: Option<String>,
    /// 1, 2 or 3: pixel density [default: 1].
    #[arg(long)]
    pub scale: Option<String>,

    /// Any template's field, by its URL parameter: `--field
    /// tasks.0.name="Model Fine-Tuning"`. Repeat it for each field.
    #[arg(long = "field", value_name = "PARAM=VALUE")]
    pub fields: Vec<String>,

    /// The card as a JSON object shaped like the template's `card`, as a
    /// batch line has it: `--card '{"role": "Nurse", "tasks": [{"name":
    /// "Charting", "risk": 58}, …]}'`.
    #[arg(long = "card", value_name = "JSON", conflicts_with = "batch")]
    pub card_json: Option<String>,

    /// Output file for a single card [default: the card's download name,
    /// e.g. ml-engineer-report.png, ml-engineer-report-light@2x.png].
    #[arg(short, long, value_name = "FILE", conflicts_with = "batch")]
    pub out: Option<PathBuf>,

    /// Render every card in this JSON-lines file (one card object per
    /// line, with the same fields as the URL parameters, plus optional
    /// `template` and `name`).
    #[arg(long, value_name = "FILE")]
    pub batch: Option<PathBuf>,

    /// Folder for batch output.
    #[arg(long, value_name = "DIR", default_value = "cards")]
    pub out_dir: PathBuf,

    /// Re-render cards whose file already exists.
    #[arg(long)]
    pub force: bool,

    /// Parallel renders [default: number of CPU cores].
    #[arg(long)]
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub card: CardArgs,
}

#[derive(Debug, Clone, Args)]
pub struct WarmArgs {
    #[command(flatten)]
    pub signing: SigningArgs,

    /// The templates whose cards JSON lines name.
    #[command(flatten)]
    pub card: CardArgs,

    /// Base URL of the running service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,

    /// The formats to fetch each JSON-lines card in (paths name their
    /// own): `png`, `webp`, or both, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "png")]
    pub format: Vec<CardFormat>,

    /// Cards to fetch: a JSON-lines file as for `render --batch`, or lines
    /// that are paths such as `/cards/report.png?role=…` or `.webp`.
    pub file: PathBuf,
}

/// A format cards are served in: the extension of their URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CardFormat {
    Png,
    Webp,
}

impl CardFormat {
    pub fn extension(self) -> &'static str {
        match self {
            CardFormat::Png => "png",
            CardFormat::Webp => "webp",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub card: CardArgs,

    #[command(flatten)]
    pub site: SiteArgs,

    #[command(flatten)]
    pub signing: SigningArgs,

    /// Pre-render the cards in this file (JSON lines, as for `render
    /// --batch`) into the cache after start-up, in the background.
    #[arg(long, env = "SHARECARD_WARM", value_name = "FILE")]
    pub warm: Option<PathBuf>,

    /// Address and port to listen on.
    #[arg(long, env = "SHARECARD_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Serve /metrics on this address instead of --listen (e.g.
    /// 0.0.0.0:9090), so the public port does not expose them. It also
    /// answers /healthz and /readyz.
    #[arg(long, env = "SHARECARD_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Proxies (addresses or CIDR ranges, comma-separated) whose
    /// `X-Forwarded-For` names the client in the access log; from any other
    /// peer the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "SHARECARD_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDR",
        value_parser = parse_net
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Memory budget of the PNG cache, in MiB.
    #[arg(long, env = "SHARECARD_CACHE_MB", default_value_t = 256)]
    pub cache_mb: u64,

    /// How long a rendered card stays cached (e.g. 90s, 30m, 24h, 7d).
    #[arg(long, env = "SHARECARD_CACHE_TTL", default_value = "24h", value_parser = parse_duration)]
    pub cache_ttl: Duration,

    /// Renders that may run at once [default: number of CPU cores].
    #[arg(long, env = "SHARECARD_RENDER_THREADS")]
    pub render_threads: Option<usize>,

    /// Renders that may wait for a thread; past that, misses get 503
    /// [default: 4 × render threads].
    #[arg(long, env = "SHARECARD_RENDER_QUEUE")]
    pub render_queue: Option<usize>,

    /// Longest a request waits for its card to render before a 503 (the
    /// render carries on and fills the cache).
    #[arg(long, env = "SHARECARD_RENDER_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub render_timeout: Duration,

    /// Open connections allowed at once; more wait in the listen backlog.
    #[arg(long, env = "SHARECARD_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Re-encode cached cards smaller (lossless, zlib level 9) on a low-priority
    /// background thread; the first responses use a fast encoding.
    #[arg(long, env = "SHARECARD_RECOMPRESS", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub recompress: bool,

    /// `Cache-Control` of a card's final bytes, and of share pages.
    #[arg(
        long,
        env = "SHARECARD_CACHE_CONTROL",
        default_value = "public, max-age=86400, stale-while-revalidate=604800"
    )]
    pub cache_control: String,

    /// `Cache-Control` of a card's final bytes at a URL whose `v` is the
    /// template's current version (the URLs share pages and `sign` give):
    /// the bytes at such a URL never change. Empty: --cache-control.
    #[arg(
        long,
        env = "SHARECARD_VERSIONED_CACHE_CONTROL",
        default_value = "public, max-age=31536000, immutable"
    )]
    pub versioned_cache_control: String,

    /// How long caches may keep a draft: a card's first bytes, which
    /// recompression replaces with smaller ones. After it they ask again
    /// and get the final bytes (a new ETag, the long lifetime).
    #[arg(long, env = "SHARECARD_DRAFT_MAX_AGE", default_value = "10s", value_parser = parse_duration)]
    pub draft_max_age: Duration,

    /// Time a client has to send a request head, counted from when the
    /// connection opens or falls idle: also closes idle keep-alive
    /// connections.
    #[arg(long, env = "SHARECARD_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// How long a connection may hold a response the client does not
    /// read (nothing taken off the socket, or an HTTP/2 flow-control
    /// window kept shut) before it is closed; each --min-send-rate bytes
    /// the client takes meanwhile adds a second.
    #[arg(long, env = "SHARECARD_SEND_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
    pub send_timeout: Duration,

    /// Bytes per second a client must take while it holds up a response
    /// (see --send-timeout): far below any real link, so only a client
    /// that trickles is closed.
    #[arg(
        long,
        env = "SHARECARD_MIN_SEND_RATE",
        default_value_t = 1024,
        value_name = "BYTES"
    )]
    pub min_send_rate: u64,

    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    #[arg(long, env = "SHARECARD_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Log line format.
    #[arg(long, env = "SHARECARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl ServeArgs {
    /// Defaults for tests and embedding: port 0 on loopback.
    pub fn for_tests() -> ServeArgs {
        // Recompression off: tests compare bodies across requests, and a
        // background re-encoding would change them mid-test (the tests of
        // recompression turn it back on).
        let cli = Cli::try_parse_from([
            "sharecard",
            "--listen",
            "127.0.0.1:0",
            "--recompress",
            "false",
        ])
        .expect("defaults parse");
        match cli.into_command() {
            Command::Serve(args) => args,
            _ => unreachable!("no subcommand given"),
        }
    }

    pub fn render_queue(&self) -> usize {
        self.render_queue.unwrap_or(4 * self.render_threads())
    }

    pub fn render_threads(&self) -> usize {
        self.render_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1)
    }
}

/// `--public-url`'s default, for local use only.
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";

/// An absolute `http(s)://` URL with a host and no query or fragment,
/// without its trailing slashes: paths are appended to it as they are.
pub fn parse_public_url(s: &str) -> Result<String, String> {
    let url = s.trim().trim_end_matches('/');
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => {}
        _ => {
            return Err(format!(
                "{s:?} must be an absolute http:// or https:// URL with a host"
            ));
        }
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(format!("{s:?} must not have a query or a fragment"));
    }
    Ok(url.to_owned())
}

/// `90s`, `30m`, `24h`, `7d`, or plain seconds.
/// An address (`10.0.0.7`) or a range (`10.0.0.0/8`).
pub fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("expected an IP address or CIDR range like 10.0.0.0/8, got {s:?}"))
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    // A bare number is seconds, as it always was here; humantime wants a
    // unit.
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("expected a duration like 90s, 30m, 24h or 7d, got {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (s, want) in [
            ("90", 90),
            ("90s", 90),
            ("30m", 1800),
            ("24h", 86400),
            ("7d", 604800),
        ] {
            assert_eq!(parse_duration(s).unwrap(), Duration::from_secs(want), "{s}");
        }
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        // `n * 86400` overflowed here once; now it is an error.
        for bad in ["", "h", "10 parsecs", "-1s", "999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_urls() {
        for (s, want) in [
            ("https://cards.example.com", "https://cards.example.com"),
            ("https://cards.example.com/", "https://cards.example.com"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://example.com/cards//", "https://example.com/cards"),
        ] {
            assert_eq!(parse_public_url(s).unwrap(), want, "{s}");
        }
        for bad in [
            "",
            "cards.example.com",
            "/cards",
            "ftp://example.com",
            "https://example.com/?a=1",
            "https://example.com/#x",
            "https://",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_subcommand_means_serve() {
        let cli = Cli::try_parse_from(["sharecard", "--brand", "x.test"]).unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("serve")
        };
        assert_eq!(args.card.brand, "x.test");
        assert_eq!(args.listen.port(), 8080);
        assert!(args.signing.signing_keys.is_empty());
        let cli = Cli::try_parse_from([
            "sharecard",
            "serve",
            "--cache-mb",
            "8",
            "--signing-key",
            "k1",
            "--signing-key",
            "k2",
        ])
        .unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("serve")
        };
        assert_eq!(args.cache_mb, 8);
        assert_eq!(args.signing.signing_keys, ["k1", "k2"]);
    }

    #[test]
    fn a_key_setting_without_a_key_is_an_error() {
        let signing = |keys: &[&str]| SigningArgs {
            signing_keys: keys.iter().map(|k| k.to_string()).collect(),
            signing_key_file: None,
        };
        let none = |_: &str| false;
        let set = |name: &str| name == "SHARECARD_SIGNING_KEYS";
        assert!(signing(&[]).keys_with_env(none).unwrap().is_empty());
        assert_eq!(
            signing(&["k1", "k2"]).keys_with_env(set).unwrap(),
            ["k1", "k2"]
        );
        for (keys, env) in [
            (&[][..], set as fn(&str) -> bool),
            (&[" "], none),
            (&["k1", ""], none),
        ] {
            let e = signing(keys).keys_with_env(env).unwrap_err().to_string();
            assert!(e.contains("holds no key") || e.contains("is blank"), "{e}");
        }
    }

    #[test]
    fn help_documents_every_flag_with_its_env_var() {
        use clap::CommandFactory;
        let help = <Cli as CommandFactory>::command()
            .render_long_help()
            .to_string();
        for flag in [
            "--listen",
            "--brand",
            "--cache-mb",
            "--cache-ttl",
            "--render-threads",
            "--templates-dir",
            "--fonts-dir",
            "--cache-control",
            "--level-bands",
        ] {
            assert!(help.contains(flag), "{flag} in --help");
        }
        assert!(help.contains("SHARECARD_CACHE_MB"));
        assert!(help.contains("[default: 256]"));
    }
}
