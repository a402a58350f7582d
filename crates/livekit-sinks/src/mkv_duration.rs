//! Keeps a Matroska file's `Duration` current while it is being written, so that a recording
//! cut short by a crash (SIGKILL, power loss after the page cache was written) still says how
//! long it is.
//!
//! FFmpeg's Matroska muxer reserves the element as an 11-byte `Void` inside the segment's `Info`
//! when it writes the header and fills it in only when the file is finalized. We find that
//! `Void` in the header on disk and overwrite it in place (same length, so nothing moves) with a
//! `Duration` element, through a file handle of our own. The muxer never writes that region
//! again until its trailer, which writes the final value there.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

const ID_EBML: u32 = 0x1A45_DFA3;
const ID_SEGMENT: u32 = 0x1853_8067;
const ID_INFO: u32 = 0x1549_A966;
const ID_TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const ID_DURATION: u32 = 0x4489;
const ID_VOID: u32 = 0xEC;
/// `Duration` as an 8-byte float: ID (2) + size (1) + value (8).
const DURATION_ELEMENT_LEN: u64 = 11;
/// How much of the file's start is read to find the element.
const HEADER_BYTES: usize = 16 << 10;

/// The reserved `Duration` of one Matroska file.
#[derive(Debug)]
pub(crate) struct LiveDuration {
    file: File,
    /// Where the reserved 11 bytes are.
    offset: u64,
    /// Nanoseconds per Matroska tick (the segment's `TimestampScale`).
    scale_ns: u64,
}

impl LiveDuration {
    /// Finds the reserved `Duration` of the Matroska file at `path` (its header written and
    /// flushed). `None` when the file has none (a duration already written, or a non-seekable
    /// output) or cannot be opened for writing.
    pub(crate) fn find(path: &Path) -> Option<Self> {
        let mut file = File::options().read(true).write(true).open(path).ok()?;
        let mut header = Vec::with_capacity(HEADER_BYTES);
        (&mut file)
            .take(HEADER_BYTES as u64)
            .read_to_end(&mut header)
            .ok()?;
        let (offset, scale_ns) = reserved_duration(&header)?;
        Some(Self {
            file,
            offset,
            scale_ns,
        })
    }

    /// Writes `nanos` as the file's duration.
    pub(crate) fn write(&self, nanos: u64) -> std::io::Result<()> {
        let ticks = nanos as f64 / self.scale_ns as f64;
        let mut element = [0u8; DURATION_ELEMENT_LEN as usize];
        element[..2].copy_from_slice(&(ID_DURATION as u16).to_be_bytes());
        element[2] = 0x88;
        element[3..].copy_from_slice(&ticks.to_be_bytes());
        self.file.write_all_at(&element, self.offset)
    }
}

/// One EBML element header: (id, data size (`None`: unknown), header length).
fn element(bytes: &[u8]) -> Option<(u32, Option<u64>, usize)> {
    let first = *bytes.first()?;
    let id_len = first.leading_zeros() as usize + 1;
    if id_len > 4 || bytes.len() < id_len {
        return None;
    }
    let id = bytes[..id_len]
        .iter()
        .fold(0u32, |id, &b| (id << 8) | u32::from(b));
    let size_first = *bytes.get(id_len)?;
    let size_len = size_first.leading_zeros() as usize + 1;
    if size_len > 8 || bytes.len() < id_len + size_len {
        return None;
    }
    let marker_cleared = u64::from(size_first) & (0xFF >> size_len);
    let size = bytes[id_len + 1..id_len + size_len]
        .iter()
        .fold(marker_cleared, |size, &b| (size << 8) | u64::from(b));
    let unknown = size == (1u64 << (7 * size_len)) - 1;
    Some((id, (!unknown).then_some(size), id_len + size_len))
}

/// The offset of the reserved `Duration` (an 11-byte `Void` in the segment's `Info`) and the
/// segment's timestamp scale, from the start of a Matroska file. `None` when `bytes` hold no
/// such element (or are not Matroska).
pub fn reserved_duration(bytes: &[u8]) -> Option<(u64, u64)> {
    let (id, size, header) = element(bytes)?;
    if id != ID_EBML {
        return None;
    }
    let mut at = header + usize::try_from(size?).ok()?;
    let (id, _, header) = element(bytes.get(at..)?)?;
    if id != ID_SEGMENT {
        return None;
    }
    at += header;
    // The segment's children: find Info (it follows the seek head and its padding).
    loop {
        let (id, size, header) = element(bytes.get(at..)?)?;
        let size = usize::try_from(size?).ok()?;
        if id == ID_INFO {
            let end = at + header + size;
            at += header;
            let mut scale_ns = 1_000_000;
            let mut void = None;
            while at < end {
                let (id, size, header) = element(bytes.get(at..end)?)?;
                let size = usize::try_from(size?).ok()?;
                match id {
                    ID_DURATION => return None,
                    ID_TIMESTAMP_SCALE => {
                        let value = bytes.get(at + header..at + header + size)?;
                        scale_ns = value.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
                    }
                    // Whole inside Info (and so inside what was read): the 11 bytes are
                    // overwritten in place.
                    ID_VOID
                        if (header + size) as u64 == DURATION_ELEMENT_LEN
                            && at + header + size <= end
                            && void.is_none() =>
                    {
                        void = Some(at as u64);
                    }
                    _ => {}
                }
                at += header + size;
            }
            return void.map(|offset| (offset, scale_ns.max(1)));
        }
        at += header + size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of a file FFmpeg 5.1's Matroska muxer wrote (header only), cut down: EBML
    /// header, segment of unknown size, a small void (the seek head's room), then Info with the
    /// CRC's room, TimestampScale, MuxingApp, the reserved duration and a SegmentUID-like tail.
    fn sample() -> Vec<u8> {
        let mut bytes = vec![0x1A, 0x45, 0xDF, 0xA3, 0x84, 0x42, 0x86, 0x81, 0x01];
        bytes.extend([
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        bytes.extend([0xEC, 0x83, 0, 0, 0]);
        let info: Vec<u8> = [
            &[0xEC, 0x84, 0, 0, 0, 0][..],
            &[0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40],
            &[0x4D, 0x80, 0x82, b'L', b'a'],
            &[0xEC, 0x01, 0, 0, 0, 0, 0, 0, 0x02, 0, 0],
            &[0x73, 0xA4, 0x82, 1, 2],
        ]
        .concat();
        bytes.extend([0x15, 0x49, 0xA9, 0x66, 0x80 | info.len() as u8]);
        bytes.extend(info);
        bytes
    }

    #[test]
    fn finds_the_reserved_duration_and_the_scale() {
        let bytes = sample();
        let (offset, scale) = reserved_duration(&bytes).unwrap();
        assert_eq!(scale, 1_000_000);
        assert_eq!(
            &bytes[offset as usize..offset as usize + 11],
            &[0xEC, 0x01, 0, 0, 0, 0, 0, 0, 0x02, 0, 0]
        );
    }

    #[test]
    fn a_written_duration_or_other_data_is_left_alone() {
        let mut bytes = sample();
        let (offset, _) = reserved_duration(&bytes).unwrap();
        let at = offset as usize;
        bytes[at..at + 3].copy_from_slice(&[0x44, 0x89, 0x88]);
        assert_eq!(reserved_duration(&bytes), None);
        assert_eq!(reserved_duration(b"RIFF0000WAVE"), None);
        assert_eq!(reserved_duration(&[]), None);
        assert_eq!(reserved_duration(&sample()[..30]), None);
    }
}
