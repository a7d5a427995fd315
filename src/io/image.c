/* image.c — decodes JPEG, PNG and BMP files into 8-bit RGB (vg_image_load/decode/free).
 *
 * The heavy lifting is done by libjpeg-turbo, libpng's simplified API and stb_image (BMP only).
 * What this file adds is the contract of vigie.h: the format comes from the magic bytes, the
 * image size is checked against VG_IMAGE_MAX_* before anything large is allocated, every
 * failure becomes a status plus a one-line message that starts with the file name, and no
 * path prints, exits or leaks. Resizing lives in resize.c. */
#include "core/core.h"

#include <limits.h>
#include <setjmp.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <stb/stb_image.h>

/* Files larger than this are refused before being read: the largest image we accept is
 * 100 Mpixel, and any sane encoding of it fits. */
#define VG_IMAGE_MAX_FILE_BYTES ((size_t)256 << 20)

/* Checks decoded dimensions against the limits of vigie.h; `w` and `h` come straight from a
 * file header, so they are taken as 64-bit and may be anything. */
static vg_status image_check_dims(const char *name, const char *fmt, uint64_t w, uint64_t h,
                                  vg_err *err) {
    if (w == 0 || h == 0)
        return vg_err_set(err, VG_ERR_FORMAT, "%s: %s header gives an empty image (%llux%llu)",
                          name, fmt, (unsigned long long)w, (unsigned long long)h);
    if (w > VG_IMAGE_MAX_DIM || h > VG_IMAGE_MAX_DIM || w * h > VG_IMAGE_MAX_PIXELS)
        return vg_err_set(err, VG_ERR_UNSUPPORTED,
                          "%s: %s image too large: %llux%llu (limit %d pixels per side, %u in all)",
                          name, fmt, (unsigned long long)w, (unsigned long long)h, VG_IMAGE_MAX_DIM,
                          VG_IMAGE_MAX_PIXELS);
    return VG_OK;
}

/* Allocates w*h*3 bytes; the dimensions have passed image_check_dims, so this cannot
 * overflow, but the checked multiply keeps that true if the limits ever grow. */
static uint8_t *image_alloc(int w, int h, size_t *bytes) {
    size_t n;
    if (!vg_mul_size((size_t)w, (size_t)h, &n) || !vg_mul_size(n, 3, &n)) return NULL;
    *bytes = n;
    return vg_malloc(n);
}

/* ---- JPEG (libjpeg-turbo) ---------------------------------------------------------------- */

/* libjpeg reports fatal errors through error_exit, which must not return: we longjmp back
 * to jpeg_run. The state lives in a struct owned by the caller of jpeg_run, so nothing that
 * setjmp's rules make indeterminate is read after the jump. */
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err_mgr;

typedef struct {
    struct jpeg_decompress_struct cinfo;
    jpeg_err_mgr jerr;
    uint8_t *pix;
    int w, h;
} jpeg_ctx;

_Noreturn static void jpeg_on_error(j_common_ptr c) {
    jpeg_err_mgr *e = (jpeg_err_mgr *)c->err;
    e->pub.format_message(c, e->msg);
    longjmp(e->jmp, 1);
}

/* Warnings are silent (the library never prints), except the two that mean the data ran out
 * before the image did: libjpeg would go on and fill the rest with gray, and a truncated
 * frame must be reported, not classified. A file that merely lacks its final EOI marker is
 * reported too; that is how libjpeg sees a file cut exactly at the end of its pixel data. */
static void jpeg_on_message(j_common_ptr c, int level) {
    jpeg_err_mgr *e = (jpeg_err_mgr *)c->err;
    if (level >= 0) return; /* trace messages */
    e->pub.num_warnings++;
    if (e->pub.msg_code == JWRN_JPEG_EOF || e->pub.msg_code == JWRN_HIT_MARKER) jpeg_on_error(c);
}

static void jpeg_on_output(j_common_ptr c) {
    (void)c;
}

/* Status and message for an error raised inside libjpeg. */
static vg_status jpeg_lib_error(jpeg_ctx *x, const char *name, vg_err *err) {
    const char *m = x->jerr.msg;
    switch (x->jerr.pub.msg_code) {
    case JERR_OUT_OF_MEMORY:
    case JERR_NO_BACKING_STORE:
        return vg_err_set(err, VG_ERR_NOMEM, "%s: JPEG decoder out of memory: %s", name, m);
    case JERR_NOT_COMPILED:
    case JERR_NOTIMPL:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_SOF_UNSUPPORTED:
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: unsupported JPEG: %s", name, m);
    default: break;
    }
    /* libjpeg's corruption warnings already say "Corrupt JPEG data: ..."; don't repeat it */
    static const char prefix[] = "Corrupt JPEG data: ";
    if (strncmp(m, prefix, sizeof prefix - 1) == 0) m += sizeof prefix - 1;
    return vg_err_set(err, VG_ERR_FORMAT, "%s: corrupt JPEG data: %s", name, m);
}

/* Decodes into x->pix; on failure the caller releases x->cinfo and x->pix. */
static vg_status jpeg_run(jpeg_ctx *x, const uint8_t *data, size_t size, const char *name,
                          vg_err *err) {
    struct jpeg_decompress_struct *ci = &x->cinfo;
    if (setjmp(x->jerr.jmp)) return jpeg_lib_error(x, name, err);
    jpeg_create_decompress(ci);
    if (size > ULONG_MAX)
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: JPEG data too large", name);
    jpeg_mem_src(ci, data, (unsigned long)size);
    jpeg_read_header(ci, TRUE);
    if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK)
        return vg_err_set(err, VG_ERR_UNSUPPORTED,
                          "%s: CMYK JPEG is not supported (convert it to RGB first)", name);
    vg_status s = image_check_dims(name, "JPEG", ci->image_width, ci->image_height, err);
    if (s != VG_OK) return s;
    ci->out_color_space = JCS_RGB; /* libjpeg expands grayscale to RGB itself */
    jpeg_start_decompress(ci);
    if (ci->output_components != 3 || ci->output_width != ci->image_width ||
        ci->output_height != ci->image_height)
        return vg_err_set(err, VG_ERR_FORMAT, "%s: JPEG decoder gave %ux%ux%d output for %ux%u",
                          name, (unsigned)ci->output_width, (unsigned)ci->output_height,
                          ci->output_components, (unsigned)ci->image_width,
                          (unsigned)ci->image_height);
    x->w = (int)ci->output_width;
    x->h = (int)ci->output_height;
    size_t bytes;
    x->pix = image_alloc(x->w, x->h, &bytes);
    if (!x->pix)
        return vg_err_set(err, VG_ERR_NOMEM, "%s: cannot allocate %dx%d image", name, x->w, x->h);
    size_t stride = (size_t)x->w * 3;
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW row = x->pix + (size_t)ci->output_scanline * stride;
        if (jpeg_read_scanlines(ci, &row, 1) != 1) /* only a suspending source returns 0 */
            return vg_err_set(err, VG_ERR_FORMAT, "%s: JPEG decoder stalled at row %u", name,
                              (unsigned)ci->output_scanline);
    }
    /* reads up to EOI, so that a file cut just after its pixel data is reported as well */
    jpeg_finish_decompress(ci);
    return VG_OK;
}

static vg_status image_decode_jpeg(const uint8_t *data, size_t size, const char *name,
                                   vg_image *img, vg_err *err) {
    jpeg_ctx x;
    memset(&x, 0, sizeof x);
    x.cinfo.err = jpeg_std_error(&x.jerr.pub);
    x.jerr.pub.error_exit = jpeg_on_error;
    x.jerr.pub.emit_message = jpeg_on_message;
    x.jerr.pub.output_message = jpeg_on_output;
    vg_status s = jpeg_run(&x, data, size, name, err);
    jpeg_destroy_decompress(&x.cinfo); /* also aborts a half-done decompression */
    if (s != VG_OK) {
        free(x.pix);
        return s;
    }
    img->w = x.w;
    img->h = x.h;
    img->rgb = x.pix;
    return VG_OK;
}

/* ---- PNG (libpng simplified API) ---------------------------------------------------------- */

static uint32_t image_load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* libpng's simplified reader stops after the pixel data and never looks for IEND, so a file
 * still being written (or cut after its last IDAT) would pass. Walking the chunk lengths up
 * to IEND is cheap and also reports a cut inside the pixel data before libpng gets there. */
static vg_status image_check_png_chunks(const uint8_t *d, size_t size, const char *name,
                                        vg_err *err) {
    size_t pos = 8;
    for (;;) {
        if (size - pos < 12)
            return vg_err_set(err, VG_ERR_FORMAT, "%s: truncated PNG: %zu bytes, no IEND chunk",
                              name, size);
        uint32_t len = image_load_be32(d + pos);
        if (len > 0x7FFFFFFFu) /* the PNG limit */
            return vg_err_set(err, VG_ERR_FORMAT, "%s: corrupt PNG: chunk length %u at byte %zu",
                              name, (unsigned)len, pos);
        if (memcmp(d + pos + 4, "IEND", 4) == 0) return VG_OK;
        if (size - pos - 12 < len)
            return vg_err_set(err, VG_ERR_FORMAT,
                              "%s: truncated PNG: %zu bytes, chunk at byte %zu needs %u more", name,
                              size, pos, (unsigned)len);
        pos += 12 + (size_t)len;
    }
}

static vg_status image_decode_png(const uint8_t *data, size_t size, const char *name, vg_image *img,
                                  vg_err *err) {
    vg_status cs = image_check_png_chunks(data, size, name, err);
    if (cs != VG_OK) return cs;
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, data, size)) {
        vg_status s = vg_err_set(err, VG_ERR_FORMAT, "%s: corrupt PNG data: %s", name, pi.message);
        png_image_free(&pi);
        return s;
    }
    vg_status s = image_check_dims(name, "PNG", pi.width, pi.height, err);
    if (s != VG_OK) {
        png_image_free(&pi);
        return s;
    }
    int w = (int)pi.width, h = (int)pi.height;
    size_t bytes;
    uint8_t *pix = image_alloc(w, h, &bytes);
    if (!pix) {
        png_image_free(&pi);
        return vg_err_set(err, VG_ERR_NOMEM, "%s: cannot allocate %dx%d image", name, w, h);
    }
    /* 8-bit sRGB output: libpng expands palettes and grayscale, reduces 16-bit samples, and
     * composites any alpha onto the background we give (black), not onto whatever the buffer
     * happens to hold. */
    pi.format = PNG_FORMAT_RGB;
    png_color black = {0, 0, 0};
    int ok = png_image_finish_read(&pi, &black, pix, 0, NULL);
    /* warnings (odd ICC profiles, bad ancillary-chunk CRCs) leave the pixels intact */
    if (!ok || (pi.warning_or_error & PNG_IMAGE_ERROR)) {
        s = vg_err_set(err, VG_ERR_FORMAT, "%s: corrupt PNG data: %s", name, pi.message);
        png_image_free(&pi);
        free(pix);
        return s;
    }
    png_image_free(&pi);
    img->w = w;
    img->h = h;
    img->rgb = pix;
    return VG_OK;
}

/* ---- BMP (stb_image) ---------------------------------------------------------------------- */

/* stb_image reads past the end of a memory buffer as zeros and indexes its 256-entry palette
 * without checking the palette's size, so a cut or damaged BMP would decode "successfully"
 * with made-up pixels. We parse the header ourselves first (the same way stb does) and
 * refuse such files before stb sees them. */
static vg_status image_check_bmp(const uint8_t *d, size_t size, const char *name, int *pw, int *ph,
                                 vg_err *err) {
    if (size < 18) return vg_err_set(err, VG_ERR_FORMAT, "%s: truncated BMP header", name);
    uint64_t off = vg_load_u32(d + 10);
    uint32_t hsz = vg_load_u32(d + 14);
    if (hsz != 12 && hsz != 40 && hsz != 56 && hsz != 108 && hsz != 124)
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: unknown BMP header type (%u bytes)", name,
                          (unsigned)hsz);
    if (size < 14 + (size_t)hsz)
        return vg_err_set(err, VG_ERR_FORMAT, "%s: truncated BMP header", name);
    uint64_t w, h;
    unsigned bpp, comp = 0;
    if (hsz == 12) {
        w = vg_load_u16(d + 18);
        h = vg_load_u16(d + 20);
        bpp = vg_load_u16(d + 24);
    } else {
        /* stb takes the width as unsigned and a negative height as a top-down image */
        w = vg_load_u32(d + 18);
        int64_t sh = (int32_t)vg_load_u32(d + 22);
        h = (uint64_t)(sh < 0 ? -sh : sh);
        bpp = vg_load_u16(d + 28);
        comp = vg_load_u32(d + 30);
    }
    vg_status s = image_check_dims(name, "BMP", w, h, err);
    if (s != VG_OK) return s;
    if (comp == 1 || comp == 2)
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: RLE-compressed BMP is not supported", name);
    if (comp > 3)
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: BMP compression type %u is not supported",
                          name, comp);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: BMP with %u bits per pixel", name, bpp);
    /* rows are padded to 4 bytes; the last row's padding may be missing */
    uint64_t row = (w * bpp + 7) / 8, stride = (w * bpp + 31) / 32 * 4;
    uint64_t need = off + stride * (h - 1) + row;
    if (need > size)
        return vg_err_set(err, VG_ERR_FORMAT,
                          "%s: truncated BMP: %zu bytes, the pixel data needs %llu", name, size,
                          (unsigned long long)need);
    if (bpp <= 8) {
        /* palette entries stb reads: the bytes between the header and the pixel data */
        int64_t psize = hsz == 12 ? ((int64_t)off - 38) / 3 : ((int64_t)off - 14 - hsz) / 4;
        if (psize < 1 || psize > 256)
            return vg_err_set(err, VG_ERR_FORMAT, "%s: bad BMP palette (%lld entries)", name,
                              (long long)psize);
        unsigned mask = (1u << bpp) - 1;
        for (uint64_t y = 0; y < h; y++) {
            const uint8_t *r = d + off + y * stride;
            for (uint64_t x = 0; x < w; x++) {
                uint64_t bit = x * bpp;
                unsigned v = (r[bit / 8] >> (8 - bpp - bit % 8)) & mask;
                if (v >= (unsigned)psize)
                    return vg_err_set(err, VG_ERR_FORMAT,
                                      "%s: BMP pixel (%llu, %llu) uses colour %u of a %lld-entry "
                                      "palette",
                                      name, (unsigned long long)x, (unsigned long long)y, v,
                                      (long long)psize);
            }
        }
    }
    *pw = (int)w;
    *ph = (int)h;
    return VG_OK;
}

static const char *image_stb_reason(void) {
    const char *r = stbi_failure_reason();
    return r ? r : "unknown error";
}

static vg_status image_decode_bmp(const uint8_t *data, size_t size, const char *name, vg_image *img,
                                  vg_err *err) {
    if (size > INT_MAX) /* stb takes an int length */
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: BMP file too large (%zu bytes)", name,
                          size);
    int w = 0, h = 0;
    vg_status s = image_check_bmp(data, size, name, &w, &h, err);
    if (s != VG_OK) return s;
    int iw, ih, ic;
    if (!stbi_info_from_memory(data, (int)size, &iw, &ih, &ic))
        return vg_err_set(err, VG_ERR_FORMAT, "%s: invalid BMP (stb_image: %s)", name,
                          image_stb_reason());
    if (iw != w || (ih != h && ih != -h))
        return vg_err_set(err, VG_ERR_FORMAT, "%s: inconsistent BMP header", name);
    int ow, oh, oc;
    uint8_t *p = stbi_load_from_memory(data, (int)size, &ow, &oh, &oc, 3);
    if (!p) {
        const char *r = image_stb_reason();
        return vg_err_set(err, strcmp(r, "outofmem") == 0 ? VG_ERR_NOMEM : VG_ERR_FORMAT,
                          "%s: invalid BMP (stb_image: %s)", name, r);
    }
    if (ow != w || oh != h) {
        stbi_image_free(p);
        return vg_err_set(err, VG_ERR_FORMAT, "%s: inconsistent BMP header", name);
    }
    /* copied so that vg_image_free() never has to know which allocator stb was built with */
    size_t bytes;
    uint8_t *pix = image_alloc(w, h, &bytes);
    if (!pix) {
        stbi_image_free(p);
        return vg_err_set(err, VG_ERR_NOMEM, "%s: cannot allocate %dx%d image", name, w, h);
    }
    memcpy(pix, p, bytes);
    stbi_image_free(p);
    img->w = w;
    img->h = h;
    img->rgb = pix;
    return VG_OK;
}

/* ---- entry points ------------------------------------------------------------------------- */

/* For the error message only: names a few formats people are likely to feed us by mistake. */
static const char *image_other_format(const uint8_t *d, size_t n) {
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0)) return "GIF";
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return "WebP";
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0) return "HEIF/AVIF/MP4";
    return NULL;
}

vg_status vg_image_decode(const void *data, size_t size, const char *name, vg_image *img,
                          vg_err *err) {
    if (!name) name = "<memory>";
    if (!img) return vg_err_set(err, VG_ERR_ARG, "%s: no output image given", name);
    memset(img, 0, sizeof *img);
    if (!data && size > 0) return vg_err_set(err, VG_ERR_ARG, "%s: NULL image data", name);
    const uint8_t *d = data;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (size >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return image_decode_jpeg(d, size, name, img, err);
    if (size >= 8 && memcmp(d, png_sig, 8) == 0) return image_decode_png(d, size, name, img, err);
    if (size >= 2 && d[0] == 'B' && d[1] == 'M') return image_decode_bmp(d, size, name, img, err);
    if (size == 0) return vg_err_set(err, VG_ERR_FORMAT, "%s: empty file, not an image", name);
    const char *other = image_other_format(d, size);
    if (other)
        return vg_err_set(err, VG_ERR_FORMAT,
                          "%s: %s images are not supported (supported formats: JPEG, PNG, BMP)",
                          name, other);
    return vg_err_set(err, VG_ERR_FORMAT,
                      "%s: unknown image format (supported formats: JPEG, PNG, BMP)", name);
}

vg_status vg_image_load(const char *path, vg_image *img, vg_err *err) {
    if (img) memset(img, 0, sizeof *img);
    if (!path || !img) return vg_err_set(err, VG_ERR_ARG, "vg_image_load: NULL argument");
    uint8_t *data;
    size_t size;
    vg_status s = vg_file_read(path, VG_IMAGE_MAX_FILE_BYTES, &data, &size, err);
    if (s != VG_OK) return s;
    s = vg_image_decode(data, size, path, img, err);
    free(data);
    return s;
}

void vg_image_free(vg_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}
