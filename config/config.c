/* SPDX-License-Identifier: MIT */
/*
 * The configuration table's machinery: parsing values by type, the INI file (libinih, read
 * through our own line reader so every error can name its line), environment variables,
 * flags, provenance and printing. See config.h. Thread: main.
 */
#include "config/config.h"
#include "runtime/alloc.h"
#include "runtime/error.h"

#include <ini.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum key_type { T_INT, T_SIZE, T_DOUBLE, T_BOOL, T_ENUM, T_STRING };

struct key_desc {
    const char *section;
    const char *key;
    enum key_type type;
    const char *def;
    double min;
    double max;
    const char *values; /* ENUM: "a|b|c" */
    const char *doc;
    size_t offset;
};

#define T_TYPE_INT    T_INT
#define T_TYPE_SIZE   T_SIZE
#define T_TYPE_DOUBLE T_DOUBLE
#define T_TYPE_BOOL   T_BOOL
#define T_TYPE_ENUM   T_ENUM
#define T_TYPE_STRING T_STRING

/* sec.k is a member designator for offsetof: it cannot be parenthesised. */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
// clang-format off
#define KEY_DESC(sec, k, type, def, mn, mx, vals, doc) \
    {#sec, #k, T_TYPE_##type, def, (double)(mn), (double)(mx), vals, doc, \
     offsetof(vg_config_t, sec.k)},
// clang-format on
/* NOLINTEND(bugprone-macro-parentheses) */
#define SECTION_DESC(sec, keys) keys(KEY_DESC)

static const struct key_desc keys[] = {VG_CONFIG_SECTIONS(SECTION_DESC)};

_Static_assert(sizeof(keys) / sizeof(keys[0]) == VG_CONFIG_NKEYS, "key table");

#define SECTION_NAME(sec, keys) #sec,
static const char *const sections[] = {VG_CONFIG_SECTIONS(SECTION_NAME)};

static void errf(char *err, size_t errlen, const char *fmt, ...) VG_PRINTF(3, 4);

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const struct key_desc *find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(keys); i++) {
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
            return &keys[i];
    }
    return NULL;
}

static bool known_section(const char *section)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(sections); i++) {
        if (strcmp(sections[i], section) == 0)
            return true;
    }
    return false;
}

static void *field(vg_config_t *cfg, const struct key_desc *k)
{
    return (char *)cfg + k->offset;
}

static const void *cfield(const vg_config_t *cfg, const struct key_desc *k)
{
    return (const char *)cfg + k->offset;
}

static size_t key_index(const struct key_desc *k)
{
    return (size_t)(k - keys);
}

/* The multiplier of a size suffix: "", "K", "KB", "KiB" (any case), M..., G...; 0 if bad. */
static int64_t suffix_multiplier(const char *sfx)
{
    static const struct {
        const char *text;
        int64_t mul;
    } table[] = {
        {"", 1},
        {"k", 1024},
        {"kb", 1024},
        {"kib", 1024},
        {"m", (int64_t)1024 * 1024},
        {"mb", (int64_t)1024 * 1024},
        {"mib", (int64_t)1024 * 1024},
        {"g", (int64_t)1024 * 1024 * 1024},
        {"gb", (int64_t)1024 * 1024 * 1024},
        {"gib", (int64_t)1024 * 1024 * 1024},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(table); i++) {
        if (strcasecmp(sfx, table[i].text) == 0)
            return table[i].mul;
    }
    return 0;
}

/* Parses a decimal integer, with an optional K/M/G suffix when `suffixes` (SIZE keys). */
static bool parse_int(const char *v, bool suffixes, int64_t *out)
{
    errno = 0;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v)
        return false;
    int64_t mul = suffixes ? suffix_multiplier(end) : (*end == '\0');
    if (mul == 0 || n > INT64_MAX / mul || n < INT64_MIN / mul)
        return false;
    *out = (int64_t)n * mul;
    return true;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < VG_ARRAY_LEN(yes); i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool parse_enum(const char *values, const char *v, int *out)
{
    size_t vlen = strlen(v);
    int idx = 0;
    for (const char *p = values; *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncmp(p, v, len) == 0) {
            *out = idx;
            return true;
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

/* A string key that holds a numeric address (values "address"): server.bind. */
static bool is_address(const struct key_desc *k)
{
    return k->values && strcmp(k->values, "address") == 0;
}

/* Describes what `k` accepts, for error messages. */
static void expectation(const struct key_desc *k, char *buf, size_t len)
{
    switch (k->type) {
    case T_INT:
        snprintf(buf, len, "an integer in %.0f..%.0f", k->min, k->max);
        break;
    case T_SIZE:
        snprintf(buf, len, "a size in bytes (suffix K, M or G allowed) in %.0f..%.0f", k->min,
                 k->max);
        break;
    case T_DOUBLE:
        snprintf(buf, len, "a number in %g..%g", k->min, k->max);
        break;
    case T_BOOL:
        snprintf(buf, len, "true or false");
        break;
    case T_ENUM: {
        snprintf(buf, len, "one of %s", k->values);
        for (char *p = buf; *p; p++)
            *p = (char)(*p == '|' ? ',' : *p);
        break;
    }
    case T_STRING:
        snprintf(buf, len, "%s", is_address(k) ? "an IPv4 or IPv6 address" : "a non-empty string");
        break;
    }
}

/* Parses `v` for `k` into the config. false: not acceptable. */
static bool set_typed(vg_config_t *cfg, const struct key_desc *k, const char *v)
{
    void *f = field(cfg, k);
    switch (k->type) {
    case T_INT:
    case T_SIZE: {
        int64_t n = 0;
        if (!parse_int(v, k->type == T_SIZE, &n) || (double)n < k->min || (double)n > k->max)
            return false;
        *(int64_t *)f = n;
        return true;
    }
    case T_DOUBLE: {
        errno = 0;
        char *end = NULL;
        double d = strtod(v, &end);
        if (errno || end == v || *end != '\0' || !isfinite(d) || d < k->min || d > k->max)
            return false;
        *(double *)f = d;
        return true;
    }
    case T_BOOL:
        return parse_bool(v, (bool *)f);
    case T_ENUM:
        return parse_enum(k->values, v, (int *)f);
    case T_STRING: {
        /* Empty is allowed only where the default is empty (e.g. "no model"). */
        if (*v == '\0' && *k->def != '\0')
            return false;
        unsigned char a[16];
        if (is_address(k) && inet_pton(AF_INET, v, a) != 1 && inet_pton(AF_INET6, v, a) != 1)
            return false; /* "localhost" or a typo: until 2026-12-03 blamed on the port */
        char **s = (char **)f;
        free(*s);
        *s = vg_xstrdup(v);
        return true;
    }
    }
    return false;
}

/* Sets key `k` from a source; the message prefix is `where` (file:line, env NAME, flag). */
static int apply(vg_config_t *cfg, const struct key_desc *k, const char *value,
                 enum vg_config_src_kind kind, const char *where, char *err, size_t errlen)
{
    if (!set_typed(cfg, k, value)) {
        char want[160];
        expectation(k, want, sizeof(want));
        errf(err, errlen, "%s: %s.%s: \"%s\" is not %s", where, k->section, k->key, value, want);
        return VG_ECONFIG;
    }
    vg_config_src_t *src = &cfg->src[key_index(k)];
    src->kind = kind;
    snprintf(src->where, sizeof(src->where), "%s", where);
    return 0;
}

void vg_config_init_defaults(vg_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < VG_ARRAY_LEN(keys); i++) {
        if (!set_typed(cfg, &keys[i], keys[i].def))
            abort(); /* a bad default is a bug in the table, caught by the first test */
    }
}

/* ---- INI files ---- */

struct ini_ctx {
    vg_config_t *cfg;
    const char *name; /* file name for messages */
    FILE *file;       /* NULL when parsing a string */
    const char *text; /* string input cursor */
    int line;         /* line most recently read */
    int set_line[VG_CONFIG_NKEYS];
    bool failed;
    char *err;
    size_t errlen;
};

static void fail_at(struct ini_ctx *c, const char *fmt, ...) VG_PRINTF(2, 3);

static void fail_at(struct ini_ctx *c, const char *fmt, ...)
{
    if (c->failed)
        return; /* the first error is the one reported */
    c->failed = true;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    errf(c->err, c->errlen, "%s:%d: %s", c->name, c->line, msg);
}

/* Checks a "[section]" line, so an unknown section is reported even without keys. */
static void check_section_line(struct ini_ctx *c, const char *line)
{
    while (isspace((unsigned char)*line))
        line++;
    if (*line != '[')
        return;
    const char *end = strchr(line, ']');
    if (!end) {
        fail_at(c, "syntax error: section header without ']'");
        return;
    }
    char name[64];
    size_t n = (size_t)(end - line - 1);
    if (n >= sizeof(name))
        n = sizeof(name) - 1;
    memcpy(name, line + 1, n);
    name[n] = '\0';
    if (!known_section(name))
        fail_at(c, "unknown section [%s]", name);
}

/* inih's reader: one whole line per call, counted, so errors can name it. */
static char *ini_read_line(char *str, int num, void *stream)
{
    struct ini_ctx *c = stream;
    size_t cap = (size_t)num;
    size_t n = 0;
    if (c->file) {
        if (!fgets(str, num, c->file)) {
            if (ferror(c->file)) { /* a directory (EISDIR), an I/O error: not an end */
                errf(c->err, c->errlen, "cannot read config file %s: %s", c->name,
                     vg_strerror(-errno));
                c->failed = true;
            }
            return NULL;
        }
        n = strlen(str);
        if (n == cap - 1 && str[n - 1] != '\n' && !feof(c->file)) {
            c->line++;
            fail_at(c, "line too long (at most %d characters)", num - 2);
            return NULL;
        }
    } else {
        if (*c->text == '\0')
            return NULL;
        const char *nl = strchr(c->text, '\n');
        size_t len = nl ? (size_t)(nl - c->text) + 1 : strlen(c->text);
        if (len > cap - 1) {
            c->line++;
            fail_at(c, "line too long (at most %d characters)", num - 2);
            return NULL;
        }
        memcpy(str, c->text, len);
        str[len] = '\0';
        c->text += len;
    }
    c->line++;
    check_section_line(c, str);
    return c->failed ? NULL : str;
}

static int ini_on_value(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    if (c->failed)
        return 0;
    if (!known_section(section)) {
        fail_at(c, *section ? "unknown section [%s]" : "key \"%s\" outside any section",
                *section ? section : name);
        return 0;
    }
    const struct key_desc *k = find_key(section, name);
    if (!k) {
        fail_at(c, "unknown key \"%s\" in [%s]", name, section);
        return 0;
    }
    size_t i = key_index(k);
    if (c->set_line[i]) {
        fail_at(c,
                "duplicate key \"%s\" in [%s] (first set on line %d; note that an indented "
                "line continues the previous value)",
                name, section, c->set_line[i]);
        return 0;
    }
    c->set_line[i] = c->line;
    char where[160];
    snprintf(where, sizeof(where), "%s:%d", c->name, c->line);
    char msg[384];
    if (apply(c->cfg, k, value, VG_CONFIG_SRC_FILE, where, msg, sizeof(msg)) != 0) {
        c->failed = true;
        errf(c->err, c->errlen, "%s", msg);
        return 0;
    }
    return 1;
}

static int parse_ini(struct ini_ctx *c)
{
    int rc = ini_parse_stream(ini_read_line, c, ini_on_value, c);
    if (c->failed)
        return VG_ECONFIG;
    if (rc > 0) {
        /* inih found a line it cannot parse (no '=' or ':', or a bad section header). */
        errf(c->err, c->errlen, "%s:%d: syntax error: expected \"key = value\" or \"[section]\"",
             c->name, rc);
        return VG_ECONFIG;
    }
    if (rc < 0) {
        errf(c->err, c->errlen, "%s: cannot parse (inih error %d)", c->name, rc);
        return VG_ECONFIG;
    }
    return 0;
}

int vg_config_load_file(vg_config_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        errf(err, errlen, "cannot read config file %s: %s", path, vg_strerror(-errno));
        return VG_ECONFIG;
    }
    struct ini_ctx c = {.cfg = cfg, .name = path, .file = f, .err = err, .errlen = errlen};
    int rc = parse_ini(&c);
    (void)fclose(f); /* opened read-only: nothing to lose */
    return rc;
}

int vg_config_load_string(vg_config_t *cfg, const char *text, const char *name, char *err,
                          size_t errlen)
{
    struct ini_ctx c = {.cfg = cfg, .name = name, .text = text, .err = err, .errlen = errlen};
    return parse_ini(&c);
}

/* ---- environment and flags ---- */

/* Applies one VIGIL_* variable (`name` without "=value"). Not a known section: ignored. */
static int env_one(vg_config_t *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    const char *rest = name + strlen("VIGIL_");
    for (size_t s = 0; s < VG_ARRAY_LEN(sections); s++) {
        size_t slen = strlen(sections[s]);
        if (strlen(rest) <= slen + 1 || rest[slen] != '_' ||
            strncasecmp(rest, sections[s], slen) != 0)
            continue;
        char key[96];
        size_t klen = strlen(rest + slen + 1);
        if (klen >= sizeof(key))
            klen = sizeof(key) - 1;
        for (size_t i = 0; i < klen; i++)
            key[i] = (char)(tolower)((unsigned char)rest[slen + 1 + i]); /* no macro */
        key[klen] = '\0';
        const struct key_desc *k = find_key(sections[s], key);
        if (!k) {
            errf(err, errlen, "env %s: unknown key \"%s\" in [%s]", name, key, sections[s]);
            return VG_ECONFIG;
        }
        int rc = apply(cfg, k, value, VG_CONFIG_SRC_ENV, name, err, errlen);
        if (rc != 0) {
            /* apply() named the variable alone; say it is one. */
            char msg[384];
            snprintf(msg, sizeof(msg), "env %s", err);
            errf(err, errlen, "%s", msg);
        }
        return rc;
    }
    return 0;
}

int vg_config_load_env(vg_config_t *cfg, char *const *envp, char *err, size_t errlen)
{
    for (size_t e = 0; envp && envp[e]; e++) {
        const char *var = envp[e];
        const char *eq = strchr(var, '=');
        char name[128];
        size_t nlen = eq ? (size_t)(eq - var) : 0;
        if (strncmp(var, "VIGIL_", 6) != 0 || !eq || nlen >= sizeof(name))
            continue;
        memcpy(name, var, nlen);
        name[nlen] = '\0';
        int rc = env_one(cfg, name, eq + 1, err, errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int vg_config_set(vg_config_t *cfg, const char *name, const char *value,
                  enum vg_config_src_kind kind, const char *where, char *err, size_t errlen)
{
    const char *dot = strchr(name, '.');
    char section[64];
    if (!dot || (size_t)(dot - name) >= sizeof(section)) {
        errf(err, errlen, "%s: unknown key \"%s\"", where, name);
        return VG_ECONFIG;
    }
    memcpy(section, name, (size_t)(dot - name));
    section[dot - name] = '\0';
    const struct key_desc *k = find_key(section, dot + 1);
    if (!k) {
        errf(err, errlen, "%s: unknown key \"%s\"", where, name);
        return VG_ECONFIG;
    }
    return apply(cfg, k, value, kind, where, err, errlen);
}

int vg_config_validate(const vg_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->scoring.threshold_medium > cfg->scoring.threshold_high) {
        char a[200];
        char b[200];
        vg_config_source(cfg, "scoring.threshold_medium", a, sizeof(a));
        vg_config_source(cfg, "scoring.threshold_high", b, sizeof(b));
        errf(err, errlen,
             "scoring.threshold_medium (%g, from %s) must not exceed scoring.threshold_high "
             "(%g, from %s)",
             cfg->scoring.threshold_medium, a, cfg->scoring.threshold_high, b);
        return VG_ECONFIG;
    }
    return 0;
}

/* ---- provenance and printing ---- */

static const struct key_desc *find_dotted(const char *name)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(keys); i++) {
        size_t sl = strlen(keys[i].section);
        if (strncmp(name, keys[i].section, sl) == 0 && name[sl] == '.' &&
            strcmp(name + sl + 1, keys[i].key) == 0)
            return &keys[i];
    }
    return NULL;
}

static void describe(const vg_config_src_t *src, char *buf, size_t len)
{
    switch (src->kind) {
    case VG_CONFIG_SRC_DEFAULT:
        snprintf(buf, len, "default");
        break;
    case VG_CONFIG_SRC_FILE:
        snprintf(buf, len, "%s", src->where);
        break;
    case VG_CONFIG_SRC_ENV:
        snprintf(buf, len, "env %s", src->where);
        break;
    case VG_CONFIG_SRC_FLAG:
        snprintf(buf, len, "flag %s", src->where);
        break;
    }
}

bool vg_config_is_default(const vg_config_t *cfg, const char *name)
{
    const struct key_desc *k = find_dotted(name);
    return !k || cfg->src[key_index(k)].kind == VG_CONFIG_SRC_DEFAULT;
}

void vg_config_source(const vg_config_t *cfg, const char *name, char *buf, size_t len)
{
    const struct key_desc *k = find_dotted(name);
    if (!k) {
        snprintf(buf, len, "unknown key");
        return;
    }
    describe(&cfg->src[key_index(k)], buf, len);
}

static void format_value(const vg_config_t *cfg, const struct key_desc *k, char *buf, size_t len)
{
    const void *f = cfield(cfg, k);
    switch (k->type) {
    case T_INT:
    case T_SIZE:
        snprintf(buf, len, "%lld", (long long)*(const int64_t *)f);
        break;
    case T_DOUBLE: {
        double d =
            *(const double *)f; /* the shortest that reads back: 0.9, not 0.90000000000000002 */
        snprintf(buf, len, "%.15g", d);
        if (strtod(buf, NULL) != d)
            snprintf(buf, len, "%.17g", d);
        break;
    }
    case T_BOOL:
        snprintf(buf, len, "%s", *(const bool *)f ? "true" : "false");
        break;
    case T_ENUM: {
        int idx = *(const int *)f;
        const char *p = k->values;
        for (int i = 0; i < idx && p; i++) {
            p = strchr(p, '|');
            p = p ? p + 1 : NULL;
        }
        size_t n = p ? strcspn(p, "|") : 0;
        snprintf(buf, len, "%.*s", (int)n, p ? p : "");
        break;
    }
    case T_STRING:
        snprintf(buf, len, "%s", *(char *const *)f);
        break;
    }
}

void vg_config_print(const vg_config_t *cfg, FILE *out)
{
    const char *cur = NULL;
    for (size_t i = 0; i < VG_ARRAY_LEN(keys); i++) {
        const struct key_desc *k = &keys[i];
        if (!cur || strcmp(cur, k->section) != 0) {
            fprintf(out, "%s[%s]\n", cur ? "\n" : "", k->section);
            cur = k->section;
        }
        char value[512];
        char src[200];
        format_value(cfg, k, value, sizeof(value));
        describe(&cfg->src[i], src, sizeof(src));
        fprintf(out, "%s = %s    ; from %s\n", k->key, value, src);
    }
}

void vg_config_free(vg_config_t *cfg)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(keys); i++) {
        if (keys[i].type == T_STRING) {
            char **s = (char **)field(cfg, &keys[i]);
            free(*s);
            *s = NULL;
        }
    }
}

size_t vg_config_nkeys(void)
{
    return VG_ARRAY_LEN(keys);
}

const char *vg_config_key_name(size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "%s.%s", keys[i].section, keys[i].key);
    return buf;
}

const char *vg_config_key_default(size_t i)
{
    return keys[i].def;
}
