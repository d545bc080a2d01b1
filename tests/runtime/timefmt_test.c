/* SPDX-License-Identifier: MIT */
/*
 * Tests of RFC 3339 parsing and formatting.
 */
#include "runtime/timefmt.h"
#include "tests/vg_test.h"

VG_TEST(time_parse_forms_and_offsets)
{
    int64_t a = 0;
    int64_t b = 0;
    ASSERT_OK(vg_time_parse_rfc3339("2026-11-24T06:40:01Z", &a));
    ASSERT_EQ(a, 1795502401000ll);
    ASSERT_OK(vg_time_parse_rfc3339("2026-11-24T07:40:01.250+01:00", &b));
    ASSERT_EQ(b, a + 250); /* the same instant, plus 250 ms */
    ASSERT_OK(vg_time_parse_rfc3339("1970-01-01T00:00:00Z", &a));
    ASSERT_EQ(a, 0);
    ASSERT_OK(vg_time_parse_rfc3339("2024-02-29T23:59:59.999999-05:30", &a));
    ASSERT_EQ(a, 1709270999999ll);
    ASSERT_OK(vg_time_parse("1767225600000", &a));
    ASSERT_EQ(a, 1767225600000ll);
}

VG_TEST(time_parse_rejects_garbage)
{
    const char *bad[] = {"",
                         "yesterday",
                         "2026-13-01T00:00:00Z",
                         "2026-02-30T00:00:00Z",
                         "2023-02-29T00:00:00Z",
                         "2026-11-24T24:00:00Z",
                         "2026-11-24T06:40:01",
                         "2026-11-24T06:40:01Zjunk",
                         "2026-11-24T06:40:01.Z",
                         "2026-11-24T06:40:01+0100",
                         "12x"};
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
        int64_t v = 0;
        if (vg_time_parse(bad[i], &v) == 0)
            VG_FAIL("accepted \"%s\"", bad[i]);
    }
}

VG_TEST(time_format_round_trips)
{
    char buf[32];
    ASSERT_STR_EQ(vg_time_format(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    ASSERT_STR_EQ(vg_time_format(1795502401250ll, buf, sizeof(buf)), "2026-11-24T06:40:01.250Z");
    ASSERT_STR_EQ(vg_time_format(-1, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z");
    for (int64_t ms = -86400000ll * 800; ms < 86400000ll * 40000; ms += 86400000ll * 37 + 12345) {
        int64_t back = 0;
        ASSERT_OK(vg_time_parse_rfc3339(vg_time_format(ms, buf, sizeof(buf)), &back));
        ASSERT_EQ(back, ms);
    }
}
