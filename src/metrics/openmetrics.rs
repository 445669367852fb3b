//! The OpenMetrics 1.0 text format (<https://prometheus.io/docs/specs/om/open_metrics_spec/>), for
//! scrapers that ask for it (`Accept: application/openmetrics-text`): the same families as the
//! Prometheus text format, a counter's family named without its `_total` suffix (its sample keeps
//! it), escaped label values and help, and `# EOF` at the end.

use std::fmt::Write;

use prometheus::proto::{LabelPair, MetricFamily, MetricType};

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn sample(out: &mut String, name: &str, labels: &[LabelPair], extra: Option<(&str, &str)>, v: f64) {
    out.push_str(name);
    let pairs: Vec<(&str, &str)> = labels
        .iter()
        .map(|l| (l.name(), l.value()))
        .chain(extra)
        .collect();
    if !pairs.is_empty() {
        out.push('{');
        for (i, (k, val)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape(val, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&number(v));
    out.push('\n');
}

/// Encodes the gathered families; a summary or untyped family becomes `unknown` (scimdrift has
/// none of either).
pub fn encode(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for f in families {
        let name = f.name();
        let (family, kind) = match f.get_field_type() {
            MetricType::COUNTER => (name.strip_suffix("_total").unwrap_or(name), "counter"),
            MetricType::GAUGE => (name, "gauge"),
            MetricType::HISTOGRAM => (name, "histogram"),
            MetricType::SUMMARY | MetricType::UNTYPED => (name, "unknown"),
        };
        let _ = writeln!(out, "# TYPE {family} {kind}");
        if !f.help().is_empty() {
            out.push_str("# HELP ");
            out.push_str(family);
            out.push(' ');
            escape(f.help(), &mut out);
            out.push('\n');
        }
        for m in f.get_metric() {
            let labels = m.get_label();
            match f.get_field_type() {
                MetricType::COUNTER => sample(
                    &mut out,
                    &format!("{family}_total"),
                    labels,
                    None,
                    m.get_counter().get_value(),
                ),
                MetricType::GAUGE => {
                    sample(&mut out, family, labels, None, m.get_gauge().get_value())
                }
                MetricType::HISTOGRAM => {
                    let h = m.get_histogram();
                    let bucket = format!("{family}_bucket");
                    for b in h.get_bucket() {
                        let le = number(b.upper_bound());
                        sample(
                            &mut out,
                            &bucket,
                            labels,
                            Some(("le", &le)),
                            b.cumulative_count() as f64,
                        );
                    }
                    let count = h.get_sample_count() as f64;
                    sample(&mut out, &bucket, labels, Some(("le", "+Inf")), count);
                    sample(&mut out, &format!("{family}_count"), labels, None, count);
                    sample(
                        &mut out,
                        &format!("{family}_sum"),
                        labels,
                        None,
                        h.get_sample_sum(),
                    );
                }
                MetricType::SUMMARY | MetricType::UNTYPED => {}
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

    #[test]
    fn counters_lose_total_in_their_family_and_every_exposition_ends_with_eof() {
        let r = Registry::new();
        let c = IntCounterVec::new(
            Opts::new("x_requests_total", "Requests \"made\"\nby api."),
            &["api"],
        )
        .unwrap();
        r.register(Box::new(c.clone())).unwrap();
        c.with_label_values(&["a\"b\\c"]).inc_by(3);
        let g = IntGauge::new("x_up", "Up.").unwrap();
        r.register(Box::new(g.clone())).unwrap();
        g.set(1);
        let h =
            Histogram::with_opts(HistogramOpts::new("x_seconds", "Time.").buckets(vec![0.5, 1.0]))
                .unwrap();
        r.register(Box::new(h.clone())).unwrap();
        h.observe(0.7);
        let text = encode(&r.gather());
        assert!(text.contains("# TYPE x_requests counter\n"), "{text}");
        assert!(
            text.contains("# HELP x_requests Requests \\\"made\\\"\\nby api.\n"),
            "{text}"
        );
        assert!(
            text.contains("x_requests_total{api=\"a\\\"b\\\\c\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE x_up gauge\nx_up 1\n") || text.contains("x_up 1\n"),
            "{text}"
        );
        assert!(text.contains("x_seconds_bucket{le=\"0.5\"} 0\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"1\"} 1\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"+Inf\"} 1\n"), "{text}");
        assert!(
            text.contains("x_seconds_count 1\nx_seconds_sum 0.7\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text.matches("# EOF").count(), 1);
    }
}
