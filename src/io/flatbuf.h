/* flatbuf.h — a bounds-checked reader for the FlatBuffers binary format, just enough to read
 * TensorFlow Lite files without generated code. Every offset is checked against the buffer
 * size before it is followed; a failed check sets ctx->bad and yields an absent value (0,
 * empty vector, null table), so callers read freely and test `bad` at checkpoints.
 *
 * Format reminders: a table starts with an int32 offset back to its vtable; the vtable holds
 * u16 sizes (vtable, table) then one u16 offset per field (0 = absent, use the default).
 * References (tables, vectors, strings) are u32 offsets relative to where they are stored;
 * a vector is a u32 length followed by its elements. A union takes two field slots: the type
 * (u8) and the value (table reference). */
#ifndef VG_FLATBUF_H
#define VG_FLATBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *buf;
    size_t size;
    bool bad;
    size_t hi; /* one past the highest byte read so far: where the flatbuffer's used part ends */
} fb_ctx;

typedef struct {
    size_t pos;       /* 0 = null table */
    size_t vt;        /* vtable position */
    uint16_t vt_size; /* bytes of vtable */
    uint16_t size;    /* bytes of table */
} fb_tab;

typedef struct {
    size_t pos; /* first element */
    uint32_t len;
} fb_vec;

fb_tab fb_root(fb_ctx *c);
bool fb_present(const fb_ctx *c, fb_tab t, int field);

uint8_t fb_u8(fb_ctx *c, fb_tab t, int field, uint8_t def);
int8_t fb_i8(fb_ctx *c, fb_tab t, int field, int8_t def);
int32_t fb_i32(fb_ctx *c, fb_tab t, int field, int32_t def);
uint32_t fb_u32(fb_ctx *c, fb_tab t, int field, uint32_t def);
uint64_t fb_u64(fb_ctx *c, fb_tab t, int field, uint64_t def);
float fb_f32(fb_ctx *c, fb_tab t, int field, float def);

fb_tab fb_table(fb_ctx *c, fb_tab t, int field);
/* Vector field whose elements are `elem_size` bytes (4 for references). */
fb_vec fb_vector(fb_ctx *c, fb_tab t, int field, size_t elem_size);
/* String field: pointer to its bytes (not NUL-terminated by contract) and length. */
const char *fb_string(fb_ctx *c, fb_tab t, int field, uint32_t *len);

fb_tab fb_vec_table(fb_ctx *c, fb_vec v, uint32_t i);
int32_t fb_vec_i32(fb_ctx *c, fb_vec v, uint32_t i);
int64_t fb_vec_i64(fb_ctx *c, fb_vec v, uint32_t i);
float fb_vec_f32(fb_ctx *c, fb_vec v, uint32_t i);

#endif
