//! Elementwise kernels: the broadcasting add, `mul`, GELU and its gradient, the spike
//! threshold, Adam, and the prototype update. Each output may be an input (the inputs
//! are loaded before the output is written).

use crate::kernel::{Adam, Add, Gelu, GeluBackward, Mul, ProtoUpdate, Threshold};

use super::math::{normal_cdf, normal_pdf};
use super::mem::{Launch, SimMem};
use super::SimError;

/// `c[r·period + j] = a[r·period + j] + b[j]`.
pub(super) fn add(l: &Launch, k: &Add<&SimMem>) -> Result<(), SimError> {
    let n = l.extent("a", &[k.period, k.reps])?;
    let a = l.t(k.a, "a", n)?;
    let b = l.t(k.b, "b", k.period)?;
    l.store_t(k.c, "c", n, |c| {
        for (i, av) in a.iter().enumerate() {
            c.set(i, av + b[i % k.period]);
        }
        Ok(())
    })
}

/// `c = a ⊙ b`.
pub(super) fn mul(l: &Launch, k: &Mul<&SimMem>) -> Result<(), SimError> {
    let a = l.t(k.a, "a", k.n)?;
    let b = l.t(k.b, "b", k.n)?;
    l.store_t(k.c, "c", k.n, |c| {
        for (i, (av, bv)) in a.iter().zip(&b).enumerate() {
            c.set(i, av * bv);
        }
        Ok(())
    })
}

/// `y = x·Φ(x)`.
pub(super) fn gelu(l: &Launch, k: &Gelu<&SimMem>) -> Result<(), SimError> {
    let x = l.t(k.x, "x", k.n)?;
    l.store_t(k.y, "y", k.n, |y| {
        for (i, &v) in x.iter().enumerate() {
            y.set(i, v * normal_cdf(v));
        }
        Ok(())
    })
}

/// `dx = dy·(Φ(x) + x·φ(x))`.
pub(super) fn gelu_backward(l: &Launch, k: &GeluBackward<&SimMem>) -> Result<(), SimError> {
    let x = l.t(k.x, "x", k.n)?;
    let dy = l.t(k.dy, "dy", k.n)?;
    l.store_t(k.dx, "dx", k.n, |dx| {
        for (i, (&v, g)) in x.iter().zip(&dy).enumerate() {
            dx.set(i, g * (normal_cdf(v) + v * normal_pdf(v)));
        }
        Ok(())
    })
}

/// `y = x > θ ? 1 : 0` (NaN compares false).
pub(super) fn threshold(l: &Launch, k: &Threshold<&SimMem>) -> Result<(), SimError> {
    let x = l.t(k.x, "x", k.n)?;
    l.store_t(k.y, "y", k.n, |y| {
        for (i, &v) in x.iter().enumerate() {
            y.set(i, if v > k.theta { 1.0 } else { 0.0 });
        }
        Ok(())
    })
}

/// One Adam / AdamW step in place, the formulas evaluated as written in f32.
pub(super) fn adam(l: &Launch, k: &Adam<&SimMem>) -> Result<(), SimError> {
    let p = l.t(k.p, "p", k.n)?;
    let g = l.t(k.g, "g", k.n)?;
    let m = l.f32(k.m, "m", k.n)?;
    let v = l.f32(k.v, "v", k.n)?;
    let mut p_new = Vec::with_capacity(k.n);
    let mut m_new = Vec::with_capacity(k.n);
    let mut v_new = Vec::with_capacity(k.n);
    for i in 0..k.n {
        let (mut pv, mut gv) = (p[i], g[i]);
        if k.decoupled {
            pv -= (k.lr * k.weight_decay) * pv;
        } else {
            gv += k.weight_decay * pv;
        }
        let mn = k.beta1 * m[i] + k.one_minus_beta1 * gv;
        let vn = k.beta2 * v[i] + k.one_minus_beta2 * (gv * gv);
        p_new.push(pv - k.lr * (mn / k.c1) / ((vn / k.c2).sqrt() + k.eps));
        m_new.push(mn);
        v_new.push(vn);
    }
    let put = |vals: Vec<f32>| {
        move |o: &mut super::mem::Out<'_>| {
            for (i, x) in vals.into_iter().enumerate() {
                o.set(i, x);
            }
            Ok(())
        }
    };
    l.store_f32(k.m, "m", k.n, put(m_new))?;
    l.store_f32(k.v, "v", k.n, put(v_new))?;
    l.store_t(k.p, "p", k.n, put(p_new))
}

/// `proto[t] ← keep·proto[t] + lr·sums[t]/counts[t]` where `counts[t] > 0`; other rows
/// are not written at all (their bits stay as they are).
pub(super) fn proto_update(l: &Launch, k: &ProtoUpdate<&SimMem>) -> Result<(), SimError> {
    if k.e == 0 {
        return Err(SimError::BadDim {
            kernel: l.kernel,
            arg: "e",
            value: 0,
        });
    }
    let proto = l.t(k.proto, "proto", k.n)?;
    let sums = l.t(k.sums, "sums", k.n)?;
    let counts = l.i32(k.counts, "counts", k.n.div_ceil(k.e))?;
    l.store_t(k.proto, "proto", k.n, |out| {
        for (i, (pv, sv)) in proto.iter().zip(&sums).enumerate() {
            let c = counts[i / k.e];
            if c > 0 {
                out.set(i, k.keep * pv + k.lr * (sv / c as f32));
            }
        }
        Ok(())
    })
}
