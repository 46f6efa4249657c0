//! The text log format (the default), written directly.
//!
//! The layout of tracing-subscriber's default `Full` format without ANSI
//! colours or targets: `2026-12-07T14:43:01.116620Z  INFO request
//! client="127.0.0.1" status=200 …`. That formatter goes through `Debug`
//! for every string field and its own clock formatting; with one access
//! log line per request it cost cache hits a seventh of their rate more
//! than the JSON lines did (`bench/loadtest.sh`'s hits, logging on).

use super::json::timestamp;

pub(super) struct TextLines;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for TextLines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut w: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let stamp = timestamp(now.as_secs(), now.subsec_micros());
        w.write_str(std::str::from_utf8(&stamp).expect("ASCII"))?;
        // Right-aligned in five columns, as the default format does.
        let level = match *event.metadata().level() {
            tracing::Level::TRACE => "TRACE",
            tracing::Level::DEBUG => "DEBUG",
            tracing::Level::INFO => " INFO",
            tracing::Level::WARN => " WARN",
            tracing::Level::ERROR => "ERROR",
        };
        w.write_char(' ')?;
        w.write_str(level)?;
        w.write_char(' ')?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                w.write_str(span.name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<tracing_subscriber::fmt::FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(w, "{{{fields}}}")?;
                }
                w.write_str(": ")?;
            }
        }
        let mut fields = TextFields {
            out: &mut w,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        w.write_char('\n')
    }
}

/// `message` as it is, then ` name=value` for every other field: strings
/// quoted and escaped as `Debug` does, everything else as its `Debug`.
struct TextFields<'a, W> {
    out: &'a mut W,
    first: bool,
    result: std::fmt::Result,
}

impl<W: std::fmt::Write> TextFields<'_, W> {
    fn field(
        &mut self,
        field: &tracing::field::Field,
        value: impl FnOnce(&mut W) -> std::fmt::Result,
    ) {
        if self.result.is_ok() {
            self.result = (|| {
                if field.name() != "message" {
                    if !self.first {
                        self.out.write_char(' ')?;
                    }
                    self.out.write_str(field.name())?;
                    self.out.write_char('=')?;
                }
                self.first = false;
                value(self.out)
            })();
        }
    }
}

impl<W: std::fmt::Write> tracing::field::Visit for TextFields<'_, W> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.field(field, |w| w.write_str(value));
        } else {
            self.field(field, |w| quoted(w, value));
        }
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.field(field, |w| write!(w, "{value:?}"));
    }
}

/// `s` in quotes, as `Debug` writes a string. Nearly every value (paths,
/// addresses, user agents) is printable ASCII with no quote or backslash,
/// and is copied as it is.
fn quoted(w: &mut impl std::fmt::Write, s: &str) -> std::fmt::Result {
    if s.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        w.write_char('"')?;
        w.write_str(s)?;
        w.write_char('"')
    } else {
        write!(w, "{s:?}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    /// The lines `f` logs with the default format and with [`TextLines`]
    /// (timestamps cut off).
    fn both(f: impl Fn()) -> (String, String) {
        let run = |ours: bool| {
            let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
            let writer = {
                let buf = buf.clone();
                move || Capture(buf.clone())
            };
            let builder = tracing_subscriber::fmt()
                .with_target(false)
                .with_ansi(false)
                .with_writer(writer);
            if ours {
                tracing::subscriber::with_default(
                    builder.event_format(super::TextLines).finish(),
                    &f,
                );
            } else {
                tracing::subscriber::with_default(builder.finish(), &f);
            }
            let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|l| &l[27..])
                .collect::<Vec<_>>()
                .join("\n")
        };
        (run(false), run(true))
    }

    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_the_default_formats() {
        let (theirs, ours) = both(|| {
            tracing::info!(
                client = "127.0.0.1",
                path = "/cards/report.png?role=A%20\"b\"\\",
                status = 200u16,
                bytes = 33_545u64,
                ms = 0.12f64,
                user_agent = "Mozilla/5.0 ☃\u{7}",
                "request"
            );
            tracing::warn!(error = %"no such template", "warming a card failed");
            let names = ["report", "square"];
            tracing::info!(addr = "127.0.0.1:80", templates = ?names, "listening");
            let span = tracing::info_span!("reload", dir = "templates");
            let _entered = span.enter();
            tracing::error!(n = -3i64, ok = true, "inside");
        });
        assert_eq!(ours, theirs);
        assert!(
            ours.contains("path=\"/cards/report.png?role=A%20\\\"b\\\"\\\\\""),
            "{ours}"
        );
    }
}
