//! Adam / AdamW, in f64 from the widened state, each result rounded once.

use super::math;
use super::{RefFloat, Slots};

use crate::error::Error;
use crate::op::AdamUpdate;

pub(super) fn adam_update<T: RefFloat>(d: &AdamUpdate, s: &mut Slots<'_, '_>) -> Result<(), Error> {
    let p = s.output::<T>(0)?;
    let g = s.input::<T>(1)?;
    let m = s.f32_output(2)?;
    let v = s.f32_output(3)?;
    let (lr, b1, b2) = (f64::from(d.lr), f64::from(d.beta1), f64::from(d.beta2));
    let (eps, wd) = (f64::from(d.eps), f64::from(d.weight_decay));
    // t ≥ 1 is validated; powf keeps any u32 step exact enough (β^t underflows to 0 for
    // large t, which is the limit the bias correction tends to).
    let t = f64::from(d.t);
    let c1 = 1.0 - math::powf(b1, t);
    let c2 = 1.0 - math::powf(b2, t);
    for (((pi, gi), mi), vi) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let mut pv = f64::from(pi.widen());
        let mut gv = f64::from(gi.widen());
        if d.decoupled {
            pv -= lr * wd * pv;
        } else {
            gv += wd * pv;
        }
        let mn = b1 * f64::from(*mi) + (1.0 - b1) * gv;
        let vn = b2 * f64::from(*vi) + (1.0 - b2) * gv * gv;
        pv -= lr * (mn / c1) / (math::sqrt(vn / c2) + eps);
        *mi = mn as f32;
        *vi = vn as f32;
        *pi = T::narrow_f64(pv);
    }
    Ok(())
}
