/* cmd_import.c — `vigie import MODEL.tflite -o OUT.vgm [--labels FILE]`. */
#include "cli.h"

static const cli_opt opts[] = {
    {"-o", "OUT.vgm", "output model file (required)"},
    {"--labels", "FILE", "class names, one per line, in output order"},
};

int cmd_import(int argc, char **argv) {
    cli_args a = {.cmd = "import",
                  .synopsis = "MODEL.tflite -o OUT.vgm [--labels FILE]",
                  .summary = "Converts a TensorFlow Lite classifier (MobileNet-style: CONV_2D,\n"
                             "DEPTHWISE_CONV_2D, ADD, pooling, FULLY_CONNECTED, SOFTMAX; uint8 or\n"
                             "int8 weights are dequantized to float) into a vigie model. Input\n"
                             "normalisation is taken from the model's input quantization. Labels\n"
                             "come from --labels, else from a label list embedded in the file.\n"
                             "Example: vigie import ../shared/models/mobilenet_v2_1.0_224_quant.tflite"
                             " \\\n    --labels ../shared/models/imagenet_labels.txt -o backbone.vgm",
                  .opts = opts,
                  .n_opts = sizeof opts / sizeof opts[0],
                  .min_pos = 1,
                  .max_pos = 1};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    const char *out = cli_get(&a, "-o"), *labels = cli_get(&a, "--labels");
    if (!out) {
        cli_error(a.cmd, "missing -o OUT.vgm");
        return CLI_USAGE;
    }
    vg_err err;
    vg_model *m = NULL;
    double t0 = vg_time_now();
    if (vg_import_tflite(a.pos[0], &m, &err) != VG_OK) {
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
           labels ? "" : info.has_labels ? " (labels embedded in the file)" : " (no labels)", info.input.w, info.input.h, (double)info.flops / 1e6,
           vg_time_now() - t0);
    vg_model_free(m);
    return CLI_OK;
}
