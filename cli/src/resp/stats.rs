//! Per-command call, error and latency figures for the metrics page. The
//! command label takes only names the server knows: a client cannot grow
//! the number of series by inventing commands.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Latency buckets, in seconds: 100 µs to 10 s.
const BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The command label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabel {
    /// One of the known names, or `unknown`: a static string, so counting
    /// a command allocates nothing.
    pub command: &'static str,
}

/// What the process's RESP front ends did, per command.
pub struct CommandStats {
    calls: Family<CommandLabel, Counter>,
    errors: Family<CommandLabel, Counter>,
    latency: Family<CommandLabel, Histogram>,
}

impl Default for CommandStats {
    fn default() -> CommandStats {
        CommandStats {
            calls: Family::default(),
            errors: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
        }
    }
}

impl CommandStats {
    /// Counts one `name` command that took `seconds`, answered with an
    /// error or not.
    pub fn record(&self, name: &str, error: bool, seconds: f64) {
        let label = CommandLabel { command: label_for(name) };
        self.calls.get_or_create(&label).inc();
        if error {
            self.errors.get_or_create(&label).inc();
        }
        self.latency.get_or_create(&label).observe(seconds);
    }

    /// Adds the figures to `r`.
    pub fn register(&self, r: &mut Registry) {
        r.register("synod_resp_commands", "RESP commands answered, by command", self.calls.clone());
        r.register("synod_resp_errors", "RESP commands answered with an error, by command", self.errors.clone());
        r.register(
            "synod_resp_command_seconds",
            "Time from a RESP command's arrival to its answer, by command",
            self.latency.clone(),
        );
    }
}

/// A command [`catalog`](super::catalog) lists, as Redis's own `INFO
/// commandstats` names it; anything else is `unknown`.
fn label_for(name: &str) -> &'static str {
    super::catalog::find(name).map_or("unknown", |e| e.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_commands_share_one_series() {
        let s = CommandStats::default();
        for i in 0..1000 {
            s.record(&format!("NOPE{i}"), true, 0.001);
        }
        s.record("get", false, 0.002);
        s.record("GET", true, 0.002);
        let mut r = Registry::default();
        s.register(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        assert!(text.contains(r#"synod_resp_commands_total{command="unknown"} 1000"#), "{text}");
        assert!(text.contains(r#"synod_resp_commands_total{command="get"} 2"#), "{text}");
        assert!(text.contains(r#"synod_resp_errors_total{command="get"} 1"#), "{text}");
        assert_eq!(text.matches("synod_resp_commands_total{").count(), 2, "{text}");
    }
}
