//! The incremental union-find behind campaigns: a new submission joins
//! or merges components in near-constant time; splits rebuild the touched
//! part (see `linking`).

/// Growable union-find over dense `u32` ids, union by size with path
/// halving: near-constant amortised cost per operation.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    pub(crate) fn push(&mut self) -> u32 {
        let id = u32::try_from(self.parent.len()).expect("fewer than 2^32 submissions");
        self.parent.push(id);
        self.size.push(1);
        id
    }

    pub(crate) fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// The root of `x` without compressing paths (for `&self` readers).
    pub(crate) fn root(&self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            x = self.parent[x as usize];
        }
        x
    }

    /// Makes `x` a singleton again. Only valid when every member of its
    /// set is reset too (a split rebuilds a whole set).
    pub(crate) fn reset(&mut self, x: u32) {
        self.parent[x as usize] = x;
        self.size[x as usize] = 1;
    }

    /// Joins the sets of two roots and returns the new root.
    pub(crate) fn union_roots(&mut self, a: u32, b: u32) -> u32 {
        if a == b {
            return a;
        }
        let (big, small) = if self.size[a as usize] >= self.size[b as usize] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
        big
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Union-find agrees with a naive partition refinement.
        #[test]
        fn matches_naive_partition(n in 1usize..60, ops in proptest::collection::vec((0usize..60, 0usize..60), 0..120)) {
            let mut uf = UnionFind::default();
            for _ in 0..n { uf.push(); }
            let mut label: Vec<usize> = (0..n).collect();
            for (a, b) in ops {
                let (a, b) = (a % n, b % n);
                let (ra, rb) = (uf.find(a as u32), uf.find(b as u32));
                uf.union_roots(ra, rb);
                let (la, lb) = (label[a], label[b]);
                for l in label.iter_mut() { if *l == lb { *l = la; } }
            }
            for i in 0..n {
                for j in 0..n {
                    prop_assert_eq!(uf.find(i as u32) == uf.find(j as u32), label[i] == label[j]);
                }
            }
        }
    }
}
