#include "net/limits.hpp"

#include <gtest/gtest.h>

#include "net/server.hpp"

namespace bc::net {
namespace {

TEST(ConfigText, ParsesKeysValuesCommentsAndBlankLines) {
  const auto config =
      parse_config_text("# limits\n\nmax_connections = 10\r\n  idle_timeout_ms=500\n");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->size(), 2u);
  EXPECT_EQ(config->at("max_connections"), "10");
  EXPECT_EQ(config->at("idle_timeout_ms"), "500");
}

TEST(ConfigText, RejectsLineWithoutEquals) {
  const auto config = parse_config_text("max_connections 10\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, Errc::kMalformed);
  EXPECT_NE(config.error().detail.find("line 1"), std::string::npos);
}

TEST(ConfigText, RejectsDuplicateKey) {
  const auto config = parse_config_text("threads=1\nthreads=2\n");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().detail.find("line 2"), std::string::npos);
}

TEST(ConfigText, RejectsInvalidKey) {
  EXPECT_FALSE(parse_config_text("Max-Connections=1\n"));
  EXPECT_FALSE(parse_config_text("=1\n"));
}

TEST(ServerLimitsConfig, AppliesKnownKeysAndLeavesOthers) {
  auto config = parse_config_text("max_connections=7\nwrite_queue_max_frames=3\nqueue_ttl=9\n");
  ASSERT_TRUE(config);
  ServerLimits limits;
  ASSERT_TRUE(apply_server_limits(*config, limits));
  EXPECT_EQ(limits.max_connections, 7u);
  EXPECT_EQ(limits.write_queue_max_frames, 3u);
  ASSERT_EQ(config->size(), 1u);
  EXPECT_EQ(config->begin()->first, "queue_ttl");
}

TEST(ServerLimitsConfig, RejectsNonNumericAndOutOfRange) {
  for (const char* text : {"threads=two\n", "threads=0\n", "threads=-1\n", "threads=1x\n",
                           "max_connections=\n", "idle_timeout_ms=99999999999\n"}) {
    auto config = parse_config_text(text);
    ASSERT_TRUE(config) << text;
    ServerLimits limits;
    const auto applied = apply_server_limits(*config, limits);
    ASSERT_FALSE(applied) << text;
    EXPECT_EQ(applied.error().code, Errc::kMalformed);
  }
}

TEST(ServerLimitsConfig, RejectsQueueSmallerThanOneFrame) {
  auto config = parse_config_text("max_frame_bytes=70000\nwrite_queue_max_bytes=1000\n");
  ASSERT_TRUE(config);
  ServerLimits limits;
  EXPECT_FALSE(apply_server_limits(*config, limits));
}

TEST(ServerLimitsConfig, DefaultsAreValidAndAdmitTheLargestEnvelope) {
  const ServerLimits limits;
  EXPECT_TRUE(validate_limits(limits));
  EXPECT_GE(limits.max_frame_bytes, 64u * 1024u + 6u);
}

TEST(ListenAddress, ParsesIpv4AndIpv6) {
  const auto v4 = parse_listen_address("127.0.0.1:8443");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8443);
  const auto v6 = parse_listen_address("[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
}

TEST(ListenAddress, RejectsHostNamesBadPortsAndJunk) {
  for (const char* text :
       {"localhost:8443", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:80x", "1.2.3:80",
        "1.2.3.4.5:80", "256.0.0.1:80", ":80", "[::1:80", "[zz]:80", "", "127.0.0.1:-1"}) {
    const auto parsed = parse_listen_address(text);
    EXPECT_FALSE(parsed) << text;
    if (!parsed) {
      EXPECT_EQ(parsed.error().code, Errc::kMalformed);
    }
  }
}

TEST(Fingerprint, ParsesPlainAndColonSeparatedHex) {
  const std::string plain(64, 'a');
  const auto a = parse_fingerprint(plain);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->size(), 32u);
  std::string colons;
  for (int i = 0; i < 32; ++i) colons += (i ? ":AA" : "AA");
  const auto b = parse_fingerprint(colons);
  ASSERT_TRUE(b);
  EXPECT_EQ(*a, *b);
}

TEST(Fingerprint, RejectsWrongLengthAndNonHex) {
  EXPECT_FALSE(parse_fingerprint(std::string(62, 'a')));
  EXPECT_FALSE(parse_fingerprint(std::string(66, 'a')));
  EXPECT_FALSE(parse_fingerprint(std::string(63, 'a') + "g"));
  EXPECT_FALSE(parse_fingerprint(":" + std::string(64, 'a')));
  EXPECT_FALSE(parse_fingerprint("a:" + std::string(63, 'a')));
}

TEST(TokenBucket, AllowsBurstThenThrottlesAtTheRate) {
  TokenBucket bucket(/*rate_per_second=*/1000, /*burst=*/3, /*now_ms=*/0);
  EXPECT_EQ(bucket.take(0), 0);
  EXPECT_EQ(bucket.take(0), 0);
  EXPECT_EQ(bucket.take(0), 0);
  const std::int64_t wait = bucket.take(0);
  EXPECT_EQ(wait, 1);  // one token per millisecond
  EXPECT_EQ(bucket.take(1), 0);
  EXPECT_GT(bucket.take(1), 0);
}

TEST(TokenBucket, RefillsNoFurtherThanTheBurst) {
  TokenBucket bucket(10, 2, 0);
  EXPECT_EQ(bucket.take(0), 0);
  EXPECT_EQ(bucket.take(0), 0);
  EXPECT_EQ(bucket.take(0), 100);  // 10/s: next token in 100 ms
  // A long pause refills to the burst (2), not more.
  EXPECT_EQ(bucket.take(1'000'000), 0);
  EXPECT_EQ(bucket.take(1'000'000), 0);
  EXPECT_GT(bucket.take(1'000'000), 0);
}

TEST(WriteQueue, BoundsFramesAndBytesAndLeavesQueueUnchangedOnOverflow) {
  WriteQueue queue(/*max_frames=*/2, /*max_bytes=*/10);
  ASSERT_TRUE(queue.push(Bytes(4, 1)));
  const auto too_big = queue.push(Bytes(7, 2));
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, Errc::kLimitExceeded);
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.bytes(), 4u);
  ASSERT_TRUE(queue.push(Bytes(6, 3)));
  EXPECT_FALSE(queue.push(Bytes(0)));  // frame count bound
  EXPECT_EQ(queue.front(), Bytes(4, 1));
  queue.pop();
  EXPECT_EQ(queue.front(), Bytes(6, 3));
  EXPECT_EQ(queue.bytes(), 6u);
  queue.clear();
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(TransportMetrics, RendersEveryCounterInPrometheusText) {
  TransportStats stats;
  stats.connections_open = 3;
  stats.frames_in = 11;
  stats.frames_rejected = 2;
  stats.write_queue_overflows = 1;
  const std::string text = render_transport_metrics(stats);
  EXPECT_NE(text.find("# TYPE bc_transport_connections_open gauge\n"), std::string::npos);
  EXPECT_NE(text.find("\nbc_transport_connections_open 3\n"), std::string::npos);
  EXPECT_NE(text.find("\nbc_transport_frames_in_total 11\n"), std::string::npos);
  EXPECT_NE(text.find("\nbc_transport_frames_rejected_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("\nbc_transport_write_queue_overflows_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("\nbc_transport_frames_out_total 0\n"), std::string::npos);
}

}  // namespace
}  // namespace bc::net
