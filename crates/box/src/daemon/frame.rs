//! The serial scan protocol (docs/serial-protocol.md): one frame per part, carrying the part id and
//! its points, checked by a CRC32. Pure and byte-oriented, so the serial source, the tests and
//! scanner integrators share one definition.
//!
//! A frame is `"DUSF"`, version `1`, part-id length (1..=64), the part id (printable UTF-8), the
//! point count (u32 LE), `count` points of three f32 LE (x, y, z), and the CRC32 (IEEE, LE) of
//! everything from the version through the payload.
//!
//! The [`Decoder`] trusts nothing on the line: a point count above the limit is refused from the
//! header alone, before the payload is buffered; after any bad frame it searches for the next
//! magic starting one byte after the bad one, so a good frame that hid inside a damaged one is
//! still found; and it never panics, whatever the bytes.

/// Opens every frame; the decoder searches for it to find frame starts in a noisy stream.
pub const MAGIC: [u8; 4] = *b"DUSF";
/// The only layout this box reads; anything else is refused rather than guessed at.
pub const VERSION: u8 = 1;
/// Part ids longer than this are refused: they travel to the journal and the actuator's log.
pub const MAX_PART_LEN: usize = 64;

/// Magic, version and part-id length: the bytes needed before anything else can be read.
const LEAD_LEN: usize = MAGIC.len() + 2;
const COUNT_LEN: usize = 4;
const POINT_LEN: usize = 12;
const CRC_LEN: usize = 4;

/// What the decoder found in the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A complete frame whose CRC matched.
    Frame { part: String, points: Vec<[f32; 3]> },
    /// A frame whose header named its part but which cannot be used (CRC mismatch, too many points,
    /// cut short): the part passed the scanner and still needs a (fail-safe) decision.
    Rejected { part: String, reason: String },
    /// A magic whose header cannot be read (unknown version, bad part id): no part to name.
    Unreadable { reason: String },
    /// Bytes that belonged to no frame, skipped while searching for the next magic.
    Garbage { bytes: usize },
}

/// A frame's header, read from the front of the buffer.
struct Header {
    part: String,
    count: u32,
    /// Bytes from the magic through the point count.
    len: usize,
}

/// What the front of the buffer holds when it starts with the magic.
enum Head {
    Incomplete,
    Unreadable { reason: String, span: usize },
    Readable(Header),
}

/// The bytes of one frame for `part` and `points`, as a scanner sends it.
///
/// # Panics
/// When `part` is not 1..=64 bytes of printable UTF-8 or there are more than `u32::MAX` points:
/// that is a bug in the sender, which the box would refuse anyway.
pub fn encode(part: &str, points: &[[f32; 3]]) -> Vec<u8> {
    if let Err(reason) = part_id(part.as_bytes()) {
        panic!("cannot encode a frame: {reason}");
    }
    let count = u32::try_from(points.len()).expect("a frame holds at most u32::MAX points");
    let mut frame = Vec::with_capacity(LEAD_LEN + part.len() + COUNT_LEN + points.len() * POINT_LEN + CRC_LEN);
    frame.extend_from_slice(&MAGIC);
    frame.push(VERSION);
    frame.push(part.len() as u8);
    frame.extend_from_slice(part.as_bytes());
    frame.extend_from_slice(&count.to_le_bytes());
    for coordinate in points.iter().flatten() {
        frame.extend_from_slice(&coordinate.to_le_bytes());
    }
    let crc = crc32fast::hash(&frame[MAGIC.len()..]);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

/// The longest frame a decoder with this point limit accepts, in bytes.
pub fn max_frame_len(max_points: u32) -> u64 {
    (LEAD_LEN + MAX_PART_LEN + COUNT_LEN + CRC_LEN) as u64 + u64::from(max_points) * POINT_LEN as u64
}

/// Reads a part id, refusing what would garble the journal or a log line.
fn part_id(bytes: &[u8]) -> Result<&str, String> {
    if bytes.is_empty() || bytes.len() > MAX_PART_LEN {
        return Err(format!("part id length {} is outside 1..={MAX_PART_LEN}", bytes.len()));
    }
    let id = std::str::from_utf8(bytes).map_err(|_| "part id is not UTF-8".to_string())?;
    if id.chars().any(char::is_control) {
        return Err(format!("part id {id:?} holds control characters"));
    }
    Ok(id)
}

/// Turns a byte stream into [`Event`]s. Feed it with [`Decoder::push`], then drain
/// [`Decoder::next_event`] until `None` before pushing again: it then holds at most one frame
/// (bounded by [`max_frame_len`]) plus the bytes of the last push.
pub struct Decoder {
    max_points: u32,
    buf: Vec<u8>,
    /// Bytes before this offset were consumed; compacted on the next push.
    head: usize,
    /// Leading bytes that belong to a frame already reported as rejected or unreadable, so that
    /// skipping them is not counted as garbage a second time.
    reported: usize,
    /// Garbage skipped but not yet reported.
    skipped: usize,
    /// No more bytes follow the buffered ones (see [`Decoder::end_of_stream`]).
    ended: bool,
}

impl Decoder {
    pub fn new(max_points: u32) -> Decoder {
        Decoder { max_points, buf: Vec::new(), head: 0, reported: 0, skipped: 0, ended: false }
    }

    /// Appends bytes from the line.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.head > 0 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.extend_from_slice(bytes);
        self.ended = false;
    }

    /// Says that no more bytes follow the buffered ones for now (the line went quiet mid-frame,
    /// or the port was lost), so a partial frame is given up instead of waited for: it comes out
    /// as [`Event::Rejected`] when its header named a part, and the search for a magic goes on
    /// through its bytes. Drain [`Decoder::next_event`] afterwards.
    pub fn end_of_stream(&mut self) {
        self.ended = true;
    }

    /// Whether bytes are buffered that do not form a complete frame yet.
    pub fn has_partial(&self) -> bool {
        !self.pending().is_empty()
    }

    /// How many bytes are buffered.
    pub fn buffered(&self) -> usize {
        self.pending().len()
    }

    /// The next event the buffered bytes hold, or `None` when more bytes are needed.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            self.seek_magic();
            if self.skipped > 0 {
                return Some(Event::Garbage { bytes: std::mem::take(&mut self.skipped) });
            }
            if !self.pending().starts_with(&MAGIC) {
                self.ended = false;
                return None;
            }
            match self.frame_at_head() {
                Some(event) => return Some(event),
                None if self.ended => {
                    if let Some(event) = self.cut_short() {
                        return Some(event);
                    }
                }
                None => return None,
            }
        }
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    /// Skips to the next magic; keeps a trailing partial magic unless the stream ended.
    fn seek_magic(&mut self) {
        let bytes = self.pending();
        let skip = match bytes.windows(MAGIC.len()).position(|w| w == MAGIC) {
            Some(at) => at,
            None if self.ended => bytes.len(),
            None => bytes.len() - partial_magic_len(bytes),
        };
        self.discard(skip);
    }

    /// Reads the frame at the front of the buffer (which starts with the magic); `None` when its
    /// bytes are not all here yet.
    fn frame_at_head(&mut self) -> Option<Event> {
        let header = match self.head_state() {
            Head::Incomplete => return None,
            Head::Unreadable { reason, span } => return Some(self.unreadable(span, reason)),
            Head::Readable(header) => header,
        };
        if header.count > self.max_points {
            let reason = format!("the frame claims {} points, more than the limit of {}", header.count, self.max_points);
            return Some(self.reject(header.len, header.part, reason));
        }
        let Some(frame_len) = frame_len(&header) else {
            let reason = format!("the frame claims {} points, too many for this machine", header.count);
            return Some(self.reject(header.len, header.part, reason));
        };
        let frame = self.pending().get(..frame_len)?;
        let (body, crc) = frame.split_at(frame_len - CRC_LEN);
        let sent = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = crc32fast::hash(&body[MAGIC.len()..]);
        if sent != computed {
            let reason = format!("CRC mismatch: the frame says {sent:08x}, its bytes give {computed:08x}");
            return Some(self.reject(frame_len, header.part, reason));
        }
        let points = body[header.len..].chunks_exact(POINT_LEN).map(point).collect();
        self.consume(frame_len);
        Some(Event::Frame { part: header.part, points })
    }

    fn head_state(&self) -> Head {
        let bytes = self.pending();
        let (Some(&version), Some(&id_len)) = (bytes.get(MAGIC.len()), bytes.get(MAGIC.len() + 1)) else {
            return Head::Incomplete;
        };
        if version != VERSION {
            return Head::Unreadable { reason: format!("unsupported protocol version {version}"), span: LEAD_LEN };
        }
        let id_len = usize::from(id_len);
        if id_len == 0 || id_len > MAX_PART_LEN {
            let reason = format!("part id length {id_len} is outside 1..={MAX_PART_LEN}");
            return Head::Unreadable { reason, span: LEAD_LEN };
        }
        let len = LEAD_LEN + id_len + COUNT_LEN;
        let Some(header) = bytes.get(..len) else {
            return Head::Incomplete;
        };
        let part = match part_id(&header[LEAD_LEN..LEAD_LEN + id_len]) {
            Ok(part) => part.to_string(),
            Err(reason) => return Head::Unreadable { reason, span: len },
        };
        let count = u32::from_le_bytes([header[len - 4], header[len - 3], header[len - 2], header[len - 1]]);
        Head::Readable(Header { part, count, len })
    }

    /// Gives up the partial frame at the front after [`Decoder::end_of_stream`]: a part it named
    /// is rejected; a partial lead-in is not a frame, and the search goes on from its next byte.
    fn cut_short(&mut self) -> Option<Event> {
        let have = self.pending().len();
        match self.head_state() {
            Head::Readable(header) => {
                let expected = frame_len(&header).map_or_else(|| "more".to_string(), |n| n.to_string());
                let reason = format!("truncated: the stream stopped {have} bytes into a frame of {expected}");
                Some(self.reject(have, header.part, reason))
            }
            Head::Unreadable { reason, span } => Some(self.unreadable(span, reason)),
            Head::Incomplete => {
                self.discard(1);
                None
            }
        }
    }

    fn reject(&mut self, span: usize, part: String, reason: String) -> Event {
        self.resync_after(span);
        Event::Rejected { part, reason }
    }

    fn unreadable(&mut self, span: usize, reason: String) -> Event {
        self.resync_after(span);
        Event::Unreadable { reason }
    }

    /// Marks `span` bytes at the front as reported and steps past the magic's first byte, so the
    /// search for the next frame starts inside the bad one.
    fn resync_after(&mut self, span: usize) {
        self.reported = self.reported.max(span);
        self.discard(1);
    }

    /// Drops bytes that formed no good frame, counting those not already reported.
    fn discard(&mut self, n: usize) {
        let known = n.min(self.reported);
        self.reported -= known;
        self.skipped += n - known;
        self.head += n;
    }

    /// Drops a good frame's bytes.
    fn consume(&mut self, n: usize) {
        self.reported = self.reported.saturating_sub(n);
        self.head += n;
    }
}

/// The whole frame's length, or `None` when it does not fit this machine's address space.
fn frame_len(header: &Header) -> Option<usize> {
    usize::try_from(header.count).ok()?.checked_mul(POINT_LEN)?.checked_add(header.len + CRC_LEN)
}

/// How many trailing bytes could be the start of a magic split across reads.
fn partial_magic_len(bytes: &[u8]) -> usize {
    (1..MAGIC.len()).rev().find(|&n| bytes.ends_with(&MAGIC[..n])).unwrap_or(0)
}

fn point(bytes: &[u8]) -> [f32; 3] {
    let at = |i: usize| f32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    [at(0), at(4), at(8)]
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const LIMIT: u32 = 1000;

    fn cloud(n: usize) -> Vec<[f32; 3]> {
        (0..n).map(|i| [i as f32, -(i as f32) * 0.5, 1.0e3 + i as f32 * 0.25]).collect()
    }

    fn drain(decoder: &mut Decoder) -> Vec<Event> {
        std::iter::from_fn(|| decoder.next_event()).collect()
    }

    fn decode(bytes: &[u8]) -> Vec<Event> {
        let mut decoder = Decoder::new(LIMIT);
        decoder.push(bytes);
        drain(&mut decoder)
    }

    fn frame(part: &str, points: Vec<[f32; 3]>) -> Event {
        Event::Frame { part: part.to_string(), points }
    }

    /// A frame as a scanner with its own idea of the header would send it (CRC made to match).
    fn raw_frame(version: u8, id: &[u8], count: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.push(version);
        bytes.push(id.len() as u8);
        bytes.extend_from_slice(id);
        bytes.extend_from_slice(&count.to_le_bytes());
        bytes.extend_from_slice(payload);
        let crc = crc32fast::hash(&bytes[MAGIC.len()..]);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    fn rejected_reason(event: &Event, expected_part: &str) -> String {
        match event {
            Event::Rejected { part, reason } if part == expected_part => reason.clone(),
            other => panic!("expected a rejection of {expected_part}, got {other:?}"),
        }
    }

    #[test]
    fn a_frame_survives_the_roundtrip() {
        let points = cloud(5);
        let bytes = encode("P-0001", &points);
        assert_eq!(bytes.len(), 6 + 6 + 4 + 5 * 12 + 4);
        assert_eq!(&bytes[..4], b"DUSF");
        assert_eq!(decode(&bytes), vec![frame("P-0001", points)]);
    }

    /// The bytes docs/serial-protocol.md's Python encoder writes: scanners built from the document
    /// and this decoder must agree on byte order and CRC coverage.
    #[test]
    fn the_wire_format_matches_the_documented_python_encoder() {
        let points = [[1.0, 2.0, 3.0], [-0.5, 0.25, 100.0]];
        let documented = "445553460103502d31020000000000803f0000004000004040000000bf0000803e0000c8429c36d532";
        let bytes = encode("P-1", &points);
        assert_eq!(hex::encode(&bytes), documented);
        assert_eq!(decode(&bytes), vec![frame("P-1", points.to_vec())]);
    }

    #[test]
    fn non_finite_coordinates_pass_unchanged_for_the_cloud_to_drop() {
        let bytes = encode("nan", &[[f32::NAN, 0.0, f32::INFINITY]]);
        let events = decode(&bytes);
        let Event::Frame { points, .. } = &events[0] else { panic!("{events:?}") };
        assert!(points[0][0].is_nan() && points[0][2].is_infinite());
    }

    #[test]
    fn a_frame_fed_one_byte_at_a_time_decodes_once_complete() {
        let points = cloud(7);
        let bytes = encode("split", &points);
        let mut decoder = Decoder::new(LIMIT);
        let (last, rest) = bytes.split_last().unwrap();
        for byte in rest {
            decoder.push(std::slice::from_ref(byte));
            assert_eq!(decoder.next_event(), None);
        }
        assert!(decoder.has_partial());
        decoder.push(&[*last]);
        assert_eq!(drain(&mut decoder), vec![frame("split", points)]);
        assert!(!decoder.has_partial());
    }

    #[test]
    fn garbage_before_and_between_frames_is_skipped_and_counted() {
        let mut bytes = b"\x00\xffnoise DUS".to_vec();
        bytes.extend(encode("a", &cloud(2)));
        bytes.extend_from_slice(b"DU\x13DUSDUSX");
        bytes.extend(encode("b", &cloud(3)));
        assert_eq!(
            decode(&bytes),
            vec![Event::Garbage { bytes: 11 }, frame("a", cloud(2)), Event::Garbage { bytes: 10 }, frame("b", cloud(3)),]
        );
    }

    #[test]
    fn a_magic_split_across_pushes_is_kept() {
        let bytes = [b"xyDU".as_slice(), &encode("m", &cloud(1))[2..]].concat();
        let mut decoder = Decoder::new(LIMIT);
        decoder.push(&bytes[..4]);
        assert_eq!(drain(&mut decoder), vec![Event::Garbage { bytes: 2 }]);
        assert_eq!(decoder.buffered(), 2);
        decoder.push(&bytes[4..]);
        assert_eq!(drain(&mut decoder), vec![frame("m", cloud(1))]);
    }

    #[test]
    fn a_flipped_payload_bit_rejects_the_part_and_the_next_frame_still_decodes() {
        let mut bad = encode("P-7", &cloud(4));
        bad[20] ^= 0x04;
        let events = decode(&[bad, encode("P-8", &cloud(2))].concat());
        assert!(rejected_reason(&events[0], "P-7").contains("CRC"), "{events:?}");
        assert_eq!(events[1..], [frame("P-8", cloud(2))], "the bad frame's bytes are not garbage");
    }

    #[test]
    fn a_frame_hidden_inside_a_damaged_one_is_found() {
        // The outer frame's payload holds a whole frame; the outer CRC fails, the inner one is good.
        let inner = encode("inner", &cloud(1));
        let mut payload = inner.clone();
        payload.resize(5 * POINT_LEN, 0);
        let mut outer = raw_frame(VERSION, b"outer", 5, &payload);
        *outer.last_mut().unwrap() ^= 0xff;
        let events = decode(&outer);
        assert!(rejected_reason(&events[0], "outer").contains("CRC"));
        assert_eq!(events[1..], [frame("inner", cloud(1))]);
    }

    #[test]
    fn an_oversized_point_count_is_refused_from_the_header_without_buffering() {
        let mut decoder = Decoder::new(LIMIT);
        decoder.push(&raw_frame(VERSION, b"huge", 4_000_000_000, &[]));
        let reason = rejected_reason(&decoder.next_event().unwrap(), "huge");
        assert!(reason.contains("4000000000") && reason.contains("limit of 1000"), "{reason}");
        // The claimed payload keeps arriving: it is searched and dropped, never accumulated.
        for _ in 0..100 {
            decoder.push(&[0x5a; 4096]);
            while decoder.next_event().is_some() {}
            assert!(decoder.buffered() < 4, "{} bytes buffered", decoder.buffered());
        }
        decoder.push(&encode("next", &cloud(1)));
        assert_eq!(drain(&mut decoder), vec![frame("next", cloud(1))]);
    }

    #[test]
    fn the_limit_itself_is_allowed() {
        let mut decoder = Decoder::new(3);
        decoder.push(&encode("three", &cloud(3)));
        decoder.push(&encode("four", &cloud(4)));
        let events = drain(&mut decoder);
        assert_eq!(events[0], frame("three", cloud(3)));
        assert!(rejected_reason(&events[1], "four").contains("limit of 3"));
    }

    #[test]
    fn an_unknown_version_is_unreadable_and_skipped() {
        let events = decode(&[raw_frame(2, b"v2", 1, &[0; 12]), encode("v1", &cloud(1))].concat());
        assert_eq!(events[0], Event::Unreadable { reason: "unsupported protocol version 2".to_string() });
        assert!(matches!(events[1], Event::Garbage { .. }), "the rest of the v2 frame: {events:?}");
        assert_eq!(events[2..], [frame("v1", cloud(1))]);
    }

    #[test]
    fn part_ids_that_are_empty_too_long_or_not_printable_are_unreadable() {
        let long = [b'x'; MAX_PART_LEN + 1];
        for (id, expected) in
            [(&b""[..], "length 0"), (&long[..], "length 65"), (&b"\xff\xfe"[..], "not UTF-8"), (&b"P-1\n"[..], "control")]
        {
            let events = decode(&[raw_frame(VERSION, id, 0, &[]), encode("good", &cloud(1))].concat());
            match &events[0] {
                Event::Unreadable { reason } => assert!(reason.contains(expected), "{reason}"),
                other => panic!("{id:?}: {other:?}"),
            }
            assert_eq!(events.last(), Some(&frame("good", cloud(1))), "{id:?}: {events:?}");
        }
        let longest = "y".repeat(MAX_PART_LEN);
        assert_eq!(decode(&encode(&longest, &cloud(1))), vec![frame(&longest, cloud(1))]);
    }

    #[test]
    fn a_truncated_frame_is_rejected_once_enough_bytes_follow() {
        let mut cut = encode("cut", &cloud(10));
        cut.truncate(40);
        let mut bytes = [cut, encode("whole", &cloud(2))].concat();
        let mut decoder = Decoder::new(LIMIT);
        decoder.push(&bytes);
        assert_eq!(decoder.next_event(), None, "still waiting for the cut frame's payload");
        // The next part's frame completes the length the cut frame claimed: its CRC fails, and the
        // search finds the whole frame inside.
        bytes = encode("later", &cloud(8));
        decoder.push(&bytes);
        let events = drain(&mut decoder);
        assert!(rejected_reason(&events[0], "cut").contains("CRC"), "{events:?}");
        assert_eq!(events[1], frame("whole", cloud(2)));
    }

    #[test]
    fn end_of_stream_gives_up_a_truncated_frame_and_frees_the_next() {
        let mut cut = encode("cut", &cloud(10));
        cut.truncate(40);
        let mut decoder = Decoder::new(LIMIT);
        decoder.push(&[cut, encode("whole", &cloud(2))].concat());
        assert_eq!(decoder.next_event(), None);
        decoder.end_of_stream();
        let events = drain(&mut decoder);
        assert!(rejected_reason(&events[0], "cut").contains("truncated"), "{events:?}");
        assert_eq!(events[1..], [frame("whole", cloud(2))]);
        assert!(!decoder.has_partial());
        decoder.push(&encode("after", &cloud(1)));
        assert_eq!(drain(&mut decoder), vec![frame("after", cloud(1))]);
    }

    #[test]
    fn end_of_stream_drops_a_lead_in_without_a_header_as_garbage() {
        let mut decoder = Decoder::new(LIMIT);
        decoder.push(b"xDUSF\x01");
        assert_eq!(drain(&mut decoder), vec![Event::Garbage { bytes: 1 }]);
        decoder.end_of_stream();
        assert_eq!(drain(&mut decoder), vec![Event::Garbage { bytes: 5 }]);
        assert!(!decoder.has_partial());
    }

    #[test]
    fn a_zero_point_frame_decodes_empty() {
        assert_eq!(decode(&encode("empty", &[])), vec![frame("empty", vec![])]);
    }

    #[test]
    fn random_bytes_never_panic_and_a_frame_after_them_still_decodes() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x0d05);
        let mut decoder = Decoder::new(64);
        let mut sent = 0;
        for round in 0..300 {
            let len = rng.random_range(0..2048);
            let mut noise: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Salt the noise with magics and plausible headers so the header paths run too.
            for _ in 0..rng.random_range(0..4) {
                let at = rng.random_range(0..=noise.len());
                let header = [&MAGIC[..], &[VERSION, rng.random_range(0..80)]].concat();
                noise.splice(at..at, header);
            }
            for chunk in noise.chunks(rng.random_range(1..512)) {
                decoder.push(chunk);
                while let Some(event) = decoder.next_event() {
                    if let Event::Frame { points, .. } = event {
                        assert!(points.len() <= 64);
                    }
                }
                assert!(decoder.buffered() as u64 <= max_frame_len(64) + chunk.len() as u64);
            }
            if round % 3 == 0 {
                decoder.end_of_stream();
                while decoder.next_event().is_some() {}
                decoder.push(&encode("marker", &cloud(2)));
                sent += 1;
                let events = drain(&mut decoder);
                assert!(events.contains(&frame("marker", cloud(2))), "round {round} ({sent} sent): {events:?}");
            }
        }
    }
}
