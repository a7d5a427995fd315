/* flatbuf.c — bounds-checked FlatBuffers reading (see flatbuf.h). */
#include "io/flatbuf.h"

#include "core/core.h"

#include <string.h>

static bool span_ok(fb_ctx *c, size_t pos, size_t n) {
    if (pos > c->size || n > c->size - pos) {
        c->bad = true;
        return false;
    }
    if (pos + n > c->hi) c->hi = pos + n;
    return true;
}

static fb_tab table_at(fb_ctx *c, size_t pos) {
    fb_tab t = {0, 0, 0, 0};
    if (pos == 0 || !span_ok(c, pos, 4)) {
        c->bad = true;
        return t;
    }
    int32_t soff = (int32_t)vg_load_u32(c->buf + pos);
    int64_t vt = (int64_t)pos - (int64_t)soff;
    if (vt < 0 || !span_ok(c, (size_t)vt, 4)) return t;
    uint16_t vt_size = vg_load_u16(c->buf + vt);
    uint16_t tsize = vg_load_u16(c->buf + vt + 2);
    if (vt_size < 4 || (vt_size & 1) || !span_ok(c, (size_t)vt, vt_size) || tsize < 4 ||
        !span_ok(c, pos, tsize)) {
        c->bad = true;
        return t;
    }
    t.pos = pos;
    t.vt = (size_t)vt;
    t.vt_size = vt_size;
    t.size = tsize;
    return t;
}

fb_tab fb_root(fb_ctx *c) {
    if (!span_ok(c, 0, 8)) return (fb_tab){0, 0, 0, 0};
    return table_at(c, vg_load_u32(c->buf));
}

/* Position of a field's bytes, or 0 if absent (or out of bounds, which also sets bad). */
static size_t field_pos(fb_ctx *c, fb_tab t, int field, size_t width) {
    if (t.pos == 0 || field < 0) return 0;
    size_t slot = 4 + 2 * (size_t)field;
    if (slot + 2 > t.vt_size) return 0;
    uint16_t fo = vg_load_u16(c->buf + t.vt + slot);
    if (fo == 0) return 0;
    if ((size_t)fo + width > t.size) {
        c->bad = true;
        return 0;
    }
    return t.pos + fo;
}

bool fb_present(const fb_ctx *c, fb_tab t, int field) {
    fb_ctx tmp = *c;
    return field_pos(&tmp, t, field, 1) != 0;
}

uint8_t fb_u8(fb_ctx *c, fb_tab t, int field, uint8_t def) {
    size_t p = field_pos(c, t, field, 1);
    return p ? c->buf[p] : def;
}
int8_t fb_i8(fb_ctx *c, fb_tab t, int field, int8_t def) {
    size_t p = field_pos(c, t, field, 1);
    return p ? (int8_t)c->buf[p] : def;
}
uint32_t fb_u32(fb_ctx *c, fb_tab t, int field, uint32_t def) {
    size_t p = field_pos(c, t, field, 4);
    return p ? vg_load_u32(c->buf + p) : def;
}
int32_t fb_i32(fb_ctx *c, fb_tab t, int field, int32_t def) {
    return (int32_t)fb_u32(c, t, field, (uint32_t)def);
}
uint64_t fb_u64(fb_ctx *c, fb_tab t, int field, uint64_t def) {
    size_t p = field_pos(c, t, field, 8);
    return p ? vg_load_u64(c->buf + p) : def;
}
float fb_f32(fb_ctx *c, fb_tab t, int field, float def) {
    size_t p = field_pos(c, t, field, 4);
    return p ? vg_load_f32(c->buf + p) : def;
}

/* Follows the reference stored at `pos`; 0 on failure. */
static size_t deref(fb_ctx *c, size_t pos) {
    if (!span_ok(c, pos, 4)) return 0;
    uint64_t target = (uint64_t)pos + vg_load_u32(c->buf + pos);
    if (target >= c->size) {
        c->bad = true;
        return 0;
    }
    return (size_t)target;
}

fb_tab fb_table(fb_ctx *c, fb_tab t, int field) {
    size_t p = field_pos(c, t, field, 4);
    if (!p) return (fb_tab){0, 0, 0, 0};
    return table_at(c, deref(c, p));
}

fb_vec fb_vector(fb_ctx *c, fb_tab t, int field, size_t elem_size) {
    fb_vec v = {0, 0};
    size_t p = field_pos(c, t, field, 4);
    if (!p) return v;
    size_t at = deref(c, p);
    if (!at || !span_ok(c, at, 4)) return v;
    uint32_t len = vg_load_u32(c->buf + at);
    size_t bytes;
    if (!vg_mul_size(len, elem_size, &bytes) || !span_ok(c, at + 4, bytes)) {
        c->bad = true;
        return v;
    }
    v.pos = at + 4;
    v.len = len;
    return v;
}

const char *fb_string(fb_ctx *c, fb_tab t, int field, uint32_t *len) {
    fb_vec v = fb_vector(c, t, field, 1);
    *len = v.len;
    return v.pos ? (const char *)c->buf + v.pos : NULL;
}

fb_tab fb_vec_table(fb_ctx *c, fb_vec v, uint32_t i) {
    if (i >= v.len) {
        c->bad = true;
        return (fb_tab){0, 0, 0, 0};
    }
    return table_at(c, deref(c, v.pos + 4 * (size_t)i));
}

int32_t fb_vec_i32(fb_ctx *c, fb_vec v, uint32_t i) {
    if (i >= v.len) {
        c->bad = true;
        return 0;
    }
    return (int32_t)vg_load_u32(c->buf + v.pos + 4 * (size_t)i);
}

int64_t fb_vec_i64(fb_ctx *c, fb_vec v, uint32_t i) {
    if (i >= v.len) {
        c->bad = true;
        return 0;
    }
    return (int64_t)vg_load_u64(c->buf + v.pos + 8 * (size_t)i);
}

float fb_vec_f32(fb_ctx *c, fb_vec v, uint32_t i) {
    if (i >= v.len) {
        c->bad = true;
        return 0.0f;
    }
    return vg_load_f32(c->buf + v.pos + 4 * (size_t)i);
}
