//! WebRTC from a player's side.

use std::time::Instant;

/// An SDP offer to receive video and sound, as a WHEP player makes (str0m, the crate the
/// studio answers with).
pub fn whep_offer() -> String {
    use str0m::media::{Direction, MediaKind};
    let mut rtc = str0m::RtcConfig::new().build(Instant::now());
    let mut changes = rtc.sdp_api();
    changes.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    changes.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, _pending) = changes
        .apply()
        .expect("str0m makes an offer with two media");
    offer.to_sdp_string()
}
