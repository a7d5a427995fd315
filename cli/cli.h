/* cli.h — shared pieces of the command line: option parsing with generated --help, number
 * parsing with range checks, JSON string output. The cli/ directory is the only code that
 * prints to the terminal or exits. */
#ifndef VG_CLI_H
#define VG_CLI_H

#include "vigie.h"

#include <stdbool.h>
#include <stdio.h>

/* exit codes */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

typedef struct {
    const char *name;    /* "--top" */
    const char *metavar; /* "K", or NULL for a flag */
    const char *help;
} cli_opt;

#define CLI_MAX_OPTS 64 /* options of one command (cli_parse refuses a longer table) */
#define CLI_MAX_POS 4096
#define CLI_MAX_REPEAT 16

typedef struct {
    const char *cmd;      /* "predict" */
    const char *synopsis; /* "MODEL.vgm IMAGE... [options]" */
    const char *summary;  /* one paragraph */
    const cli_opt *opts;
    int n_opts;
    int min_pos, max_pos; /* positional argument counts */
    /* results */
    const char *val[CLI_MAX_OPTS][CLI_MAX_REPEAT];
    int seq[CLI_MAX_OPTS][CLI_MAX_REPEAT]; /* position of each value among all options given */
    int n_val[CLI_MAX_OPTS];
    const char *pos[CLI_MAX_POS];
    int n_pos;
} cli_args;

/* Parses argv (argv[0] is the subcommand). Returns -1 when parsing succeeded, else the exit
 * code to return: CLI_OK after printing --help, CLI_USAGE after printing an error. */
int cli_parse(cli_args *a, int argc, char **argv);
void cli_usage(const cli_args *a, FILE *f);

/* Last value of an option, or NULL. */
const char *cli_get(const cli_args *a, const char *name);
bool cli_flag(const cli_args *a, const char *name);
/* Integer / float option with a default and an inclusive range; on a bad value prints an
 * error and returns false. */
bool cli_int(const cli_args *a, const char *name, long def, long lo, long hi, long *out);
bool cli_double(const cli_args *a, const char *name, double def, double lo, double hi,
                double *out);

/* A byte size: "1G", "512M", "800MB", "1.5GiB", "64k" or plain bytes (powers of 1024). */
bool cli_size(const cli_args *a, const char *name, size_t def, size_t *out);
/* All values of a repeatable option; returns the count. */
int cli_all(const cli_args *a, const char *name, const char **vals, int max);

/* The datasets of a command: every `data_opt` (--data DIR, repeatable) in order, with the
 * list options that follow it (list_opts: the names of its train, val and test list options,
 * NULL where the command has none; NULL for --train-list, --val-list, --test-list; given
 * before any --data they belong to the first), then every `extra_opt` DIR as a training-only
 * source (extra_opt may be NULL). Returns the count (0: no --data), or -1 after printing an
 * error. The vg_source_spec strings point into argv. */
int cli_sources(const cli_args *a, const char *data_opt, const char *const list_opts[3],
                const char *extra_opt, vg_source_spec *specs, int max);

/* --precision auto|float|int8 -> vg_precision (false after printing an error) */
bool cli_precision(const cli_args *a, vg_precision *out);

/* Prints "vigie <cmd>: message" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes s as a JSON string literal (with quotes). */
void cli_json_str(FILE *f, const char *s);

/* The environment's switches for A/B comparisons, read once by main (the library reads no
 * environment variable): VIGIE_KERNELS=ref|scalar|avx2|avx512|neon (vg_set_kernels) and
 * VIGIE_FUSE=0 (cli_unfused: set in the runner options of the commands that build runners). */
extern int cli_unfused;

int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_optimize(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_adapt(int argc, char **argv);



/* Loads a model for a command: a .vgm file, or a .tflite file imported on the fly (the format
 * is recognised from the file's contents). Prints the error and returns NULL on failure. */
vg_model *cli_load_model(const char *cmd, const char *path);
#endif
