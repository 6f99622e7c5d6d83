//! The reference's special functions against values tabulated to 17 significant digits
//! (computed with 40-digit arbitrary-precision arithmetic), to 1e-12 relative.

// Tabulated values keep all the digits they were computed with.
#![allow(clippy::excessive_precision)]

use neurokern_core::reference::special::{erf, erfc, normal_cdf, normal_pdf};

/// `(x, erf(x), erfc(x))`.
const TABLE: [(f64, f64, f64); 20] = [
    (0.0, 0.0, 1.0),
    (1e-10, 1.1283791670955126e-10, 9.9999999988716208e-1),
    (0.1, 1.124629160182849e-1, 8.875370839817151e-1),
    (0.5, 5.2049987781304654e-1, 4.7950012218695346e-1),
    (1.0, 8.4270079294971487e-1, 1.5729920705028513e-1),
    (1.5, 9.6610514647531073e-1, 3.3894853524689273e-2),
    (1.9, 9.9279042923525747e-1, 7.2095707647425328e-3),
    (1.99, 9.95111413199617e-1, 4.888586800383003e-3),
    (2.0, 9.9532226501895273e-1, 4.6777349810472658e-3),
    (2.01, 9.9552484935524824e-1, 4.4751506447517629e-3),
    (2.5, 9.9959304798255504e-1, 4.0695201744495894e-4),
    (3.0, 9.9997790950300141e-1, 2.2090496998585441e-5),
    (4.0, 9.999999845827421e-1, 1.5417257900280019e-8),
    (5.0, 9.9999999999846254e-1, 1.5374597944280349e-12),
    (6.0, 9.9999999999999998e-1, 2.1519736712498913e-17),
    (8.0, 1.0, 1.1224297172982927e-29),
    (10.0, 1.0, 2.0884875837625448e-45),
    (15.0, 1.0, 7.2129941724512067e-100),
    (20.0, 1.0, 5.3958656116079009e-176),
    (26.0, 1.0, 5.6631924088561428e-296),
];

fn assert_rel(what: &str, x: f64, got: f64, want: f64, rel: f64) {
    let err = if want == 0.0 {
        got.abs()
    } else {
        ((got - want) / want).abs()
    };
    assert!(
        err <= rel,
        "{what}({x}) = {got:e}, want {want:e} (relative error {err:e} > {rel:e})"
    );
}

#[test]
fn erf_and_erfc_tabulated() {
    for (x, e, ec) in TABLE {
        assert_rel("erf", x, erf(x), e, 1e-12);
        assert_rel("erfc", x, erfc(x), ec, 1e-12);
        // Odd and reflected forms.
        assert_rel("erf", -x, erf(-x), -e, 1e-12);
        assert_rel("erfc", -x, erfc(-x), 1.0 + e, 1e-12);
    }
}

#[test]
fn the_values_quoted_in_the_contract() {
    assert_rel("erf", 1.0, erf(1.0), 0.8427007929497149, 1e-12);
    assert_rel("erfc", 3.0, erfc(3.0), 2.209049699858544e-05, 1e-12);
    assert_rel("erfc", 5.0, erfc(5.0), 1.5374597944280349e-12, 1e-12);
    assert_rel("erfc", 10.0, erfc(10.0), 2.088487583762545e-45, 1e-12);
}

#[test]
fn erfc_is_continuous_where_the_method_changes() {
    // The series and the continued fraction meet at x = 2: both sides must agree with
    // the slope, erfc'(2) = −2/√π·e^{−4}, to 1e-12 relative.
    let slope = -2.0 / std::f64::consts::PI.sqrt() * (-4.0f64).exp();
    for dx in [1e-9, 1e-6, 1e-3] {
        let lo = erfc(2.0 - dx);
        let hi = erfc(2.0 + dx);
        let want = 2.0 * dx * slope;
        let err = ((hi - lo) - want).abs();
        // Curvature term: erfc''(2)·dx² is below 0.04·dx², plus 1e-12 relative of each
        // value.
        assert!(
            err <= 0.04 * dx * dx + 2e-12 * lo,
            "jump at 2 ± {dx}: {err:e}"
        );
    }
}

#[test]
fn special_values() {
    assert_eq!(erf(f64::INFINITY), 1.0);
    assert_eq!(erf(f64::NEG_INFINITY), -1.0);
    assert_eq!(erfc(f64::INFINITY), 0.0);
    assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
    assert!(erf(f64::NAN).is_nan() && erfc(f64::NAN).is_nan());
    // Far tail: erfc underflows to 0 (erfc(30) ≈ 2.6e−393), never NaN or negative.
    assert_eq!(erfc(30.0), 0.0);
    assert_eq!(erfc(1e300), 0.0);
    assert_eq!(erf(-0.0), 0.0);
}

#[test]
fn normal_cdf_and_pdf() {
    // Φ and φ tabulated to 17 digits.
    for (x, cdf, pdf) in [
        (-1.0, 0.15865525393145705, 0.24197072451914335),
        (-3.0, 0.0013498980316300945, 0.0044318484119380072),
        (0.5, 0.6914624612740131, 0.35206532676429948),
        (3.0, 0.99865010196836991, 0.0044318484119380072),
        (0.0, 0.5, 0.3989422804014327),
    ] {
        assert_rel("normal_cdf", x, normal_cdf(x), cdf, 1e-12);
        assert_rel("normal_pdf", x, normal_pdf(x), pdf, 1e-12);
    }
}

/// `erfc(k/8)` for `k = 0, …, 64`, tabulated to 17 significant digits.
const ERFC_EIGHTHS: [f64; 65] = [
    1.0,
    8.5968379519866618e-1,
    7.2367360983176307e-1,
    5.958830905651777e-1,
    4.7950012218695346e-1,
    3.7675911781158203e-1,
    2.8884436634648487e-1,
    2.1592493894014034e-1,
    1.5729920705028513e-1,
    1.1161176829829224e-1,
    7.709987174354177e-2,
    5.1829927217909677e-2,
    3.3894853524689273e-2,
    2.1556266760016335e-2,
    1.3328328780817556e-2,
    8.0099423298800297e-3,
    4.6777349810472658e-3,
    2.6540293594823415e-3,
    1.4627165866811517e-3,
    7.829382178911192e-4,
    4.0695201744495894e-4,
    2.0537573614121744e-4,
    1.0062192211963684e-4,
    4.7854839743773413e-5,
    2.2090496998585441e-5,
    9.8967346252456195e-6,
    4.3027794636751218e-6,
    1.8152814274403558e-6,
    7.4309837234141275e-7,
    2.9514019251156986e-7,
    1.1372725656979665e-7,
    4.2513944082491122e-8,
    1.5417257900280019e-8,
    5.423400799565066e-9,
    1.8505741373867425e-9,
    6.1248329535693602e-10,
    1.9661604415428875e-10,
    6.1216105130342263e-11,
    1.8485047721485311e-11,
    5.4134064662979415e-12,
    1.5374597944280349e-12,
    4.2345633763362237e-13,
    1.1310313266887154e-13,
    2.9294885544871543e-14,
    7.3578479179743981e-15,
    1.7920200056510064e-15,
    4.2321366174257376e-16,
    9.6915556452771752e-17,
    2.1519736712498913e-17,
    4.6332221552992658e-18,
    9.672204131876254e-19,
    1.9577523042806318e-19,
    3.8421483271206475e-20,
    7.3108696855303229e-21,
    1.3487678893611301e-21,
    2.4125351343758223e-22,
    4.1838256077794144e-23,
    7.0344877474599621e-24,
    1.1466900814815012e-24,
    1.8122170524396204e-25,
    2.7766493860305691e-26,
    4.1245334202091772e-27,
    5.9397478595171462e-28,
    8.2927237829304431e-29,
    1.1224297172982927e-29,
];

#[test]
fn erfc_dense_table() {
    for (k, want) in ERFC_EIGHTHS.iter().enumerate() {
        let x = k as f64 / 8.0;
        assert_rel("erfc", x, erfc(x), *want, 1e-12);
        // 1 − erfc loses up to 1e-16 absolute in f64.
        let e = 1.0 - want;
        if k > 0 {
            assert_rel("erf", x, erf(x), e, 1e-12 + 1e-16 / e);
        }
    }
}
