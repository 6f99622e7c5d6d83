//! Host-side tensors: the inputs a case writes to a device and the outputs it reads back.

use neurokern_core::reference::Arg;
use neurokern_core::{f16, ElemType};

/// The contents of one buffer on the host.
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f16` elements.
    F16(Vec<f16>),
    /// `i32` elements.
    I32(Vec<i32>),
}

impl HostData {
    /// A zero-filled buffer.
    pub fn zeros(elem: ElemType, len: usize) -> Self {
        match elem {
            ElemType::F32 => HostData::F32(vec![0.0; len]),
            ElemType::F16 => HostData::F16(vec![f16::ZERO; len]),
            ElemType::I32 => HostData::I32(vec![0; len]),
        }
    }

    /// A buffer filled with a recognisable pattern, written to outputs before a run so
    /// that an element the device never writes shows up. `variant` picks one of two
    /// patterns (NaN, then a finite value), so that the determinism check also catches
    /// unwritten elements.
    pub fn poison(elem: ElemType, len: usize, variant: u32) -> Self {
        match (elem, variant % 2) {
            (ElemType::F32, 0) => HostData::F32(vec![f32::from_bits(0x7fc0_dead); len]),
            (ElemType::F32, _) => HostData::F32(vec![-7777.25; len]),
            (ElemType::F16, 0) => HostData::F16(vec![f16::from_bits(0x7e5a); len]),
            (ElemType::F16, _) => HostData::F16(vec![f16::from_f32(-7777.0); len]),
            (ElemType::I32, 0) => HostData::I32(vec![0x5a5a_5a5a; len]),
            (ElemType::I32, _) => HostData::I32(vec![-0x2b2b_2b2b; len]),
        }
    }

    /// The element type.
    pub fn elem(&self) -> ElemType {
        match self {
            HostData::F32(_) => ElemType::F32,
            HostData::F16(_) => ElemType::F16,
            HostData::I32(_) => ElemType::I32,
        }
    }

    /// The element count.
    pub fn len(&self) -> usize {
        match self {
            HostData::F32(v) => v.len(),
            HostData::F16(v) => v.len(),
            HostData::I32(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` widened exactly to `f64` (an `i32` converts exactly too).
    pub fn get(&self, i: usize) -> f64 {
        match self {
            HostData::F32(v) => f64::from(v[i]),
            HostData::F16(v) => v[i].to_f64(),
            HostData::I32(v) => f64::from(v[i]),
        }
    }

    /// The raw bits of element `i`.
    pub fn bits(&self, i: usize) -> u32 {
        match self {
            HostData::F32(v) => v[i].to_bits(),
            HostData::F16(v) => u32::from(v[i].to_bits()),
            HostData::I32(v) => v[i] as u32,
        }
    }

    /// True when element `i` is a NaN (never for `i32`).
    pub fn is_nan(&self, i: usize) -> bool {
        match self {
            HostData::F32(v) => v[i].is_nan(),
            HostData::F16(v) => v[i].is_nan(),
            HostData::I32(_) => false,
        }
    }

    /// All elements widened to `f64`.
    pub fn widen(&self) -> Vec<f64> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }

    /// The same values as `f32` (exact for `f16`); `f32` and `i32` data are cloned.
    pub fn to_f32(&self) -> HostData {
        match self {
            HostData::F16(v) => HostData::F32(v.iter().map(|x| x.to_f32()).collect()),
            other => other.clone(),
        }
    }

    /// Element `i` formatted for a report.
    pub fn show(&self, i: usize) -> String {
        match self {
            HostData::F32(v) => format!("{:e} ({:#010x})", v[i], v[i].to_bits()),
            HostData::F16(v) => format!("{:e} ({:#06x})", v[i].to_f32(), v[i].to_bits()),
            HostData::I32(v) => v[i].to_string(),
        }
    }

    /// The bytes a backend's `write` takes (native endianness).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            HostData::F32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
            HostData::F16(v) => v.iter().flat_map(|x| x.to_bits().to_ne_bytes()).collect(),
            HostData::I32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        }
    }

    /// Decodes the bytes a backend's `read` returns.
    pub fn from_bytes(elem: ElemType, bytes: &[u8]) -> Self {
        match elem {
            ElemType::F32 => HostData::F32(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            ElemType::F16 => HostData::F16(
                bytes
                    .chunks_exact(2)
                    .map(|c| f16::from_bits(u16::from_ne_bytes([c[0], c[1]])))
                    .collect(),
            ),
            ElemType::I32 => HostData::I32(
                bytes
                    .chunks_exact(4)
                    .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
        }
    }

    /// A writable reference argument over this buffer.
    pub fn arg_mut(&mut self) -> Arg<'_> {
        match self {
            HostData::F32(v) => Arg::F32Mut(v),
            HostData::F16(v) => Arg::F16Mut(v),
            HostData::I32(v) => Arg::I32Mut(v),
        }
    }

    /// The `f32` elements, if this is `f32` data.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            HostData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The `i32` elements, if this is `i32` data.
    pub fn as_i32(&self) -> Option<&[i32]> {
        match self {
            HostData::I32(v) => Some(v),
            _ => None,
        }
    }
}

/// Rounds an `f64` to the storage type `elem` and widens it back (the value a device
/// stores for a pre-store value `x`). `i32` returns `x`.
pub fn round_to(elem: ElemType, x: f64) -> f64 {
    match elem {
        ElemType::F32 => f64::from(x as f32),
        ElemType::F16 => f16::from_f64(x).to_f64(),
        ElemType::I32 => x,
    }
}
