//! What happens to the gradients between the backward pass and Adam: the mean over the
//! batch's real targets, and clipping. Both run on the host, on gradients downloaded from
//! the device, because the op set has no reduction to a scalar and no scale-by-scalar op:
//! the five parameter gradients are small (`V·E + E·H + H + H·V + V` values, 0.4 MB in
//! f32 at the seed's sizes) next to the activations, the norm is summed in f64 in one
//! fixed order (so it is the same on every device for the same gradients), and the
//! gradients are written back scaled before `adam_update` runs on the device.

use crate::config::ClipMode;

/// What clipping did in one step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClipReport {
    /// The global norm of the (mean) gradients before clipping.
    pub norm: f64,
    /// How many gradient tensors were scaled down.
    pub clipped: usize,
}

/// The L2 norm of `g`, summed in f64 in index order.
pub fn norm(g: &[f32]) -> f64 {
    g.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

/// Scales every gradient by `scale` (`1 / real targets`: the gradient of the mean loss,
/// where the device computed the sum), then clips to `max_norm` (0: no clipping) per
/// tensor or globally. A tensor is scaled by `max_norm / (norm + 1e-6)` when that is
/// below 1, as `torch.nn.utils.clip_grad_norm_` does.
pub fn scale_and_clip(
    grads: &mut [Vec<f32>],
    scale: f64,
    max_norm: f32,
    mode: ClipMode,
) -> ClipReport {
    for g in grads.iter_mut() {
        for x in g.iter_mut() {
            *x = (f64::from(*x) * scale) as f32;
        }
    }
    let norms: Vec<f64> = grads.iter().map(|g| norm(g)).collect();
    let global = norms.iter().map(|n| n * n).sum::<f64>().sqrt();
    let mut report = ClipReport {
        norm: global,
        clipped: 0,
    };
    if max_norm <= 0.0 {
        return report;
    }
    let max = f64::from(max_norm);
    let factors: Vec<f64> = match mode {
        ClipMode::PerTensor => norms.iter().map(|n| max / (n + 1e-6)).collect(),
        ClipMode::Global => vec![max / (global + 1e-6); grads.len()],
    };
    for (g, f) in grads.iter_mut().zip(factors) {
        if f < 1.0 {
            report.clipped += 1;
            for x in g.iter_mut() {
                *x = (f64::from(*x) * f) as f32;
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_tensor_clips_only_the_large_tensor() {
        let mut g = vec![vec![3.0, 4.0], vec![0.3, 0.4]];
        let r = scale_and_clip(&mut g, 1.0, 1.0, ClipMode::PerTensor);
        assert_eq!(r.clipped, 1);
        assert!((norm(&g[0]) - 1.0).abs() < 1e-5);
        assert_eq!(g[1], vec![0.3, 0.4]);
    }

    #[test]
    fn global_clips_everything_by_one_factor() {
        let mut g = vec![vec![6.0, 8.0], vec![0.0, 0.0]];
        let r = scale_and_clip(&mut g, 0.5, 1.0, ClipMode::Global);
        assert!((r.norm - 5.0).abs() < 1e-12);
        assert!((norm(&g[0]) - 1.0).abs() < 1e-5);
        let mut h = vec![vec![6.0, 8.0]];
        assert_eq!(
            scale_and_clip(&mut h, 1.0, 0.0, ClipMode::Global).clipped,
            0
        );
        assert_eq!(h[0], vec![6.0, 8.0]);
    }
}
