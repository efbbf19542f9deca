// common/prometheus_text: the one writer of the Prometheus text format (broker and host /metrics).

#include "common/prometheus_text.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <string>

using namespace portico;

TEST_CASE("prometheus text: families, samples, labels and values", "[prometheus][unit]") {
    prometheus::TextWriter w;
    w.family("portico_things", "gauge", "Things by colour.\nSecond line \\ backslash.");
    w.sample("portico_things", prometheus::Labels{{"colour", "red"}, {"size", "big"}}, 3);
    w.sample("portico_things", 0.25);
    w.sample("portico_things", std::uint64_t{18446744073709551615u});  // a counter never rounds
    CHECK(w.text() ==
          "# HELP portico_things Things by colour.\\nSecond line \\\\ backslash.\n"
          "# TYPE portico_things gauge\n"
          "portico_things{colour=\"red\",size=\"big\"} 3\n"
          "portico_things 0.25\n"
          "portico_things 18446744073709551615\n");
}

TEST_CASE("prometheus text: a label value cannot end its quotes or its line", "[prometheus][unit]") {
    CHECK(prometheus::escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
    prometheus::TextWriter w;
    w.sample("m", prometheus::Labels{{"host_id", "evil\"} 1\nforged 2"}}, 1);
    CHECK(w.text() == "m{host_id=\"evil\\\"} 1\\nforged 2\"} 1\n");
}

TEST_CASE("prometheus text: doubles in their shortest exact form, and the special values", "[prometheus][unit]") {
    CHECK(prometheus::Value(0.004).text() == "0.004");
    CHECK(prometheus::Value(2.5).text() == "2.5");
    CHECK(prometheus::Value(20.0).text() == "20");
    CHECK(prometheus::Value(-3).text() == "-3");
    CHECK(prometheus::Value(std::numeric_limits<double>::infinity()).text() == "+Inf");
    CHECK(prometheus::Value(-std::numeric_limits<double>::infinity()).text() == "-Inf");
    CHECK(prometheus::Value(std::numeric_limits<double>::quiet_NaN()).text() == "NaN");
}

TEST_CASE("prometheus text: a histogram observed from several values", "[prometheus][unit]") {
    prometheus::Histogram<3> h({0.01, 0.1, 1});
    h.observe(0.005);  // every bucket
    h.observe(0.05);   // 0.1 and 1
    h.observe(5);      // only +Inf
    CHECK(h.count() == 3);
    CHECK(h.sum_seconds() == Approx(5.055));
    prometheus::TextWriter w;
    w.histogram("portico_wait_seconds", "Waits.", h);
    CHECK(w.text() ==
          "# HELP portico_wait_seconds Waits.\n"
          "# TYPE portico_wait_seconds histogram\n"
          "portico_wait_seconds_bucket{le=\"0.01\"} 1\n"
          "portico_wait_seconds_bucket{le=\"0.1\"} 2\n"
          "portico_wait_seconds_bucket{le=\"1\"} 2\n"
          "portico_wait_seconds_bucket{le=\"+Inf\"} 3\n"
          "portico_wait_seconds_sum 5.055\n"
          "portico_wait_seconds_count 3\n");
}
