#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "group.glsl"
// Rowwise softmax (log: log-softmax), one work-group per row. Uses nk_exp and nk_log and
// Vulkan's divide (2.5 ulp).
layout(local_size_x = WG) in;
layout(push_constant) uniform Pc { int rows; int len; int log_out; NK_EXTRAS } pc;
BUF_IN(0, x)
BUF_OUT(1, y)
void main() {
    int r = GROUP_ROW;
    if (r >= pc.rows) return;
    int o = r * pc.len;
    float m = -NK_INF;
    for (int i = LID; i < pc.len; i += WG) m = nk_max(m, LD(x, o + i));
    m = wg_max(m);
    precise float sum = 0.0;
    for (int i = LID; i < pc.len; i += WG) sum += nk_exp(LD(x, o + i) - m);
    sum = wg_sum(sum);
    if (pc.log_out != 0) {
        float lse = nk_log(sum);
        for (int i = LID; i < pc.len; i += WG) {
            precise float v = (LD(x, o + i) - m) - lse;
            ST(y, o + i, v);
        }
    } else {
        for (int i = LID; i < pc.len; i += WG) {
            precise float v = nk_exp(LD(x, o + i) - m) / sum;
            ST(y, o + i, v);
        }
    }
}
