//! The time stamp drawn into benchmark frames, and read back from them: `latency` reads it
//! with the ffmpeg CLI, `webrtc` in a browser (which hands the block values back to
//! [`read_stamp`]).
//!
//! A frame's top row of blocks holds two markers (white, black), then 24 bits, most
//! significant first: the wall-clock time in milliseconds since the Unix epoch, modulo 2^24
//! (about 4.7 hours), so that any process on the same machine (a browser's `Date.now()`) can
//! compare it with its own clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Blocks in the stamp row: two markers (white, black), then 24 bits, most significant first.
pub(crate) const BLOCKS: u32 = 26;
/// The stamp's values wrap at 2^24 ms.
const MASK: u32 = 0xff_ffff;

/// The side of the stamp blocks, in pixels, for a canvas `width` wide.
pub(crate) fn block_size(width: u32) -> u32 {
    (width / 32).max(8) & !1
}

/// Now, as a stamp: wall-clock milliseconds since the Unix epoch, modulo 2^24.
pub(crate) fn now() -> u32 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    from_epoch_ms(ms as u64)
}

/// A wall-clock time in milliseconds since the Unix epoch (a browser's `Date.now()`), as a
/// stamp.
pub(crate) fn from_epoch_ms(ms: u64) -> u32 {
    (ms & u64::from(MASK)) as u32
}

/// How long before `now_ms` (a stamp of the wall clock, see [`now`]) `stamp` was taken.
pub(crate) fn age(stamp: u32, now_ms: u32) -> Duration {
    Duration::from_millis(u64::from(now_ms.wrapping_sub(stamp) & MASK))
}

/// Draws a frame: a grey background with a bar that moves each frame (so that the encoder
/// has something to do), and the stamp row.
pub(crate) fn draw((width, height): (u32, u32), frame: u64, stamp_ms: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut data = vec![0x40u8; w * h * 4];
    let bar = (frame as usize * 16) % w;
    for row in data.chunks_exact_mut(w * 4) {
        for x in bar..(bar + 64).min(w) {
            row[x * 4..x * 4 + 3].copy_from_slice(&[0xe0, 0x60, 0x20]);
        }
    }
    let block = block_size(width) as usize;
    for i in 0..BLOCKS as usize {
        let white = match i {
            0 => true,
            1 => false,
            bit => stamp_ms >> (23 - (bit - 2)) & 1 == 1,
        };
        let value = if white { 0xff } else { 0x00 };
        for y in 0..block.min(h) {
            let start = (y * w + i * block) * 4;
            data[start..start + block * 4].fill(value);
        }
    }
    for pixel in data.chunks_exact_mut(4) {
        pixel[3] = 0xff;
    }
    data
}

/// Reads a stamp from the grey values of one stamp row (one per block), if its markers are
/// right.
pub(crate) fn read_stamp(row: &[u8]) -> Option<u32> {
    if row.len() != BLOCKS as usize || row[0] < 160 || row[1] > 96 {
        return None;
    }
    Some(
        row[2..]
            .iter()
            .fold(0u32, |value, &grey| value << 1 | u32::from(grey >= 128)),
    )
}

/// The stamping source: a thread drawing a frame every 1/fps, stamped with [`now`] as it is
/// drawn, and handing it to `sink`, until `stop` or the sink refuses.
pub(crate) fn stamp_source(
    size: (u32, u32),
    fps: u32,
    stop: Arc<AtomicBool>,
    mut sink: impl FnMut(Vec<u8>) -> bool + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("latency.stamp".into())
        .spawn(move || {
            let start = Instant::now();
            let interval = Duration::from_secs_f64(1.0 / f64::from(fps));
            for frame in 0u64.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let due = start + interval * frame as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                if !sink(draw(size, frame, now())) {
                    break;
                }
            }
        })
        .expect("the stamp thread")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drawn_stamp_reads_back() {
        let size = (640, 360);
        let data = draw(size, 3, 0xabcdef);
        let block = block_size(size.0) as usize;
        // One grey value per block, as the player's scaling gives them (the block's middle).
        let row: Vec<u8> = (0..BLOCKS as usize)
            .map(|i| data[((block / 2) * size.0 as usize + i * block + block / 2) * 4])
            .collect();
        assert_eq!(read_stamp(&row), Some(0xabcdef));
        let mut broken = row.clone();
        broken[0] = 0;
        assert_eq!(read_stamp(&broken), None);
    }

    #[test]
    fn ages_wrap_with_the_stamp() {
        assert_eq!(age(10, 250), Duration::from_millis(240));
        assert_eq!(age(MASK - 9, 30), Duration::from_millis(40));
    }
}
