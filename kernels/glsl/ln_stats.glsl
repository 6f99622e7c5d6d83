// Row statistics of layer norm: μ = Σx/L, σ² = Σ(x−μ)²/L, rstd = inversesqrt(σ² + eps)
// (Vulkan: divide 2.5 ulp, inversesqrt 2 ulp).
#define LN_STATS(x, o, len, eps, mean, rstd) { \
    precise float s_ = 0.0; \
    for (int i = LID; i < len; i += WG) s_ += LD(x, o + i); \
    mean = wg_sum(s_) / float(len); \
    precise float q_ = 0.0; \
    for (int i = LID; i < len; i += WG) { precise float d_ = LD(x, o + i) - mean; q_ += d_ * d_; } \
    precise float var_ = wg_sum(q_) / float(len); \
    rstd = inversesqrt(var_ + eps); \
}
