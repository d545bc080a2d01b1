/* SPDX-License-Identifier: MIT */
/*
 * Tests of the configuration: defaults, config/vigil.conf documenting exactly the defaults,
 * precedence (flag > env > file > default), provenance, printing, and every error path with
 * the message a user sees.
 */
#include "config/config.h"
#include "tests/vg_test.h"

static char err[512];

static vg_config_t load(const char *text)
{
    vg_config_t cfg;
    vg_config_init_defaults(&cfg);
    int rc = vg_config_load_string(&cfg, text, "t.conf", err, sizeof(err));
    if (rc != 0)
        VG_FAIL("load failed: %s", err);
    return cfg;
}

/* Loads `text`, expecting failure with a message containing `want`. */
static void load_fails(const char *text, const char *want)
{
    vg_config_t cfg;
    vg_config_init_defaults(&cfg);
    err[0] = '\0';
    ASSERT_ERR(vg_config_load_string(&cfg, text, "t.conf", err, sizeof(err)), VG_ECONFIG);
    ASSERT_STR_CONTAINS(err, want);
    vg_config_free(&cfg);
}

static char *source_path(const char *rel)
{
    static char buf[1024];
    const char *dir = getenv("VIGIL_SOURCE_DIR");
    snprintf(buf, sizeof(buf), "%s/%s", dir && *dir ? dir : "..", rel);
    return buf;
}

VG_TEST(defaults)
{
    vg_config_t cfg;
    vg_config_init_defaults(&cfg);
    ASSERT_STR_EQ(cfg.server.data_dir, "./data");
    ASSERT_STR_EQ(cfg.server.bind, "127.0.0.1");
    ASSERT_EQ(cfg.server.http_port, 8080);
    ASSERT_EQ(cfg.server.tcp_port, 7070);
    ASSERT_EQ(cfg.server.workers, 0);
    ASSERT_EQ(cfg.log.partitions, 2);
    ASSERT_EQ(cfg.log.durability, VG_DURABILITY_FSYNC);
    ASSERT_EQ(cfg.log.segment_bytes, 128ll * 1024 * 1024);
    ASSERT_EQ(cfg.log.group_commit_bytes, 1024 * 1024);
    ASSERT_EQ(cfg.ingest.max_frame_bytes, 64 * 1024);
    ASSERT_STR_EQ(cfg.scoring.model, "");
    ASSERT_EQ_DBL(cfg.scoring.threshold_high, 0.9, 0);
    char src[64];
    vg_config_source(&cfg, "server.http_port", src, sizeof(src));
    ASSERT_STR_EQ(src, "default");
    ASSERT_OK(vg_config_validate(&cfg, err, sizeof(err)));
    vg_config_free(&cfg);
}

VG_TEST(shipped_file_is_exactly_the_defaults)
{
    const char *path = source_path("config/vigil.conf");
    vg_config_t file;
    vg_config_init_defaults(&file);
    ASSERT_OK(vg_config_load_file(&file, path, err, sizeof(err)));
    vg_config_t def;
    vg_config_init_defaults(&def);
    /* Printing both must agree value for value (sources differ: file vs default). */
    char *a = NULL;
    char *b = NULL;
    size_t alen = 0;
    size_t blen = 0;
    FILE *fa = open_memstream(&a, &alen);
    FILE *fb = open_memstream(&b, &blen);
    vg_config_print(&file, fa);
    vg_config_print(&def, fb);
    fclose(fa);
    fclose(fb);
    char *sa = NULL;
    char *sb = NULL;
    size_t n = 0;
    for (char *pa = a, *pb = b;; pa = pb = NULL) {
        char *la = strtok_r(pa, "\n", &sa);
        char *lb = strtok_r(pb, "\n", &sb);
        if (!la || !lb)
            break;
        char *ca = strstr(la, "    ; from");
        char *cb = strstr(lb, "    ; from");
        if (ca)
            *ca = '\0';
        if (cb)
            *cb = '\0';
        ASSERT_STR_EQ(la, lb);
        n++;
    }
    ASSERT_GT(n, vg_config_nkeys());
    free(a);
    free(b);
    /* Every key appears in the file as "key = default", and every one came from the file. */
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = fopen(path, "r");
    ASSERT_NOT_NULL(f);
    text = calloc(1, 1 << 16);
    tlen = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    ASSERT_GT(tlen, 0);
    for (size_t i = 0; i < vg_config_nkeys(); i++) {
        char name[96];
        char line[256];
        vg_config_key_name(i, name, sizeof(name));
        snprintf(line, sizeof(line), "\n%s = %s\n", strchr(name, '.') + 1,
                 vg_config_key_default(i));
        if (!strstr(text, line))
            VG_FAIL("config/vigil.conf does not document %s with its default (%s)", name,
                    vg_config_key_default(i));
        char src[256];
        vg_config_source(&file, name, src, sizeof(src));
        ASSERT_STR_CONTAINS(src, "vigil.conf:");
    }
    free(text);
    vg_config_free(&file);
    vg_config_free(&def);
}

VG_TEST(file_values_by_type)
{
    vg_config_t cfg = load("[server]\nhttp_port = 9090\ndata_dir = /tmp/x\n"
                           "[log]\nsegment_bytes = 64M\ndurability = os\n"
                           "index_interval_bytes = 8k\n"
                           "[scoring]\nthreshold_medium = 0.25\nmodel = m.json\n");
    ASSERT_EQ(cfg.server.http_port, 9090);
    ASSERT_STR_EQ(cfg.server.data_dir, "/tmp/x");
    ASSERT_EQ(cfg.log.segment_bytes, 64ll * 1024 * 1024);
    ASSERT_EQ(cfg.log.index_interval_bytes, 8192);
    ASSERT_EQ(cfg.log.durability, VG_DURABILITY_OS);
    ASSERT_EQ_DBL(cfg.scoring.threshold_medium, 0.25, 0);
    ASSERT_STR_EQ(cfg.scoring.model, "m.json");
    char src[64];
    vg_config_source(&cfg, "log.durability", src, sizeof(src));
    ASSERT_STR_EQ(src, "t.conf:6");
    vg_config_free(&cfg);
}

VG_TEST(precedence_flag_over_env_over_file)
{
    vg_config_t cfg = load("[server]\nhttp_port = 9000\ntcp_port = 9001\nworkers = 1\n");
    char *env[] = {"VIGIL_SERVER_HTTP_PORT=9100",
                   "VIGIL_SERVER_WORKERS=2",
                   "VIGIL_BIN=/x",
                   "VIGIL_SOURCE_DIR=/y",
                   "PATH=/bin",
                   NULL};
    ASSERT_OK(vg_config_load_env(&cfg, env, err, sizeof(err)));
    ASSERT_OK(vg_config_set(&cfg, "server.workers", "3", VG_CONFIG_SRC_FLAG, "--workers", err,
                            sizeof(err)));
    ASSERT_EQ(cfg.server.tcp_port, 9001);  /* file */
    ASSERT_EQ(cfg.server.http_port, 9100); /* env over file */
    ASSERT_EQ(cfg.server.workers, 3);      /* flag over env */
    char src[128];
    vg_config_source(&cfg, "server.tcp_port", src, sizeof(src));
    ASSERT_STR_EQ(src, "t.conf:3");
    vg_config_source(&cfg, "server.http_port", src, sizeof(src));
    ASSERT_STR_EQ(src, "env VIGIL_SERVER_HTTP_PORT");
    vg_config_source(&cfg, "server.workers", src, sizeof(src));
    ASSERT_STR_EQ(src, "flag --workers");
    vg_config_source(&cfg, "server.nope", src, sizeof(src));
    ASSERT_STR_EQ(src, "unknown key");
    vg_config_free(&cfg);
}

VG_TEST(print_round_trips)
{
    vg_config_t cfg = load("[server]\nhttp_port = 1234\n[scoring]\nthreshold_high = 0.95\n"
                           "[log]\ndurability = none\nsegment_bytes = 1G\n");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    vg_config_print(&cfg, f);
    fclose(f);
    ASSERT_STR_CONTAINS(text, "http_port = 1234    ; from t.conf:2");
    ASSERT_STR_CONTAINS(text, "workers = 0    ; from default");
    vg_config_t again;
    vg_config_init_defaults(&again);
    ASSERT_OK(vg_config_load_string(&again, text, "printed", err, sizeof(err)));
    ASSERT_EQ(again.server.http_port, 1234);
    ASSERT_EQ_DBL(again.scoring.threshold_high, 0.95, 0);
    ASSERT_EQ(again.log.durability, VG_DURABILITY_NONE);
    ASSERT_EQ(again.log.segment_bytes, 1024ll * 1024 * 1024);
    ASSERT_STR_EQ(again.server.data_dir, cfg.server.data_dir);
    free(text);
    vg_config_free(&cfg);
    vg_config_free(&again);
}

VG_TEST(file_errors_name_file_line_and_key)
{
    load_fails("[server]\nhttp_port = 8080\n[nope]\nx = 1\n", "t.conf:3: unknown section [nope]");
    load_fails("[server]\n\nhtp_port = 1\n", "t.conf:3: unknown key \"htp_port\" in [server]");
    load_fails("[server]\nhttp_port = 80x\n",
               "t.conf:2: server.http_port: \"80x\" is not an integer in 0..65535");
    load_fails("[server]\nhttp_port = 70000\n", "is not an integer in 0..65535");
    load_fails("[server]\nhttp_port = -1\n", "is not an integer in 0..65535");
    load_fails("[log]\ndurability = always\n",
               "t.conf:2: log.durability: \"always\" is not one of fsync,os,none");
    load_fails("[log]\nsegment_bytes = 12X\n", "log.segment_bytes: \"12X\" is not a size");
    load_fails("[log]\nsegment_bytes = 1K\n", "in 4096..");
    load_fails("[scoring]\nthreshold_high = 1.5\n", "is not a number in 0..1");
    load_fails("[scoring]\nthreshold_high = abc\n", "is not a number in 0..1");
    load_fails("[server]\nhttp_port = 1\nhttp_port = 2\n",
               "t.conf:3: duplicate key \"http_port\" in [server] (first set on line 2");
    load_fails("[server]\nhttp_port\n", "t.conf:2: syntax error");
    load_fails("[server\nhttp_port = 1\n", "t.conf:1: syntax error");
    load_fails("http_port = 1\n", "t.conf:1: key \"http_port\" outside any section");
    load_fails("[server]\ndata_dir =\n", "server.data_dir: \"\" is not a non-empty string");
    char longline[400];
    memset(longline, 'a', sizeof(longline));
    memcpy(longline, "[server]\ndata_dir = ", 20);
    longline[sizeof(longline) - 2] = '\n';
    longline[sizeof(longline) - 1] = '\0';
    load_fails(longline, "t.conf:2: line too long");
}

VG_TEST(missing_file_is_named)
{
    vg_config_t cfg;
    vg_config_init_defaults(&cfg);
    ASSERT_ERR(vg_config_load_file(&cfg, "/nonexistent/vigil.conf", err, sizeof(err)), VG_ECONFIG);
    ASSERT_STR_CONTAINS(err, "cannot read config file /nonexistent/vigil.conf");
    vg_config_free(&cfg);
}

/* server.bind is a numeric address: "localhost" was refused by bind(2) at start, and the
 * message blamed the HTTP port. */
VG_TEST(bind_is_a_numeric_address)
{
    vg_config_t cfg;
    vg_config_init_defaults(&cfg);
    ASSERT_ERR(vg_config_set(&cfg, "server.bind", "localhost", VG_CONFIG_SRC_FLAG, "--bind", err,
                             sizeof(err)),
               VG_ECONFIG);
    ASSERT_STR_CONTAINS(err, "is not an IPv4 or IPv6 address");
    ASSERT_OK(
        vg_config_set(&cfg, "server.bind", "::1", VG_CONFIG_SRC_FLAG, "--bind", err, sizeof(err)));
    ASSERT_OK(vg_config_set(&cfg, "server.bind", "0.0.0.0", VG_CONFIG_SRC_FLAG, "--bind", err,
                            sizeof(err)));
    vg_config_free(&cfg);
}

/* A path that opens but does not read (a directory) is an error, not an empty file: until
 * 2026-12-03 `serve --config /tmp` started on the defaults. */
VG_TEST(unreadable_file_is_an_error)
{
    vg_config_t cfg;
    vg_config_init_defaults(&cfg);
    ASSERT_ERR(vg_config_load_file(&cfg, "/tmp", err, sizeof(err)), VG_ECONFIG);
    ASSERT_STR_CONTAINS(err, "cannot read config file /tmp");
    vg_config_free(&cfg);
}

VG_TEST(env_errors)
{
    vg_config_t cfg;
    vg_config_init_defaults(&cfg);
    char *typo[] = {"VIGIL_SERVER_HTP_PORT=1", NULL};
    ASSERT_ERR(vg_config_load_env(&cfg, typo, err, sizeof(err)), VG_ECONFIG);
    ASSERT_STR_EQ(err, "env VIGIL_SERVER_HTP_PORT: unknown key \"htp_port\" in [server]");
    char *bad[] = {"VIGIL_LOG_PARTITIONS=0", NULL};
    ASSERT_ERR(vg_config_load_env(&cfg, bad, err, sizeof(err)), VG_ECONFIG);
    ASSERT_STR_EQ(err, "env VIGIL_LOG_PARTITIONS: log.partitions: \"0\" is not an integer in "
                       "1..1024");
    vg_config_free(&cfg);
}

VG_TEST(flag_errors)
{
    vg_config_t cfg;
    vg_config_init_defaults(&cfg);
    ASSERT_ERR(vg_config_set(&cfg, "server.http_port", "web", VG_CONFIG_SRC_FLAG, "--http-port",
                             err, sizeof(err)),
               VG_ECONFIG);
    ASSERT_STR_EQ(err, "--http-port: server.http_port: \"web\" is not an integer in 0..65535");
    ASSERT_ERR(vg_config_set(&cfg, "server.log_level", "loud", VG_CONFIG_SRC_FLAG, "--log-level",
                             err, sizeof(err)),
               VG_ECONFIG);
    ASSERT_STR_CONTAINS(err, "is not one of debug,info,warn,error");
    ASSERT_ERR(vg_config_set(&cfg, "nope", "1", VG_CONFIG_SRC_FLAG, "--x", err, sizeof(err)),
               VG_ECONFIG);
    vg_config_free(&cfg);
}

VG_TEST(thresholds_cross_check)
{
    vg_config_t cfg = load("[scoring]\nthreshold_medium = 0.95\n");
    ASSERT_ERR(vg_config_validate(&cfg, err, sizeof(err)), VG_ECONFIG);
    ASSERT_STR_EQ(err, "scoring.threshold_medium (0.95, from t.conf:2) must not exceed "
                       "scoring.threshold_high (0.9, from default)");
    vg_config_free(&cfg);
}
