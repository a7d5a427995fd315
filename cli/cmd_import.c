/* cmd_import.c — `vigie import MODEL.tflite|MODEL.onnx -o OUT.vgm [--labels FILE]
 * [--mean R,G,B --std R,G,B]`: a classifier trained elsewhere into a vigie model. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"-o", "OUT.vgm", "output model file (required)"},
    {"--labels", "FILE", "class names, one per line, in output order"},
    {"--mean", "R,G,B",
     "ONNX: the input normalisation's mean on 0..255 pixels (default: the file's vigie "
     "metadata, else ImageNet's 123.675,116.28,103.53)"},
    {"--std", "R,G,B",
     "ONNX: its standard deviation on 0..255 pixels (default: the metadata, else "
     "58.395,57.12,57.375)"},
};

/* "a,b,c": three finite numbers */
static bool triple(const char *s, float v[3]) {
    char *end;
    for (int k = 0; k < 3; k++) {
        v[k] = strtof(s, &end);
        if (end == s) return false;
        s = end;
        if (k < 2 && *s++ != ',') return false;
    }
    return *s == 0;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int cmd_import(int argc, char **argv) {
    cli_args a = {.cmd = "import",
                  .synopsis = "MODEL.tflite|MODEL.onnx -o OUT.vgm [--labels FILE] [--mean R,G,B "
                              "--std R,G,B]",
                  .summary =
                      "Converts a classifier trained elsewhere into a vigie model.\n"
                      "TensorFlow Lite (MobileNet-style: CONV_2D, DEPTHWISE_CONV_2D, ADD,\n"
                      "pooling, FULLY_CONNECTED, SOFTMAX; uint8 or int8 weights are\n"
                      "dequantized to float): normalisation from the input quantization.\n"
                      "ONNX (a .onnx file; opsets 10 to 18; MobileNetV2 / V3 style: Conv,\n"
                      "BatchNormalization, Relu, Clip, HardSwish, HardSigmoid, Sigmoid, Add,\n"
                      "Mul, GlobalAveragePool, ReduceMean, Flatten, Reshape, Gemm, MatMul,\n"
                      "Softmax...; one static (N, C, H, W) float input):\n"
                      "normalisation from --mean / --std, else from the metadata vigie\n"
                      "export writes, else ImageNet's. Labels come from --labels, else\n"
                      "from the file. Examples:\n"
                      "  vigie import ../shared/models/mobilenet_v2_1.0_224_quant.tflite"
                      " \\\n    --labels ../shared/models/imagenet_labels.txt -o backbone.vgm\n"
                      "  vigie import mobilenet_v2.onnx -o mnv2.vgm   (from torch.onnx.export)",
                  .opts = opts,
                  .n_opts = sizeof opts / sizeof opts[0],
                  .min_pos = 1,
                  .max_pos = 1};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    const char *out = cli_get(&a, "-o"), *labels = cli_get(&a, "--labels");
    const char *mean = cli_get(&a, "--mean"), *sd = cli_get(&a, "--std");
    if (!out) {
        cli_error(a.cmd, "missing -o OUT.vgm");
        return CLI_USAGE;
    }
    vg_onnx_import_opts io;
    memset(&io, 0, sizeof io);
    if ((mean && !(io.has_mean = triple(mean, io.mean))) ||
        (sd && !(io.has_std = triple(sd, io.std)))) {
        cli_error(a.cmd, "--mean and --std take three numbers: R,G,B");
        return CLI_USAGE;
    }
    for (int k = 0; io.has_std && k < 3; k++)
        if (!(io.std[k] > 0)) {
            cli_error(a.cmd, "--std: values must be > 0");
            return CLI_USAGE;
        }
    const bool onnx = ends_with(a.pos[0], ".onnx");
    if (!onnx && (mean || sd)) {
        cli_error(a.cmd, "--mean and --std are for ONNX files (a TFLite file says its own)");
        return CLI_USAGE;
    }
    vg_err err;
    vg_model *m = NULL;
    double t0 = vg_time_now();
    vg_status st =
        onnx ? vg_import_onnx(a.pos[0], &io, &m, &err) : vg_import_tflite(a.pos[0], &m, &err);
    if (st != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    if (labels && vg_model_set_labels_file(m, labels, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        vg_model_free(m);
        return CLI_FAIL;
    }
    if (vg_model_save(m, out, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        vg_model_free(m);
        return CLI_FAIL;
    }
    vg_model_info info;
    vg_model_get_info(m, &info);
    printf("%s -> %s: %d layers, %.2f M parameters, %d classes%s, input %dx%d, %.0f MFLOP, "
           "%.1f s\n",
           a.pos[0], out, info.n_layers, (double)info.n_params / 1e6, info.n_classes,
           labels            ? ""
           : info.has_labels ? " (labels embedded in the file)"
                             : " (no labels)",
           info.input.w, info.input.h, (double)info.flops / 1e6, vg_time_now() - t0);
    vg_model_free(m);
    return CLI_OK;
}
