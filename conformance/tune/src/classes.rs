//! Shape classes: the work a plan is tuned for. Each is one nk-bench case (the seed
//! model's GEMM-shaped ops, the 1024³ matmul, one rowwise op for the rowwise kernel shape)
//! in one storage type; its GEMM shape (m, k, n) measures how near two classes are.

use neurokern_backend_opencl::tuned::{ClassResult, Plan};
use neurokern_bench::cases::{self, Case};
use neurokern_core::FloatType;

/// The nk-bench cases tuned by default.
pub const DEFAULT_CASES: [&str; 7] = [
    "matmul 1024x1024x1024",
    "matmul 4096x128x384",
    "matmul 4096x384x96",
    "hebbian_update 4096x384x384",
    "dynamic_token_assignment 4096x384 T=72",
    "dynamic_token_assignment 4096x384 T=384",
    "softmax 4096x96",
];

/// One shape class.
#[derive(Debug, Clone)]
pub struct Class {
    /// The nk-bench case.
    pub case: Case,
    /// The storage type.
    pub dtype: FloatType,
    /// Its weight in the choice of the plan applied at open.
    pub weight: f64,
}

impl Class {
    /// `"f32 matmul 1024x1024x1024"`: the key in the cache.
    pub fn name(&self) -> String {
        format!("{} {}", self.dtype.name(), self.case.name)
    }
}

/// The classes for `names` (nk-bench case names) in `dtypes`, each of weight 1.
pub fn select(names: &[String], dtypes: &[FloatType]) -> Result<Vec<Class>, String> {
    let all = cases::all();
    let mut out = Vec::new();
    for n in names {
        let case = all.iter().find(|c| &c.name == n).ok_or_else(|| {
            format!(
                "no nk-bench case named `{n}`; GEMM-shaped ones: {}",
                cases::anchor_gemms()
                    .into_iter()
                    .map(|g| g.0)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        for &dtype in dtypes {
            out.push(Class {
                case: case.clone(),
                dtype,
                weight: 1.0,
            });
        }
    }
    Ok(out)
}

/// The GEMM shape (m, k, n) of a class name (`"f16 matmul 4096x128x384"`), `None` for a
/// class that is not GEMM-shaped.
pub fn gemm_shape(class: &str) -> Option<(usize, usize, usize)> {
    let case = class.split_once(' ').map_or(class, |(_, c)| c);
    cases::anchor_gemms()
        .into_iter()
        .find(|g| g.0 == case)
        .map(|(_, b, m, k, n)| (b * m, k, n))
}

/// How far apart two classes are: the sum of the log ratios of their GEMM dims, plus 1 for
/// another storage type; equal names are 0, a non-GEMM class is only near itself.
pub fn distance(a: &str, b: &str) -> f64 {
    if a == b {
        return 0.0;
    }
    let dtype = |s: &str| s.split(' ').next().unwrap_or("").to_string();
    let other_type = if dtype(a) == dtype(b) { 0.0 } else { 1.0 };
    match (gemm_shape(a), gemm_shape(b)) {
        (Some(x), Some(y)) => {
            let l = |p: usize, q: usize| ((p.max(1) as f64) / (q.max(1) as f64)).ln().abs();
            l(x.0, y.0) + l(x.1, y.1) + l(x.2, y.2) + other_type
        }
        _ => f64::INFINITY,
    }
}

/// The plans to start from for `wanted` classes given what is known: each class's own
/// best when known, else the nearest known class's best (plan reuse).
pub fn seeds<'a>(
    known: impl IntoIterator<Item = (&'a String, &'a ClassResult)> + Clone,
    wanted: &[Class],
) -> Vec<Plan> {
    let mut out: Vec<Plan> = Vec::new();
    for w in wanted {
        let name = w.name();
        let near = known
            .clone()
            .into_iter()
            .map(|(k, r)| (distance(&name, k), r.best))
            .filter(|(d, _)| d.is_finite())
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, p)) = near {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_class_is_by_shape_then_type() {
        let a = "f32 matmul 4096x128x384";
        assert_eq!(distance(a, a), 0.0);
        assert!(distance(a, "f32 matmul 4096x384x96") < distance(a, "f32 matmul 1024x1024x1024"));
        assert!(distance(a, "f32 matmul 4096x128x384") < distance(a, "f16 matmul 4096x128x384"));
        assert!(distance(a, "f32 softmax 4096x96").is_infinite());
        assert_eq!(
            gemm_shape("f16 matmul 1024x1024x1024"),
            Some((1024, 1024, 1024))
        );
    }

    #[test]
    fn every_default_case_exists() {
        let names: Vec<String> = DEFAULT_CASES.iter().map(|s| s.to_string()).collect();
        let c = select(&names, &FloatType::ALL).unwrap();
        assert_eq!(c.len(), 2 * DEFAULT_CASES.len());
        assert!(select(&["matmul 3x3x3".into()], &FloatType::ALL).is_err());
    }
}
