//! The service's message format: a fixed 32-byte little-endian header
//! before every request and reply (see the module docs of `service`), and
//! the one way both ends send a framed message.

use std::time::{Duration, Instant};

use crate::channel::Sender;
use crate::error::{SendError, SendTimeoutError, TrySendError};

/// Bytes of the header before every body.
pub(crate) const HEADER_LEN: usize = 32;

/// What a message is: the header's first word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A client's request.
    Request = 1,
    /// The server's answer; the body is the reply.
    Reply = 2,
    /// The server declined the request (no body).
    Declined = 3,
    /// The request was addressed to another server incarnation (no body).
    Refused = 4,
    /// The server answered, but the reply was dropped: the client's reply
    /// queue stayed full for the whole reply timeout (no body; sent once
    /// there is room).
    Dropped = 5,
}

impl Kind {
    fn from_word(word: u32) -> Option<Kind> {
        Some(match word {
            1 => Kind::Request,
            2 => Kind::Reply,
            3 => Kind::Declined,
            4 => Kind::Refused,
            5 => Kind::Dropped,
            _ => return None,
        })
    }
}

/// The header of a request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    /// The correlation id: the client's sequence number of the request.
    pub(crate) id: u64,
    /// The incarnation of the client handle that sent the request.
    pub(crate) client: u64,
    /// Request: the server incarnation it is meant for (0: whoever
    /// serves). Reply: the incarnation of the server that answers.
    pub(crate) server: u64,
}

impl Header {
    /// The header's bytes.
    pub(crate) fn bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&(self.kind as u32).to_le_bytes());
        // 4..8: reserved, zero.
        out[8..16].copy_from_slice(&self.id.to_le_bytes());
        out[16..24].copy_from_slice(&self.client.to_le_bytes());
        out[24..32].copy_from_slice(&self.server.to_le_bytes());
        out
    }

    /// Splits a message into its header and body, checking every field: a
    /// known kind, the reserved word zero, a nonzero client incarnation, a
    /// nonzero server incarnation on an answer, and no body on `Declined`,
    /// `Refused` or `Dropped`. `None` if any check fails (the bytes are untrusted).
    pub(crate) fn parse(msg: &[u8]) -> Option<(Header, &[u8])> {
        let (head, body) = msg.split_at_checked(HEADER_LEN)?;
        let word = |at: usize| u32::from_le_bytes(head[at..at + 4].try_into().unwrap_or([0; 4]));
        let dword = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap_or([0; 8]));
        let header = Header {
            kind: Kind::from_word(word(0))?,
            id: dword(8),
            client: dword(16),
            server: dword(24),
        };
        let valid = word(4) == 0
            && header.client != 0
            && match header.kind {
                Kind::Request => true,
                Kind::Reply => header.server != 0,
                Kind::Declined | Kind::Refused | Kind::Dropped => {
                    header.server != 0 && body.is_empty()
                }
            };
        valid.then_some((header, body))
    }
}

/// How long [`send`] may wait for room.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Not at all.
    Never,
    /// Until this instant.
    Until(Instant),
    /// For this long from the moment a wait starts (the clock is read
    /// only if the message does not go at once).
    For(Duration),
    /// As long as it takes (loom models, which model no time).
    #[cfg(shmq_loom)]
    Forever,
}

/// Messages (header and body) up to this long that the slot fast path
/// does not take are put together in the caller's scratch buffer and
/// written into the ring with one copy.
///
/// Why: written in place in two copies, header then body (into a
/// `SendGuard`), a call cost 1.91-1.92x the plain queue's ping-pong p50;
/// in one copy, 1.29-1.34x (two runs each of `shmq bench --quick --sizes
/// 64 --transports shmq-spin,shmq-service-spin --mode latency`, this
/// constant set to 0 and to 1024, 2026-12-03, before the slot fast path).
/// The order of the writes is what matters (`Producer::send_parts_fast`:
/// body first, header last, 1.15x). The copy into a buffer in the cache
/// costs a few nanoseconds.
const ASSEMBLE_MAX: usize = 1024;

/// Sends `header` and `body` as one message on `tx`, waiting as `wait`
/// says: written straight into the slot when it fits one and there is
/// room now; else put together in `scratch` and written with one copy
/// when short; else written in place when it fits the ring and there is
/// room now; else copied into `scratch` and sent (streamed in fragments
/// if longer than the ring).
///
/// A message longer than the ring cannot be sent without waiting:
/// `Wait::Never` reports it as `Timeout`.
pub(crate) fn send(
    tx: &mut Sender,
    scratch: &mut Vec<u8>,
    header: &Header,
    body: &[u8],
    wait: Wait,
) -> Result<(), SendTimeoutError> {
    let len = HEADER_LEN.saturating_add(body.len());
    let max = usize::try_from(tx.max_message_size()).unwrap_or(usize::MAX);
    if len > max {
        return Err(SendTimeoutError::TooLarge {
            len: body.len(),
            max: max.saturating_sub(HEADER_LEN),
        });
    }
    // A message that fits one slot, with room now: header and body
    // written straight into the slot (body first, see
    // `Producer::send_parts_fast`).
    if let Some(sent) = tx.try_send_parts_fast(&header.bytes(), body) {
        return sent.map_err(from_try);
    }
    let fits = len <= tx.capacity();
    if fits && len <= ASSEMBLE_MAX {
        scratch.clear();
        scratch.extend_from_slice(&header.bytes());
        scratch.extend_from_slice(body);
        return send_whole(tx, scratch, wait);
    }
    if fits {
        match tx.try_reserve(len) {
            Ok(mut guard) => {
                guard[..HEADER_LEN].copy_from_slice(&header.bytes());
                guard[HEADER_LEN..].copy_from_slice(body);
                guard.commit();
                return Ok(());
            }
            Err(TrySendError::Full) => {}
            Err(e) => return Err(from_try(e)),
        }
    }
    if let Wait::Never = wait {
        return Err(SendTimeoutError::Timeout);
    }
    scratch.clear();
    scratch.extend_from_slice(&header.bytes());
    scratch.extend_from_slice(body);
    let sent = send_whole(tx, scratch, wait);
    // Keep a buffer for the next long message, but not a huge one.
    if scratch.capacity() > 1 << 20 {
        *scratch = Vec::new();
    }
    sent
}

/// Sends `msg`, waiting as `wait` says.
fn send_whole(tx: &mut Sender, msg: &[u8], wait: Wait) -> Result<(), SendTimeoutError> {
    match wait {
        Wait::Never => tx.try_send(msg).map_err(from_try),
        Wait::Until(deadline) => tx.send_deadline(msg, deadline),
        // Loom models no time, and a wait that reads the clock would make
        // a model take different paths on replays of one execution: there
        // the wait is untimed (it still ends when the receiver is found
        // dead, on every poll under loom).
        Wait::For(_) if crate::sync::LOOM => tx.send(msg).map_err(from_send),
        #[cfg(shmq_loom)]
        Wait::Forever => tx.send(msg).map_err(from_send),
        Wait::For(timeout) => {
            // A message that fits may go at once, without a look at the
            // clock; a longer one always streams.
            if msg.len() <= tx.capacity() {
                match tx.try_send(msg) {
                    Err(TrySendError::Full) => {}
                    done => return done.map_err(from_try),
                }
            }
            match Instant::now().checked_add(timeout) {
                Some(deadline) => tx.send_deadline(msg, deadline),
                None => tx.send(msg).map_err(from_send),
            }
        }
    }
}

fn from_try(e: TrySendError) -> SendTimeoutError {
    match e {
        TrySendError::Full => SendTimeoutError::Timeout,
        TrySendError::Disconnected => SendTimeoutError::Disconnected,
        TrySendError::TooLarge { len, max } => SendTimeoutError::TooLarge { len, max },
        TrySendError::Corrupted(c) => SendTimeoutError::Corrupted(c),
    }
}

fn from_send(e: SendError) -> SendTimeoutError {
    match e {
        SendError::Disconnected => SendTimeoutError::Disconnected,
        SendError::TooLarge { len, max } => SendTimeoutError::TooLarge { len, max },
        SendError::Corrupted(c) => SendTimeoutError::Corrupted(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: Kind) -> Header {
        Header {
            kind,
            id: 7,
            client: 0x1122_3344_5566_7788,
            server: 9,
        }
    }

    #[test]
    fn round_trip() {
        let h = header(Kind::Request);
        let mut msg = h.bytes().to_vec();
        msg.extend_from_slice(b"body");
        assert_eq!(Header::parse(&msg), Some((h, &b"body"[..])));
        let bytes = h.bytes();
        assert_eq!(&bytes[0..4], &1u32.to_le_bytes());
        assert_eq!(&bytes[4..8], &[0; 4]);
        assert_eq!(&bytes[8..16], &7u64.to_le_bytes());
    }

    #[test]
    fn rejects_what_no_peer_writes() {
        let good = header(Kind::Reply).bytes();
        for len in 0..HEADER_LEN {
            assert_eq!(Header::parse(&good[..len]), None, "short, {len} bytes");
        }
        let mut bad = good;
        bad[0] = 6; // unknown kind
        assert_eq!(Header::parse(&bad), None);
        let mut bad = good;
        bad[5] = 1; // reserved word
        assert_eq!(Header::parse(&bad), None);
        let mut bad = good;
        bad[16..24].fill(0); // no client
        assert_eq!(Header::parse(&bad), None);
        let mut bad = good;
        bad[24..32].fill(0); // a reply from no server
        assert_eq!(Header::parse(&bad), None);
        let mut declined = header(Kind::Declined).bytes().to_vec();
        assert!(Header::parse(&declined).is_some());
        declined.push(0); // a body where none may be
        assert_eq!(Header::parse(&declined), None);
        let mut request = header(Kind::Request);
        request.server = 0; // "whoever serves"
        assert!(Header::parse(&request.bytes()).is_some());
    }
}
