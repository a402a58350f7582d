//! Playing to PulseAudio directly (the pure-Rust `pulseaudio` client that cpal's own
//! PulseAudio host is built on), for [`Speaker`](crate::Speaker).
//!
//! Why not through cpal: with a fixed buffer size, cpal 0.18.2 asks PulseAudio for a playback
//! buffer of two callback periods with a minimum request of one, which the server (with
//! latency adjustment) turns into a sink latency of 0.5 ms; its default buffer gives 2 s.
//! Measured on the null sink of the tests on a busy 2-core machine: through cpal a 1.5 s tone
//! came back with a gap in 1 of 2 runs; through this file it came back whole in 5 of 5. Here
//! the buffer is asked for so that the sink gets `buffer` of latency, with requests every
//! half `buffer`.

use std::ffi::CString;
use std::time::Duration;

use pulseaudio::protocol;

/// How long connecting may take before PulseAudio counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// An open playback stream; playback stops when it is dropped.
pub(crate) struct PulsePlayer {
    _client: pulseaudio::Client,
    _stream: pulseaudio::PlaybackStream,
}

/// What opening failed at.
pub(crate) enum PulseError {
    /// No server or no connection.
    Unavailable(String),
    /// No such sink.
    NotFound,
    /// The stream could not be made.
    Open(String),
}

/// Whether a PulseAudio server socket is there to try.
pub(crate) fn available() -> bool {
    pulseaudio::socket_path_from_env().is_some()
}

/// Connects (bounded by [`CONNECT_TIMEOUT`]: a hung server would block the handshake).
fn connect() -> Result<pulseaudio::Client, String> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    livekit_core::thread::spawn_named("livekit.speaker.connect", move || {
        let _ = tx.send(pulseaudio::Client::from_env(c"livekit"));
    })
    .map_err(|error| error.to_string())?;
    match rx.recv_timeout(CONNECT_TIMEOUT) {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
    }
}

/// Finds the sink (`None`: the default sink) by name, then by description.
fn find_sink(
    client: &pulseaudio::Client,
    name: Option<&str>,
) -> Result<Option<protocol::SinkInfo>, String> {
    use futures::executor::block_on;
    let Some(name) = name else {
        return Ok(block_on(client.sink_info_by_name(CString::from(protocol::DEFAULT_SINK))).ok());
    };
    let sinks = block_on(client.list_sinks()).map_err(|error| error.to_string())?;
    let text = |c: &Option<CString>| {
        c.as_ref()
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let index = sinks
        .iter()
        .position(|s| s.name.to_string_lossy() == name)
        .or_else(|| sinks.iter().position(|s| text(&s.description) == name))
        .or_else(|| {
            sinks
                .iter()
                .position(|s| text(&s.description).contains(name))
        });
    Ok(index.and_then(|index| sinks.into_iter().nth(index)))
}

/// A sink found on the server, ready to play to.
pub(crate) struct Sink {
    client: pulseaudio::Client,
    info: protocol::SinkInfo,
}

impl Sink {
    /// Connects and finds the sink.
    pub(crate) fn find(name: Option<&str>) -> Result<Self, PulseError> {
        let client = connect().map_err(PulseError::Unavailable)?;
        let info = find_sink(&client, name)
            .map_err(PulseError::Unavailable)?
            .ok_or(PulseError::NotFound)?;
        Ok(Self { client, info })
    }

    /// The sink's name.
    pub(crate) fn name(&self) -> String {
        self.info.name.to_string_lossy().into_owned()
    }

    /// The sink's own sample rate (the stream uses it, so the server does not resample).
    pub(crate) fn rate(&self) -> u32 {
        self.info.sample_spec.sample_rate
    }

    /// Opens a stereo f32 stream; `fill` writes interleaved samples into each request.
    pub(crate) fn play(
        self,
        buffer: Duration,
        mut fill: impl FnMut(&mut [f32]) + Send + 'static,
    ) -> Result<PulsePlayer, PulseError> {
        let rate = self.rate();
        let frame_bytes = 2 * 4;
        let bytes = |d: Duration| {
            ((d.as_secs_f64() * f64::from(rate)).round() as u32).max(64) * frame_bytes
        };
        let params = protocol::PlaybackStreamParams {
            sample_spec: protocol::SampleSpec {
                format: if cfg!(target_endian = "little") {
                    protocol::SampleFormat::Float32Le
                } else {
                    protocol::SampleFormat::Float32Be
                },
                channels: 2,
                sample_rate: rate,
            },
            channel_map: protocol::ChannelMap::stereo(),
            sink_index: Some(self.info.index),
            buffer_attr: protocol::stream::BufferAttr {
                max_length: u32::MAX,
                // With latency adjustment the server gives the sink (target - 2 x request) / 2:
                // here `buffer`, with requests every half `buffer`.
                target_length: bytes(buffer * 3),
                minimum_request_length: bytes(buffer / 2),
                // No prebuffering: the stream runs from the start, and the server's requests
                // drive the callback (the client only writes on a request; with a prebuffer
                // the first request can be missed and nothing starts for seconds).
                pre_buffering: 0,
                ..Default::default()
            },
            flags: protocol::stream::StreamFlags {
                start_corked: true,
                adjust_latency: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut scratch: Vec<f32> = Vec::new();
        let callback = move |out: &mut [u8]| -> usize {
            let whole = out.len() - out.len() % frame_bytes as usize;
            scratch.resize(whole / 4, 0.0);
            fill(&mut scratch);
            for (bytes, sample) in out[..whole].chunks_exact_mut(4).zip(&scratch) {
                bytes.copy_from_slice(&sample.to_ne_bytes());
            }
            // Never 0: that would mean end of stream. Silence fills what the queue lacks.
            whole.max(frame_bytes as usize).min(out.len())
        };
        use pulseaudio::AsPlaybackSource as _;
        let stream = futures::executor::block_on(
            self.client
                .create_playback_stream(params, callback.as_playback_source()),
        )
        .map_err(|error| PulseError::Open(error.to_string()))?;
        futures::executor::block_on(stream.uncork())
            .map_err(|error| PulseError::Open(error.to_string()))?;
        Ok(PulsePlayer {
            _client: self.client,
            _stream: stream,
        })
    }
}
