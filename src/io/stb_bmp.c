/* stb_bmp.c — stb_image's BMP decoder, compiled here from Debian's header (libstb-dev) with
 * only the BMP reader and no stdio, so that the inference library links with no libstb (the
 * other formats have their own decoders in image.c: libjpeg-turbo, libpng). The warnings are
 * stb's, silenced for this file only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#include <stb/stb_image.h>
#pragma GCC diagnostic pop
