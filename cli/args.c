/* args.c — option parsing for every subcommand: --opt VALUE, --opt=VALUE, flags, positional
 * arguments, "--" to end options, and a --help generated from the option table. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *cmd, const char *fmt, ...) {
    fprintf(stderr, "vigie %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_usage(const cli_args *a, FILE *f) {
    fprintf(f, "usage: vigie %s %s\n\n%s\n", a->cmd, a->synopsis, a->summary);
    if (a->n_opts) fprintf(f, "\noptions:\n");
    for (int i = 0; i < a->n_opts; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", a->opts[i].name, a->opts[i].metavar ? " " : "",
                 a->opts[i].metavar ? a->opts[i].metavar : "");
        fprintf(f, "  %-24s %s\n", left, a->opts[i].help);
    }
    fprintf(f, "  %-24s %s\n", "-h, --help", "show this help");
}

static int find_opt(const cli_args *a, const char *name, size_t len) {
    for (int i = 0; i < a->n_opts; i++)
        if (strlen(a->opts[i].name) == len && strncmp(a->opts[i].name, name, len) == 0) return i;
    return -1;
}

int cli_parse(cli_args *a, int argc, char **argv) {
    if (a->n_opts < 0 || a->n_opts > CLI_MAX_OPTS) { /* a programming error, never input */
        fprintf(stderr, "vigie %s: internal error: %d options, at most %d\n", a->cmd, a->n_opts,
                CLI_MAX_OPTS);
        abort();
    }
    a->n_pos = 0;
    memset(a->n_val, 0, sizeof a->n_val);
    int seq = 0;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!only_pos && (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)) {
            cli_usage(a, stdout);
            return CLI_OK;
        }
        if (!only_pos && strcmp(s, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (!only_pos && s[0] == '-' && s[1] != 0) {
            const char *eq = strchr(s, '=');
            size_t len = eq ? (size_t)(eq - s) : strlen(s);
            int k = find_opt(a, s, len);
            if (k < 0) {
                cli_error(a->cmd, "unknown option '%.*s' (see vigie %s --help)", (int)len, s,
                          a->cmd);
                return CLI_USAGE;
            }
            const char *v = NULL;
            if (a->opts[k].metavar) {
                if (eq) v = eq + 1;
                else if (i + 1 < argc) v = argv[++i];
                else {
                    cli_error(a->cmd, "option %s needs a value (%s)", a->opts[k].name,
                              a->opts[k].metavar);
                    return CLI_USAGE;
                }
            } else if (eq) {
                cli_error(a->cmd, "option %s takes no value", a->opts[k].name);
                return CLI_USAGE;
            }
            if (a->n_val[k] >= CLI_MAX_REPEAT) {
                cli_error(a->cmd, "option %s given too many times", a->opts[k].name);
                return CLI_USAGE;
            }
            a->seq[k][a->n_val[k]] = seq++;
            a->val[k][a->n_val[k]++] = v ? v : "";
            continue;
        }
        if (a->n_pos >= CLI_MAX_POS) {
            cli_error(a->cmd, "too many arguments");
            return CLI_USAGE;
        }
        a->pos[a->n_pos++] = s;
    }
    if (a->n_pos < a->min_pos || a->n_pos > a->max_pos) {
        cli_error(a->cmd, "expected %s (see vigie %s --help)", a->synopsis, a->cmd);
        return CLI_USAGE;
    }
    return -1;
}

const char *cli_get(const cli_args *a, const char *name) {
    int k = find_opt(a, name, strlen(name));
    if (k < 0 || a->n_val[k] == 0) return NULL;
    return a->val[k][a->n_val[k] - 1];
}

bool cli_flag(const cli_args *a, const char *name) { return cli_get(a, name) != NULL; }

bool cli_int(const cli_args *a, const char *name, long def, long lo, long hi, long *out) {
    const char *s = cli_get(a, name);
    if (!s) {
        *out = def;
        return true;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_error(a->cmd, "%s: expected an integer in %ld..%ld, got '%s'", name, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_double(const cli_args *a, const char *name, double def, double lo, double hi,
                double *out) {
    const char *s = cli_get(a, name);
    if (!s) {
        *out = def;
        return true;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        cli_error(a->cmd, "%s: expected a number in %g..%g, got '%s'", name, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

void cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

bool cli_size(const cli_args *a, const char *name, size_t def, size_t *out) {
    const char *s = cli_get(a, name);
    if (!s) {
        *out = def;
        return true;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024.0, end++;
    else if (*end == 'm' || *end == 'M') mul = 1024.0 * 1024, end++;
    else if (*end == 'g' || *end == 'G') mul = 1024.0 * 1024 * 1024, end++;
    if (mul > 1 && (*end == 'i' || *end == 'I')) end++;
    if (mul > 1 && (*end == 'b' || *end == 'B')) end++;
    if (errno || end == s || *end || !isfinite(v) || v < 0 || v * mul > 1e15) {
        cli_error(a->cmd, "%s: expected a size such as 1G, 512M or 800MB, got '%s'", name, s);
        return false;
    }
    *out = (size_t)(v * mul);
    return true;
}

int cli_all(const cli_args *a, const char *name, const char **vals, int max) {
    int k = find_opt(a, name, strlen(name));
    if (k < 0) return 0;
    int n = a->n_val[k] < max ? a->n_val[k] : max;
    for (int i = 0; i < n; i++) vals[i] = a->val[k][i];
    return n;
}

int cli_sources(const cli_args *a, const char *data_opt, const char *const list_opts[3],
                const char *extra_opt, vg_source_spec *sp, int max) {
    int kd = find_opt(a, data_opt, strlen(data_opt));
    int n = kd >= 0 ? a->n_val[kd] : 0;
    int ke = extra_opt ? find_opt(a, extra_opt, strlen(extra_opt)) : -1;
    int ne = ke >= 0 ? a->n_val[ke] : 0;
    if (n + ne > max) {
        cli_error(a->cmd, "at most %d datasets (%s%s%s)", max, data_opt, extra_opt ? " and " : "",
                  extra_opt ? extra_opt : "");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        memset(&sp[i], 0, sizeof sp[i]);
        sp[i].dir = a->val[kd][i];
    }
    static const char *const std_lists[3] = {"--train-list", "--val-list", "--test-list"};
    const char *const *lists = list_opts ? list_opts : std_lists;
    for (int l = 0; l < 3; l++) {
        int k = lists[l] ? find_opt(a, lists[l], strlen(lists[l])) : -1;
        for (int j = 0; k >= 0 && j < a->n_val[k]; j++) {
            if (n == 0) {
                cli_error(a->cmd, "%s needs a %s to belong to", lists[l], data_opt);
                return -1;
            }
            int owner = 0; /* the last --data before it; the first when none is */
            for (int i = 0; i < n; i++)
                if (a->seq[kd][i] < a->seq[k][j]) owner = i;
            const char **slot = l == 0   ? &sp[owner].train_list
                                : l == 1 ? &sp[owner].val_list
                                         : &sp[owner].test_list;
            if (*slot) {
                cli_error(a->cmd, "two %s for %s %s (a list belongs to the %s before it)", lists[l],
                          data_opt, sp[owner].dir, data_opt);
                return -1;
            }
            *slot = a->val[k][j];
        }
    }
    for (int i = 0; i < ne; i++) {
        memset(&sp[n + i], 0, sizeof sp[n + i]);
        sp[n + i].dir = a->val[ke][i];
        sp[n + i].extra = true;
    }
    return n + ne;
}

bool cli_precision(const cli_args *a, vg_precision *out) {
    const char *s = cli_get(a, "--precision");
    *out = VG_PRECISION_AUTO;
    if (!s || !strcmp(s, "auto")) return true;
    if (!strcmp(s, "float")) *out = VG_PRECISION_FLOAT;
    else if (!strcmp(s, "int8")) *out = VG_PRECISION_INT8;
    else {
        cli_error(a->cmd, "--precision: expected auto, float or int8, got '%s'", s);
        return false;
    }
    return true;
}
