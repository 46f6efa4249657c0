//! The routes the service answers, matched once from a request's path.

/// Every route the service answers, matched once from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/`: the front page.
    Home,
    Healthz,
    Readyz,
    Metrics,
    Robots,
    Favicon,
    Templates,
    OpenApi,
    Preview,
    /// `/cards/{template}.png`
    Card,
    /// `/share/{template}`
    Share,
    /// Nothing here: 404.
    Other,
}

impl Route {
    pub(crate) fn of(path: &str) -> Route {
        match path {
            "/" => Route::Home,
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            "/metrics" => Route::Metrics,
            "/robots.txt" => Route::Robots,
            "/favicon.ico" => Route::Favicon,
            "/templates" => Route::Templates,
            "/openapi.json" => Route::OpenApi,
            "/preview" => Route::Preview,
            p if p.starts_with("/cards/") => Route::Card,
            // `/share` too: a person who trims the link gets the page in
            // words that lists the share pages, as `/share/` does.
            p if p.starts_with("/share/") || p == "/share" => Route::Share,
            _ => Route::Other,
        }
    }

    /// Routes people open in a browser: their errors are HTML pages in
    /// words; every other route answers errors in JSON.
    pub(crate) fn is_for_people(self) -> bool {
        matches!(self, Route::Home | Route::Share | Route::Preview)
    }

    /// The route's name in metrics and logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Route::Home => "home",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Metrics => "metrics",
            Route::Robots => "robots",
            Route::Favicon => "favicon",
            Route::Templates => "templates",
            Route::OpenApi => "openapi",
            Route::Preview => "preview",
            Route::Card => "card",
            Route::Share => "share",
            Route::Other => "other",
        }
    }
}
