/* main.c — `vigie <command>`: dispatch to the subcommands. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command commands[] = {
    {"import", cmd_import, "convert a TensorFlow Lite or ONNX model into a vigie model (.vgm)"},
    {"export", cmd_export, "write a model as ONNX (TensorRT, OpenCV DNN, ONNX Runtime)"},
    {"predict", cmd_predict, "classify images"},
    {"info", cmd_info, "show a model's architecture, size, input and labels"},
    {"bench", cmd_bench, "measure forward-pass latency and memory"},
    {"train", cmd_train, "fine-tune a backbone on a folder of fire / smoke / neutral images"},
    {"eval", cmd_eval, "accuracy, per-class metrics, alarm rates and confusion of a model"},
    {"optimize", cmd_optimize, "fold, prune, cluster, quantize to int8: a compact engine (.vge)"},
    {"watch", cmd_watch, "watch a camera, stream, video or folder and raise fire / smoke alarms"},
    {"adapt", cmd_adapt, "learn from your own false alarms and missed fires, in seconds"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: vigie <command> [options]\n\n"
               "vigie classifies camera images (fire / smoke / neutral, or ImageNet) on small\n"
               "computers, in plain C.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'vigie <command> --help' describes a command. 'vigie --version' prints the "
               "version.\n");
}

int cli_unfused;

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("vigie %s\n", VG_VERSION_STRING);
        return CLI_OK;
    }
    const char *kernels = getenv("VIGIE_KERNELS");
    vg_err err;
    if (kernels && vg_set_kernels(kernels, &err) != VG_OK) {
        fprintf(stderr, "vigie: VIGIE_KERNELS: %s\n", err.msg);
        return CLI_FAIL;
    }
    const char *fuse = getenv("VIGIE_FUSE");
    cli_unfused = fuse && strcmp(fuse, "0") == 0;
    /* allocation-failure tests (tests/alloc_test.sh): VIGIE_ALLOC_FAIL=N fails the library's
     * N-th allocation; VIGIE_ALLOC_COUNT=1 says on stderr how many it made */
    const char *fail_at = getenv("VIGIE_ALLOC_FAIL");
    if (fail_at) vg_fail_alloc(strtol(fail_at, NULL, 10));
    const char *count = getenv("VIGIE_ALLOC_COUNT");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0) {
            int rc = commands[i].fn(argc - 1, argv + 1);
            if (count && strcmp(count, "1") == 0)
                fprintf(stderr, "vigie: %ld library allocations\n", vg_alloc_count());
            return rc;
        }
    fprintf(stderr, "vigie: unknown command '%s' (see vigie --help)\n", cmd);
    return CLI_USAGE;
}
