//! Compute pipelines from the committed SPIR-V: one per kernel × storage type (× GEMM
//! specialization), created at first use and kept for the device's lifetime.

use ash::vk;

use crate::error::{Check, Result, VkError};

/// What identifies a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PipeKey {
    /// The kernel (the table's name, or `nk_gemm`).
    pub name: &'static str,
    /// f16 storage.
    pub half: bool,
    /// Specialization constants 0..3 (the GEMM's transposes and f32 output; 0 elsewhere).
    pub spec: [u32; 3],
}

/// A pipeline with its layouts.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub pipeline: vk::Pipeline,
    pub layout: vk::PipelineLayout,
    pub set_layout: vk::DescriptorSetLayout,
}

impl Pipe {
    /// Creates the pipeline of `key` with `bindings` buffers (the first `texels` of them
    /// uniform texel buffers, the others storage buffers) and `push_words` 32-bit push
    /// constants, from `spirv`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dev: &ash::Device,
        key: PipeKey,
        spirv: &[u8],
        texels: u32,
        bindings: u32,
        push_words: u32,
        max_push: u32,
    ) -> Result<Pipe> {
        let push_bytes = push_words * 4;
        if push_bytes > max_push {
            return Err(VkError::Limit {
                what: format!("kernel {}'s arguments", key.name),
                limit_name: "maxPushConstantsSize",
                limit: u64::from(max_push),
                need: u64::from(push_bytes),
            });
        }
        let words = ash::util::read_spv(&mut std::io::Cursor::new(spirv))
            .map_err(|_| VkError::NoShader(key.name))?;
        let binds: Vec<_> = (0..bindings)
            .map(|i| {
                vk::DescriptorSetLayoutBinding::default()
                    .binding(i)
                    .descriptor_type(if i < texels {
                        vk::DescriptorType::UNIFORM_TEXEL_BUFFER
                    } else {
                        vk::DescriptorType::STORAGE_BUFFER
                    })
                    .descriptor_count(1)
                    .stage_flags(vk::ShaderStageFlags::COMPUTE)
            })
            .collect();
        // SAFETY: every create-info and what it points to outlives its call;
        // each object is destroyed on the error paths or owned by the returned Pipe.
        unsafe {
            let set_layout = dev
                .create_descriptor_set_layout(
                    &vk::DescriptorSetLayoutCreateInfo::default().bindings(&binds),
                    None,
                )
                .check("vkCreateDescriptorSetLayout")?;
            let ranges = [vk::PushConstantRange::default()
                .stage_flags(vk::ShaderStageFlags::COMPUTE)
                .offset(0)
                .size(push_bytes)];
            let set_layouts = [set_layout];
            let layout = match dev.create_pipeline_layout(
                &vk::PipelineLayoutCreateInfo::default()
                    .set_layouts(&set_layouts)
                    .push_constant_ranges(&ranges),
                None,
            ) {
                Ok(l) => l,
                Err(r) => {
                    dev.destroy_descriptor_set_layout(set_layout, None);
                    return Err(VkError::api("vkCreatePipelineLayout", r));
                }
            };
            let cleanup = |e: VkError| {
                dev.destroy_pipeline_layout(layout, None);
                dev.destroy_descriptor_set_layout(set_layout, None);
                e
            };
            let module = dev
                .create_shader_module(&vk::ShaderModuleCreateInfo::default().code(&words), None)
                .map_err(|r| cleanup(VkError::api("vkCreateShaderModule", r)))?;
            let entries: Vec<_> = (0..3u32)
                .map(|i| {
                    vk::SpecializationMapEntry::default()
                        .constant_id(i)
                        .offset(4 * i)
                        .size(4)
                })
                .collect();
            let data: Vec<u8> = key.spec.iter().flat_map(|v| v.to_ne_bytes()).collect();
            let spec = vk::SpecializationInfo::default()
                .map_entries(&entries)
                .data(&data);
            let stage = vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::COMPUTE)
                .module(module)
                .name(c"main")
                .specialization_info(&spec);
            let info = vk::ComputePipelineCreateInfo::default()
                .stage(stage)
                .layout(layout);
            let made = dev.create_compute_pipelines(vk::PipelineCache::null(), &[info], None);
            dev.destroy_shader_module(module, None);
            let pipeline = match made {
                Ok(p) => p[0],
                Err((_, r)) => return Err(cleanup(VkError::api("vkCreateComputePipelines", r))),
            };
            Ok(Pipe {
                pipeline,
                layout,
                set_layout,
            })
        }
    }

    /// Destroys the pipeline and its layouts.
    ///
    /// # Safety
    /// No queued or running command may use the pipeline.
    pub unsafe fn destroy(&self, dev: &ash::Device) {
        // SAFETY: the caller guarantees the pipeline is idle and unused afterwards.
        unsafe {
            dev.destroy_pipeline(self.pipeline, None);
            dev.destroy_pipeline_layout(self.layout, None);
            dev.destroy_descriptor_set_layout(self.set_layout, None);
        }
    }
}
