//! Checkpoints in safetensors: every tensor that a step reads and writes (parameters,
//! Adam's moments, `W_hebb`, the prototypes), the data order of the current epoch, and in
//! the header's metadata the hyper-parameters, the vocabulary, the step counters and the
//! text's fingerprint. Tensors are stored with their exact bits (f16 as F16), so a resumed
//! run continues bit-exactly on a deterministic device.

use std::collections::HashMap;
use std::path::Path;

use neurokern::{f16, ElemType, Tensor};
use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};

use crate::config::Hyper;
use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::model::{Model, PARAM_NAMES};

/// The format tag in the metadata; a file without it is not ours.
pub const FORMAT: &str = "neurokern-train/1";

/// Where training stands: what a resumed run needs besides the tensors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Training steps done (Adam's `t` of the last one).
    pub step: u64,
    /// The current epoch (from 0).
    pub epoch: u32,
    /// Batches of the current epoch already done.
    pub epoch_step: usize,
    /// The current epoch's order of training sequences.
    pub order: Vec<u32>,
}

/// A checkpoint's header: what must match, or be restored, on resume.
#[derive(Clone, Debug)]
pub struct Header {
    /// The hyper-parameters the run was started with.
    pub hyper: Hyper,
    /// The vocabulary.
    pub vocab: Vocab,
    /// FNV-1a of the training text.
    pub text_fnv1a: u64,
    /// Where training stands.
    pub progress: Progress,
}

fn bytes_of(t: &Tensor) -> Result<(StDtype, Vec<u8>)> {
    Ok(match t.elem() {
        ElemType::F32 => (
            StDtype::F32,
            t.download::<f32>()?
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
        ElemType::F16 => (
            StDtype::F16,
            t.download::<f16>()?
                .iter()
                .flat_map(|x| x.to_bits().to_le_bytes())
                .collect(),
        ),
        ElemType::I32 => (
            StDtype::I32,
            t.download::<i32>()?
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
    })
}

fn named_tensors(m: &Model) -> Vec<(String, &Tensor)> {
    let mut v = Vec::new();
    for (i, name) in PARAM_NAMES.iter().enumerate() {
        v.push((format!("param.{name}"), &m.params[i]));
        v.push((format!("adam_m.{name}"), &m.moments[i].0));
        v.push((format!("adam_v.{name}"), &m.moments[i].1));
    }
    v.push(("hebbian.w".into(), &m.whebb));
    v.push(("prototypes".into(), &m.proto));
    v
}

/// Writes `m` and `header` to `path` (through a temporary file renamed over it, so an
/// interrupted write never leaves a truncated checkpoint).
pub fn save(path: &Path, m: &Model, header: &Header) -> Result<()> {
    let mut data: Vec<(String, StDtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in named_tensors(m) {
        let (dt, bytes) = bytes_of(t)?;
        data.push((name, dt, t.shape().to_vec(), bytes));
    }
    let p = &header.progress;
    data.push((
        "data.order".into(),
        StDtype::U32,
        vec![p.order.len()],
        p.order.iter().flat_map(|x| x.to_le_bytes()).collect(),
    ));
    let views = data
        .iter()
        .map(|(n, dt, shape, bytes)| Ok((n.clone(), TensorView::new(*dt, shape.clone(), bytes)?)))
        .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()
        .map_err(|e| ck(path, e))?;
    let vocab: String = header.vocab.chars().iter().collect();
    let meta: HashMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("hyper", serde_json::to_string(&header.hyper)?),
        ("vocab", serde_json::to_string(&vocab)?),
        ("text_fnv1a", header.text_fnv1a.to_string()),
        ("step", p.step.to_string()),
        ("epoch", p.epoch.to_string()),
        ("epoch_step", p.epoch_step.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| ck(path, e))?;
    let tmp = path.with_extension("safetensors.tmp");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn ck(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// A checkpoint read into memory.
#[derive(Debug)]
pub struct Checkpoint {
    path: std::path::PathBuf,
    bytes: Vec<u8>,
    /// Its header.
    pub header: Header,
}

impl Checkpoint {
    /// Reads and checks the header of `path`.
    pub fn read(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| ck(path, e))?;
        let md = meta
            .metadata()
            .clone()
            .ok_or_else(|| ck(path, "no metadata: not a neurokern-train checkpoint"))?;
        let get = |k: &str| {
            md.get(k)
                .ok_or_else(|| ck(path, format!("metadata lacks `{k}`")))
        };
        if get("format")? != FORMAT {
            return Err(ck(
                path,
                format!("format {:?}, expected {FORMAT:?}", get("format")?),
            ));
        }
        let num = |k: &str| -> Result<u64> {
            get(k)?
                .parse()
                .map_err(|e| ck(path, format!("metadata `{k}`: {e}")))
        };
        let hyper: Hyper = serde_json::from_str(get("hyper")?).map_err(|e| ck(path, e))?;
        let vocab: String = serde_json::from_str(get("vocab")?).map_err(|e| ck(path, e))?;
        let vocab = Vocab::from_chars(vocab.chars().collect()).map_err(|e| ck(path, e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| ck(path, e))?;
        let order_view = st.tensor("data.order").map_err(|e| ck(path, e))?;
        if order_view.dtype() != StDtype::U32 {
            return Err(ck(path, "data.order is not U32"));
        }
        let order = order_view
            .data()
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let progress = Progress {
            step: num("step")?,
            epoch: u32::try_from(num("epoch")?).map_err(|e| ck(path, e))?,
            epoch_step: usize::try_from(num("epoch_step")?).map_err(|e| ck(path, e))?,
            order,
        };
        let header = Header {
            hyper,
            vocab,
            text_fnv1a: num("text_fnv1a")?,
            progress,
        };
        Ok(Checkpoint {
            path: path.to_path_buf(),
            bytes,
            header,
        })
    }

    /// Writes the stored tensors into `m` (built with the checkpoint's hyper-parameters
    /// and vocabulary), checking each one's dtype and shape.
    pub fn restore(&self, m: &mut Model) -> Result<()> {
        let path = &self.path;
        let st = SafeTensors::deserialize(&self.bytes).map_err(|e| ck(path, e))?;
        for (name, t) in named_tensors(m) {
            let view = st.tensor(&name).map_err(|e| ck(path, e))?;
            let want = match t.elem() {
                ElemType::F32 => StDtype::F32,
                ElemType::F16 => StDtype::F16,
                ElemType::I32 => StDtype::I32,
            };
            if view.dtype() != want || view.shape() != t.shape() {
                return Err(ck(
                    path,
                    format!(
                        "`{name}` is {:?} {:?}, the model needs {want:?} {:?}",
                        view.dtype(),
                        view.shape(),
                        t.shape()
                    ),
                ));
            }
            let b = view.data();
            match t.elem() {
                ElemType::F32 => t.write(
                    &b.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect::<Vec<_>>(),
                )?,
                ElemType::F16 => t.write(
                    &b.chunks_exact(2)
                        .map(|c| f16::from_bits(u16::from_le_bytes([c[0], c[1]])))
                        .collect::<Vec<_>>(),
                )?,
                ElemType::I32 => t.write(
                    &b.chunks_exact(4)
                        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect::<Vec<_>>(),
                )?,
            }
        }
        Ok(())
    }
}
