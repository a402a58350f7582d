//! Prometheus metrics (`/metrics`, text format 0.0.4), read from one state document per scrape.

use std::fmt::Write;

use livekit_studio::StudioState;

/// A label value as the text format writes it (`\`, `"` and new lines escaped).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.head(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// The metrics of a show. `events_lost`: events the control server's slow clients lost.
pub(crate) fn render(state: &StudioState, events_lost: u64) -> String {
    let mut out = String::with_capacity(4096);
    let mut m = Family { out: &mut out };
    let stats = &state.stats;
    m.one(
        "livekit_uptime_seconds",
        "gauge",
        "Seconds since the studio started.",
        stats.uptime_seconds,
    );
    m.one(
        "livekit_frames_rendered_total",
        "counter",
        "Canvas frames rendered, all canvases.",
        stats.frames as f64,
    );
    m.one(
        "livekit_fps",
        "gauge",
        "Canvas frames a second over the last second, all canvases.",
        stats.fps,
    );
    m.one(
        "livekit_render_milliseconds",
        "gauge",
        "Mean time a frame took to render over the last second.",
        stats.render_ms,
    );
    m.one(
        "livekit_late_frames_total",
        "counter",
        "Canvas frames skipped because rendering fell behind.",
        stats.late_frames as f64,
    );
    m.one(
        "livekit_audio_peak_dbfs",
        "gauge",
        "Peak level of the program audio over the last second (-100: silence).",
        stats.audio_peak_db,
    );
    m.one(
        "livekit_commands_applied_total",
        "counter",
        "Commands applied.",
        state.commands_applied as f64,
    );
    m.one(
        "livekit_encodes",
        "gauge",
        "Video encodes running (one per canvas with recordings or streams).",
        state.encodes as f64,
    );
    m.one(
        "livekit_control_events_lost_total",
        "counter",
        "Events lost by WebSocket clients that read too slowly.",
        events_lost as f64,
    );

    m.head(
        "livekit_whep_viewers",
        "gauge",
        "WebRTC (WHEP) viewers of each canvas, by state.",
    );
    for canvas in &state.canvases {
        for viewer_state in ["connecting", "connected"] {
            let count = canvas
                .viewers
                .iter()
                .filter(|v| v.state == viewer_state)
                .count();
            let labels = [("canvas", canvas.id.as_str()), ("state", viewer_state)];
            m.sample("livekit_whep_viewers", &labels, count as f64);
        }
    }
    m.head(
        "livekit_whep_sent_bytes_total",
        "counter",
        "Bytes sent to the WebRTC viewers of each canvas now watching.",
    );
    for canvas in &state.canvases {
        let bytes: u64 = canvas.viewers.iter().map(|v| v.bytes).sum();
        m.sample(
            "livekit_whep_sent_bytes_total",
            &[("canvas", canvas.id.as_str())],
            bytes as f64,
        );
    }

    m.head(
        "livekit_input_state",
        "gauge",
        "1 for the state each input is in.",
    );
    for input in &state.inputs {
        let labels = [
            ("input", input.id.as_str()),
            ("kind", input.input.kind()),
            ("state", input.state.as_str()),
        ];
        m.sample("livekit_input_state", &labels, 1.0);
    }

    m.head(
        "livekit_output_state",
        "gauge",
        "1 for the state each output is in.",
    );
    for output in &state.outputs {
        let labels = [
            ("output", output.id.as_str()),
            ("canvas", output.canvas.as_str()),
            ("state", output.state.as_str()),
        ];
        m.sample("livekit_output_state", &labels, 1.0);
    }
    m.head(
        "livekit_output_frames_total",
        "counter",
        "Frames given to each output.",
    );
    for output in &state.outputs {
        let labels = [("output", output.id.as_str())];
        m.sample("livekit_output_frames_total", &labels, output.frames as f64);
    }
    m.head(
        "livekit_output_dropped_frames_total",
        "counter",
        "Frames each output dropped because it fell behind.",
    );
    for output in &state.outputs {
        let labels = [("output", output.id.as_str())];
        m.sample(
            "livekit_output_dropped_frames_total",
            &labels,
            output.dropped_frames as f64,
        );
    }
    m.head(
        "livekit_recording_bytes_total",
        "counter",
        "Compressed bytes each recording has written.",
    );
    for output in &state.outputs {
        if let Some(recording) = &output.recording {
            let labels = [("output", output.id.as_str())];
            m.sample(
                "livekit_recording_bytes_total",
                &labels,
                recording.bytes as f64,
            );
        }
    }

    type Read = fn(&livekit_studio::DestinationStateDoc) -> f64;
    let destination_families: [(&str, &str, &str, Read); 4] = [
        (
            "livekit_destination_bitrate_bits_per_second",
            "gauge",
            "Bits a second each destination sent over the last second.",
            |d| d.bitrate as f64,
        ),
        (
            "livekit_destination_bytes_total",
            "counter",
            "Bytes each destination sent.",
            |d| d.bytes as f64,
        ),
        (
            "livekit_destination_dropped_packets_total",
            "counter",
            "Packets each destination lost (queue full, reconnections).",
            |d| d.dropped_packets as f64,
        ),
        (
            "livekit_destination_reconnects_total",
            "counter",
            "Connections of each destination after its first.",
            |d| d.reconnects as f64,
        ),
    ];
    m.head(
        "livekit_destination_state",
        "gauge",
        "1 for the state each destination is in.",
    );
    for output in &state.outputs {
        for destination in &output.destinations {
            let labels = [
                ("output", output.id.as_str()),
                ("destination", destination.name.as_str()),
                ("state", destination.state.as_str()),
            ];
            m.sample("livekit_destination_state", &labels, 1.0);
        }
    }
    for (name, kind, help, read) in destination_families {
        m.head(name, kind, help);
        for output in &state.outputs {
            for destination in &output.destinations {
                let labels = [
                    ("output", output.id.as_str()),
                    ("destination", destination.name.as_str()),
                ];
                m.sample(name, &labels, read(destination));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
