//! The JSON-lines log format, written directly rather than through serde.

use std::fmt::Write as _;

/// One JSON object per event: `timestamp` (RFC 3339, UTC, µs), `level`,
/// then the event's fields in order (`message` first), then `spans` (the
/// names of the spans the event is in, outermost first) if there are any.
///
/// The same shape as tracing-subscriber's JSON format with
/// `flatten_event(true)`, written directly into the line buffer: that
/// formatter builds each line through serde's map serializer and a visitor
/// per field, a large part of a cache hit's CPU (the access log writes one
/// line per request; `bench/loadtest.sh`'s hits with logging measure it).
pub(super) struct JsonLines;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonLines
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
        w.write_str("{\"timestamp\":\"")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let stamp = timestamp(now.as_secs(), now.subsec_micros());
        w.write_str(std::str::from_utf8(&stamp).expect("ASCII"))?;
        w.write_str("\",\"level\":\"")?;
        w.write_str(event.metadata().level().as_str())?;
        w.write_char('"')?;
        let mut fields = JsonFields {
            out: &mut w,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        if let Some(scope) = ctx.event_scope() {
            let mut sep = ",\"spans\":[";
            for span in scope.from_root() {
                w.write_str(sep)?;
                sep = ",";
                json_str(&mut w, span.name())?;
            }
            if sep == "," {
                w.write_char(']')?;
            }
        }
        w.write_str("}\n")
    }
}

/// `1970-01-01T00:00:00.000000Z`: RFC 3339 in UTC with microseconds, the
/// form tracing-subscriber writes. The date is computed once per second per
/// thread: going through `fmt` for its seven numbers was a visible part of
/// a log line (`bench/loadtest.sh`'s hits with logging).
pub(super) fn timestamp(secs: u64, micros: u32) -> [u8; 27] {
    thread_local! {
        static DAY_TIME: std::cell::Cell<(u64, [u8; 19])> =
            const { std::cell::Cell::new((u64::MAX, [0; 19])) };
    }
    let mut out = [0u8; 27];
    let date_time = DAY_TIME.with(|cached| {
        let (at, text) = cached.get();
        if at == secs {
            return text;
        }
        let text = date_time(secs);
        cached.set((secs, text));
        text
    });
    out[..19].copy_from_slice(&date_time);
    out[19] = b'.';
    digits(&mut out[20..26], u64::from(micros));
    out[26] = b'Z';
    out
}

/// `YYYY-MM-DDTHH:MM:SS` for Unix seconds (proleptic Gregorian calendar;
/// days to civil date after Howard Hinnant's `civil_from_days`).
fn date_time(secs: u64) -> [u8; 19] {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let mut out = *b"0000-00-00T00:00:00";
    digits(&mut out[0..4], year.min(9999));
    digits(&mut out[5..7], month);
    digits(&mut out[8..10], day);
    digits(&mut out[11..13], rem / 3_600);
    digits(&mut out[14..16], rem / 60 % 60);
    digits(&mut out[17..19], rem % 60);
    out
}

/// `n` in decimal, zero-padded to fill `out`.
fn digits(out: &mut [u8], mut n: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Writes each field as `,"name":value`: numbers and booleans as JSON
/// numbers and booleans (non-finite floats as `null`), lists as arrays,
/// everything else as a string.
struct JsonFields<'a, W> {
    out: &'a mut W,
    result: std::fmt::Result,
}

impl<W: std::fmt::Write> JsonFields<'_, W> {
    fn field(
        &mut self,
        field: &tracing::field::Field,
        value: impl FnOnce(&mut W) -> std::fmt::Result,
    ) {
        if self.result.is_ok() {
            self.result = (|| {
                self.out.write_char(',')?;
                json_str(self.out, field.name())?;
                self.out.write_char(':')?;
                value(self.out)
            })();
        }
    }
}

impl<W: std::fmt::Write> tracing::field::Visit for JsonFields<'_, W> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.field(field, |w| json_str(w, value));
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

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.field(field, |w| {
            if value.is_finite() {
                write!(w, "{value}")
            } else {
                w.write_str("null")
            }
        });
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        // A list logged with `?` (`templates = ?names`) is a JSON array, not
        // a string that looks like one: the `Debug` of a slice of strings
        // or numbers is JSON already, and whatever is not stays a string.
        let text = format!("{value:?}");
        if text.starts_with('[')
            && let Ok(list) = serde_json::from_str::<Vec<serde_json::Value>>(&text)
        {
            let list = serde_json::Value::Array(list).to_string();
            self.field(field, |w| w.write_str(&list));
            return;
        }
        self.field(field, |w| json_str(w, &text));
    }
}

fn json_str(w: &mut impl std::fmt::Write, s: &str) -> std::fmt::Result {
    w.write_char('"')?;
    JsonEscape(w).write_str(s)?;
    w.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string (RFC 8259 §7):
/// quote, backslash and control characters; everything else as it is.
struct JsonEscape<'a, W>(&'a mut W);

impl<W: std::fmt::Write> std::fmt::Write for JsonEscape<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let mut start = 0;
        for (i, b) in s.bytes().enumerate() {
            let esc = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f | 0x7f => "",
                _ => continue,
            };
            self.0.write_str(&s[start..i])?;
            if esc.is_empty() {
                write!(self.0, "\\u{:04x}", b)?;
            } else {
                self.0.write_str(esc)?;
            }
            start = i + 1;
        }
        self.0.write_str(&s[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Runs `f` under a JSON-lines subscriber; returns the lines it logged.
    fn capture(f: impl FnOnce()) -> Vec<String> {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_max_level(tracing::Level::TRACE)
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'), "{text:?}");
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn timestamps() {
        for (secs, micros, want) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (951_782_400, 1, "2000-02-29T00:00:00.000001Z"),
            (951_868_799, 999_999, "2000-02-29T23:59:59.999999Z"),
            (1_709_164_800, 42, "2024-02-29T00:00:00.000042Z"),
            (1_795_953_600, 795_922, "2026-11-29T12:00:00.795922Z"),
            (4_102_444_800, 500_000, "2100-01-01T00:00:00.500000Z"),
        ] {
            // Twice: the second comes from the per-second cache.
            for _ in 0..2 {
                assert_eq!(std::str::from_utf8(&timestamp(secs, micros)).unwrap(), want);
            }
        }
    }

    #[test]
    fn json_lines_are_json_with_the_fields_as_given() {
        let nasty = "quote\" back\\ nl\n cr\r tab\t nul\0 esc\x1b del\x7f é 🦀 \u{2028}";
        let raw = capture(|| {
            tracing::info!(
                path = nasty,
                status = 200u16,
                delta = -3i64,
                ms = 0.25,
                nan = f64::NAN,
                ok = true,
                list = ?["a\"b"],
                numbers = ?[1, 2],
                not_a_list = ?"[1, 2",
                shown = %"x\ny",
                "request {}", "done\""
            );
            tracing::warn!("bare");
            let span = tracing::info_span!("outer");
            let _g = span.enter();
            tracing::error!(inner = 1u8, "in a span");
        });
        assert_eq!(raw.len(), 3);
        // Fixed keys first, in this order (serde_json's map sorts keys).
        assert!(raw[0].starts_with("{\"timestamp\":\""), "{}", raw[0]);
        assert!(
            raw[0][41..].starts_with("\",\"level\":\"INFO\",\"message\":"),
            "{}",
            raw[0]
        );
        let lines: Vec<serde_json::Value> = raw
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let first = lines[0].as_object().unwrap();
        let want = serde_json::json!({
            "level": "INFO",
            "message": "request done\"",
            "path": nasty,
            "status": 200,
            "delta": -3,
            "ms": 0.25,
            "nan": null,
            "ok": true,
            "list": ["a\"b"],
            "numbers": [1, 2],
            "not_a_list": "\"[1, 2\"",
            "shown": "x\ny",
        });
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&first[k], v, "{k}");
        }
        let ts = first["timestamp"].as_str().unwrap();
        assert!(
            ts.len() == 27 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "{ts}"
        );
        assert_eq!(
            lines[1],
            serde_json::json!({"timestamp": lines[1]["timestamp"], "level": "WARN", "message": "bare"})
        );
        assert_eq!(lines[2]["spans"], serde_json::json!(["outer"]));
        assert_eq!(lines[2]["inner"], 1);
    }
}
