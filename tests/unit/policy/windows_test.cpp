// Weekly windows: boundaries, crossing midnight, the 2026 Europe/Berlin DST
// changes, zones with non-hour offsets, and outside_windows.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/policy.h"
#include "policy_test_util.h"

namespace kmsd::policy {
namespace {

using testing::At;
using testing::kTick;

struct Row {
  const char* now;  // request time, UTC
  std::chrono::microseconds delta;
  bool inside;
};

// A within_windows allow rule under a deny default: allow <=> inside a window.
void ExpectWindow(std::string_view windows, const std::vector<Row>& rows) {
  const std::string json =
      R"({"default":"deny","rules":[{"id":"w","effect":"allow","operations":["decrypt"],)"
      R"("within_windows":)" +
      std::string(windows) + "}]}";
  const CompiledPolicy within = testing::Compile(json);
  std::string outside_json = json;
  outside_json.replace(outside_json.find("within_windows"), 14, "outside_windows");
  const CompiledPolicy outside = testing::Compile(outside_json);
  for (const Row& r : rows) {
    Facts f = testing::BaseFacts();
    f.request_time = At(r.now) + r.delta;
    EXPECT_EQ(within.Evaluate(f).allowed(), r.inside)
        << windows << " at " << r.now << " + " << r.delta.count() << "us";
    EXPECT_EQ(outside.Evaluate(f).allowed(), !r.inside)
        << "outside: " << windows << " at " << r.now;
  }
}

constexpr std::chrono::microseconds k0{0};

TEST(PolicyWindows, StartInclusiveEndExclusiveUtc) {
  // 2026-03-02 is a Monday.
  ExpectWindow(R"([{"days":["mon"],"start":"09:00","end":"17:00","time_zone":"UTC"}])",
               {{"2026-03-02T09:00:00Z", k0, true},
                {"2026-03-02T09:00:00Z", -kTick, false},
                {"2026-03-02T17:00:00Z", -kTick, true},
                {"2026-03-02T17:00:00Z", k0, false},
                {"2026-03-03T10:00:00Z", k0, false},   // Tuesday
                {"2026-03-09T16:59:59Z", k0, true}});  // next Monday
}

TEST(PolicyWindows, CrossingMidnightBelongsToStartDay) {
  // Friday 22:00 to Saturday 06:00.
  ExpectWindow(R"([{"days":["fri"],"start":"22:00","end":"06:00","time_zone":"UTC"}])",
               {{"2026-03-06T22:00:00Z", -kTick, false},
                {"2026-03-06T22:00:00Z", k0, true},
                {"2026-03-06T23:59:59Z", k0, true},
                {"2026-03-07T00:00:00Z", k0, true},
                {"2026-03-07T06:00:00Z", -kTick, true},
                {"2026-03-07T06:00:00Z", k0, false},
                {"2026-03-06T05:00:00Z", k0, false},    // Friday morning: Thursday's night
                {"2026-03-07T23:00:00Z", k0, false}});  // Saturday night
}

TEST(PolicyWindows, SundayNightWrapsIntoMonday) {
  ExpectWindow(R"([{"days":["sun"],"start":"22:00","end":"02:00","time_zone":"UTC"}])",
               {{"2026-03-08T22:00:00Z", k0, true},
                {"2026-03-09T01:59:59Z", k0, true},
                {"2026-03-09T02:00:00Z", k0, false},
                {"2026-03-02T01:00:00Z", k0, true},     // Monday after the previous Sunday
                {"2026-03-07T23:00:00Z", k0, false}});  // Saturday
}

TEST(PolicyWindows, EndOfDayAs2400AndSeveralWindows) {
  ExpectWindow(R"([{"days":["sat"],"start":"00:00","end":"24:00","time_zone":"UTC"},)"
               R"({"days":["mon","wed"],"start":"12:00","end":"13:00","time_zone":"UTC"}])",
               {{"2026-03-07T00:00:00Z", k0, true},
                {"2026-03-08T00:00:00Z", -kTick, true},
                {"2026-03-08T00:00:00Z", k0, false},
                {"2026-03-07T00:00:00Z", -kTick, false},
                {"2026-03-02T12:30:00Z", k0, true},
                {"2026-03-04T12:00:00Z", k0, true},
                {"2026-03-03T12:30:00Z", k0, false}});
}

TEST(PolicyWindows, BerlinSpringForward2026) {
  // Sunday 2026-03-29: at 01:00Z Berlin goes from 02:00 CET to 03:00 CEST.
  // Local 02:00-02:59 never happens: a window inside the gap never matches.
  ExpectWindow(R"([{"days":["sun"],"start":"02:00","end":"03:00","time_zone":"Europe/Berlin"}])",
               {{"2026-03-29T00:30:00Z", k0, false},  // 01:30 CET
                {"2026-03-29T01:00:00Z", -kTick, false},
                {"2026-03-29T01:00:00Z", k0, false},  // 03:00 CEST
                {"2026-03-29T01:30:00Z", k0, false},
                {"2026-03-22T01:00:00Z", k0, true},    // a week before: 02:00 CET
                {"2026-04-05T00:00:00Z", k0, true}});  // a week after: 02:00 CEST
  // A window straddling the gap is one real hour shorter.
  ExpectWindow(R"([{"days":["sun"],"start":"01:30","end":"03:30","time_zone":"Europe/Berlin"}])",
               {{"2026-03-29T00:30:00Z", -kTick, false},  // 01:29:59.999999 CET
                {"2026-03-29T00:30:00Z", k0, true},       // 01:30 CET
                {"2026-03-29T01:00:00Z", -kTick, true},   // 01:59:59.999999 CET
                {"2026-03-29T01:00:00Z", k0, true},       // 03:00 CEST
                {"2026-03-29T01:30:00Z", -kTick, true},
                {"2026-03-29T01:30:00Z", k0, false}});  // 03:30 CEST
}

TEST(PolicyWindows, BerlinAutumnFold2026) {
  // Sunday 2026-10-25: at 01:00Z Berlin goes from 03:00 CEST back to 02:00 CET.
  // Local 02:00-02:59 happens twice: the window matches both passes.
  ExpectWindow(R"([{"days":["sun"],"start":"02:00","end":"03:00","time_zone":"Europe/Berlin"}])",
               {{"2026-10-25T00:00:00Z", -kTick, false},  // 01:59:59.999999 CEST
                {"2026-10-25T00:00:00Z", k0, true},       // 02:00 CEST, first pass
                {"2026-10-25T00:59:59Z", k0, true},
                {"2026-10-25T01:00:00Z", k0, true},  // 02:00 CET, second pass
                {"2026-10-25T02:00:00Z", -kTick, true},
                {"2026-10-25T02:00:00Z", k0, false}});  // 03:00 CET
  // Office hours the day after use CET (+01:00).
  ExpectWindow(R"([{"days":["mon"],"start":"08:00","end":"18:00","time_zone":"Europe/Berlin"}])",
               {{"2026-10-26T07:00:00Z", -kTick, false},
                {"2026-10-26T07:00:00Z", k0, true},
                {"2026-10-26T17:00:00Z", k0, false},
                {"2026-10-19T06:00:00Z", k0, true}});  // the Monday before, CEST (+02:00)
}

TEST(PolicyWindows, NonHourOffsetZones) {
  // Kathmandu is +05:45: Monday 09:00 local is 03:15Z.
  ExpectWindow(R"([{"days":["mon"],"start":"09:00","end":"17:00","time_zone":"Asia/Kathmandu"}])",
               {{"2026-03-02T03:15:00Z", -kTick, false},
                {"2026-03-02T03:15:00Z", k0, true},
                {"2026-03-02T11:15:00Z", -kTick, true},
                {"2026-03-02T11:15:00Z", k0, false}});
  // Kolkata is +05:30; a window crossing local midnight lands mid-day in UTC.
  ExpectWindow(R"([{"days":["sun"],"start":"23:00","end":"01:00","time_zone":"Asia/Kolkata"}])",
               {{"2026-03-08T17:30:00Z", -kTick, false},  // Sunday 22:59:59.999999 IST
                {"2026-03-08T17:30:00Z", k0, true},       // Sunday 23:00 IST
                {"2026-03-08T19:30:00Z", -kTick, true},   // Monday 00:59:59.999999 IST
                {"2026-03-08T19:30:00Z", k0, false}});
}

TEST(PolicyWindows, WindowsInSeveralZonesInOneRule) {
  ExpectWindow(R"([{"days":["mon"],"start":"09:00","end":"10:00","time_zone":"Asia/Kathmandu"},)"
               R"({"days":["mon"],"start":"09:00","end":"10:00","time_zone":"America/New_York"}])",
               {{"2026-03-02T03:15:00Z", k0, true},  // 09:00 in Kathmandu
                {"2026-03-02T14:00:00Z", k0, true},  // 09:00 EST (-05:00)
                {"2026-03-02T09:00:00Z", k0, false}});
}

}  // namespace
}  // namespace kmsd::policy
