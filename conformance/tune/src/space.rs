//! The search space and its moves: one step of the GEMM tile (rows, vector width, column
//! vectors, or the width traded against the vector count at equal columns), the
//! work-group shape, the `A`-packing policy, the rowwise kernel shape.

use neurokern_backend_opencl::tuned::{PackPolicy, Plan};

/// Largest rows per work-item tried.
pub const MAX_MR: u32 = 8;
/// Largest column vectors per work-item tried.
pub const MAX_NR: u32 = 8;
/// Largest accumulator count (`mr · nr · nv` floats) tried: past it, registers spill on
/// every device of interest (32 × 16-float AVX-512 registers hold 512).
pub const MAX_ACC: u32 = 256;

/// Work-group shapes tried for the GEMM: one work-item per group (straight-line SIMD per
/// work-item on CPU devices), the implementation's choice, small groups.
pub const LOCALS: [Option<[usize; 2]>; 4] = [Some([1, 1]), None, Some([4, 1]), Some([8, 8])];

/// Far-apart starting points raced in a cold search's first round, before the default's
/// neighbours: on this backend a candidate costs a program build (minutes on a loaded
/// CPU device), so a few structurally different tiles are tried before small steps. On
/// CPU devices: few rows with the widest vectors (AVX-512 lanes), or more rows; elsewhere
/// small square tiles.
pub fn probes(default: &Plan, is_cpu: bool) -> Vec<Plan> {
    let tile = |mr: u32, nv: u32, nr: u32| Plan {
        mr,
        nv,
        nr,
        ..*default
    };
    let p = if is_cpu {
        vec![tile(4, 16, 3), tile(8, 8, 3)]
    } else {
        vec![tile(4, 4, 2), tile(8, 4, 1)]
    };
    p.into_iter().filter(|c| valid(c) && c != default).collect()
}

/// True when the plan's tile is in the space.
pub fn valid(p: &Plan) -> bool {
    (1..=MAX_MR).contains(&p.mr)
        && matches!(p.nv, 2 | 4 | 8 | 16)
        && (1..=MAX_NR).contains(&p.nr)
        && p.mr * p.nr * p.nv <= MAX_ACC
}

/// Every plan one move away from `p`, tile moves first (they matter most).
pub fn neighbors(p: &Plan) -> Vec<Plan> {
    let mut out = Vec::new();
    let tile = |mr: u32, nv: u32, nr: u32| Plan { mr, nv, nr, ..*p };
    let (mr, nv, nr) = (p.mr, p.nv, p.nr);
    let mut cands = vec![
        tile(mr + 1, nv, nr),
        tile(mr.saturating_sub(1), nv, nr),
        tile(mr, nv, nr + 1),
        tile(mr, nv, nr.saturating_sub(1)),
        tile(mr, nv * 2, nr),
        tile(mr, nv / 2, nr),
    ];
    // Wider vectors, fewer of them (and back): the same columns per work-item.
    if nr % 2 == 0 {
        cands.push(tile(mr, nv * 2, nr / 2));
    }
    cands.push(tile(mr, nv / 2, nr * 2));
    // Trade rows for columns at about the same accumulator count.
    cands.push(tile(mr.saturating_sub(2), nv, nr + 1));
    cands.push(tile(mr + 2, nv, nr.saturating_sub(1)));
    for l in LOCALS {
        if l != p.local {
            cands.push(Plan { local: l, ..*p });
        }
    }
    for pack in [
        PackPolicy::Transposed,
        PackPolicy::Always,
        PackPolicy::Never,
    ] {
        if pack != p.pack_a {
            cands.push(Plan { pack_a: pack, ..*p });
        }
    }
    cands.push(Plan {
        rows_per_item: !p.rows_per_item,
        ..*p
    });
    for c in cands {
        if valid(&c) && c != *p && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(mr: u32, nv: u32, nr: u32) -> Plan {
        Plan {
            mr,
            nv,
            nr,
            local: Some([1, 1]),
            pack_a: PackPolicy::Transposed,
            rows_per_item: true,
        }
    }

    #[test]
    fn neighbors_stay_in_the_space_and_differ() {
        for p in [plan(1, 2, 1), plan(6, 8, 4), plan(8, 16, 2), plan(4, 16, 3)] {
            let n = neighbors(&p);
            assert!(!n.is_empty());
            assert!(n.iter().all(|c| valid(c) && *c != p), "{p:?}: {n:?}");
        }
        assert!(!valid(&plan(0, 8, 1)));
        assert!(!valid(&plan(4, 3, 1)));
        assert!(!valid(&plan(8, 16, 4)));
    }

    #[test]
    fn the_hand_picked_tile_is_reachable_from_the_cpu_default() {
        // 6,8,4 → 6,16,2 → 5,16,2 → 4,16,2 → 4,16,3 (or shorter).
        let target = plan(4, 16, 3);
        let mut frontier = vec![plan(6, 8, 4)];
        for _ in 0..4 {
            frontier = frontier.iter().flat_map(neighbors).collect();
            if frontier.contains(&target) {
                return;
            }
        }
        panic!("4,16,3 not reachable in 4 moves");
    }
}
