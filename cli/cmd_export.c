/* cmd_export.c — `vigie export MODEL -o OUT.onnx [--qdq]`: a vigie model for TensorRT (trtexec
 * --onnx), OpenCV DNN or ONNX Runtime. The conversions are vg_export_onnx (the float view) and
 * vg_export_onnx_qdq (an int8 engine's integer form). */
#include "cli.h"

static const cli_opt opts[] = {
    {"-o", "OUT.onnx", "the ONNX file to write (atomically)"},
    {"--opset", "N",
     "ONNX opset, 10 to 18 (default 13: TensorRT, ONNX Runtime; 10 for OpenCV DNN 4.6 and "
     "older, which read ReLU6's bounds only as attributes)"},
    {"--qdq", NULL,
     "an int8 engine as a QDQ model (QuantizeLinear / DequantizeLinear at the engine's scales, "
     "its int8 weights and int32 biases), for runtimes that run QDQ models (ONNX Runtime): "
     "the engine's integers, up to float32's rounding of values within 1e-4 of a half "
     "(opset 13 or later; TensorRT needs zero points of 0: give it the float view)"},
};

int cmd_export(int argc, char **argv) {
    cli_args a = {
        .cmd = "export",
        .synopsis = "MODEL -o OUT.onnx [--opset N] [--qdq]",
        .summary = "Writes a vigie model (.vgm, .vge, .tflite) as ONNX, opset 13, static shapes:\n"
                   "input \"input\" (1, 3, H, W) float32, already normalised; output \"probs\"\n"
                   "(softmax probabilities). The preprocessing is in the file's metadata_props:\n"
                   "vigie.mean and vigie.std on 0..255 pixels, vigie.resize, vigie.labels. An\n"
                   "int8 engine is written as its float view (dequantized weights), or with\n"
                   "--qdq as its integer form (QDQ).\n"
                   "Example, for TensorRT on a Jetson (README):\n"
                   "  vigie export models/fire.vge -o fire.onnx\n"
                   "  trtexec --onnx=fire.onnx --saveEngine=fire.plan --fp16",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_pos = 1,
        .max_pos = 1};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    const char *out = cli_get(&a, "-o");
    if (!out) {
        cli_error(a.cmd, "missing -o OUT.onnx");
        return CLI_USAGE;
    }
    long opset;
    if (!cli_int(&a, "--opset", 13, 10, 18, &opset)) return CLI_USAGE;
    vg_model *m = cli_load_model(a.cmd, a.pos[0]);
    if (!m) return CLI_FAIL;
    vg_err err;
    vg_model_info info;
    vg_model_get_info(m, &info);
    const bool qdq = cli_flag(&a, "--qdq");
    vg_status st = qdq ? vg_export_onnx_qdq(m, out, (int)opset, &err)
                       : vg_export_onnx(m, out, (int)opset, &err);
    vg_model_free(m);
    if (st != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    printf("%s -> %s: input (1, %d, %d, %d), %d classes%s\n", a.pos[0], out, info.input.c,
           info.input.h, info.input.w, info.n_classes,
           qdq             ? " (QDQ: the int8 engine's integer form)"
           : info.has_int8 ? " (the int8 engine's float view; --qdq for its integer form)"
                           : "");
    return CLI_OK;
}
