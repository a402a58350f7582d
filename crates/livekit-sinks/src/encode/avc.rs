//! H.264 in the "AVC" form containers use: encoders emit Annex B (start codes before each NAL
//! unit, SPS/PPS in the global header), MP4/FLV/MKV and RTMP carry `avcC` headers and
//! length-prefixed NAL units. The encoder converts, so every `Packet` of H.264 in livekit has the
//! same form whether it was encoded here or read from a file.

/// The NAL units of an Annex B byte stream (without start codes or trailing zero bytes).
pub(crate) fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                units.push(trim_zeros(&data[s..i]));
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        units.push(trim_zeros(&data[s..]));
    }
    units.retain(|u| !u.is_empty());
    units
}

fn trim_zeros(unit: &[u8]) -> &[u8] {
    let end = unit.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    &unit[..end]
}

/// Whether `data` starts with an Annex B start code.
pub(crate) fn is_annex_b(data: &[u8]) -> bool {
    data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1])
}

/// An Annex B access unit as 4-byte length-prefixed NAL units.
pub(crate) fn to_length_prefixed(data: &[u8]) -> Vec<u8> {
    let units = nal_units(data);
    let mut out = Vec::with_capacity(data.len() + 4 * units.len());
    for unit in units {
        out.extend_from_slice(&(unit.len() as u32).to_be_bytes());
        out.extend_from_slice(unit);
    }
    out
}

/// An `avcC` record (ISO/IEC 14496-15) from Annex B SPS and PPS units; `None` without an SPS.
pub(crate) fn avcc_from_annex_b(data: &[u8]) -> Option<Vec<u8>> {
    let units = nal_units(data);
    let of_type = |t: u8| -> Vec<&[u8]> {
        units
            .iter()
            .copied()
            .filter(|u| u[0] & 0x1f == t && u.len() <= usize::from(u16::MAX))
            .collect()
    };
    let (sps, pps) = (of_type(7), of_type(8));
    let first = sps.first().filter(|s| s.len() >= 4)?;
    let mut out = vec![
        1,
        first[1],
        first[2],
        first[3],
        0xfc | 3, // 4-byte lengths
        0xe0 | sps.len().min(31) as u8,
    ];
    for unit in sps.iter().take(31) {
        out.extend_from_slice(&(unit.len() as u16).to_be_bytes());
        out.extend_from_slice(unit);
    }
    out.push(pps.len().min(255) as u8);
    for unit in pps.iter().take(255) {
        out.extend_from_slice(&(unit.len() as u16).to_be_bytes());
        out.extend_from_slice(unit);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: [u8; 6] = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
    const PPS: [u8; 4] = [0x68, 0xeb, 0xe3, 0xcb];

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let mut stream = vec![0, 0, 0, 1];
        stream.extend_from_slice(&SPS);
        stream.extend_from_slice(&[0, 0, 1]);
        stream.extend_from_slice(&PPS);
        stream.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0x84, 0, 0]);
        assert_eq!(
            nal_units(&stream),
            vec![&SPS[..], &PPS[..], &[0x65, 0x88, 0x84][..]]
        );
        assert!(is_annex_b(&stream));
        assert_eq!(
            to_length_prefixed(&stream),
            [
                &[0, 0, 0, 6][..],
                &SPS,
                &[0, 0, 0, 4],
                &PPS,
                &[0, 0, 0, 3, 0x65, 0x88, 0x84]
            ]
            .concat()
        );
        assert!(nal_units(&[1, 2, 3]).is_empty());
        assert!(nal_units(&[]).is_empty());
    }

    #[test]
    fn builds_avcc() {
        let stream = [&[0, 0, 0, 1][..], &SPS, &[0, 0, 0, 1], &PPS].concat();
        let avcc = avcc_from_annex_b(&stream).unwrap();
        assert_eq!(
            avcc,
            [
                &[1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 6][..],
                &SPS,
                &[1, 0, 4],
                &PPS
            ]
            .concat()
        );
        assert_eq!(avcc_from_annex_b(&[0, 0, 1, 0x68, 1, 2]), None);
    }
}
