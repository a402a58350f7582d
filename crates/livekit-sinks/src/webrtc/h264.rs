//! H.264 as WebRTC wants it: Annex B (start codes) with the parameter sets in front of every
//! keyframe, from the length-prefixed (AVCC) packets and `avcC` extradata an encoder with a
//! global header makes.

/// What turns one stream's packets into Annex B access units.
#[derive(Debug, Clone, Default)]
pub(crate) struct AnnexB {
    /// Bytes of each NAL unit's length prefix (AVCC), or `None` for packets already in Annex B.
    length_size: Option<usize>,
    /// SPS and PPS, each with its start code.
    parameter_sets: Vec<u8>,
}

const START: [u8; 4] = [0, 0, 0, 1];

impl AnnexB {
    /// For a stream whose extradata is `extradata` (`avcC`, or Annex B parameter sets, or none).
    pub(crate) fn new(extradata: &[u8]) -> Self {
        if extradata.first() != Some(&1) || extradata.len() < 7 {
            // Annex B extradata (or none): the packets carry start codes already.
            return Self {
                length_size: None,
                parameter_sets: extradata.to_vec(),
            };
        }
        let length_size = usize::from(extradata[4] & 3) + 1;
        let mut parameter_sets = Vec::new();
        let mut at = 5;
        // The SPS count (low 5 bits), then the PPS count (a byte) after the SPSs.
        let mut count = usize::from(extradata[at] & 0x1f);
        at += 1;
        for round in 0..2 {
            for _ in 0..count {
                let Some(size) = extradata
                    .get(at..at + 2)
                    .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                else {
                    break;
                };
                at += 2;
                let Some(unit) = extradata.get(at..at + size) else {
                    break;
                };
                parameter_sets.extend_from_slice(&START);
                parameter_sets.extend_from_slice(unit);
                at += size;
            }
            if round == 0 {
                count = extradata.get(at).map_or(0, |&c| usize::from(c));
                at += 1;
            }
        }
        Self {
            length_size: Some(length_size),
            parameter_sets,
        }
    }

    /// One access unit in Annex B; a keyframe gets the parameter sets first.
    pub(crate) fn convert(&self, data: &[u8], keyframe: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + self.parameter_sets.len() + 16);
        if keyframe {
            out.extend_from_slice(&self.parameter_sets);
        }
        let Some(length_size) = self.length_size else {
            out.extend_from_slice(data);
            return out;
        };
        let mut at = 0;
        while at + length_size <= data.len() {
            let size = data[at..at + length_size]
                .iter()
                .fold(0usize, |n, &b| (n << 8) | usize::from(b));
            at += length_size;
            let Some(unit) = data.get(at..at + size) else {
                break;
            };
            out.extend_from_slice(&START);
            out.extend_from_slice(unit);
            at += size;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_becomes_annex_b_with_parameter_sets_on_keyframes() {
        // avcC: version 1, profile 0x42, compat 0xc0, level 0x1f, 4-byte lengths, one SPS
        // (3 bytes), one PPS (2 bytes).
        let extradata = [
            1, 0x42, 0xc0, 0x1f, 0xff, 0xe1, 0, 3, 0x67, 0x42, 0xc0, 1, 0, 2, 0x68, 0xce,
        ];
        let annex = AnnexB::new(&extradata);
        let packet = [0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x06];
        assert_eq!(
            annex.convert(&packet, true),
            [
                0, 0, 0, 1, 0x67, 0x42, 0xc0, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0, 0,
                0, 1, 0x06
            ]
        );
        assert_eq!(
            annex.convert(&packet, false),
            [0, 0, 0, 1, 0x65, 0x88, 0, 0, 0, 1, 0x06]
        );
        // A truncated packet keeps what is whole.
        assert_eq!(annex.convert(&packet[..7], false), [0, 0, 0, 1, 0x65, 0x88]);
        // Already Annex B: left as it is.
        let plain = AnnexB::new(&[]);
        assert_eq!(plain.convert(&[0, 0, 0, 1, 0x65], true), [0, 0, 0, 1, 0x65]);
    }
}
