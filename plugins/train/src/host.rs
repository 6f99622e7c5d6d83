//! Moving f32 host data to and from tensors of either float dtype: f16 tensors are
//! converted on the host (round to nearest-even on the way in, exactly on the way out).

use neurokern::{f16, Device, ElemType, Tensor};

use crate::config::Dtype;
use crate::error::{Error, Result};

/// A tensor of `shape` in `dtype` holding `data`.
pub fn upload(dev: &Device, dtype: Dtype, shape: &[usize], data: &[f32]) -> Result<Tensor> {
    Ok(match dtype {
        Dtype::F32 => dev.upload(shape, data)?,
        Dtype::F16 => dev.upload(shape, &to_f16(data))?,
    })
}

/// Overwrites a float tensor with `data`.
pub fn write(t: &Tensor, data: &[f32]) -> Result<()> {
    match t.elem() {
        ElemType::F32 => t.write(data)?,
        ElemType::F16 => t.write(&to_f16(data))?,
        other => return Err(not_float(other)),
    }
    Ok(())
}

/// A float tensor's values as f32.
pub fn download(t: &Tensor) -> Result<Vec<f32>> {
    match t.elem() {
        ElemType::F32 => Ok(t.download::<f32>()?),
        ElemType::F16 => Ok(t.download::<f16>()?.into_iter().map(f16::to_f32).collect()),
        other => Err(not_float(other)),
    }
}

fn to_f16(data: &[f32]) -> Vec<f16> {
    data.iter().map(|&x| f16::from_f32(x)).collect()
}

fn not_float(got: ElemType) -> Error {
    Error::Device(neurokern::Error::ElemType {
        op: "host transfer",
        operand: "tensor",
        expected: "f32 or f16",
        got,
    })
}
