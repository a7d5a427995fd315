/* cmd_info.c — `vigie info MODEL [--labels] [--json]`. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const cli_opt opts[] = {
    {"--labels", NULL, "list every class label (default: the first 10)"},
    {"--json", NULL, "print a JSON object instead of text"},
};

int cmd_info(int argc, char **argv) {
    cli_args a = {.cmd = "info",
                  .synopsis = "MODEL [--labels] [--json]",
                  .summary = "Shows a model's architecture (one line per layer), parameter count,\n"
                             "file size, compute per image, input specification, labels and\n"
                             "metadata (training recipe, alarm threshold, validation figures).",
                  .opts = opts,
                  .n_opts = sizeof opts / sizeof opts[0],
                  .min_pos = 1,
                  .max_pos = 1};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    vg_model *m = cli_load_model(a.cmd, a.pos[0]);
    if (!m) return CLI_FAIL;
    vg_model_info in;
    vg_model_get_info(m, &in);
    const vg_input_spec *s = &in.input;
    if (cli_flag(&a, "--json")) {
        printf("{\"model\":");
        cli_json_str(stdout, a.pos[0]);
        printf(",\"file_bytes\":%lld,\"layers\":%d,\"params\":%lld,\"flops\":%lld,\"int8\":%s,",
               (long long)in.file_bytes, in.n_layers, (long long)in.n_params, (long long)in.flops,
               in.has_int8 ? "true" : "false");
        printf("\"input\":{\"w\":%d,\"h\":%d,\"c\":%d,\"mean\":[%g,%g,%g],\"std\":[%g,%g,%g]},", s->w,
               s->h, s->c, s->mean[0], s->mean[1], s->mean[2], s->std[0], s->std[1], s->std[2]);
        if (in.is_engine)
            printf("\"engine\":{\"weights_f32\":%lld,\"weights_int8\":%lld,\"weights_clustered\":%lld,"
                   "\"other\":%lld,\"clustered_layers\":%d,\"huffman_layers\":%d,\"sparse_layers\":%d,\"max_distinct\":%d,"
                   "\"sparsity\":%.6f},",
                   (long long)in.eng_f32_bytes, (long long)in.eng_int8_bytes, (long long)in.eng_cluster_bytes,
                   (long long)in.eng_other_bytes, in.eng_cluster_layers, in.eng_huff_layers, in.eng_sparse_layers,
                   in.max_distinct, in.sparsity);
        printf("\"source\":");
        cli_json_str(stdout, in.source ? in.source : "");
        printf(",\"meta\":{");
        const char *mk, *mv;
        for (int i = 0; vg_model_meta_at(m, i, &mk, &mv); i++) {
            if (i) putchar(',');
            cli_json_str(stdout, mk);
            putchar(':');
            cli_json_str(stdout, mv);
        }
        printf("},\"labels\":[");
        for (int i = 0; i < in.n_classes; i++) {
            if (i) putchar(',');
            cli_json_str(stdout, vg_model_label(m, i));
        }
        printf("]}\n");
        vg_model_free(m);
        return CLI_OK;
    }
    size_t need = vg_model_describe_layers(m, NULL, 0);
    char *layers = malloc(need + 1);
    if (layers) vg_model_describe_layers(m, layers, need + 1);
    printf("model       %s", a.pos[0]);
    if (in.file_bytes) printf(" (%.2f MB)", (double)in.file_bytes / 1e6);
    printf("\nsource      %s\n", in.source ? in.source : "-");
    printf("input       %dx%dx%d RGB, whole image resized (bilinear, area when shrinking), "
           "(pixel - [%g %g %g]) / [%g %g %g]\n",
           s->w, s->h, s->c, s->mean[0], s->mean[1], s->mean[2], s->std[0], s->std[1], s->std[2]);
    printf("parameters  %lld (%.2f MB as float32)\n", (long long)in.n_params,
           (double)in.n_params * 4 / 1e6);
    printf("compute     %.1f MFLOP per image\n", (double)in.flops / 1e6);
    if (in.has_int8)
        printf("int8        int8 weights with per-channel scales (%.2f MB); integer kernels by default\n",
               (double)in.int8_weight_bytes / 1e6);
    if (in.is_engine) {
        printf("engine      weights: %.3f MB float32 (%d layers), %.3f MB int8 (%d layers), %.3f MB "
               "clustered (%d layers, codebook + indices, %d of them Huffman-coded); %d sparse layers "
               "(bitmap); other "
               "%.3f MB (biases, int8 tables, graph, labels)\n",
               in.eng_f32_bytes / 1e6, in.eng_f32_layers, in.eng_int8_bytes / 1e6, in.eng_int8_layers,
               in.eng_cluster_bytes / 1e6, in.eng_cluster_layers, in.eng_huff_layers, in.eng_sparse_layers,
               in.eng_other_bytes / 1e6);
        printf("weights     %.1f%% zeros", 100 * in.sparsity);
        if (in.eng_cluster_layers)
            printf("; clustered layers share at most %d values each (x one scale per output channel)",
                   in.max_distinct);
        printf("\n");
    }
    printf("layers      %d\n%s", in.n_layers, layers ? layers : "(out of memory)\n");
    int show = cli_flag(&a, "--labels") || in.n_classes <= 10 ? in.n_classes : 10;
    printf("classes     %d:", in.n_classes);
    for (int i = 0; i < show; i++) printf("%s %s", i ? "," : "", vg_model_label(m, i));
    if (show < in.n_classes) printf(", ... (%d more; --labels lists them)", in.n_classes - show);
    printf("\n");
    const char *mk, *mv;
    for (int i = 0; vg_model_meta_at(m, i, &mk, &mv); i++)
        if (strcmp(mk, "source") != 0) printf("meta        %s = %s\n", mk, mv);
    free(layers);
    vg_model_free(m);
    return CLI_OK;
}
