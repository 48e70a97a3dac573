//! Canonical signed digits: a constant as a sum of ±2^k with no two adjacent non-zero digits
//! (the fewest non-zero digits of any signed-digit form).

/// Returns the non-zero digits of `c` as `(k, negative)`, lowest first: `c = Σ ±2^k`.
pub fn csd(c: i128) -> Vec<(u32, bool)> {
    let mut digits = Vec::new();
    let mut v = c;
    let mut k = 0u32;
    while v != 0 {
        if v & 1 != 0 {
            // Choose the digit d ∈ {1, −1} that makes (v − d) divisible by 4.
            let d: i128 = 2 - (v & 3);
            digits.push((k, d < 0));
            v -= d;
        }
        v >>= 1;
        k += 1;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconstructs_and_is_non_adjacent() {
        for c in -5000i128..=5000 {
            let d = csd(c);
            let sum: i128 = d
                .iter()
                .map(|&(k, n)| if n { -(1i128 << k) } else { 1i128 << k })
                .sum();
            assert_eq!(sum, c);
            for w in d.windows(2) {
                assert!(w[1].0 > w[0].0 + 1, "adjacent digits for {c}");
            }
        }
        assert_eq!(csd(7).len(), 2); // 8 − 1
        assert_eq!(csd(0).len(), 0);
        assert_eq!(csd(i64::MIN as i128).len(), 1);
    }
}
