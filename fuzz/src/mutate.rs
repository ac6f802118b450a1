//! A seeded random source and the byte mutations.

/// SplitMix64: small, fast, and the same sequence for the same seed on
/// every machine, which is all a fuzzer needs.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values at the edges of Avro's `int`/`long` and of our limits.
pub(crate) const INTERESTING_LONGS: [i64; 18] = [
    0,
    1,
    -1,
    2,
    63,
    64,
    127,
    128,
    255,
    1025,
    1 << 20,
    (1 << 31) - 1,
    1 << 31,
    -(1 << 31),
    1 << 40,
    i64::MAX,
    i64::MIN,
    -2,
];

const INTERESTING_BYTES: [u8; 9] = [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF, 0xC3, b'%'];

/// Avro's zig-zag varint encoding of a `long`.
pub(crate) fn avro_long(n: i64) -> Vec<u8> {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::with_capacity(10);
    loop {
        let b = (z & 0x7F) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// Applies one to four random mutations to `data`, keeping it at most
/// `max_len` bytes. `dict` holds tokens worth inserting whole; `other` is
/// another corpus entry to splice with.
pub(crate) fn mutate(
    rng: &mut Rng,
    data: &mut Vec<u8>,
    dict: &[&[u8]],
    other: &[u8],
    max_len: usize,
) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = *rng.pick(&INTERESTING_BYTES);
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                data.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                data.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let chunk = data[i..i + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            5 if !dict.is_empty() => {
                let i = rng.below(len + 1);
                data.splice(i..i, rng.pick(dict).iter().copied());
            }
            6 => {
                // Overwrite with a varint of an extreme value: length
                // prefixes, block counts, union indexes, enum symbols.
                let i = rng.below(len + 1);
                let v = avro_long(*rng.pick(&INTERESTING_LONGS));
                let end = (i + 1 + rng.below(2)).min(len);
                data.splice(i..end.max(i), v);
            }
            7 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            8 if len > 0 => {
                data.truncate(rng.below(len));
            }
            _ => {
                if len > 0 {
                    let i = rng.below(len);
                    data[i] = data[i].wrapping_add(1 + rng.below(3) as u8);
                }
            }
        }
    }
    data.truncate(max_len);
}

/// Mutates a string at the byte level and repairs it into UTF-8.
pub(crate) fn mutate_str(rng: &mut Rng, s: &str, dict: &[&[u8]], max_len: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    mutate(rng, &mut b, dict, &[], max_len);
    String::from_utf8_lossy(&b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_long_matches_the_spec_examples() {
        // Avro specification, "Binary encoding": zig-zag then varint.
        assert_eq!(avro_long(0), [0x00]);
        assert_eq!(avro_long(-1), [0x01]);
        assert_eq!(avro_long(1), [0x02]);
        assert_eq!(avro_long(-64), [0x7F]);
        assert_eq!(avro_long(64), [0x80, 0x01]);
        assert_eq!(avro_long(i64::MAX).len(), 10);
    }

    #[test]
    fn mutation_respects_the_length_cap_and_the_seed() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            let mut x = b"hello world".to_vec();
            let mut y = x.clone();
            mutate(&mut a, &mut x, &[b"[.]"], b"other", 12);
            mutate(&mut b, &mut y, &[b"[.]"], b"other", 12);
            assert!(x.len() <= 12);
            assert_eq!(x, y);
        }
    }
}
