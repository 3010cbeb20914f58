//! Reading a chunked body (pure, RFC 9112 §7.1): the data of each chunk, with sizes, extensions and
//! trailers taken off, as Pingora's reader hands them on (the lane writes them as chunks of its own).

/// Longest chunk-size line (size, extensions) accepted, as a bound on what a broken upstream can make us
/// scan.
const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits; `digits` seen so far.
    Size {
        digits: u8,
    },
    /// After the digits: extensions up to CR LF.
    Line,
    Data,
    DataCr,
    DataLf,
    /// After the last chunk: trailer lines up to an empty one; `empty` while the current line is empty.
    Trailer {
        empty: bool,
    },
    Done,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum ChunkError {
    #[error("the upstream's chunked body is malformed")]
    Malformed,
}

#[derive(Debug)]
pub(super) struct Chunked {
    state: State,
    size: u64,
    line: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked { state: State::Size { digits: 0 }, size: 0, line: 0 }
    }
}

impl Chunked {
    pub(super) fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads `input`, pushing the ranges of chunk data found into `data`; returns how many bytes were used
    /// (fewer than `input.len()` only once the body is done: the rest is not part of it).
    pub(super) fn feed(&mut self, input: &[u8], data: &mut Vec<(usize, usize)>) -> Result<usize, ChunkError> {
        let mut at = 0;
        while at < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let take = (input.len() - at).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                data.push((at, at + take));
                at += take;
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(input[at])?;
            at += 1;
        }
        Ok(at)
    }

    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        self.state = match self.state {
            State::Size { digits } => match (b as char).to_digit(16) {
                Some(d) if digits < 15 => {
                    self.size = self.size * 16 + u64::from(d);
                    State::Size { digits: digits + 1 }
                }
                None if digits > 0 => return self.line_byte(b),
                _ => return Err(ChunkError::Malformed),
            },
            State::Line => return self.line_byte(b),
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size { digits: 0 },
            State::Trailer { empty } => match b {
                b'\n' if empty => State::Done,
                b'\n' => State::Trailer { empty: true },
                b'\r' => State::Trailer { empty },
                _ => State::Trailer { empty: false },
            },
            _ => return Err(ChunkError::Malformed),
        };
        Ok(())
    }

    /// A byte of the size line after the digits: extensions until LF.
    fn line_byte(&mut self, b: u8) -> Result<(), ChunkError> {
        self.line += 1;
        if self.line > MAX_LINE {
            return Err(ChunkError::Malformed);
        }
        self.state = match b {
            b'\n' => {
                self.line = 0;
                if self.size == 0 {
                    State::Trailer { empty: true }
                } else {
                    State::Data
                }
            }
            _ => State::Line,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> Result<(Vec<u8>, Vec<u8>), ChunkError> {
        let (mut reader, mut body, mut rest) = (Chunked::default(), Vec::new(), Vec::new());
        for piece in pieces {
            let mut data = Vec::new();
            let used = reader.feed(piece, &mut data)?;
            data.iter().for_each(|(a, b)| body.extend_from_slice(&piece[*a..*b]));
            rest.extend_from_slice(&piece[used..]);
        }
        assert!(reader.done(), "not done");
        Ok((body, rest))
    }

    #[test]
    fn data_comes_out_whatever_the_cuts_and_what_follows_is_left() {
        let whole = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for cut in 0..whole.len() {
            let (body, rest) = decode(&[&whole[..cut], &whole[cut..]]).unwrap();
            assert_eq!(body, b"hello world", "cut at {cut}");
            assert_eq!(rest, b"NEXT");
        }
        let one_by_one: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(decode(&one_by_one).unwrap().0, b"hello world");
        assert_eq!(decode(&[b"A\r\n0123456789\r\n0\r\n\r\n"]).unwrap().0, b"0123456789");
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for bad in [&b"x\r\n"[..], b"5\r\nhelloXX", b"\r\n", b"fffffffffffffffff\r\n"] {
            let mut data = Vec::new();
            assert_eq!(Chunked::default().feed(bad, &mut data), Err(ChunkError::Malformed), "{bad:?}");
        }
        let long = [b"1;".as_slice(), &[b'e'; MAX_LINE + 1]].concat();
        assert!(Chunked::default().feed(&long, &mut Vec::new()).is_err());
    }
}
